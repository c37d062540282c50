"""Synthetic demo data sets in the on-disk layouts of the real releases.

The demo preset runs the whole workflow on data written here, so the same ingest code reads the demo
and the real data sets. Each generator imitates one release closely enough for that to hold:

- ``kvasir_seg``: Kvasir-SEG (https://datasets.simula.no/kvasir-seg/), ``Kvasir-SEG/images/<id>.jpg``,
  ``Kvasir-SEG/masks/<id>.jpg`` and ``Kvasir-SEG/kavsir_bboxes.json``; images of varied sizes; masks are
  JPEG too, so they carry compression noise around 0 and 255 as the real ones do.
- ``polypgen``: PolypGen2021_MultiCenterData_v3 (Ali et al., https://doi.org/10.1038/s41597-023-01981-y),
  single frames from three centres with a colour cast each, positive video sequences (one scene, the
  camera panning slowly, so the polyp moves a little from frame to frame) and one negative sequence
  without masks.
- ``cvc``: CVC-ClinicDB / CVC-ColonDB (https://polyp.grand-challenge.org/CVCClinicDB/),
  ``CVC-ClinicDB/Original/<n>.tif`` and ``CVC-ClinicDB/Ground Truth/<n>.tif``: frames of a few short
  videos numbered in order, as the real release numbers its sequences' frames one after the other.
- ``etis_larib``: ETIS-LaribPolypDB (https://polyp.grand-challenge.org/EtisLarib/),
  ``ETIS-LaribPolypDB/ETIS-LaribPolypDB/<n>.tif`` and ``ETIS-LaribPolypDB/Ground Truth/p<n>.tif``.
- ``brats``: BraTS 2021 training data (https://www.synapse.org/brats2021), one folder per case with
  FLAIR, T1, T1ce, T2 and a 0/1/2/4 label map, small volumes (48x48x36 voxels of 4 mm) stored LPS
  like the real files.

Every image holds learnable signal: polyps are textured, dome-lit blobs with an irregular boundary,
paler than the mucosa-like background (pinkish texture, vignetting, specular highlights), but the
vignetting and per-image colour jitter keep a single colour threshold from separating them; brain
tumours show as hyperintense oedema in FLAIR/T2, an enhancing rim in T1ce and a dark necrotic centre.
Each sample draws from :func:`kdseg.utils.seed.rng_for` keyed by the generator and its index, and
archives are packed with sorted members and fixed metadata, so a seed gives the same bytes.

Example::

    from pathlib import Path
    from kdseg.data.synthetic import make_demo_archive, write_kvasir_seg

    make_demo_archive("kvasir_seg", samples=40, seed=0, out=Path("resources/demo/kvasir_seg_demo.zip"))
    top = write_kvasir_seg(Path("scratch"), samples=8, seed=0)  # scratch/Kvasir-SEG/...
"""

from __future__ import annotations

import io
import logging
import tarfile
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from kdseg.data.images import binarise_mask
from kdseg.data.volumes import write_nifti
from kdseg.utils.errors import ConfigError
from kdseg.utils.io import atomic_directory, gzip_bytes, write_bytes, write_json, zip_bytes
from kdseg.utils.options import look_up_option
from kdseg.utils.progress import progress
from kdseg.utils.seed import rng_for

__all__ = [
    "ARCHIVE_SUFFIXES",
    "BRATS_MODALITIES",
    "BRATS_SHAPE",
    "BRATS_SPACING_MM",
    "BRATS_TOP",
    "FRAME_HEIGHTS",
    "FRAME_WIDTHS",
    "GENERATORS",
    "JPEG_QUALITY",
    "CVC_TOP",
    "ETIS_TOP",
    "KVASIR_TOP",
    "MIN_SEQUENCES",
    "MIN_SEQUENCE_FRAMES",
    "NEGATIVE_FRAMES",
    "POLYPGEN_CENTRES",
    "POLYPGEN_TOP",
    "brats_affine",
    "make_demo_archive",
    "write_brats",
    "write_cvc",
    "write_etis_larib",
    "write_kvasir_seg",
    "write_polypgen",
]

logger = logging.getLogger(__name__)

KVASIR_TOP = "Kvasir-SEG"
POLYPGEN_TOP = "PolypGen2021_MultiCenterData_v3"
BRATS_TOP = "BraTS2021_Training_Data"
CVC_TOP = "CVC-ClinicDB"
ETIS_TOP = "ETIS-LaribPolypDB"
# frames per video of the cvc demo (CVC-ClinicDB's 612 frames come from 31 sequences)
_CVC_VIDEO_FRAMES = 3

