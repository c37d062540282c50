"""Reading and writing 3D NIfTI volumes, and BraTS label conventions.

Label maps keep the data set's own values; :func:`label_regions` turns them into the three nested
regions every brain model predicts: whole tumour (WT), tumour core (TC), enhancing tumour (ET).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kdseg.utils.errors import DataError
from kdseg.utils.io import gzip_bytes, write_bytes

__all__ = [
    "LABEL_CONVENTIONS",
    "REGIONS",
    "class_labels",
    "label_classes",
    "label_regions",
    "load_nifti",
    "load_case",
    "regions_to_labels",
    "nifti_bytes",
    "write_nifti",
    "zscore_nonzero",
]

REGIONS = ("WT", "TC", "ET")

# label value sets of each region, per convention
LABEL_CONVENTIONS: dict[str, dict[str, tuple[int, ...]]] = {
    # BraTS 2017-2021: 1 necrotic/non-enhancing core, 2 oedema, 4 enhancing tumour
    "brats": {"WT": (1, 2, 4), "TC": (1, 4), "ET": (4,), "labels": (0, 1, 2, 4)},
    # BraTS 2023+: 1 necrotic core, 2 oedema, 3 enhancing tumour
    "brats2023": {"WT": (1, 2, 3), "TC": (1, 3), "ET": (3,), "labels": (0, 1, 2, 3)},
    # BRATS 2012-2015: 1 necrosis, 2 oedema, 3 non-enhancing, 4 enhancing
    "brats2015": {"WT": (1, 2, 3, 4), "TC": (1, 3, 4), "ET": (4,), "labels": (0, 1, 2, 3, 4)},
    # Medical Segmentation Decathlon Task01: 1 oedema, 2 non-enhancing tumour, 3 enhancing tumour
    "msd": {"WT": (1, 2, 3), "TC": (2, 3), "ET": (3,), "labels": (0, 1, 2, 3)},
}


def load_nifti(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Load a NIfTI file; return (data as float32 or integer array, 4x4 affine)."""
    import nibabel as nib  # here, not at the top: 2D stages run where nibabel is not installed (the GPU machine)

    try:
        img = nib.load(str(path))
        data = np.asanyarray(img.dataobj)
    except FileNotFoundError:
        raise DataError(f"volume {path} does not exist") from None
    except Exception as err:  # nibabel raises many types for corrupt files
        raise DataError(f"volume {path} cannot be read as NIfTI: {err}") from None
    return data, np.asarray(img.affine, dtype=np.float64)


def load_case(image: str, modalities: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Load a manifest row's ``image`` entry as (C, X, Y, Z) float32 and its affine.

    ``image`` lists one path per modality separated by ``;``, or names a single 4D file whose last
    axis holds the channels.
    """
    paths = [p for p in image.split(";") if p]
    if len(paths) == 1:
        data, affine = load_nifti(paths[0])
        if data.ndim == 4:
            return np.moveaxis(data.astype(np.float32), -1, 0), affine
        return data.astype(np.float32)[None], affine
    arrays, affine = [], None
    for path in paths:
        data, aff = load_nifti(path)
        arrays.append(data.astype(np.float32))
        affine = aff if affine is None else affine
    return np.stack(arrays), affine


def label_regions(labels: np.ndarray, convention: str) -> np.ndarray:
    """Turn a label map (X, Y, Z) into nested region masks (3, X, Y, Z) uint8 in WT, TC, ET order."""
    spec = _convention(convention)
    return np.stack([np.isin(labels, spec[r]) for r in REGIONS]).astype(np.uint8)


def label_classes(labels: np.ndarray, convention: str) -> np.ndarray:
    """Class index of every voxel of a label map: the position of its value in the convention's
    ``labels`` (background 0, then each label), as a softmax network predicts them (paper 003).

    Raises:
        DataError: for an unknown convention or a value the convention does not define.
    """
    values = _convention(convention)["labels"]
    lookup = np.full(max(values) + 1, -1, dtype=np.int16)
    lookup[list(values)] = np.arange(len(values))
    labels = np.asarray(labels)
    unknown = np.setdiff1d(np.unique(labels), values)
    if unknown.size:
        raise DataError(f"label values {unknown.tolist()} are not part of the {convention!r} convention {list(values)}")
    return lookup[labels].astype(np.uint8)


def class_labels(classes: np.ndarray, convention: str) -> np.ndarray:
    """Inverse of :func:`label_classes`: class indices → the convention's label values (uint8)."""
    return np.asarray(_convention(convention)["labels"], dtype=np.uint8)[np.asarray(classes)]


def _convention(convention: str) -> dict[str, tuple[int, ...]]:
    try:
        return LABEL_CONVENTIONS[convention]
    except KeyError:
        raise DataError(f"unknown label convention {convention!r}; known: {', '.join(LABEL_CONVENTIONS)}") from None


def regions_to_labels(regions: np.ndarray, convention: str) -> np.ndarray:
    """Turn region masks (3, ...) in WT, TC, ET order into a label map of ``convention``.

    Nesting is enforced the way BraTS pipelines write their maps (Lachinov et al.): whole tumour
    first, then core, then enhancing, each overwriting the previous.
    """
    wt, tc, et = (regions[i].astype(bool) for i in range(3))
    values = {
        "brats": (2, 1, 4),
        "brats2023": (2, 1, 3),
        "brats2015": (2, 1, 4),
        "msd": (1, 2, 3),
    }[convention]
    out = np.zeros(wt.shape, dtype=np.uint8)
    out[wt] = values[0]
    out[tc] = values[1]
    out[et] = values[2]
    return out


def nifti_bytes(data: np.ndarray, affine: np.ndarray, *, compress: bool = True) -> bytes:
    """Serialise a volume as NIfTI-1 (gzip with a zero timestamp), so equal input gives equal bytes."""
    import nibabel as nib

    img = nib.Nifti1Image(np.asarray(data), np.asarray(affine, dtype=np.float64))
    img.header.set_xyzt_units("mm", "sec")
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    raw = img.to_bytes()
    return gzip_bytes(raw) if compress else raw


def write_nifti(path: str | Path, data: np.ndarray, affine: np.ndarray | Sequence[Sequence[float]]) -> None:
    """Write a volume as ``.nii.gz`` (or ``.nii``) atomically and deterministically."""
    path = Path(path)
    write_bytes(path, nifti_bytes(data, np.asarray(affine), compress=path.name.endswith(".gz")))


def zscore_nonzero(volume: np.ndarray) -> np.ndarray:
    """Z-score each modality over its non-zero voxels; zero voxels (background) stay zero.

    Same as MONAI ``NormalizeIntensity(nonzero=True, channel_wise=True)``: a modality with zero
    standard deviation is only centred.

    Args:
        volume: ``(C, X, Y, Z)`` array.

    Returns:
        ``(C, X, Y, Z)`` float32.
    """
    out = np.zeros(volume.shape, dtype=np.float32)
    for channel, values in enumerate(volume):
        nonzero = values != 0
        if not nonzero.any():
            continue
        foreground = values[nonzero].astype(np.float64)
        std = foreground.std()
        out[channel][nonzero] = (foreground - foreground.mean()) / (std if std > 0 else 1.0)
    return out
