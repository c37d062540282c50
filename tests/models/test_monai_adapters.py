"""Tests of kdseg.models.monai_adapters (UNETR and DynUNet with Dual Self-Distillation heads)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import onnx
import pytest
import torch

from kdseg.models import create_model
from kdseg.models.monai_adapters import DynUNetSeg, UNETRSeg
from tests.models._helpers3d import Model3DTester, Pass, sample

DSD_KEYS = frozenset({"encoder_outputs", "decoder_outputs"})
TINY_UNETR: dict[str, Any] = {"img_size": (32, 16, 16), "feature_size": 4, "hidden_size": 48, "num_heads": 4, "mlp_dim": 96}
TINY_DYNUNET: dict[str, Any] = {"filters": (4, 8, 16, 32)}


class _DSDTester(Model3DTester):
    extra_feature_keys = DSD_KEYS
    levels: int

    @classmethod
    def training_loss(cls, logits: torch.Tensor, features: dict[str, Any]) -> torch.Tensor:
        # deep supervision + both self-distillation terms touch every head
        heads = features["decoder_outputs"] + features["encoder_outputs"]
        return logits.square().mean() + sum(h.square().mean() for h in heads)

    def check_onnx_model(self, path: Path) -> None:
        names = [init.name for init in onnx.load(str(path)).graph.initializer]
        assert any(name.startswith("backbone.") for name in names)
        assert not [name for name in names if "dsd_heads" in name], "training-only heads leaked into the export"

    def test_dsd_outputs_are_full_size_one_per_level(self, training_pass: Pass) -> None:
        logits, features = training_pass.logits, training_pass.features
        for key in DSD_KEYS:
            assert len(features[key]) == self.levels
            assert all(out.shape == logits.shape for out in features[key])
        # index 0 = decoder teacher (nearest full resolution), last = encoder teacher (deepest)
        heads = training_pass.model.dsd_heads
        assert [head.steps for head in heads["decoder"]] == list(range(1, self.levels + 1))
        assert [head.steps for head in heads["encoder"]] == list(range(self.levels))

    def test_dsd_heads_only_run_in_training(self, eval_pass: Pass) -> None:
        assert set(eval_pass.features) == {"encoder", "decoder"}

    def test_eval_output_is_monai_backbone_output(self, eval_pass: Pass) -> None:
        with torch.no_grad():
            torch.testing.assert_close(eval_pass.model.backbone(eval_pass.x), eval_pass.logits, rtol=0, atol=0)

    def test_without_heads_training_features_have_no_dsd_keys(self) -> None:
        model = self.build(deep_supervision=False).train()
        _, features = model.forward_features(sample(self.input_shape))
        assert set(features) == {"encoder", "decoder"}
        assert model.parameter_counts()["dsd_heads"] == 0


class TestUNETRSeg(_DSDTester):
    arch = "unetr"
    kwargs: dict[str, Any] = {"in_channels": 4, "out_channels": 3, **TINY_UNETR}
    input_shape = (1, 4, 32, 16, 16)
    levels = 4


class TestDynUNetSeg(_DSDTester):
    arch = "dynunet"
    kwargs: dict[str, Any] = {"in_channels": 4, "out_channels": 3, **TINY_DYNUNET}
    levels = 3


def test_registry_resolves_the_adapters() -> None:
    assert type(create_model("unetr", **TINY_UNETR)) is UNETRSeg
    assert type(create_model("dynunet", **TINY_DYNUNET)) is DynUNetSeg


def test_dynunet_head_parameters_by_hand() -> None:
    # head = 1x1x1 conv (C*K + K) + one shared 2x transposed conv (8*K*K + K) unless already at full size
    model = DynUNetSeg(out_channels=3, filters=(4, 8, 16, 32))
    encoder = (4 * 3 + 3) + (8 * 3 + 3 + 75) + (16 * 3 + 3 + 75)
    decoder = (8 * 3 + 3 + 75) + (16 * 3 + 3 + 75) + (32 * 3 + 3 + 75)
    assert model.parameter_counts()["dsd_heads"] == encoder + decoder == 645


@pytest.mark.parametrize(
    ("arch", "kwargs", "paper_percent"),
    [
        ("unetr", {"out_channels": 4}, 0.008),  # MSD BraTS, 4 softmax classes as the reference code
        ("dynunet", {"out_channels": 4, "filters": (16, 32, 64, 128, 256)}, 0.066),
    ],
)
def test_dsd_heads_add_a_negligible_share_at_paper_size(arch: str, kwargs: dict[str, Any], paper_percent: float) -> None:
    counts = create_model(arch, **kwargs).parameter_counts()
    percent = 100 * counts["dsd_heads"] / counts["backbone"]
    assert percent < 1.0
    # same order of magnitude as the paper's +0.008 % (UNETR) and +0.066 % (nnU-Net)
    assert paper_percent / 2 < percent < paper_percent * 2


def test_unetr_freezes_only_monai_unused_cross_attention_norms() -> None:
    model = UNETRSeg(**TINY_UNETR)
    frozen = {name for name, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {f"backbone.vit.blocks.{i}.norm_cross_attn.{w}" for i in range(12) for w in ("weight", "bias")}


def test_unetr_refuses_a_size_other_than_img_size() -> None:
    model = UNETRSeg(**TINY_UNETR)
    with pytest.raises(RuntimeError, match=r"built for img_size \(32, 16, 16\) .*; got \(48, 16, 16\).*roi_size=\(32, 16, 16\)"):
        model(torch.zeros(1, 4, 48, 16, 16))


def test_dynunet_levels_follow_filters() -> None:
    model = DynUNetSeg(filters=(4, 8, 16, 32, 64)).eval()
    assert model.required_divisor == 16
    assert model.backbone.strides == [1, 2, 2, 2, 2]
    with torch.no_grad():
        _, features = model.forward_features(torch.zeros(1, 4, 32, 32, 32))
    assert [f.shape[1] for f in features["encoder"]] == [4, 8, 16, 32, 64]
    assert [f.shape[1] for f in features["decoder"]] == [32, 16, 8, 4]


@pytest.mark.parametrize(
    ("cls", "kwargs", "message"),
    [
        (UNETRSeg, {"img_size": 40}, r"img_size must be multiples of UNETR's patch size 16, got \(40, 40, 40\)"),
        (UNETRSeg, {"img_size": (32, 32, 8)}, r"got \(32, 32, 8\)"),
        (UNETRSeg, {**TINY_UNETR, "num_heads": 5}, "hidden_size should be divisible by num_heads"),
        (DynUNetSeg, {"filters": (8, 16)}, r"filters needs at least 3 positive widths .*got \[8, 16\]"),
        (DynUNetSeg, {"kernel_size": 2}, "kernel_size must be odd and positive, got 2"),
        (DynUNetSeg, {"dropout": 1.5}, r"dropout must be in \[0, 1\), got 1.5"),
    ],
)
def test_ill_arguments(cls: type, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cls(**kwargs)
