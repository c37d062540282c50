"""Medical Segmentation Decathlon Task01_BrainTumour layout: 4D multi-modal volumes and label maps.

Antonelli et al., "The Medical Segmentation Decathlon", Nat Commun 13, 4128 (2022), http://medicaldecathlon.com/.
``Task01_BrainTumour.tar`` holds ``Task01_BrainTumour/``:

- ``imagesTr/BRATS_<nnn>.nii.gz``: one 4D volume per case, last axis FLAIR, T1w, T1gd, T2w (modalities
  ``flair, t1, t1ce, t2``);
- ``labelsTr/BRATS_<nnn>.nii.gz``: labels 0/1/2/3 (convention ``msd``: 1 oedema, 2 non-enhancing tumour,
  3 enhancing tumour);
- ``imagesTs/`` (no labels) and ``dataset.json``: not used; the tar also carries macOS ``._*`` files,
  which are skipped.

The case id is the file name without ``.nii.gz`` and the ``group``. Options: none.

Example::

    from pathlib import Path
    from kdseg.data.conversion import msd_brats

    samples = msd_brats.find_samples(Path("Task01_BrainTumour"), {})
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kdseg.data.ingest import NIFTI_SUFFIXES, VolumeSample, list_files, strip_suffix

__all__ = ["EXPECTED", "MODALITIES", "OPTIONS", "RELEASE", "find_samples", "is_release_root"]

logger = logging.getLogger(__name__)

RELEASE = "MSD Task01_BrainTumour layout: imagesTr/BRATS_<nnn>.nii.gz (4D) with labelsTr/BRATS_<nnn>.nii.gz"
EXPECTED = "imagesTr/ and labelsTr/ folders"
OPTIONS: dict[str, Any] = {}
MODALITIES = ("flair", "t1", "t1ce", "t2")


def is_release_root(folder: Path) -> bool:
    """Whether ``folder`` holds ``imagesTr/`` and ``labelsTr/``."""
    return (folder / "imagesTr").is_dir() and (folder / "labelsTr").is_dir()


def find_samples(release: Path, options: Mapping[str, Any]) -> list[VolumeSample]:
    """One case per volume of ``imagesTr``, with the label map of the same name in ``labelsTr``.

    Args:
        release: the ``Task01_BrainTumour`` folder.
        options: layout options (none).
    """
    images = list_files(release / "imagesTr", NIFTI_SUFFIXES)
    samples = [
        VolumeSample(
            id=strip_suffix(path.name, NIFTI_SUFFIXES),
            images=(path,),
            modalities=MODALITIES,
            label=release / "labelsTr" / path.name,
            label_convention="msd",
            group=strip_suffix(path.name, NIFTI_SUFFIXES),
        )
        for path in images
    ]
    orphans = sorted({p.name for p in list_files(release / "labelsTr", NIFTI_SUFFIXES)} - {p.name for p in images})
    if orphans:
        logger.warning("%d label map(s) in %s have no image and are not used (first: %s)", len(orphans), release / "labelsTr", ", ".join(orphans[:3]))
    test = release / "imagesTs"
    if test.is_dir():
        logger.info("left out %d unlabelled case(s) of %s", len(list_files(test, NIFTI_SUFFIXES)), test)
    logger.info("MSD BrainTumour: %d case(s) in %s", len(samples), release / "imagesTr")
    return samples