JPEG_QUALITY = 90
# (low, high) inclusive ranges of frame sizes in pixels; real frames vary in size too
FRAME_WIDTHS = (120, 220)
FRAME_HEIGHTS = (100, 200)

POLYPGEN_CENTRES = 3
# colour cast (RGB gain) of each centre's video processor, as real multi-centre data differ
_NEUTRAL_CAST = (1.0, 1.0, 1.0)
_CENTRE_CASTS = {1: _NEUTRAL_CAST, 2: (1.07, 0.97, 0.86), 3: (0.9, 1.0, 1.12)}
# file stems in the style of each centre's release (C1 "100H0050", C2 "EndoCV2021_001000"...)
_CENTRE_STEMS: dict[int, Callable[[int], str]] = {
    1: lambda j: f"{100 + j}H{50 + 10 * j:04d}",
    2: lambda j: f"EndoCV2021_{1000 + j:06d}",
    3: lambda j: f"C3_EndoCV2021_{j + 1:05d}",
}
MIN_SEQUENCES = 3
MIN_SEQUENCE_FRAMES = 3
NEGATIVE_FRAMES = 3
# frame numbers start at 100 so that sorting the stems keeps frame order (up to 900 frames)
_FIRST_FRAME = 100
# largest camera pan between consecutive frames of a sequence, in pixels per axis
_MAX_PAN = 2.0

BRATS_MODALITIES = ("flair", "t1", "t1ce", "t2")
BRATS_SHAPE = (48, 48, 36)
BRATS_SPACING_MM = 4.0
# brain semi-axes in mm (left-right, anterior-posterior, inferior-superior) of an adult brain
_BRAIN_SEMI_AXES_MM = (70.0, 84.0, 60.0)
# relative intensity of each tissue: white matter, grey matter, CSF, oedema, necrosis, enhancing tumour
_TISSUE_INTENSITY = {
    "flair": (0.50, 0.62, 0.12, 1.30, 0.55, 0.95),
    "t1": (0.85, 0.60, 0.20, 0.50, 0.30, 0.60),
    "t1ce": (0.85, 0.60, 0.20, 0.50, 0.22, 1.80),
    "t2": (0.40, 0.62, 1.25, 1.05, 1.15, 0.75),
}

_MUCOSA_RGB = np.array([0.80, 0.45, 0.40])
# polyps are paler (less saturated) than the surrounding mucosa
_POLYP_TINT = np.array([1.02, 1.22, 1.18])

ARCHIVE_SUFFIXES = (".zip", ".tar.gz")


# --------------------------------------------------------------------------------------------------
# shared drawing helpers


def _smooth_noise(rng: np.random.Generator, shape: Sequence[int], sigma: float) -> np.ndarray:
    """Gaussian-smoothed white noise rescaled to zero mean and unit standard deviation."""
    field = ndimage.gaussian_filter(rng.standard_normal(tuple(shape)), sigma, mode="wrap")
    return (field - field.mean()) / (field.std() + 1e-12)


