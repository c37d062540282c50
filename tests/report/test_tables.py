"""Paper tables: the shipped numbers match the papers and the workflow, ours sit beside them in our units,
and every missing number says why."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from kdseg.data.volumes import REGIONS
from kdseg.metrics.binary import METRIC_NAMES
from kdseg.report.entrypoints import tables_entry
from kdseg.report.tables import (
    BENCH_METRICS,
    COLUMNS,
    REPORTED_PATH,
    build_paper_tables,
    compare_with_paper,
    fastest_runtime,
    format_value,
    generalisation_table,
    load_reported,
    reported_cells,
    wide_table,
)
from kdseg.utils.errors import ConfigError, DataError
from kdseg.utils.io import read_json, write_json

ROOT = Path(__file__).resolve().parents[2]
PAPERS_DIR = ROOT.parent / "shared" / "papers"
METRICS_3D = {f"{m}_{r}" for m in ("dice", "hd95") for r in (*REGIONS, "mean")}


def _metrics_json(
    path: Path, model: str, metrics: dict[str, float], experiment: str = "kd_resunetpp", parameters: int = 1000, dataset: str | None = None, subset: str = "val", cases: int = 12
) -> Path:
    write_json(path, {"experiment": experiment, "model": model, "arch": "resunetpp", "parameters": parameters, "dataset": dataset, "subset": subset, "cases": cases, "threshold": 0.5, "metrics": metrics})
    return path


def _bench_json(path: Path, model: str, runtimes: dict[str, Any], experiment: str = "kd_resunetpp") -> Path:
    write_json(path, {"experiment": experiment, "model": model, "environment": {"device_name": "Test CPU", "threads": 2}, "runtimes": runtimes})
    return path


def _ok(fps: float, mean_ms: float) -> dict[str, Any]:
    return {"status": "ok", "label": "x", "model_call": {"fps": fps, "mean_ms": mean_ms}}


@pytest.fixture
def kd_artifacts(tmp_path: Path) -> dict[str, list[Path]]:
    teacher = _metrics_json(tmp_path / "resunetpp.json", "resunetpp", {"jaccard": 0.70, "dsc": 0.80, "recall": 0.9, "precision": 0.85})
    student = _metrics_json(tmp_path / "kd_resunetpp.json", "kd_resunetpp", {"jaccard": 0.75, "dsc": 0.85, "recall": 0.8, "precision": 0.95})
    bench = _bench_json(tmp_path / "bench.json", "kd_resunetpp", {
        "pytorch_eager_fp32": _ok(50.0, 20.0),
        "onnxruntime": _ok(125.0, 8.0),
        "tensorrt_fp16": {"status": "skipped", "reason": "no TensorRT"},
    })
    return {"metrics": [teacher, student], "bench": [bench]}


def _cell(frame: pd.DataFrame, table: str, row: str, column: str) -> pd.Series:
    match = frame[(frame["table"] == table) & (frame["row"] == row) & (frame["column"] == column)]
    assert len(match) == 1, (table, row, column)
    return match.iloc[0]


# ----------------------------------------------------------------------------------------- the shipped numbers
def test_shipped_numbers_cover_the_five_papers():
    papers = load_reported()
    assert sorted(papers) == ["000", "001", "002", "003", "004"]
    counts = {paper: len(reported_cells(papers, paper)) for paper in papers}
    # 000: 8 + 4 + 2; 001: 8 rows x 3 + 2 in the text; 002: 2 x 3; 003: 10 + 4 x 2 + 7 x 8; 004: 5 x 3
    assert counts == {"000": 14, "001": 26, "002": 6, "003": 74, "004": 15}


@pytest.mark.skipif(not PAPERS_DIR.is_dir(), reason=f"the papers' text ({PAPERS_DIR}) is not here")
def test_every_shipped_number_is_printed_in_its_paper():
    papers = load_reported()
    for paper in papers:
        cells = reported_cells(papers, paper)
        text = (PAPERS_DIR / cells["file"].iloc[0]).read_text(encoding="utf-8")
        for cell in cells.itertuples():
            printed = {str(cell.printed), f"{cell.printed:,}"} if isinstance(cell.printed, int) else {repr(cell.printed)}
            assert any(p in text for p in printed), f"paper {paper} {cell.table}, {cell.row} / {cell.column}: {cell.printed} not in {cell.file}"


def test_shipped_mapping_names_models_and_metrics_the_workflow_has():
    config = yaml.safe_load((ROOT / "workflow_config.yaml").read_text(encoding="utf-8"))
    papers = load_reported()
    for paper, entry in papers.items():
        experiment = config["experiments"][entry["experiment"]]
        assert experiment["paper"] == paper
        volumetric = experiment["dataset"] in ("brats", "msd_brats")
        known = {"parameters", *BENCH_METRICS} | (METRICS_3D if volumetric else set(METRIC_NAMES))
        cells = reported_cells(papers, paper)
        mapped = cells[cells["model"] != ""]
        scored = set(experiment["models"]) | ({"ensemble"} if experiment["evaluate"].get("ensemble") else set())
        assert set(mapped["model"]) <= scored, paper
        assert set(mapped["metric"]) <= known, paper
        benchmarked = set(mapped.loc[mapped["metric"].isin(BENCH_METRICS), "model"])
        assert benchmarked <= set(experiment["benchmark"]["models"]), paper


# ----------------------------------------------------------------------------------------- comparison
def test_ours_beside_the_paper_in_our_units(tmp_path, kd_artifacts):
    frame = build_paper_tables("kd_resunetpp", "000", metrics=kd_artifacts["metrics"], bench=kd_artifacts["bench"], preset="demo", out_csv=tmp_path / "t.csv")
    assert list(frame.columns) == COLUMNS
    dsc = _cell(frame, "Table 1", "KD-ResUNet++", "DSC")
    assert (dsc["model"], dsc["metric"], dsc["status"], dsc["note"]) == ("kd_resunetpp", "dsc", "ok", "val subset, 12 cases")
    assert (dsc["our_value"], dsc["paper_value"]) == (0.85, 0.831)
    assert dsc["difference"] == pytest.approx(0.85 - 0.831)
    teacher = _cell(frame, "Table 1", "ResUNet++", "Precision")
    assert teacher["difference"] == pytest.approx(0.85 - 0.8892)
    # FPS of the fastest runtime that ran; the paper's 0.0093 s is 9.3 ms
    fps = _cell(frame, "Table 3", "KD-ResUNet++", "FPS")
    assert (fps["our_value"], fps["paper_value"], fps["note"]) == (125.0, 107.8797, "onnxruntime on Test CPU (2 threads)")
    mean_time = _cell(frame, "Table 3", "KD-ResUNet++", "Mean time taken")
    assert (mean_time["printed"], mean_time["printed_unit"], mean_time["unit"], mean_time["our_value"]) == (0.0093, "seconds", "ms", 8.0)
    assert mean_time["paper_value"] == pytest.approx(9.3)
    written = pd.read_csv(tmp_path / "t.csv", dtype={"paper": str})
    assert len(written) == 14 and written.loc[written["column"].eq("FPS"), "our_value"].item() == 125.0


def test_fps_from_the_gpu_benchmarks_when_present(tmp_path, kd_artifacts):
    h200 = tmp_path / "reports" / "h200"
    gpu = _bench_json(h200 / "kd_resunetpp.bench.json", "kd_resunetpp", {"pytorch_eager_fp32": _ok(180.0, 5.5), "pytorch_cuda_graph_fp16": _ok(1500.0, 0.6)})
    gpu_env = {"device": "cuda", "device_name": "NVIDIA H200", "cuda": "13.0", "threads": 16}
    write_json(gpu, read_json(gpu) | {"environment": gpu_env})
    other = _bench_json(h200 / "attunet.bench.json", "attunet", {"pytorch_eager_fp32": _ok(900.0, 1.1)}, experiment="attunet_transfer")
    tables_entry([
        "--experiment", "kd_resunetpp", "--paper", "000", "--preset", "demo", "--out-csv", str(tmp_path / "t.csv"),
        *[arg for path in kd_artifacts["metrics"] for arg in ("--metrics", str(path))], "--bench", str(kd_artifacts["bench"][0]),
        "--gpu-bench", str(gpu), "--gpu-bench", str(other),  # the other experiment's JSON is left out
    ])
    frame = pd.read_csv(tmp_path / "t.csv", dtype={"paper": str})
    fps = _cell(frame, "Table 3", "KD-ResUNet++", "FPS")
    assert (fps["our_value"], fps["note"]) == (1500.0, "pytorch_cuda_graph_fp16 on NVIDIA H200, CUDA 13.0")
    assert _cell(frame, "Table 3", "KD-ResUNet++", "Mean time taken")["our_value"] == 0.6
    assert _cell(frame, "Table 1", "KD-ResUNet++", "DSC")["our_value"] == 0.85  # the metrics stay the preset's
    without = build_paper_tables("kd_resunetpp", "000", metrics=kd_artifacts["metrics"], bench=kd_artifacts["bench"], preset="demo", out_csv=tmp_path / "u.csv")
    assert _cell(without, "Table 3", "KD-ResUNet++", "FPS")["our_value"] == 125.0


def test_percentages_become_fractions(tmp_path):
    metrics = _metrics_json(tmp_path / "attunet.json", "attunet", {"dsc": 0.7, "jaccard": 0.6}, experiment="attunet_transfer")
    frame = build_paper_tables("attunet_transfer", "002", metrics=[metrics], preset="demo", out_csv=tmp_path / "t.csv")
    dice = _cell(frame, "Table 1", "AttUNet(ours)", "Mean Dice")
    assert (dice["printed"], dice["printed_unit"], dice["paper_value"]) == (72.8, "percent", 0.728)
    assert dice["difference"] == pytest.approx(0.7 - 0.728)
    assert _cell(frame, "Table 1", "AttUNet(ours)", "FPS")["status"] == "not benchmarked in preset demo"
    pranet = _cell(frame, "Table 1", "Pranet", "Mean Dice")
    assert (pranet["status"], pranet["note"]) == ("not reproduced", "the paper's comparison method, quoted from its authors; not trained here")
    assert math.isnan(pranet["our_value"]) and math.isnan(pranet["difference"])


def test_missing_models_say_why(tmp_path):
    papers = load_reported()
    nan_hd95 = {"experiment": "dsd", "model": "dynunet_dsd", "parameters": 5, "subset": "test", "cases": 2, "metrics": {**{k: 0.5 for k in METRICS_3D}, "hd95_WT": float("nan")}}
    frame = compare_with_paper(reported_cells(papers, "003"), {"dynunet_dsd": nan_hd95}, {}, "demo", {("Table 1", "nnU-Net"): "only two settings"})
    assert _cell(frame, "Table 1", "UNETR", "DSD")["status"] == "not run in preset demo"
    assert _cell(frame, "Table 1", "nnU-Net", "DS")[["status", "note"]].tolist() == ["not reproduced", "only two settings"]
    assert _cell(frame, "Table 1", "nnU-Net", "DSD")["our_value"] == 0.5
    undefined = _cell(frame, "Table 3", "nnU-Net with DSD", "WT / HD95")
    assert undefined["status"] == "undefined in our run" and undefined["unit"] == "mm"
    assert _cell(frame, "Table 3", "nnU-Net with DSD", "WT / Dice")["difference"] == pytest.approx(0.5 - 0.785)


def test_external_columns_come_from_the_external_evaluation(tmp_path):
    """Paper 001's Kvasir rows (trained on PolypGen, tested on all of Kvasir-SEG) take the external metrics."""
    own = [_metrics_json(tmp_path / f"{m}.json", m, {"dsc": 0.9, "jaccard": 0.85}, experiment="xpnet", dataset="polypgen") for m in ("unet_epsa", "xpnet")]
    kvasir = [
        _metrics_json(tmp_path / f"kvasir_{m}.json", m, {"dsc": dsc, "jaccard": dsc - 0.1}, experiment="xpnet", dataset="kvasir_seg", subset="all", cases=1000)
        for m, dsc in (("unet_epsa", 0.8), ("xpnet", 0.75))
    ]
    outputs = {kind: tmp_path / f"t.{kind}" for kind in ("csv", "md")}
    frame = build_paper_tables("xpnet", "001", metrics=own, external=kvasir, preset="paper", **{f"out_{k}": p for k, p in outputs.items()})
    student = _cell(frame, "Table 1", "Kvasir / Student", "Dice score")
    assert (student["dataset"], student["our_value"], student["status"], student["note"]) == ("kvasir_seg", 0.75, "ok", "external test set kvasir_seg, all 1000 cases")
    assert student["difference"] == pytest.approx(0.75 - 0.783)
    assert _cell(frame, "Table 1", "EndoCV / Student", "Dice score")["our_value"] == 0.9
    assert _cell(frame, "Table 1", "Kvasir / Teach. 2", "IoU score")["status"] == "not tested on kvasir_seg in preset paper"
    markdown = outputs["md"].read_text(encoding="utf-8")
    assert "| Model | polypgen (val, 12 cases) DSC | polypgen (val, 12 cases) IoU | kvasir_seg (external, 1000 cases) DSC | kvasir_seg (external, 1000 cases) IoU |" in markdown
    assert "| xpnet | 0.9000 | 0.8500 | 0.7500 | 0.6500 |" in markdown


