"""Augmentation recipes, one per reproduced paper.

A 2D recipe (:class:`Recipe2D`) makes the augmented training set of a 2D experiment (``kdseg-augment``):
output 0 is the un-augmented original brought to the training size, then every *draw*
``j = 1..copies`` adds :attr:`Recipe2D.outputs_per_copy` augmented samples made from a generator
seeded by :func:`~kdseg.utils.seed.rng_for` ``(seed, recipe name, sample id, j)``, so a sample's
outputs never depend on which worker made them or in which order (see :meth:`Recipe2D.expand`).
A set written ``online`` holds output 0 only, and the training loader draws a fresh augmentation of
it every epoch (:meth:`Recipe2D.draw`).

A 3D recipe (:class:`Recipe3D`) writes nothing: :class:`kdseg.engine.patches.PatchSet` cuts a fresh
patch every time a training case is drawn, and :meth:`Recipe3D.transform` changes it.

Conventions:

- 2D recipes take an RGB image ``(H, W, 3)`` uint8 and a mask ``(H, W)`` uint8 in {0, 1}; they resize
  to ``size = (H, W)`` first (image bilinear, or area when shrinking; mask nearest) and then apply
  albumentations 2.0.8 transforms. Masks stay exactly {0, 1}: every geometric transform samples
  them with nearest neighbour and colour transforms do not touch them.
- 3D recipes take a patch ``(C, X, Y, Z)`` float32 whose modalities :class:`~kdseg.engine.patches.PatchSet`
  has z-scored over their non-zero voxels (:func:`zscore_nonzero`; paper 004's preprocessing), and its
  label map ``(X, Y, Z)`` uint8 with the data set's own values. Rotation, scaling, mirroring and
  intensity changes, which albumentations lacks in 3D, are small NumPy / ``scipy.ndimage`` functions
  here. Label maps are only ever sampled with nearest neighbour, so their values stay a subset of the
  source's.

albumentations 2.0.8 seeding: ``A.Compose(transforms, seed=s)`` hands the *same* seed to every
transform, so two transforms with the same probability (``HorizontalFlip(p=0.5)`` and
``VerticalFlip(p=0.5)``) always fire together. :func:`seeded_compose` gives each transform its own
seed derived from ``s`` instead.

Example::

    from kdseg.augment.recipes import RECIPES
    outputs = RECIPES["kd_resunetpp"].expand(image, mask, (256, 256), copies=1, seed=0, sample_id="cju0qkwl")
    # outputs[0]: resized original; outputs[1]: rot90 k times; outputs[2]: outputs[1] flipped left-right
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import albumentations as A
import cv2
import numpy as np
from scipy import ndimage

from kdseg.data.volumes import zscore_nonzero
from kdseg.utils.errors import ConfigError
from kdseg.utils.seed import derive_seed, rng_for

__all__ = [
    "RECIPES",
    "AttUNetTransferRecipe",
    "AugmentedSample",
    "BratsEnsembleKDRecipe",
    "DSDRecipe",
    "KDResUNetPPRecipe",
    "KDResUNetPPScaleColourRecipe",
    "Recipe",
    "Recipe2D",
    "Recipe3D",
    "XPNetRecipe",
    "seeded_compose",
    "zscore_nonzero",
]


@dataclass(frozen=True)
class AugmentedSample:
    """One sample a recipe makes or changes.

    Attributes:
        image: 2D: ``(H, W, 3)`` uint8. 3D: ``(C, X, Y, Z)`` float32.
        mask: 2D: ``(H, W)`` uint8 in {0, 1}. 3D: ``(X, Y, Z)`` uint8 label map.
    """

    image: np.ndarray
    mask: np.ndarray


def seeded_compose(transforms: Sequence[A.BasicTransform], seed: int, **compose_kwargs: Any) -> A.Compose:
    """An ``A.Compose`` in which transform ``i`` draws from its own seed ``derive_seed(seed, i)``.

    Args:
        transforms: the albumentations transforms, applied in order.
        seed: the seed of this call (one per sample and draw).
        compose_kwargs: passed to ``A.Compose`` (``save_applied_params``...).

    Example::

        pipeline = seeded_compose([A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5)], seed=7)
        out = pipeline(image=image, mask=mask)
    """
    pipeline = A.Compose(list(transforms), seed=seed, **compose_kwargs)
    for index, transform in enumerate(pipeline.transforms):
        transform.set_random_seed(derive_seed(seed, index))
    return pipeline


def _draw_seed(rng: np.random.Generator) -> int:
    """A 32-bit seed for albumentations drawn from the sample's generator."""
    return int(rng.integers(0, 2**32))


