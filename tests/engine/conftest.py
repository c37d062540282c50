"""Tiny 2D and 3D data sets in the layouts the trainer reads (manifest, split, 2D augmented set)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kdseg.data.images import write_png
from kdseg.data.volumes import write_nifti
from kdseg.utils.io import write_csv, write_json


def _disc(size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """An RGB image with a bright textured disc on a darker background, and its mask."""
    yy, xx = np.mgrid[:size, :size]
    cy, cx = rng.uniform(0.3, 0.7, 2) * size
    radius = rng.uniform(0.15, 0.3) * size
    mask = ((yy - cy) ** 2 + (xx - cx) ** 2 < radius**2).astype(np.uint8)
    image = rng.normal(70, 15, (size, size, 3)) + mask[..., None] * np.array([110, 60, 40])
    return np.clip(image, 0, 255).astype(np.uint8), mask


@pytest.fixture
def polyp_data(tmp_path: Path) -> dict[str, Path]:
    """12 images of 40x48 (manifest + ratio split 8/4) and their augmented training set at 32x32."""
    rng = np.random.default_rng(0)
    rows, aug_rows = [], []
    for i in range(12):
        image, mask = _disc(48, rng)
        image = image[:40]
        mask = mask[:40]
        sample_id = f"img{i:02d}"
        write_png(tmp_path / "raw" / f"{sample_id}.png", image)
        write_png(tmp_path / "raw" / f"{sample_id}_mask.png", mask * 255)
        rows.append({"id": sample_id, "image": str(tmp_path / "raw" / f"{sample_id}.png"), "mask": str(tmp_path / "raw" / f"{sample_id}_mask.png"), "width": 48, "height": 40, "centre": "", "sequence": "", "group": sample_id, "mask_fixed_pixels": 0})
        if i < 8:
            small, small_mask = _disc(32, rng)
            write_png(tmp_path / "aug" / "images" / f"{sample_id}__00.png", small)
            write_png(tmp_path / "aug" / "masks" / f"{sample_id}__00.png", small_mask * 255)
            aug_rows.append({"id": f"{sample_id}__00", "source_id": sample_id, "copy": 0, "image": f"images/{sample_id}__00.png", "mask": f"masks/{sample_id}__00.png"})
    write_csv(pd.DataFrame(rows), tmp_path / "manifest.csv")
    write_csv(pd.DataFrame({"id": [r["id"] for r in rows], "subset": ["train"] * 8 + ["val"] * 4}), tmp_path / "split.csv")
    write_csv(pd.DataFrame(aug_rows), tmp_path / "aug" / "manifest.csv")
    write_json(tmp_path / "aug" / "recipe.json", {"recipe": "test", "size": [32, 32], "copies": 1, "seed": 0})
    return {"manifest": tmp_path / "manifest.csv", "split": tmp_path / "split.csv", "augmented": tmp_path / "aug", "root": tmp_path}


@pytest.fixture
def brain_data(tmp_path: Path) -> dict[str, Path]:
    """6 cases of 2 modalities 24x24x16 (BraTS 2015 labels): 4 train, 1 val, 1 unlabelled."""
    rng = np.random.default_rng(1)
    affine = np.diag([-2.0, -2.0, 2.0, 1.0])
    rows = []
    for i in range(6):
        case = f"case{i}"
        labels = np.zeros((24, 24, 16), np.uint8)
        c = rng.integers(8, 16, 3)
        labels[c[0] - 4 : c[0] + 4, c[1] - 4 : c[1] + 4, c[2] - 3 : c[2] + 3] = 2
        labels[c[0] - 2 : c[0] + 2, c[1] - 2 : c[1] + 2, c[2] - 1 : c[2] + 1] = 4
        flair = rng.normal(100, 10, labels.shape).astype(np.float32) + 80 * (labels > 0)
        t1c = rng.normal(100, 10, labels.shape).astype(np.float32) + 80 * (labels == 4)
        paths = []
        for name, volume in (("flair", flair), ("t1c", t1c)):
            path = tmp_path / "raw" / case / f"{name}.nii.gz"
            write_nifti(path, volume, affine)
            paths.append(str(path))
        write_nifti(tmp_path / "raw" / case / "seg.nii.gz", labels, affine)
        rows.append({"id": case, "image": ";".join(paths), "modalities": "flair,t1ce", "mask": str(tmp_path / "raw" / case / "seg.nii.gz"), "label_convention": "brats2015", "shape": "24x24x16", "spacing": "2x2x2", "group": case})
    write_csv(pd.DataFrame(rows), tmp_path / "manifest.csv")
    write_csv(pd.DataFrame({"id": [r["id"] for r in rows], "subset": ["train"] * 4 + ["val", "unlabelled"]}), tmp_path / "split.csv")
    return {"manifest": tmp_path / "manifest.csv", "split": tmp_path / "split.csv", "root": tmp_path}


@pytest.fixture
def make_settings():
    """Build resolved model settings as kdseg.config.model_settings returns them."""
    return _settings


def _settings(arch: str, **overrides: object) -> dict:
    base = {
        "experiment": "test",
        "model": arch,
        "stage": "train",
        "arch": arch,
        "arch_kwargs": {},
        "trainer": "Trainer",
        "loss": {"name": "dice"},
        "teachers": [],
        "init_from": None,
        "init_checkpoint": None,
        "distill": {},
        "dataset": "test",
        "split": "test",
        "train": {"epochs": 3, "batch_size": 4, "optimizer": {"name": "adam", "lr": 1e-2}, "scheduler": {"name": "none"}, "input_range": "unit", "num_workers": 0},
        "size": [32, 32],
        "seed": 0,
    }
    return {**base, **overrides}
