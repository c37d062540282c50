"""Console commands ``kdseg-tables`` and ``kdseg-figures``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from kdseg.utils.cli import add_common_args, run_entry

__all__ = ["figures_entry", "tables_entry"]


def _named_path(text: str) -> tuple[str, Path]:
    """argparse type for ``NAME=PATH``."""
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected MODEL=PATH, got {text!r}")
    return name, Path(path)


def _by_model(pairs: Sequence[tuple[str, Path]], dataset: str) -> dict[str, Path]:
    """MODEL -> PATH of the ``DATASET:MODEL=PATH`` pairs of one data set."""
    return {key.partition(":")[2]: path for key, path in pairs if key.partition(":")[0] == dataset}


def tables_entry(argv: Sequence[str] | None = None) -> None:
    """``kdseg-tables``: a paper's tables rebuilt from our metrics and benchmarks, the paper's numbers beside ours."""
    from kdseg.report.tables import REPORTED_PATH, build_paper_tables

    parser = argparse.ArgumentParser(prog="kdseg-tables", description=tables_entry.__doc__)
    parser.add_argument("--experiment", required=True, help="[REQUIRED] our experiment that reproduces the paper (workflow_config.yaml).")
    parser.add_argument("--paper", required=True, help="[REQUIRED] the paper's id in the reported numbers (000 ... 004).")
    parser.add_argument("--preset", required=True, help="[REQUIRED] the workflow preset; models it did not run are marked 'not run in preset <name>'.")
    parser.add_argument("--out-csv", required=True, type=Path, help="[REQUIRED] long table: one row per printed number with ours, the paper's, the difference and a status.")
    parser.add_argument("--reported", type=Path, default=REPORTED_PATH, help=f"[OPTIONAL] the papers' numbers. Default: {REPORTED_PATH}.")
    parser.add_argument("--metrics", action="append", type=Path, default=[], help="[OPTIONAL] a metrics JSON of kdseg-evaluate; repeat for each model.")
    parser.add_argument("--external", action="append", type=Path, default=[], help="[OPTIONAL] a metrics JSON of kdseg-evaluate on an external test set (--dataset, no split); repeat for each model and data set.")
    parser.add_argument("--bench", action="append", type=Path, default=[], help="[OPTIONAL] a benchmark JSON of kdseg-bench-fps; repeat for each model.")
    parser.add_argument("--gpu-bench", action="append", type=Path, default=[], help="[OPTIONAL] a benchmark JSON measured on a GPU (reports/h200/); its FPS replace --bench's for the same model, other experiments' are left out. Repeatable.")
    parser.add_argument("--out-md", type=Path, help="[OPTIONAL] the tables as Markdown (ours, paper, difference side by side).")
    parser.add_argument("--out-tex", type=Path, help="[OPTIONAL] the tables as LaTeX (booktabs).")
    parser.add_argument("--out-html", type=Path, help="[OPTIONAL] the tables as an HTML page.")
    parser.add_argument("--note", action="append", default=[], help="[OPTIONAL] how the preset departs from the paper and why; repeatable.")
    add_common_args(parser)
    run_entry(
        parser,
        lambda a: build_paper_tables(
            a.experiment, a.paper, a.reported, a.metrics, a.bench, external=a.external, gpu_bench=a.gpu_bench, preset=a.preset,
            out_csv=a.out_csv, out_md=a.out_md, out_tex=a.out_tex, out_html=a.out_html, notes=a.note,
        ),
        argv,
    )


def figures_entry(argv: Sequence[str] | None = None) -> None:
    """``kdseg-figures``: an experiment's figures (qualitative overlays, training curves, metric bars, FPS chart)."""
    from kdseg.report import figures
    from kdseg.report.tables import load_benchmarks, load_metrics

    parser = argparse.ArgumentParser(prog="kdseg-figures", description=figures_entry.__doc__)
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="{qualitative,curves,metrics,fps}")

    def add_kind(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = kinds.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--title", required=True, help="[REQUIRED] the figure's title (the experiment and preset).")
        sub.add_argument("--out", required=True, type=Path, help="[REQUIRED] PNG to write.")
        add_common_args(sub)
        return sub

    qualitative = add_kind("qualitative", "Image, ground truth and every model's prediction for the best, median and worst case.")
    qualitative.add_argument("--manifest", required=True, type=Path, help="[REQUIRED] manifest CSV of the experiment's data set.")
    qualitative.add_argument("--prediction", action="append", type=_named_path, required=True, help="[REQUIRED] MODEL=FOLDER of kdseg-evaluate's predictions; repeat, in column order (student last).")
    qualitative.add_argument("--per-case", action="append", type=_named_path, required=True, help="[REQUIRED] MODEL=CSV of kdseg-evaluate's per-case metrics; repeat for each model.")
    qualitative.add_argument("--rank-by", help="[OPTIONAL] model whose scores pick the cases. Default: the last --prediction.")
    qualitative.add_argument("--cases", type=int, default=3, help="[OPTIONAL] number of cases shown. Default: 3.")
    qualitative.add_argument("--external", action="append", type=_named_path, default=[], help="[OPTIONAL] DATASET=MANIFEST of an external test set: one more panel row (its median case); repeat per data set.")
    qualitative.add_argument("--external-prediction", action="append", type=_named_path, default=[], help="[OPTIONAL] DATASET:MODEL=FOLDER of kdseg-evaluate's predictions on an external test set; one per data set and model.")
    qualitative.add_argument("--external-per-case", action="append", type=_named_path, default=[], help="[OPTIONAL] DATASET:MODEL=CSV of kdseg-evaluate's per-case metrics on an external test set; one per data set and model.")

    curves = add_kind("curves", "Training loss, validation metric and learning rate of every model.")
    curves.add_argument("--history", action="append", type=_named_path, required=True, help="[REQUIRED] MODEL=history.csv of kdseg-train; repeat for each model.")

    bars = add_kind("metrics", "Main metrics of every model side by side, the paper's numbers as markers.")
    bars.add_argument("--metrics", action="append", type=Path, required=True, help="[REQUIRED] a metrics JSON of kdseg-evaluate; repeat, in bar order.")
    bars.add_argument("--table", type=Path, help="[OPTIONAL] long table CSV of kdseg-tables, for the paper's markers.")

    fps = add_kind("fps", "Frames per second of every runtime of the benchmarked models, the paper's FPS as reference lines.")
    fps.add_argument("--bench", action="append", type=Path, required=True, help="[REQUIRED] a benchmark JSON of kdseg-bench-fps; repeat for each model.")
    fps.add_argument("--table", type=Path, help="[OPTIONAL] long table CSV of kdseg-tables, for the paper's FPS.")

    def work(a: argparse.Namespace) -> None:
        import pandas as pd

        reported = pd.read_csv(a.table, dtype={"paper": str}) if getattr(a, "table", None) else None
        if a.kind == "qualitative":
            external = {
                dataset: figures.ExternalSet(manifest, _by_model(a.external_prediction, dataset), _by_model(a.external_per_case, dataset)) for dataset, manifest in a.external
            }
            figures.qualitative_overlays(a.manifest, dict(a.prediction), dict(a.per_case), a.out, title=a.title, rank_by=a.rank_by, count=a.cases, external=external)
        elif a.kind == "curves":
            figures.experiment_curves(dict(a.history), a.out, title=a.title)
        elif a.kind == "metrics":
            figures.metric_bars(load_metrics(a.metrics), a.out, title=a.title, reported=reported)
        else:
            figures.fps_chart(load_benchmarks(a.bench), a.out, title=a.title, reported=reported)

    run_entry(parser, work, argv)