def test_generalisation_table_is_for_2d_experiments_only():
    volumetric = {"m": {"model": "m", "dataset": "brats", "subset": "test", "cases": 2, "metrics": {"dice_mean": 0.5}}}
    assert generalisation_table(volumetric, {}) is None
    planar = {"a": {"model": "a", "dataset": "kvasir_seg", "subset": "val", "cases": 3, "metrics": {"dsc": 0.5, "jaccard": 0.25}}}
    external = {("cvc", "b"): {"model": "b", "dataset": "cvc", "subset": "all", "cases": 6, "metrics": {"dsc": 0.4, "jaccard": 0.2}}}
    table = generalisation_table(planar, external)
    assert table.to_dict("index") == {
        "a": {("kvasir_seg (val, 3 cases)", "DSC"): "0.5000", ("kvasir_seg (val, 3 cases)", "IoU"): "0.2500", ("cvc (external, 6 cases)", "DSC"): "", ("cvc (external, 6 cases)", "IoU"): ""},
        "b": {("kvasir_seg (val, 3 cases)", "DSC"): "", ("kvasir_seg (val, 3 cases)", "IoU"): "", ("cvc (external, 6 cases)", "DSC"): "0.4000", ("cvc (external, 6 cases)", "IoU"): "0.2000"},
    }


