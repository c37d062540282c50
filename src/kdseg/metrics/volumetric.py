"""BraTS region metrics of 3D segmentations: Dice and 95th-percentile Hausdorff distance (HD95, mm).

Region masks are (3, X, Y, Z) in the order WT, TC, ET (:data:`kdseg.data.volumes.REGIONS`); score
the regions of the label map that is written (:func:`kdseg.engine.inference.predicted_regions`),
as the organisers' evaluation (``brats-evaluation`` 0.0.10, panoptica inside) does.

- Dice = 2·|P ∩ G| / (|P| + |G|). Empty regions as the organisers' package scores them: both masks
  empty → NaN (the case does not count in the region's mean); exactly one empty → 0.
- HD95: surface voxels are those of a mask removed by one binary erosion (6-connectivity); for each
  surface voxel of one mask, the Euclidean distance in mm (voxel ``spacing`` per axis) to the nearest
  surface voxel of the other. ``pooling="pooled"`` (default, the organisers' definition) takes the
  95th percentile of both directions' distances together, and masks that do not overlap at all
  score :data:`HD95_EMPTY`, as the organisers' package does; ``pooling="max"`` takes the larger of
  the two directed 95th percentiles, overlap or not (MONAI's
  ``compute_hausdorff_distance(percentile=95)``, which paper 003 reports with). Percentiles use
  numpy's linear interpolation. Both masks empty → NaN; exactly one empty → :data:`HD95_EMPTY` =
  373.13 mm (the organisers' stand-in for an infinite distance). Checked against ``brats-evaluation``
  0.0.10 (tests/metrics/test_volumetric.py): Dice and pooled HD95 agree; that package measures in
  voxels (it reads no spacing), which equals mm on the 1 mm BraTS grid.

Example:
    >>> scores = case_metrics(pred_regions, gt_regions, spacing=(1.0, 1.0, 1.0))
    >>> scores["dice_WT"], scores["hd95_ET"]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from kdseg.data.volumes import REGIONS
from kdseg.utils.errors import DataError
from kdseg.utils.options import look_up_option

__all__ = ["HD95_EMPTY", "HD95_POOLINGS", "case_metrics", "hd95", "region_dice"]

#: HD95 (mm) of a region that exactly one of prediction and reference holds, as the BraTS organisers report it
HD95_EMPTY = 373.13
#: ``pooled``: percentile of both directions' distances together (BraTS organisers); ``max``: larger directed percentile (MONAI)
HD95_POOLINGS = ("pooled", "max")


def _binary_pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred_mask, gt_mask = np.asarray(pred) != 0, np.asarray(gt) != 0
    if pred_mask.shape != gt_mask.shape:
        raise DataError(f"prediction shape {pred_mask.shape} differs from ground-truth shape {gt_mask.shape}")
    return pred_mask, gt_mask


def region_dice(pred: np.ndarray, gt: np.ndarray) -> float:
    """Dice of one binary region (any shape); both empty → NaN, one empty → 0.

    Raises:
        DataError: when the shapes differ.
    """
    pred_mask, gt_mask = _binary_pair(pred, gt)
    total = int(pred_mask.sum()) + int(gt_mask.sum())
    if total == 0:
        return float("nan")
    return 2.0 * int(np.logical_and(pred_mask, gt_mask).sum()) / total


def _surface(mask: np.ndarray) -> np.ndarray:
    """Voxels of ``mask`` with a 6-connected (face) neighbour outside it or beyond the array's edge."""
    structure = ndimage.generate_binary_structure(mask.ndim, 1)
    return mask & ~ndimage.binary_erosion(mask, structure=structure, border_value=0)


def _directed_surface_distances(
    from_surface: np.ndarray, to_surface: np.ndarray, spacing: Sequence[float]
) -> np.ndarray:
    """Distance (mm) from every voxel of ``from_surface`` to the nearest voxel of ``to_surface``."""
    distance_to_surface = ndimage.distance_transform_edt(~to_surface, sampling=spacing)
    return distance_to_surface[from_surface]