class Recipe(ABC):
    """A paper's augmentation recipe: its name, its paper and the data it works on.

    :class:`Recipe2D` makes the augmented training set of a 2D experiment; :class:`Recipe3D` changes
    the training patches of a 3D experiment, which :class:`kdseg.engine.patches.PatchSet` cuts afresh
    every time a case is drawn.
    """

    #: key in :data:`RECIPES` and in the config (``experiments.<exp>.augment.recipe``)
    name: ClassVar[str]
    #: file stem prefix of the paper in ``papers/`` (000..004)
    paper: ClassVar[str]
    #: 2 for RGB images with binary masks, 3 for multi-modal volumes with label maps
    spatial_dims: ClassVar[int]


# --------------------------------------------------------------------------------------------------
# 2D: RGB image + binary mask


class Recipe2D(Recipe):
    """2D recipe: resize to ``size``, then the albumentations transforms of :meth:`transforms`.

    :meth:`expand` makes every output of one sample for an offline augmented set (:meth:`original`,
    then :meth:`augment` per draw); :meth:`draw` makes one augmentation on the fly.

    Example::

        recipe = RECIPES["xpnet"]
        size = recipe.check_size([512, 512])
        outputs = recipe.expand(image, mask, size, copies=2, seed=0, sample_id="case_001")
    """

    spatial_dims: ClassVar[int] = 2
    #: augmented samples produced by one draw
    outputs_per_copy: ClassVar[int] = 1

    def check_size(self, size: Sequence[int]) -> tuple[int, ...]:
        """Return ``size`` as a tuple of ints after checking its length and values.

        Raises:
            ConfigError: when ``size`` does not have 2 positive entries.
        """
        values = tuple(int(s) for s in size)
        if len(values) != 2:
            raise ConfigError(
                f"recipe {self.name!r} works on 2D data and needs a size of 2 values (H W); got {list(values)}. "
                "Fix experiments.<exp>.augment.size (or --size)."
            )
        if min(values) < 1:
            raise ConfigError(f"augmentation size must be positive, got {list(values)}. Fix experiments.<exp>.augment.size.")
        return values

    def outputs_per_sample(self, copies: int) -> int:
        """Number of samples :meth:`expand` writes per source sample: the original plus every draw's outputs."""
        return 1 + copies * self.outputs_per_copy

    @staticmethod
    def _resize(size: tuple[int, ...]) -> A.Resize:
        # area interpolation when shrinking avoids aliasing on the large Kvasir/PolypGen frames
        return A.Resize(size[0], size[1], interpolation=cv2.INTER_LINEAR, mask_interpolation=cv2.INTER_NEAREST, area_for_downscale="image")

    @staticmethod
    def _run(pipeline: A.BasicTransform | A.Compose, image: np.ndarray, mask: np.ndarray) -> AugmentedSample:
        result = pipeline(image=image, mask=mask)
        return AugmentedSample(np.ascontiguousarray(result["image"]), np.ascontiguousarray(result["mask"]))

    def transforms(self, size: tuple[int, ...]) -> list[A.BasicTransform]:
        """The random transforms applied after resizing. Defaults to none."""
        return []

    def original(self, image: np.ndarray, mask: np.ndarray, size: tuple[int, ...]) -> AugmentedSample:
        """Output 0: the sample resized to ``size`` without random changes."""
        return self._run(self._resize(size), image, mask)

    def augment(self, image: np.ndarray, mask: np.ndarray, size: tuple[int, ...], rng: np.random.Generator) -> list[AugmentedSample]:
        """The :attr:`outputs_per_copy` samples of one draw, all random choices taken from ``rng``."""
        pipeline = seeded_compose([self._resize(size), *self.transforms(size)], _draw_seed(rng))
        return [self._run(pipeline, image, mask)]

    def draw(self, image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> AugmentedSample:
        """One random augmentation of a sample already at the training size (on-the-fly augmentation).

        The training loader calls it on copy 0 of an augmented set written with ``online=True``, with a
        generator seeded by the sample and the epoch, so every epoch sees fresh draws and two runs the same ones.
        """
        return self._run(seeded_compose(self.transforms(tuple(image.shape[:2])), _draw_seed(rng)), image, mask)

    def expand(self, image: np.ndarray, mask: np.ndarray, size: Sequence[int], copies: int, seed: int, sample_id: str) -> list[AugmentedSample]:
        """Every output for one sample; list index = the ``copy`` number in the augmented manifest.

        Args:
            image: ``(H, W, 3)`` uint8.
            mask: ``(H, W)`` uint8 in {0, 1}.
            size: output size, ``(H, W)``.
            copies: number of draws (each gives :attr:`outputs_per_copy` samples).
            seed: base seed of the run.
            sample_id: the source sample's id; with ``seed`` and the draw index it seeds each draw.

        Returns:
            ``1 + copies * outputs_per_copy`` samples: the original, then draw 1's outputs, draw 2's...
        """
        size = self.check_size(size)
        outputs = [self.original(image, mask, size)]
        for draw in range(1, copies + 1):
            outputs.extend(self.augment(image, mask, size, rng_for(seed, self.name, sample_id, draw)))
        return outputs


class KDResUNetPPRecipe(Recipe2D):
    """Paper 000, KD-ResUNet++ (Kang & Gwak, MediaEval 2020): rot90 × k and the flip of each rotation.

    The paper: "we used 2 augmentation strategies (rotation and horizontal flipping) to generate new
    training sets. The rotation operation used for data augmentation is done by randomly rotating the
    input by 90 degrees zero or more times. [...] In addition, we applied horizontal flipping to each
    of the rotated images." and "Before the training step, we augment input images [...] and
    converted the images to the size of 256 × 256 pixels."

    What is produced per training image (``1 + 2 × copies`` samples):

    - copy 0: the image resized to ``size``;
    - for draw ``j = 1..copies``: copy ``2j − 1`` = the resized image rotated by ``k × 90°`` with ``k``
      drawn uniformly from {0, 1, 2, 3} (albumentations ``RandomRotate90``; ``k = 0`` repeats the
      original, as "zero or more times" allows), and copy ``2j`` = that rotation flipped left-right
      (``HorizontalFlip``).

    The image is resized before rotating, so the size must be square: a 90° rotation of a square
    image leaves no empty area (the paper fills such areas with black).
    """

    name: ClassVar[str] = "kd_resunetpp"
    paper: ClassVar[str] = "000"
    outputs_per_copy: ClassVar[int] = 2

    def check_size(self, size: Sequence[int]) -> tuple[int, ...]:
        values = super().check_size(size)
        if values[0] != values[1]:
            raise ConfigError(
                f"recipe {self.name!r} rotates by 90° after resizing and needs a square size; got {list(values)}. "
                "Use e.g. [256, 256] as the paper does."
            )
        return values

    def transforms(self, size: tuple[int, ...]) -> list[A.BasicTransform]:
        """On the fly: a rotation by ``k × 90°`` (k uniform in 0..3), then a left-right flip with probability 0.5."""
        return [A.RandomRotate90(p=1.0), A.HorizontalFlip(p=0.5)]

    def augment(self, image: np.ndarray, mask: np.ndarray, size: tuple[int, ...], rng: np.random.Generator) -> list[AugmentedSample]:
        rotated = self._run(seeded_compose([self._resize(size), A.RandomRotate90(p=1.0)], _draw_seed(rng)), image, mask)
        flipped = self._run(A.HorizontalFlip(p=1.0), rotated.image, rotated.mask)
        return [rotated, flipped]


class KDResUNetPPScaleColourRecipe(KDResUNetPPRecipe):
    """Paper 000's rot90 × flip, then a random affine and a colour jitter: the ``cpu`` preset's departure.

    The paper: "we used 2 augmentation strategies (rotation and horizontal flipping)" (see
    :class:`KDResUNetPPRecipe`). On a 2-core CPU budget at 128², ResUNet++ trained with those two
    transforms alone fits its training images ever better while its validation Dice stays near 0.75
    (reports/cpu-2core/README.md), so this recipe adds what the paper does not describe, against that gap:

    - ``Affine`` with probability 0.75: scale 0.75-1.25, shift ±10 % of each side, rotation ±15°
      (black fill, the mask filled with background), so polyps are seen at more sizes and places;
    - ``RandomBrightnessContrast`` (±0.2 each) and ``HueSaturationValue`` (hue ±5 on OpenCV's 0-180
      scale, saturation ±15), each with probability 0.5, for the lighting of different endoscopes.

    Each draw gives one sample (``1 + copies`` per training image); the ``cpu`` preset draws afresh every
    epoch (``online``).
    """

    name: ClassVar[str] = "kd_resunetpp_scale_colour"
    outputs_per_copy: ClassVar[int] = 1

    def transforms(self, size: tuple[int, ...]) -> list[A.BasicTransform]:
        return [
            *super().transforms(size),
            A.Affine(scale=(0.75, 1.25), translate_percent=(-0.1, 0.1), rotate=(-15, 15), border_mode=cv2.BORDER_CONSTANT, fill=0, fill_mask=0, p=0.75),
            A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.2, p=0.5),
            A.HueSaturationValue(hue_shift_limit=5, sat_shift_limit=15, val_shift_limit=0, p=0.5),
        ]

    # one sample per draw, made like every other 2D recipe's (not the rotation-and-its-flip pair)
    augment = Recipe2D.augment


