"""Binary-mask metrics of the MediaEval 2020 Medico task: Jaccard, DSC, recall, precision, F2, accuracy.

The Medico 2020 overview (Jha et al., https://ceur-ws.org/Vol-2882/paper1.pdf) ranks task 1 by the
Jaccard index and also reports DSC, recall, precision, F2 and overall accuracy, each computed per image
and averaged over the test set. From the confusion counts of one image (TP, FP, FN, TN):

- Jaccard = TP / (TP + FP + FN)
- DSC = 2·TP / (2·TP + FP + FN)
- recall = TP / (TP + FN), precision = TP / (TP + FP)
- F2 = 5·TP / (5·TP + 4·FN + FP), i.e. (1 + 2²)·P·R / (2²·P + R)
- accuracy = (TP + TN) / (TP + FP + FN + TN)

Edge cases: a ratio whose denominator is 0 is 0/0 and is set to 1. This is the limit of the ε-smoothed
formulas ``(x + ε) / (y + ε)``, ε = 1e-15, of the Medico organisers' public polyp-segmentation code
(e.g. ``metrics.py`` of github.com/DebeshJha/TransNetR; the official task-1 evaluator itself is not
public), so the scores match theirs. F2 is computed from the counts, which equals their P/R form:

==========================  =======  ===  ======  =========  ==
case                        Jaccard  DSC  recall  precision  F2
==========================  =======  ===  ======  =========  ==
prediction and GT empty     1        1    1       1          1
GT empty, prediction not    0        0    1       0          0
prediction empty, GT not    0        0    0       1          0
==========================  =======  ===  ======  =========  ==

Micro (pooled) scores, prefixed ``micro_``, apply the same formulas to counts summed over all images.

Example:
    >>> rows = [image_metrics(pred, gt) | {"image": name} for name, pred, gt in cases]
    >>> summary = summarise(pd.DataFrame(rows))
    >>> summary["jaccard"], summary["micro_jaccard"]
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from kdseg.utils.errors import DataError

__all__ = [
    "COUNT_NAMES",
    "METRIC_NAMES",
    "ConfusionCounts",
    "confusion_counts",
    "image_metrics",
    "metrics_from_counts",
    "summarise",
]

METRIC_NAMES = ("jaccard", "dsc", "recall", "precision", "f2", "accuracy")
COUNT_NAMES = ("tp", "fp", "fn", "tn")


class ConfusionCounts(NamedTuple):
    """Pixel (or voxel) counts of a binary prediction against its ground truth."""

    tp: int
    fp: int
    fn: int
    tn: int


def _ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator`` with 0/0 = 1 (see the module docstring)."""
    return 1.0 if denominator == 0 else numerator / denominator


def _as_mask(mask: np.ndarray, what: str) -> np.ndarray:
    """A boolean view of a binary mask: any non-zero value is foreground (0/1 and 0/255 masks both work)."""
    array = np.asarray(mask)
    if array.dtype == bool:
        return array
    if np.issubdtype(array.dtype, np.floating) and np.any((array > 0) & (array < 1)):
        raise DataError(
            f"the {what} mask holds values strictly between 0 and 1, which looks like probabilities; "
            "threshold it first (e.g. probabilities > 0.5) and pass the binary mask"
        )
    return array != 0


def confusion_counts(pred: np.ndarray, gt: np.ndarray) -> ConfusionCounts:
    """Confusion counts of a binary prediction against its ground truth, masks of any equal shape.

    Raises:
        DataError: when the shapes differ or a mask looks like probabilities.
    """
    pred_mask, gt_mask = _as_mask(pred, "prediction"), _as_mask(gt, "ground-truth")
    if pred_mask.shape != gt_mask.shape:
        raise DataError(
            f"prediction shape {pred_mask.shape} differs from ground-truth shape {gt_mask.shape}; "
            "predictions must have the image's resolution"
        )
    tp = int(np.count_nonzero(pred_mask & gt_mask))
    fp = int(np.count_nonzero(pred_mask & ~gt_mask))
    fn = int(np.count_nonzero(~pred_mask & gt_mask))
    return ConfusionCounts(tp=tp, fp=fp, fn=fn, tn=int(pred_mask.size) - tp - fp - fn)


def metrics_from_counts(counts: ConfusionCounts) -> dict[str, float]:
    """Jaccard, DSC, recall, precision, F2 and accuracy from confusion counts (0/0 = 1)."""
    tp, fp, fn, tn = counts
    return {
        "jaccard": _ratio(tp, tp + fp + fn),
        "dsc": _ratio(2 * tp, 2 * tp + fp + fn),
        "recall": _ratio(tp, tp + fn),
        "precision": _ratio(tp, tp + fp),
        "f2": _ratio(5 * tp, 5 * tp + 4 * fn + fp),
        "accuracy": _ratio(tp + tn, tp + fp + fn + tn),
    }


def image_metrics(pred: np.ndarray, gt: np.ndarray) -> dict[str, float | int]:
    """Confusion counts (``tp``, ``fp``, ``fn``, ``tn``) and the Medico metrics of one image.

    Raises:
        DataError: as :func:`confusion_counts`.
    """
    counts = confusion_counts(pred, gt)
    return {**counts._asdict(), **metrics_from_counts(counts)}


def summarise(per_image: pd.DataFrame) -> dict[str, float | int]:
    """Mean of each metric over images, the ``micro_`` metrics of the pooled counts, and ``n_images``.

    Args:
        per_image: one row per image with the columns :func:`image_metrics` returns (other columns,
            such as the image name, are ignored).

    Raises:
        DataError: when the table is empty or lacks a count or metric column.
    """
    missing = [c for c in (*COUNT_NAMES, *METRIC_NAMES) if c not in per_image.columns]
    if missing:
        raise DataError(
            f"per-image metrics table lacks columns {missing}; build its rows with kdseg.metrics.image_metrics"
        )
    if per_image.empty:
        raise DataError("per-image metrics table has no rows; there is nothing to summarise")
    pooled = ConfusionCounts(*(int(per_image[c].sum()) for c in COUNT_NAMES))
    summary: dict[str, float | int] = {name: float(per_image[name].mean()) for name in METRIC_NAMES}
    summary.update({f"micro_{name}": value for name, value in metrics_from_counts(pooled).items()})
    summary["n_images"] = len(per_image)
    return summary
