"""Tiny data sets, checkpoints and ONNX files shared by the export, bench and submit tests.

``TINY`` gives every registered architecture a configuration small enough for a busy 2-core machine; a
family registered without an entry here makes :func:`tiny_model` fail, so new families get tested.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from kdseg.data.images import write_png
from kdseg.data.volumes import write_nifti
from kdseg.engine.checkpoint import save_model
from kdseg.models import MODEL_ARCHITECTURES, SegmentationModel, create_model, get_model_class
from kdseg.utils.io import write_csv

# architecture -> constructor arguments of a tiny network
TINY: dict[str, dict[str, Any]] = {
    "resunetpp": {"filters": [8, 12, 16, 20, 24]},
    "unet": {"features": 4},
    "attention_unet": {"features": 4},
    "unet_epsa": {"features": 4},
    "unet_epsa_separable": {"features": 4},
    "unet3d": {"in_channels": 2, "features": 4, "depth": 2},
    "resunet3d": {"in_channels": 2, "features": 8, "blocks_down": [1, 1, 1], "blocks_up": [1, 1]},
    "cascaded_unet3d": {"in_channels": 2, "features": 4, "depth": 2, "stage1_features": 4, "stage1_depth": 1},
    "dynunet": {"in_channels": 2, "filters": [4, 8, 16]},
    "unetr": {"in_channels": 2, "img_size": 16, "feature_size": 4, "hidden_size": 16, "mlp_dim": 16, "num_heads": 2},
}
SIZE_2D = [32, 32]
SIZE_3D = [16, 16, 16]
AFFINE = np.diag([-2.0, -2.0, 2.0, 1.0])
# image sizes (H, W) of the polyp set: not the training size, and not all alike
IMAGE_SIZES = [(40, 48), (36, 44), (40, 48), (30, 30), (40, 48), (44, 36)]


def registered_families() -> list[Any]:
    """pytest parameters, one per registered architecture; skipped while its module is not importable."""
    params = []
    for arch in sorted(MODEL_ARCHITECTURES):
        try:
            get_model_class(arch)
            params.append(pytest.param(arch, id=arch))
        except ImportError as err:
            params.append(pytest.param(arch, id=arch, marks=pytest.mark.skip(reason=f"model module of {arch!r} is not importable yet: {err}")))
    return params


def tiny_model(arch: str) -> SegmentationModel:
    """A tiny, seeded, eval-mode network of ``arch`` whose BatchNorm statistics are not the identity."""
    assert arch in TINY, f"add a tiny configuration of the new architecture {arch!r} to tests/export/_helpers.py TINY"
    torch.manual_seed(0)
    model = create_model(arch, **TINY[arch])
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return model.eval()


def save_tiny_checkpoint(path: Path, arch: str) -> Path:
    """Write a checkpoint of a tiny ``arch`` with the meta the trainer writes."""
    model = tiny_model(arch)
    meta: dict[str, Any] = {"experiment": "exp", "model": f"tiny_{arch}", "stage": "train", "trainer": "Trainer", "spatial_dims": model.spatial_dims}
    if model.spatial_dims == 2:
        meta |= {"input_range": "unit", "size": SIZE_2D}
    else:
        meta |= {"input_range": "zscore", "size": SIZE_3D, "modalities": "flair,t1ce", "label_convention": "brats2015"}
    save_model(path, model, arch, meta)
    return path


def polyp_image(height: int, width: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """An RGB image with a bright disc, and the disc's mask."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:height, :width]
    mask = ((yy - height / 2) ** 2 + (xx - width / 2) ** 2 < (min(height, width) / 3) ** 2).astype(np.uint8)
    image = rng.normal(70, 15, (height, width, 3)) + mask[..., None] * np.array([110, 60, 40])
    return np.clip(image, 0, 255).astype(np.uint8), mask


