"""Attention U-Net: the brain-MRI U-Net with additive attention gates on its skip connections (paper 002)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from kdseg.models.blocks import kaiming_init_
from kdseg.models.unet.model import LEVELS, UNetBase, load_unet_state

__all__ = ["AttentionGate", "AttentionUNet", "UNetWeightsReport"]


class AttentionGate(nn.Module):
    """Additive attention gate of Oktay et al. (https://arxiv.org/abs/1804.03999).

    α = σ(ψ(ReLU(θ(x) + φ(g)))), where θ is a 2×2 stride-2 convolution without bias that brings the skip map x to
    the resolution of the gating map g, φ and ψ are 1×1 convolutions (ψ to one channel); α is upsampled
    bilinearly to x and the output is W(α·x), W = 1×1 convolution + batch norm.

    Args:
        skip_channels: channels of x (the skip connection, twice the resolution of g).
        gating_channels: channels of g (the coarser decoder or bottleneck map).
        inter_channels: channels of θ(x) and φ(g); None for ``skip_channels // 2`` (at least 1). Defaults to None.

    Example:
        >>> gate = AttentionGate(skip_channels=32, gating_channels=64)
        >>> gate(torch.zeros(1, 32, 16, 16), torch.zeros(1, 64, 8, 8)).shape
        torch.Size([1, 32, 16, 16])
    """

    def __init__(self, skip_channels: int, gating_channels: int, inter_channels: int | None = None) -> None:
        super().__init__()
        inter_channels = max(1, skip_channels // 2) if inter_channels is None else inter_channels
        if min(skip_channels, gating_channels, inter_channels) < 1:
            raise ValueError(f"channel counts must be >= 1, got skip {skip_channels}, gating {gating_channels}, inter {inter_channels}")
        self.theta = nn.Conv2d(skip_channels, inter_channels, kernel_size=2, stride=2, bias=False)
        self.phi = nn.Conv2d(gating_channels, inter_channels, kernel_size=1)
        self.psi = nn.Conv2d(inter_channels, 1, kernel_size=1)
        self.output = nn.Sequential(nn.Conv2d(skip_channels, skip_channels, kernel_size=1), nn.BatchNorm2d(skip_channels))

    def attention(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """The coefficients α in [0, 1], shape (N, 1, *x.shape[2:])."""
        alpha = torch.sigmoid(self.psi(F.relu(self.theta(x) + self.phi(g))))
        return F.interpolate(alpha, size=x.shape[2:], mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return self.output(self.attention(x, g) * x)


@dataclass(frozen=True)
class UNetWeightsReport:
    """What :meth:`AttentionUNet.load_unet_weights` did.

    Attributes:
        loaded: keys copied from the U-Net weights.
        initialised: keys of the attention gates, left at their initial values.
    """

    loaded: tuple[str, ...]
    initialised: tuple[str, ...]


class AttentionUNet(UNetBase):
    """The brain-MRI U-Net with Oktay et al.'s additive attention gates on the four skip connections.

    Khadka, "Transfer of Knowledge: Fine-tuning for Polyp Segmentation with Attention" (MediaEval 2020):
    the U-Net of mateuszbuda/brain-segmentation-pytorch, pretrained on brain MRI, gets attention gates
    (Oktay et al., https://arxiv.org/abs/1804.03999) and is fine-tuned on polyps. The gate of level l filters
    encoder l's output with the map that is upsampled next to it (the bottleneck for level 4, decoder l+1
    otherwise); its inter channels are half the skip channels. Every U-Net parameter keeps the reference's name,
    so :meth:`load_unet_weights` copies a U-Net into it and leaves the gates (``attention1``..``attention4``,
    He-initialised as in Oktay et al.'s code) fresh. Features as in :class:`UNetBase`.

    Args:
        in_channels: channels of the input image. Defaults to 3.
        out_channels: channels of the output logits. Defaults to 1.
        features: channels of the first block, doubled at every level (>= 4). Defaults to 32.

    Example:
        >>> model = AttentionUNet(in_channels=3, out_channels=1, features=32)
        >>> report = model.load_unet_weights(UNet.from_reference_checkpoint("unet.pt"))  # doctest: +SKIP
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 1, features: int = 32) -> None:
        super().__init__(in_channels, out_channels, features)
        for level in range(1, LEVELS + 1):
            skip_channels = features * 2 ** (level - 1)
            gate = AttentionGate(skip_channels, gating_channels=2 * skip_channels)
            kaiming_init_(gate, "normal")
            self.add_module(f"attention{level}", gate)

    def _gate_skip(self, level: int, skip: torch.Tensor, gating: torch.Tensor) -> torch.Tensor:
        return self.get_submodule(f"attention{level}")(skip, gating)

    def gate_keys(self) -> list[str]:
        """State-dict keys of the attention gates (the tensors a U-Net does not have)."""
        return [key for key in self.state_dict() if key.startswith("attention")]

    def load_unet_weights(self, weights: nn.Module | Mapping[str, torch.Tensor]) -> UNetWeightsReport:
        """Copy every tensor of a U-Net (a model or its state dict) into the same-named tensor here.

        Raises:
            DataError: when the keys are not the U-Net's (listing missing and unexpected keys).
            ValueError: when input channels or widths differ.
        """
        state = weights.state_dict() if isinstance(weights, nn.Module) else weights
        source = type(weights).__name__ if isinstance(weights, nn.Module) else "the given state dict"
        gate_keys = self.gate_keys()
        loaded = load_unet_state(self, state, source=source, keep_initialised=gate_keys)
        return UNetWeightsReport(loaded=tuple(loaded), initialised=tuple(gate_keys))
