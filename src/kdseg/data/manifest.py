"""The tables that connect the data stages: manifest, split, augmented-set manifest.

A **manifest** (``results/data/<dataset>/manifest.csv``) has one row per usable sample:

- 2D (polyp) data sets: ``id, image, mask, width, height, centre, sequence, group, mask_fixed_pixels``
  where ``mask_fixed_pixels`` counts mask pixels that were neither 0 nor 255 (JPEG noise) and were
  thresholded at 128.
- 3D (brain) data sets: ``id, image, modalities, mask, label_convention, shape, spacing, group``
  where ``image`` lists one NIfTI path per modality separated by ``;`` (or a single 4D file whose last
  axis follows ``modalities``), ``shape`` is ``XxYxZ`` and ``spacing`` is ``sxsysz`` in mm.

Paths are as found under the data set's root (relative to the working directory when the root is).
``group`` keeps samples together in group-aware splits: a PolypGen sequence, a BraTS patient, or the
sample id itself.

A **split** (``results/data/<dataset>/splits/<name>.csv``) has columns ``id, subset`` with subset in
:data:`SUBSETS`.

An **augmented set** (``results/<preset>/<experiment>/augmented/``) holds ``manifest.csv`` with columns
``id, source_id, copy, image, mask`` (paths relative to that folder).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from kdseg.utils.errors import DataError

__all__ = [
    "AUGMENTED_COLUMNS",
    "BAD_SAMPLE_COLUMNS",
    "MANIFEST_2D_COLUMNS",
    "MANIFEST_3D_COLUMNS",
    "SPLIT_COLUMNS",
    "SUBSETS",
    "read_table",
    "read_manifest",
    "read_split",
    "subset_ids",
    "select_subset",
]

MANIFEST_2D_COLUMNS = ("id", "image", "mask", "width", "height", "centre", "sequence", "group", "mask_fixed_pixels")
MANIFEST_3D_COLUMNS = ("id", "image", "modalities", "mask", "label_convention", "shape", "spacing", "group")
SPLIT_COLUMNS = ("id", "subset")
SUBSETS = ("train", "val", "test", "unlabelled")
AUGMENTED_COLUMNS = ("id", "source_id", "copy", "image", "mask")
BAD_SAMPLE_COLUMNS = ("id", "path", "reason")


def read_table(path: str | Path, required: Sequence[str], what: str) -> pd.DataFrame:
    """Read a CSV written by a kdseg stage and check its columns.

    ``id``-like columns are read as strings so ids such as ``007`` keep their zeros.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} {path} does not exist; run the stage that writes it (snakemake {path}).")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataError(f"{what} {path} lacks column(s) {', '.join(missing)}; it has {', '.join(frame.columns)}. Delete it and rerun the stage that writes it.")
    return frame


def read_manifest(path: str | Path) -> pd.DataFrame:
    """Read a 2D or 3D manifest (numeric columns converted)."""
    frame = read_table(path, ("id", "image", "mask", "group"), "manifest")
    for column in ("width", "height", "mask_fixed_pixels"):
        if column in frame.columns:
            frame[column] = frame[column].astype(int)
    return frame


def read_split(path: str | Path) -> pd.DataFrame:
    """Read a split file and check its subsets."""
    frame = read_table(path, SPLIT_COLUMNS, "split")
    unknown = sorted(set(frame["subset"]) - set(SUBSETS))
    if unknown:
        raise DataError(f"split {path} has unknown subset(s) {unknown}; allowed: {', '.join(SUBSETS)}.")
    return frame


def subset_ids(split: pd.DataFrame, subsets: str | Sequence[str]) -> list[str]:
    """Ids of a split that belong to ``subsets``, in split order."""
    wanted = {subsets} if isinstance(subsets, str) else set(subsets)
    return split.loc[split["subset"].isin(wanted), "id"].tolist()


def select_subset(manifest: pd.DataFrame, split: pd.DataFrame, subsets: str | Sequence[str]) -> pd.DataFrame:
    """Manifest rows of ``subsets``, in split order; an id of the split missing from the manifest is an error."""
    ids = subset_ids(split, subsets)
    indexed = manifest.set_index("id", drop=False)
    missing = [i for i in ids if i not in indexed.index]
    if missing:
        raise DataError(f"{len(missing)} id(s) of the split are not in the manifest (first: {missing[:3]}); the split was made from another manifest. Delete the split file and rerun.")
    return indexed.loc[ids].reset_index(drop=True)
