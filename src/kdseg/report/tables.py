"""Each paper's result tables rebuilt from the workflow's artifacts, the paper's numbers beside ours.

The papers' numbers live in ``paper_results.yaml`` beside this module (:data:`REPORTED_PATH`): one
entry per printed number with its paper file, table, row and column, the unit it is printed in, and
the model and metric of ours it stands against. :func:`compare_with_paper` joins them with the metrics
JSONs of ``kdseg-evaluate`` and the benchmark JSONs of ``kdseg-bench-fps`` into a long table, one row
per printed number: the paper's value converted to our units (Dice and IoU as fractions, times in ms),
ours, the difference ours − paper, and a status that says why ours is missing where it is (a model not
run in this preset, a row no model of ours stands for, an undefined metric). A printed number measured on
an external test set (paper 001's Kvasir-SEG rows) names that ``dataset``, and ours comes from the
model's external evaluation on it. :func:`build_paper_tables` writes that table as CSV, and each paper
table in wide form (ours, the paper's and the difference side by side) as Markdown, LaTeX and HTML,
followed, for a 2D experiment, by its generalisation table (:func:`generalisation_table`: every model's
DSC and IoU on its own evaluation subset and on each external test set).

Example:
    >>> frame = build_paper_tables(
    ...     "kd_resunetpp", "000", REPORTED_PATH, metrics=["resunetpp.json", "kd_resunetpp.json"],
    ...     bench=["kd_resunetpp.bench.json"], preset="demo", out_csv="000.csv", out_md="000.md")
    >>> frame.loc[frame["column"] == "DSC", ["row", "model", "our_value", "paper_value", "difference"]]
"""

from __future__ import annotations

import html
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from kdseg.utils.errors import ConfigError, DataError
from kdseg.utils.io import read_json, write_csv, write_text
from kdseg.utils.options import look_up_option

__all__ = [
    "BENCH_METRICS",
    "COLUMNS",
    "REPORTED_PATH",
    "UNITS",
    "build_paper_tables",
    "compare_with_paper",
    "fastest_runtime",
    "format_value",
    "generalisation_table",
    "latex_tables",
    "load_benchmarks",
    "load_external_metrics",
    "load_gpu_benchmarks",
    "load_metrics",
    "load_reported",
    "markdown_tables",
    "html_tables",
    "metric_unit",
    "reported_cells",
    "wide_table",
]

log = logging.getLogger(__name__)

REPORTED_PATH = Path(__file__).with_name("paper_results.yaml")


@dataclass(frozen=True)
class _Unit:
    """How a unit is shown: its label in column headers and the decimals of our values."""

    label: str
    decimals: int


# our units, each value of the long table is in one of them
UNITS: dict[str, _Unit] = {
    "fraction": _Unit("0–1", 4),
    "mm": _Unit("mm", 2),
    "fps": _Unit("FPS", 1),
    "ms": _Unit("ms", 2),
    "count": _Unit("parameters", 0),
}
# a paper's printed unit -> (our unit, factor that converts the printed value to it)
PRINTED_UNITS: dict[str, tuple[str, float]] = {
    "fraction": ("fraction", 1.0),
    "percent": ("fraction", 0.01),
    "mm": ("mm", 1.0),
    "fps": ("fps", 1.0),
    "seconds": ("ms", 1000.0),
    "ms": ("ms", 1.0),
    "count": ("count", 1.0),
}
# metrics read from a benchmark JSON (its fastest runtime's MediaEval model-call measurement)
BENCH_METRICS = ("fps", "mean_ms")

# columns of the long table (one row per printed number)
COLUMNS = [
    "paper", "file", "table", "caption", "row", "column", "printed", "printed_unit",
    "experiment", "model", "metric", "dataset", "unit", "paper_value", "our_value", "difference", "status", "note",
]
# the generalisation table's scores: (metric of the metrics JSON, column label)
GENERALISATION_METRICS = (("dsc", "DSC"), ("jaccard", "IoU"))


def metric_unit(metric: str) -> str:
    """Our unit of a metric name: ``fps``, ``ms`` (``mean_ms``), ``count`` (``parameters``), ``mm``
    (``hd95*``) or ``fraction`` (overlap scores)."""
    if metric == "fps":
        return "fps"
    if metric == "mean_ms":
        return "ms"
    if metric == "parameters":
        return "count"
    if metric.startswith("hd95"):
        return "mm"
    return "fraction"


