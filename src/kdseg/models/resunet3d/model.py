"""Residual 3D U-Net of Myronenko 2018 (paper 004's "Residual UNet"), without its VAE regulariser (see the class)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from kdseg.models.base import SegmentationModel
from kdseg.models.blocks3d import PreActResidualBlock3d, activation, check_widths, norm3d, upsample_trilinear

__all__ = ["ResUNet3D"]

NORM_GROUPS = 8


def _residual_stage(channels: int, blocks: int) -> nn.Sequential:
    block = PreActResidualBlock3d  # Myronenko: GroupNorm(8) → ReLU → conv, twice, plus identity
    return nn.Sequential(*(block(channels, norm="group", act="relu", groups=NORM_GROUPS) for _ in range(blocks)))


class ResUNet3D(SegmentationModel):
    """Encoder-decoder with residual blocks (Myronenko, BraTS 2018, 1st place), decoder path only.

    Myronenko, "3D MRI brain tumor segmentation using autoencoder regularization", BrainLes 2018
    (https://arxiv.org/abs/1810.11654). Every block is GroupNorm(8) → ReLU → 3×3×3 conv, twice, plus the
    identity. The encoder starts with a 3×3×3 conv and channel dropout, then runs ``blocks_down[i]`` blocks per
    level with a stride-2 3×3×3 conv (doubling the channels) between levels; each decoder level halves the
    channels with a 1×1×1 conv, upsamples trilinearly, *adds* the encoder output of that level and runs
    ``blocks_up[i]`` blocks; GroupNorm → ReLU → 1×1×1 conv give the region logits.

    Left out: Myronenko's variational auto-encoder branch, which reconstructs the input image from the
    bottleneck and adds an L2 reconstruction and a KL term (weight 0.1 each) to the loss. Of Myronenko's
    model paper 004 writes "they also use a variational auto-encoder part for regularizing effect", and it
    adopts that architecture; whether its own training kept the branch, it does not say. It is left out
    here because it is not implemented yet: the branch plays no part at inference, but its dense layers fix
    the input size (Myronenko's 160×192×128 crop), while this class serves every patch size of the presets.

    Args:
        in_channels: input modalities. Defaults to 4.
        out_channels: output regions (WT, TC, ET). Defaults to 3.
        features: channels at the top level, doubled at every level; a multiple of 8 (GroupNorm groups).
            Defaults to 32 (Myronenko).
        blocks_down: residual blocks per encoder level, top first; its length - 1 is the depth, and inputs must
            be divisible by ``2**depth``. Defaults to (1, 2, 2, 4).
        blocks_up: residual blocks per decoder level, top first; one entry per level below the bottom.
            Defaults to (1, 1, 1).
        dropout: channel dropout after the first convolution. Defaults to 0.2.

    Example:
        >>> model = ResUNet3D(in_channels=4, out_channels=3, features=32)
        >>> model(torch.zeros(1, 4, 128, 128, 128)).shape
        torch.Size([1, 3, 128, 128, 128])
    """

    spatial_dims = 3

    def __init__(
        self,
        in_channels: int = 4,
        out_channels: int = 3,
        features: int = 32,
        blocks_down: Sequence[int] = (1, 2, 2, 4),
        blocks_up: Sequence[int] = (1, 1, 1),
        dropout: float = 0.2,
    ) -> None:
        super().__init__(in_channels, out_channels)
        depth = len(blocks_down) - 1
        check_widths(features, depth, groups=NORM_GROUPS)
        if len(blocks_up) != depth:
            raise ValueError(
                f"blocks_up needs one entry per decoder level (len(blocks_down) - 1 = {depth}), got {list(blocks_up)}"
            )
        if min(*blocks_down, *blocks_up) < 1:
            raise ValueError(
                "every level needs at least one residual block, "
                f"got blocks_down={list(blocks_down)}, blocks_up={list(blocks_up)}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        widths = [features * 2**level for level in range(depth + 1)]
        self.required_divisor = 2**depth
        self.stem = nn.Sequential(nn.Conv3d(in_channels, features, 3, padding=1, bias=False), nn.Dropout3d(dropout))
        self.downsample = nn.ModuleList(nn.Conv3d(c, 2 * c, 3, stride=2, padding=1, bias=False) for c in widths[:-1])
        self.encoder = nn.ModuleList(_residual_stage(c, n) for c, n in zip(widths, blocks_down))
        decoder_levels = list(reversed(range(depth)))  # decoding order: deepest first
        self.reduce = nn.ModuleList(nn.Conv3d(widths[level + 1], widths[level], 1, bias=False) for level in decoder_levels)
        self.decoder = nn.ModuleList(_residual_stage(widths[level], blocks_up[level]) for level in decoder_levels)
        self.head = nn.Sequential(
            norm3d("group", features, NORM_GROUPS), activation("relu"), nn.Conv3d(features, out_channels, 1)
        )
        self._record_init_kwargs(
            in_channels=in_channels,
            out_channels=out_channels,
            features=features,
            blocks_down=blocks_down,
            blocks_up=blocks_up,
            dropout=dropout,
        )

    def _forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        x = self.stem(x)
        encoder = []
        for level, stage in enumerate(self.encoder):
            if level:
                x = self.downsample[level - 1](x)
            x = stage(x)
            encoder.append(x)
        decoder = []
        for reduce, stage, skip in zip(self.reduce, self.decoder, reversed(encoder[:-1])):
            x = stage(upsample_trilinear(reduce(x)) + skip)
            decoder.append(x)
        return self.head(x), {"encoder": encoder, "decoder": decoder}