class AttUNetTransferRecipe(Recipe2D):
    """Paper 002, transfer of knowledge with attention (Khadka, MediaEval 2020): flips, ±5° rotation, elastic, channel shift, sun flare.

    The paper: "Images were normalized in the range of [-1,1] and resized to 256 × 256. Augmentation
    techniques were also applied to the images randomly before feeding them into the model; namely
    horizontal flipping, vertical flipping, mirroring, rotation(-5 to 5), elastic transformation,
    channel shifting and solar flares." (Normalising to [-1, 1] happens in the training loader.)

    Per training image: copy 0 = resized original; copies ``1..copies`` = resized, then each of these
    albumentations transforms with probability 0.5 (the paper gives no probabilities; 0.5 is
    albumentations' default): ``HorizontalFlip`` ("mirroring" is the same operation), ``VerticalFlip``,
    ``Rotate(limit=5)`` (black fill), ``ElasticTransform`` (alpha = shorter side, sigma = shorter side / 25 but at least 1:
    about 3 px RMS displacement at 256²), ``RGBShift`` (±20 per channel) and ``RandomSunFlare`` (radius
    40 % of the shorter side: albumentations' default of 400 px suits ~1000 px frames).
    """

    name: ClassVar[str] = "attunet_transfer"
    paper: ClassVar[str] = "002"

    def transforms(self, size: tuple[int, ...]) -> list[A.BasicTransform]:
        side = min(size)
        return [
            A.HorizontalFlip(p=0.5),
            A.VerticalFlip(p=0.5),
            A.Rotate(limit=5, border_mode=cv2.BORDER_CONSTANT, fill=0, fill_mask=0, p=0.5),
            A.ElasticTransform(alpha=float(side), sigma=max(1.0, side / 25), border_mode=cv2.BORDER_CONSTANT, p=0.5),
            A.RGBShift(r_shift_limit=20, g_shift_limit=20, b_shift_limit=20, p=0.5),
            A.RandomSunFlare(src_radius=max(1, round(0.4 * side)), p=0.5),
        ]


