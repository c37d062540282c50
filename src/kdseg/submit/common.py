"""What the packagers share: where the test images come from, the 2D segmenter, deterministic zips.

Test images come either from a subset of a data set's split (``--manifest --split --subset``) or from a
folder as the challenges hand them out (``--images-dir``): images directly in it form one test subset
named after the folder, and each sub-folder holding images forms a subset of its own name (EndoCV's
``data1/``, ``data2/``...). For a split's subset, the subset of an image is its ``centre`` (PolypGen's
C1..C6) when the manifest has one, else the split subset's name.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kdseg.data.images import read_rgb
from kdseg.engine.checkpoint import load_checkpoint
from kdseg.export.onnx import onnxruntime_session, subset_rows
from kdseg.submit.task2_entrypoint import Segmenter, encode_mask, list_images
from kdseg.utils.errors import DataError
from kdseg.utils.progress import progress

__all__ = [
    "InputImage",
    "Segmentation",
    "input_images",
    "is_split_source",
    "lossless_mask",
    "model_config",
    "load_segmenter",
    "require_unique",
    "segment_images",
]


@dataclass(frozen=True)
class InputImage:
    """A test image: its file and the test subset it belongs to."""

    path: Path
    subset: str


@dataclass(frozen=True)
class Segmentation:
    """A predicted mask of a test image and the seconds its model call took."""

    image: InputImage
    mask: np.ndarray
    seconds: float


def is_split_source(
    *,
    manifest: str | Path | None,
    split: str | Path | None,
    subset: str | None,
    images_dir: str | Path | None,
) -> bool:
    """True when the test data are a split's subset, False when they are a folder.

    Raises:
        DataError: when both or neither source is given.
    """
    from_split = manifest is not None or split is not None or subset is not None
    if from_split == (images_dir is not None) or (from_split and None in (manifest, split, subset)):
        raise DataError("give the test data either as --manifest, --split and --subset, or as --images-dir (one of the two).")
    return from_split


def input_images(
    *,
    manifest: str | Path | None = None,
    split: str | Path | None = None,
    subset: str | None = None,
    images_dir: str | Path | None = None,
) -> list[InputImage]:
    """The test images of a split's subset, or of a folder (see the module docstring).

    Raises:
        DataError: when both or neither source is given, or it holds no image.
    """
    if is_split_source(manifest=manifest, split=split, subset=subset, images_dir=images_dir):
        rows = subset_rows(manifest, split, subset)
        centres = rows["centre"] if "centre" in rows.columns else [""] * len(rows)
        return [InputImage(Path(image), centre or subset) for image, centre in zip(rows["image"], centres)]
    folder = Path(images_dir)
    if not folder.is_dir():
        raise DataError(f"test image folder {folder} does not exist; point submission.<package>.images.folder at the challenge's test images.")
    groups = [folder] + sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    found = [InputImage(path, group.name) for group in groups for path in list_images(group)]
    if not found:
        raise DataError(f"no test images in {folder} or its sub-folders (expected .jpg, .jpeg, .png, .bmp, .tif or .tiff files).")
    return found


def model_config(meta: Mapping[str, Any], threshold: float, mirror: bool = False) -> dict[str, Any]:
    """The settings a 2D ONNX model is run with (``model.json`` of the task-2 container)."""
    return {
        "experiment": meta.get("experiment"),
        "model": meta.get("model"),
        "size": [int(s) for s in meta["size"]],
        "input_range": meta["input_range"],
        "threshold": float(threshold),
        "mirror": bool(mirror),
    }


def load_segmenter(checkpoint: str | Path, onnx: str | Path, threads: int, threshold: float, mirror: bool = False) -> tuple[Segmenter, dict[str, Any]]:
    """The ONNX model of a 2D checkpoint with its preprocessing (and flip averaging with ``mirror``), and the checkpoint's meta."""
    meta = load_checkpoint(checkpoint)["meta"]
    if meta.get("spatial_dims", 2) != 2:
        raise DataError(f"{checkpoint} is a {meta['spatial_dims']}D model; this package needs a 2D (polyp) model. Check submission.<package>.model.")
    return Segmenter(onnxruntime_session(onnx, threads), model_config(meta, threshold, mirror)), meta


def segment_images(segmenter: Segmenter, images: Sequence[InputImage]) -> list[Segmentation]:
    """Masks at each image's resolution with the model-call seconds, after warming the model up."""
    results = []
    for index, image in enumerate(progress(images, desc="segment", unit="image")):
        rgb = read_rgb(image.path)
        if index == 0:
            segmenter.warm_up(rgb)
        mask, seconds = segmenter.predict(rgb)
        results.append(Segmentation(image, mask, seconds))
    return results


def lossless_mask(mask: np.ndarray) -> bytes:
    """A boolean (H, W) mask as single-channel PNG data holding exactly 0 and 255.

    Packages store these bytes under the name the challenge asks for, ``.jpg`` included: decoders read
    images by content (OpenCV, Pillow and scikit-image alike), and evaluators that binarise with ``> 0``
    would count a real JPEG's compression noise around the edges as foreground. The EndoCV2021
    organisers' reference code does the same with TIFF data under ``<stem>_mask.jpg``.
    """
    return encode_mask(mask, "mask.png")


def require_unique(names: Sequence[str], what: str, why: str) -> None:
    """Stop when two test images would write the same mask.

    Raises:
        DataError: naming ``what`` they share (up to five repeated ``names``) and ``why`` it must be unique.
    """
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        raise DataError(f"test images share {what} ({', '.join(repeated[:5])}); {why}")