# ----------------------------------------------------------------------------------------- paper numbers
def load_reported(path: str | Path = REPORTED_PATH) -> dict[str, Any]:
    """Read and check ``paper_results.yaml``; return its ``papers`` mapping.

    Raises:
        ConfigError: naming the entry (``papers.000.tables[0].cells[3]``) that lacks a key, has an
            unknown unit, a cell unit our metric is not measured in, or no reason for an unmatched row.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            papers = (yaml.safe_load(handle) or {}).get("papers")
    except FileNotFoundError:
        raise ConfigError(f"the papers' reported numbers {path} do not exist (kdseg ships them as kdseg/report/paper_results.yaml).") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from None
    if not isinstance(papers, dict) or not papers:
        raise ConfigError(f"{path} has no `papers:` mapping of paper id -> file, title, experiment, tables.")
    for paper, entry in papers.items():
        _check_paper(path, str(paper), entry)
    return {str(paper): entry for paper, entry in papers.items()}


def _check_paper(path: str | Path, paper: str, entry: Mapping[str, Any]) -> None:
    where = f"{path}: papers.{paper}"
    missing = [key for key in ("file", "title", "experiment", "tables") if key not in entry]
    if missing:
        raise ConfigError(f"{where} lacks {', '.join(missing)}.")
    for t, table in enumerate(entry["tables"]):
        at = f"{where}.tables[{t}]"
        missing = [key for key in ("name", "caption", "unit", "cells") if key not in table]
        if missing:
            raise ConfigError(f"{at} lacks {', '.join(missing)}.")
        reasons = table.get("not_reproduced", {})
        seen: set[tuple[str, str]] = set()
        for c, cell in enumerate(table["cells"]):
            cell_at = f"{at}.cells[{c}]"
            missing = [key for key in ("row", "column", "value") if key not in cell]
            if missing:
                raise ConfigError(f"{cell_at} lacks {', '.join(missing)}.")
            if (cell["row"], cell["column"]) in seen:
                raise ConfigError(f"{cell_at} repeats row {cell['row']!r}, column {cell['column']!r} of {table['name']}.")
            seen.add((cell["row"], cell["column"]))
            printed_unit = cell.get("unit", table["unit"])
            look_up_option(printed_unit, PRINTED_UNITS, f"unit at {cell_at}")
            if ("model" in cell) != ("metric" in cell):
                raise ConfigError(f"{cell_at} ({cell['row']} / {cell['column']}) names a model or a metric but not both; give both, or neither and a not_reproduced reason for the row.")
            if "dataset" in cell and ("model" not in cell or cell.get("metric") in ("parameters", *BENCH_METRICS)):
                raise ConfigError(f"{cell_at} ({cell['row']} / {cell['column']}) names an external dataset; it needs a model and a score measured on that data set.")
            if "model" not in cell and cell["row"] not in reasons:
                raise ConfigError(f"{cell_at}: no model of ours stands for row {cell['row']!r}; add it to the table's not_reproduced with the reason.")
            if "metric" in cell and PRINTED_UNITS[printed_unit][0] != metric_unit(cell["metric"]):
                raise ConfigError(
                    f"{cell_at} ({cell['row']} / {cell['column']}) is printed in {printed_unit}, but our {cell['metric']!r} is in "
                    f"{metric_unit(cell['metric'])}; set the cell's unit or pick the matching metric."
                )


def reported_cells(papers: Mapping[str, Any], paper: str) -> pd.DataFrame:
    """The printed numbers of one paper as a long table (the :data:`COLUMNS` up to ``paper_value``).

    Raises:
        ConfigError: when ``paper`` is not in ``papers`` (the message lists those that are).
    """
    entry = look_up_option(str(paper), papers, "paper")
    records = []
    for table in entry["tables"]:
        for cell in table["cells"]:
            printed_unit = cell.get("unit", table["unit"])
            unit, factor = PRINTED_UNITS[printed_unit]
            records.append({
                "paper": str(paper), "file": entry["file"], "table": table["name"], "caption": table["caption"],
                "row": cell["row"], "column": cell["column"], "printed": cell["value"], "printed_unit": printed_unit,
                "experiment": entry["experiment"], "model": cell.get("model", ""), "metric": cell.get("metric", ""),
                "dataset": cell.get("dataset", ""), "unit": unit, "paper_value": round(float(cell["value"]) * factor, 10),
            })
    frame = pd.DataFrame.from_records(records)
    frame["printed"] = pd.Series([r["printed"] for r in records], dtype=object)  # 7774374 stays an int
    return frame


# ----------------------------------------------------------------------------------------- our numbers
def load_metrics(paths: Sequence[str | Path], experiment: str | None = None) -> dict[str, dict[str, Any]]:
    """Metrics JSONs of ``kdseg-evaluate`` by model name.

    Raises:
        DataError: when a file is missing, lacks ``model``/``metrics``, or belongs to another experiment.
    """
    return _load_by_model(paths, experiment, ("model", "metrics"), "metrics JSON (kdseg-evaluate)")


def load_external_metrics(paths: Sequence[str | Path], experiment: str | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    """Metrics JSONs of external evaluations (``kdseg-evaluate --dataset``, no split) by (data set, model).

    Raises:
        DataError: as :func:`load_metrics`, and when a file names no data set.
    """
    loaded = {}
    for path in paths:
        content = _load_by_model([path], experiment, ("model", "metrics", "dataset"), "metrics JSON (kdseg-evaluate)")
        (model, result), = content.items()
        if not result["dataset"]:
            raise DataError(f"{path} names no data set; write external metrics with kdseg-evaluate --dataset <name>.")
        loaded[(result["dataset"], model)] = result
    return loaded


def load_benchmarks(paths: Sequence[str | Path], experiment: str | None = None) -> dict[str, dict[str, Any]]:
    """Benchmark JSONs of ``kdseg-bench-fps`` by model name (same checks as :func:`load_metrics`)."""
    return _load_by_model(paths, experiment, ("model", "runtimes"), "benchmark JSON (kdseg-bench-fps)")


def load_gpu_benchmarks(paths: Sequence[str | Path], experiment: str) -> dict[str, dict[str, Any]]:
    """Benchmark JSONs measured on a GPU (``reports/h200/``) by model name, those of ``experiment`` only:
    the folder holds every experiment's, and one of another experiment is not an error here."""
    loaded = {}
    for path in paths:
        content = _load_by_model([path], None, ("model", "runtimes"), "benchmark JSON (kdseg-bench-fps)")
        loaded |= {model: bench for model, bench in content.items() if bench.get("experiment") == experiment}
    return loaded


