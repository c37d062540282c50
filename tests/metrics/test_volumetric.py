"""Tests of kdseg.metrics.volumetric: BraTS region Dice, HD95 in mm, per-case metrics."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from kdseg.metrics import case_metrics, hd95, region_dice
from kdseg.metrics.volumetric import HD95_EMPTY
from kdseg.utils.errors import DataError


def cube(shape: tuple[int, int, int], start: tuple[int, int, int], size: int) -> np.ndarray:
    mask = np.zeros(shape, dtype=np.uint8)
    mask[tuple(slice(s, s + size) for s in start)] = 1
    return mask


# Two 2×2×2 cubes 4 voxels apart along one axis. Every voxel of a 2×2×2 cube is a surface voxel;
# from each cube, 4 voxels are 3 steps and 4 voxels are 4 steps from the other cube's nearest voxel,
# so the sorted directed distances are [3, 3, 3, 3, 4, 4, 4, 4] steps and their 95th percentile
# (position 0.95·7 = 6.65, between two 4s) is 4 steps, times the spacing along the shift axis; pooled,
# the 16 distances [3 ×8, 4 ×8] give position 0.95·15 = 14.25, again between two 4s.
SHAPE = (8, 8, 8)
SPACING = (2.0, 1.0, 0.5)
HD95_CASES = [
    # (pred, gt, spacing, expected mm)
    (cube(SHAPE, (2, 2, 2), 3), cube(SHAPE, (2, 2, 2), 3), SPACING, 0.0),  # identical
    (np.zeros(SHAPE), np.zeros(SHAPE), SPACING, math.nan),  # both empty: not counted (BraTS organisers)
    (np.zeros(SHAPE), cube(SHAPE, (2, 2, 2), 2), SPACING, HD95_EMPTY),  # empty prediction
    (cube(SHAPE, (2, 2, 2), 2), np.zeros(SHAPE), SPACING, HD95_EMPTY),  # empty ground truth
]


@pytest.mark.parametrize("pooling", ["pooled", "max"])
@pytest.mark.parametrize("pred, gt, spacing, expected", HD95_CASES)
def test_hd95(pred, gt, spacing, expected, pooling):
    assert hd95(pred, gt, spacing, pooling) == pytest.approx(expected, nan_ok=True)


DISJOINT_CASES = [
    (cube(SHAPE, (0, 0, 0), 2), cube(SHAPE, (4, 0, 0), 2), SPACING, 4 * 2.0),  # shift along x
    (cube(SHAPE, (0, 3, 0), 2), cube(SHAPE, (0, 3, 4), 2), SPACING, 4 * 0.5),  # shift along z
    (cube(SHAPE, (1, 4, 1), 2), cube(SHAPE, (1, 0, 1), 2), SPACING, 4 * 1.0),  # shift along y
]


@pytest.mark.parametrize("pred, gt, spacing, expected", DISJOINT_CASES)
def test_hd95_of_masks_that_do_not_overlap(pred, gt, spacing, expected):
    # MONAI measures the distance; the organisers' package scores no overlap as an infinite distance
    assert hd95(pred, gt, spacing, "max") == pytest.approx(expected)
    assert hd95(pred, gt, spacing, "pooled") == HD95_EMPTY


def test_hd95_pooled_differs_from_the_larger_directed_percentile():
    # gt = a 1×1×3 bar, pred = its first voxel: pred → gt distances [0]; gt → pred [0, 1, 2].
    # max: larger of P95([0]) = 0 and P95([0, 1, 2]) = 1.9 → 1.9; pooled: P95([0, 0, 1, 2]) at
    # position 0.95·3 = 2.85 → 1 + 0.85·(2 − 1) = 1.85
    gt = np.zeros((5, 5, 5), np.uint8)
    gt[2, 2, 1:4] = 1
    pred = np.zeros_like(gt)
    pred[2, 2, 1] = 1
    assert hd95(pred, gt, (1.0, 1.0, 1.0), "max") == pytest.approx(1.9)
    assert hd95(pred, gt, (1.0, 1.0, 1.0), "pooled") == pytest.approx(1.85)


def test_hd95_ignores_an_outlier_below_five_percent():
    # prediction = 3×3×3 cube (26 surface voxels) + 1 stray voxel 6 steps along x from the cube's face:
    # directed distances are 26 zeros and 6·2 mm; position 0.95·26 = 24.7 lies among the zeros → 0,
    # while the plain Hausdorff distance would be 12 mm
    gt = cube((12, 8, 8), (2, 2, 2), 3)
    pred = gt.copy()
    pred[10, 3, 3] = 1
    assert hd95(pred, gt, SPACING) == 0.0


def test_hd95_matches_monai():
    monai_metrics = pytest.importorskip("monai.metrics")
    torch = pytest.importorskip("torch")
    from scipy import ndimage

    rng = np.random.default_rng(0)
    spacing = (1.0, 2.0, 0.7)
    for _ in range(3):
        pred, gt = (ndimage.binary_dilation(rng.random((20, 18, 16)) > 0.97, iterations=2) for _ in range(2))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            reference = monai_metrics.compute_hausdorff_distance(
                torch.from_numpy(pred[None, None]), torch.from_numpy(gt[None, None]), percentile=95, spacing=spacing
            )
        assert hd95(pred, gt, spacing, "max") == pytest.approx(float(reference), rel=1e-6)


# Region masks (3, 4, 4, 4) in WT, TC, ET order:
#   WT: prediction = ground truth (8 voxels) → Dice 1, HD95 0
#   TC: ground truth x = 0..1 of row (y = 0, z = 0), prediction x = 1..2 → tp 1, fp 1, fn 1 → Dice 2/4,
#       HD95: each mask's directed distances are [0, 1] mm (shared voxel, unmatched voxel); pooled,
#       [0, 0, 1, 1] has its 95th percentile at position 0.95·3 = 2.85, between two 1s → 1 mm
#   ET: both empty → Dice NaN, HD95 NaN (the organisers' package: the case does not count for ET)
def regions() -> tuple[np.ndarray, np.ndarray]:
    gt = np.zeros((3, 4, 4, 4), dtype=np.uint8)
    gt[0, :2, :2, :2] = 1
    pred = gt.copy()
    gt[1, 0:2, 0, 0] = 1
    pred[1, 1:3, 0, 0] = 1
    return pred, gt


def test_case_metrics():
    pred, gt = regions()
    scores = case_metrics(pred, gt, spacing=(1.0, 1.0, 1.0))
    expected = {"dice_WT": 1.0, "dice_TC": 0.5, "dice_ET": math.nan, "hd95_WT": 0.0, "hd95_TC": 1.0, "hd95_ET": math.nan}
    assert scores == pytest.approx(expected, nan_ok=True)


def test_case_metrics_empty_ground_truth_region():
    # ET predicted where the ground truth has none: Dice 0, HD95 373.13 mm (the organisers' stand-in for ∞)
    pred, gt = regions()
    pred[2, 3, 3, 3] = 1
    scores = case_metrics(pred, gt, spacing=(1.0, 1.0, 1.0))
    assert scores["dice_ET"] == 0.0
    assert scores["hd95_ET"] == HD95_EMPTY


REGION_DICE_CASES = [
    # (pred, gt, expected): 2·|P ∩ G| / (|P| + |G|)
    (cube(SHAPE, (0, 0, 0), 2), cube(SHAPE, (0, 0, 0), 2), 1.0),
    (cube(SHAPE, (0, 0, 0), 2), cube(SHAPE, (1, 0, 0), 2), 2 * 4 / 16),  # half-overlapping cubes
    (np.zeros(SHAPE), np.zeros(SHAPE), math.nan),
    (np.zeros(SHAPE), cube(SHAPE, (0, 0, 0), 2), 0.0),
    (cube(SHAPE, (0, 0, 0), 2), np.zeros(SHAPE), 0.0),
]


@pytest.mark.parametrize("pred, gt, expected", REGION_DICE_CASES)
def test_region_dice(pred, gt, expected):
    assert region_dice(pred, gt) == pytest.approx(expected, nan_ok=True)


ONES = np.ones((3, 4, 4, 4), dtype=np.uint8)
UNIT = (1.0, 1.0, 1.0)
ILL_ARG_CASES = [
    (case_metrics, (ONES[:2], ONES[:2], UNIT), r"prediction region masks must have shape \(3, X, Y, Z\) in WT/TC/ET order"),
    (case_metrics, (ONES, ONES[0], UNIT), r"ground truth region masks must have shape \(3, X, Y, Z\).*got \(4, 4, 4\)"),
    (case_metrics, (ONES, ONES[..., :3], UNIT), r"prediction regions \(3, 4, 4, 4\) differ in shape .* \(3, 4, 4, 3\)"),
    (case_metrics, (ONES, ONES, (1.0, 1.0)), r"voxel spacing must be 3 positive numbers \(mm per axis\), got \(1.0, 1.0\)"),
    (hd95, (ONES[0], ONES[0], (1.0, 0.0, 1.0)), r"voxel spacing must be 3 positive numbers.*got \(1.0, 0.0, 1.0\)"),
    (hd95, (ONES[0], ONES[0, :3], UNIT), r"prediction shape \(4, 4, 4\) differs from ground-truth shape \(3, 4, 4\)"),
    (region_dice, (ONES[0], ONES[0, :3]), r"prediction shape \(4, 4, 4\) differs from ground-truth shape \(3, 4, 4\)"),
]


@pytest.mark.parametrize("function, args, message", ILL_ARG_CASES)
def test_ill_arg(function, args, message):
    with pytest.raises(DataError, match=message):
        function(*args)


def test_case_metrics_match_the_organisers_package(tmp_path):
    """Cross-check with ``brats-evaluation`` 0.0.10 (panoptica) where it installs; it pins numpy < 2.3, so it
    usually lives in its own environment and this test skips."""
    brats_evaluation = pytest.importorskip("brats_evaluation")
    nib = pytest.importorskip("nibabel")
    from panoptica import Panoptica_Evaluator

    from kdseg.data.volumes import label_regions

    evaluator = Panoptica_Evaluator.load_from_config(str(brats_evaluation.config_path("gli")))
    rng = np.random.default_rng(0)
    from scipy import ndimage

    for case in range(4):
        maps = []
        for _ in range(2):
            wt = ndimage.binary_dilation(rng.random((30, 28, 24)) > 0.995, iterations=3)
            tc = wt & ndimage.binary_erosion(wt, iterations=2) & (rng.random(wt.shape) > 0.2)
            et = tc & (rng.random(wt.shape) > 0.5) if case else np.zeros_like(tc)
            labels = np.zeros(wt.shape, np.uint8)
            labels[wt], labels[tc], labels[et] = 2, 1, 3  # BraTS 2023 convention, the one the package reads
            maps.append(labels)
        for name, labels in zip(("pred", "ref"), maps):
            nib.save(nib.Nifti1Image(labels, np.eye(4)), tmp_path / f"{name}{case}.nii.gz")
        theirs = brats_evaluation.evaluate_single_exam(str(tmp_path / f"pred{case}.nii.gz"), str(tmp_path / f"ref{case}.nii.gz"), str(case), evaluator)
        ours = case_metrics(label_regions(maps[0], "brats2023"), label_regions(maps[1], "brats2023"), (1.0, 1.0, 1.0))
        for region in ("WT", "TC", "ET"):
            dice, distance = (float(theirs[region.lower()][f"global_bin_{m}"]) for m in ("dsc", "hd95"))
            assert ours[f"dice_{region}"] == pytest.approx(dice, nan_ok=True)
            assert ours[f"hd95_{region}"] == pytest.approx(HD95_EMPTY if math.isinf(distance) else distance, nan_ok=True)
