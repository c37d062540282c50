"""Materialise an experiment's augmented training set on disk (the ``kdseg-augment`` stage).

The ``train`` subset of a split is expanded with a paper's recipe (:mod:`kdseg.augment.recipes`)
and written to one folder, replaced atomically::

    <out>/images/<id>.png       RGB (2D)  |  <out>/images/<id>.nii.gz   (X, Y, Z, C) float32 (3D)
    <out>/masks/<id>.png        0/255 (2D) |  <out>/masks/<id>.nii.gz    uint8 label map (3D)
    <out>/manifest.csv          id, source_id, copy, image, mask (+ label_convention, modalities in 3D)
    <out>/recipe.json           recipe, paper, size, copies, online, seed, outputs per sample, albumentations version

``id = f"{source_id}__{copy:02d}"``; copy 0 is the un-augmented original brought to the training
size. A 3D output keeps the source affine shifted by its crop offset, so copy 0 overlays the source
volume in world coordinates. Every random choice is seeded from ``(seed, recipe, source id, draw)``
and all files are written with deterministic bytes, so the folder is the same whatever the number
of worker processes.

With ``online=True`` only copy 0 is written and ``recipe.json`` says ``"online": true``: the training
loader (:class:`kdseg.engine.data.AugmentedSet`) then draws a fresh augmentation of each image every
epoch (:meth:`Recipe.draw`), as papers that augment "randomly before feeding [images] into the model" do,
while the costly decoding and resizing of the originals still happen once, here.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import albumentations as A
import cv2
import numpy as np
import pandas as pd

from kdseg.augment.recipes import RECIPES, AugmentedSample, Recipe
from kdseg.data.images import read_mask, read_rgb, write_png
from kdseg.data.manifest import AUGMENTED_COLUMNS, read_manifest, read_split, select_subset
from kdseg.data.volumes import load_case, load_nifti, write_nifti
from kdseg.utils.errors import ConfigError, DataError
from kdseg.utils.io import atomic_directory, write_csv, write_json
from kdseg.utils.options import look_up_option
from kdseg.utils.progress import progress

__all__ = ["VOLUME_COLUMNS", "augment_dataset"]

logger = logging.getLogger(__name__)

#: columns a 3D augmented manifest copies from its source manifest
VOLUME_COLUMNS = ("label_convention", "modalities")


@dataclass(frozen=True)
class _SampleJob:
    """Everything a worker process needs to expand one source sample."""

    recipe: str
    size: tuple[int, ...]
    copies: int
    seed: int
    sample_id: str
    image: str
    mask: str
    out: str


def augment_dataset(
    manifest: Path,
    split: Path,
    recipe: str,
    size: tuple[int, ...],
    copies: int,
    seed: int,
    out: Path,
    *,
    online: bool = False,
    threads: int = 1,
) -> pd.DataFrame:
    """Expand the ``train`` subset of ``split`` with ``recipe`` and write the augmented set to ``out``.

    Args:
        manifest: the data set's manifest CSV (2D or 3D columns, see :mod:`kdseg.data.manifest`).
        split: split CSV whose ``train`` rows are augmented.
        recipe: a name of :data:`~kdseg.augment.recipes.RECIPES`.
        size: output size, ``(H, W)`` for 2D recipes or the crop ``(X, Y, Z)`` for 3D ones.
        copies: random draws per training sample (0 writes the resized/cropped originals only).
        seed: base seed; outputs depend on it and on nothing else random.
        out: folder to write; replaced atomically, never left half-written.
        online: write the resized originals only and let the training loader draw the augmentations
            every epoch; ``copies`` must then be 0. Defaults to False.
        threads: worker processes; results do not depend on it. Defaults to 1 (no pool).

    Returns:
        The augmented manifest that was written to ``out/manifest.csv``.

    Raises:
        ConfigError: unknown recipe, ``size`` of the wrong length for the recipe, a recipe for 2D data
            on a 3D manifest (or the reverse), negative ``copies``, ``threads`` below 1.
        DataError: unreadable or inconsistent manifest, split or sample; empty ``train`` subset.

    Example::

        augment_dataset(Path("results/data/kvasir_seg/manifest.csv"), Path("results/data/kvasir_seg/splits/medico2020.csv"),
                        "kd_resunetpp", (256, 256), copies=1, seed=0, out=Path("results/paper/kd_resunetpp/augmented"))
    """
    chosen: Recipe = look_up_option(recipe, RECIPES, "augmentation recipe")  # type: ignore[assignment]
    size = chosen.check_size(size)
    if int(copies) != copies or copies < 0:
        raise ConfigError(f"copies must be a whole number >= 0, got {copies!r}. Fix experiments.<exp>.augment.copies (or --copies).")
    if online and copies:
        raise ConfigError(f"online augmentation draws afresh every epoch and writes no copies, but copies is {copies}; use copies 0 with --online.")
    if online and chosen.spatial_dims != 2:
        raise ConfigError(f"recipe {chosen.name!r} is 3D and has no on-the-fly form; set experiments.<exp>.augment.online: false.")
    if int(threads) != threads or threads < 1:
        raise ConfigError(f"threads must be a whole number >= 1, got {threads!r} (--threads).")
    train = _training_rows(Path(manifest), Path(split), chosen)
    per_sample = chosen.outputs_per_sample(copies)
    logger.info(
        "augmenting %d training samples of %s with recipe %s (paper %s) at size %s: %d outputs each, %d in all",
        len(train), manifest, chosen.name, chosen.paper, "x".join(map(str, size)), per_sample, per_sample * len(train),
    )
    with atomic_directory(out) as folder:
        for sub in ("images", "masks"):
            (folder / sub).mkdir()
        jobs = [
            _SampleJob(chosen.name, size, int(copies), int(seed), row["id"], row["image"], row["mask"], str(folder))
            for row in train.to_dict("records")
        ]
        bar = progress(_map_jobs(jobs, int(threads)), desc=f"augment {chosen.name}", total=len(jobs), unit="sample")
        rows = [row for sample_rows in bar for row in sample_rows]
        table = pd.DataFrame(rows, columns=list(AUGMENTED_COLUMNS))
        if chosen.spatial_dims == 3:
            source = train.set_index("id")
            for column in VOLUME_COLUMNS:
                table[column] = source.loc[table["source_id"], column].to_numpy()
        write_csv(table, folder / "manifest.csv")
        write_json(
            folder / "recipe.json",
            {
                "recipe": chosen.name,
                "paper": chosen.paper,
                "size": list(size),
                "copies": int(copies),
                "online": bool(online),
                "seed": int(seed),
                "outputs_per_sample": per_sample,
                "source_samples": len(train),
                "albumentations": A.__version__,
            },
        )
    logger.info("wrote %d augmented samples from %d training samples to %s", len(table), len(train), out)
    return table


def _training_rows(manifest: Path, split: Path, recipe: Recipe) -> pd.DataFrame:
    """The manifest rows of the split's ``train`` subset, checked against the recipe's dimensionality."""
    frame = read_manifest(manifest)
    spatial_dims = 3 if "modalities" in frame.columns else 2
    if spatial_dims != recipe.spatial_dims:
        raise ConfigError(
            f"recipe {recipe.name!r} is for {recipe.spatial_dims}D data but manifest {manifest} describes {spatial_dims}D samples "
            f"({'has' if spatial_dims == 3 else 'has no'} 'modalities' column). Pick a {spatial_dims}D recipe for this experiment's data set."
        )
    missing = [column for column in VOLUME_COLUMNS if spatial_dims == 3 and column not in frame.columns]
    if missing:
        raise DataError(f"3D manifest {manifest} lacks column(s) {', '.join(missing)}; delete it and rerun the ingest stage.")
    train = select_subset(frame, read_split(split), "train")
    if train.empty:
        raise DataError(f"split {split} has no 'train' samples, so there is nothing to augment. Check the split file or rerun the split stage.")
    duplicated = sorted(set(train.loc[train["id"].duplicated(), "id"]))
    if duplicated:
        raise DataError(f"split {split} lists {len(duplicated)} train id(s) more than once (first: {duplicated[:3]}); delete it and rerun the split stage.")
    return train


def _map_jobs(jobs: Sequence[_SampleJob], threads: int) -> Iterator[list[dict[str, object]]]:
    """Run :func:`_augment_sample` over ``jobs`` in order, in this process or in a pool of ``threads`` processes."""
    if threads == 1 or len(jobs) <= 1:
        yield from map(_augment_sample, jobs)
        return
    # forkserver, not fork: forking a process that holds threads (OpenCV, torch) can deadlock; the
    # server imports this module once, so workers start without re-importing albumentations and torch
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    with ProcessPoolExecutor(max_workers=min(threads, len(jobs)), mp_context=context, initializer=_init_worker) as pool:
        try:
            yield from pool.map(_augment_sample, jobs)
        except BaseException:
            # stop at the first failure instead of finishing every queued sample
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _init_worker() -> None:
    """One OpenCV thread per worker process: the pool already uses the cores it was given."""
    cv2.setNumThreads(1)


def _augment_sample(job: _SampleJob) -> list[dict[str, object]]:
    """Expand one source sample, write its outputs under ``job.out`` and return their manifest rows."""
    recipe = RECIPES[job.recipe]
    out = Path(job.out)
    if recipe.spatial_dims == 2:
        image, mask = _read_image_pair(job)
        affine, suffix = None, ".png"
    else:
        image, mask, affine = _read_volume_pair(job)
        suffix = ".nii.gz"
    rows: list[dict[str, object]] = []
    for copy, sample in enumerate(recipe.expand(image, mask, job.size, job.copies, job.seed, job.sample_id)):
        output_id = f"{job.sample_id}__{copy:02d}"
        image_path, mask_path = f"images/{output_id}{suffix}", f"masks/{output_id}{suffix}"
        if affine is None:
            write_png(out / image_path, sample.image)
            write_png(out / mask_path, sample.mask * np.uint8(255))
        else:
            shifted = _shift_affine(affine, sample)
            write_nifti(out / image_path, np.moveaxis(sample.image, 0, -1), shifted)
            write_nifti(out / mask_path, sample.mask, shifted)
        rows.append({"id": output_id, "source_id": job.sample_id, "copy": copy, "image": image_path, "mask": mask_path})
    return rows


def _read_image_pair(job: _SampleJob) -> tuple[np.ndarray, np.ndarray]:
    """RGB image and {0, 1} mask of a 2D sample, checked to have the same size."""
    image, mask = read_rgb(job.image), read_mask(job.mask)
    if image.shape[:2] != mask.shape:
        raise DataError(
            f"sample {job.sample_id}: image {job.image} is {image.shape[1]}x{image.shape[0]} but mask {job.mask} is "
            f"{mask.shape[1]}x{mask.shape[0]}; fix the pair or rerun ingest, which lists such samples as bad."
        )
    return image, mask


def _read_volume_pair(job: _SampleJob) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(C, X, Y, Z)`` volume, uint8 label map and affine of a 3D sample, checked for shape and label values."""
    volume, affine = load_case(job.image)
    labels, _ = load_nifti(job.mask)
    if labels.shape != volume.shape[1:]:
        raise DataError(
            f"sample {job.sample_id}: label map {job.mask} has shape {labels.shape} but the image volumes {volume.shape[1:]}; "
            "fix the case or rerun ingest, which lists such samples as bad."
        )
    if labels.size and (not np.array_equal(labels, np.round(labels)) or labels.min() < 0 or labels.max() > 255):
        raise DataError(f"sample {job.sample_id}: label map {job.mask} holds values that are not whole numbers in 0..255.")
    return volume, labels.astype(np.uint8), affine


def _shift_affine(affine: np.ndarray, sample: AugmentedSample) -> np.ndarray:
    """The source affine moved so that voxel (0, 0, 0) sits where the crop started (``sample.offset``)."""
    shifted = np.array(affine, dtype=np.float64)
    shifted[:3, 3] = affine[:3, :3] @ np.asarray(sample.offset, dtype=np.float64) + affine[:3, 3]
    return shifted
