"""Tests of kdseg.models.unet3d (Isensee et al.'s 3D U-Net)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from kdseg.models import create_model
from kdseg.models.blocks3d import upsample_trilinear
from kdseg.models.unet3d import UNet3D
from tests.models._helpers3d import Model3DTester, sample


class TestUNet3D(Model3DTester):
    arch = "unet3d"
    kwargs: dict[str, Any] = {"in_channels": 4, "out_channels": 3, "features": 4, "depth": 3}
    input_shape = (1, 4, 16, 16, 16)
    extra_feature_keys = frozenset({"deep_supervision"})


class TestUNet3DWithoutDeepSupervision(Model3DTester):
    arch = "unet3d"
    kwargs: dict[str, Any] = {"in_channels": 2, "out_channels": 3, "features": 4, "depth": 2, "deep_supervision": False}
    input_shape = (1, 2, 16, 16, 16)


def test_registry_resolves_unet3d() -> None:
    assert type(create_model("unet3d", features=4, depth=2)) is UNet3D


@pytest.mark.parametrize(
    ("depth", "divisor", "widths"),
    [(1, 2, [4, 8]), (3, 8, [4, 8, 16, 32]), (4, 16, [4, 8, 16, 32, 64])],
)
def test_depth_sets_levels_widths_and_divisor(depth: int, divisor: int, widths: list[int]) -> None:
    model = UNet3D(features=4, depth=depth, deep_supervision=False).eval()
    assert model.required_divisor == divisor
    size = 2 * divisor  # instance norm needs more than one voxel at the bottom
    with torch.no_grad():
        _, features = model.forward_features(torch.zeros(1, 4, size, size, size))
    assert [f.shape[1] for f in features["encoder"]] == widths
    assert [f.shape[2] for f in features["encoder"]] == [size // 2**level for level in range(depth + 1)]
    assert [f.shape[1] for f in features["decoder"]] == widths[-2::-1]


def test_deep_supervision_sums_upsampled_segmentation_layers() -> None:
    torch.manual_seed(0)
    model = UNet3D(features=4, depth=3, segmentation_levels=3).eval()
    with torch.no_grad():
        logits, features = model.forward_features(sample((1, 4, 16, 16, 16)))
    top, middle, coarse = features["deep_supervision"]
    assert [t.shape[2] for t in (top, middle, coarse)] == [16, 8, 4]
    # Isensee et al. 2017: coarse map upsampled, added to the next, upsampled again, added to the top one
    torch.testing.assert_close(logits, upsample_trilinear(upsample_trilinear(coarse) + middle) + top)


@pytest.mark.parametrize(("depth", "levels"), [(1, 1), (2, 2), (3, 3), (5, 3)])
def test_segmentation_levels_default_to_at_most_three(depth: int, levels: int) -> None:
    model = UNet3D(features=4, depth=depth)
    assert len(model.segmentation) == levels
    assert model.init_kwargs["segmentation_levels"] == levels


def test_without_deep_supervision_the_top_layer_alone_gives_the_logits() -> None:
    model = UNet3D(features=4, depth=2, deep_supervision=False)
    assert len(model.segmentation) == 1
    assert model.segmentation[0].in_channels == 4


def test_default_widths_follow_isensee_2017() -> None:
    model = UNet3D()
    assert [level[0].out_channels for level in model.encoder] == [16, 32, 64, 128, 256]
    assert model.required_divisor == 16
    assert model.encoder[0][1].body[3].p == 0.3  # context-module dropout


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"features": 0}, "features must be >= 1, got 0"),
        ({"depth": 0}, r"depth \(number of 2x downsamplings\) must be >= 1, got 0"),
        ({"depth": 2, "segmentation_levels": 3}, "segmentation_levels must be between 1 and depth=2, got 3"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\), got 1.0"),
        ({"in_channels": 0}, "in_channels and out_channels must be >= 1"),
    ],
)
def test_ill_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        UNet3D(**kwargs)