def test_fastest_runtime_ignores_skipped_and_breaks_ties_by_name():
    bench = {"runtimes": {"b": _ok(10.0, 1.0), "a": _ok(10.0, 2.0), "c": {"status": "skipped", "reason": "r"}}}
    assert fastest_runtime(bench) == ("a", _ok(10.0, 2.0))
    assert fastest_runtime({"runtimes": {"c": {"status": "skipped", "reason": "r"}}}) is None


# ----------------------------------------------------------------------------------------- wide tables
FORMAT_CASES = [
    ((0.812, "fraction"), {"printed": True}, "0.8120"),
    ((0.71871, "fraction"), {"printed": True}, "0.71871"),
    ((0.85, "fraction"), {}, "0.8500"),
    ((-0.0123456, "fraction"), {"signed": True}, "−0.0123"),
    ((0.019, "fraction"), {"signed": True}, "+0.0190"),
    ((9.2, "mm"), {"printed": True}, "9.20"),
    ((7774374.0, "count"), {}, "7,774,374"),
    ((-12.0, "count"), {"signed": True}, "−12"),
    ((107.8797, "fps"), {"printed": True}, "107.8797"),
    ((float("nan"), "mm"), {}, ""),
]


@pytest.mark.parametrize(("args", "kwargs", "expected"), FORMAT_CASES)
def test_format_value(args, kwargs, expected):
    assert format_value(*args, **kwargs) == expected


