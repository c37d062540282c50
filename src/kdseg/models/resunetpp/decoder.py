"""Blocks of ResUNet++ (Jha et al. 2019): residual blocks with squeeze-and-excitation, ASPP, attention, decoder.

The encoder reuses :class:`ResidualSEBlock` (its stem is the block without pre-activation); the decoder is
:class:`ResUNetPlusPlusDecoder`, a chain of :class:`DecoderBlock` (attention → 2× upsampling → concatenation
with the skip → residual block).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

import torch
from torch import nn

from kdseg.models.blocks import SqueezeExcitationWeights, kaiming_init_

__all__ = ["ASPP", "AttentionBlock", "AttentionGate", "DecoderBlock", "ResUNetPlusPlusDecoder", "ResidualSEBlock"]

SE_RATIO = 8
ASPP_DILATIONS = (1, 6, 12, 18)

AttentionGate = Literal["linear", "sigmoid"]
ATTENTION_GATES: tuple[AttentionGate, ...] = get_args(AttentionGate)


def _bn_relu_conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> list[nn.Module]:
    return [nn.BatchNorm2d(in_channels), nn.ReLU(inplace=True), nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1)]


class ResidualSEBlock(nn.Module):
    """Residual unit of ResUNet++ followed by squeeze-and-excitation.

    Pre-activation body BN-ReLU-conv3×3 (stride) → BN-ReLU-conv3×3, plus a shortcut 1×1 conv (stride) + BN; the
    sum is multiplied by squeeze-and-excitation weights (ratio 8, no bias, He-normal as the Keras reference).
    Without pre-activation (the stem) the body is conv3×3 → BN → ReLU → conv3×3.

    Args:
        in_channels: input channels.
        out_channels: output channels (>= 8 for the SE bottleneck).
        stride: stride of the first convolution and of the shortcut. Defaults to 1.
        pre_activation: start the body with BN-ReLU. Defaults to True.

    Example:
        >>> ResidualSEBlock(16, 32, stride=2)(torch.zeros(1, 16, 32, 32)).shape
        torch.Size([1, 32, 16, 16])
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, pre_activation: bool = True) -> None:
        super().__init__()
        if pre_activation:
            body = [*_bn_relu_conv3x3(in_channels, out_channels, stride), *_bn_relu_conv3x3(out_channels, out_channels)]
        else:
            body = [
                nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(inplace=True),
                nn.Conv2d(out_channels, out_channels, 3, padding=1),
            ]
        self.body = nn.Sequential(*body)
        self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride), nn.BatchNorm2d(out_channels))
        self.se = SqueezeExcitationWeights(out_channels, out_channels // SE_RATIO, bias=False)
        kaiming_init_(self.se, "normal")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x) + self.shortcut(x)
        return y * self.se(y)


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling as in ResUNet++: four 3×3 conv + BN branches (dilation 1, 6, 12, 18), summed, 1×1 conv.

    Args:
        in_channels: input channels.
        out_channels: channels of every branch and of the output.

    Example:
        >>> ASPP(128, 256)(torch.zeros(1, 128, 8, 8)).shape
        torch.Size([1, 256, 8, 8])
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=d, dilation=d), nn.BatchNorm2d(out_channels))
            for d in ASPP_DILATIONS
        )
        self.project = nn.Conv2d(out_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.stack([branch(x) for branch in self.branches]).sum(dim=0))


