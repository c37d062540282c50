"""Tests of ResUNet++ (kdseg.models.resunetpp)."""

from __future__ import annotations

import pytest
import torch

from kdseg.models import create_model
from kdseg.models.resunetpp import ASPP, AttentionBlock, ResidualSEBlock, ResUNetPlusPlus
from tests.models.base import BaseModelTester


class TestResUNetPlusPlus(BaseModelTester):
    arch = "resunetpp"
    kwargs = {"in_channels": 3, "out_channels": 1, "filters": [8, 12, 16, 20, 24]}
    input_size = 32  # the dilation-18 ASPP at full resolution is slow on a CPU


class TestSigmoidGatedResUNetPlusPlus(TestResUNetPlusPlus):
    kwargs = {**TestResUNetPlusPlus.kwargs, "attention_gate": "sigmoid"}


def test_parameter_count_matches_the_reference() -> None:
    # DebeshJha/ResUNetPlusPlus (Keras and PyTorch ports) at filters 16..256: 4,062,993 trainable parameters,
    # the "about 4.06 M" of the paper
    assert sum(p.numel() for p in ResUNetPlusPlus().parameters()) == 4_062_993


def test_feature_maps_have_the_reference_widths_and_scales() -> None:
    model = ResUNetPlusPlus(filters=(8, 16, 24, 32, 40)).eval()
    with torch.no_grad():
        _, features = model.forward_features(torch.zeros(1, 3, 32, 32))
    assert [tuple(f.shape[1:]) for f in features["encoder"]] == [(8, 32, 32), (16, 16, 16), (24, 8, 8), (32, 4, 4), (40, 4, 4)]
    assert [tuple(f.shape[1:]) for f in features["decoder"]] == [(32, 8, 8), (24, 16, 16), (16, 32, 32)]


def test_residual_block_is_pre_activation_with_strided_shortcut_and_se() -> None:
    block = ResidualSEBlock(16, 32, stride=2)
    kinds = [type(layer).__name__ for layer in block.body]
    assert kinds == ["BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d", "ReLU", "Conv2d"]
    assert block.body[2].stride == (2, 2) and block.shortcut[0].stride == (2, 2) and block.shortcut[0].kernel_size == (1, 1)
    assert block.se.squeeze.weight.shape == (4, 32, 1, 1) and block.se.squeeze.bias is None  # ratio 8, no bias
    stem = ResidualSEBlock(3, 16, pre_activation=False)
    assert [type(layer).__name__ for layer in stem.body] == ["Conv2d", "BatchNorm2d", "ReLU", "Conv2d"]


def test_aspp_sums_four_dilated_branches() -> None:
    aspp = ASPP(4, 6)
    assert [branch[0].dilation for branch in aspp.branches] == [(1, 1), (6, 6), (12, 12), (18, 18)]
    x = torch.randn(1, 4, 8, 8)
    aspp.eval()
    with torch.no_grad():
        expected = aspp.project(sum(branch(x) for branch in aspp.branches))
        torch.testing.assert_close(aspp(x), expected)


def test_attention_block_multiplies_its_input() -> None:
    block = AttentionBlock(4, 6).eval()
    with torch.no_grad():
        block.fuse[2].weight.zero_()
        block.fuse[2].bias.fill_(2.0)  # the fused map becomes the constant 2
    x = torch.randn(1, 6, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(block(torch.randn(1, 4, 8, 8), x), 2 * x)


def test_sigmoid_gate_scales_its_input_by_at_most_one() -> None:
    block = AttentionBlock(4, 6, gate="sigmoid").eval()
    with torch.no_grad():
        block.fuse[2].weight.zero_()
        block.fuse[2].bias.fill_(2.0)
    x = torch.randn(1, 6, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(block(torch.randn(1, 4, 8, 8), x), torch.sigmoid(torch.tensor(2.0)) * x)
        block.fuse[2].bias.fill_(1e4)  # however large the attention map, the gate passes x at most unchanged
        assert block(torch.randn(1, 4, 8, 8), x).abs().le(x.abs()).all()


def test_gate_is_kept_in_the_checkpoint_arguments() -> None:
    model = create_model("resunetpp", filters=[8, 12, 16, 20, 24], attention_gate="sigmoid")
    assert model.init_kwargs["attention_gate"] == "sigmoid"
    assert isinstance(model.decoder.blocks[0].attention.fuse[-1], torch.nn.Sigmoid)


def test_unknown_gate_raises() -> None:
    with pytest.raises(ValueError, match="attention gate must be one of"):
        create_model("resunetpp", filters=[8, 12, 16, 20, 24], attention_gate="softmax")


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ([16, 32, 64, 128], "needs 5 widths"),
        ([16, 32, 32, 128, 256], "strictly increasing"),
        ([16, 64, 32, 128, 256], "strictly increasing"),
        ([4, 32, 64, 128, 256], "must be >= 8"),
    ],
)
def test_bad_filters_raise(filters: list[int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_model("resunetpp", filters=filters)
