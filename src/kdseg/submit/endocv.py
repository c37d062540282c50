"""EndoCV2021/2022 polyp segmentation package, in the layout the organisers' own tools write and read.

Ali et al., EndoCV2021 (https://endocv2021.grand-challenge.org) and EndoCV2022
(https://endocv2022.grand-challenge.org). The organisers' reference inference code
(github.com/sharib-vision/EndoCV2021-polyp_det_seg_gen, ``inferenceCodes/endocv2021_inference-seg.py``)
writes one folder per test subset; their evaluator ``compute_seg.py`` reads ``<dir>/semantic_masks/*.jpg``,
finds each mask's ground truth by cutting its name at the first ``.`` and then the first ``_``, and
binarises with ``> 0``.

Layout of the zip::

    README.txt                                             how to score each subset with compute_seg.py
    EndoCV2021/segmentation/<subset>_pred/<stem>_mask.jpg  one per test image, at its resolution
    EndoCV2021/segmentation/<subset>_pred/timeElaspsed<subset>.txt
                                                           "<stem> -----> <ms> " per image (model call,
                                                           after warm-up), then "average_t -----> <mean ms> "

Masks hold exactly 0 and 255 as PNG data under the ``.jpg`` name (see
:func:`kdseg.submit.common.lossless_mask`), so ``> 0`` and ``> 127`` both read the prediction. Test
subsets are the challenge's sub-folders when the images come from a folder, and PolypGen's centres (or
the split subset's name) when they come from a split (see :mod:`kdseg.submit.common`). Every byte of the
zip is reproducible except the measured times.

Example:
    >>> package_endocv("model.pt", "model.onnx", "endocv2022.zip", images_dir="EndoCV2022_test/", threads=2)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kdseg.submit.common import Segmentation, input_images, load_segmenter, lossless_mask, require_unique, segment_images
from kdseg.submit.validate import ENDOCV_README, ENDOCV_ROOT, endocv_mask_name, endocv_timing_name, validate_endocv
from kdseg.utils.io import write_bytes, zip_bytes

__all__ = ["endocv_timing_text", "package_endocv"]

log = logging.getLogger(__name__)


def endocv_timing_text(milliseconds: Sequence[tuple[str, float]]) -> str:
    """A subset's timing file as the reference code writes it (``'%s -----> %s \\n'``): one line per image
    stem with its model-call milliseconds, then ``average_t`` with their mean."""
    lines = [f"{stem} -----> {float(ms)!r} \n" for stem, ms in milliseconds]
    return "".join(lines) + f"average_t -----> {float(np.mean([ms for _, ms in milliseconds]))!r} \n"


def _readme(model: str, counts: Mapping[str, int]) -> str:
    commands = "\n".join(
        f"    mkdir -p eval/{s}/semantic_masks && cp {ENDOCV_ROOT}/{s}_pred/*_mask.jpg eval/{s}/semantic_masks/\n"
        f"    python compute_seg.py --GT_maskDIR <ground truth of {s}> --Eval_maskDIR eval/{s} --testType {s}"
        for s in counts
    )
    listed = ", ".join(f"{s} ({n} masks)" for s, n in counts.items())
    return f"""EndoCV2021/2022 polyp segmentation: {model}, written by kdseg-package endocv2022.

{ENDOCV_ROOT}/<subset>_pred/<stem>_mask.jpg    one mask per test image, at the image's resolution
{ENDOCV_ROOT}/<subset>_pred/timeElaspsed<subset>.txt
    "<stem> -----> <ms>" per image (the model call only, after warm-up), then "average_t -----> <mean ms>"

Subsets: {listed}.
The masks are PNG data holding exactly 0 and 255 under the .jpg names (OpenCV and Pillow decode by content),
so compute_seg.py's "> 0" reads the prediction exactly.

compute_seg.py reads <Eval_maskDIR>/semantic_masks/*.jpg and scores <stem>_mask.jpg against
<GT_maskDIR>/<stem cut at its first '_'>.jpg. To score each subset:

{commands}
"""


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
    mirror: bool = False,
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
        mirror: average each image's prediction with its three flips (one model call of a batch of four);
            changes results. Defaults to False.

    Returns:
        a summary: images per test subset, the model-call mean FPS, the written path.

    Raises:
        DataError: unusable inputs; :class:`~kdseg.submit.validate.SubmissionError` if the package breaks a rule.
    """
    images = input_images(manifest=manifest, split=split, subset=subset, images_dir=images_dir)
    require_unique(
        [endocv_mask_name(image.subset, image.path) for image in images],
        "a file stem",
        "EndoCV names each mask <subset>_pred/<stem>_mask.jpg, so stems must be unique within a subset.",
    )
    segmenter, meta = load_segmenter(checkpoint, onnx, threads, threshold, mirror)
    results = segment_images(segmenter, images)
    masks = {endocv_mask_name(r.image.subset, r.image.path): r for r in results}
    by_subset: dict[str, list[Segmentation]] = {}
    for r in results:
        by_subset.setdefault(r.image.subset, []).append(r)
    members = {name: lossless_mask(r.mask) for name, r in masks.items()}
    for name, group in by_subset.items():
        members[endocv_timing_name(name)] = endocv_timing_text([(r.image.path.stem, r.seconds * 1000.0) for r in group]).encode("utf-8")
    counts = {name: len(group) for name, group in sorted(by_subset.items())}
    members[ENDOCV_README] = _readme(str(meta.get("model") or Path(checkpoint).parent.name), counts).encode("utf-8")
    archive = zip_bytes(members)
    validate_endocv(archive, {name: r.mask.shape for name, r in masks.items()}, {name: r.mask for name, r in masks.items()})
    write_bytes(out, archive)
    log.info("wrote %s: %s", out, ", ".join(f"{s} ({n} masks)" for s, n in counts.items()))
    return {"images": counts, "mean_fps": len(results) / max(sum(r.seconds for r in results), 1e-12), "out": str(out)}