class AttentionBlock(nn.Module):
    """ResUNet++ attention: the skip map g steers the decoder map x (half g's resolution).

    g → BN-ReLU-conv3×3 → 2×2 max pool; x → BN-ReLU-conv3×3; their sum → BN-ReLU-conv3×3, multiplied with x.

    Args:
        skip_channels: channels of g (encoder output at twice x's resolution).
        channels: channels of x and of the output.
        gate: ``"linear"`` multiplies x by the unbounded convolution output, as the Keras reference does;
            ``"sigmoid"`` squashes it to (0, 1) first, as in Oktay et al.'s attention gate. The product of two
            unbounded maps compounds over the three decoder levels into heavy-tailed activations (logits of 10³
            and more) that BatchNorm's running statistics do not track. Defaults to ``"linear"``.

    Example:
        >>> AttentionBlock(64, 256)(torch.zeros(1, 64, 16, 16), torch.zeros(1, 256, 8, 8)).shape
        torch.Size([1, 256, 8, 8])
    """

    def __init__(self, skip_channels: int, channels: int, gate: AttentionGate = "linear") -> None:
        super().__init__()
        if gate not in ATTENTION_GATES:
            raise ValueError(f"attention gate must be one of {list(ATTENTION_GATES)}, got {gate!r}")
        self.skip = nn.Sequential(*_bn_relu_conv3x3(skip_channels, channels), nn.MaxPool2d(2))
        self.input = nn.Sequential(*_bn_relu_conv3x3(channels, channels))
        self.fuse = nn.Sequential(*_bn_relu_conv3x3(channels, channels))
        if gate == "sigmoid":
            self.fuse.append(nn.Sigmoid())

    def forward(self, g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.fuse(self.skip(g) + self.input(x)) * x


class DecoderBlock(nn.Module):
    """One ResUNet++ decoder level: attention(skip, x) → nearest 2× upsampling → concat [x, skip] → residual block.

    Args:
        skip_channels: channels of the encoder skip map.
        in_channels: channels of the incoming decoder map.
        out_channels: output channels.
        gate: the attention block's gate (see :class:`AttentionBlock`). Defaults to ``"linear"``.

    Example:
        >>> DecoderBlock(64, 256, 128)(torch.zeros(1, 256, 8, 8), torch.zeros(1, 64, 16, 16)).shape
        torch.Size([1, 128, 16, 16])
    """

    def __init__(self, skip_channels: int, in_channels: int, out_channels: int, gate: AttentionGate = "linear") -> None:
        super().__init__()
        self.attention = AttentionBlock(skip_channels, in_channels, gate)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.residual = ResidualSEBlock(in_channels + skip_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.upsample(self.attention(skip, x))
        return self.residual(torch.cat([x, skip], dim=1))


class ResUNetPlusPlusDecoder(nn.Module):
    """The decoder levels of ResUNet++, deepest first.

    Args:
        skip_channels: channels of the skip maps in decoding order (e.g. 64, 32, 16).
        in_channels: channels of the bridge output entering the first level.
        out_channels: output channels of each level in decoding order (e.g. 128, 64, 32).
        gate: the attention blocks' gate (see :class:`AttentionBlock`). Defaults to ``"linear"``.

    Example:
        >>> decoder = ResUNetPlusPlusDecoder(skip_channels=(64, 32, 16), in_channels=256, out_channels=(128, 64, 32))
        >>> skips = [torch.zeros(1, 64, 16, 16), torch.zeros(1, 32, 32, 32), torch.zeros(1, 16, 64, 64)]
        >>> [f.shape[1] for f in decoder(torch.zeros(1, 256, 8, 8), skips)]
        [128, 64, 32]
    """

    def __init__(
        self, skip_channels: Sequence[int], in_channels: int, out_channels: Sequence[int], gate: AttentionGate = "linear"
    ) -> None:
        super().__init__()
        if len(skip_channels) != len(out_channels):
            raise ValueError(f"skip_channels and out_channels need one entry per level, got {list(skip_channels)} and {list(out_channels)}")
        inputs = [in_channels, *out_channels[:-1]]
        self.blocks = nn.ModuleList(DecoderBlock(s, i, o, gate) for s, i, o in zip(skip_channels, inputs, out_channels))

    def forward(self, x: torch.Tensor, skips: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Decoder outputs in decoding order; ``skips`` are the encoder maps in decoding order."""
        outputs = []
        for block, skip in zip(self.blocks, skips):
            x = block(x, skip)
            outputs.append(x)
        return outputs
