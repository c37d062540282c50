"""Prediction shared by validation, evaluation, pseudo-labelling, export checks and packaging.

2D images are resized to the training size, predicted, and the probabilities resized back to the
image's own resolution; 3D volumes are predicted patch-wise with a Gaussian-weighted sliding window at
the training patch size. Both can be averaged with mirrored copies (flip test-time augmentation, as in
Lachinov et al.'s BraTS workflow).

A 3D network predicts BraTS regions (``targets: regions``, sigmoid per channel) or the data set's
labels (``targets: labels``, softmax over background and labels); :func:`probabilities_to_labels`
turns either into the label map that is written, and :func:`predicted_regions` gives the nested
regions of that map, which is what every 3D score is computed from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from kdseg.data.volumes import class_labels, label_regions, regions_to_labels, zscore_nonzero
from kdseg.engine.data import normalise_image, resize_image
from kdseg.engine.patches import TARGETS
from kdseg.models import SegmentationModel
from kdseg.utils.options import look_up_option

__all__ = [
    "model_targets",
    "output_probabilities",
    "predict_image",
    "predict_label_map",
    "predict_logits",
    "predict_volume",
    "predicted_regions",
    "probabilities_to_labels",
]


def model_targets(meta: Mapping[str, Any]) -> str:
    """What a 3D checkpoint's network predicts (its ``meta["targets"]``); checkpoints written before the
    key existed predict ``regions``."""
    return meta.get("targets", "regions")


def output_probabilities(logits: torch.Tensor, targets: str = "regions") -> torch.Tensor:
    """Probabilities of (B, C, ...) logits: sigmoid per channel (``regions``) or softmax over channels (``labels``)."""
    look_up_option(targets, TARGETS, "targets")
    return torch.sigmoid(logits) if targets == "regions" else torch.softmax(logits, dim=1)


def probabilities_to_labels(probs: np.ndarray, targets: str, convention: str, threshold: float = 0.5) -> np.ndarray:
    """The label map (X, Y, Z) in ``convention`` written for (C, X, Y, Z) probabilities.

    ``regions``: each region where its probability reaches ``threshold``, nested WT ⊇ TC ⊇ ET by
    :func:`kdseg.data.volumes.regions_to_labels`; ``labels``: the most probable class (``threshold`` unused).
    """
    look_up_option(targets, TARGETS, "targets")
    if targets == "regions":
        return regions_to_labels(probs >= threshold, convention)
    return class_labels(np.argmax(probs, axis=0), convention)


def predicted_regions(probs: np.ndarray, targets: str, convention: str, threshold: float = 0.5) -> np.ndarray:
    """Region masks (3, X, Y, Z) bool of the label map :func:`probabilities_to_labels` writes."""
    return label_regions(probabilities_to_labels(probs, targets, convention, threshold), convention).astype(bool)


def predict_logits(model: SegmentationModel, image: torch.Tensor, patch_size: Sequence[int] | None = None, overlap: float = 0.5) -> torch.Tensor:
    """Logits of a batch; 3D inputs larger than ``patch_size`` go through a sliding window."""
    if model.spatial_dims == 3 and patch_size is not None and tuple(image.shape[2:]) != tuple(patch_size):
        from monai.inferers import sliding_window_inference

        return sliding_window_inference(image, roi_size=tuple(patch_size), sw_batch_size=2, predictor=model, overlap=overlap, mode="gaussian", padding_mode="constant")
    return model(image)


# the flips of a 2D mirror pass, as tensor axes of (N, C, H, W): none, left-right, up-down, both
_IMAGE_FLIPS: tuple[tuple[int, ...], ...] = ((), (3,), (2,), (2, 3))


@torch.inference_mode()
def predict_image(model: SegmentationModel, meta: dict[str, Any], rgb: np.ndarray, device: str | torch.device = "cpu", *, mirror: bool = False) -> np.ndarray:
    """Foreground probability (H, W) float32 of one RGB uint8 image at the image's own resolution.

    With ``mirror``, the image and its three flips (left-right, up-down, both) go through the network as
    one batch of four and the flipped-back probabilities are averaged (flip test-time augmentation).
    """
    size = meta["size"]
    x = torch.from_numpy(normalise_image(resize_image(rgb, size), meta["input_range"]))[None].to(device)
    flips = _IMAGE_FLIPS if mirror else _IMAGE_FLIPS[:1]
    probs = torch.sigmoid(model(torch.cat([_flipped(x, axes) for axes in flips])).float())
    prob = torch.cat([_flipped(probs[i : i + 1], axes) for i, axes in enumerate(flips)]).mean(0)
    return resize_image(prob[0].cpu().numpy(), rgb.shape[:2])


def _flipped(x: torch.Tensor, axes: tuple[int, ...]) -> torch.Tensor:
    return torch.flip(x, axes) if axes else x


@torch.inference_mode()
def predict_volume(
    models: SegmentationModel | Sequence[SegmentationModel],
    volume: np.ndarray,
    patch_size: Sequence[int],
    *,
    mirror: bool = False,
    device: str | torch.device = "cpu",
    targets: str = "regions",
) -> np.ndarray:
    """Probabilities (K, X, Y, Z) of a z-scored volume (C, X, Y, Z), averaged over ``models``: the
    3 regions (``targets="regions"``, sigmoid) or the K classes (``"labels"``, softmax).

    With ``mirror``, each model also sees the volume flipped along every axis and the flipped-back
    probabilities are averaged in (8 passes per model).
    """
    models = [models] if isinstance(models, SegmentationModel) else list(models)
    x = torch.from_numpy(np.ascontiguousarray(volume, dtype=np.float32))[None].to(device)
    flips: list[tuple[int, ...]] = [()]
    if mirror:
        flips = [tuple(a for a, bit in zip((2, 3, 4), f"{m:03b}") if bit == "1") for m in range(8)]
    total = None
    for model in models:
        for axes in flips:
            prob = output_probabilities(predict_logits(model, _flipped(x, axes), patch_size).float(), targets)
            prob = _flipped(prob, axes)
            total = prob if total is None else total + prob
    return (total / (len(models) * len(flips)))[0].float().cpu().numpy()


def predict_label_map(
    models: SegmentationModel | Sequence[SegmentationModel],
    volume: np.ndarray,
    meta: Mapping[str, Any],
    convention: str,
    threshold: float = 0.5,
    *,
    patch_size: Sequence[int] | None = None,
    mirror: bool = False,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """The label map (X, Y, Z) in ``convention`` written for a raw case (C, X, Y, Z): z-scored, predicted by
    ``models`` (averaged, see :func:`predict_volume`) at ``patch_size`` (default: the checkpoint's training
    size, ``meta["size"]``) and read by :func:`probabilities_to_labels` for the checkpoint's targets."""
    targets = model_targets(meta)
    probs = predict_volume(models, zscore_nonzero(volume), patch_size or meta["size"], mirror=mirror, device=device, targets=targets)
    return probabilities_to_labels(probs, targets, convention, threshold)