def test_wide_table_puts_ours_paper_and_difference_side_by_side(tmp_path, kd_artifacts):
    frame = build_paper_tables("kd_resunetpp", "000", metrics=kd_artifacts["metrics"][1:], preset="demo", out_csv=tmp_path / "t.csv")
    wide = wide_table(frame, "Table 1")
    assert list(wide.index) == ["ResUNet++", "KD-ResUNet++"]
    assert list(wide.columns[:4]) == [("Our model", ""), ("Jaccard (0–1)", "ours"), ("Jaccard (0–1)", "paper"), ("Jaccard (0–1)", "Δ")]
    assert wide.loc["KD-ResUNet++", "DSC (0–1)"].tolist() == ["0.8500", "0.8310", "+0.0190"]
    assert wide.loc["ResUNet++", "DSC (0–1)"].tolist() == ["not run in preset demo", "0.8120", ""]
    params = wide_table(build_paper_tables("xpnet", "001", preset="demo", out_csv=tmp_path / "x.csv"), "Table 1")
    assert params.loc["Kvasir / U-Net", ("No. of params", "paper")] == "7,763,041"  # counts carry no unit label
    with pytest.raises(DataError, match="no rows of 'Table 9'"):
        wide_table(frame, "Table 9")


def test_markdown_latex_and_html_tables(tmp_path, kd_artifacts):
    outputs = {kind: tmp_path / f"t.{kind}" for kind in ("csv", "md", "tex", "html")}
    build_paper_tables("kd_resunetpp", "000", metrics=kd_artifacts["metrics"], bench=kd_artifacts["bench"], preset="demo", **{f"out_{k}": p for k, p in outputs.items()})
    markdown = outputs["md"].read_text(encoding="utf-8")
    assert "| KD-ResUNet++ | kd_resunetpp | 0.7500 | 0.7530 | −0.0030 | 0.8500 | 0.8310 | +0.0190 |" in markdown
    assert "| KD-ResUNet++ | kd_resunetpp | 125.0 | 107.8797 | +17.1 | 8.00 | 9.30 | −1.30 |" in markdown
    assert "- FPS of kd_resunetpp: fastest runtime, onnxruntime on Test CPU (2 threads)." in markdown
    assert "16 of 14" not in markdown and "14 of 14 printed numbers have ours beside them" in markdown
    latex = outputs["tex"].read_text(encoding="utf-8")
    # the paper's three tables, the run's models, then the generalisation table of this 2D experiment
    assert latex.count(r"\begin{table}") == 5 and r"\multicolumn{3}{c}{DSC (0--1)}" in latex
    assert r"kd\_resunetpp & 0.7500 & 0.7530 & $-$0.0030" in latex
    assert "ours & paper & $\\Delta$" in latex
    page = outputs["html"].read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.count("<table") == 5 and "Official results on algorithm efficiency task" in page
    first = {k: p.read_bytes() for k, p in outputs.items()}
    build_paper_tables("kd_resunetpp", "000", metrics=kd_artifacts["metrics"], bench=kd_artifacts["bench"], preset="demo", **{f"out_{k}": p for k, p in outputs.items()})
    assert first == {k: p.read_bytes() for k, p in outputs.items()}