def _check_spacing(spacing: Sequence[float], ndim: int) -> tuple[float, ...]:
    values = tuple(float(s) for s in spacing)
    if len(values) != ndim or not all(np.isfinite(values)) or any(s <= 0 for s in values):
        raise DataError(f"voxel spacing must be {ndim} positive numbers (mm per axis), got {tuple(spacing)}")
    return values


def hd95(pred: np.ndarray, gt: np.ndarray, spacing: Sequence[float], pooling: str = "pooled") -> float:
    """95th-percentile symmetric Hausdorff distance in mm between two binary masks.

    Args:
        pred: predicted binary mask (X, Y, Z) (or any number of axes).
        gt: ground-truth binary mask of the same shape.
        spacing: voxel size in mm along each axis of the masks.
        pooling: ``pooled`` or ``max`` (see :data:`HD95_POOLINGS`). Defaults to "pooled".

    Returns:
        HD95 in mm; NaN when both masks are empty, :data:`HD95_EMPTY` when exactly one is (or, pooled,
        when they do not overlap).

    Raises:
        DataError: when the shapes differ or the spacing is not one positive number per axis.
        ConfigError: for an unknown ``pooling``.
    """
    look_up_option(pooling, HD95_POOLINGS, "HD95 pooling")
    pred_mask, gt_mask = _binary_pair(pred, gt)
    spacing = _check_spacing(spacing, pred_mask.ndim)
    pred_empty, gt_empty = not pred_mask.any(), not gt_mask.any()
    if pred_empty and gt_empty:
        return float("nan")
    if pred_empty or gt_empty or (pooling == "pooled" and not (pred_mask & gt_mask).any()):
        return HD95_EMPTY
    # Cropping to the bounding box of both masks keeps every surface voxel (a mask voxel on the box's
    # edge has its outer neighbour outside both masks), so the distances are unchanged while the
    # distance transforms run on far fewer voxels.
    union_box = ndimage.find_objects((pred_mask | gt_mask).astype(np.uint8))[0]
    pred_surface, gt_surface = _surface(pred_mask[union_box]), _surface(gt_mask[union_box])
    forward = _directed_surface_distances(pred_surface, gt_surface, spacing)
    backward = _directed_surface_distances(gt_surface, pred_surface, spacing)
    if pooling == "pooled":
        return float(np.percentile(np.concatenate([forward, backward]), 95))
    return float(max(np.percentile(forward, 95), np.percentile(backward, 95)))


def case_metrics(pred_regions: np.ndarray, gt_regions: np.ndarray, spacing: Sequence[float], pooling: str = "pooled") -> dict[str, float]:
    """Dice and HD95 of each BraTS region of one case.

    Args:
        pred_regions: predicted region masks (3, X, Y, Z) in WT, TC, ET order.
        gt_regions: ground-truth region masks of the same shape.
        spacing: voxel size in mm along X, Y, Z.
        pooling: HD95 pooling, see :func:`hd95`. Defaults to "pooled".

    Returns:
        ``{"dice_WT", "dice_TC", "dice_ET", "hd95_WT", "hd95_TC", "hd95_ET"}``.

    Raises:
        DataError: when the arrays are not (3, X, Y, Z) of equal shape, or the spacing is invalid.
    """
    pred_regions, gt_regions = np.asarray(pred_regions), np.asarray(gt_regions)
    for what, regions in (("prediction", pred_regions), ("ground truth", gt_regions)):
        if regions.ndim != 4 or regions.shape[0] != len(REGIONS):
            raise DataError(
                f"{what} region masks must have shape ({len(REGIONS)}, X, Y, Z) in {'/'.join(REGIONS)} order, "
                f"got {regions.shape}; convert label maps with kdseg.data.volumes.label_regions"
            )
    if pred_regions.shape != gt_regions.shape:
        raise DataError(
            f"prediction regions {pred_regions.shape} differ in shape from ground-truth regions {gt_regions.shape}"
        )
    spacing = _check_spacing(spacing, 3)
    scores = {f"dice_{name}": region_dice(pred_regions[i], gt_regions[i]) for i, name in enumerate(REGIONS)}
    scores.update({f"hd95_{name}": hd95(pred_regions[i], gt_regions[i], spacing, pooling) for i, name in enumerate(REGIONS)})
    return scores
