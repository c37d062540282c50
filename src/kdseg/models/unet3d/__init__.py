"""3D U-Net of Isensee et al. (BraTS 2017/2018), paper 004's "UNet"."""

from __future__ import annotations

from kdseg.models.unet3d.model import UNet3D

__all__ = ["UNet3D"]
