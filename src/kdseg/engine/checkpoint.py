"""Model checkpoints: weights plus what re-creates and feeds the network, never pickled objects.

A checkpoint is a dict of tensors and plain values, loaded with ``torch.load(..., weights_only=True)``:
``format``, ``arch``, ``arch_kwargs``, ``state_dict`` and ``meta`` (input range, training size,
channels, label convention, the settings it was trained with...). :func:`load_model` rebuilds the
network through the model registry.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from kdseg.models import SegmentationModel, create_model
from kdseg.utils.errors import DataError
from kdseg.utils.io import write_bytes

__all__ = ["CHECKPOINT_FORMAT", "load_checkpoint", "load_model", "save_model", "save_state", "torch_bytes"]

CHECKPOINT_FORMAT = "kdseg-model/1"


def torch_bytes(obj: Any) -> bytes:
    """Serialise ``obj`` with torch.save into bytes."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def save_state(path: str | Path, obj: dict[str, Any]) -> None:
    """Write a dict of tensors and plain values atomically."""
    write_bytes(path, torch_bytes(obj))


def save_model(path: str | Path, model: SegmentationModel, arch: str, meta: dict[str, Any]) -> None:
    """Write a model checkpoint (weights on CPU) atomically."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    save_state(path, {"format": CHECKPOINT_FORMAT, "arch": arch, "arch_kwargs": model.init_kwargs, "state_dict": state, "meta": meta})


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a kdseg checkpoint with ``weights_only=True`` and check its format."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"checkpoint {path} does not exist; train the model first (snakemake {path}).")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise DataError(f"checkpoint {path} cannot be read ({err}); delete it and retrain.") from None
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise DataError(f"{path} is not a kdseg model checkpoint (format {CHECKPOINT_FORMAT}); give a file written by kdseg-train.")
    return data


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[SegmentationModel, dict[str, Any]]:
    """Re-create the network of a checkpoint in eval mode; return it with the checkpoint's ``meta``."""
    data = load_checkpoint(path)
    model = create_model(data["arch"], **data["arch_kwargs"])
    model.load_state_dict(data["state_dict"])
    return model.to(device).eval(), {**data["meta"], "arch": data["arch"], "arch_kwargs": data["arch_kwargs"]}
