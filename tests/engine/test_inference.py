"""2D prediction at an image's own resolution, with and without flip test-time augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kdseg.engine.inference import predict_image
from kdseg.models import create_model

META = {"size": [32, 32], "input_range": "unit"}


@pytest.fixture(scope="module")
def network() -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("unet", in_channels=3, out_channels=1, features=4).eval()


@pytest.fixture(scope="module")
def rgb() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(40, 52, 3), dtype=np.uint8)


def test_a_plain_prediction_is_one_call_at_the_training_size(network, rgb):
    prob = predict_image(network, META, rgb)
    assert prob.shape == (40, 52) and prob.dtype == np.float32
    assert 0.0 <= prob.min() and prob.max() <= 1.0


@pytest.mark.parametrize("axis", [0, 1])
def test_a_mirrored_prediction_follows_a_flipped_image(network, rgb, axis):
    """The mean over the four flips is flip-equivariant: a flipped image gets the flipped mask, which no
    single pass of a trained network guarantees."""
    mirrored = predict_image(network, META, rgb, mirror=True)
    flipped = predict_image(network, META, np.ascontiguousarray(np.flip(rgb, axis)), mirror=True)
    np.testing.assert_allclose(flipped, np.flip(mirrored, axis), atol=1e-5)
    plain = predict_image(network, META, rgb)
    assert not np.allclose(predict_image(network, META, np.ascontiguousarray(np.flip(rgb, axis))), np.flip(plain, axis), atol=1e-5)
    assert np.abs(mirrored - plain).max() > 1e-4
