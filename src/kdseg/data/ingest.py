"""Ingest: find every sample of a data set, check it, and write its manifest and bad-sample report.

Each on-disk layout has a module in :mod:`kdseg.data.conversion` (as nnU-Net's ``dataset_conversion``
scripts): it knows how the release looks and lists candidate samples. This module checks every
candidate, in a pool of threads, and writes two tables (see :mod:`kdseg.data.manifest`):

- the **manifest**, one row per usable sample, sorted by id;
- the **bad-sample report** (``id, path, reason``), always written, empty when all samples are fine.

Checks of a 2D sample (image + mask):

- the image has at most ``max_image_pixels`` pixels, read from its header before it is decoded;
- the image decodes completely (a corrupt or truncated JPEG is an error);
- the mask exists, decodes, and has the image's width and height;
- the mask is black and white. JPEG masks carry compression noise around 0 and 255: they are
  thresholded at 128 and the count of pixels that were neither 0 nor 255 goes in ``mask_fixed_pixels``
  (not an error). A mask is rejected when more than :data:`MASK_MAX_AMBIGUOUS_FRACTION` (5 %) of its
  pixels are *ambiguous*: a grey level in :data:`MASK_MID_GREY` (64-191, far from both 0 and 255, where
  JPEG noise does not reach) or, for a colour file, channels that differ by more than
  :data:`MASK_MAX_CHANNEL_SPREAD` (64), e.g. a red annotation drawn on a photo. The 1000 real
  Kvasir-SEG masks have no ambiguous pixel and at most 2.1 % noisy ones.

Checks of a 3D case (modalities + label map):

- every modality and the label map exist and load as NIfTI (the whole file is decompressed, so a
  truncated ``.nii.gz`` is caught);
- the modalities are 3D (or one 4D file with one channel per modality on its last axis) and share
  shape and affine (tolerance :data:`AFFINE_TOLERANCE`, 1e-3 mm);
- the label map has the same shape and affine and only the values of its label convention
  (:data:`kdseg.data.volumes.LABEL_CONVENTIONS`).

A layout module provides:

- ``RELEASE``: a description of the release layout, quoted when the layout is not found;
- ``EXPECTED``: what marks the release folder (``"images/ and masks/ folders"``);
- ``OPTIONS``: the options it accepts, with their defaults;
- ``is_release_root(folder) -> bool``;
- ``find_samples(release, options) -> list[ImageSample] | list[VolumeSample]``.

Example::

    from pathlib import Path
    from kdseg.data.ingest import ingest

    manifest = ingest("kvasir_seg", Path("resources/datasets/kvasir_seg"),
                      Path("results/data/kvasir_seg/manifest.csv"),
                      Path("results/data/kvasir_seg/bad_samples.csv"), threads=2)
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from kdseg.data.images import DEFAULT_MAX_IMAGE_PIXELS, binarise_mask, check_image_pixels, read_rgb
from kdseg.data.manifest import BAD_SAMPLE_COLUMNS, MANIFEST_2D_COLUMNS, MANIFEST_3D_COLUMNS
from kdseg.data.volumes import LABEL_CONVENTIONS, load_nifti
from kdseg.utils.errors import ConfigError, DataError
from kdseg.utils.io import write_csv
from kdseg.utils.options import look_up_option
from kdseg.utils.progress import progress

__all__ = [
    "AFFINE_TOLERANCE",
    "IMAGE_SUFFIXES",
    "LAYOUTS",
    "MASK_MAX_AMBIGUOUS_FRACTION",
    "MASK_MAX_CHANNEL_SPREAD",
    "MASK_MID_GREY",
    "NIFTI_SUFFIXES",
    "BadSample",
    "ImageSample",
    "VolumeSample",
    "check_image_sample",
    "check_volume_sample",
    "ingest",
    "iter_case_folders",
    "list_files",
    "load_layout",
    "locate_release",
    "nifti_file",
    "pair_images_with_masks",
    "strip_suffix",
]

logger = logging.getLogger(__name__)

# layout name -> module; imported on first use, so the layout modules can import the sample types below
LAYOUTS: dict[str, str] = {
    name: f"kdseg.data.conversion.{name}" for name in ("kvasir_seg", "polypgen", "cvc", "etis_larib", "brats", "brats2015_deepmedic", "msd_brats")
}
ON_BAD_SAMPLE = ("fail", "skip")

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
NIFTI_SUFFIXES = (".nii.gz", ".nii")
# folders an archive tool adds beside the release (macOS resource forks)
_IGNORED_FOLDERS = ("__MACOSX",)

MASK_MID_GREY = (64, 191)
MASK_MAX_CHANNEL_SPREAD = 64
MASK_MAX_AMBIGUOUS_FRACTION = 0.05
AFFINE_TOLERANCE = 1e-3
# bad samples quoted in the error message; the report lists them all
_LISTED_BAD_SAMPLES = 10


@dataclass(frozen=True)
class ImageSample:
    """A candidate 2D sample as a layout found it.

    Args:
        id: unique sample id.
        image: image file.
        mask: mask file (possibly missing: the check reports it); None for a negative frame whose mask
            is empty by definition (nothing to read).
        centre: acquisition centre (PolypGen ``C1``...). Defaults to "".
        sequence: video sequence (PolypGen ``seq3``). Defaults to "".
        group: samples that must stay in one subset of a group-aware split. Defaults to the id.
    """

    id: str
    image: Path
    mask: Path | None
    centre: str = ""
    sequence: str = ""
    group: str = ""


@dataclass(frozen=True)
class VolumeSample:
    """A candidate 3D case as a layout found it.

    Args:
        id: unique case id.
        images: one NIfTI file per modality, or one 4D file whose last axis follows ``modalities``.
        modalities: modality names in channel order (``("flair", "t1", "t1ce", "t2")``).
        label: label map file (possibly missing: the check reports it).
        label_convention: key of :data:`kdseg.data.volumes.LABEL_CONVENTIONS`.
        group: cases that must stay in one subset of a group-aware split (the patient).
    """

    id: str
    images: tuple[Path, ...]
    modalities: tuple[str, ...]
    label: Path
    label_convention: str
    group: str

    def __post_init__(self) -> None:
        if len(self.images) not in (1, len(self.modalities)):
            raise ValueError(f"case {self.id}: {len(self.images)} image files for modalities {self.modalities}; give one per modality or one 4D file")
        if self.label_convention not in LABEL_CONVENTIONS:
            raise ValueError(f"case {self.id}: unknown label convention {self.label_convention!r}; known: {', '.join(LABEL_CONVENTIONS)}")

    @property
    def is_4d(self) -> bool:
        """Whether the modalities are channels of one 4D file."""
        return len(self.images) == 1 and len(self.modalities) > 1

    def named_images(self) -> list[tuple[str, Path]]:
        """(name, file) of each image file: the modality, or ``"flair,t1,..."`` for a 4D file."""
        return list(zip((",".join(self.modalities),) if self.is_4d else self.modalities, self.images))


@dataclass(frozen=True)
class BadSample:
    """A sample that cannot be used: its id, the offending file and why."""

    id: str
    path: Path
    reason: str


# --------------------------------------------------------------------------------------------------
# helpers for the layout modules


def _is_hidden(path: Path) -> bool:
    """Dot files (``.DS_Store``, macOS ``._*`` resource forks) and archive-tool folders."""
    return path.name.startswith(".") or path.name in _IGNORED_FOLDERS


def strip_suffix(name: str, suffixes: Sequence[str]) -> str:
    """``name`` without the first of ``suffixes`` it ends with (case-insensitive); unchanged if none."""
    lower = name.lower()
    for suffix in suffixes:
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return name


def list_files(folder: Path, suffixes: Sequence[str]) -> list[Path]:
    """Files of ``folder`` whose name ends with one of ``suffixes``, sorted by name.

    Hidden files are skipped; other files are left out with an info log (count and first names).
    """
    wanted, others = [], []
    for path in sorted(folder.iterdir()):
        if _is_hidden(path) or not path.is_file():
            continue
        (wanted if path.name.lower().endswith(tuple(suffixes)) else others).append(path)
    if others:
        logger.info("ignored %d file(s) in %s that are not %s (first: %s)", len(others), folder, "/".join(suffixes), ", ".join(p.name for p in others[:3]))
    return wanted


def pair_images_with_masks(images_dir: Path, masks_dir: Path, mask_stems: Callable[[str], Sequence[str]]) -> list[tuple[Path, Path]]:
    """Pair each image of ``images_dir`` with its mask in ``masks_dir``.

    Args:
        images_dir: folder of images.
        masks_dir: folder of masks; may lack some (the check reports them).
        mask_stems: mask file stems to try for an image stem, best first; when none exists the first
            one, with the image's suffix, is the expected (missing) mask.

    Masks that belong to no image are logged as a warning, never silently dropped.
    """
    masks: dict[str, Path] = {}
    if masks_dir.is_dir():
        for path in list_files(masks_dir, IMAGE_SUFFIXES):
            masks.setdefault(path.stem, path)
    pairs, used = [], set()
    for image in list_files(images_dir, IMAGE_SUFFIXES):
        stems = mask_stems(image.stem)
        mask = next((masks[stem] for stem in stems if stem in masks), masks_dir / f"{stems[0]}{image.suffix}")
        used.add(mask.stem)
        pairs.append((image, mask))
    orphans = sorted(set(masks) - used)
    if orphans:
        logger.warning("%d mask(s) in %s have no image and are not used (first: %s)", len(orphans), masks_dir, ", ".join(orphans[:3]))
    return pairs


def nifti_file(folder: Path, stem: str) -> Path:
    """``folder/<stem>.nii.gz`` or ``.nii``, whichever exists; the ``.nii.gz`` name when neither does."""
    for suffix in NIFTI_SUFFIXES:
        path = folder / f"{stem}{suffix}"
        if path.is_file():
            return path
    return folder / f"{stem}{NIFTI_SUFFIXES[0]}"


def _subfolders(folder: Path) -> list[Path]:
    return [path for path in sorted(folder.iterdir()) if path.is_dir() and not _is_hidden(path)]


def iter_case_folders(root: Path, is_case: Callable[[Path], bool]) -> Iterator[Path]:
    """Case folders directly under ``root`` or one level deeper, in sorted order.

    One level deeper covers releases that group cases (BraTS 2018's ``HGG/`` and ``LGG/``, DeepMedic's
    ``train/``, ``validation/``, ``test/``). ``any(iter_case_folders(...))`` stops at the first case.

    Args:
        root: folder to search.
        is_case: whether a folder is a case folder.
    """
    for child in _subfolders(root):
        if is_case(child):
            yield child
        else:
            yield from (grandchild for grandchild in _subfolders(child) if is_case(grandchild))


# --------------------------------------------------------------------------------------------------
# checks


def _read_mask_levels(path: Path, max_pixels: int | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Grey levels (H, W) of a mask and, for a colour file, the spread between its channels (H, W)."""
    try:
        with Image.open(path) as img:
            check_image_pixels(img, path, max_pixels)
            grey = np.asarray(img.convert("L"))
            spread = None
            if img.mode not in ("1", "L", "I", "I;16", "F"):
                rgb = np.asarray(img.convert("RGB"))
                spread = rgb.max(axis=2) - rgb.min(axis=2)
    except (OSError, ValueError, Image.DecompressionBombError) as err:
        raise DataError(f"mask {path} cannot be read: {err}") from None
    return grey, spread


