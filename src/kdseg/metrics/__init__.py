"""Evaluation metrics: binary-mask metrics of MediaEval 2020 Medico, BraTS region Dice and HD95.

Example:
    >>> image_metrics(pred_mask, gt_mask)["jaccard"]
    >>> case_metrics(pred_regions, gt_regions, spacing=(1.0, 1.0, 1.0))["hd95_ET"]
"""

from __future__ import annotations

from kdseg.metrics.binary import (
    COUNT_NAMES,
    METRIC_NAMES,
    ConfusionCounts,
    confusion_counts,
    image_metrics,
    metrics_from_counts,
    summarise,
)
from kdseg.metrics.volumetric import case_metrics, hd95, region_dice

__all__ = [
    "COUNT_NAMES",
    "METRIC_NAMES",
    "ConfusionCounts",
    "case_metrics",
    "confusion_counts",
    "hd95",
    "image_metrics",
    "metrics_from_counts",
    "region_dice",
    "summarise",
]
