"""ResUNet++ (Jha et al. 2019), the teacher and student of KD-ResUNet++ (paper 000)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from kdseg.models.base import SegmentationModel
from kdseg.models.resunetpp.decoder import ASPP, SE_RATIO, AttentionGate, ResidualSEBlock, ResUNetPlusPlusDecoder

__all__ = ["ResUNetPlusPlus"]

FILTER_COUNT = 5


class ResUNetPlusPlus(SegmentationModel):
    """ResUNet++: residual U-Net with squeeze-and-excitation, ASPP and attention.

    Jha et al., "ResUNet++: An Advanced Architecture for Medical Image Segmentation", IEEE ISM 2019
    (https://arxiv.org/abs/1911.07067; reference code https://github.com/DebeshJha/ResUNetPlusPlus).
    Stem (conv-BN-ReLU-conv + 1×1 shortcut, then SE) with ``filters[0]``; three pre-activation residual blocks of
    stride 2 with ``filters[1:4]``, each followed by SE (ratio 8); ASPP bridge with ``filters[4]``; three decoder
    levels (attention, 2× upsampling, concatenation, residual block) with ``filters[3]``, ``filters[2]``,
    ``filters[1]``; ASPP with ``filters[0]`` and a 1×1 output convolution. 4,062,993 parameters with the
    reference filters 16..256. ``forward`` returns logits (the reference's sigmoid is applied by losses and
    ``predict``).

    ``forward_features`` gives "encoder" = [stem, residual 1, residual 2, residual 3, bridge] (full resolution to
    1/8; the bridge keeps residual 3's resolution) and "decoder" = the three decoder outputs (1/4, 1/2, full).

    Args:
        in_channels: channels of the input image. Defaults to 3.
        out_channels: channels of the output logits. Defaults to 1.
        filters: five strictly increasing widths (stem, residual blocks 1-3, bridge), each >= 8.
            Defaults to (16, 32, 64, 128, 256).
        attention_gate: ``"linear"`` (the reference's product with the unbounded attention map) or
            ``"sigmoid"`` (the map squashed to (0, 1) first); see
            :class:`~kdseg.models.resunetpp.decoder.AttentionBlock`. Defaults to ``"linear"``.

    Example:
        >>> model = ResUNetPlusPlus(in_channels=3, out_channels=1, filters=(16, 32, 64, 128, 256))
        >>> model(torch.zeros(1, 3, 256, 256)).shape
        torch.Size([1, 1, 256, 256])
    """

    required_divisor = 8

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 1,
        filters: Sequence[int] = (16, 32, 64, 128, 256),
        attention_gate: AttentionGate = "linear",
    ) -> None:
        super().__init__(in_channels, out_channels)
        filters = [int(f) for f in filters]
        if len(filters) != FILTER_COUNT:
            raise ValueError(f"filters needs {FILTER_COUNT} widths (stem, three residual blocks, bridge), got {filters}")
        if any(a >= b for a, b in zip(filters, filters[1:])):
            raise ValueError(f"filters must be strictly increasing, got {filters}")
        if filters[0] < SE_RATIO:
            raise ValueError(f"filters must be >= {SE_RATIO} (the squeeze-and-excitation ratio), got {filters}")
        encoder_widths = filters[:4]
        self.encoder = nn.ModuleList(
            [ResidualSEBlock(in_channels, filters[0], stride=1, pre_activation=False)]
            + [ResidualSEBlock(c_in, c_out, stride=2) for c_in, c_out in zip(encoder_widths, encoder_widths[1:])]
        )
        self.bridge = ASPP(filters[3], filters[4])
        self.decoder = ResUNetPlusPlusDecoder(
            skip_channels=filters[2::-1], in_channels=filters[4], out_channels=filters[3:0:-1], gate=attention_gate
        )
        self.head = nn.Sequential(ASPP(filters[1], filters[0]), nn.Conv2d(filters[0], out_channels, kernel_size=1))
        self._record_init_kwargs(
            in_channels=in_channels, out_channels=out_channels, filters=filters, attention_gate=attention_gate
        )

    def _forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        encoder = []
        for block in self.encoder:
            x = block(x)
            encoder.append(x)
        bridge = self.bridge(x)
        decoder = self.decoder(bridge, encoder[-2::-1])
        return self.head(decoder[-1]), {"encoder": [*encoder, bridge], "decoder": decoder}