def check_image_sample(sample: ImageSample, max_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS) -> dict[str, Any] | BadSample:
    """Check a 2D sample; return its manifest row, or the reason it cannot be used.

    Images and masks with more than ``max_pixels`` pixels are refused from their header, before they are
    decoded (None: no limit). Defaults to :data:`kdseg.data.images.DEFAULT_MAX_IMAGE_PIXELS`.

    Example: ``check_image_sample(ImageSample("a", Path("images/a.jpg"), Path("masks/a.jpg")))``.
    """
    try:
        image = read_rgb(sample.image, max_pixels)
    except DataError as err:
        return BadSample(sample.id, sample.image, str(err))
    height, width = image.shape[:2]
    row = {
        "id": sample.id,
        "image": sample.image.as_posix(),
        "mask": "",
        "width": width,
        "height": height,
        "centre": sample.centre,
        "sequence": sample.sequence,
        "group": sample.group or sample.id,
        "mask_fixed_pixels": 0,
    }
    if sample.mask is None:
        return row
    if not sample.mask.is_file():
        return BadSample(sample.id, sample.mask, f"mask missing: no {sample.mask.name} in {sample.mask.parent} for image {sample.image.name}")
    try:
        grey, spread = _read_mask_levels(sample.mask, max_pixels)
    except DataError as err:
        return BadSample(sample.id, sample.mask, str(err))
    if grey.shape != (height, width):
        return BadSample(sample.id, sample.mask, f"mask is {grey.shape[1]}x{grey.shape[0]} but its image is {width}x{height} (width x height)")
    low, high = MASK_MID_GREY
    ambiguous = (grey >= low) & (grey <= high)
    if spread is not None:
        ambiguous |= spread > MASK_MAX_CHANNEL_SPREAD
    fraction = float(np.count_nonzero(ambiguous)) / ambiguous.size
    if fraction > MASK_MAX_AMBIGUOUS_FRACTION:
        return BadSample(
            sample.id,
            sample.mask,
            f"mask is not black and white: {fraction:.1%} of its pixels are mid-grey ({low}-{high}) or coloured (channels differ by more "
            f"than {MASK_MAX_CHANNEL_SPREAD}); at most {MASK_MAX_AMBIGUOUS_FRACTION:.0%} may be (JPEG noise)",
        )
    row["mask"] = sample.mask.as_posix()
    row["mask_fixed_pixels"] = binarise_mask(grey)[1]
    return row


