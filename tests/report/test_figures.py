"""Figures: which cases the qualitative figure shows, and that every figure is a PNG with the same bytes
for the same data; the messages for inputs a figure cannot be drawn from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from kdseg.data.images import write_png
from kdseg.data.volumes import write_nifti
from kdseg.report.figures import (
    ExternalSet,
    axial_slice_with_most_tumour,
    case_scores,
    experiment_curves,
    fps_chart,
    metric_bars,
    pick_cases,
    qualitative_overlays,
)
from kdseg.utils.errors import DataError

PNG = b"\x89PNG\r\n\x1a\n"


def _draw_twice(draw, path: Path) -> bytes:
    draw(path)
    first = path.read_bytes()
    draw(path)
    assert path.read_bytes() == first, "same data, different bytes"
    assert first.startswith(PNG)
    return first


# ----------------------------------------------------------------------------------------- case choice
PICK_CASES = [
    ({"a": 0.9, "b": 0.5, "c": 0.1, "d": np.nan, "e": 0.5}, 3, [("best", "a"), ("median", "b"), ("worst", "c")]),
    ({"a": 0.9, "b": 0.2}, 3, [("best", "a"), ("worst", "b")]),
    ({"x": 0.3}, 3, [("best", "x")]),
    ({"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.4, "e": 0.5}, 2, [("best", "e"), ("worst", "a")]),
]


@pytest.mark.parametrize(("scores", "count", "expected"), PICK_CASES)
def test_pick_cases_best_median_worst(scores, count, expected):
    assert pick_cases(pd.Series(scores), count) == expected


def test_pick_cases_needs_a_defined_score():
    with pytest.raises(DataError, match="no case has a defined score"):
        pick_cases(pd.Series({"a": np.nan}))


def test_case_scores_2d_and_3d():
    flat = pd.DataFrame({"id": ["a", "b"], "dsc": [0.5, 0.25], "jaccard": [0.3, 0.1]})
    assert case_scores(flat).to_dict() == {"a": 0.5, "b": 0.25}
    volume = pd.DataFrame({"id": ["a"], "dice_WT": [0.9], "dice_TC": [0.6], "dice_ET": [np.nan], "hd95_WT": [3.0]})
    assert case_scores(volume).to_dict() == {"a": 0.75}  # mean of the defined regions
    with pytest.raises(DataError, match="needs a dsc column .* it has id, recall"):
        case_scores(pd.DataFrame({"id": ["a"], "recall": [1.0]}))


def test_axial_slice_with_most_tumour():
    regions = np.zeros((3, 4, 4, 5), dtype=bool)
    regions[0, :2, :2, 1] = True  # 4 voxels
    regions[0, :3, :3, 3] = True  # 9 voxels
    regions[1, :, :, 4] = True  # core only counts through the whole tumour
    assert axial_slice_with_most_tumour(regions) == 3
    assert axial_slice_with_most_tumour(np.zeros((3, 2, 2, 3), dtype=bool)) == 0


# ----------------------------------------------------------------------------------------- qualitative
def _polyp_case(root: Path, case: str, size: tuple[int, int], truth_box: tuple[slice, slice], boxes: dict[str, tuple[slice, slice]]) -> dict[str, str]:
    rgb = np.full((*size, 3), 90, dtype=np.uint8)
    truth = np.zeros(size, dtype=np.uint8)
    truth[truth_box] = 255
    write_png(root / "images" / f"{case}.png", rgb)
    write_png(root / "masks" / f"{case}.png", truth)
    for model, box in boxes.items():
        pred = np.zeros(size, dtype=np.uint8)
        pred[box] = 255
        write_png(root / "predictions" / model / f"{case}.png", pred)
    return {"id": case, "image": str(root / "images" / f"{case}.png"), "mask": str(root / "masks" / f"{case}.png"), "group": case}


@pytest.fixture
def polyp_experiment(tmp_path: Path) -> dict[str, Any]:
    box = (slice(4, 12), slice(5, 15))
    rows = [
        _polyp_case(tmp_path, "good", (16, 20), box, {"teacher": box, "student": box}),
        _polyp_case(tmp_path, "fair", (18, 22), box, {"teacher": (slice(4, 8), slice(5, 15)), "student": (slice(4, 10), slice(5, 15))}),
        _polyp_case(tmp_path, "poor", (16, 20), box, {"teacher": (slice(0, 2), slice(0, 2)), "student": (slice(12, 16), slice(0, 4))}),
        _polyp_case(tmp_path, "okay", (16, 24), box, {"teacher": box, "student": (slice(4, 11), slice(5, 15))}),
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "manifest.csv", index=False)
    scores = {"teacher": [1.0, 0.67, 0.0, 1.0], "student": [1.0, 0.86, 0.0, 0.93]}
    for model, dsc in scores.items():
        pd.DataFrame({"id": [r["id"] for r in rows], "dsc": dsc}).to_csv(tmp_path / f"{model}.per_case.csv", index=False)
    return {
        "manifest": tmp_path / "manifest.csv",
        "predictions": {m: tmp_path / "predictions" / m for m in ("teacher", "student")},
        "per_case": {m: tmp_path / f"{m}.per_case.csv" for m in ("teacher", "student")},
    }


def test_qualitative_2d_shows_the_students_best_median_and_worst(tmp_path, polyp_experiment):
    shown = []
    _draw_twice(lambda out: shown.append(qualitative_overlays(**polyp_experiment, out=out, title="kd_resunetpp")), tmp_path / "q.png")
    assert shown[0] == ["good", "okay", "poor"]  # student DSC 1.0, 0.93 (median of 4), 0.0
    qualitative_overlays(**polyp_experiment, out=tmp_path / "t.png", title="t", rank_by="teacher", count=2)
    assert (tmp_path / "t.png").read_bytes() != (tmp_path / "q.png").read_bytes()


def test_qualitative_gains_a_row_per_external_set(tmp_path, polyp_experiment):
    # an external set of three cases scored by both models: the student's median is "mid"
    box = (slice(2, 8), slice(2, 8))
    root = tmp_path / "cvc"
    rows = [
        _polyp_case(root, "hi", (12, 12), box, {"teacher": box, "student": box}),
        _polyp_case(root, "mid", (14, 10), box, {"teacher": box, "student": (slice(2, 6), slice(2, 8))}),
        _polyp_case(root, "lo", (12, 12), box, {"teacher": box, "student": (slice(0, 1), slice(0, 1))}),
    ]
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    for model, dsc in {"teacher": [1.0, 1.0, 1.0], "student": [1.0, 0.8, 0.0]}.items():
        pd.DataFrame({"id": ["hi", "mid", "lo"], "dsc": dsc}).to_csv(root / f"{model}.per_case.csv", index=False)
    external = {"cvc": ExternalSet(root / "manifest.csv", {m: root / "predictions" / m for m in ("teacher", "student")}, {m: root / f"{m}.per_case.csv" for m in ("teacher", "student")})}
    shown = []
    _draw_twice(lambda out: shown.append(qualitative_overlays(**polyp_experiment, out=out, title="t", external=external)), tmp_path / "q.png")
    assert shown[0] == ["good", "okay", "poor", "mid"]
    qualitative_overlays(**polyp_experiment, out=tmp_path / "own.png", title="t")
    with Image.open(tmp_path / "q.png") as with_external, Image.open(tmp_path / "own.png") as own:
        assert with_external.width == own.width and with_external.height > own.height  # one more panel row
    with pytest.raises(DataError, match=r"no prediction folder for student \(None\) on cvc"):
        qualitative_overlays(**polyp_experiment, out=tmp_path / "x.png", title="t", external={"cvc": ExternalSet(root / "manifest.csv", {"teacher": root}, external["cvc"].per_case)})


def test_qualitative_errors(tmp_path, polyp_experiment):
    with pytest.raises(DataError, match="no per-case metrics for student"):
        qualitative_overlays(polyp_experiment["manifest"], polyp_experiment["predictions"], {"teacher": polyp_experiment["per_case"]["teacher"]}, tmp_path / "q.png", title="t")
    other = tmp_path / "other.csv"
    pd.DataFrame({"id": ["zzz"], "dsc": [0.5]}).to_csv(other, index=False)
    with pytest.raises(DataError, match="cases zzz of the per-case table are not in"):
        qualitative_overlays(polyp_experiment["manifest"], {"student": polyp_experiment["predictions"]["student"]}, {"student": other}, tmp_path / "q.png", title="t")
    with pytest.raises(DataError, match=r"no prediction folder for student \(.*nowhere\); run kdseg-evaluate"):
        qualitative_overlays(polyp_experiment["manifest"], {"student": tmp_path / "nowhere"}, {"student": polyp_experiment["per_case"]["student"]}, tmp_path / "q.png", title="t")


def test_qualitative_3d_draws_region_outlines(tmp_path):
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    rows = []
    for case, shift in (("c1", 0), ("c2", 2)):
        labels = np.zeros((10, 10, 6), dtype=np.uint8)
        labels[2:7, 2:7, 2 + shift // 2] = 2
        labels[3:5, 3:5, 2 + shift // 2] = 1
        labels[3, 3, 2 + shift // 2] = 4
        paths = []
        for modality in ("flair", "t1"):
            write_nifti(tmp_path / case / f"{modality}.nii.gz", np.random.default_rng(1).random((10, 10, 6), dtype=np.float32), affine)
            paths.append(str(tmp_path / case / f"{modality}.nii.gz"))
        write_nifti(tmp_path / case / "seg.nii.gz", labels, affine)
        write_nifti(tmp_path / "pred" / f"{case}.nii.gz", labels if case == "c1" else np.zeros_like(labels), affine)
        rows.append({"id": case, "image": ";".join(paths), "modalities": "flair,t1", "mask": str(tmp_path / case / "seg.nii.gz"), "label_convention": "brats", "shape": "10x10x6", "spacing": "2x2x2", "group": case})
    pd.DataFrame(rows).to_csv(tmp_path / "manifest.csv", index=False)
    pd.DataFrame({"id": ["c1", "c2"], "dice_WT": [1.0, 0.0], "dice_TC": [1.0, 0.0], "dice_ET": [1.0, np.nan]}).to_csv(tmp_path / "pc.csv", index=False)
    shown = []
    _draw_twice(lambda out: shown.append(qualitative_overlays(tmp_path / "manifest.csv", {"distilled": tmp_path / "pred"}, {"distilled": tmp_path / "pc.csv"}, out, title="brats")), tmp_path / "q.png")
    assert shown[0] == ["c1", "c2"]


# ----------------------------------------------------------------------------------------- charts
def test_experiment_curves(tmp_path):
    for model, offset in (("teacher", 0.0), ("student", 0.1)):
        pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [1.0, 0.6, 0.4], "val_dice": [0.2 + offset, 0.5, 0.6], "lr": [1e-3, 1e-3, 1e-4]}).to_csv(tmp_path / f"{model}.csv", index=False)
    _draw_twice(lambda out: experiment_curves({m: tmp_path / f"{m}.csv" for m in ("teacher", "student")}, out, title="t"), tmp_path / "c.png")
    pd.DataFrame({"epoch": [1], "loss": [1.0]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError, match="is not a training history: it needs epoch and train_loss columns, it has epoch, loss"):
        experiment_curves({"bad": tmp_path / "bad.csv"}, tmp_path / "c.png", title="t")
    with pytest.raises(DataError, match="no training histories given"):
        experiment_curves({}, tmp_path / "c.png", title="t")


def _metrics(model: str, values: dict[str, float]) -> dict[str, Any]:
    return {"model": model, "parameters": 2_000_000, "subset": "val", "cases": 4, "metrics": values}


def test_metric_bars_with_paper_markers(tmp_path):
    flat = {m: 0.5 for m in ("jaccard", "dsc", "recall", "precision", "f2", "accuracy")}
    reported = pd.DataFrame({"paper": ["000"], "table": ["Table 1"], "model": ["student"], "metric": ["dsc"], "paper_value": [0.831]})
    with_markers = _draw_twice(lambda out: metric_bars({"teacher": _metrics("teacher", flat), "student": _metrics("student", flat)}, out, title="t", reported=reported), tmp_path / "m.png")
    metric_bars({"teacher": _metrics("teacher", flat), "student": _metrics("student", flat)}, tmp_path / "plain.png", title="t")
    assert with_markers != (tmp_path / "plain.png").read_bytes()
    volume = {f"{m}_{r}": 0.5 for m in ("dice", "hd95") for r in ("WT", "TC", "ET", "mean")}
    _draw_twice(lambda out: metric_bars({"distilled": _metrics("distilled", volume)}, out, title="t"), tmp_path / "v.png")
    with pytest.raises(DataError, match="no metrics JSONs given"):
        metric_bars({}, tmp_path / "m.png", title="t")


def test_fps_chart(tmp_path):
    bench = {
        "model": "student",
        "size": [64, 64],
        "environment": {"device_name": "Test CPU", "threads": 2},
        "runtimes": {
            "pytorch_eager_fp32": {"status": "ok", "model_call": {"fps": 50.0, "mean_ms": 20.0}},
            "onnxruntime": {"status": "ok", "model_call": {"fps": 120.0, "mean_ms": 8.3}},
            "tensorrt_fp16": {"status": "skipped", "reason": "no GPU"},
        },
    }
    reported = pd.DataFrame({"paper": ["000"], "table": ["Table 3"], "model": ["student"], "metric": ["fps"], "paper_value": [107.8797]})
    _draw_twice(lambda out: fps_chart({"student": bench}, out, title="t", reported=reported), tmp_path / "f.png")
    skipped = {**bench, "runtimes": {"tensorrt_fp16": {"status": "skipped", "reason": "no GPU"}}}
    with pytest.raises(DataError, match="every runtime of the benchmarks was skipped"):
        fps_chart({"student": skipped}, tmp_path / "f.png", title="t")
    with pytest.raises(DataError, match="no benchmark JSONs given"):
        fps_chart({}, tmp_path / "f.png", title="t")
