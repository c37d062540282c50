"""Figures drawn with matplotlib (Agg backend): training curves, qualitative overlays, bar charts.

Per experiment (``kdseg-figures``):

- :func:`qualitative_overlays` — for the best, median and worst case of the experiment's final model:
  the image, the ground truth and every model's prediction, drawn as outlines on the image (ground
  truth green, prediction red, as Fig. 3 of Khadka, MediaEval 2020, paper 002; the layout of Fig. 2 of
  Kang & Gwak, paper 000), then one row per external test set (its median case). 3D cases show the axial
  slice with the most tumour, region outlines WT/TC/ET.
- :func:`experiment_curves` — every model's training loss, validation metric and learning rate.
- :func:`metric_bars` — the main metrics of every model side by side (teachers and students), the
  papers' numbers as markers.
- :func:`fps_chart` — frames per second of every runtime of the benchmarked models, the papers' FPS
  as reference lines.

Every function writes a PNG atomically; the same data give the same bytes (no timestamps in the file).

Example:
    >>> metric_bars({"resunetpp": teacher_json, "kd_resunetpp": student_json}, "metrics.png", title="kd_resunetpp")
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from kdseg.utils.errors import DataError  # noqa: E402
from kdseg.utils.io import write_bytes  # noqa: E402

__all__ = [
    "ExternalSet",
    "MAIN_METRICS_2D",
    "MAIN_METRICS_3D",
    "axial_slice_with_most_tumour",
    "case_scores",
    "experiment_curves",
    "fps_chart",
    "metric_bars",
    "pick_cases",
    "qualitative_overlays",
    "save_figure",
    "training_curves",
]

# the metrics the bar chart shows: paper 000's MediaEval set in 2D, the BraTS regions in 3D
MAIN_METRICS_2D = ("jaccard", "dsc", "recall", "precision", "f2", "accuracy")
MAIN_METRICS_3D = ("dice_WT", "dice_TC", "dice_ET", "dice_mean")
GROUND_TRUTH_COLOUR = "#00c000"
PREDICTION_COLOUR = "#ff2020"
# 3D region outlines: whole tumour, tumour core, enhancing tumour
REGION_COLOURS = {"WT": "#00c000", "TC": "#ffd000", "ET": "#ff2020"}


def save_figure(fig: plt.Figure, path: str | Path, dpi: int = 120) -> None:
    """Write a figure as PNG without metadata that would change between runs, then close it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    write_bytes(path, buffer.getvalue())


def training_curves(history: pd.DataFrame, path: str | Path, title: str, monitor: str = "val_dice") -> None:
    """Loss terms, the monitored validation metric and the learning rate against the epoch."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), layout="constrained")
    epochs = history["epoch"] if "epoch" in history else range(1, len(history) + 1)
    loss_columns = [c for c in history.columns if c.startswith("train_")]
    for column in loss_columns:
        axes[0].plot(epochs, history[column], marker="o", ms=3, label=column.removeprefix("train_"))
    axes[0].set(title="training losses", xlabel="epoch", ylabel="loss")
    if loss_columns:
        axes[0].legend(fontsize=8)
    if monitor in history:
        axes[1].plot(epochs, history[monitor], marker="o", ms=3, color="tab:green")
        best = history[monitor].idxmax()
        axes[1].axvline(history["epoch"][best], color="grey", ls="--", lw=1, label=f"best {history[monitor][best]:.4f}")
        axes[1].legend(fontsize=8)
    axes[1].set(title=f"validation ({monitor})", xlabel="epoch", ylabel=monitor)
    if "lr" in history:
        axes[2].plot(epochs, history["lr"], marker="o", ms=3, color="tab:purple")
        axes[2].set_yscale("log")
    axes[2].set(title="learning rate", xlabel="epoch", ylabel="lr")
    fig.suptitle(title)
    for ax in axes:
        ax.grid(alpha=0.3)
    save_figure(fig, path)


# ----------------------------------------------------------------------------------------- qualitative
def case_scores(per_case: pd.DataFrame) -> pd.Series:
    """One overlap score per case, indexed by id: ``dsc`` (2D) or the mean of the regions' Dice (3D)."""
    if "dsc" in per_case:
        scores = per_case["dsc"]
    else:
        dice = [c for c in per_case.columns if c.startswith("dice_")]
        if not dice:
            raise DataError(f"a per-case table needs a dsc column (2D) or dice_<region> columns (3D); it has {', '.join(per_case.columns)}.")
        scores = per_case[dice].mean(axis=1, skipna=True)
    return pd.Series(scores.to_numpy(dtype=float), index=per_case["id"].astype(str))


