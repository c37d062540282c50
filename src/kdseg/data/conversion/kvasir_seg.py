"""Kvasir-SEG layout: 1000 colonoscopy images with polyp masks.

Jha et al., "Kvasir-SEG: A Segmented Polyp Dataset", MMM 2020, https://datasets.simula.no/kvasir-seg/.
``kvasir-seg.zip`` holds ``Kvasir-SEG/images/<id>.jpg``, ``Kvasir-SEG/masks/<id>.jpg`` (JPEG masks, so
they carry compression noise) and ``kavsir_bboxes.json`` (bounding boxes, not used).

Each image pairs with the mask of the same stem; the sample id is that stem; ``centre`` and ``sequence``
are empty and each sample is its own ``group``. Options: none.

Example::

    from pathlib import Path
    from kdseg.data.conversion import kvasir_seg

    samples = kvasir_seg.find_samples(Path("resources/datasets/kvasir_seg/Kvasir-SEG"), {})
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kdseg.data.ingest import ImageSample, pair_images_with_masks

__all__ = ["EXPECTED", "OPTIONS", "RELEASE", "find_samples", "is_release_root"]

logger = logging.getLogger(__name__)

RELEASE = "Kvasir-SEG release layout: images/<id>.jpg and masks/<id>.jpg side by side, as in the Kvasir-SEG/ folder of kvasir-seg.zip"
EXPECTED = "images/ and masks/ folders"
OPTIONS: dict[str, Any] = {}


def is_release_root(folder: Path) -> bool:
    """Whether ``folder`` holds ``images/`` and ``masks/``."""
    return (folder / "images").is_dir() and (folder / "masks").is_dir()


def find_samples(release: Path, options: Mapping[str, Any]) -> list[ImageSample]:
    """One sample per image of ``release/images``, with the mask of the same stem in ``release/masks``.

    Args:
        release: the folder holding ``images/`` and ``masks/``.
        options: layout options (none).
    """
    pairs = pair_images_with_masks(release / "images", release / "masks", lambda stem: [stem])
    logger.info("Kvasir-SEG: %d image(s) in %s", len(pairs), release / "images")
    return [ImageSample(id=image.stem, image=image, mask=mask, group=image.stem) for image, mask in pairs]
