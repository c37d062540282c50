"""On-the-fly 3D training patches (papers 003 and 004): a fresh random patch every time a case is drawn.

nnU-Net and the DSD authors' MONAI pipeline never train on a fixed set of crops: each time a case
is used, a new patch is cut from it and augmented. :class:`PatchSet` does the same:

- each case is drawn ``patches_per_case`` times per epoch (one sample each);
- a draw is *foreground-centred* with probability ``foreground`` (nnU-Net's
  ``oversample_foreground_percent`` = 1/3): as nnU-Net does, a label value present in the case is
  chosen uniformly, then a voxel of that value, and the patch is centred on it (shifted inside the
  volume where it would leave it, so the voxel stays in the patch); otherwise the patch lies
  anywhere in the volume, uniformly;
- the experiment's 3D recipe (:data:`kdseg.augment.recipes.RECIPES`, ``transform``) then applies
  the paper's random changes: rotation, scaling, mirroring, contrast and shift (paper 004) or
  mirroring, intensity scale and shift (paper 003); no recipe, no changes.

Every draw takes its randomness from :func:`kdseg.utils.seed.rng_for` keyed by (seed, epoch, case,
draw), so two runs with the same seed see the same bytes whatever the number of workers, and each
epoch sees other patches. Volumes smaller than the patch are zero-padded (after the z-scoring, so
padding is the background value).

Loaded cases (z-scored image and label map) are kept in memory up to ``cache_bytes`` per process,
so small data sets are read from disk once; larger ones are read again at each draw.

Example:
    >>> patches = PatchSet(rows, size=(96, 96, 96), seed=0, recipe="dsd", targets="labels")
    >>> patches.set_epoch(3)
    >>> sample = patches[0]    # {"image": (C, 96, 96, 96), "target": (K, 96, 96, 96), "id": ...}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from kdseg.augment.recipes import RECIPES, AugmentedSample
from kdseg.data.volumes import LABEL_CONVENTIONS, label_classes, label_regions, load_case, load_nifti, zscore_nonzero
from kdseg.utils.errors import ConfigError
from kdseg.utils.options import look_up_option
from kdseg.utils.seed import rng_for

__all__ = ["TARGETS", "PatchSet", "PatchWindow", "training_targets"]

#: what a 3D network predicts: ``regions`` = one sigmoid channel per nested BraTS region (WT, TC, ET;
#: Lachinov et al., paper 004); ``labels`` = softmax over background and each label of the data set's
#: convention (the DSD authors' training, paper 003)
TARGETS = ("regions", "labels")

# nnU-Net keeps at most this many voxel positions per class to draw foreground centres from
_MAX_POSITIONS_PER_LABEL = 10_000


def training_targets(labels: np.ndarray, convention: str, targets: str) -> np.ndarray:
    """Training target of a label map (X, Y, Z): region masks (3, ...) or one-hot classes (K, ...), uint8."""
    look_up_option(targets, TARGETS, "targets")
    if targets == "regions":
        return label_regions(labels, convention)
    classes = label_classes(labels, convention)
    count = len(LABEL_CONVENTIONS[convention]["labels"])
    return (np.arange(count, dtype=np.uint8).reshape(-1, *([1] * classes.ndim)) == classes[None]).astype(np.uint8)


@dataclass(frozen=True)
class PatchWindow:
    """Where one draw cuts its patch: ``start`` voxel per axis (in the zero-padded volume) and whether
    it was centred on a labelled voxel (``centre`` is that voxel, else None)."""

    start: tuple[int, int, int]
    foreground: bool
    centre: tuple[int, int, int] | None


@dataclass
class _Case:
    image: np.ndarray  # (C, X, Y, Z) float32, z-scored, padded to at least the patch size
    labels: np.ndarray  # (X, Y, Z) uint8, the data set's values, padded alike
    positions: dict[int, np.ndarray]  # label value -> (N, 3) voxel positions to centre on


class PatchSet(Dataset):
    """Random training patches of whole 3D cases, drawn afresh at every epoch.

    Args:
        rows: 3D manifest rows (``id``, ``image``, ``mask`` or ``label_column``, ``label_convention``).
        size: patch size (X, Y, Z).
        seed: base seed of the draws.
        recipe: a 3D recipe of :data:`kdseg.augment.recipes.RECIPES` (``brats_ensemble_kd``, ``dsd``) whose
            random changes each patch gets; None for none. Defaults to None.
        foreground: share of draws centred on a labelled voxel, in [0, 1]. Defaults to 1/3 (nnU-Net).
        patches_per_case: draws of each case per epoch, >= 1. Defaults to 1.
        targets: ``regions`` or ``labels`` (see :data:`TARGETS`). Defaults to "regions".
        label_column: column holding the label map. Defaults to "mask".
        cache_bytes: memory for loaded cases per process; 0 reads every draw from disk. Defaults to 2 GiB.

    Raises:
        ConfigError: for a 2D or unknown recipe, a share outside [0, 1], or fewer than one draw per case.
    """

    def __init__(
        self,
        rows: pd.DataFrame,
        size: Sequence[int],
        seed: int,
        *,
        recipe: str | None = None,
        foreground: float = 1 / 3,
        patches_per_case: int = 1,
        targets: str = "regions",
        label_column: str = "mask",
        cache_bytes: int = 2 * 1024**3,
    ) -> None:
        if not 0.0 <= foreground <= 1.0:
            raise ConfigError(f"augment.foreground is the share of foreground-centred patches and must lie in [0, 1], got {foreground}.")
        if patches_per_case < 1:
            raise ConfigError(f"augment.patches_per_case must be at least 1, got {patches_per_case}.")
        self.recipe = None if recipe is None else look_up_option(recipe, RECIPES, "recipe")
        if self.recipe is not None and self.recipe.spatial_dims != 3:
            raise ConfigError(f"recipe {recipe!r} is a 2D recipe; 3D patches take one of {', '.join(n for n, r in RECIPES.items() if r.spatial_dims == 3)}.")
        self.rows = rows.reset_index(drop=True)
        self.size = tuple(int(s) for s in size)
        self.seed = seed
        self.foreground = float(foreground)
        self.patches_per_case = int(patches_per_case)
        self.targets = look_up_option(targets, TARGETS, "targets")
        self.label_column = label_column
        self.cache_bytes = cache_bytes
        self.epoch = 0
        self._cache: dict[int, _Case] = {}
        self._cached_bytes = 0

    def set_epoch(self, epoch: int) -> None:
        """Draw other patches in the next epoch (called by the trainer before each epoch)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.rows) * self.patches_per_case

    def _rng(self, index: int) -> np.random.Generator:
        case, draw = divmod(index, self.patches_per_case)
        return rng_for(self.seed, "patch", self.epoch, self.rows.iloc[case]["id"], draw)

    def _load(self, case: int) -> _Case:
        if case in self._cache:
            return self._cache[case]
        row = self.rows.iloc[case]
        image, _ = load_case(row["image"])
        labels, _ = load_nifti(row[self.label_column])
        image, labels = zscore_nonzero(image), np.asarray(labels).astype(np.uint8)
        pads = [(0, max(0, s - d)) for s, d in zip(self.size, labels.shape)]
        image, labels = np.pad(image, [(0, 0), *pads]), np.pad(labels, pads)
        positions = {}
        choose = rng_for(self.seed, "positions", row["id"])
        for value in np.unique(labels[labels > 0]):
            where = np.argwhere(labels == value)
            if len(where) > _MAX_POSITIONS_PER_LABEL:
                where = where[np.sort(choose.choice(len(where), _MAX_POSITIONS_PER_LABEL, replace=False))]
            positions[int(value)] = where
        loaded = _Case(image, labels, positions)
        size = image.nbytes + labels.nbytes
        if self._cached_bytes + size <= self.cache_bytes:
            self._cache[case] = loaded
            self._cached_bytes += size
        return loaded

    def window(self, index: int) -> PatchWindow:
        """Where draw ``index`` of the current epoch cuts its patch."""
        return self._window(self._load(index // self.patches_per_case), self._rng(index))

    def _window(self, case: _Case, rng: np.random.Generator) -> PatchWindow:
        shape = case.labels.shape
        if rng.random() < self.foreground and case.positions:
            values = sorted(case.positions)
            where = case.positions[values[int(rng.integers(len(values)))]]
            centre = tuple(int(v) for v in where[int(rng.integers(len(where)))])
            start = tuple(int(np.clip(c - s // 2, 0, d - s)) for c, s, d in zip(centre, self.size, shape))
            return PatchWindow(start, True, centre)
        start = tuple(int(rng.integers(0, d - s + 1)) for s, d in zip(self.size, shape))
        return PatchWindow(start, False, None)

    def __getitem__(self, index: int) -> dict[str, Any]:
        row = self.rows.iloc[index // self.patches_per_case]
        case = self._load(index // self.patches_per_case)
        rng = self._rng(index)
        window = self._window(case, rng)
        box = tuple(slice(a, a + s) for a, s in zip(window.start, self.size))
        sample = AugmentedSample(case.image[(slice(None), *box)], case.labels[box])
        if self.recipe is not None:
            sample = self.recipe.transform(sample, rng)
        target = training_targets(sample.mask, row["label_convention"], self.targets)
        return {
            "image": torch.from_numpy(np.ascontiguousarray(sample.image, dtype=np.float32)),
            "target": torch.from_numpy(np.ascontiguousarray(target, dtype=np.float32)),
            "id": f"{row['id']}__e{self.epoch}d{index % self.patches_per_case}",
        }
