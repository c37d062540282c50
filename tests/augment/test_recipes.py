"""Tests of kdseg.augment.recipes: shapes, dtypes, binary masks / label values, alignment, seeding."""

from __future__ import annotations

import albumentations as A
import numpy as np
import pytest

from kdseg.augment.recipes import RECIPES, AugmentedSample, Recipe2D, Recipe3D, seeded_compose, zscore_nonzero
from kdseg.utils.errors import ConfigError

RECIPES_2D = ("kd_resunetpp", "kd_resunetpp_scale_colour", "attunet_transfer", "xpnet")
RECIPES_3D = ("brats_ensemble_kd", "dsd")
SIZE_2D = (32, 32)
LABELS_3D = (0, 1, 2, 4)


def _image_pair() -> tuple[np.ndarray, np.ndarray]:
    """A 40x50 RGB image whose blue-minus-red level marks the mask: an off-centre ellipse (no symmetry)."""
    yy, xx = np.mgrid[:40, :50]
    mask = (((yy - 22) / 11) ** 2 + ((xx - 18) / 13) ** 2 < 1).astype(np.uint8)
    image = np.where(mask[..., None] == 1, np.uint8([40, 40, 230]), np.uint8([40, 40, 40])).astype(np.uint8)
    return image, mask


def _volume_pair() -> tuple[np.ndarray, np.ndarray]:
    """A (2, 20, 20, 16) volume and label map of nested balls (labels 1, 2, 4) around (10, 10, 8).

    Channel 0 is 1 + the label value (every voxel non-zero), so after z-scoring it is an increasing
    function of the label; channel 1 is noise with zero background.
    """
    xx, yy, zz = np.mgrid[:20, :20, :16]
    radius = np.sqrt((xx - 10.0) ** 2 + (yy - 10.0) ** 2 + (zz - 8.0) ** 2)
    labels = np.select([radius < 2, radius < 3.5, radius < 5], [4, 2, 1], 0).astype(np.uint8)
    noise = np.random.default_rng(1).normal(100, 20, labels.shape) * (radius < 7)
    return np.stack([1.0 + labels, noise]).astype(np.float32), labels


def _patch() -> AugmentedSample:
    """The whole :func:`_volume_pair` case as PatchSet hands a patch to a 3D recipe: z-scored, with its start voxel."""
    volume, labels = _volume_pair()
    return AugmentedSample(zscore_nonzero(volume), labels)


def _transformed(name: str, draws: int, seed: int) -> list[AugmentedSample]:
    """``draws`` independent changes of :func:`_patch` by 3D recipe ``name``."""
    return [RECIPES[name].transform(_patch(), np.random.default_rng([seed, draw])) for draw in range(draws)]


def _blue_foreground(image: np.ndarray) -> np.ndarray:
    as_int = image.astype(int)
    return as_int[..., 2] - as_int[..., 0] > 60


@pytest.mark.parametrize(
    ("name", "paper", "kind"),
    [
        ("kd_resunetpp", "000", Recipe2D),
        ("kd_resunetpp_scale_colour", "000", Recipe2D),
        ("xpnet", "001", Recipe2D),
        ("attunet_transfer", "002", Recipe2D),
        ("dsd", "003", Recipe3D),
        ("brats_ensemble_kd", "004", Recipe3D),
    ],
)
def test_registry(name: str, paper: str, kind: type) -> None:
    recipe = RECIPES[name]
    assert (recipe.name, recipe.paper, recipe.spatial_dims) == (name, paper, 2 if kind is Recipe2D else 3)
    assert isinstance(recipe, kind)
    assert "The paper" in type(recipe).__doc__  # each recipe quotes its paper


@pytest.mark.parametrize(("name", "outputs_per_copy"), [("kd_resunetpp", 2), ("kd_resunetpp_scale_colour", 1), ("xpnet", 1), ("attunet_transfer", 1)])
def test_outputs_per_sample(name: str, outputs_per_copy: int) -> None:
    recipe = RECIPES[name]
    assert recipe.outputs_per_copy == outputs_per_copy
    assert recipe.outputs_per_sample(3) == 1 + 3 * outputs_per_copy


def test_registry_holds_exactly_the_config_recipes() -> None:
    assert sorted(RECIPES) == sorted(RECIPES_2D + RECIPES_3D)


