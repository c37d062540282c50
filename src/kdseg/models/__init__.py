"""Segmentation networks, created by name through one registry.

Every architecture lives in its own module and subclasses :class:`SegmentationModel`. Config and
command lines name architectures only through :func:`create_model`; modules are imported on first
use, so a command that needs one network does not import them all.

Example:
    >>> model = create_model("resunetpp", in_channels=3, out_channels=1, filters=[16, 32, 64, 128, 256])
"""

from __future__ import annotations

import importlib
from typing import Any

from kdseg.models.base import SegmentationModel

__all__ = ["MODEL_ARCHITECTURES", "SegmentationModel", "create_model", "get_model_class"]

# name -> "module:Class"
MODEL_ARCHITECTURES: dict[str, str] = {
    "resunetpp": "kdseg.models.resunetpp.model:ResUNetPlusPlus",
    "unet": "kdseg.models.unet.model:UNet",
    "attention_unet": "kdseg.models.attention_unet.model:AttentionUNet",
    "unet_epsa": "kdseg.models.xpnet.model:UNetEPSA",
    "unet_epsa_separable": "kdseg.models.xpnet.model:SeparableUNetEPSA",
    "unet3d": "kdseg.models.unet3d.model:UNet3D",
    "resunet3d": "kdseg.models.resunet3d.model:ResUNet3D",
    "cascaded_unet3d": "kdseg.models.cascaded_unet3d.model:CascadedUNet3D",
    "unetr": "kdseg.models.monai_adapters:UNETRSeg",
    "dynunet": "kdseg.models.monai_adapters:DynUNetSeg",
}


def get_model_class(arch: str) -> type[SegmentationModel]:
    """The class registered as ``arch``.

    Raises:
        KeyError: listing the available names and how to add one.
    """
    try:
        target = MODEL_ARCHITECTURES[arch.lower()]
    except KeyError:
        raise KeyError(
            f"Unknown architecture {arch!r}; available: {', '.join(sorted(MODEL_ARCHITECTURES))}. "
            "To add one, subclass kdseg.models.SegmentationModel in its own module and register it in "
            "kdseg.models.MODEL_ARCHITECTURES."
        ) from None
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def create_model(arch: str, **kwargs: Any) -> SegmentationModel:
    """Instantiate the architecture registered as ``arch`` with ``kwargs``."""
    return get_model_class(arch)(**kwargs)
