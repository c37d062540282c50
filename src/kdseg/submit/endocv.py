"""EndoCV2021/2022 polyp segmentation package.

Ali et al., EndoCV2021 (https://endocv2021.grand-challenge.org) and EndoCV2022
(https://endocv2022.grand-challenge.org): one mask ``<image-stem>_mask.jpg`` per test image at its
resolution, 0/255, in one folder per test subset, and a timing file.

Layout of the zip::

    <subset>/<stem>_mask.jpg     one per test image
    timing.txt                   "<subset>/<stem>_mask.jpg - <seconds>" per image (model call, after
                                 warm-up), then "Mean FPS: <images / total seconds>"

Test subsets are the challenge's sub-folders when the images come from a folder, and PolypGen's centres
(or the split subset's name) when they come from a split (see :mod:`kdseg.submit.common`). The official
evaluator binarises masks with ``> 0``; masks are single-channel JPEGs at quality 100, whose decoded values
stay within one level of 0 and 255 (so ``> 127`` gives the prediction exactly, which the validator checks)
— but a ring of pixels at value 1 can follow the mask's edges. Every byte of the zip is reproducible except
the measured seconds of ``timing.txt``.

Example:
    >>> package_endocv("model.pt", "model.onnx", "endocv2022.zip", images_dir="EndoCV2022_test/", threads=2)
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kdseg.submit.common import input_images, load_segmenter, require_unique, segment_images
from kdseg.submit.task2_entrypoint import encode_mask, format_timing
from kdseg.submit.validate import TIMING_FILE, validate_endocv
from kdseg.utils.io import write_bytes, zip_bytes

__all__ = ["mask_name", "package_endocv"]

log = logging.getLogger(__name__)


def mask_name(subset: str, image: str | Path) -> str:
    """Path of an image's mask in the zip: ``<subset>/<stem>_mask.jpg``."""
    return f"{subset}/{Path(image).stem}_mask.jpg"


def package_endocv(
    checkpoint: str | Path,
    onnx: str | Path,
    out: str | Path,
    *,
    manifest: str | Path | None = None,
    split: str | Path | None = None,
    subset: str | None = None,
    images_dir: str | Path | None = None,
    threads: int = 1,
    threshold: float = 0.5,
) -> dict[str, Any]:
    """Write the EndoCV zip, validated first.

    Args:
        checkpoint: ``model.pt`` of the 2D model (for its input size, input range and name).
        onnx: the model's ``.onnx`` file (what predicts the masks).
        out: the zip to write.
        manifest: manifest CSV, with ``split`` and ``subset``, when the test images are a split's subset. Defaults to None.
        split: split CSV. Defaults to None.
        subset: subset of the split. Defaults to None.
        images_dir: a folder of test images (sub-folders are test subsets) instead. Defaults to None.
        threads: ONNX Runtime threads. Defaults to 1.
        threshold: probability threshold; changes results. Defaults to 0.5.

    Returns:
        a summary: images per test subset, the model-call mean FPS, the written path.

    Raises:
        DataError: unusable inputs; :class:`~kdseg.submit.validate.SubmissionError` if the package breaks a rule.
    """
    images = input_images(manifest=manifest, split=split, subset=subset, images_dir=images_dir)
    require_unique(
        [mask_name(image.subset, image.path) for image in images],
        "a file stem",
        "EndoCV names each mask <subset>/<stem>_mask.jpg, so stems must be unique within a subset.",
    )
    segmenter, _ = load_segmenter(checkpoint, onnx, threads, threshold)
    results = segment_images(segmenter, images)
    masks = {mask_name(r.image.subset, r.image.path): r for r in results}
    members = {name: encode_mask(r.mask, name) for name, r in masks.items()}
    members[TIMING_FILE] = format_timing((name, r.seconds) for name, r in masks.items()).encode("utf-8")
    archive = zip_bytes(members)
    validate_endocv(archive, {name: r.mask.shape for name, r in masks.items()}, {name: r.mask for name, r in masks.items()})
    write_bytes(out, archive)
    subsets = sorted({image.subset for image in images})
    per_subset = {s: sum(image.subset == s for image in images) for s in subsets}
    log.info("wrote %s: %s", out, ", ".join(f"{s} ({n} masks)" for s, n in per_subset.items()))
    return {"images": per_subset, "mean_fps": len(results) / max(sum(r.seconds for r in results), 1e-12), "out": str(out)}
