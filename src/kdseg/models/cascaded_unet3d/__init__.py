"""Two-stage cascaded 3D U-Net (Lachinov et al. 2019 style), paper 004's "Cascaded UNet"."""

from __future__ import annotations

from kdseg.models.cascaded_unet3d.model import CascadedUNet3D

__all__ = ["CascadedUNet3D"]