def pick_cases(scores: pd.Series, count: int = 3) -> list[tuple[str, str]]:
    """(label, id) of the best, median and worst scored cases (``count`` cases spread evenly over the
    ranking for other counts); undefined scores are left out. Ties go to the smaller id."""
    defined = scores.dropna()
    ranked = sorted(zip(defined.to_numpy(dtype=float), defined.index.astype(str)), key=lambda item: (-item[0], item[1]))
    if not ranked:
        raise DataError("no case has a defined score; there is nothing to choose the qualitative examples by.")
    last = len(ranked) - 1
    positions = sorted({i * last // max(1, min(count, len(ranked)) - 1) for i in range(min(count, len(ranked)))})
    labels = {last // 2: "median", last: "worst", 0: "best"}
    return [(labels.get(p, f"rank {p + 1}"), ranked[p][1]) for p in positions]


def _outline(ax: plt.Axes, mask: np.ndarray, colour: str, width: float = 1.4) -> None:
    if mask.any() and not mask.all():
        ax.contour(mask.astype(np.uint8), levels=[0.5], colors=[colour], linewidths=width)


def _load_2d(row: pd.Series, predictions: Mapping[str, Path]) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, dict[str, np.ndarray]]]:
    """(image, {"": truth}, {model: {"": prediction}}) of a 2D case."""
    from kdseg.data.images import read_mask, read_rgb

    truth = {"": read_mask(row["mask"]).astype(bool)}
    preds = {model: {"": read_mask(folder / f"{row['id']}.png").astype(bool)} for model, folder in predictions.items()}
    return read_rgb(row["image"]), truth, preds


def axial_slice_with_most_tumour(regions: np.ndarray) -> int:
    """Index along the last (axial) axis of the slice with the most whole tumour (``regions[0]`` of a
    (3, X, Y, Z) stack); the lowest such index on ties, 0 when there is no tumour."""
    return int(np.argmax(regions[0].sum(axis=(0, 1))))


def _load_3d(row: pd.Series, predictions: Mapping[str, Path]) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, dict[str, np.ndarray]]]:
    """(FLAIR slice, truth regions, each model's regions) on the axial slice with the most whole tumour."""
    from kdseg.data.volumes import REGIONS, label_regions, load_case, load_nifti

    volume, _ = load_case(row["image"])
    modalities = str(row.get("modalities", "")).split(",")
    channel = modalities.index("flair") if "flair" in modalities else 0
    convention = row["label_convention"]
    truth = label_regions(load_nifti(row["mask"])[0], convention).astype(bool)
    axial = axial_slice_with_most_tumour(truth)

    def on_slice(regions: np.ndarray) -> dict[str, np.ndarray]:
        return {region: np.rot90(regions[i][:, :, axial]) for i, region in enumerate(REGIONS)}

    preds = {model: on_slice(label_regions(load_nifti(folder / f"{row['id']}.nii.gz")[0], convention).astype(bool)) for model, folder in predictions.items()}
    image = np.rot90(volume[channel][:, :, axial])
    low, high = np.percentile(image, [1, 99])
    return np.clip((image - low) / max(high - low, 1e-6), 0, 1), on_slice(truth), preds