class XPNetRecipe(Recipe2D):
    """Paper 001, XP-Net (Ragu B et al., EndoCV2022): rotation, flips, perspective, brightness/contrast/hue.

    The paper: "All the models were trained with an input image size of 512x512. The data
    augmentation such as random rotate, horizontal flip, vertical flip, perspective transform was
    implemented. Usually the endoscopic images are subjected to different light sources that might
    have different intensities of brightness, contrast and hue, so images are augmented in such a way
    to replicate those scenarios."

    Per training image: copy 0 = resized original; copies ``1..copies`` = resized, then each with
    probability 0.5 (albumentations' default; the paper gives none): ``Rotate`` (albumentations'
    default ±90°, black fill; the paper gives no range), ``HorizontalFlip``, ``VerticalFlip``,
    ``Perspective`` (scale 0.05-0.1), ``RandomBrightnessContrast`` (±0.2 each) and
    ``HueSaturationValue`` restricted to hue (±10 on OpenCV's 0-180 hue scale).
    """

    name: ClassVar[str] = "xpnet"
    paper: ClassVar[str] = "001"

    def transforms(self, size: tuple[int, ...]) -> list[A.BasicTransform]:
        return [
            A.Rotate(limit=90, border_mode=cv2.BORDER_CONSTANT, fill=0, fill_mask=0, p=0.5),
            A.HorizontalFlip(p=0.5),
            A.VerticalFlip(p=0.5),
            A.Perspective(scale=(0.05, 0.1), border_mode=cv2.BORDER_CONSTANT, fill=0, fill_mask=0, p=0.5),
            A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.2, p=0.5),
            A.HueSaturationValue(hue_shift_limit=10, sat_shift_limit=0, val_shift_limit=0, p=0.5),
        ]


