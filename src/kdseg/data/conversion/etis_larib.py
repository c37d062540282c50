"""ETIS-LaribPolypDB layout: 196 colonoscopy frames with polyp masks.

Silva et al., "Toward embedded detection of polyps in WCE images for early diagnosis of colorectal
cancer", IJCARS 9 (2014), https://polyp.grand-challenge.org/EtisLarib/: 196 frames of 1225x966 from 34
sequences (44 polyps). The release holds:

- ``ETIS-LaribPolypDB/<n>.tif``: the frames;
- ``Ground Truth/p<n>.tif``: the masks, named after their frame with a ``p`` in front (``GroundTruth/``
  in some copies; a mask named exactly as its frame is found too).

The sample id is the frame's stem; ``centre`` and ``sequence`` are empty and each frame is its own
``group`` (give the split a ``groups:`` file to keep sequences whole, see :mod:`kdseg.data.split`).
Options: none.

Example::

    from pathlib import Path
    from kdseg.data.conversion import etis_larib

    samples = etis_larib.find_samples(Path("resources/external/ETIS-LaribPolypDB"), {})
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kdseg.data.conversion.cvc import GROUND_TRUTH_FOLDERS, ground_truth_folder
from kdseg.data.ingest import ImageSample, pair_images_with_masks

__all__ = ["EXPECTED", "IMAGES_FOLDER", "OPTIONS", "RELEASE", "find_samples", "is_release_root"]

logger = logging.getLogger(__name__)

IMAGES_FOLDER = "ETIS-LaribPolypDB"
RELEASE = "ETIS-LaribPolypDB release layout: ETIS-LaribPolypDB/<n>.tif frames and Ground Truth/p<n>.tif masks side by side"
EXPECTED = "ETIS-LaribPolypDB/ and Ground Truth/ folders"
OPTIONS: dict[str, Any] = {}


def is_release_root(folder: Path) -> bool:
    """Whether ``folder`` holds ``ETIS-LaribPolypDB/`` and ``Ground Truth/`` (or ``GroundTruth/``)."""
    return (folder / IMAGES_FOLDER).is_dir() and ground_truth_folder(folder) is not None


def find_samples(release: Path, options: Mapping[str, Any]) -> list[ImageSample]:
    """One sample per frame of ``release/ETIS-LaribPolypDB``, with its mask ``p<stem>`` in ``Ground Truth/``.

    Args:
        release: the folder holding ``ETIS-LaribPolypDB/`` and ``Ground Truth/``.
        options: layout options (none).
    """
    masks = ground_truth_folder(release) or release / GROUND_TRUTH_FOLDERS[0]
    pairs = pair_images_with_masks(release / IMAGES_FOLDER, masks, lambda stem: [f"p{stem}", stem])
    logger.info("ETIS-LaribPolypDB: %d frame(s) in %s", len(pairs), release / IMAGES_FOLDER)
    return [ImageSample(id=image.stem, image=image, mask=mask, group=image.stem) for image, mask in pairs]