@dataclass(frozen=True)
class ExternalSet:
    """An external test set's evaluation for the qualitative figure: its manifest, and each model's
    prediction folder and per-case metrics CSV (``kdseg-evaluate`` without a split)."""

    manifest: str | Path
    predictions: Mapping[str, str | Path]
    per_case: Mapping[str, str | Path]


def _check_model_files(models: Sequence[str], predictions: Mapping[str, str | Path], per_case: Mapping[str, str | Path], where: str) -> None:
    missing = [m for m in models if m not in per_case]
    if missing:
        raise DataError(f"no per-case metrics for {', '.join(missing)}{where}; give each model's <model>.per_case.csv.")
    absent = [f"{m} ({predictions.get(m)})" for m in models if m not in predictions or not Path(predictions[m]).is_dir()]
    if absent:
        raise DataError(f"no prediction folder for {', '.join(absent)}{where}; run kdseg-evaluate for those models first.")


def _manifest_rows(manifest: str | Path, cases: Sequence[str]) -> pd.DataFrame:
    from kdseg.data.manifest import read_manifest

    rows = read_manifest(manifest).assign(id=lambda m: m["id"].astype(str)).set_index("id", drop=False)
    unknown = [case for case in cases if case not in rows.index]
    if unknown:
        raise DataError(f"cases {', '.join(unknown)} of the per-case table are not in {manifest}; pass the manifest of the data set the models were scored on.")
    return rows


def qualitative_overlays(
    manifest: str | Path,
    predictions: Mapping[str, str | Path],
    per_case: Mapping[str, str | Path],
    out: str | Path,
    *,
    title: str,
    rank_by: str | None = None,
    count: int = 3,
    external: Mapping[str, ExternalSet] | None = None,
) -> list[str]:
    """Image, ground truth and each model's prediction for the best, median and worst case, then one
    row per external test set (its median case).

    Args:
        manifest: manifest CSV of the data set (image and mask paths).
        predictions: model -> folder of its predictions (``<id>.png`` 0/255, or ``<id>.nii.gz`` label
            maps), in the order of the figure's columns (teachers first, student last).
        per_case: model -> its per-case metrics CSV (``kdseg-evaluate``); gives the scores in the titles.
        out: PNG to write.
        title: the figure's title.
        rank_by: the model whose scores pick the cases. Defaults to the last of ``predictions``.
        count: cases of the own data set shown. Defaults to 3.
        external: data set name -> its :class:`ExternalSet`, one panel row each, in the order given
            (2D only). Defaults to None.

    Returns:
        The ids of the cases shown, best first, then the external sets' cases.

    Raises:
        DataError: when a model has no prediction folder or no per-case table, or a case is not in the manifest.
    """
    models = list(predictions)
    if not models:
        raise DataError("no model predictions given; there is nothing to show.")
    _check_model_files(models, predictions, per_case, "")
    rank_by = rank_by or models[-1]
    scores = {model: case_scores(pd.read_csv(per_case[model], dtype={"id": str})) for model in models}
    chosen = pick_cases(scores[rank_by], count)
    rows = _manifest_rows(manifest, [case for _, case in chosen])
    volumetric = "modalities" in rows.columns
    # (row label, manifest row, prediction folders, scores) of each panel row
    panel_rows = [(f"{label} ({rank_by})", rows.loc[case], {m: Path(predictions[m]) for m in models}, scores) for label, case in chosen]
    for dataset, tested in (external or {}).items():
        _check_model_files(models, tested.predictions, tested.per_case, f" on {dataset}")
        external_scores = {model: case_scores(pd.read_csv(tested.per_case[model], dtype={"id": str})) for model in models}
        picks = dict(pick_cases(external_scores[rank_by], 3))
        case = picks.get("median", next(iter(picks.values())))
        panel_rows.append((f"{dataset}: median ({rank_by})", _manifest_rows(tested.manifest, [case]).loc[case], {m: Path(tested.predictions[m]) for m in models}, external_scores))
    score_name = "mean Dice" if volumetric else "DSC"
    # 3D: one colour per region everywhere; 2D: ground truth green, prediction red, both on each prediction
    truth_colours = REGION_COLOURS if volumetric else {"": GROUND_TRUTH_COLOUR}
    prediction_colours = REGION_COLOURS if volumetric else {"": PREDICTION_COLOUR}
    columns = 2 + len(models)
    fig, axes = plt.subplots(len(panel_rows), columns, figsize=(2.6 * columns, 2.7 * len(panel_rows) + 0.8), squeeze=False, layout="constrained")
    for row_axes, (label, row, folders, row_scores) in zip(axes, panel_rows):
        case = str(row["id"])
        image, truth, preds = (_load_3d if volumetric else _load_2d)(row, folders)
        panels = [("image", []), ("ground truth", [(truth, truth_colours)])]
        context = [] if volumetric else [(truth, truth_colours)]
        panels += [(f"{m}\n{score_name} {row_scores[m].get(case, math.nan):.3f}", [*context, (preds[m], prediction_colours)]) for m in models]
        for ax, (panel_title, layers) in zip(row_axes, panels):
            ax.imshow(image, cmap="gray" if image.ndim == 2 else None, interpolation="nearest")
            for masks, colours in layers:
                for key, mask in masks.items():
                    _outline(ax, mask, colours[key])
            ax.set_title(panel_title, fontsize=9)
            ax.set(xticks=[], yticks=[])
        row_axes[0].set_ylabel(f"{label}\n{textwrap.shorten(case, 28)}", fontsize=8)
    if volumetric:
        handles = [Line2D([], [], color=colour, label=region) for region, colour in REGION_COLOURS.items()]
    else:
        handles = [Line2D([], [], color=GROUND_TRUTH_COLOUR, label="ground truth outline"), Line2D([], [], color=PREDICTION_COLOUR, label="prediction outline")]
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=9)
    tail = f"; median case of {', '.join(external)}" if external else ""
    fig.suptitle(f"{title}: best, median and worst case by {rank_by} {score_name}{tail}")
    save_figure(fig, out)
    return [str(row["id"]) for _, row, _, _ in panel_rows]