def _jpeg_bytes(rgb: np.ndarray) -> bytes:
    """Encode a uint8 (H, W, 3) array as JPEG with fixed settings and no metadata."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def _mask_jpeg(mask: np.ndarray) -> bytes:
    """Encode a boolean mask as a 0/255 RGB JPEG, as the real releases ship them."""
    return _jpeg_bytes(np.repeat(mask[..., None].astype(np.uint8) * 255, 3, axis=2))


def _frame_size(rng: np.random.Generator) -> tuple[int, int]:
    """A random (height, width) within ``FRAME_HEIGHTS`` and ``FRAME_WIDTHS``."""
    return int(rng.integers(FRAME_HEIGHTS[0], FRAME_HEIGHTS[1] + 1)), int(rng.integers(FRAME_WIDTHS[0], FRAME_WIDTHS[1] + 1))


def _polyp_radius(rng: np.random.Generator, shape: tuple[int, int], frame: tuple[int, int], margin: int) -> np.ndarray:
    """Normalised radius of one irregular elliptic polyp (< 1 inside) over a scene of ``shape``.

    The centre is drawn inside the central part of the ``frame`` that the camera sees, offset by ``margin``.
    """
    centre = np.array(frame) * rng.uniform(0.2, 0.8, 2) + margin
    semi_major = rng.uniform(0.13, 0.3) * min(frame)
    semi_axes = np.array([semi_major, semi_major * rng.uniform(0.65, 1.0)])
    angle = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
    dy, dx = yy - centre[0], xx - centre[1]
    along = (dx * np.cos(angle) + dy * np.sin(angle)) / semi_axes[0]
    across = (-dx * np.sin(angle) + dy * np.cos(angle)) / semi_axes[1]
    # a few low harmonics of the polar angle make the boundary lobed rather than a clean ellipse
    phi = np.arctan2(across, along)
    boundary = np.ones_like(phi)
    for harmonic in range(2, 6):
        boundary += rng.uniform(0.02, 0.07) * np.cos(harmonic * phi + rng.uniform(0, 2 * np.pi))
    return np.hypot(along, across) / boundary


def _endoscopy_scene(rng: np.random.Generator, frame: tuple[int, int], polyps: int, margin: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mucosa-like scene holding ``polyps`` polyps, ``margin`` pixels larger than ``frame`` on each side.

    Returns (float RGB (H, W, 3) before the camera model, polyp mask (H, W) bool).
    """
    shape = (frame[0] + 2 * margin, frame[1] + 2 * margin)
    mucosa = _MUCOSA_RGB * rng.uniform(0.92, 1.08, 3)
    folds = _smooth_noise(rng, shape, min(frame) / 10)
    grain = _smooth_noise(rng, shape, 1.0)
    rgb = mucosa * (1 + 0.09 * folds + 0.03 * grain)[..., None]
    mask = np.zeros(shape, dtype=bool)
    for _ in range(polyps):
        radius = _polyp_radius(rng, shape, frame, margin)
        inside = radius < 1
        # dome lighting: the top of the polyp catches the light, its flanks fall into shade
        dome = 1.12 - 0.3 * np.clip(radius, 0, 1) ** 2
        nodules = 1 + 0.08 * _smooth_noise(rng, shape, 1.5)
        polyp = mucosa * _POLYP_TINT * rng.uniform(0.94, 1.06, 3) * (dome * nodules)[..., None]
        alpha = ndimage.gaussian_filter(inside.astype(np.float64), 0.8)[..., None]
        rgb = rgb * (1 - alpha) + polyp * alpha
        mask |= inside
    # specular reflections sit on the wet tissue, so they move with the scene
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
    highlights = np.zeros(shape)
    for _ in range(int(rng.integers(2, 8))):
        y, x, sigma = rng.uniform(0, shape[0]), rng.uniform(0, shape[1]), rng.uniform(0.6, 2.2)
        highlights += rng.uniform(0.8, 1.5) * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * sigma**2))
    return rgb + highlights[..., None], mask


def _optics(rng: np.random.Generator, frame: tuple[int, int]) -> np.ndarray:
    """Gain map (H, W) of one camera setting: exposure times vignetting around an off-centre optical axis."""
    yy, xx = np.mgrid[: frame[0], : frame[1]].astype(np.float64)
    cy, cx = np.array(frame) / 2 * rng.uniform(0.9, 1.1, 2)
    radius2 = ((yy - cy) / (frame[0] / 2)) ** 2 + ((xx - cx) / (frame[1] / 2)) ** 2
    return np.clip(1 - 0.3 * radius2, 0.25, 1) * rng.uniform(0.85, 1.15)


def _camera_view(rng: np.random.Generator, scene: np.ndarray, optics: np.ndarray, cast: Sequence[float]) -> np.ndarray:
    """What the endoscope records of ``scene``: ``optics`` gain, the centre's colour ``cast``, sensor noise; uint8 RGB."""
    rgb = scene * optics[..., None] * np.asarray(cast) + rng.normal(0, 0.012, scene.shape)
    return np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8)


