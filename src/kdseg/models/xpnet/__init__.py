"""XP-Net (paper 001): U-Net + EPSA teachers, separable-filter student and the hierarchical discriminator."""

from __future__ import annotations

from kdseg.models.xpnet.blocks import PyramidSqueezeAttention, SeparableConv2d
from kdseg.models.xpnet.model import HierarchicalDiscriminator, PatchDiscriminator, SeparableUNetEPSA, UNetEPSA

__all__ = ["HierarchicalDiscriminator", "PatchDiscriminator", "PyramidSqueezeAttention", "SeparableConv2d", "SeparableUNetEPSA", "UNetEPSA"]
