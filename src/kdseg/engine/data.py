"""Datasets that feed the training loop, and the intensity normalisations shared with inference.

- :class:`AugmentedSet`: the materialised augmented training set of a 2D experiment, or its resized
  originals with augmentations drawn every epoch (``online``).
- :class:`ResizedImageSet`: original 2D images resized to the training size (validation, inference).
- :class:`VolumeSet`: whole 3D cases, z-scored, with their region masks (validation, inference);
  3D training patches are drawn on the fly by :class:`kdseg.engine.patches.PatchSet`.
- :class:`BrainSliceSet`: axial 2D slices of 3D cases as 3-channel images (paper 002's brain pre-training).

Every sample is a dict with ``image`` (float32 tensor, channels first), ``target`` (float32 region masks,
channels first) and ``id``. Randomness comes from :func:`kdseg.utils.seed.rng_for` keyed by the epoch
and the sample, so batches do not depend on the number of workers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import torch
from torch.utils.data import ConcatDataset, Dataset

from kdseg.data.images import read_mask, read_rgb
from kdseg.data.manifest import AUGMENTED_COLUMNS, read_table
from kdseg.data.volumes import label_regions, load_case, load_nifti, zscore_nonzero
from kdseg.utils.errors import DataError
from kdseg.utils.io import read_json
from kdseg.utils.options import look_up_option
from kdseg.utils.seed import rng_for

__all__ = [
    "INPUT_RANGES",
    "AugmentedSet",
    "BrainSliceSet",
    "EpochConcatDataset",
    "ResizedImageSet",
    "VolumeSet",
    "is_volumetric",
    "normalise_image",
    "resize_image",
    "resize_mask",
    "zscore_nonzero",
]

INPUT_RANGES = ("unit", "symmetric", "zscore")


def is_volumetric(manifest: pd.DataFrame) -> bool:
    """True for a 3D (brain) manifest, which lists ``modalities``."""
    return "modalities" in manifest.columns


def resize_image(image: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """Resize an (H, W[, C]) array to ``size`` = (H, W) bilinearly (as albumentations' Resize does)."""
    height, width = int(size[0]), int(size[1])
    if image.shape[:2] == (height, width):
        return image
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)


def resize_mask(mask: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """Resize an (H, W) label mask to ``size`` with nearest-neighbour interpolation."""
    height, width = int(size[0]), int(size[1])
    if mask.shape[:2] == (height, width):
        return mask
    return cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)


def normalise_image(image: np.ndarray, input_range: str) -> np.ndarray:
    """uint8 (H, W, C) -> float32 (C, H, W) in the network's input range.

    ``unit`` maps to [0, 1], ``symmetric`` to [-1, 1] (paper 002), ``zscore`` standardises each channel.
    """
    look_up_option(input_range, INPUT_RANGES, "input_range")
    chw = np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32)
    if input_range == "unit":
        return chw / 255.0
    if input_range == "symmetric":
        return chw / 127.5 - 1.0
    mean = chw.mean(axis=(1, 2), keepdims=True)
    std = chw.std(axis=(1, 2), keepdims=True)
    return (chw - mean) / np.maximum(std, 1e-6)


def _to_sample(image: np.ndarray, target: np.ndarray, sample_id: str) -> dict[str, Any]:
    return {"image": torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)), "target": torch.from_numpy(np.ascontiguousarray(target, dtype=np.float32)), "id": sample_id}


class AugmentedSet(Dataset):
    """The augmented training set of a 2D experiment, written by ``kdseg-augment`` (3D training draws its
    patches with :class:`kdseg.engine.patches.PatchSet` instead).

    A set written with ``online=True`` holds each training image once, at the training size; every epoch
    each image is then augmented afresh with its recipe's :meth:`~kdseg.augment.recipes.Recipe2D.draw`, from a
    generator seeded by (the set's seed, the recipe, the image, the epoch), so batches do not depend on the
    number of workers and two runs see the same ones.

    Args:
        folder: the augmented folder (``manifest.csv``, ``recipe.json``, ``images/``, ``masks/``).
        input_range: normalisation of the images (see :func:`normalise_image`). Defaults to "unit".
    """

    def __init__(self, folder: str | Path, input_range: str = "unit") -> None:
        self.folder = Path(folder)
        self.manifest = read_table(self.folder / "manifest.csv", AUGMENTED_COLUMNS, "augmented-set manifest")
        if self.manifest.empty:
            raise DataError(f"augmented set {self.folder} holds no samples; check the split's train subset and rerun kdseg-augment.")
        self.recipe = read_json(self.folder / "recipe.json")
        self.input_range = input_range
        self.epoch = 0
        self.recipe_draw = None
        if self.online:
            # imported here: albumentations is needed only by sets that augment on the fly
            from kdseg.augment.recipes import RECIPES

            self.recipe_draw = look_up_option(self.recipe["recipe"], RECIPES, "augmentation recipe").draw

    @property
    def size(self) -> tuple[int, ...]:
        """Spatial size of every sample, (H, W)."""
        return tuple(self.recipe["size"])

    @property
    def online(self) -> bool:
        """True when augmentations are drawn here, every epoch, rather than read from disk."""
        return bool(self.recipe.get("online", False))

    def set_epoch(self, epoch: int) -> None:
        """Draw the next epoch's augmentations (called by the trainer before each epoch)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.manifest)

    def __getitem__(self, index: int) -> dict[str, Any]:
        row = self.manifest.iloc[index]
        image, mask = read_rgb(self.folder / row["image"]), read_mask(self.folder / row["mask"])
        if self.recipe_draw is not None:
            drawn = self.recipe_draw(image, mask, rng_for(int(self.recipe["seed"]), self.recipe["recipe"], row["source_id"], "epoch", self.epoch))
            image, mask = drawn.image, drawn.mask
        return _to_sample(normalise_image(image, self.input_range), mask[None], row["id"])


class ResizedImageSet(Dataset):
    """Original 2D images and masks resized to the training size, kept in memory (validation).

    Args:
        rows: manifest rows (``id``, ``image``, ``mask``).
        size: (H, W) the network sees.
        input_range: see :func:`normalise_image`. Defaults to "unit".
    """

    def __init__(self, rows: pd.DataFrame, size: Sequence[int], input_range: str = "unit") -> None:
        self.ids = rows["id"].tolist()
        self.images = [normalise_image(resize_image(read_rgb(p), size), input_range) for p in rows["image"]]
        self.masks = [resize_mask(read_mask(p), size)[None] for p in rows["mask"]]

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return _to_sample(self.images[index], self.masks[index], self.ids[index])


class VolumeSet(Dataset):
    """Whole 3D cases, z-scored over non-zero voxels, with WT/TC/ET region targets.

    Args:
        rows: 3D manifest rows (``image``, ``modalities``, ``mask``, ``label_convention``).
        label_column: column holding the label map (``mask``, or a pseudo-label column). Defaults to "mask".
    """

    def __init__(self, rows: pd.DataFrame, label_column: str = "mask") -> None:
        self.rows = rows.reset_index(drop=True)
        self.label_column = label_column

    def __len__(self) -> int:
        return len(self.rows)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(z-scored image (C, X, Y, Z), regions (3, X, Y, Z), affine)."""
        row = self.rows.iloc[index]
        image, affine = load_case(row["image"])
        labels, _ = load_nifti(row[self.label_column])
        return zscore_nonzero(image), label_regions(labels, row["label_convention"]), affine

    def __getitem__(self, index: int) -> dict[str, Any]:
        image, regions, _ = self.load(index)
        return _to_sample(image, regions, self.rows.iloc[index]["id"])


