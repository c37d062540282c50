"""Attention U-Net: the brain-MRI U-Net with additive attention gates, loadable from U-Net weights."""

from __future__ import annotations

from kdseg.models.attention_unet.model import AttentionGate, AttentionUNet, UNetWeightsReport

__all__ = ["AttentionGate", "AttentionUNet", "UNetWeightsReport"]
