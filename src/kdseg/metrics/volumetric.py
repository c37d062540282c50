"""BraTS region metrics of 3D segmentations: Dice and 95th-percentile Hausdorff distance (HD95, mm).

Region masks are (3, X, Y, Z) in the order WT, TC, ET (:data:`kdseg.data.volumes.REGIONS`).

- Dice = 2·|P ∩ G| / (|P| + |G|); both masks empty → 1 (as the BraTS evaluation: a case without
  enhancing tumour predicted without it is perfect), one of them empty → 0.
- HD95 follows MONAI's ``compute_hausdorff_distance(percentile=95)``, the implementation paper 003
  (Banerjee et al., DSD, ISBI 2024) reports with: surface voxels are those of the mask removed by one
  binary erosion (6-connectivity); for each surface voxel of one mask, the Euclidean distance in mm
  (voxel ``spacing`` applied per axis) to the nearest surface voxel of the other mask is taken; HD95
  is the larger of the two directed 95th percentiles (numpy's linear interpolation).
  Both masks empty → 0.0; exactly one empty → NaN (the distance is undefined; the BraTS online
  evaluation writes 373.13 mm there instead, so report NaN counts next to means).

Example:
    >>> scores = case_metrics(pred_regions, gt_regions, spacing=(1.0, 1.0, 1.0))
    >>> scores["dice_WT"], scores["hd95_ET"]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from kdseg.data.volumes import REGIONS
from kdseg.metrics.binary import confusion_counts, metrics_from_counts
from kdseg.utils.errors import DataError

__all__ = ["case_metrics", "hd95", "region_dice"]


def region_dice(pred: np.ndarray, gt: np.ndarray) -> float:
    """Dice of one binary region (any shape); both empty → 1, one empty → 0.

    Raises:
        DataError: when the shapes differ.
    """
    return metrics_from_counts(confusion_counts(pred, gt))["dsc"]


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


def hd95(pred: np.ndarray, gt: np.ndarray, spacing: Sequence[float]) -> float:
    """95th-percentile symmetric Hausdorff distance in mm between two binary masks.

    Args:
        pred: predicted binary mask (X, Y, Z) (or any number of axes).
        gt: ground-truth binary mask of the same shape.
        spacing: voxel size in mm along each axis of the masks.

    Returns:
        HD95 in mm; 0.0 when both masks are empty, NaN when exactly one is.

    Raises:
        DataError: when the shapes differ or the spacing is not one positive number per axis.
    """
    pred_mask, gt_mask = np.asarray(pred) != 0, np.asarray(gt) != 0
    if pred_mask.shape != gt_mask.shape:
        raise DataError(f"prediction shape {pred_mask.shape} differs from ground-truth shape {gt_mask.shape}")
    spacing = _check_spacing(spacing, pred_mask.ndim)
    pred_empty, gt_empty = not pred_mask.any(), not gt_mask.any()
    if pred_empty and gt_empty:
        return 0.0
    if pred_empty or gt_empty:
        return float("nan")
    # Cropping to the bounding box of both masks keeps every surface voxel (a mask voxel on the box's
    # edge has its outer neighbour outside both masks), so the distances are unchanged while the
    # distance transforms run on far fewer voxels.
    union_box = ndimage.find_objects((pred_mask | gt_mask).astype(np.uint8))[0]
    pred_surface, gt_surface = _surface(pred_mask[union_box]), _surface(gt_mask[union_box])
    forward = np.percentile(_directed_surface_distances(pred_surface, gt_surface, spacing), 95)
    backward = np.percentile(_directed_surface_distances(gt_surface, pred_surface, spacing), 95)
    return float(max(forward, backward))


def case_metrics(pred_regions: np.ndarray, gt_regions: np.ndarray, spacing: Sequence[float]) -> dict[str, float]:
    """Dice and HD95 of each BraTS region of one case.

    Args:
        pred_regions: predicted region masks (3, X, Y, Z) in WT, TC, ET order.
        gt_regions: ground-truth region masks of the same shape.
        spacing: voxel size in mm along X, Y, Z.

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
    scores.update({f"hd95_{name}": hd95(pred_regions[i], gt_regions[i], spacing) for i, name in enumerate(REGIONS)})
    return scores
