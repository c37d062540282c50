"""PolypGen layout: multi-centre polyp frames and video sequences (EndoCV2021/2022).

Ali et al., "A multi-centre polyp detection and segmentation dataset for generalisability assessment",
Scientific Data 10, 75 (2023), https://doi.org/10.1038/s41597-023-01981-y. The release folder
``PolypGen2021_MultiCenterData_v3/`` holds:

- ``data_C<k>/images_C<k>/<stem>.jpg`` with ``data_C<k>/masks_C<k>/<stem>_mask.jpg``: single frames of
  centre ``C<k>``; sample id ``C<k>_<stem>`` (the stem alone when it already starts with ``C<k>_``),
  ``centre`` ``C<k>``, each frame its own ``group`` ``C<k>/<stem>``;
- ``sequenceData/positive/seq<n>/images_seq<n>/<stem>.jpg`` with ``masks_seq<n>/<stem>_mask.jpg``: video
  frames; id ``seq<n>_<stem>``, ``sequence`` and ``group`` ``seq<n>`` (a video stays in one subset),
  ``centre`` empty (the release does not say);
- ``sequenceData/negativeOnly/seq<n>_neg/<stem>.jpg``: frames without polyp and without mask files, left
  out unless the option ``include_negative`` is true (then their masks are empty; id ``seq<n>_neg_<stem>``).

``imagesAll_positive/`` (copies of the frames above), the ``bbox*`` folders, ``.DS_Store``, macOS ``._*``
files and the ``.txt`` files found in some mask folders are not used. One real mask name drops a trailing
underscore of its image stem (``C3_EndoCV2021_00489_.jpg`` -> ``C3_EndoCV2021_00489_mask.jpg``): both
forms are tried.

Options: ``include_negative`` (bool). Defaults to False.

Example::

    from pathlib import Path
    from kdseg.data.conversion import polypgen

    samples = polypgen.find_samples(Path("PolypGen2021_MultiCenterData_v3"), {"include_negative": False})
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kdseg.data.ingest import IMAGE_SUFFIXES, ImageSample, list_files, pair_images_with_masks
from kdseg.utils.errors import DataError

__all__ = ["EXPECTED", "OPTIONS", "RELEASE", "find_samples", "is_release_root"]

logger = logging.getLogger(__name__)

RELEASE = (
    "PolypGen release layout (PolypGen2021_MultiCenterData_v3/): data_C<k>/images_C<k>/<stem>.jpg with "
    "data_C<k>/masks_C<k>/<stem>_mask.jpg, and sequenceData/positive/seq<n>/{images_seq<n>,masks_seq<n>}/"
)
EXPECTED = "data_C<k>/ or sequenceData/ folders"
OPTIONS: dict[str, Any] = {"include_negative": False}

_CENTRE_FOLDER = re.compile(r"data_(C\d+)")
_SEQUENCE_FOLDER = re.compile(r"seq\d+")


def is_release_root(folder: Path) -> bool:
    """Whether ``folder`` holds ``data_C<k>/`` folders or ``sequenceData/``."""
    if (folder / "sequenceData").is_dir():
        return True
    return any(path.is_dir() and _CENTRE_FOLDER.fullmatch(path.name) for path in folder.iterdir())


def _mask_stems(stem: str) -> list[str]:
    """``<stem>_mask``, and ``<stem without trailing underscores>_mask`` for the C3 naming slip."""
    return list(dict.fromkeys([f"{stem}_mask", f"{stem.rstrip('_')}_mask"]))


def _sample_id(prefix: str, stem: str) -> str:
    """``<prefix>_<stem>``, unless the stem already starts with the prefix (C3's ``C3_EndoCV2021_...``)."""
    return stem if stem.startswith(f"{prefix}_") else f"{prefix}_{stem}"


def _pairs(folder: Path, name: str) -> list[tuple[Path, Path]]:
    images = folder / f"images_{name}"
    if not images.is_dir():
        raise DataError(f"{folder} has no images_{name}/ folder; expected the {RELEASE}. Re-extract the release.")
    return pair_images_with_masks(images, folder / f"masks_{name}", _mask_stems)


def _centre_samples(release: Path) -> list[ImageSample]:
    samples = []
    for folder in sorted(release.iterdir()):
        match = _CENTRE_FOLDER.fullmatch(folder.name)
        if not (match and folder.is_dir()):
            continue
        centre = match.group(1)
        pairs = _pairs(folder, centre)
        logger.info("PolypGen centre %s: %d frame(s)", centre, len(pairs))
        samples += [
            ImageSample(_sample_id(centre, image.stem), image, mask, centre=centre, group=f"{centre}/{image.stem}") for image, mask in pairs
        ]
    return samples


def _sequence_samples(positive: Path) -> list[ImageSample]:
    samples = []
    for folder in sorted(positive.iterdir()) if positive.is_dir() else []:
        if not (folder.is_dir() and _SEQUENCE_FOLDER.fullmatch(folder.name)):
            continue
        sequence = folder.name
        pairs = _pairs(folder, sequence)
        logger.info("PolypGen sequence %s: %d frame(s)", sequence, len(pairs))
        samples += [ImageSample(_sample_id(sequence, image.stem), image, mask, sequence=sequence, group=sequence) for image, mask in pairs]
    return samples


def _negative_samples(negative: Path, include: bool) -> list[ImageSample]:
    samples = []
    for folder in sorted(negative.iterdir()) if negative.is_dir() else []:
        if not folder.is_dir() or folder.name.startswith("."):
            continue
        sequence = folder.name
        samples += [
            ImageSample(_sample_id(sequence, image.stem), image, None, sequence=sequence, group=sequence) for image in list_files(folder, IMAGE_SUFFIXES)
        ]
    if samples and not include:
        logger.info(
            "left out %d negative frame(s) of %s (no polyp, no mask); set options: {include_negative: true} to ingest them with empty masks",
            len(samples),
            negative,
        )
        return []
    return samples


def find_samples(release: Path, options: Mapping[str, Any]) -> list[ImageSample]:
    """Single frames of every centre, frames of every positive sequence, and optionally negative frames.

    Args:
        release: the ``PolypGen2021_MultiCenterData_v3`` folder.
        options: ``{"include_negative": bool}``.
    """
    sequences = release / "sequenceData"
    return [
        *_centre_samples(release),
        *_sequence_samples(sequences / "positive"),
        *_negative_samples(sequences / "negativeOnly", options.get("include_negative", OPTIONS["include_negative"])),
    ]
