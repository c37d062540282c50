"""Tests of kdseg.engine.patches: on-the-fly 3D training patches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kdseg.data.manifest import read_manifest, read_split, select_subset
from kdseg.data.volumes import label_regions, load_nifti
from kdseg.engine.patches import PatchSet, training_targets
from kdseg.utils.errors import ConfigError

SIZE = (8, 8, 8)


@pytest.fixture
def train_rows(brain_data):
    return select_subset(read_manifest(brain_data["manifest"]), read_split(brain_data["split"]), "train")


def _samples(patches: PatchSet, epoch: int) -> list[dict]:
    patches.set_epoch(epoch)
    return [patches[i] for i in range(len(patches))]


@pytest.mark.parametrize("foreground", [0.0, 1 / 3, 0.8, 1.0])
def test_foreground_centred_patches_at_the_configured_rate(train_rows, foreground):
    patches = PatchSet(train_rows, SIZE, seed=0, foreground=foreground, patches_per_case=150)
    windows = [patches.window(i) for i in range(len(patches))]
    rate = np.mean([w.foreground for w in windows])
    # 600 Bernoulli draws: the standard error is at most 0.02
    assert rate == pytest.approx(foreground, abs=0.06)
    for index, window in enumerate(windows):
        if not window.foreground:
            continue
        labels, _ = load_nifti(train_rows.iloc[index // patches.patches_per_case]["mask"])
        assert labels[window.centre] > 0
        assert all(a <= c < a + s for a, c, s in zip(window.start, window.centre, SIZE))


def test_foreground_draws_visit_every_label(train_rows):
    # nnU-Net's scheme: a label present in the case is chosen first, so the small enhancing core (4) is
    # drawn about as often as the much larger oedema (2)
    patches = PatchSet(train_rows, SIZE, seed=0, foreground=1.0, patches_per_case=100)
    labels = [load_nifti(train_rows.iloc[i // 100]["mask"])[0] for i in range(len(patches))]
    centres = [int(labels[i][patches.window(i).centre]) for i in range(len(patches))]
    assert 0.4 < centres.count(4) / len(centres) < 0.6


def test_patches_differ_between_epochs_and_repeat_with_the_seed(train_rows):
    first = PatchSet(train_rows, SIZE, seed=3, recipe="brats_ensemble_kd", patches_per_case=2)
    again = PatchSet(train_rows, SIZE, seed=3, recipe="brats_ensemble_kd", patches_per_case=2)
    epoch0, epoch1 = _samples(first, 0), _samples(first, 1)
    assert len(epoch0) == 2 * len(train_rows)
    assert all(s["image"].shape == (2, *SIZE) and s["target"].shape == (3, *SIZE) for s in epoch0)
    assert not any(torch.equal(a["image"], b["image"]) for a, b in zip(epoch0, epoch1))
    for a, b in zip(epoch1, _samples(again, 1)):
        assert a["image"].numpy().tobytes() == b["image"].numpy().tobytes()
        assert a["target"].numpy().tobytes() == b["target"].numpy().tobytes()
    other_seed = _samples(PatchSet(train_rows, SIZE, seed=4, recipe="brats_ensemble_kd", patches_per_case=2), 1)
    assert not all(torch.equal(a["image"], b["image"]) for a, b in zip(epoch1, other_seed))


def test_a_patch_larger_than_the_volume_is_zero_padded(train_rows):
    patches = PatchSet(train_rows, (32, 8, 20), seed=0)
    sample = patches[0]
    assert sample["image"].shape == (2, 32, 8, 20)
    assert sample["target"].shape == (3, 32, 8, 20)


def test_label_targets_are_one_hot_over_the_convention(train_rows):
    sample = PatchSet(train_rows, SIZE, seed=0, targets="labels", foreground=1.0)[0]
    # BRATS 2015: background and labels 1-4 → 5 classes, exactly one per voxel
    assert sample["target"].shape == (5, *SIZE)
    assert torch.equal(sample["target"].sum(0), torch.ones(SIZE))


def test_training_targets():
    labels = np.array([[[0, 2], [4, 1]]], dtype=np.uint8)
    regions = training_targets(labels, "brats", "regions")
    assert np.array_equal(regions, label_regions(labels, "brats"))
    classes = training_targets(labels, "brats", "labels")  # classes 0, 1, 2, 4 → indices 0..3
    assert classes.shape == (4, 1, 2, 2)
    assert np.array_equal(np.argmax(classes, axis=0), [[[0, 2], [3, 1]]])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"foreground": 1.5}, r"foreground .* \[0, 1\], got 1.5"),
        ({"patches_per_case": 0}, r"patches_per_case must be at least 1"),
        ({"recipe": "xpnet"}, r"'xpnet' is a 2D recipe"),
        ({"recipe": "dsdd"}, r"Did you mean 'dsd'"),
        ({"targets": "classes"}, r"Unknown targets 'classes'"),
    ],
)
def test_ill_arg(train_rows, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        PatchSet(train_rows, SIZE, seed=0, **kwargs)