def _still_frame(rng: np.random.Generator, cast: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """One endoscopy frame of random size with one polyp (sometimes two); (uint8 RGB, bool mask)."""
    frame = _frame_size(rng)
    scene, mask = _endoscopy_scene(rng, frame, polyps=2 if rng.random() < 0.2 else 1)
    return _camera_view(rng, scene, _optics(rng, frame), cast), mask


def _video(
    scene_rng: np.random.Generator, frame_rngs: Sequence[np.random.Generator], polyps: int, cast: Sequence[float]
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Frames of one scene seen by a camera panning at constant speed; yields (uint8 RGB, bool mask)."""
    frame = _frame_size(scene_rng)
    velocity = scene_rng.uniform(-_MAX_PAN, _MAX_PAN, 2)
    margin = int(np.ceil(_MAX_PAN * (len(frame_rngs) - 1) / 2)) + 1
    scene, mask = _endoscopy_scene(scene_rng, frame, polyps, margin)
    optics = _optics(scene_rng, frame)
    for t, frame_rng in enumerate(frame_rngs):
        top, left = np.round(margin + velocity * (t - (len(frame_rngs) - 1) / 2)).astype(int)
        window = (slice(top, top + frame[0]), slice(left, left + frame[1]))
        yield _camera_view(frame_rng, scene[window], optics, cast), mask[window]


def _check_samples(generator: str, samples: int, minimum: int) -> None:
    """Raise a ConfigError unless ``samples`` is an integer of at least ``minimum``."""
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < minimum:
        raise ConfigError(
            f"the {generator} demo generator needs an integer number of samples >= {minimum}, got {samples!r}; "
            f"set `demo: {{samples: N}}` of the data set in workflow_config.yaml (or --samples) to at least {minimum}."
        )


# --------------------------------------------------------------------------------------------------
# Kvasir-SEG


def _kvasir_id(rng: np.random.Generator) -> str:
    """An id shaped like Kvasir-SEG's (``cju0qkwl35piu0993l0dewei2``): 25 lowercase alphanumerics."""
    alphabet = np.array(list("abcdefghijklmnopqrstuvwxyz0123456789"))
    middle = rng.choice(["0993", "0835", "0799", "0801", "0855", "0878"])
    return "cju" + "".join(rng.choice(alphabet, 10)) + middle + "".join(rng.choice(alphabet, 8))


def _bounding_boxes(mask_jpeg: bytes) -> list[dict[str, int | str]]:
    """Boxes of the connected polyps of a decoded JPEG mask, binarised the way ingest reads it.

    Boxes are half-open pixel ranges: ``mask[ymin:ymax, xmin:xmax]`` holds the whole polyp.
    """
    with Image.open(io.BytesIO(mask_jpeg)) as img:
        binary = binarise_mask(np.asarray(img.convert("L")))[0]
    components, _ = ndimage.label(binary)
    return [
        {"label": "polyp", "xmin": cols.start, "ymin": rows.start, "xmax": cols.stop, "ymax": rows.stop}
        for rows, cols in ndimage.find_objects(components)
    ]


def write_kvasir_seg(root: Path, samples: int, seed: int) -> Path:
    """Write a Kvasir-SEG-like data set under ``root``; return its top folder ``root/Kvasir-SEG``.

    Args:
        root: folder that receives ``Kvasir-SEG/`` (replaced atomically).
        samples: number of image/mask pairs, at least 1.
        seed: base seed; sample ``i`` draws from ``rng_for(seed, "kvasir_seg", i)``.
    """
    _check_samples("kvasir_seg", samples, 1)
    boxes: dict[str, dict[str, object]] = {}
    with atomic_directory(Path(root) / KVASIR_TOP) as top:
        for index in progress(range(samples), "kvasir_seg", unit="image"):
            rng = rng_for(seed, "kvasir_seg", index)
            sample_id = _kvasir_id(rng)
            if sample_id in boxes:  # 22 random characters: practically never, but a silent overwrite would lose a sample
                raise RuntimeError(f"kvasir_seg demo: id {sample_id} drawn twice (seed {seed}, sample {index})")
            image, mask = _still_frame(rng, _NEUTRAL_CAST)
            mask_jpeg = _mask_jpeg(mask)
            write_bytes(top / "images" / f"{sample_id}.jpg", _jpeg_bytes(image))
            write_bytes(top / "masks" / f"{sample_id}.jpg", mask_jpeg)
            boxes[sample_id] = {"height": image.shape[0], "width": image.shape[1], "bbox": _bounding_boxes(mask_jpeg)}
        write_json(top / "kavsir_bboxes.json", boxes)
    logger.info("wrote %d Kvasir-SEG-like samples to %s", samples, Path(root) / KVASIR_TOP)
    return Path(root) / KVASIR_TOP


# --------------------------------------------------------------------------------------------------
# PolypGen


def _polypgen_counts(samples: int) -> tuple[list[int], list[int]]:
    """Split ``samples`` into single frames per centre and frames per positive sequence (about half each)."""
    sequence_frames = max(MIN_SEQUENCES * MIN_SEQUENCE_FRAMES, (samples + 1) // 2)
    sequences = max(MIN_SEQUENCES, sequence_frames // 8)
    per_centre = [len(part) for part in np.array_split(np.arange(samples - sequence_frames), POLYPGEN_CENTRES)]
    per_sequence = [len(part) for part in np.array_split(np.arange(sequence_frames), sequences)]
    return per_centre, per_sequence


def _write_pair(images: Path, masks: Path, stem: str, image: np.ndarray, mask: np.ndarray | None) -> None:
    """Write ``images/<stem>.jpg`` and, unless ``mask`` is None, ``masks/<stem>_mask.jpg`` (PolypGen naming)."""
    write_bytes(images / f"{stem}.jpg", _jpeg_bytes(image))
    if mask is not None:
        write_bytes(masks / f"{stem}_mask.jpg", _mask_jpeg(mask))


def write_polypgen(root: Path, samples: int, seed: int) -> Path:
    """Write a PolypGen-like data set under ``root``; return its top folder ``root/PolypGen2021_MultiCenterData_v3``.

    About half the ``samples`` are single frames from ``data_C1..data_C3`` (``images_C<k>/<stem>.jpg``,
    ``masks_C<k>/<stem>_mask.jpg``), the rest frames of at least three positive sequences
    (``sequenceData/positive/seq<n>/images_seq<n>``, ``masks_seq<n>``); sequence ``n`` takes the colour cast
    of centre ``(n - 1) % 3 + 1``. ``sequenceData/negativeOnly/seq1_neg`` adds 3 frames without polyp or mask,
    which do not count in ``samples``.

    Args:
        root: folder that receives the top folder (replaced atomically).
        samples: number of annotated frames, at least 12.
        seed: base seed; annotated frame ``i`` draws from ``rng_for(seed, "polypgen", i)``, the scene of
            sequence ``n`` from ``rng_for(seed, "polypgen", "sequence", n)``, the negative scene and its
            frames from ``rng_for(seed, "polypgen", "negative"[, t])``.
    """
    _check_samples("polypgen", samples, POLYPGEN_CENTRES + MIN_SEQUENCES * MIN_SEQUENCE_FRAMES)
    centre_counts, sequence_counts = _polypgen_counts(samples)
    index = 0
    with (
        atomic_directory(Path(root) / POLYPGEN_TOP) as top,
        progress(None, "polypgen", total=samples + NEGATIVE_FRAMES, unit="frame") as bar,
    ):
        for centre, count in enumerate(centre_counts, start=1):
            folder = top / f"data_C{centre}"
            for j in range(count):
                image, mask = _still_frame(rng_for(seed, "polypgen", index), _CENTRE_CASTS[centre])
                _write_pair(folder / f"images_C{centre}", folder / f"masks_C{centre}", _CENTRE_STEMS[centre](j), image, mask)
                index += 1
                bar.update()
        for number, count in enumerate(sequence_counts, start=1):
            folder = top / "sequenceData" / "positive" / f"seq{number}"
            frame_rngs = [rng_for(seed, "polypgen", index + t) for t in range(count)]
            cast = _CENTRE_CASTS[(number - 1) % POLYPGEN_CENTRES + 1]
            for t, (image, mask) in enumerate(_video(rng_for(seed, "polypgen", "sequence", number), frame_rngs, 1, cast)):
                stem = f"{number - 1}_endocv2021_positive_{_FIRST_FRAME + t}"
                _write_pair(folder / f"images_seq{number}", folder / f"masks_seq{number}", stem, image, mask)
                bar.update()
            index += count
        folder = top / "sequenceData" / "negativeOnly" / "seq1_neg"
        frame_rngs = [rng_for(seed, "polypgen", "negative", t) for t in range(NEGATIVE_FRAMES)]
        for t, (image, _) in enumerate(_video(rng_for(seed, "polypgen", "negative"), frame_rngs, 0, _NEUTRAL_CAST)):
            _write_pair(folder, folder, f"0_endocv2021_negative_{_FIRST_FRAME + t}", image, None)
            bar.update()
    logger.info(
        "wrote %d PolypGen-like frames (%s per centre, %s per sequence) and %d negative frames to %s",
        samples,
        centre_counts,
        sequence_counts,
        NEGATIVE_FRAMES,
        Path(root) / POLYPGEN_TOP,
    )
    return Path(root) / POLYPGEN_TOP


# --------------------------------------------------------------------------------------------------
# CVC-ClinicDB / CVC-ColonDB and ETIS-LaribPolypDB


def _tiff_bytes(array: np.ndarray) -> bytes:
    """Uncompressed TIFF of a uint8 RGB or grey array, as the CVC and ETIS releases store frames and masks."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="TIFF")
    return buffer.getvalue()


def write_cvc(root: Path, samples: int, seed: int) -> Path:
    """Write a CVC-ClinicDB-like data set under ``root``; return its top folder ``root/CVC-ClinicDB``.

    Frames ``1..samples`` (``Original/<n>.tif``, masks ``Ground Truth/<n>.tif`` holding 0/255) come from
    videos of :data:`_CVC_VIDEO_FRAMES` consecutive frames (the last video may be shorter), so neighbouring
    numbers are near-duplicates as in the real release.

    Args:
        root: folder that receives ``CVC-ClinicDB/`` (replaced atomically).
        samples: number of frames, at least 2.
        seed: base seed; video ``v`` draws its scene from ``rng_for(seed, "cvc", "video", v)`` and frame
            ``i`` its noise from ``rng_for(seed, "cvc", i)``.
    """
    _check_samples("cvc", samples, 2)
    with atomic_directory(Path(root) / CVC_TOP) as top:
        for video, start in enumerate(range(0, samples, _CVC_VIDEO_FRAMES)):
            numbers = range(start + 1, min(start + _CVC_VIDEO_FRAMES, samples) + 1)
            frames = _video(rng_for(seed, "cvc", "video", video), [rng_for(seed, "cvc", n) for n in numbers], 1, _NEUTRAL_CAST)
            for number, (image, mask) in zip(numbers, frames):
                write_bytes(top / "Original" / f"{number}.tif", _tiff_bytes(image))
                write_bytes(top / "Ground Truth" / f"{number}.tif", _tiff_bytes(np.where(mask, 255, 0).astype(np.uint8)))
    logger.info("wrote %d CVC-ClinicDB-like frames to %s", samples, Path(root) / CVC_TOP)
    return Path(root) / CVC_TOP


def write_etis_larib(root: Path, samples: int, seed: int) -> Path:
    """Write an ETIS-LaribPolypDB-like data set under ``root``; return its top folder ``root/ETIS-LaribPolypDB``.

    Frames ``ETIS-LaribPolypDB/<n>.tif`` with masks ``Ground Truth/p<n>.tif`` (0/255), ``n`` = 1..samples.

    Args:
        root: folder that receives ``ETIS-LaribPolypDB/`` (replaced atomically).
        samples: number of frames, at least 1.
        seed: base seed; frame ``n`` draws from ``rng_for(seed, "etis_larib", n)``.
    """
    _check_samples("etis_larib", samples, 1)
    with atomic_directory(Path(root) / ETIS_TOP) as top:
        for number in range(1, samples + 1):
            image, mask = _still_frame(rng_for(seed, "etis_larib", number), _NEUTRAL_CAST)
            write_bytes(top / ETIS_TOP / f"{number}.tif", _tiff_bytes(image))
            write_bytes(top / "Ground Truth" / f"p{number}.tif", _tiff_bytes(np.where(mask, 255, 0).astype(np.uint8)))
    logger.info("wrote %d ETIS-LaribPolypDB-like frames to %s", samples, Path(root) / ETIS_TOP)
    return Path(root) / ETIS_TOP


# --------------------------------------------------------------------------------------------------
# BraTS


def brats_affine(shape: Sequence[int] = BRATS_SHAPE, spacing: float = BRATS_SPACING_MM) -> np.ndarray:
    """Voxel-to-world (RAS mm) affine of the demo volumes: stored LPS like BraTS, volume centre at the origin.

    Args:
        shape: volume shape (X, Y, Z). Defaults to ``BRATS_SHAPE``.
        spacing: isotropic voxel size in mm. Defaults to ``BRATS_SPACING_MM``.

    Example: ``nibabel.aff2axcodes(brats_affine())`` is ``("L", "P", "S")``.
    """
    affine = np.diag([-spacing, -spacing, spacing, 1.0])
    half_extent = spacing * (np.asarray(shape, dtype=np.float64) - 1) / 2
    affine[:3, 3] = half_extent * np.array([1.0, 1.0, -1.0])
    return affine


def _ellipsoid_radius(grid: np.ndarray, centre: Sequence[float], semi_axes: Sequence[float]) -> np.ndarray:
    """Normalised radius (< 1 inside) of an axis-aligned ellipsoid over voxel ``grid`` (3, X, Y, Z)."""
    shape = (3, 1, 1, 1)
    return np.linalg.norm((grid - np.reshape(centre, shape)) / np.reshape(semi_axes, shape), axis=0)


def _brats_case(rng: np.random.Generator) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """One synthetic case: ({modality: int16 volume}, uint8 label map with 0/1/2/4)."""
    grid = np.indices(BRATS_SHAPE, dtype=np.float64)
    centre = (np.array(BRATS_SHAPE) - 1) / 2 + rng.normal(0, 0.7, 3)
    semi_axes = np.array(_BRAIN_SEMI_AXES_MM) / BRATS_SPACING_MM * rng.uniform(0.92, 1.05, 3)
    radius = _ellipsoid_radius(grid, centre, semi_axes) * (1 + 0.03 * _smooth_noise(rng, BRATS_SHAPE, 3))
    brain = radius < 1
    # grey matter at the cortex and scattered deep, white matter inside; CSF in two lateral ventricles and sulci
    white = np.clip(0.55 + 0.3 * _smooth_noise(rng, BRATS_SHAPE, 1.5), 0, 1) * (radius < 0.82)
    ventricle_axes = np.array([2.2, 6.0, 3.5]) * rng.uniform(0.85, 1.2, 3)
    csf = (radius > 0.93) & (_smooth_noise(rng, BRATS_SHAPE, 1.0) > 0.6)
    for side in (-1, 1):
        csf |= _ellipsoid_radius(grid, centre + [side * 3.5, 0, 1.5], ventricle_axes) < 1

    tumour_centre = centre + semi_axes * rng.uniform(-0.5, 0.5, 3)
    distance = _ellipsoid_radius(grid, tumour_centre, rng.uniform(0.8, 1.25, 3))
    core_radius, rim = rng.uniform(3.5, 6.0), rng.uniform(1.0, 1.5)
    oedema_radius = core_radius + rng.uniform(2.0, 5.0)
    core_distance = distance * (1 + 0.1 * np.clip(_smooth_noise(rng, BRATS_SHAPE, 2), -2, 2))
    oedema_distance = distance * (1 + 0.15 * np.clip(_smooth_noise(rng, BRATS_SHAPE, 2), -2, 2))
    core = (core_distance < core_radius) & brain
    # the noisy boundaries alone could let necrosis touch oedema or the core touch healthy tissue;
    # real tumours nest necrosis inside the enhancing rim and the core inside the oedema
    necrosis = (core_distance < core_radius - rim) & ndimage.binary_erosion(core)
    oedema = ((oedema_distance < oedema_radius) | ndimage.binary_dilation(core, iterations=2)) & brain
    labels = np.zeros(BRATS_SHAPE, dtype=np.uint8)
    labels[oedema] = 2
    labels[core] = 4
    labels[necrosis] = 1

    healthy = labels == 0
    # fraction of each tissue per voxel, in the order of _TISSUE_INTENSITY's columns
    fractions = (
        white * ~csf * healthy,
        (1 - white) * ~csf * healthy,
        csf * healthy,
        labels == 2,
        labels == 1,
        labels == 4,
    )
    bias = np.exp(0.08 * _smooth_noise(rng, BRATS_SHAPE, 8))
    volumes = {}
    for modality in BRATS_MODALITIES:
        contrast = sum(value * fraction for value, fraction in zip(_TISSUE_INTENSITY[modality], fractions))
        texture = 1 + 0.05 * _smooth_noise(rng, BRATS_SHAPE, 0.8)
        # partial-volume blur, then the skull-stripped background goes back to exactly 0
        signal = ndimage.gaussian_filter(contrast * texture, 0.5) * bias + rng.normal(0, 0.02, BRATS_SHAPE)
        scale = 1000 * rng.uniform(0.8, 1.25)
        volumes[modality] = np.round(np.clip(signal, 0, None) * scale * brain).astype(np.int16)
    return volumes, labels


def write_brats(root: Path, samples: int, seed: int) -> Path:
    """Write a BraTS-2021-like training set under ``root``; return its top folder ``root/BraTS2021_Training_Data``.

    Case ``i`` is ``BraTS2021_<i:05d>/BraTS2021_<i:05d>_{flair,t1,t1ce,t2,seg}.nii.gz``: int16 images and a
    uint8 label map (0 background, 1 necrosis, 2 oedema, 4 enhancing tumour), all with :func:`brats_affine`.

    Args:
        root: folder that receives the top folder (replaced atomically).
        samples: number of cases, at least 1.
        seed: base seed; case ``i`` draws from ``rng_for(seed, "brats", i)``.
    """
    _check_samples("brats", samples, 1)
    affine = brats_affine()
    with atomic_directory(Path(root) / BRATS_TOP) as top:
        for index in progress(range(samples), "brats", unit="case"):
            case = f"BraTS2021_{index:05d}"
            volumes, labels = _brats_case(rng_for(seed, "brats", index))
            for name, data in (*volumes.items(), ("seg", labels)):
                write_nifti(top / case / f"{case}_{name}.nii.gz", data, affine)
    logger.info("wrote %d BraTS-like cases to %s", samples, Path(root) / BRATS_TOP)
    return Path(root) / BRATS_TOP


GENERATORS: dict[str, Callable[[Path, int, int], Path]] = {
    "kvasir_seg": write_kvasir_seg,
    "polypgen": write_polypgen,
    "cvc": write_cvc,
    "etis_larib": write_etis_larib,
    "brats": write_brats,
}


# --------------------------------------------------------------------------------------------------
# deterministic archives


def _members(root: Path) -> list[tuple[str, Path]]:
    """(archive name, path) of every folder and file under ``root``, sorted by name."""
    return sorted((path.relative_to(root).as_posix(), path) for path in root.rglob("*"))


def _zip_bytes(root: Path) -> bytes:
    """Zip of everything under ``root`` with fixed dates and unix permissions."""
    return zip_bytes({name: None if path.is_dir() else path.read_bytes() for name, path in _members(root)})


def _tar_gz_bytes(root: Path) -> bytes:
    """Gzipped ustar archive of everything under ``root`` with fixed times, owner and permissions."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name, path in _members(root):
            info = tarfile.TarInfo(name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "root", "root"
            if path.is_dir():
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                archive.addfile(info)
            else:
                data = path.read_bytes()
                info.size, info.mode = len(data), 0o644
                archive.addfile(info, io.BytesIO(data))
    return gzip_bytes(buffer.getvalue())


_PACKERS: dict[str, Callable[[Path], bytes]] = {".zip": _zip_bytes, ".tar.gz": _tar_gz_bytes}


def make_demo_archive(generator: str, samples: int, seed: int, out: Path) -> Path:
    """Generate a demo data set and pack it into ``out``, byte for byte the same for the same arguments.

    Members are sorted, with fixed times (1980-01-01 in zip, 0 in tar), owner (0/0, root) and permissions
    (0644 files, 0755 folders); the gzip header carries no time or name. ``out`` is written atomically.

    Args:
        generator: layout to imitate, one of ``GENERATORS`` (``kvasir_seg``, ``polypgen``, ``cvc``, ``etis_larib``, ``brats``).
        samples: images (kvasir_seg), frames (cvc, etis_larib), annotated frames (polypgen) or cases (brats).
        seed: base seed of every random decision.
        out: archive to write; its name ends with ``.zip`` or ``.tar.gz``.

    Raises:
        ConfigError: unknown generator, unsupported suffix, or too few samples.

    Example: ``make_demo_archive("brats", 12, 0, Path("resources/demo/brats_demo.tar.gz"))``.
    """
    write = look_up_option(generator, GENERATORS, "demo generator")
    out = Path(out)
    suffix = next((s for s in ARCHIVE_SUFFIXES if out.name.endswith(s)), None)
    if suffix is None:
        raise ConfigError(
            f"cannot write demo archive {out}: unsupported suffix; name it *.zip or *.tar.gz "
            "(the `source` of the demo data set in workflow_config.yaml)."
        )
    with tempfile.TemporaryDirectory(prefix="kdseg-demo-") as scratch:
        write(Path(scratch), samples, seed)
        write_bytes(out, _PACKERS[suffix](Path(scratch)))
    logger.info("packed the %s demo (%d samples, seed %d) into %s", generator, samples, seed, out)
    return out
