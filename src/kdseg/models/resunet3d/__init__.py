"""Residual 3D U-Net of Myronenko 2018 (no VAE branch), paper 004's "Residual UNet"."""

from __future__ import annotations

from kdseg.models.resunet3d.model import ResUNet3D

__all__ = ["ResUNet3D"]