class EpochConcatDataset(ConcatDataset):
    """A :class:`ConcatDataset` that passes :meth:`set_epoch` on to the members that have it."""

    def set_epoch(self, epoch: int) -> None:
        for dataset in self.datasets:
            if hasattr(dataset, "set_epoch"):
                dataset.set_epoch(epoch)


class BrainSliceSet(Dataset):
    """Axial slices of brain MRI cases as 3-channel 2D images with the whole-tumour mask as target.

    The brain-MRI U-Net of paper 002 was trained on 2D slices with three MR sequences as the RGB
    channels; this set rebuilds that input from a BraTS-layout data set. From each case it keeps up to
    ``slices_per_case`` slices evenly spread over the tumour's extent and half as many over the rest of
    the brain (slices without brain are skipped), stored as 8-bit images to bound memory.

    Args:
        rows: 3D manifest rows.
        size: (H, W) of the slices.
        modalities: three modality names in channel order; a modality the case lacks is replaced by one
            it has (BRATS 2015 ships FLAIR and T1c only). Defaults to ("flair", "t1ce", "t2").
        input_range: normalisation of the 8-bit slices. Defaults to "unit".
        slices_per_case: tumour slices kept per case. Defaults to 16.
    """

    def __init__(
        self,
        rows: pd.DataFrame,
        size: Sequence[int],
        modalities: Sequence[str] = ("flair", "t1ce", "t2"),
        input_range: str = "unit",
        slices_per_case: int = 16,
    ) -> None:
        self.input_range = input_range
        self.images: list[np.ndarray] = []
        self.masks: list[np.ndarray] = []
        self.ids: list[str] = []
        for _, row in rows.iterrows():
            volume, _ = load_case(row["image"])
            labels, _ = load_nifti(row["mask"])
            wt = label_regions(labels, row["label_convention"])[0]
            available = row["modalities"].split(",")
            channels = [available.index(m) if m in available else i % len(available) for i, m in enumerate(modalities)]
            brain = np.flatnonzero(np.any(volume != 0, axis=(0, 1, 2)))
            tumour = np.flatnonzero(np.any(wt, axis=(0, 1)))
            rest = np.setdiff1d(brain, tumour)
            chosen = np.union1d(_evenly(tumour, slices_per_case), _evenly(rest, max(1, slices_per_case // 2)))
            for z in chosen:
                rgb = np.stack([_to_uint8(volume[c, :, :, z]) for c in channels], axis=-1)
                self.images.append(resize_image(rgb, size))
                self.masks.append(resize_mask(wt[:, :, z], size)[None])
                self.ids.append(f"{row['id']}_z{int(z):03d}")
        if not self.ids:
            raise DataError("no brain slices were found in the pre-training cases; check the data set's volumes.")

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return _to_sample(normalise_image(self.images[index], self.input_range), self.masks[index], self.ids[index])


def _evenly(indices: np.ndarray, count: int) -> np.ndarray:
    """Up to ``count`` entries of ``indices`` spread evenly over it."""
    if len(indices) <= count:
        return indices
    return indices[np.linspace(0, len(indices) - 1, count).round().astype(int)]


def _to_uint8(plane: np.ndarray) -> np.ndarray:
    """Scale one MR slice to 8 bits between its 1st and 99th percentile of non-zero values."""
    inside = plane[plane != 0]
    if inside.size == 0:
        return np.zeros(plane.shape, np.uint8)
    low, high = np.percentile(inside, [1, 99])
    scaled = (plane - low) / max(high - low, 1e-6)
    return (np.clip(scaled, 0, 1) * 255).round().astype(np.uint8) * (plane != 0)
