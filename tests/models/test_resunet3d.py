"""Tests of kdseg.models.resunet3d (Myronenko 2018's residual encoder-decoder, no VAE)."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from monai.networks.nets import SegResNet

from kdseg.models import create_model
from kdseg.models.resunet3d import ResUNet3D
from tests.models._helpers3d import Model3DTester


class TestResUNet3D(Model3DTester):
    arch = "resunet3d"
    kwargs: dict[str, Any] = {"in_channels": 4, "out_channels": 3, "features": 8, "blocks_down": (1, 2, 2), "blocks_up": (1, 1)}
    input_shape = (1, 4, 16, 16, 16)


def test_registry_resolves_resunet3d() -> None:
    assert type(create_model("resunet3d", features=8, blocks_down=(1, 1), blocks_up=(1,))) is ResUNet3D


def test_default_size_matches_monai_segresnet() -> None:
    # MONAI's SegResNet is Myronenko's network without the VAE branch; same blocks, same parameter count
    reference = SegResNet(spatial_dims=3, in_channels=4, out_channels=3, init_filters=32, blocks_down=(1, 2, 2, 4), blocks_up=(1, 1, 1))
    model = ResUNet3D()
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in reference.parameters()) == 18_798_627
    assert model.required_divisor == 8


def test_blocks_per_level_and_group_norm() -> None:
    model = ResUNet3D(features=8, blocks_down=(1, 2, 3), blocks_up=(2, 1))
    assert [len(stage) for stage in model.encoder] == [1, 2, 3]
    assert [len(stage) for stage in model.decoder] == [1, 2]  # decoding order: deepest level first
    norm = model.encoder[0][0].body[0]
    assert isinstance(norm, torch.nn.GroupNorm) and norm.num_groups == 8


def test_decoder_adds_the_skip_instead_of_concatenating() -> None:
    model = ResUNet3D(features=8, blocks_down=(1, 1, 1), blocks_up=(1, 1)).eval()
    with torch.no_grad():
        _, features = model.forward_features(torch.zeros(1, 4, 16, 16, 16))
    encoder_widths = [f.shape[1] for f in features["encoder"]]
    assert encoder_widths == [8, 16, 32]
    assert [f.shape[1] for f in features["decoder"]] == encoder_widths[-2::-1]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"features": 12}, r"features must be a positive multiple of 8 \(GroupNorm groups\), got 12"),
        ({"blocks_down": (1,), "blocks_up": ()}, "must be >= 1, got 0"),
        ({"blocks_up": (1, 1)}, r"blocks_up needs one entry per decoder level \(len\(blocks_down\) - 1 = 3\), got \[1, 1\]"),
        ({"blocks_down": (1, 0, 2, 4)}, "every level needs at least one residual block"),
        ({"dropout": -0.1}, r"dropout must be in \[0, 1\), got -0.1"),
    ],
)
def test_ill_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ResUNet3D(**kwargs)