# --------------------------------------------------------------------------------------------------
# 3D: multi-modal volume + label map


def _mirror(sample: AugmentedSample, rng: np.random.Generator, probability: float = 0.5) -> AugmentedSample:
    """Flip each spatial axis with ``probability`` (albumentations has no 3D flip; ``CubicSymmetry`` also permutes axes)."""
    axes = tuple(axis for axis in range(3) if rng.random() < probability)
    if not axes:
        return sample
    image = np.ascontiguousarray(np.flip(sample.image, axis=tuple(a + 1 for a in axes)))
    mask = np.ascontiguousarray(np.flip(sample.mask, axis=axes))
    return AugmentedSample(image, mask)


def _rotation_matrix(angles: Sequence[float]) -> np.ndarray:
    """3×3 rotation by ``angles`` (radians) about the X, then Y, then Z axis."""
    ax, ay, az = angles
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _rotate_and_scale(sample: AugmentedSample, angles: Sequence[float], scale: float) -> AugmentedSample:
    """Rotate by ``angles`` and zoom by ``scale`` about the centre (image trilinear, labels nearest, zero fill)."""
    # affine_transform maps output coordinates to input ones: the inverse rotation, divided by the zoom
    matrix = _rotation_matrix(angles).T / scale
    centre = (np.asarray(sample.mask.shape, dtype=np.float64) - 1) / 2
    shift = centre - matrix @ centre
    image = np.stack([ndimage.affine_transform(channel, matrix, shift, order=1, mode="constant", cval=0.0) for channel in sample.image])
    labels = ndimage.affine_transform(sample.mask, matrix, shift, order=0, mode="constant", cval=0)
    return AugmentedSample(image.astype(np.float32, copy=False), labels)


class Recipe3D(Recipe):
    """3D recipe: the random changes :meth:`transform` makes to each training patch.

    :class:`kdseg.engine.patches.PatchSet` z-scores the case (:func:`zscore_nonzero`), cuts a patch
    (zero-padded where the case is smaller) and hands it here; nothing is written to disk.
    """

    spatial_dims: ClassVar[int] = 3

    @abstractmethod
    def transform(self, sample: AugmentedSample, rng: np.random.Generator) -> AugmentedSample:
        """The random changes applied to a patch, all random choices taken from ``rng``."""