def test_latex_escapes_special_characters(tmp_path):
    reported = tmp_path / "r.yaml"
    reported.write_text(yaml.safe_dump({"papers": {"9": {"file": "f.txt", "title": "T", "experiment": "e_1", "tables": [
        {"name": "Table 1", "caption": "50% & more_of it", "unit": "percent", "cells": [{"row": "A#1", "column": "Dice", "value": 50, "model": "m", "metric": "dsc"}]},
    ]}}}), encoding="utf-8")
    build_paper_tables("e_1", "9", reported, preset="demo", out_csv=tmp_path / "t.csv", out_tex=tmp_path / "t.tex")
    latex = (tmp_path / "t.tex").read_text(encoding="utf-8")
    assert r"50\% \& more\_of it" in latex and r"A\#1 & m & not run in preset demo & 0.5000 &  \\" in latex


# ----------------------------------------------------------------------------------------- errors
def _reported(tmp_path: Path, cells: list[dict[str, Any]], **table: Any) -> Path:
    path = tmp_path / "reported.yaml"
    entry = {"name": "Table 1", "caption": "c", "unit": "fraction", "cells": cells, **table}
    path.write_text(yaml.safe_dump({"papers": {"000": {"file": "f", "title": "t", "experiment": "kd_resunetpp", "tables": [entry]}}}), encoding="utf-8")
    return path


BAD_REPORTED = [
    ([{"row": "A", "column": "DSC"}], {}, r"papers.000.tables\[0\].cells\[0\] lacks value"),
    ([{"row": "A", "column": "DSC", "value": 1, "unit": "percnt", "model": "m", "metric": "dsc"}], {}, "Unknown unit at .*'percnt'.*Did you mean 'percent'"),
    ([{"row": "A", "column": "DSC", "value": 1, "model": "m"}], {}, "names a model or a metric but not both"),
    ([{"row": "A", "column": "DSC", "value": 1}], {}, "no model of ours stands for row 'A'; add it to the table's not_reproduced"),
    ([{"row": "A", "column": "FPS", "value": 1, "model": "m", "metric": "fps"}], {}, "printed in fraction, but our 'fps' is in fps"),
    ([{"row": "A", "column": "D", "value": 1, "model": "m", "metric": "dsc"}] * 2, {}, "repeats row 'A', column 'D' of Table 1"),
]


