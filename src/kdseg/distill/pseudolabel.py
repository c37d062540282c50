"""Ensemble pseudo-labels of held-out cases (paper 004).

"For model distillation, we would use the ensemble of multiple models for annotating unlabeled data
... we chose averaging of the model outputs for the ensemble." The teachers' region probabilities are
averaged, thresholded at 0.5 and written as label maps in the data set's convention, with the input's
affine, next to a manifest that the student's trainer reads like any other.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kdseg.data.manifest import read_manifest, read_split, select_subset
from kdseg.data.volumes import label_regions, load_case, write_nifti
from kdseg.engine.checkpoint import load_model
from kdseg.engine.inference import model_targets, predict_label_map
from kdseg.engine.trainer import resolve_device
from kdseg.utils.errors import ConfigError, DataError
from kdseg.utils.io import atomic_directory, write_csv, write_json
from kdseg.utils.progress import progress

__all__ = ["pseudolabel"]

log = logging.getLogger(__name__)


def pseudolabel(
    teachers: Sequence[str | Path],
    manifest: str | Path,
    split: str | Path,
    subset: str,
    out: str | Path,
    *,
    threshold: float = 0.5,
    device: str = "auto",
    threads: int = 1,
) -> dict[str, Any]:
    """Label ``subset`` of a 3D data set with the averaged teacher ensemble.

    Args:
        teachers: teacher checkpoints (at least one; all trained on the same data set).
        manifest: manifest CSV of the data set.
        split: split CSV.
        subset: the held-out subset to label (``unlabelled`` for paper 004's scheme).
        out: folder to write: ``labels/<id>.nii.gz``, ``manifest.csv`` (pointing at them), ``ensemble.json``.
        threshold: probability threshold of the averaged ensemble. Defaults to 0.5.
        device: ``auto``, ``cpu`` or ``cuda``. Defaults to "auto".
        threads: CPU threads. Defaults to 1.
    """
    if not teachers:
        raise ConfigError("pseudo-labelling needs at least one teacher checkpoint.")
    torch.set_num_threads(max(1, threads))
    torch_device = resolve_device(device)
    loaded = [load_model(p, torch_device) for p in teachers]
    models = [m for m, _ in loaded]
    metas = [meta for _, meta in loaded]
    if any(meta["spatial_dims"] != 3 for meta in metas):
        raise ConfigError("ensemble pseudo-labelling is implemented for 3D (brain) teachers, as in paper 004.")
    if len({meta["modalities"] for meta in metas}) != 1:
        raise ConfigError(f"the teachers were trained on different modalities: {[m['modalities'] for m in metas]}.")
    targets = [model_targets(meta) for meta in metas]
    if len(set(targets)) != 1:
        raise ConfigError(f"the teachers predict different targets ({targets}); their outputs cannot be averaged.")
    rows = select_subset(read_manifest(manifest), read_split(split), subset)
    if rows.empty:
        raise DataError(f"the {subset!r} subset of {split} is empty: there are no cases to pseudo-label.")
    out = Path(out)
    region_volumes = []
    with atomic_directory(out) as folder:
        labelled = rows.copy()
        for index, row in progress(list(rows.iterrows()), desc="pseudo-label", unit="case"):
            image, affine = load_case(row["image"])
            labels = predict_label_map(models, image, metas[0], row["label_convention"], threshold, device=torch_device)
            write_nifti(folder / "labels" / f"{row['id']}.nii.gz", labels, affine)
            labelled.loc[index, "mask"] = str(out / "labels" / f"{row['id']}.nii.gz")
            region_volumes.append(label_regions(labels, row["label_convention"]).reshape(3, -1).sum(1))
        write_csv(labelled, folder / "manifest.csv")
        summary = {
            "teachers": [str(p) for p in teachers],
            "architectures": [meta["arch"] for meta in metas],
            "subset": subset,
            "cases": len(rows),
            "threshold": threshold,
            "mean_region_voxels": dict(zip(("WT", "TC", "ET"), np.mean(region_volumes, axis=0).round(1).tolist())),
        }
        write_json(folder / "ensemble.json", summary)
    log.info("pseudo-labelled %d %s cases with an ensemble of %d teachers", len(rows), subset, len(models))
    return summary