def _shape_text(shape: Sequence[int]) -> str:
    return "x".join(str(int(n)) for n in shape)


def _spacing_text(affine: np.ndarray) -> str:
    """Voxel size in mm along each array axis: the length of the affine's first three columns."""
    return "x".join(f"{round(float(s), 6):g}" for s in np.linalg.norm(affine[:3, :3], axis=0))


def _affine_difference(affine: np.ndarray, reference: np.ndarray) -> float:
    return float(np.max(np.abs(affine - reference)))


def _load_geometry(sample: VolumeSample) -> list[tuple[str, Path, tuple[int, ...], np.ndarray]] | BadSample:
    """(name, path, spatial shape, affine) of each image file, or why they cannot be used."""
    geometry = []
    for name, path in sample.named_images():
        try:
            data, affine = load_nifti(path)
        except DataError as err:
            return BadSample(sample.id, path, str(err))
        if sample.is_4d and (data.ndim != 4 or data.shape[3] != len(sample.modalities)):
            return BadSample(
                sample.id, path, f"image is {_shape_text(data.shape)}; expected a 4D volume with {len(sample.modalities)} channels ({name}) on its last axis"
            )
        if not sample.is_4d and data.ndim != 3:
            return BadSample(sample.id, path, f"{name} volume is {_shape_text(data.shape)}; expected a 3D volume")
        geometry.append((name, path, tuple(data.shape[:3]), affine))
    return geometry


