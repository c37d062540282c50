"""Materialise a 2D experiment's augmented training set on disk (the ``kdseg-augment`` stage).

The ``train`` subset of a split is expanded with a paper's 2D recipe (:mod:`kdseg.augment.recipes`)
and written to one folder, replaced atomically::

    <out>/images/<id>.png       RGB
    <out>/masks/<id>.png        0/255
    <out>/manifest.csv          id, source_id, copy, image, mask
    <out>/recipe.json           recipe, paper, size, copies, online, seed, outputs per sample, albumentations version

``id = f"{source_id}__{copy:02d}"``; copy 0 is the un-augmented original brought to the training
size. Every random choice is seeded from ``(seed, recipe, source id, draw)`` and all files are
written with deterministic bytes, so the folder is the same whatever the number of worker processes.

With ``online=True`` only copy 0 is written and ``recipe.json`` says ``"online": true``: the training
loader (:class:`kdseg.engine.data.AugmentedSet`) then draws a fresh augmentation of each image every
epoch (:meth:`~kdseg.augment.recipes.Recipe2D.draw`), as papers that augment "randomly before feeding [images] into the model" do,
while the costly decoding and resizing of the originals still happen once, here.

3D experiments have no augmented set: their training cuts a fresh patch every time a case is drawn
(:class:`kdseg.engine.patches.PatchSet`), so :func:`augment_dataset` refuses a 3D recipe.
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

from kdseg.augment.recipes import RECIPES, Recipe2D
from kdseg.data.images import read_mask, read_rgb, write_png
from kdseg.data.manifest import AUGMENTED_COLUMNS, read_manifest, read_split, select_subset
from kdseg.utils.errors import ConfigError, DataError
from kdseg.utils.io import atomic_directory, write_csv, write_json
from kdseg.utils.options import look_up_option
from kdseg.utils.progress import progress

__all__ = ["augment_dataset"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _SampleJob:
    """Everything a worker process needs to expand one source sample."""

    recipe: Recipe2D
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
        manifest: the 2D data set's manifest CSV (see :mod:`kdseg.data.manifest`).
        split: split CSV whose ``train`` rows are augmented.
        recipe: the name of a 2D recipe in :data:`~kdseg.augment.recipes.RECIPES`.
        size: output size ``(H, W)``.
        copies: random draws per training sample (0 writes the resized originals only).
        seed: base seed; outputs depend on it and on nothing else random.
        out: folder to write; replaced atomically, never left half-written.
        online: write the resized originals only and let the training loader draw the augmentations
            every epoch; ``copies`` must then be 0. Defaults to False.
        threads: worker processes; results do not depend on it. Defaults to 1 (no pool).

    Returns:
        The augmented manifest that was written to ``out/manifest.csv``.

    Raises:
        ConfigError: unknown or 3D recipe, a 3D manifest, ``size`` not of 2 positive values, negative
            ``copies``, ``threads`` below 1.
        DataError: unreadable or inconsistent manifest, split or sample; empty ``train`` subset.

    Example::

        augment_dataset(Path("results/data/kvasir_seg/manifest.csv"), Path("results/data/kvasir_seg/splits/medico2020.csv"),
                        "kd_resunetpp", (256, 256), copies=1, seed=0, out=Path("results/paper/kd_resunetpp/augmented"))
    """
    chosen = look_up_option(recipe, RECIPES, "augmentation recipe")
    if not isinstance(chosen, Recipe2D):
        raise ConfigError(
            f"recipe {chosen.name!r} is 3D: 3D trainings cut a fresh patch every time a case is drawn (kdseg.engine.patches) "
            "and write no augmented set; run kdseg-augment only for 2D experiments."
        )
    size = chosen.check_size(size)
    if int(copies) != copies or copies < 0:
        raise ConfigError(f"copies must be a whole number >= 0, got {copies!r}. Fix experiments.<exp>.augment.copies (or --copies).")
    if online and copies:
        raise ConfigError(f"online augmentation draws afresh every epoch and writes no copies, but copies is {copies}; use copies 0 with --online.")
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
            _SampleJob(chosen, size, int(copies), int(seed), row["id"], row["image"], row["mask"], str(folder))
            for row in train.to_dict("records")
        ]
        bar = progress(_map_jobs(jobs, int(threads)), desc=f"augment {chosen.name}", total=len(jobs), unit="sample")
        rows = [row for sample_rows in bar for row in sample_rows]
        table = pd.DataFrame(rows, columns=list(AUGMENTED_COLUMNS))
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


def _training_rows(manifest: Path, split: Path, recipe: Recipe2D) -> pd.DataFrame:
    """The manifest rows of the split's ``train`` subset, checked to describe 2D samples."""
    frame = read_manifest(manifest)
    if "modalities" in frame.columns:
        raise ConfigError(
            f"recipe {recipe.name!r} is for 2D data but manifest {manifest} describes 3D samples (it has a 'modalities' column). "
            "3D trainings cut their patches on the fly and write no augmented set; run kdseg-augment only for 2D experiments."
        )
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
    out = Path(job.out)
    image, mask = _read_image_pair(job)
    rows: list[dict[str, object]] = []
    for copy, sample in enumerate(job.recipe.expand(image, mask, job.size, job.copies, job.seed, job.sample_id)):
        output_id = f"{job.sample_id}__{copy:02d}"
        image_path, mask_path = f"images/{output_id}.png", f"masks/{output_id}.png"
        write_png(out / image_path, sample.image)
        write_png(out / mask_path, sample.mask * np.uint8(255))
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
