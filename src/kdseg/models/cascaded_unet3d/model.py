"""Two-stage cascaded 3D U-Net in the style of Lachinov et al. 2019 (paper 004's "Cascaded UNet")."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from kdseg.models.base import SegmentationModel
from kdseg.models.blocks3d import PreActResidualBlock3d, activation, check_widths, norm3d, upsample_trilinear

__all__ = ["CascadedUNet3D"]


def _residual_block(channels: int) -> PreActResidualBlock3d:
    # Lachinov et al.: two instance norms, two ReLUs, two convolutions, identity shortcut
    return PreActResidualBlock3d(channels, norm="instance", act="relu")


class _ResidualUNet3d(nn.Module):
    """One stage of the cascade: a U-Net of pre-activation residual blocks.

    Stride-2 3×3×3 convolutions go down, 2×2×2 transposed convolutions come up, each skip is concatenated and
    merged by a 1×1×1 convolution, and InstanceNorm → ReLU → 1×1×1 conv give the logits.
    """

    def __init__(self, in_channels: int, out_channels: int, features: int, depth: int) -> None:
        super().__init__()
        widths = [features * 2**level for level in range(depth + 1)]
        self.stem = nn.Conv3d(in_channels, features, 3, padding=1, bias=False)
        self.downsample = nn.ModuleList(nn.Conv3d(c, 2 * c, 3, stride=2, padding=1, bias=False) for c in widths[:-1])
        self.encoder = nn.ModuleList(_residual_block(c) for c in widths)
        decoder_widths = widths[-2::-1]  # decoding order: deepest first
        self.upsample = nn.ModuleList(nn.ConvTranspose3d(2 * c, c, 2, stride=2, bias=False) for c in decoder_widths)
        self.merge = nn.ModuleList(nn.Conv3d(2 * c, c, 1, bias=False) for c in decoder_widths)
        self.decoder = nn.ModuleList(_residual_block(c) for c in decoder_widths)
        self.head = nn.Sequential(norm3d("instance", features), activation("relu"), nn.Conv3d(features, out_channels, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """Logits, encoder maps (highest resolution first) and decoder maps (decoding order)."""
        x = self.stem(x)
        encoder = []
        for level, block in enumerate(self.encoder):
            if level:
                x = self.downsample[level - 1](x)
            x = block(x)
            encoder.append(x)
        decoder = []
        for upsample, merge, block, skip in zip(self.upsample, self.merge, self.decoder, reversed(encoder[:-1])):
            x = block(merge(torch.cat([skip, upsample(x)], dim=1)))
            decoder.append(x)
        return self.head(x), encoder, decoder


class CascadedUNet3D(SegmentationModel):
    """Cascade of two residual 3D U-Nets: coarse regions first, then the final regions.

    After Lachinov et al., "Glioma Segmentation with Cascaded UNet", BrainLes 2018 (LNCS 11384, 2019;
    https://arxiv.org/abs/1810.04008), which refines a U-Net's output with the context of a same-topology U-Net
    run on downscaled data. Stage 1 sees the image average-pooled by ``stage1_scale`` and predicts coarse region
    logits, upsampled trilinearly to full size; stage 2 sees the image concatenated with the stage-1
    probabilities (sigmoid) and predicts the final WT, TC and ET logits. Both stages use pre-activation residual
    blocks (InstanceNorm, ReLU), stride-2 convolutions down and 2×2×2 transposed convolutions up. Lachinov et al.'s
    per-modality encoders merged by an element-wise maximum are not reproduced: both stages see all modalities
    stacked as channels.

    ``forward`` returns the stage-2 logits. ``forward_features`` returns stage 2's "encoder" and "decoder" maps
    and, under the key "stage1", the stage-1 logits at full resolution, so that a trainer can supervise both
    stages with the same targets (the cascade is trained end to end: gradients of stage 2 reach stage 1).

    Args:
        in_channels: input modalities. Defaults to 4.
        out_channels: output regions (WT, TC, ET), predicted by both stages. Defaults to 3.
        features: top-level channels of stage 2, doubled at every level. Defaults to 16.
        depth: 2× downsamplings in stage 2. Defaults to 4.
        stage1_features: top-level channels of stage 1. Defaults to 8.
        stage1_depth: 2× downsamplings in stage 1. Defaults to 3.
        stage1_scale: downscaling of stage 1's input, a power of two (1 = full resolution). Defaults to 2.

    Inputs must be divisible by ``max(2**depth, stage1_scale * 2**stage1_depth)`` (16 with the defaults).

    Example:
        >>> model = CascadedUNet3D(in_channels=4, out_channels=3)
        >>> logits, features = model.forward_features(torch.zeros(1, 4, 128, 128, 128))
        >>> logits.shape, features["stage1"].shape
        (torch.Size([1, 3, 128, 128, 128]), torch.Size([1, 3, 128, 128, 128]))
    """

    spatial_dims = 3

    def __init__(
        self,
        in_channels: int = 4,
        out_channels: int = 3,
        features: int = 16,
        depth: int = 4,
        stage1_features: int = 8,
        stage1_depth: int = 3,
        stage1_scale: int = 2,
    ) -> None:
        super().__init__(in_channels, out_channels)
        check_widths(features, depth)
        check_widths(stage1_features, stage1_depth)
        if stage1_scale < 1 or stage1_scale & (stage1_scale - 1):
            raise ValueError(f"stage1_scale must be a power of two >= 1, got {stage1_scale}")
        self.required_divisor = max(2**depth, stage1_scale * 2**stage1_depth)
        self.stage1_scale = stage1_scale
        self.stage1 = _ResidualUNet3d(in_channels, out_channels, stage1_features, stage1_depth)
        self.stage2 = _ResidualUNet3d(in_channels + out_channels, out_channels, features, depth)
        self._record_init_kwargs(
            in_channels=in_channels,
            out_channels=out_channels,
            features=features,
            depth=depth,
            stage1_features=stage1_features,
            stage1_depth=stage1_depth,
            stage1_scale=stage1_scale,
        )

    def _forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        scale = self.stage1_scale
        stage1_logits, _, _ = self.stage1(F.avg_pool3d(x, scale) if scale > 1 else x)
        if scale > 1:
            stage1_logits = upsample_trilinear(stage1_logits, scale)
        logits, encoder, decoder = self.stage2(torch.cat([x, torch.sigmoid(stage1_logits)], dim=1))
        return logits, {"encoder": encoder, "decoder": decoder, "stage1": stage1_logits}