@pytest.mark.parametrize("name", RECIPES_2D)
def test_2d_outputs_shapes_dtypes_binary_masks(name: str) -> None:
    image, mask = _image_pair()
    recipe = RECIPES[name]
    outputs = recipe.expand(image, mask, SIZE_2D, copies=3, seed=0, sample_id="s1")
    assert len(outputs) == recipe.outputs_per_sample(3)
    for out in outputs:
        assert out.image.shape == (*SIZE_2D, 3) and out.image.dtype == np.uint8
        assert out.mask.shape == SIZE_2D and out.mask.dtype == np.uint8
        assert set(np.unique(out.mask)) <= {0, 1}
    # copy 0 is the plain resize, whatever the seed
    other_seed = recipe.expand(image, mask, SIZE_2D, copies=0, seed=99, sample_id="s1")
    assert len(other_seed) == 1
    np.testing.assert_array_equal(outputs[0].image, other_seed[0].image)
    np.testing.assert_array_equal(outputs[0].mask, other_seed[0].mask)


@pytest.mark.parametrize("name", RECIPES_2D)
def test_2d_mask_stays_aligned_with_image(name: str) -> None:
    # The mask equals "blue - red > 60" before augmentation. Afterwards it still does except on
    # interpolated edges and under sun flares (an image-only occlusion); a mask flipped against its
    # image agrees on about 74 % of pixels only.
    image, mask = _image_pair()
    agreement = [
        np.mean(_blue_foreground(out.image) == (out.mask == 1))
        for seed in range(10)
        for out in RECIPES[name].expand(image, mask, SIZE_2D, copies=3, seed=seed, sample_id="s1")
    ]
    assert np.mean(agreement) >= 0.95
    assert min(agreement) >= 0.8


@pytest.mark.parametrize("name", RECIPES_2D)
def test_expand_is_seeded_by_sample_and_draw(name: str) -> None:
    image, mask = _image_pair()
    recipe = RECIPES[name]
    three = recipe.expand(image, mask, SIZE_2D, copies=3, seed=5, sample_id="s1")
    again = recipe.expand(image, mask, SIZE_2D, copies=3, seed=5, sample_id="s1")
    one = recipe.expand(image, mask, SIZE_2D, copies=1, seed=5, sample_id="s1")
    for a, b in zip(three, again):
        np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(a.mask, b.mask)
    # draw 1 does not depend on how many draws follow
    for a, b in zip(one, three):
        np.testing.assert_array_equal(a.image, b.image)
    # another seed or another sample id gives other draws
    per = recipe.outputs_per_copy
    for kwargs in ({"seed": 6, "sample_id": "s1"}, {"seed": 5, "sample_id": "s2"}):
        other = recipe.expand(image, mask, SIZE_2D, copies=3, **kwargs)
        assert any(not np.array_equal(a.image, b.image) for a, b in zip(three[1:], other[1:])), kwargs
    assert len(three) == 1 + 3 * per


def test_kd_resunetpp_produces_rotations_and_their_flips() -> None:
    image, mask = _image_pair()
    recipe = RECIPES["kd_resunetpp"]
    copies = 12
    outputs = recipe.expand(image, mask, SIZE_2D, copies=copies, seed=0, sample_id="s1")
    assert len(outputs) == 1 + 2 * copies
    resized = outputs[0]
    seen_k = set()
    for draw in range(1, copies + 1):
        rotated, flipped = outputs[2 * draw - 1], outputs[2 * draw]
        matches = [k for k in range(4) if np.array_equal(rotated.image, np.rot90(resized.image, k))]
        assert len(matches) == 1, f"draw {draw} is not a 90° rotation of the resized original"
        k = matches[0]
        seen_k.add(k)
        np.testing.assert_array_equal(rotated.mask, np.rot90(resized.mask, k))
        np.testing.assert_array_equal(flipped.image, np.fliplr(rotated.image))
        np.testing.assert_array_equal(flipped.mask, np.fliplr(rotated.mask))
    assert seen_k == {0, 1, 2, 3}  # k drawn from 0..3 ("zero or more times")


def test_kd_resunetpp_resizes_image_smoothly_and_mask_nearest() -> None:
    image, mask = _image_pair()
    resized = RECIPES["kd_resunetpp"].expand(image, mask, (80, 80), copies=0, seed=0, sample_id="s1")[0]
    assert resized.image.shape == (80, 80, 3)
    # upscaling is bilinear: edge pixels take blue levels between the two source colours
    assert len(np.unique(resized.image[..., 2])) > 2
    assert set(np.unique(resized.mask)) == {0, 1}


def test_kd_resunetpp_scale_colour_varies_size_and_colour_where_the_paper_recipe_does_not() -> None:
    image, mask = _image_pair()
    resized = RECIPES["kd_resunetpp"].expand(image, mask, SIZE_2D, copies=0, seed=0, sample_id="s1")[0]
    area = int(resized.mask.sum())

    def foreground_blue(sample: AugmentedSample) -> float:
        return float(sample.image[..., 2][sample.mask == 1].mean())

    for name, varies in (("kd_resunetpp", False), ("kd_resunetpp_scale_colour", True)):
        draws = [RECIPES[name].draw(resized.image, resized.mask, np.random.default_rng(seed)) for seed in range(40)]
        areas = [int(d.mask.sum()) for d in draws]
        blues = [foreground_blue(d) for d in draws]
        if varies:  # polyps seen smaller and larger (scale 0.75-1.25), under other lighting
            assert min(areas) < 0.8 * area and max(areas) > 1.2 * area, (area, areas)
            assert max(blues) - min(blues) > 20, blues
        else:  # rotations by 90° and flips only move pixels
            assert set(areas) == {area}
            assert max(blues) - min(blues) < 1e-9