# ----------------------------------------------------------------------------------------- curves
def experiment_curves(histories: Mapping[str, str | Path], out: str | Path, *, title: str) -> None:
    """Training loss, validation metric and learning rate of every model of an experiment, one colour each.

    Args:
        histories: model -> its ``history.csv`` (``kdseg-train``: epoch, train_loss, val_<metric>, lr).
        out: PNG to write.
        title: the figure's title.
    """
    if not histories:
        raise DataError("no training histories given; there is nothing to plot.")
    fig, axes = plt.subplots(1, 3, figsize=(14, 4), layout="constrained")
    val_names = set()
    for colour, (model, path) in zip(plt.cm.tab10.colors, histories.items()):
        history = pd.read_csv(path)
        if "train_loss" not in history or "epoch" not in history:
            raise DataError(f"{path} is not a training history: it needs epoch and train_loss columns, it has {', '.join(history.columns)}.")
        axes[0].plot(history["epoch"], history["train_loss"], marker="o", ms=3, color=colour, label=model)
        val = next((c for c in history.columns if c.startswith("val_")), None)
        if val is not None:
            val_names.add(val)
            axes[1].plot(history["epoch"], history[val], marker="o", ms=3, color=colour, label=f"{model} (best {history[val].max():.3f})")
        if "lr" in history:
            axes[2].plot(history["epoch"], history["lr"], marker="o", ms=3, color=colour, label=model)
    axes[0].set(title="training loss", xlabel="epoch", ylabel="loss (total)")
    axes[1].set(title="validation", xlabel="epoch", ylabel=" / ".join(sorted(val_names)) or "validation metric")
    axes[2].set(title="learning rate", xlabel="epoch", ylabel="learning rate")
    if any(line.get_ydata().size for line in axes[2].get_lines()):
        axes[2].set_yscale("log")
    for ax in axes:
        ax.grid(alpha=0.3)
        if ax.get_lines():
            ax.legend(fontsize=8)
    fig.suptitle(title)
    save_figure(fig, out)


