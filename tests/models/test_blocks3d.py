"""Tests of kdseg.models.blocks3d (pieces shared by the 3D networks)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from kdseg.models.blocks3d import (
    ConvNormAct3d,
    DistillationHead3d,
    PreActResidualBlock3d,
    activation,
    check_widths,
    norm3d,
    upsample_trilinear,
)
from kdseg.utils.errors import ConfigError


def test_distillation_head_by_hand() -> None:
    head = DistillationHead3d(in_channels=2, out_channels=1, scale=4)
    with torch.no_grad():
        head.project.weight.fill_(1.0)
        head.project.bias.zero_()
        head.upsample.weight.fill_(3.0)
        head.upsample.bias.fill_(1.0)
        out = head(torch.ones(1, 2, 2, 2, 2))
    # 1x1x1 conv: 1 + 1 = 2; the same 2x transposed conv twice: 2*3 + 1 = 7, then 7*3 + 1 = 22
    assert out.shape == (1, 1, 8, 8, 8)
    torch.testing.assert_close(out, torch.full((1, 1, 8, 8, 8), 22.0))


@pytest.mark.parametrize(
    ("in_channels", "classes", "scale", "steps", "parameters"),
    [
        (16, 3, 1, 0, 16 * 3 + 3),  # already full size: no upsampling weights
        (16, 3, 2, 1, 16 * 3 + 3 + 8 * 9 + 3),
        (16, 3, 16, 4, 16 * 3 + 3 + 8 * 9 + 3),  # one transposed conv shared by the four steps
        (768, 4, 16, 4, 768 * 4 + 4 + 8 * 16 + 4),
    ],
)
def test_distillation_head_size(in_channels: int, classes: int, scale: int, steps: int, parameters: int) -> None:
    head = DistillationHead3d(in_channels, classes, scale)
    assert head.steps == steps
    assert sum(p.numel() for p in head.parameters()) == parameters
    assert head(torch.zeros(1, in_channels, 2, 2, 2)).shape == (1, classes, 2 * scale, 2 * scale, 2 * scale)


@pytest.mark.parametrize("scale", [0, 3, 6])
def test_distillation_head_needs_a_power_of_two(scale: int) -> None:
    with pytest.raises(ValueError, match=f"scale must be a power of two >= 1, got {scale}"):
        DistillationHead3d(8, 3, scale)


def test_residual_block_is_identity_when_its_last_conv_is_zero() -> None:
    block = PreActResidualBlock3d(8, norm="group", act="relu").eval()
    with torch.no_grad():
        block.body[-1].weight.zero_()
        x = torch.randn(1, 8, 4, 4, 4)
        torch.testing.assert_close(block(x), x)


def test_residual_block_layers_and_dropout() -> None:
    block = PreActResidualBlock3d(4, norm="instance", act="leakyrelu", dropout=0.3)
    kinds = [type(layer) for layer in block.body]
    assert kinds == [nn.InstanceNorm3d, nn.LeakyReLU, nn.Conv3d, nn.Dropout3d, nn.InstanceNorm3d, nn.LeakyReLU, nn.Conv3d]
    assert block.body[3].p == 0.3
    assert isinstance(PreActResidualBlock3d(4).body[3], nn.Identity)


def test_residual_block_refuses_dropout_of_one() -> None:
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\), got 1.0"):
        PreActResidualBlock3d(4, dropout=1.0)


@pytest.mark.parametrize(
    ("kernel_size", "stride", "out_size"),
    [(3, 1, 8), (3, 2, 4), (1, 1, 8)],
)
def test_conv_norm_act_keeps_size_up_to_stride(kernel_size: int, stride: int, out_size: int) -> None:
    block = ConvNormAct3d(4, 16, kernel_size=kernel_size, stride=stride)
    assert block[0].bias is None  # the norm removes any bias
    out = block(torch.randn(1, 4, 8, 8, 8))
    assert out.shape == (1, 16, out_size, out_size, out_size)


@pytest.mark.parametrize(
    ("name", "kind"),
    [("instance", nn.InstanceNorm3d), ("group", nn.GroupNorm), ("batch", nn.BatchNorm3d)],
)
def test_norm3d_names(name: str, kind: type[nn.Module]) -> None:
    norm = norm3d(name, 16)
    assert type(norm) is kind
    assert sum(p.numel() for p in norm.parameters()) == 32  # affine scale and shift per channel


def test_norm3d_group_count_must_divide_channels() -> None:
    with pytest.raises(ValueError, match="GroupNorm with 8 groups needs a channel count divisible by 8, got 12"):
        norm3d("group", 12)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: norm3d("batchnorm", 8), r"Unknown normalisation 'batchnorm'.*Did you mean 'batch'\?"),
        (lambda: activation("leaky"), r"Unknown activation 'leaky'.*Did you mean 'leakyrelu'\?"),
    ],
)
def test_unknown_option_names_suggest_the_closest(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        call()


def test_activation_slope() -> None:
    assert activation("leakyrelu", 0.2)(torch.tensor([-1.0])).item() == pytest.approx(-0.2)
    assert activation("relu")(torch.tensor([-1.0])).item() == 0.0


@pytest.mark.parametrize("factor", [2, 4])
def test_upsample_trilinear_keeps_constants(factor: int) -> None:
    out = upsample_trilinear(torch.full((1, 2, 2, 3, 4), 5.0), factor)
    assert out.shape == (1, 2, 2 * factor, 3 * factor, 4 * factor)
    torch.testing.assert_close(out, torch.full_like(out, 5.0))


@pytest.mark.parametrize(
    ("features", "depth", "groups", "message"),
    [
        (0, 2, 1, "features must be >= 1, got 0"),
        (12, 2, 8, r"features must be a positive multiple of 8 \(GroupNorm groups\), got 12"),
        (8, 0, 1, r"depth \(number of 2x downsamplings\) must be >= 1, got 0"),
    ],
)
def test_check_widths(features: int, depth: int, groups: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_widths(features, depth, groups=groups)


def test_check_widths_accepts_valid_widths() -> None:
    assert check_widths(16, 3, groups=8) is None
