"""Tests of kdseg.models.cascaded_unet3d (two-stage cascade after Lachinov et al. 2019)."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F

from kdseg.models import create_model
from kdseg.models.blocks3d import upsample_trilinear
from kdseg.models.cascaded_unet3d import CascadedUNet3D
from tests.models._helpers3d import Model3DTester, sample

TINY: dict[str, Any] = {"features": 4, "depth": 2, "stage1_features": 4, "stage1_depth": 2, "stage1_scale": 2}


class TestCascadedUNet3D(Model3DTester):
    arch = "cascaded_unet3d"
    kwargs: dict[str, Any] = {"in_channels": 4, "out_channels": 3, **TINY}
    input_shape = (1, 4, 16, 16, 16)
    extra_feature_keys = frozenset({"stage1"})


def test_registry_resolves_cascaded_unet3d() -> None:
    assert type(create_model("cascaded_unet3d", **TINY)) is CascadedUNet3D


def test_stage1_logits_are_full_size_and_feed_stage2() -> None:
    torch.manual_seed(0)
    model = CascadedUNet3D(in_channels=2, out_channels=3, **TINY).eval()
    x = sample((1, 2, 16, 16, 16))
    with torch.no_grad():
        logits, features = model.forward_features(x)
        coarse, _, _ = model.stage1(F.avg_pool3d(x, 2))
        expected_stage1 = upsample_trilinear(coarse, 2)
        expected_logits, _, _ = model.stage2(torch.cat([x, torch.sigmoid(expected_stage1)], dim=1))
    assert coarse.shape[2:] == (8, 8, 8)  # stage 1 runs on the half-size image
    torch.testing.assert_close(features["stage1"], expected_stage1)
    torch.testing.assert_close(logits, expected_logits)
    assert model.stage2.stem.in_channels == 2 + 3  # image + stage-1 probabilities


def test_final_loss_alone_trains_both_stages() -> None:
    model = CascadedUNet3D(**TINY).train()
    model(sample((1, 4, 16, 16, 16))).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.stage1.parameters() if p.ndim > 1)


@pytest.mark.parametrize(
    ("kwargs", "divisor"),
    [
        ({"depth": 4, "stage1_depth": 3, "stage1_scale": 2}, 16),
        ({"depth": 2, "stage1_depth": 3, "stage1_scale": 2}, 16),
        ({"depth": 3, "stage1_depth": 1, "stage1_scale": 1}, 8),
        ({"depth": 1, "stage1_depth": 2, "stage1_scale": 4}, 16),
    ],
)
def test_required_divisor_covers_both_stages(kwargs: dict[str, Any], divisor: int) -> None:
    assert CascadedUNet3D(features=4, stage1_features=4, **kwargs).required_divisor == divisor


def test_stage1_at_full_resolution_skips_pooling() -> None:
    model = CascadedUNet3D(features=4, depth=2, stage1_features=4, stage1_depth=2, stage1_scale=1).eval()
    x = sample((1, 4, 8, 8, 8))
    with torch.no_grad():
        _, features = model.forward_features(x)
        torch.testing.assert_close(features["stage1"], model.stage1(x)[0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"stage1_scale": 3}, "stage1_scale must be a power of two >= 1, got 3"),
        ({"stage1_scale": 0}, "stage1_scale must be a power of two >= 1, got 0"),
        ({"stage1_depth": 0}, "must be >= 1, got 0"),
        ({"features": 0}, "features must be >= 1, got 0"),
    ],
)
def test_ill_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CascadedUNet3D(**kwargs)