class BratsEnsembleKDRecipe(Recipe3D):
    """Paper 004, ensemble KD for brain tumours (Nalwade & Kisa): crop, rotation, scaling, mirroring, contrast and shift.

    The paper: "During the pre-processing of data, for each input image, all input volumes
    [modalities] are normalized to achieve unit variance and zero mean for non zero foreground voxels.
    During the data augmentation step, we adopt widely practiced techniques like image cropping, image
    rotation, scaling, mirroring. Moreover, for each modality, contrast and intensity shift
    augmentations are applied." and "we use a patch size of 128x128x128".

    The z-scoring (:func:`zscore_nonzero`) and the crop are :class:`~kdseg.engine.patches.PatchSet`'s:
    it z-scores the whole case, as the paper's preprocessing, and cuts a fresh patch of ``augment.size``
    every time the case is drawn. Each patch then gets (NumPy/SciPy, ranges from the Isensee et al.
    2018 BraTS pipeline the paper adopts, which it does not state itself):
    rotation about each axis by an angle uniform in ±15° together with an isotropic zoom uniform in
    [0.9, 1.1] (``scipy.ndimage.affine_transform``: trilinear for the image, nearest for the labels,
    zero fill), mirroring of each axis with probability 0.5, and per modality a contrast change
    ``mean + f·(x − mean)``, ``f`` uniform in [0.75, 1.25], plus an intensity shift uniform in ±0.1
    (z-score units).
    """

    name: ClassVar[str] = "brats_ensemble_kd"
    paper: ClassVar[str] = "004"
    max_angle_degrees: ClassVar[float] = 15.0
    zoom_range: ClassVar[tuple[float, float]] = (0.9, 1.1)
    contrast_range: ClassVar[tuple[float, float]] = (0.75, 1.25)
    max_shift: ClassVar[float] = 0.1

    def transform(self, sample: AugmentedSample, rng: np.random.Generator) -> AugmentedSample:
        angles = np.deg2rad(rng.uniform(-self.max_angle_degrees, self.max_angle_degrees, size=3))
        sample = _rotate_and_scale(sample, angles, float(rng.uniform(*self.zoom_range)))
        sample = _mirror(sample, rng)
        channels = sample.image.shape[0]
        contrast = rng.uniform(*self.contrast_range, size=channels).astype(np.float32)
        shift = rng.uniform(-self.max_shift, self.max_shift, size=channels).astype(np.float32)
        means = sample.image.mean(axis=(1, 2, 3), dtype=np.float64).astype(np.float32)
        per_channel = (slice(None), None, None, None)
        image = means[per_channel] + contrast[per_channel] * (sample.image - means[per_channel]) + shift[per_channel]
        return AugmentedSample(image.astype(np.float32, copy=False), sample.mask)


class DSDRecipe(Recipe3D):
    """Paper 003, dual self-distillation (Banerjee et al., ISBI 2024): random crop, flips, intensity scale and shift.

    The paper names no augmentation; it says "The experiments were conducted with PyTorch v1.12,
    TorchManager v1.2 and MONAI v0.9 framework" and splits MSD BraTS "following the split in [5]"
    (UNETR). This recipe therefore follows the MONAI BraTS tutorial's training transforms:
    ``RandSpatialCropd`` → ``RandFlipd`` on each axis (p = 0.5) → ``NormalizeIntensityd(nonzero=True,
    channel_wise=True)`` → ``RandScaleIntensityd(factors=0.1, prob=1.0)`` →
    ``RandShiftIntensityd(offsets=0.1, prob=1.0)``.

    Differences from the tutorial: the z-scoring over non-zero voxels (:func:`zscore_nonzero`) is done
    on the whole volume before augmentation (as for paper 004) rather than on the crop; the crop is
    :class:`~kdseg.engine.patches.PatchSet`'s fresh patch per draw (centred on a labelled voxel with
    probability ``augment.foreground``, zero padding where the volume is smaller); flips and the
    intensity changes are NumPy: ``x · (1 + f) + o`` with ``f`` and ``o`` uniform in ±0.1, shared by
    all modalities as in MONAI.
    """

    name: ClassVar[str] = "dsd"
    paper: ClassVar[str] = "003"
    max_scale: ClassVar[float] = 0.1
    max_shift: ClassVar[float] = 0.1

    def transform(self, sample: AugmentedSample, rng: np.random.Generator) -> AugmentedSample:
        sample = _mirror(sample, rng)
        factor = np.float32(1.0 + rng.uniform(-self.max_scale, self.max_scale))
        shift = np.float32(rng.uniform(-self.max_shift, self.max_shift))
        return AugmentedSample((sample.image * factor + shift).astype(np.float32, copy=False), sample.mask)


#: recipe name → recipe, the names ``kdseg-augment --recipe`` and the config accept (kdseg-augment refuses the 3D ones)
RECIPES: dict[str, Recipe] = {
    recipe.name: recipe
    for recipe in (KDResUNetPPRecipe(), KDResUNetPPScaleColourRecipe(), XPNetRecipe(), AttUNetTransferRecipe(), DSDRecipe(), BratsEnsembleKDRecipe())
}