def _label_problem(labels: np.ndarray, convention: str) -> str | None:
    values = np.unique(labels)
    if not np.all(np.isfinite(values)) or not np.array_equal(values, np.round(values)):
        odd = [v for v in values.tolist() if not np.isfinite(v) or v != round(v)]
        return f"label map holds non-integer values (first: {', '.join(f'{v:g}' for v in odd[:3])})"
    allowed = LABEL_CONVENTIONS[convention]["labels"]
    unknown = sorted(set(int(v) for v in values) - set(allowed))
    if unknown:
        return f"label values {', '.join(map(str, unknown))} are not in the {convention} convention (allowed: {', '.join(map(str, allowed))})"
    return None


def check_volume_sample(sample: VolumeSample) -> dict[str, Any] | BadSample:
    """Check a 3D case; return its manifest row, or the reason it cannot be used.

    Example: ``check_volume_sample(VolumeSample("c1", (Path("c1_flair.nii.gz"),), ("flair",), Path("c1_seg.nii.gz"), "brats", "c1"))``.
    """
    missing = [(name, path) for name, path in [*sample.named_images(), ("label map", sample.label)] if not path.is_file()]
    if missing:
        listed = "; ".join(f"{name} ({path.name})" for name, path in missing)
        return BadSample(sample.id, missing[0][1], f"missing in {missing[0][1].parent}: {listed}")
    geometry = _load_geometry(sample)
    if isinstance(geometry, BadSample):
        return geometry
    ref_name, _, ref_shape, ref_affine = geometry[0]
    if any(shape != ref_shape for _, _, shape, _ in geometry):
        shapes = ", ".join(f"{name} {_shape_text(shape)}" for name, _, shape, _ in geometry)
        return BadSample(sample.id, next(p for _, p, s, _ in geometry if s != ref_shape), f"modalities differ in shape: {shapes}")
    off = [(name, path, _affine_difference(affine, ref_affine)) for name, path, _, affine in geometry[1:]]
    off = [item for item in off if item[2] > AFFINE_TOLERANCE]
    if off:
        listed = ", ".join(f"{name} (by up to {diff:.3g})" for name, _, diff in off)
        return BadSample(sample.id, off[0][1], f"modalities differ in affine (tolerance {AFFINE_TOLERANCE:g}): {listed} differ from {ref_name}")
    try:
        labels, label_affine = load_nifti(sample.label)
    except DataError as err:
        return BadSample(sample.id, sample.label, str(err))
    if labels.shape != ref_shape:
        return BadSample(sample.id, sample.label, f"label map is {_shape_text(labels.shape)} but the image is {_shape_text(ref_shape)}")
    difference = _affine_difference(label_affine, ref_affine)
    if difference > AFFINE_TOLERANCE:
        return BadSample(sample.id, sample.label, f"label map affine differs from the {ref_name} affine by up to {difference:.3g} (tolerance {AFFINE_TOLERANCE:g})")
    problem = _label_problem(labels, sample.label_convention)
    if problem:
        return BadSample(sample.id, sample.label, problem)
    return {
        "id": sample.id,
        "image": ";".join(path.as_posix() for path in sample.images),
        "modalities": ",".join(sample.modalities),
        "mask": sample.label.as_posix(),
        "label_convention": sample.label_convention,
        "shape": _shape_text(ref_shape),
        "spacing": _spacing_text(ref_affine),
        "group": sample.group or sample.id,
    }


