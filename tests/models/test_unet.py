"""Tests of the brain-MRI U-Net (kdseg.models.unet)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from kdseg.models.unet import UNet
from kdseg.utils.errors import DataError
from tests.models.base import BaseModelTester

BN_TENSORS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def reference_state_shapes(in_channels: int = 3, out_channels: int = 1, features: int = 32) -> dict[str, tuple[int, ...]]:
    """Key → shape of mateuszbuda/brain-segmentation-pytorch's UNet state dict, written from its source."""
    shapes: dict[str, tuple[int, ...]] = {}

    def block(module: str, prefix: str, c_in: int, c_out: int) -> None:
        for stage, stage_in in ((1, c_in), (2, c_out)):
            shapes[f"{module}.{prefix}conv{stage}.weight"] = (c_out, stage_in, 3, 3)
            for tensor in BN_TENSORS:
                shapes[f"{module}.{prefix}norm{stage}.{tensor}"] = () if tensor == "num_batches_tracked" else (c_out,)

    f = features
    block("encoder1", "enc1", in_channels, f)
    block("encoder2", "enc2", f, 2 * f)
    block("encoder3", "enc3", 2 * f, 4 * f)
    block("encoder4", "enc4", 4 * f, 8 * f)
    block("bottleneck", "bottleneck", 8 * f, 16 * f)
    for level in (4, 3, 2, 1):
        width = f * 2 ** (level - 1)
        shapes[f"upconv{level}.weight"] = (2 * width, width, 2, 2)
        shapes[f"upconv{level}.bias"] = (width,)
        block(f"decoder{level}", f"dec{level}", 2 * width, width)
    shapes["conv.weight"] = (out_channels, f, 1, 1)
    shapes["conv.bias"] = (out_channels,)
    return shapes


def reference_state(seed: int = 0, **widths: int) -> dict[str, torch.Tensor]:
    """A state dict with the reference's keys and random values (what ``torch.save(unet.state_dict())`` writes)."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in reference_state_shapes(**widths).items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(7)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=generator) + 0.5
        else:
            state[key] = torch.randn(shape, generator=generator)
    return state


class TestUNet(BaseModelTester):
    arch = "unet"
    kwargs = {"in_channels": 3, "out_channels": 2, "features": 4}


def test_parameter_count_matches_the_reference() -> None:
    # mateuszbuda/brain-segmentation-pytorch: 7,763,041; paper 001 reports the same number for its U-Net row
    assert sum(p.numel() for p in UNet(in_channels=3, out_channels=1, features=32).parameters()) == 7_763_041


def test_state_dict_keys_and_shapes_are_the_references() -> None:
    model = UNet(in_channels=3, out_channels=1, features=32)
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == reference_state_shapes()


def test_from_reference_checkpoint_loads_every_tensor(tmp_path: Path) -> None:
    state = reference_state(in_channels=1, out_channels=2, features=8)
    path = tmp_path / "unet.pt"
    torch.save(state, path)
    model = UNet.from_reference_checkpoint(path)
    assert model.init_kwargs == {"in_channels": 1, "out_channels": 2, "features": 8}
    loaded = model.state_dict()
    for key, value in state.items():
        torch.testing.assert_close(loaded[key], value, rtol=0, atol=0)


def test_from_reference_checkpoint_accepts_missing_batch_norm_counters(tmp_path: Path) -> None:
    # checkpoints written before PyTorch 0.4.1 have no num_batches_tracked buffers
    state = {k: v for k, v in reference_state(features=4).items() if not k.endswith("num_batches_tracked")}
    torch.save(state, tmp_path / "old.pt")
    model = UNet.from_reference_checkpoint(tmp_path / "old.pt")
    torch.testing.assert_close(model.conv.weight.detach(), state["conv.weight"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"state_dict": reference_state(features=4)}, r"holds a dict with keys \['state_dict'\], not a raw state dict"),
        ([1, 2, 3], "holds list, not a raw state dict"),
        ({"conv.weight": torch.zeros(1, 4, 1, 1)}, "has no 'encoder1.enc1conv1.weight'"),
    ],
)
def test_from_reference_checkpoint_rejects_other_content(tmp_path: Path, content: object, message: str) -> None:
    path = tmp_path / "unet.pt"
    torch.save(content, path)
    with pytest.raises(DataError, match=message):
        UNet.from_reference_checkpoint(path)


def test_from_reference_checkpoint_names_missing_and_unexpected_keys(tmp_path: Path) -> None:
    state = reference_state(features=4)
    del state["decoder2.dec2conv1.weight"]
    state["decoder2.dec2extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "unet.pt")
    with pytest.raises(DataError, match=r"missing keys \['decoder2.dec2conv1.weight'\]; unexpected keys \['decoder2.dec2extra.weight'\]"):
        UNet.from_reference_checkpoint(tmp_path / "unet.pt")


def test_from_reference_checkpoint_rejects_inconsistent_shapes(tmp_path: Path) -> None:
    state = reference_state(features=4)
    state["bottleneck.bottleneckconv2.weight"] = torch.zeros(64, 32, 3, 3)
    torch.save(state, tmp_path / "unet.pt")
    with pytest.raises(ValueError, match=r"bottleneck.bottleneckconv2.weight: \(64, 32, 3, 3\) vs \(64, 64, 3, 3\)"):
        UNet.from_reference_checkpoint(tmp_path / "unet.pt")


def test_from_reference_checkpoint_rejects_missing_and_pickled_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        UNet.from_reference_checkpoint(tmp_path / "absent.pt")
    torch.save(UNet(features=4), tmp_path / "module.pt")  # a pickled module, not a state dict
    with pytest.raises(DataError, match="Cannot read .* as a weights-only state dict"):
        UNet.from_reference_checkpoint(tmp_path / "module.pt")


@pytest.mark.parametrize("features", [0, 3])
def test_too_few_features_raise(features: int) -> None:
    with pytest.raises(ValueError, match=f"features must be >= 4.*got {features}"):
        UNet(features=features)