# ----------------------------------------------------------------------------------------- bar charts
METRIC_LABELS = {
    "jaccard": "Jaccard", "dsc": "DSC", "recall": "Recall", "precision": "Precision", "f2": "F2", "accuracy": "Accuracy",
    **{f"{m}_{r}": f"{label} {r}" for m, label in (("dice", "Dice"), ("hd95", "HD95")) for r in ("WT", "TC", "ET", "mean")},
}
_MARKERS = ("D", "^", "s", "v", "P", "X")


def _paper_markers(reported: pd.DataFrame | None, models: Sequence[str], metrics: Sequence[str]) -> pd.DataFrame:
    """The papers' numbers for these models and metrics (long table of kdseg-tables), labelled by table;
    numbers measured on an external test set are left out (the bars are the evaluation subset's)."""
    if reported is None or reported.empty:
        return pd.DataFrame(columns=["model", "metric", "paper_value", "label"])
    own = (reported["dataset"].isna() | reported["dataset"].eq("")) if "dataset" in reported.columns else True
    rows = reported[reported["model"].isin(models) & reported["metric"].isin(metrics) & own]
    return rows.assign(label="paper " + rows["paper"].astype(str).str.zfill(3) + ", " + rows["table"])[["model", "metric", "paper_value", "label"]]


def _grouped_bars(ax: plt.Axes, values: pd.DataFrame, markers: pd.DataFrame, fmt: str, styles: Mapping[str, str]) -> None:
    """Bars of ``values`` (rows: metrics, columns: models), one group per metric; the paper's numbers
    (``markers``) as black symbols on the bars of their model, one symbol per paper table (``styles``)."""
    models, metrics = list(values.columns), list(values.index)
    width = 0.8 / len(models)
    positions = np.arange(len(metrics))
    for i, (colour, model) in enumerate(zip(plt.cm.tab10.colors, models)):
        x = positions + (i - (len(models) - 1) / 2) * width
        bars = ax.bar(x, values[model].to_numpy(dtype=float), width, color=colour, label=model)
        ax.bar_label(bars, fmt=fmt, fontsize=7, padding=1)
        for mark in markers[markers["model"] == model].itertuples(index=False):
            ax.plot(x[metrics.index(mark.metric)], mark.paper_value, styles[mark.label], color="black", ms=6, mfc="white", mew=1.3)
    ax.set_xticks(positions, [METRIC_LABELS.get(m, m) for m in metrics])
    ax.grid(axis="y", alpha=0.3)


def _legend_below(fig: plt.Figure, ax: plt.Axes, styles: Mapping[str, str]) -> None:
    """One legend under the figure: what ``ax`` labelled (bars, reference lines), a symbol per paper table."""
    handles = list(ax.get_legend_handles_labels()[0])
    handles += [Line2D([], [], ls="none", marker=style, color="black", mfc="white", mew=1.3, label=label) for label, style in styles.items()]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(3, len(handles)), fontsize=8)


