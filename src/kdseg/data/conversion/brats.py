"""BraTS layout: one folder per case with four MRI modalities and a label map.

Menze et al., IEEE TMI 34(10) 2015; Bakas et al., Sci Data 4:170117 (2017); https://www.synapse.org/brats2021.
Two namings are read, decided per case folder ``<case>/``:

- BraTS 2018-2021: ``<case>_{flair,t1,t1ce,t2,seg}.nii.gz``; labels 0/1/2/4 (convention ``brats``);
- BraTS 2023+: ``<case>-{t2f,t1n,t1c,t2w,seg}.nii.gz`` (same modalities in the same order); labels 0/1/2/3
  (convention ``brats2023``).

Modalities are ``flair, t1, t1ce, t2`` in that order; the case id is the folder name and the ``group``
(one patient per case). Case folders sit in the release folder or one level deeper (BraTS 2018's
``HGG/`` and ``LGG/``). ``.nii`` files are accepted as well. A release without label maps (a validation
set) gives one "missing" bad sample per case. Options: none.

Example::

    from pathlib import Path
    from kdseg.data.conversion import brats

    samples = brats.find_samples(Path("BraTS2021_Training_Data"), {})
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from kdseg.data.ingest import NIFTI_SUFFIXES, VolumeSample, iter_case_folders, nifti_file

__all__ = ["EXPECTED", "MODALITIES", "NAMINGS", "OPTIONS", "Naming", "RELEASE", "find_samples", "is_release_root"]

logger = logging.getLogger(__name__)

RELEASE = "BraTS release layout: one folder per case, <case>/<case>_{flair,t1,t1ce,t2,seg}.nii.gz (2018-2021) or <case>/<case>-{t2f,t1n,t1c,t2w,seg}.nii.gz (2023)"
EXPECTED = "case folders <case>/ holding <case>_flair.nii.gz ... <case>_seg.nii.gz"
OPTIONS: dict[str, Any] = {}
MODALITIES = ("flair", "t1", "t1ce", "t2")


class Naming(NamedTuple):
    """File naming of a BraTS edition: separator after the case id, file suffix per modality, label suffix."""

    separator: str
    modalities: tuple[str, ...]
    label: str
    convention: str


NAMINGS = (
    Naming("_", ("flair", "t1", "t1ce", "t2"), "seg", "brats"),
    Naming("-", ("t2f", "t1n", "t1c", "t2w"), "seg", "brats2023"),
)


def _naming(folder: Path) -> Naming | None:
    """The naming whose files (any of them) are in ``folder``, or None if it is not a case folder."""
    names = {path.name for path in folder.iterdir()}
    for naming in NAMINGS:
        for part in (*naming.modalities, naming.label):
            if any(f"{folder.name}{naming.separator}{part}{suffix}" in names for suffix in NIFTI_SUFFIXES):
                return naming
    return None


def is_release_root(folder: Path) -> bool:
    """Whether ``folder`` holds BraTS case folders (or groups of them)."""
    return any(iter_case_folders(folder, lambda path: _naming(path) is not None))


def find_samples(release: Path, options: Mapping[str, Any]) -> list[VolumeSample]:
    """One case per case folder; missing files are left for the check to report.

    Args:
        release: the folder holding the case folders.
        options: layout options (none).
    """
    samples = []
    for folder in iter_case_folders(release, lambda path: _naming(path) is not None):
        naming = _naming(folder)
        case = folder.name
        samples.append(
            VolumeSample(
                id=case,
                images=tuple(nifti_file(folder, f"{case}{naming.separator}{part}") for part in naming.modalities),
                modalities=MODALITIES,
                label=nifti_file(folder, f"{case}{naming.separator}{naming.label}"),
                label_convention=naming.convention,
                group=case,
            )
        )
    logger.info("BraTS: %d case folder(s) in %s", len(samples), release)
    return samples
