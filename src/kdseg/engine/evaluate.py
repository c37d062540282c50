"""Evaluation: predict a subset (or a whole external data set) at each case's own resolution and score it.

2D masks are predicted at the training size and resized back to the image's resolution before the
MediaEval 2020 metrics (Jaccard, DSC, recall, precision, F2, accuracy) are computed; 3D cases are
written as NIfTI label maps in the data set's label convention with the input's affine, and the
regions (WT, TC, ET) *of that written map* are scored with Dice and HD95 in millimetres, as the
BraTS organisers score a submission (:mod:`kdseg.metrics.volumetric`: empty regions, HD95 pooling).
Several 3D checkpoints are scored as their averaged ensemble (paper 004's "Ensemble" row).
Outputs: a JSON of mean metrics, a CSV of per-case metrics and the predicted masks. Without a split every
sample of the manifest is scored: an external test set, such as Kvasir-SEG for a model trained on PolypGen.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from kdseg.data.images import read_mask, read_rgb, write_png
from kdseg.data.manifest import read_manifest, read_split, select_subset
from kdseg.data.volumes import label_regions, load_case, load_nifti, write_nifti
from kdseg.engine.checkpoint import load_model
from kdseg.engine.inference import model_targets, predict_image, predict_label_map
from kdseg.engine.trainer import resolve_device
from kdseg.metrics.binary import image_metrics, summarise
from kdseg.metrics.volumetric import case_metrics
from kdseg.utils.errors import DataError
from kdseg.utils.io import atomic_directory, write_csv, write_json
from kdseg.utils.progress import progress

__all__ = ["evaluate", "summarise_volumes", "voxel_spacing"]

log = logging.getLogger(__name__)


def voxel_spacing(affine: np.ndarray) -> tuple[float, float, float]:
    """Voxel edge lengths in mm from a NIfTI affine."""
    return tuple(float(v) for v in np.linalg.norm(np.asarray(affine)[:3, :3], axis=0))


def evaluate(
    checkpoint: str | Path | Sequence[str | Path],
    manifest: str | Path,
    split: str | Path | None,
    subset: str | None,
    out_metrics: str | Path,
    out_per_case: str | Path,
    out_predictions: str | Path,
    *,
    threshold: float = 0.5,
    mirror: bool = False,
    device: str = "auto",
    threads: int = 1,
    dataset: str | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """Score a trained model, or the averaged ensemble of several 3D models, on ``subset`` of a split, or
    on every sample of a data set.

    Args:
        checkpoint: ``model.pt`` written by ``kdseg-train``, or several (3D only: their probabilities are
            averaged, as paper 004's ensemble).
        manifest: manifest CSV of the data set.
        split: split CSV; None scores every sample of the manifest (the JSON's subset is ``all``).
        subset: ``train``, ``val`` or ``test``; None (required) without a split.
        out_metrics: JSON with the mean metrics and the model's identity.
        out_per_case: CSV with one row of metrics per case.
        out_predictions: folder of predicted masks (replaced atomically).
        threshold: probability threshold. Defaults to 0.5.
        mirror: average each prediction with its mirrored copies (flip test-time augmentation: 4 passes
            of a 2D image, 8 of a 3D volume); recorded in the JSON. Defaults to False.
        device: ``auto``, ``cpu`` or ``cuda``. Defaults to "auto".
        threads: CPU threads. Defaults to 1.
        dataset: the data set's name, recorded in the metrics JSON (the tables' generalisation columns
            read it). Defaults to None.
        name: the model name written in the metrics JSON. Defaults to the checkpoint's model, or
            ``ensemble`` for several.

    Raises:
        DataError: an empty subset or data set; a subset without a split, or a split without a subset.
    """
    if (split is None) != (subset is None):
        raise DataError("give a split together with its subset, or neither to score every sample of the manifest (an external test set).")
    torch.set_num_threads(max(1, threads))
    torch_device = resolve_device(device)
    checkpoints = [checkpoint] if isinstance(checkpoint, (str, Path)) else list(checkpoint)
    loaded = [load_model(c, torch_device) for c in checkpoints]
    models, meta = [m for m, _ in loaded], dict(loaded[0][1])
    if len(loaded) > 1:
        if any(m["spatial_dims"] != 3 or model_targets(m) != model_targets(meta) for _, m in loaded):
            raise DataError(f"an ensemble is scored for 3D models that predict the same targets; got {', '.join(map(str, checkpoints))}.")
        meta["model"] = "ensemble"
    if name:
        meta["model"] = name
    rows = read_manifest(manifest) if split is None else select_subset(read_manifest(manifest), read_split(split), subset)
    if rows.empty:
        where = f"the {subset!r} subset of {split}" if split is not None else f"the manifest {manifest}"
        raise DataError(f"{where} is empty; there is nothing to evaluate (pick another subset in evaluate.subset, or another data set).")
    subset = subset or "all"
    records = []
    with atomic_directory(out_predictions) as folder:
        for _, row in progress(rows.iterrows(), desc=f"evaluate {meta.get('model')}", total=len(rows), unit="case"):
            if meta["spatial_dims"] == 3:
                scores = _evaluate_volume(models, meta, row, threshold, mirror, folder, torch_device)
            else:
                scores = _evaluate_image(models[0], meta, row, threshold, mirror, folder, torch_device)
            records.append({"id": row["id"], **scores})
    per_case = pd.DataFrame(records)
    write_csv(per_case, out_per_case, float_format="%.6f")
    summary = {
        "experiment": meta.get("experiment"),
        "model": meta.get("model"),
        "arch": "+".join(m["arch"] for _, m in loaded),
        "parameters": int(sum(p.numel() for model in models for p in model.parameters())),
        "dataset": dataset,
        "subset": subset,
        "cases": len(per_case),
        "threshold": threshold,
        "mirror": mirror,
        "metrics": summarise_volumes(per_case) if meta["spatial_dims"] == 3 else summarise(per_case.drop(columns=["id"])),
    }
    write_json(out_metrics, summary)
    log.info("%s on %d %s cases: %s", meta.get("model"), len(per_case), subset, ", ".join(f"{k}={v:.4f}" for k, v in summary["metrics"].items() if isinstance(v, float)))
    return summary


def summarise_volumes(per_case: pd.DataFrame) -> dict[str, float | int]:
    """Mean of each region's Dice and HD95 over the cases where it is defined (NaN: the region is in
    neither prediction nor reference), their region means ``dice_mean`` / ``hd95_mean``, and ``n_cases``."""
    summary: dict[str, float | int] = {c: float(np.nanmean(per_case[c])) if per_case[c].notna().any() else float("nan") for c in per_case.columns if c != "id"}
    for metric in ("dice", "hd95"):
        columns = [c for c in per_case.columns if c.startswith(f"{metric}_")]
        summary[f"{metric}_mean"] = float(np.nanmean([summary[c] for c in columns]))
    summary["n_cases"] = len(per_case)
    return summary


def _evaluate_image(model: Any, meta: dict[str, Any], row: pd.Series, threshold: float, mirror: bool, folder: Path, device: torch.device) -> dict[str, float]:
    rgb = read_rgb(row["image"])
    truth = read_mask(row["mask"]).astype(bool)
    pred = predict_image(model, meta, rgb, device, mirror=mirror) >= threshold
    write_png(folder / f"{row['id']}.png", pred.astype(np.uint8) * 255)
    return image_metrics(pred, truth)


def _evaluate_volume(models: list[Any], meta: dict[str, Any], row: pd.Series, threshold: float, mirror: bool, folder: Path, device: torch.device) -> dict[str, float]:
    image, affine = load_case(row["image"])
    labels, _ = load_nifti(row["mask"])
    convention = row["label_convention"]
    written = predict_label_map(models, image, meta, convention, threshold, mirror=mirror, device=device)
    write_nifti(folder / f"{row['id']}.nii.gz", written, affine)
    return case_metrics(label_regions(written, convention), label_regions(labels, convention), voxel_spacing(affine))
