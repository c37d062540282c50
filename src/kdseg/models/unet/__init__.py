"""The brain-MRI U-Net of Buda et al. and the U-Net skeleton shared by Attention U-Net and XP-Net."""

from __future__ import annotations

from kdseg.models.unet.model import UNet, UNetBase, load_unet_state, read_state_dict

__all__ = ["UNet", "UNetBase", "load_unet_state", "read_state_dict"]
