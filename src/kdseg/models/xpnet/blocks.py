"""Blocks of XP-Net (paper 001): the EPSA attention, the separable convolutions of the student, discriminator blocks."""

from __future__ import annotations

import math

import torch
from torch import nn

from kdseg.models.blocks import SqueezeExcitationWeights

__all__ = ["DiscriminatorBlock", "PyramidSqueezeAttention", "SeparableConv2d", "separable_conv"]

PSA_KERNELS = (3, 5, 7, 9)
PSA_GROUPS = (1, 4, 8, 16)
PSA_SE_REDUCTION = 16
SEPARABLE_KERNEL = 5


class PyramidSqueezeAttention(nn.Module):
    """Pyramid squeeze attention (PSA), the module of EPSANet that XP-Net puts in its first encoder block.

    Zhang et al., "EPSANet: An Efficient Pyramid Squeeze Attention Block on Convolutional Neural Network"
    (https://arxiv.org/abs/2105.14447, code https://github.com/murufeng/EPSANet). Four parallel convolutions
    of the input to C/4 channels each (kernels 3, 5, 7, 9; groups 1, 4, 8, 16; no bias); one squeeze-and-excitation
    weight module shared by the four branches (C/4 → max(1, C/16) → C/4, with bias); a softmax across the four
    branches per channel; the weighted branches are concatenated back to C channels.

    A group count must divide the branch width C/4: EPSANet's 16 does not divide 8 at C = 32, so each count
    becomes gcd(group, C/4) — groups 1, 4, 8, 8 at C = 32, EPSANet's own 1, 4, 8, 16 from C = 64. The C/16
    bottleneck (ARCHITECTURE.md) replaces EPSANet's (C/4)/16, which is 0 below C = 64. At C = 32 the module
    has 8,106 parameters (8,064 in the convolutions, 42 in the SE module).

    Args:
        channels: input and output channels C (divisible by 4).

    Example:
        >>> PyramidSqueezeAttention(32)(torch.zeros(1, 32, 16, 16)).shape
        torch.Size([1, 32, 16, 16])
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        if channels < 4 or channels % 4:
            raise ValueError(f"PSA splits its channels into 4 branches: channels must be a positive multiple of 4, got {channels}")
        branch = channels // 4
        self.branches = nn.ModuleList(
            nn.Conv2d(channels, branch, kernel_size=k, padding=k // 2, groups=math.gcd(g, branch), bias=False)
            for k, g in zip(PSA_KERNELS, PSA_GROUPS)
        )
        self.se = SqueezeExcitationWeights(branch, max(1, channels // PSA_SE_REDUCTION), bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = torch.stack([conv(x) for conv in self.branches], dim=1)  # N, 4, C/4, H, W
        weights = torch.stack([self.se(branch) for branch in features.unbind(dim=1)], dim=1).softmax(dim=1)
        return (features * weights).flatten(1, 2)


class SeparableConv2d(nn.Module):
    """Depthwise convolution with a 1-D kernel followed by a 1×1 pointwise convolution, both without bias.

    The "CPDBR" stage of the XP-Net student: paper 001 names the (1, 5) / (5, 1) convolution "point wise" and the
    1×1 one "depth wise"; read literally (both full convolutions) the student would have 5.5 M parameters, not
    the 78 % reduction the paper reports, so the spatial kernel is the depthwise one.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: the spatial kernel, (1, k) or (k, 1).

    Example:
        >>> SeparableConv2d(32, 64, (1, 5))(torch.zeros(1, 32, 16, 16)).shape
        torch.Size([1, 64, 16, 16])
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: tuple[int, int]) -> None:
        super().__init__()
        padding = (kernel_size[0] // 2, kernel_size[1] // 2)
        self.depthwise = nn.Conv2d(in_channels, in_channels, kernel_size, padding=padding, groups=in_channels, bias=False)
        self.pointwise = nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


def separable_conv(in_channels: int, out_channels: int, stage: int) -> SeparableConv2d:
    """The student's convolution of a block stage: (1, 5) in stage 1, (5, 1) in stage 2 (a :data:`ConvFactory`)."""
    kernel = (1, SEPARABLE_KERNEL) if stage == 1 else (SEPARABLE_KERNEL, 1)
    return SeparableConv2d(in_channels, out_channels, kernel)


class DiscriminatorBlock(nn.Sequential):
    """Conv(4×4, stride 2, padding 1) → InstanceNorm → LeakyReLU(0.2), the block of the HAD-Net discriminator.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        normalize: add the instance norm (the first block has none). Defaults to True.

    Example:
        >>> DiscriminatorBlock(4, 32, normalize=False)(torch.zeros(1, 4, 64, 64)).shape
        torch.Size([1, 32, 32, 32])
    """

    def __init__(self, in_channels: int, out_channels: int, normalize: bool = True) -> None:
        layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, kernel_size=4, stride=2, padding=1)]
        if normalize:
            layers.append(nn.InstanceNorm2d(out_channels))
        layers.append(nn.LeakyReLU(0.2, inplace=True))
        super().__init__(*layers)