@pytest.mark.parametrize(("cells", "table", "message"), BAD_REPORTED)
def test_bad_reported_numbers_name_the_entry(tmp_path, cells, table, message):
    with pytest.raises(ConfigError, match=message):
        load_reported(_reported(tmp_path, cells, **table))


def test_reported_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="do not exist"):
        load_reported(tmp_path / "none.yaml")
    (tmp_path / "empty.yaml").write_text("other: 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="has no `papers:` mapping"):
        load_reported(tmp_path / "empty.yaml")
    with pytest.raises(ConfigError, match="Unknown paper '7'; allowed: '000', '001', '002', '003', '004'"):
        reported_cells(load_reported(), "7")


def test_artifact_errors(tmp_path, kd_artifacts):
    out = tmp_path / "t.csv"
    with pytest.raises(ConfigError, match="maps paper 000 to experiment 'kd_resunetpp', not 'xpnet'"):
        build_paper_tables("xpnet", "000", preset="demo", out_csv=out)
    other = _metrics_json(tmp_path / "o.json", "unet_epsa", {"dsc": 0.5}, experiment="xpnet")
    with pytest.raises(DataError, match="belongs to experiment 'xpnet', not 'kd_resunetpp'"):
        build_paper_tables("kd_resunetpp", "000", metrics=[other], preset="demo", out_csv=out)
    with pytest.raises(DataError, match="does not exist; run the workflow rule that writes it"):
        build_paper_tables("kd_resunetpp", "000", metrics=[tmp_path / "missing.json"], preset="demo", out_csv=out)
    lacking = _metrics_json(tmp_path / "l.json", "kd_resunetpp", {"dsc": 0.5})
    with pytest.raises(DataError, match=re.escape("has no metric 'jaccard' (asked for by paper 000 Table 1, row 'KD-ResUNet++'); it has: dsc")):
        build_paper_tables("kd_resunetpp", "000", metrics=[lacking], preset="demo", out_csv=out)
    write_json(tmp_path / "x.json", {"model": "kd_resunetpp"})
    with pytest.raises(DataError, match="is not a benchmark JSON .* it lacks runtimes"):
        build_paper_tables("kd_resunetpp", "000", bench=[tmp_path / "x.json"], preset="demo", out_csv=out)
    assert not out.exists()


def test_shipped_path_is_the_default():
    assert REPORTED_PATH.name == "paper_results.yaml" and REPORTED_PATH.is_file()


def test_every_model_of_the_run_and_the_preset_notes_are_shown(tmp_path, kd_artifacts):
    # a model that no paper row stands for (an ablation) still gets its row, with its parameter count
    ablation = _metrics_json(tmp_path / "scratch.json", "resunetpp_scratch", {"jaccard": 0.6, "dsc": 0.7, "recall": 0.7, "precision": 0.75}, parameters=4062993)
    note = "trained at 128x128 with BCE + Dice: Dice alone stalls (reports/cpu-2core/README.md)"
    outputs = {kind: tmp_path / f"t.{kind}" for kind in ("csv", "md", "tex", "html")}
    build_paper_tables("kd_resunetpp", "000", metrics=[*kd_artifacts["metrics"], ablation], preset="cpu", notes=[note], **{f"out_{k}": p for k, p in outputs.items()})
    markdown = outputs["md"].read_text(encoding="utf-8")
    assert f"Preset cpu: {note}" in markdown
    assert "| model | parameters | dsc | jaccard | recall | precision |" in markdown
    assert "| resunetpp_scratch | 4,062,993 | 0.7000 | 0.6000 | 0.7000 | 0.7500 |" in markdown
    assert "| kd_resunetpp | 1,000 | 0.8500 | 0.7500 | 0.8000 | 0.9500 |" in markdown
    assert "resunetpp\\_scratch & 4,062,993 & 0.7000" in outputs["tex"].read_text(encoding="utf-8")
    assert "resunetpp_scratch" in outputs["html"].read_text(encoding="utf-8") and note in outputs["html"].read_text(encoding="utf-8")