def make_polyp_data(root: Path, centres: list[str] | None = None) -> dict[str, Path]:
    """Six JPEG/PNG images of several sizes, a manifest and a split (2 train, 4 val)."""
    rows = []
    for i, (height, width) in enumerate(IMAGE_SIZES):
        image, mask = polyp_image(height, width, i)
        sample = f"img{i}"
        suffix = ".png" if i % 2 else ".jpg"
        image_path = root / "raw" / f"{sample}{suffix}"
        image_path.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".jpg":
            Image.fromarray(image).save(image_path, quality=95)
        else:
            write_png(image_path, image)
        write_png(root / "raw" / f"{sample}_mask.png", mask * 255)
        centre = centres[i] if centres else ""
        rows.append({"id": sample, "image": str(image_path), "mask": str(root / "raw" / f"{sample}_mask.png"), "width": width, "height": height, "centre": centre, "sequence": "", "group": sample, "mask_fixed_pixels": 0})
    write_csv(pd.DataFrame(rows), root / "manifest.csv")
    write_csv(pd.DataFrame({"id": [r["id"] for r in rows], "subset": ["train", "train", "val", "val", "val", "val"]}), root / "split.csv")
    return {"manifest": root / "manifest.csv", "split": root / "split.csv", "root": root}


def brain_case(seed: int, shape: tuple[int, int, int] = (24, 24, 16)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(FLAIR, T1c, BRATS 2015 labels) of a synthetic case with a tumour and a zero background border."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, np.uint8)
    c = np.array(shape) // 2
    labels[c[0] - 4 : c[0] + 4, c[1] - 4 : c[1] + 4, c[2] - 3 : c[2] + 3] = 2
    labels[c[0] - 2 : c[0] + 2, c[1] - 2 : c[1] + 2, c[2] - 1 : c[2] + 1] = 4
    brain = np.zeros(shape, bool)
    brain[2:-2, 2:-2, 1:-1] = True
    flair = (rng.normal(100, 10, shape) + 80 * (labels > 0)) * brain
    t1c = (rng.normal(100, 10, shape) + 80 * (labels == 4)) * brain
    return flair.astype(np.float32), t1c.astype(np.float32), labels


def make_brain_data(root: Path) -> dict[str, Path]:
    """Four 2-modality cases 24x24x16 (BRATS 2015 labels), a manifest and a split (1 train, 2 val, 1 test)."""
    rows = []
    for i in range(4):
        case = f"case{i}"
        flair, t1c, labels = brain_case(i)
        paths = []
        for name, volume in (("flair", flair), ("t1c", t1c)):
            path = root / "raw" / case / f"{name}.nii.gz"
            write_nifti(path, volume, AFFINE)
            paths.append(str(path))
        write_nifti(root / "raw" / case / "seg.nii.gz", labels, AFFINE)
        rows.append({"id": case, "image": ";".join(paths), "modalities": "flair,t1ce", "mask": str(root / "raw" / case / "seg.nii.gz"), "label_convention": "brats2015", "shape": "24x24x16", "spacing": "2x2x2", "group": case})
    write_csv(pd.DataFrame(rows), root / "manifest.csv")
    write_csv(pd.DataFrame({"id": [r["id"] for r in rows], "subset": ["train", "val", "val", "test"]}), root / "split.csv")
    return {"manifest": root / "manifest.csv", "split": root / "split.csv", "root": root}


def exported(root: Path, arch: str, data: dict[str, Path]) -> dict[str, Path]:
    """A tiny checkpoint of ``arch`` and its ONNX export (through the export stage itself)."""
    from kdseg.export.onnx import export_onnx

    checkpoint = save_tiny_checkpoint(root / f"{arch}.pt", arch)
    export_onnx(checkpoint, data["manifest"], data["split"], root / f"{arch}.onnx", root / f"{arch}.parity.json", cases=2)
    return {"checkpoint": checkpoint, "onnx": root / f"{arch}.onnx", "parity": root / f"{arch}.parity.json"}


@pytest.fixture(scope="module")
def polyp_model(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The polyp data set and a tiny exported U-Net, shared by a test module."""
    root = tmp_path_factory.mktemp("polyp")
    data = make_polyp_data(root)
    return data | exported(root, "unet", data)


@pytest.fixture(scope="module")
def brain_model(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The brain data set and a tiny exported 3D U-Net, shared by a test module."""
    root = tmp_path_factory.mktemp("brain")
    data = make_brain_data(root)
    return data | exported(root, "unet3d", data)