def _load_by_model(paths: Sequence[str | Path], experiment: str | None, keys: Sequence[str], what: str) -> dict[str, dict[str, Any]]:
    loaded: dict[str, dict[str, Any]] = {}
    for path in paths:
        try:
            content = read_json(path)
        except FileNotFoundError:
            raise DataError(f"{what} {path} does not exist; run the workflow rule that writes it first.") from None
        missing = [key for key in keys if key not in content]
        if missing:
            raise DataError(f"{path} is not a {what}: it lacks {', '.join(missing)}.")
        if experiment is not None and content.get("experiment") not in (None, experiment):
            raise DataError(f"{path} belongs to experiment {content['experiment']!r}, not {experiment!r}; pass the files of {experiment}.")
        loaded[content["model"]] = content
    return loaded


def fastest_runtime(bench: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(name, entry) of the runtime with the most model-call FPS in a benchmark JSON; None if none ran.
    Ties go to the first name in sorted order, so the choice does not depend on the JSON's key order."""
    measured = sorted((name, entry) for name, entry in bench["runtimes"].items() if entry.get("status") == "ok")
    if not measured:
        return None
    return max(measured, key=lambda item: item[1]["model_call"]["fps"])


def _our_value(
    cell: Mapping[str, Any], metrics: Mapping[str, Any], benches: Mapping[str, Any], preset: str, external: Mapping[tuple[str, str], Any]
) -> tuple[float, str, str]:
    """(value, status, note) of one compared number; value is NaN unless status is ``ok``."""
    model, metric, dataset = cell["model"], cell["metric"], cell.get("dataset") or ""
    if not model:
        return math.nan, "not reproduced", ""
    if dataset:
        if (dataset, model) not in external:
            return math.nan, f"not tested on {dataset} in preset {preset}", ""
        metrics = {model: external[(dataset, model)]}
    if metric in BENCH_METRICS:
        if model not in benches:
            return math.nan, f"not benchmarked in preset {preset}", ""
        fastest = fastest_runtime(benches[model])
        if fastest is None:
            return math.nan, "no runtime measured", "every runtime of the benchmark was skipped"
        name, entry = fastest
        env = benches[model]["environment"]
        where = f"{env['device_name']}, CUDA {env['cuda']}" if str(env.get("device", "")).startswith("cuda") else f"{env['device_name']} ({env['threads']} threads)"
        return float(entry["model_call"][metric]), "ok", f"{name} on {where}"
    if model not in metrics:
        return math.nan, f"not run in preset {preset}", ""
    result = metrics[model]
    if metric == "parameters":
        return float(result["parameters"]), "ok", ""
    if metric not in result["metrics"]:
        raise DataError(
            f"the metrics JSON of {model} has no metric {metric!r} (asked for by paper {cell['paper']} {cell['table']}, "
            f"row {cell['row']!r}); it has: {', '.join(sorted(result['metrics']))}."
        )
    value = result["metrics"][metric]
    note = f"external test set {dataset}, all {result['cases']} cases" if dataset else f"{result['subset']} subset, {result['cases']} cases"
    if value is None or math.isnan(float(value)):
        return math.nan, "undefined in our run", f"{note}; no case had the region in its prediction or its reference"
    return float(value), "ok", note


def compare_with_paper(
    cells: pd.DataFrame,
    metrics: Mapping[str, Mapping[str, Any]],
    benches: Mapping[str, Mapping[str, Any]],
    preset: str,
    reasons: Mapping[tuple[str, str], str] | None = None,
    external: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
) -> pd.DataFrame:
    """Add ``our_value``, ``difference`` (ours − paper), ``status`` and ``note`` to :func:`reported_cells`.

    Args:
        cells: the paper's numbers from :func:`reported_cells`.
        metrics: metrics JSONs by model (:func:`load_metrics`).
        benches: benchmark JSONs by model (:func:`load_benchmarks`).
        preset: the workflow preset, named in the status of models it did not run.
        reasons: (table, row) -> why no model of ours stands for that row. Defaults to None.
        external: external metrics JSONs by (data set, model) (:func:`load_external_metrics`), for the
            numbers a paper measured on an external test set. Defaults to None.
    """
    reasons = reasons or {}
    frame = cells.copy()
    outcomes = [_our_value(cell, metrics, benches, preset, external or {}) for cell in frame.to_dict("records")]
    frame["our_value"] = [value for value, _, _ in outcomes]
    frame["status"] = [status for _, status, _ in outcomes]
    frame["note"] = [
        reasons.get((table, row), note) if status == "not reproduced" else note
        for (_, status, note), table, row in zip(outcomes, frame["table"], frame["row"])
    ]
    frame["difference"] = frame["our_value"] - frame["paper_value"]
    return frame[COLUMNS]


# ----------------------------------------------------------------------------------------- generalisation
def generalisation_table(metrics: Mapping[str, Mapping[str, Any]], external: Mapping[tuple[str, str], Mapping[str, Any]]) -> pd.DataFrame | None:
    """Every model's DSC and IoU on its own evaluation subset and on each external test set.

    A row per model (in the order of ``metrics``), a column group per data set (``<data set> (<subset>,
    <n> cases)``, the own data set first, then the external ones in the order given) with a column per
    score of :data:`GENERALISATION_METRICS`, as text with 4 decimals; empty where a model was not tested.

    Args:
        metrics: metrics JSONs of the experiment's own evaluation by model (:func:`load_metrics`).
        external: external metrics JSONs by (data set, model) (:func:`load_external_metrics`).

    Returns:
        The table, or None for a 3D experiment (its metrics have no DSC).
    """
    results = [*metrics.values(), *external.values()]
    if not results or any("dsc" not in result["metrics"] for result in results):
        return None
    models = list(dict.fromkeys([*metrics, *(model for _, model in external)]))
    sources: dict[str, dict[str, Mapping[str, Any]]] = {}
    for model, result in metrics.items():
        sources.setdefault(f"{result.get('dataset') or 'own data set'} ({result['subset']}, {result['cases']} cases)", {})[model] = result
    for (dataset, model), result in external.items():
        sources.setdefault(f"{dataset} (external, {result['cases']} cases)", {})[model] = result
    table = pd.DataFrame(index=pd.Index(models, name="Model"))
    for source, by_model in sources.items():
        for metric, label in GENERALISATION_METRICS:
            table[(source, label)] = [format_value(float(by_model[m]["metrics"][metric]), "fraction") if m in by_model else "" for m in models]
    table.columns = pd.MultiIndex.from_tuples(table.columns)
    return table


_GENERALISATION_TITLE = "Generalisation: DSC and IoU on the evaluation subset and on each external test set (ours)"


# ----------------------------------------------------------------------------------------- wide tables
def format_value(value: float, unit: str, *, signed: bool = False, printed: bool = False) -> str:
    """A number as the tables show it: the unit's decimals (``printed``: more where the paper printed
    more, e.g. 0.71871), thousands separators for counts, a sign on differences if ``signed``.
    NaN gives an empty string."""
    if value is None or math.isnan(value):
        return ""
    decimals = 0 if unit == "count" else UNITS[unit].decimals
    if printed:
        decimals = max(decimals, len(f"{value:.10f}".rstrip("0").partition(".")[2]))
    text = f"{value:{'+' if signed else ''},.{decimals}f}" if unit == "count" else f"{value:{'+' if signed else ''}.{decimals}f}"
    return text.replace("-", "−")


def _column_header(column: str, units: pd.Series) -> str:
    labels = {UNITS[u].label for u in units}
    if len(labels) != 1 or units.iloc[0] == "count" or labels == {column}:
        return column
    return f"{column} ({labels.pop()})"


def _cell_texts(cell: Mapping[str, Any]) -> tuple[str, str, str]:
    """(ours, paper, Δ) of one printed number; ours is the status where we have no value."""
    if not isinstance(cell["unit"], str):  # the paper prints nothing in this row and column
        return "", "", ""
    paper = format_value(cell["paper_value"], cell["unit"], printed=True)
    if cell["status"] != "ok":
        return cell["status"], paper, ""
    return format_value(cell["our_value"], cell["unit"]), paper, format_value(cell["difference"], cell["unit"], signed=True)


def wide_table(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """One paper table of the long frame as text cells: a row per paper row, for each paper column
    ``ours``, ``paper`` and ``Δ`` side by side (two-level columns), and the model that is ours."""
    part = frame[frame["table"] == table]
    if part.empty:
        raise DataError(f"the long table has no rows of {table!r}; it has {', '.join(frame['table'].unique())}.")
    rows = list(dict.fromkeys(part["row"]))
    columns = list(dict.fromkeys(part["column"]))
    headers = {column: _column_header(column, part.loc[part["column"] == column, "unit"]) for column in columns}
    models = part.groupby("row", sort=False)["model"].agg(lambda m: ", ".join(dict.fromkeys(x for x in m if x)) or "—")
    out = pd.DataFrame(index=pd.Index(rows, name="Paper row"))
    out[("Our model", "")] = models.reindex(rows).to_numpy()
    for column in columns:
        cells = part[part["column"] == column].set_index("row").reindex(rows)
        texts = [_cell_texts(cell) for cell in cells.to_dict("records")]
        for position, sub in enumerate(("ours", "paper", "Δ")):
            out[(headers[column], sub)] = [text[position] for text in texts]
    out.columns = pd.MultiIndex.from_tuples(out.columns)
    return out


def _table_notes(frame: pd.DataFrame, table: str, reported: Mapping[str, Any]) -> list[str]:
    part = frame[frame["table"] == table]
    notes = [reported["note"]] if reported.get("note") else []
    unmatched = part.loc[part["status"] == "not reproduced", ["row", "note"]].drop_duplicates()
    notes += [f"Not reproduced, {row}: {reason}." for row, reason in unmatched.itertuples(index=False)]
    measured = part.loc[part["metric"].isin(BENCH_METRICS) & part["status"].eq("ok"), ["model", "note"]].drop_duplicates()
    notes += [f"FPS of {model}: fastest runtime, {note}." for model, note in measured.itertuples(index=False)]
    return notes


def _tables_of(frame: pd.DataFrame, paper: Mapping[str, Any]) -> list[tuple[Mapping[str, Any], pd.DataFrame, list[str]]]:
    return [(table, wide_table(frame, table["name"]), _table_notes(frame, table["name"], table)) for table in paper["tables"]]


def _summary_line(frame: pd.DataFrame, preset: str) -> str:
    return (
        f"Ours: preset {preset}. Paper values are converted to our units (Dice and IoU as fractions in [0, 1], "
        f"times in ms); Δ = ours − paper. {int((frame['status'] == 'ok').sum())} of {len(frame)} printed numbers have ours beside them."
    )


#: metrics of the run table, in this order, where any model has them (2D; 3D region Dice and HD95 follow)
RUN_METRICS = ("dsc", "jaccard", "recall", "precision")


def run_table(metrics: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Every evaluated model of the run, the paper's or not (e.g. an ablation): parameters and main metrics.

    Columns: ``parameters``, then :data:`RUN_METRICS` and the 3D ``dice_*`` / ``hd95_*`` values that any model has.
    """
    names = list(dict.fromkeys(k for m in metrics.values() for k in m["metrics"]))
    columns = [k for k in RUN_METRICS if k in names] + sorted(k for k in names if k.startswith(("dice_", "hd95_")))
    rows = {model: {"parameters": m.get("parameters"), **{k: m["metrics"].get(k) for k in columns}} for model, m in metrics.items()}
    return pd.DataFrame.from_dict(rows, orient="index", columns=["parameters", *columns]).rename_axis("model")


def _run_cells(run: pd.DataFrame) -> list[list[str]]:
    return [[model, *("—" if pd.isna(v) else (f"{int(v):,}" if c == "parameters" else f"{v:.4f}") for c, v in row.items())] for model, row in run.iterrows()]


def _preamble(frame: pd.DataFrame, preset: str, notes: Sequence[str]) -> list[str]:
    return [_summary_line(frame, preset), *(f"Preset {preset}: {note}" for note in notes)]


def markdown_tables(
    frame: pd.DataFrame, paper: Mapping[str, Any], preset: str, *, run: pd.DataFrame | None = None, notes: Sequence[str] = (), generalisation: pd.DataFrame | None = None
) -> str:
    """Every table of a paper as GitHub Markdown, with its notes; then the run's own models (``run``, see
    :func:`run_table`) and the generalisation table, where given."""
    lines = [f"# Paper {frame['paper'].iloc[0]}: {paper['title']}", "", f"Experiment `{paper['experiment']}`; source `{paper['file']}`.", ""]
    lines += [line for text in _preamble(frame, preset, notes) for line in (text, "")]
    for table, wide, table_notes in _tables_of(frame, paper):
        header = ["Paper row"] + [top if not sub else f"{top} {sub}" for top, sub in wide.columns]
        lines += [f"## {table['name']}: {table['caption']}", "", _md_row(header), _md_row(["---"] * 2 + ["---:"] * (len(header) - 2))]
        lines += [_md_row([row, *values]) for row, values in zip(wide.index, wide.to_numpy().tolist())]
        lines += [""] + [f"- {note}" for note in table_notes] + [""]
    if run is not None and not run.empty:
        lines += [f"## Every model of this run (preset {preset})", "", _md_row(["model", *run.columns]), _md_row(["---"] + ["---:"] * len(run.columns))]
        lines += [_md_row(cells) for cells in _run_cells(run)] + [""]
    if generalisation is not None:
        header = ["Model"] + [f"{top} {sub}" for top, sub in generalisation.columns]
        lines += [f"## {_GENERALISATION_TITLE}", "", _md_row(header), _md_row(["---"] + ["---:"] * (len(header) - 1))]
        lines += [_md_row([model, *values]) for model, values in zip(generalisation.index, generalisation.to_numpy().tolist())] + [""]
    return "\n".join(lines)


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_LATEX_TEXT = {"Δ": r"$\Delta$", "−": "$-$", "–": "--"}


def _tex(text: str) -> str:
    return "".join(_LATEX_TEXT.get(ch, _LATEX_SPECIAL.get(ch, ch)) for ch in str(text))


def latex_tables(
    frame: pd.DataFrame, paper: Mapping[str, Any], preset: str, *, run: pd.DataFrame | None = None, notes: Sequence[str] = (), generalisation: pd.DataFrame | None = None
) -> str:
    """Every table of a paper as a LaTeX ``table`` (booktabs), ours/paper/Δ under each paper column, then the
    run's own models and the generalisation table, where given."""
    out = [f"% Paper {frame['paper'].iloc[0]}: {paper['title']} -- experiment {paper['experiment']}, preset {preset}. Needs \\usepackage{{booktabs}}.", *(f"% Preset {preset}: {note}" for note in notes), ""]
    for table, wide, table_notes in _tables_of(frame, paper):
        groups = list(dict.fromkeys(top for top, sub in wide.columns if sub))
        out += [r"\begin{table}[ht]", r"\centering", r"\small", f"\\caption{{Paper {_tex(frame['paper'].iloc[0])}, {_tex(table['name'])}: {_tex(table['caption'])} (ours, preset {_tex(preset)}).}}"]
        out += [r"\begin{tabular}{ll" + "rrr" * len(groups) + "}", r"\toprule"]
        out.append("Paper row & Our model & " + " & ".join(f"\\multicolumn{{3}}{{c}}{{{_tex(g)}}}" for g in groups) + r" \\")
        out.append(" ".join(f"\\cmidrule(lr){{{3 + 3 * i}-{5 + 3 * i}}}" for i in range(len(groups))))
        out.append(" & & " + " & ".join(["ours & paper & $\\Delta$"] * len(groups)) + r" \\")
        out.append(r"\midrule")
        out += [" & ".join(_tex(c) for c in (row, *values)) + r" \\" for row, values in zip(wide.index, wide.to_numpy().tolist())]
        out += [r"\bottomrule", r"\end{tabular}"]
        out += [f"\\par\\footnotesize {_tex(note)}" for note in table_notes]
        out += [r"\end{table}", ""]
    if run is not None and not run.empty:
        out += [r"\begin{table}[ht]", r"\centering", r"\small", f"\\caption{{Every model of this run (preset {_tex(preset)}).}}"]
        out += [r"\begin{tabular}{l" + "r" * len(run.columns) + "}", r"\toprule", " & ".join(_tex(c) for c in ("model", *run.columns)) + r" \\", r"\midrule"]
        out += [" & ".join(_tex(c) for c in cells) + r" \\" for cells in _run_cells(run)]
        out += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    if generalisation is not None:
        groups = list(dict.fromkeys(top for top, _ in generalisation.columns))
        width = len(GENERALISATION_METRICS)
        out += [r"\begin{table}[ht]", r"\centering", r"\small", f"\\caption{{{_tex(_GENERALISATION_TITLE)}, preset {_tex(preset)}.}}"]
        out += [r"\begin{tabular}{l" + "r" * width * len(groups) + "}", r"\toprule"]
        out.append("Model & " + " & ".join(f"\\multicolumn{{{width}}}{{c}}{{{_tex(g)}}}" for g in groups) + r" \\")
        out.append(" & " + " & ".join(label for _ in groups for _, label in GENERALISATION_METRICS) + r" \\")
        out.append(r"\midrule")
        out += [" & ".join(_tex(c) for c in (model, *values)) + r" \\" for model, values in zip(generalisation.index, generalisation.to_numpy().tolist())]
        out += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    return "\n".join(out)


_HTML_STYLE = (
    "body{font-family:sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;margin:0.5em 0 0.3em}"
    "th,td{border:1px solid #bbb;padding:3px 7px;font-size:13px}td{text-align:right}th{background:#eef2f7}"
    "p.note{font-size:12px;color:#444;margin:0.2em 0}"
)


def html_tables(
    frame: pd.DataFrame, paper: Mapping[str, Any], preset: str, *, run: pd.DataFrame | None = None, notes: Sequence[str] = (), generalisation: pd.DataFrame | None = None
) -> str:
    """Every table of a paper as one self-contained HTML page (the workflow report embeds it), then the run's
    own models and the generalisation table, where given."""
    title = f"Paper {frame['paper'].iloc[0]}: {paper['title']}"
    parts = [f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title><style>{_HTML_STYLE}</style></head><body>"]
    parts += [f"<h1>{html.escape(title)}</h1>", f"<p>Experiment <code>{html.escape(paper['experiment'])}</code>; source <code>{html.escape(paper['file'])}</code>.</p>", *(f"<p>{html.escape(text)}</p>" for text in _preamble(frame, preset, notes))]
    for table, wide, table_notes in _tables_of(frame, paper):
        parts.append(f"<h2>{html.escape(table['name'])}: {html.escape(table['caption'])}</h2>")
        parts.append(wide.reset_index().to_html(border=0, escape=True, index=False))
        parts += [f"<p class=\"note\">{html.escape(note)}</p>" for note in table_notes]
    if run is not None and not run.empty:
        parts.append(f"<h2>Every model of this run (preset {html.escape(preset)})</h2>")
        parts.append(pd.DataFrame(_run_cells(run), columns=["model", *run.columns]).to_html(border=0, escape=True, index=False))
    if generalisation is not None:
        parts.append(f"<h2>{html.escape(_GENERALISATION_TITLE)}</h2>")
        parts.append(generalisation.reset_index().to_html(border=0, escape=True, index=False))
    parts.append("</body></html>\n")
    return "\n".join(parts)


# ----------------------------------------------------------------------------------------- stage
def build_paper_tables(
    experiment: str,
    paper: str,
    reported: str | Path = REPORTED_PATH,
    metrics: Sequence[str | Path] = (),
    bench: Sequence[str | Path] = (),
    *,
    external: Sequence[str | Path] = (),
    gpu_bench: Sequence[str | Path] = (),
    preset: str,
    out_csv: str | Path,
    out_md: str | Path | None = None,
    out_tex: str | Path | None = None,
    out_html: str | Path | None = None,
    notes: Sequence[str] = (),
) -> pd.DataFrame:
    """Rebuild a paper's tables from our artifacts and write them.

    Args:
        experiment: our experiment that reproduces the paper (checked against the YAML and the JSONs).
        paper: the paper's id in ``reported`` (``"000"``...).
        reported: the papers' numbers. Defaults to :data:`REPORTED_PATH`.
        metrics: metrics JSONs of the experiment's evaluated models. Defaults to ().
        bench: benchmark JSONs of its benchmarked models. Defaults to ().
        external: metrics JSONs of its models on external test sets (``kdseg-evaluate --dataset``, no
            split). Defaults to ().
        gpu_bench: benchmark JSONs measured on a GPU (the workflow passes ``reports/h200/*.bench.json``);
            the papers' frame rates are GPU figures, so where one is of a model of ``experiment``, its
            FPS and times stand against the paper's instead of those of ``bench``. JSONs of other
            experiments are left out. Defaults to ().
        preset: the workflow preset, named where a model did not run in it.
        out_csv: the long table, one row per printed number (:data:`COLUMNS`).
        out_md: every table in wide form as Markdown. Defaults to None (not written).
        out_tex: the same as LaTeX. Defaults to None.
        out_html: the same as an HTML page. Defaults to None.
        notes: how the preset departs from the paper and why, printed under the summary. Defaults to ().

    Returns:
        The long table.

    Raises:
        ConfigError: when ``paper`` is unknown or the YAML maps it to another experiment.
        DataError: when a JSON is missing, malformed, of another experiment, or lacks a metric asked for.
    """
    papers = load_reported(reported)
    entry = look_up_option(str(paper), papers, "paper")
    if entry["experiment"] != experiment:
        raise ConfigError(f"{reported} maps paper {paper} to experiment {entry['experiment']!r}, not {experiment!r}; check the experiment's `paper:` key in the workflow config.")
    reasons = {(table["name"], row): reason for table in entry["tables"] for row, reason in table.get("not_reproduced", {}).items()}
    own, tested = load_metrics(metrics, experiment), load_external_metrics(external, experiment)
    benches = load_benchmarks(bench, experiment) | load_gpu_benchmarks(gpu_bench, experiment)
    frame = compare_with_paper(reported_cells(papers, paper), own, benches, preset, reasons, tested)
    write_csv(frame, out_csv, float_format="%.10g")
    generalisation = generalisation_table(own, tested)
    writers = ((out_md, markdown_tables), (out_tex, latex_tables), (out_html, html_tables))
    for path, render in writers:
        if path is not None:
            write_text(path, render(frame, entry, preset, run=run_table(own), notes=notes, generalisation=generalisation))
    log.info("paper %s (%s): %d of %d printed numbers compared with ours", paper, experiment, int((frame["status"] == "ok").sum()), len(frame))
    return frame