@pytest.mark.parametrize(
    ("name", "size", "match"),
    [
        ("kd_resunetpp", (32, 48), "square"),
        ("xpnet", (32, 32, 32), "needs a size of 2 values"),
        ("attunet_transfer", (32,), "needs a size of 2 values"),
        ("xpnet", (16, 0), "must be positive"),
    ],
)
def test_ill_size(name: str, size: tuple[int, ...], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        RECIPES[name].check_size(size)


def test_seeded_compose_gives_each_transform_its_own_seed() -> None:
    # albumentations 2.0.8 Compose(seed=s) seeds every transform alike: both flips fire together.
    image = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    outcomes = set()
    plain = set()
    for seed in range(40):
        flips = [A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5)]
        applied = seeded_compose(flips, seed, save_applied_params=True)(image=image)["applied_transforms"]
        outcomes.add(tuple(name for name, _ in applied))
        applied = A.Compose([A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5)], seed=seed, save_applied_params=True)(image=image)["applied_transforms"]
        plain.add(tuple(name for name, _ in applied))
    assert outcomes == {(), ("HorizontalFlip",), ("VerticalFlip",), ("HorizontalFlip", "VerticalFlip")}
    assert plain == {(), ("HorizontalFlip", "VerticalFlip")}


def test_zscore_nonzero_by_hand() -> None:
    volume = np.zeros((3, 1, 1, 4), dtype=np.float32)
    volume[0, 0, 0] = [0, 1, 3, 0]  # non-zero voxels 1, 3: mean 2, std 1
    volume[1, 0, 0] = [5, 5, 0, 5]  # constant foreground: only centred
    out = zscore_nonzero(volume)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[0, 0, 0], [0, -1, 1, 0])
    np.testing.assert_allclose(out[1, 0, 0], [0, 0, 0, 0])
    np.testing.assert_allclose(out[2], 0)  # empty modality stays zero


@pytest.mark.parametrize("name", RECIPES_3D)
def test_3d_transform_keeps_shape_dtype_and_label_values(name: str) -> None:
    patch = _patch()
    for out in _transformed(name, draws=3, seed=0):
        assert out.image.shape == patch.image.shape and out.image.dtype == np.float32
        assert out.mask.shape == patch.mask.shape and out.mask.dtype == np.uint8
        assert set(np.unique(out.mask)) == set(LABELS_3D)  # nearest neighbour: no new values, none lost


def test_brats_ensemble_kd_keeps_labels_aligned() -> None:
    # channel 0 increases with the label before augmentation; the contrast/shift changes are
    # increasing too, so the brightest voxels of channel 0 must be the tumour voxels, up to the
    # trilinear/nearest difference on edges.
    for out in _transformed("brats_ensemble_kd", draws=4, seed=3):
        tumour = out.mask > 0
        brightest = np.zeros(tumour.size, dtype=bool)
        brightest[np.argsort(out.image[0], axis=None, kind="stable")[-tumour.sum():]] = True
        overlap = np.sum(brightest & tumour.ravel()) / tumour.sum()
        assert overlap >= 0.9


def test_brats_ensemble_kd_rotates_and_scales() -> None:
    for out in _transformed("brats_ensemble_kd", draws=2, seed=0):
        # trilinear resampling creates values between the few z-scored levels of channel 0
        assert len(np.unique(out.image[0])) > 50


def test_dsd_is_flip_then_affine_intensity() -> None:
    # No resampling in this recipe: channel 0 stays an exact affine function of the label map, with
    # slope (1 + f) / std and |f| <= 0.1 (RandScaleIntensity), so image and labels are aligned voxel for voxel.
    volume, _ = _volume_pair()
    std = volume[0].std()  # every voxel of channel 0 is non-zero: z-scoring divides by the plain std
    for out in _transformed("dsd", draws=4, seed=1):
        design = np.stack([out.mask.ravel().astype(np.float64), np.ones(out.mask.size)], axis=1)
        (slope, _), residual, *_ = np.linalg.lstsq(design, out.image[0].ravel().astype(np.float64), rcond=None)
        assert residual.size == 0 or residual[0] < 1e-6
        assert 0.9 / std - 1e-6 <= slope <= 1.1 / std + 1e-6

