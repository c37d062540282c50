"""BRATS 2015 cases as DeepMedic ships them: FLAIR and T1c, z-scored, with the 5-class label map.

Kamnitsas et al., DeepMedic (https://github.com/deepmedic/deepmedic),
``examples/dataForExamples/brats2015TrainingData/{train,validation,test}/<case>/``; the data are BRATS 2015
training cases (Menze et al., IEEE TMI 34(10) 2015), intensity-normalised within the brain. Per case:

- ``Flair_subtrMeanDivStd.nii.gz`` and ``T1c_subtrMeanDivStd.nii.gz``: modalities ``flair, t1ce``;
- ``OTMultiClass.nii.gz``: labels 0-4 (convention ``brats2015``: 1 necrosis, 2 oedema, 3 non-enhancing,
  4 enhancing);
- ``brainmask.nii.gz`` and a licence file: not used.

Case folders sit in the release folder (the flattened copy in ``shared/data/brats``) or one level deeper
(DeepMedic's ``train/``, ``validation/``, ``test/``); the case id is the folder name and the ``group``.
Options: none.

Example::

    from pathlib import Path
    from kdseg.data.conversion import brats2015_deepmedic

    samples = brats2015_deepmedic.find_samples(Path("deepmedic-brats2015-3d"), {})
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kdseg.data.ingest import NIFTI_SUFFIXES, VolumeSample, iter_case_folders, nifti_file, strip_suffix

__all__ = ["EXPECTED", "LABEL_FILE", "MODALITY_FILES", "OPTIONS", "RELEASE", "find_samples", "is_release_root"]

logger = logging.getLogger(__name__)

RELEASE = "DeepMedic BRATS 2015 layout: one folder per case holding Flair_subtrMeanDivStd.nii.gz, T1c_subtrMeanDivStd.nii.gz and OTMultiClass.nii.gz"
EXPECTED = "case folders holding Flair_subtrMeanDivStd.nii.gz, T1c_subtrMeanDivStd.nii.gz and OTMultiClass.nii.gz"
OPTIONS: dict[str, Any] = {}
# modality -> file stem, in channel order
MODALITY_FILES = {"flair": "Flair_subtrMeanDivStd", "t1ce": "T1c_subtrMeanDivStd"}
LABEL_FILE = "OTMultiClass"


def _is_case(folder: Path) -> bool:
    stems = {strip_suffix(path.name, NIFTI_SUFFIXES) for path in folder.iterdir()}
    return not stems.isdisjoint({*MODALITY_FILES.values(), LABEL_FILE})


def is_release_root(folder: Path) -> bool:
    """Whether ``folder`` holds DeepMedic case folders (or groups of them)."""
    return any(iter_case_folders(folder, _is_case))


def find_samples(release: Path, options: Mapping[str, Any]) -> list[VolumeSample]:
    """One case per case folder; missing files are left for the check to report.

    Args:
        release: the folder holding the case folders.
        options: layout options (none).
    """
    samples = [
        VolumeSample(
            id=folder.name,
            images=tuple(nifti_file(folder, stem) for stem in MODALITY_FILES.values()),
            modalities=tuple(MODALITY_FILES),
            label=nifti_file(folder, LABEL_FILE),
            label_convention="brats2015",
            group=folder.name,
        )
        for folder in iter_case_folders(release, _is_case)
    ]
    logger.info("BRATS 2015 (DeepMedic): %d case folder(s) in %s", len(samples), release)
    return samples