# --------------------------------------------------------------------------------------------------
# ingest


def load_layout(name: str) -> ModuleType:
    """The layout module of ``name`` (a key of :data:`LAYOUTS`).

    Raises:
        ConfigError: unknown layout, with the closest known name.
    """
    return importlib.import_module(look_up_option(name, LAYOUTS, "data set layout"))


def _layout_options(name: str, layout: ModuleType, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """The layout's defaults overridden by ``options``, each checked by name and type."""
    resolved = dict(layout.OPTIONS)
    for key, value in (options or {}).items():
        if not layout.OPTIONS:
            raise ConfigError(f"layout {name} takes no options, got {sorted(options)}; remove `options:` from the data set in workflow_config.yaml.")
        look_up_option(key, layout.OPTIONS, f"option of layout {name}")
        default = layout.OPTIONS[key]
        if type(value) is not type(default):
            raise ConfigError(f"option {key} of layout {name} must be a {type(default).__name__} (default {default!r}), got {value!r}.")
        resolved[key] = value
    return resolved


def locate_release(root: Path, layout: ModuleType) -> Path:
    """The release folder: ``root`` itself, or the single folder inside it that has the layout.

    Raises:
        DataError: ``root`` does not exist, holds several releases, or no release of the layout.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data set folder {root} does not exist; extract the release there or point --root at it.")
    if layout.is_release_root(root):
        return root
    inside = [child for child in _subfolders(root) if layout.is_release_root(child)]
    if len(inside) == 1:
        logger.info("release found in %s", inside[0])
        return inside[0]
    if inside:
        raise DataError(f"{root} holds {len(inside)} releases ({', '.join(p.name for p in inside)}); point --root at one of them.")
    raise DataError(
        f"no {layout.EXPECTED} under {root} (nor in a folder inside it); expected the {layout.RELEASE}. "
        "Point --root (the data set's `source` in workflow_config.yaml) at the extracted release."
    )


def _duplicate_ids(samples: Sequence[ImageSample | VolumeSample]) -> tuple[list[ImageSample | VolumeSample], list[BadSample]]:
    """Samples with a unique id, and a bad-sample row for each sample whose id another one shares."""
    counts = Counter(sample.id for sample in samples)
    unique = [sample for sample in samples if counts[sample.id] == 1]
    shared: dict[str, list[Path]] = {}
    for sample in samples:
        if counts[sample.id] > 1:
            shared.setdefault(sample.id, []).append(sample.image if isinstance(sample, ImageSample) else sample.images[0])
    bad = [
        BadSample(sample_id, path, f"id {sample_id} is shared by {len(paths)} samples ({', '.join(p.as_posix() for p in paths)}); rename all but one")
        for sample_id, paths in shared.items()
        for path in paths
    ]
    return unique, bad


def _check_all(samples: Sequence[ImageSample | VolumeSample], threads: int, desc: str, max_pixels: int | None) -> list[dict[str, Any] | BadSample]:
    check: Callable[[Any], dict[str, Any] | BadSample] = (
        functools.partial(check_image_sample, max_pixels=max_pixels) if isinstance(samples[0], ImageSample) else check_volume_sample
    )
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(progress(pool.map(check, samples), desc, total=len(samples), unit="sample"))


def _bad_sample_lines(report: pd.DataFrame) -> str:
    lines = [f"  {row.id}: {row.reason}" for row in report.head(_LISTED_BAD_SAMPLES).itertuples()]
    if len(report) > _LISTED_BAD_SAMPLES:
        lines.append(f"  ... and {len(report) - _LISTED_BAD_SAMPLES} more")
    return "\n".join(lines)


def ingest(
    layout: str,
    root: Path,
    out_manifest: Path,
    out_report: Path,
    *,
    on_bad_sample: str = "fail",
    options: dict | None = None,
    threads: int = 1,
    report_copy: Path | None = None,
    max_image_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS,
) -> pd.DataFrame:
    """Check every sample of a data set; write its manifest and bad-sample report.

    Args:
        layout: on-disk layout, a key of :data:`LAYOUTS`.
        root: the release folder, or a folder holding it as its single release (an extracted archive).
        out_manifest: manifest CSV to write (atomically), sorted by id.
        out_report: bad-sample CSV (``id, path, reason``) to write; always written, possibly empty.
        on_bad_sample: ``"fail"`` (raise after writing the report) or ``"skip"`` (leave bad samples out
            of the manifest). Defaults to "fail".
        options: layout options (see the layout module). Defaults to None (the layout's defaults).
        threads: samples checked in parallel. Defaults to 1.
        report_copy: a second copy of the bad-sample report that outlives a failed run, which error messages
            then point to: Snakemake deletes the outputs of a failed job, ``out_report`` included, so the
            rule gives a path beside its log. Defaults to None (``out_report`` only).
        max_image_pixels: a 2D image or mask with more pixels is a bad sample, found from its header before it is
            decoded; None for no limit. Defaults to :data:`kdseg.data.images.DEFAULT_MAX_IMAGE_PIXELS` (25 million).

    Returns:
        The manifest as written.

    Raises:
        ConfigError: unknown layout, option or ``on_bad_sample`` value; ``threads`` below 1.
        DataError: layout not found, no sample, no usable sample, or bad samples with ``"fail"``.
    """
    module = load_layout(layout)
    look_up_option(on_bad_sample, ON_BAD_SAMPLE, "on_bad_sample value")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ConfigError(f"threads must be an integer of at least 1, got {threads!r}.")
    layout_options = _layout_options(layout, module, options)
    release = locate_release(Path(root), module)
    candidates = module.find_samples(release, layout_options)
    logger.info("found %d candidate sample(s) in %s (layout %s)", len(candidates), release, layout)
    samples, bad = _duplicate_ids(candidates)
    results = _check_all(samples, threads, f"ingest {layout}", max_image_pixels) if samples else []
    rows = [result for result in results if isinstance(result, dict)]
    bad += [result for result in results if isinstance(result, BadSample)]
    report = pd.DataFrame([(b.id, b.path.as_posix(), b.reason) for b in bad], columns=list(BAD_SAMPLE_COLUMNS))
    report = report.sort_values(["id", "path"], kind="stable").reset_index(drop=True)
    write_csv(report, out_report)
    if report_copy is not None:
        write_csv(report, report_copy)
    full_list = report_copy if report_copy is not None else out_report
    logger.info("%d usable sample(s), %d bad (report: %s)", len(rows), len(bad), full_list)
    if not candidates:
        raise DataError(f"found no samples in {release}; expected the {module.RELEASE}.")
    if not rows:
        raise DataError(f"none of the {len(candidates)} samples found in {release} is usable:\n{_bad_sample_lines(report)}\nThe full list is in {full_list}.")
    if bad and on_bad_sample == "fail":
        raise DataError(
            f"{len(bad)} of the {len(candidates)} samples found in {release} are bad:\n{_bad_sample_lines(report)}\n"
            f"The full list is in {full_list}. Fix or remove them, or set on_bad_sample: skip in workflow_config.yaml to leave them out."
        )
    if bad:
        logger.warning("left %d bad sample(s) out of the manifest (on_bad_sample: skip); reasons in %s", len(bad), full_list)
    columns = MANIFEST_2D_COLUMNS if isinstance(candidates[0], ImageSample) else MANIFEST_3D_COLUMNS
    manifest = pd.DataFrame(rows, columns=list(columns)).sort_values("id", kind="stable").reset_index(drop=True)
    write_csv(manifest, out_manifest)
    logger.info("wrote the manifest of %d sample(s) to %s", len(manifest), out_manifest)
    return manifest
