"""Building blocks shared by the 3D networks (BraTS experiments).

- :func:`norm3d` / :func:`activation` build the normalisation and non-linearity named in a config.
- :class:`ConvNormAct3d`: convolution → normalisation → activation (Isensee et al.'s conv block).
- :class:`PreActResidualBlock3d`: (norm → act → conv) × 2 plus identity, the residual block of Isensee et al.
  2017 (context module, with dropout), Myronenko 2018 (GroupNorm + ReLU) and Lachinov et al. 2019 (InstanceNorm + ReLU).
- :class:`DistillationHead3d`: the "bottleneck module" of Dual Self-Distillation (Banerjee et al., ISBI 2024):
  1×1×1 conv to the classes, then one 2× transposed convolution applied repeatedly up to full resolution.
- :func:`upsample_trilinear`: trilinear upsampling by an integer factor.
- :func:`check_widths`: the argument checks every configurable 3D U-Net repeats.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from kdseg.utils.options import look_up_option

__all__ = [
    "ConvNormAct3d",
    "DistillationHead3d",
    "PreActResidualBlock3d",
    "activation",
    "check_widths",
    "norm3d",
    "upsample_trilinear",
]

NORMS = ("instance", "group", "batch")
ACTIVATIONS = ("relu", "leakyrelu")


def norm3d(name: str, channels: int, groups: int = 8) -> nn.Module:
    """A 3D normalisation layer with learnable affine parameters.

    Args:
        name: one of "instance", "group", "batch".
        channels: feature channels to normalise.
        groups: groups of GroupNorm (ignored otherwise); must divide ``channels``. Defaults to 8.

    Raises:
        ConfigError: for an unknown ``name``.
        ValueError: when ``groups`` does not divide ``channels``.
    """
    name = look_up_option(name, NORMS, what="normalisation")
    if name == "instance":
        return nn.InstanceNorm3d(channels, affine=True)
    if name == "batch":
        return nn.BatchNorm3d(channels)
    if channels % groups:
        raise ValueError(f"GroupNorm with {groups} groups needs a channel count divisible by {groups}, got {channels}")
    return nn.GroupNorm(groups, channels)


def activation(name: str, negative_slope: float = 0.01) -> nn.Module:
    """The non-linearity ``name`` ("relu" or "leakyrelu" with ``negative_slope``, default 0.01)."""
    name = look_up_option(name, ACTIVATIONS, what="activation")
    return nn.ReLU(inplace=True) if name == "relu" else nn.LeakyReLU(negative_slope, inplace=True)


def check_widths(features: int, depth: int, *, min_depth: int = 1, groups: int = 1) -> None:
    """Raise ValueError unless ``features`` >= 1 (a multiple of ``groups``) and ``depth`` >= ``min_depth``."""
    if features < 1 or features % groups:
        rule = f"a positive multiple of {groups} (GroupNorm groups)" if groups > 1 else ">= 1"
        raise ValueError(f"features must be {rule}, got {features}")
    if depth < min_depth:
        raise ValueError(f"depth (number of 2x downsamplings) must be >= {min_depth}, got {depth}")


def upsample_trilinear(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Trilinear upsampling of ``x`` (N, C, X, Y, Z) by ``factor`` along every spatial axis."""
    # a scale factor, not a target size, so traced graphs (ONNX) keep a dynamic batch and no shape arithmetic
    return F.interpolate(x, scale_factor=float(factor), mode="trilinear", align_corners=False)


class ConvNormAct3d(nn.Sequential):
    """Convolution (no bias: the norm removes it) → normalisation → activation.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: cubic kernel size; padding keeps the size (divided by ``stride``). Defaults to 3.
        stride: convolution stride. Defaults to 1.
        norm: normalisation, see :func:`norm3d`. Defaults to "instance".
        act: activation, see :func:`activation`. Defaults to "leakyrelu".

    Example:
        >>> block = ConvNormAct3d(4, 16)  # (N, 4, X, Y, Z) -> (N, 16, X, Y, Z)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        norm: str = "instance",
        act: str = "leakyrelu",
    ) -> None:
        super().__init__(
            nn.Conv3d(in_channels, out_channels, kernel_size, stride=stride, padding=kernel_size // 2, bias=False),
            norm3d(norm, out_channels),
            activation(act),
        )


class PreActResidualBlock3d(nn.Module):
    """Pre-activation residual block: x + conv(act(norm(dropout(conv(act(norm(x))))))).

    He et al. 2016's identity-mapping block with 3×3×3 convolutions and the same width in and out. Isensee et al.
    2017 (context module: InstanceNorm, leaky ReLU, dropout 0.3 between the convolutions), Myronenko 2018
    (GroupNorm(8), ReLU) and Lachinov et al. 2019 (InstanceNorm, ReLU) all use it.

    Args:
        channels: input and output channels.
        norm: normalisation, see :func:`norm3d`. Defaults to "instance".
        act: activation, see :func:`activation`. Defaults to "relu".
        dropout: channel (spatial) dropout between the two convolutions; 0 disables it. Defaults to 0.0.
        groups: GroupNorm groups (only for ``norm="group"``). Defaults to 8.

    Example:
        >>> block = PreActResidualBlock3d(32, norm="group")  # Myronenko 2018's ResNet block
    """

    def __init__(
        self, channels: int, norm: str = "instance", act: str = "relu", dropout: float = 0.0, groups: int = 8
    ) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.body = nn.Sequential(
            norm3d(norm, channels, groups),
            activation(act),
            nn.Conv3d(channels, channels, 3, padding=1, bias=False),
            nn.Dropout3d(dropout) if dropout else nn.Identity(),
            norm3d(norm, channels, groups),
            activation(act),
            nn.Conv3d(channels, channels, 3, padding=1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Residual sum, same shape as ``x``."""
        return x + self.body(x)


class DistillationHead3d(nn.Module):
    """Logits at full resolution from an intermediate feature map (DSD's "bottleneck module").

    Banerjee et al., "Dual Self-Distillation of U-shaped Networks for 3D Medical Image Segmentation", ISBI 2024
    (https://github.com/soumbane/DualSelfDistillation): a 1×1×1 convolution maps the features to the classes, and
    one 2×2×2 transposed convolution (stride 2), applied ``log2(scale)`` times as in the reference code's shared
    upsampler, brings them to the network's output size. It adds ``channels·K + K + (scale > 1)·(8K² + K)``
    parameters. The heads exist only for training losses; networks skip them in eval mode and in ONNX exports.

    Args:
        in_channels: channels of the feature map.
        out_channels: classes K of the network output.
        scale: output size / feature-map size, a power of two (1 = already at full resolution).

    Example:
        >>> head = DistillationHead3d(128, 3, scale=8)  # (N, 128, 16, 16, 16) -> (N, 3, 128, 128, 128)
    """

    def __init__(self, in_channels: int, out_channels: int, scale: int) -> None:
        super().__init__()
        if scale < 1 or scale & (scale - 1):
            raise ValueError(f"scale must be a power of two >= 1, got {scale}")
        self.steps = int(math.log2(scale))
        self.project = nn.Conv3d(in_channels, out_channels, 1)
        # no upsampling parameters for a head that is already at full resolution
        self.upsample = nn.ConvTranspose3d(out_channels, out_channels, 2, stride=2) if self.steps else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, K, scale·X, scale·Y, scale·Z)."""
        x = self.project(x)
        for _ in range(self.steps):
            x = self.upsample(x)
        return x
