"""The organisers' reading of a package, written from their published rules (not their code).

EndoCV2021's ``compute_seg.py`` (github.com/sharib-vision/EndoCV2021-polyp_det_seg_gen) globs
``<dir>/semantic_masks/*.jpg``, scores ``<name>`` against ``<GT dir>/<name cut at the first '.', then the
first '_'>.jpg``, reads both with ``cv2.imread`` (3 channels, decoded by content), binarises with ``> 0``,
resizes the prediction to the ground truth's size (``INTER_AREA``), takes channel 0, and averages the
per-image Dice ``(2·|A∩B| + 1e-15) / (|A| + |B| + 1e-15)``.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

import cv2
import numpy as np


def dice(truth: np.ndarray, prediction: np.ndarray) -> float:
    """Their Dice of two 0/1 arrays."""
    return float((2 * (truth * prediction).sum() + 1e-15) / (truth.sum() + prediction.sum() + 1e-15))


def read_mask(path: str | Path, above: int) -> np.ndarray:
    """A mask file as 0/1 (H, W): ``cv2.imread``, ``> above``, channel 0."""
    return (cv2.imread(str(path)) > above).astype(np.uint8)[:, :, 0]


def endocv_mean_dice(eval_dir: Path, gt_dir: Path) -> tuple[float, int]:
    """compute_seg.py's mean Dice of ``eval_dir/semantic_masks/*.jpg`` and the number of masks it read."""
    predictions = glob.glob(os.path.join(eval_dir, "semantic_masks", "*.jpg"))
    scores = []
    for file in predictions:
        truth = (cv2.imread(os.path.join(gt_dir, os.path.split(file)[-1].split(".")[0].split("_")[0] + ".jpg")) > 0).astype(np.uint8)[:, :, 0]
        prediction = (cv2.imread(file) > 0).astype(np.uint8)
        prediction = cv2.resize(prediction, (truth.shape[1], truth.shape[0]), interpolation=cv2.INTER_AREA)[:, :, 0]
        scores.append(dice(truth, prediction))
    return float(np.mean(scores)), len(scores)
