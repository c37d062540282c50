"""3D U-Net of Isensee et al. for brain-tumour regions (paper 004's "UNet")."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from kdseg.models.base import SegmentationModel
from kdseg.models.blocks3d import ConvNormAct3d, PreActResidualBlock3d, check_widths, upsample_trilinear

__all__ = ["UNet3D"]


class _EncoderLevel(nn.Sequential):
    """A 3×3×3 convolution (stride 2 below the top level) followed by the context module.

    The context module is a pre-activation residual block with dropout between its two convolutions.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, dropout: float) -> None:
        super().__init__(
            nn.Conv3d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
            PreActResidualBlock3d(out_channels, norm="instance", act="leakyrelu", dropout=dropout),
        )


class _UpsamplingModule(nn.Sequential):
    """Trilinear 2× upsampling, then a 3×3×3 conv that halves the channels (instead of a transposed conv)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Upsample(scale_factor=2.0, mode="trilinear", align_corners=False), ConvNormAct3d(in_channels, out_channels)
        )


class _LocalizationModule(nn.Sequential):
    """3×3×3 conv on the concatenated skip and upsampled maps (halving the channels), then a 1×1×1 conv."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(ConvNormAct3d(in_channels, out_channels), ConvNormAct3d(out_channels, out_channels, kernel_size=1))


class UNet3D(SegmentationModel):
    """3D U-Net with context and localisation modules (Isensee et al., BraTS 2017 and 2018).

    Isensee et al., "Brain Tumor Segmentation and Radiomics Survival Prediction: Contribution to the BRATS 2017
    Challenge" (https://arxiv.org/abs/1802.10508) and "No New-Net" (BraTS 2018, 2nd place,
    https://arxiv.org/abs/1809.10483), as paper 004 uses it: instance normalisation, leaky ReLU (slope 0.01),
    and trilinear upsampling followed by a convolution in the decoder. Each encoder level is a 3×3×3 convolution
    (stride 2 below the top) and a context module (pre-activation residual block, dropout between its
    convolutions); each decoder level upsamples, concatenates the skip connection and applies a localisation
    module (3×3×3 then 1×1×1 conv). With deep supervision, 1×1×1 segmentation layers on the
    ``segmentation_levels`` highest-resolution decoder levels are upsampled and summed into the output, as in
    Isensee et al. 2017; that sum is part of inference too.

    ``forward`` returns logits of the WT, TC and ET regions (sigmoid outside). ``forward_features`` adds, besides
    "encoder" and "decoder", the key "deep_supervision" (with ``deep_supervision=True``): the per-level
    segmentation logits, highest resolution first, each at its own resolution.

    Args:
        in_channels: input modalities (4 for BraTS: T1, T1c, T2, FLAIR; 2 for the BRATS 2015 cases here).
            Defaults to 4.
        out_channels: output regions (WT, TC, ET). Defaults to 3.
        features: channels at the top level, doubled at every level below. Defaults to 16 (Isensee et al. 2017).
        depth: number of 2× downsamplings (levels - 1); inputs must be divisible by ``2**depth``. Defaults to 4.
        dropout: channel dropout inside the context modules. Defaults to 0.3.
        deep_supervision: sum upsampled segmentation layers of several decoder levels into the output.
            Defaults to True.
        segmentation_levels: decoder levels (highest resolution first) that feed the output under deep
            supervision, 1 to ``depth``. Defaults to ``min(3, depth)`` (3 in Isensee et al. 2017).

    Example:
        >>> model = UNet3D(in_channels=4, out_channels=3, features=16, depth=4)
        >>> model(torch.zeros(1, 4, 128, 128, 128)).shape
        torch.Size([1, 3, 128, 128, 128])
    """

    spatial_dims = 3

    def __init__(
        self,
        in_channels: int = 4,
        out_channels: int = 3,
        features: int = 16,
        depth: int = 4,
        dropout: float = 0.3,
        deep_supervision: bool = True,
        segmentation_levels: int | None = None,
    ) -> None:
        super().__init__(in_channels, out_channels)
        check_widths(features, depth)
        if segmentation_levels is None:
            segmentation_levels = min(3, depth)
        if deep_supervision and not 1 <= segmentation_levels <= depth:
            raise ValueError(f"segmentation_levels must be between 1 and depth={depth}, got {segmentation_levels}")
        widths = [features * 2**level for level in range(depth + 1)]
        self.required_divisor = 2**depth
        self.deep_supervision = deep_supervision
        self.encoder = nn.ModuleList(
            _EncoderLevel(c_in, c_out, stride=1 if level == 0 else 2, dropout=dropout)
            for level, (c_in, c_out) in enumerate(zip([in_channels, *widths[:-1]], widths))
        )
        decoder_levels = list(reversed(range(depth)))  # decoding order: deepest first
        self.upsampling = nn.ModuleList(_UpsamplingModule(widths[level + 1], widths[level]) for level in decoder_levels)
        self.localization = nn.ModuleList(_LocalizationModule(2 * widths[level], widths[level]) for level in decoder_levels)
        supervised_levels = decoder_levels[-segmentation_levels:] if deep_supervision else [0]
        self.segmentation = nn.ModuleList(nn.Conv3d(widths[level], out_channels, 1) for level in supervised_levels)
        self._record_init_kwargs(
            in_channels=in_channels,
            out_channels=out_channels,
            features=features,
            depth=depth,
            dropout=dropout,
            deep_supervision=deep_supervision,
            segmentation_levels=segmentation_levels,
        )

    def _forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        encoder = []
        for level in self.encoder:
            x = level(x)
            encoder.append(x)
        decoder = []
        for upsample, localize, skip in zip(self.upsampling, self.localization, reversed(encoder[:-1])):
            x = localize(torch.cat([skip, upsample(x)], dim=1))
            decoder.append(x)
        # segmentation layers of the last decoder levels, coarsest first, summed while upsampling
        level_logits = [conv(f) for conv, f in zip(self.segmentation, decoder[-len(self.segmentation) :])]
        logits = level_logits[0]
        for finer in level_logits[1:]:
            logits = upsample_trilinear(logits) + finer
        features: dict[str, Any] = {"encoder": encoder, "decoder": decoder}
        if self.deep_supervision:
            features["deep_supervision"] = level_logits[::-1]
        return logits, features
