"""CVC layout: CVC-ClinicDB and CVC-ColonDB, colonoscopy video frames with polyp masks.

Bernal et al., "WM-DOVA maps for accurate polyp highlighting in colonoscopy", Computerized Medical
Imaging and Graphics 43 (2015), https://polyp.grand-challenge.org/CVCClinicDB/ (CVC-ClinicDB: 612 frames
of 384x288 from 31 sequences), and Bernal et al., Pattern Recognition 45 (2012) (CVC-ColonDB: 380 frames
of 574x500 from 15 videos). Both ship as:

- ``Original/<n>.tif``: the frames (TIFF; some copies carry PNG conversions with the same stems);
- ``Ground Truth/<n>.tif``: the masks, same stem (``GroundTruth/`` in some copies).

Each frame pairs with the mask of the same stem; the sample id is that stem; ``centre`` and
``sequence`` are empty and each frame is its own ``group``. The releases do not say which video a
frame comes from: give the split a ``groups:`` file (id -> video, see :mod:`kdseg.data.split`) so that
near-duplicate frames of one video stay in one subset. Options: none.

Example::

    from pathlib import Path
    from kdseg.data.conversion import cvc

    samples = cvc.find_samples(Path("resources/external/CVC-ClinicDB"), {})
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kdseg.data.ingest import ImageSample, pair_images_with_masks

__all__ = ["EXPECTED", "GROUND_TRUTH_FOLDERS", "OPTIONS", "RELEASE", "find_samples", "ground_truth_folder", "is_release_root"]

logger = logging.getLogger(__name__)

RELEASE = "CVC-ClinicDB / CVC-ColonDB release layout: Original/<n>.tif frames and Ground Truth/<n>.tif masks side by side"
EXPECTED = "Original/ and Ground Truth/ folders"
OPTIONS: dict[str, Any] = {}
# how the mask folder is spelt across copies of the CVC and ETIS releases, best first
GROUND_TRUTH_FOLDERS = ("Ground Truth", "GroundTruth")


def ground_truth_folder(release: Path, names: Sequence[str] = GROUND_TRUTH_FOLDERS) -> Path | None:
    """The first of ``names`` that is a folder of ``release``; None when there is none."""
    return next((release / name for name in names if (release / name).is_dir()), None)


def is_release_root(folder: Path) -> bool:
    """Whether ``folder`` holds ``Original/`` and ``Ground Truth/`` (or ``GroundTruth/``)."""
    return (folder / "Original").is_dir() and ground_truth_folder(folder) is not None


def find_samples(release: Path, options: Mapping[str, Any]) -> list[ImageSample]:
    """One sample per frame of ``release/Original``, with the mask of the same stem in ``Ground Truth/``.

    Args:
        release: the folder holding ``Original/`` and ``Ground Truth/``.
        options: layout options (none).
    """
    masks = ground_truth_folder(release) or release / GROUND_TRUTH_FOLDERS[0]
    pairs = pair_images_with_masks(release / "Original", masks, lambda stem: [stem])
    logger.info("CVC: %d frame(s) in %s", len(pairs), release / "Original")
    return [ImageSample(id=image.stem, image=image, mask=mask, group=image.stem) for image, mask in pairs]
