"""Paper tables (our numbers beside the papers') and figures (qualitative overlays, training curves,
metric bars, frame rates) built from the workflow's artifacts."""

from __future__ import annotations

from kdseg.report.figures import experiment_curves, fps_chart, metric_bars, qualitative_overlays, save_figure, training_curves
from kdseg.report.tables import REPORTED_PATH, build_paper_tables, compare_with_paper, load_reported, reported_cells, wide_table

__all__ = [
    "REPORTED_PATH",
    "build_paper_tables",
    "compare_with_paper",
    "experiment_curves",
    "fps_chart",
    "load_reported",
    "metric_bars",
    "qualitative_overlays",
    "reported_cells",
    "save_figure",
    "training_curves",
    "wide_table",
]