def metric_bars(metrics: Mapping[str, Mapping[str, Any]], out: str | Path, *, title: str, reported: pd.DataFrame | None = None) -> None:
    """Main metrics of every model of an experiment side by side, the papers' values as markers.

    Args:
        metrics: model -> its metrics JSON (``kdseg-evaluate``), in the order of the bars.
        out: PNG to write.
        title: the figure's title.
        reported: the long table of ``kdseg-tables`` (columns model, metric, paper_value, paper, table);
            its numbers for these models appear as black markers. Defaults to None.
    """
    if not metrics:
        raise DataError("no metrics JSONs given; there is nothing to plot.")
    volumetric = "dice_mean" in next(iter(metrics.values()))["metrics"]
    main = MAIN_METRICS_3D if volumetric else MAIN_METRICS_2D
    panels = [(main, "score (0–1, higher is better)", "%.3f")]
    if volumetric:
        panels.append((tuple(m.replace("dice", "hd95") for m in main), "HD95 in mm (lower is better)", "%.1f"))
    labels = {model: f"{model} ({result['parameters'] / 1e6:.2f} M parameters)" for model, result in metrics.items()}
    markers = _paper_markers(reported, list(metrics), [m for names, _, _ in panels for m in names]).replace({"model": labels})
    styles = dict(zip(sorted(set(markers["label"])), _MARKERS))
    panel_width = max(5.0, 0.5 * len(main) * len(metrics) + 2)
    fig, axes = plt.subplots(1, len(panels), figsize=(panel_width * len(panels), 4.8), squeeze=False, layout="constrained")
    for ax, (names, ylabel, fmt) in zip(axes[0], panels):
        values = pd.DataFrame({labels[m]: [r["metrics"].get(n, math.nan) for n in names] for m, r in metrics.items()}, index=list(names))
        _grouped_bars(ax, values, markers[markers["metric"].isin(names)], fmt, styles)
        ax.set_ylabel(ylabel)
        if fmt == "%.3f":
            ax.set_ylim(0, 1.08)
    _legend_below(fig, axes[0][0], styles)
    subsets = {f"{r['subset']} subset, {r['cases']} cases" for r in metrics.values()}
    fig.suptitle(f"{title}\nmain metrics on the {' / '.join(sorted(subsets))}; markers: the paper's numbers")
    save_figure(fig, out)


def fps_chart(benches: Mapping[str, Mapping[str, Any]], out: str | Path, *, title: str, reported: pd.DataFrame | None = None) -> None:
    """Frames per second of each runtime (MediaEval model-call protocol, batch 1) of the benchmarked
    models, the papers' FPS as dashed reference lines.

    Args:
        benches: model -> its benchmark JSON (``kdseg-bench-fps``).
        out: PNG to write.
        title: the figure's title.
        reported: the long table of ``kdseg-tables``; its ``fps`` rows for these models become reference
            lines. Defaults to None.
    """
    if not benches:
        raise DataError("no benchmark JSONs given; there is nothing to plot.")
    runtimes = sorted({name for b in benches.values() for name, entry in b["runtimes"].items() if entry.get("status") == "ok"})
    if not runtimes:
        raise DataError("every runtime of the benchmarks was skipped; there is no frame rate to plot.")
    values = pd.DataFrame(
        {model: [b["runtimes"].get(r, {}).get("model_call", {}).get("fps", math.nan) for r in runtimes] for model, b in benches.items()},
        index=runtimes,
    )
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(runtimes) * len(benches) + 2), 4.8), layout="constrained")
    _grouped_bars(ax, values, _paper_markers(None, [], []), "%.1f", {})
    for (label, value), style in zip(_paper_markers(reported, list(benches), ["fps"])[["label", "paper_value"]].itertuples(index=False), ("--", ":", "-.")):
        ax.axhline(value, color="black", ls=style, lw=1.2, label=f"{label}: {value:g} FPS on the paper's hardware")
    ax.set_xticks(np.arange(len(runtimes)), [textwrap.fill(r.replace("_", " "), 14) for r in runtimes], fontsize=8)
    ax.set_ylabel("frames per second (higher is better)")
    _legend_below(fig, ax, {})
    devices = {f"{'x'.join(map(str, b['size']))} input on {b['environment']['device_name']}, {b['environment']['threads']} threads" for b in benches.values()}
    fig.suptitle(f"{title}\nmodel call, batch 1 (MediaEval protocol), {' / '.join(sorted(devices))}")
    save_figure(fig, out)
