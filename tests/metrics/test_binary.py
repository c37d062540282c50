"""Tests of kdseg.metrics.binary: MediaEval 2020 Medico metrics, edge cases, summary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kdseg.metrics import COUNT_NAMES, METRIC_NAMES, confusion_counts, image_metrics, metrics_from_counts, summarise
from kdseg.utils.errors import DataError

GT = np.array([[1, 1, 0, 0], [1, 1, 0, 0]], dtype=np.uint8)
EMPTY = np.zeros((2, 4), dtype=np.uint8)


def scores(tp: int, fp: int, fn: int, tn: int, *metrics: float) -> dict[str, float]:
    """Expected row: the counts, then the metrics in METRIC_NAMES order."""
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn, **dict(zip(METRIC_NAMES, metrics, strict=True))}


TEST_CASES = [
    # (pred, gt, expected: counts, then jaccard, dsc, recall, precision, f2, accuracy)
    # tp 3, fp 1, fn 1, tn 3: Jaccard 3/5, DSC 6/8, R = P = 3/4, F2 = 15/(15 + 4 + 1), accuracy 6/8
    (np.array([[1, 0, 0, 0], [1, 1, 1, 0]]), GT, scores(3, 1, 1, 3, 0.6, 0.75, 0.75, 0.75, 0.75, 0.75)),
    # tp 4, fp 2, fn 0, tn 2: Jaccard 4/6, DSC 8/10, R = 1, P = 4/6, F2 = 20/(20 + 0 + 2), accuracy 6/8
    (np.array([[1, 1, 1, 1], [1, 1, 0, 0]]), GT, scores(4, 2, 0, 2, 2 / 3, 0.8, 1.0, 2 / 3, 10 / 11, 0.75)),
    # both empty: every ratio is 0/0 → 1
    (EMPTY, EMPTY, scores(0, 0, 0, 8, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)),
    # empty GT, 2 predicted pixels: recall 0/0 → 1, precision 0/2, F2 = 0/(0 + 0 + 2), accuracy 6/8
    (np.array([[0, 0, 0, 1], [0, 0, 0, 1]]), EMPTY, scores(0, 2, 0, 6, 0.0, 0.0, 1.0, 0.0, 0.0, 0.75)),
    # empty prediction, 4 GT pixels: precision 0/0 → 1, recall 0/4, F2 = 0/(0 + 16 + 0), accuracy 4/8
    (EMPTY, GT, scores(0, 0, 4, 4, 0.0, 0.0, 0.0, 1.0, 0.0, 0.5)),
    # disjoint, both non-empty: tp 0 → all 0, accuracy 0/8
    (1 - GT, GT, scores(0, 4, 4, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)),
    # 0/255 and bool masks, 3D shape: perfect prediction
    (GT.reshape(2, 2, 2) * 255, GT.reshape(2, 2, 2).astype(bool), scores(4, 0, 0, 4, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)),
]


@pytest.mark.parametrize("pred, gt, expected", TEST_CASES)
def test_image_metrics(pred, gt, expected):
    result = image_metrics(pred, gt)
    assert set(result) == set(COUNT_NAMES) | set(METRIC_NAMES)
    assert result == pytest.approx(expected)


@pytest.mark.parametrize("tp, fp, fn", [(3, 1, 1), (4, 2, 0), (7, 1, 5), (1, 9, 2)])
def test_f2_is_the_f_beta_of_precision_and_recall(tp, fp, fn):
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    f_beta = (1 + 2**2) * precision * recall / (2**2 * precision + recall)
    assert metrics_from_counts(confusion_counts(*_masks_with_counts(tp, fp, fn)))["f2"] == pytest.approx(f_beta)


def _masks_with_counts(tp: int, fp: int, fn: int, tn: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """1D masks with the given confusion counts."""
    pred = np.array([1] * tp + [1] * fp + [0] * fn + [0] * tn)
    gt = np.array([1] * tp + [0] * fp + [1] * fn + [0] * tn)
    return pred, gt


def test_confusion_counts_named_fields():
    counts = confusion_counts(*_masks_with_counts(tp=2, fp=3, fn=4, tn=5))
    assert (counts.tp, counts.fp, counts.fn, counts.tn) == (2, 3, 4, 5)


def test_summarise_means_and_micro():
    # image a: tp 3, fp 1, fn 1, tn 3 (Jaccard 0.6); image b: both empty (all metrics 1), tn 8
    rows = [image_metrics(*TEST_CASES[0][:2]) | {"image": "a"}, image_metrics(EMPTY, EMPTY) | {"image": "b"}]
    summary = summarise(pd.DataFrame(rows))
    # means: Jaccard (0.6 + 1)/2, DSC (0.75 + 1)/2, accuracy (0.75 + 1)/2
    assert summary["jaccard"] == pytest.approx(0.8)
    assert summary["dsc"] == pytest.approx(0.875)
    assert summary["accuracy"] == pytest.approx(0.875)
    # pooled counts tp 3, fp 1, fn 1, tn 11: Jaccard 3/5, DSC 6/8, F2 15/20, accuracy 14/16
    assert summary["micro_jaccard"] == pytest.approx(0.6)
    assert summary["micro_dsc"] == pytest.approx(0.75)
    assert summary["micro_f2"] == pytest.approx(0.75)
    assert summary["micro_accuracy"] == pytest.approx(14 / 16)
    assert summary["n_images"] == 2
    assert set(summary) == {*METRIC_NAMES, *(f"micro_{m}" for m in METRIC_NAMES), "n_images"}


ILL_ARG_CASES = [
    (image_metrics, (np.zeros((2, 3)), np.zeros((3, 2))), r"prediction shape \(2, 3\) differs from ground-truth shape \(3, 2\)"),
    (image_metrics, (np.array([0.2, 0.9]), np.array([0, 1])), "prediction mask holds values strictly between 0 and 1.*threshold it"),
    (confusion_counts, (np.array([0, 1]), np.array([0.0, 0.5])), "ground-truth mask holds values strictly between 0 and 1"),
    (summarise, (pd.DataFrame({"jaccard": [1.0]}),), r"lacks columns \['tp', 'fp', 'fn', 'tn', 'dsc'"),
    (summarise, (pd.DataFrame(columns=[*COUNT_NAMES, *METRIC_NAMES]),), "has no rows; there is nothing to summarise"),
]


@pytest.mark.parametrize("function, args, message", ILL_ARG_CASES)
def test_ill_arg(function, args, message):
    with pytest.raises(DataError, match=message):
        function(*args)
