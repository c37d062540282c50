"""Tests of Attention U-Net (kdseg.models.attention_unet)."""

from __future__ import annotations

import pytest
import torch

from kdseg.models.attention_unet import AttentionGate, AttentionUNet
from kdseg.models.unet import UNet
from kdseg.utils.errors import DataError
from tests.models.base import BaseModelTester


class TestAttentionUNet(BaseModelTester):
    arch = "attention_unet"
    kwargs = {"in_channels": 3, "out_channels": 1, "features": 4}


def gate_parameter_count(skip: int) -> int:
    """θ (2×2, no bias) + φ (1×1 from 2·skip) + ψ (1×1 to one channel) + W (1×1 + BN), inter = skip / 2."""
    inter = skip // 2
    return 4 * skip * inter + (2 * skip * inter + inter) + (inter + 1) + (skip * skip + skip + 2 * skip)


def test_parameter_count_is_unet_plus_four_gates() -> None:
    gates = sum(gate_parameter_count(32 * 2**level) for level in range(4))
    assert gates == 350_084
    assert sum(p.numel() for p in AttentionUNet(features=32).parameters()) == 7_763_041 + gates


def test_gate_shapes_follow_oktay() -> None:
    gate = AttentionUNet(features=8).attention2  # skip: encoder2 (16 channels), gating: decoder3 (32 channels)
    assert gate.theta.weight.shape == (8, 16, 2, 2) and gate.theta.bias is None and gate.theta.stride == (2, 2)
    assert gate.phi.weight.shape == (8, 32, 1, 1)
    assert gate.psi.weight.shape == (1, 8, 1, 1)
    assert gate.output[0].weight.shape == (16, 16, 1, 1) and isinstance(gate.output[1], torch.nn.BatchNorm2d)


def test_gate_computes_additive_attention_by_hand() -> None:
    gate = AttentionGate(skip_channels=2, gating_channels=2, inter_channels=1).eval()
    with torch.no_grad():
        gate.theta.weight.fill_(0.25)  # θ(x) = sum of the 2×2 window over both channels / 4
        gate.phi.weight.zero_()
        gate.phi.bias.fill_(-1.0)
        gate.psi.weight.fill_(1.0)
        gate.psi.bias.zero_()
    x = torch.ones(1, 2, 2, 2)  # θ(x) = 2; ReLU(2 - 1) = 1; α = σ(1) everywhere
    alpha = gate.attention(x, torch.zeros(1, 2, 1, 1))
    torch.testing.assert_close(alpha, torch.full((1, 1, 2, 2), torch.sigmoid(torch.tensor(1.0)).item()))


def test_gates_change_the_skip_connections() -> None:
    torch.manual_seed(0)
    attention_unet = AttentionUNet(features=4).eval()
    unet = UNet(features=4).eval()
    unet.load_state_dict({k: v for k, v in attention_unet.state_dict().items() if not k.startswith("attention")})
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert not torch.allclose(attention_unet(x), unet(x))


def test_load_unet_weights_copies_every_unet_tensor_and_keeps_gates() -> None:
    torch.manual_seed(0)
    unet = UNet(features=4)
    with torch.no_grad():
        unet.encoder1.enc1norm1.running_mean.fill_(0.5)
    torch.manual_seed(1)
    model = AttentionUNet(features=4)
    gates_before = {k: v.clone() for k, v in model.state_dict().items() if k.startswith("attention")}
    for weights in (unet, unet.state_dict()):
        report = model.load_unet_weights(weights)
        state = model.state_dict()
        assert list(report.loaded) == list(unet.state_dict())
        assert sorted(report.initialised) == sorted(gates_before)
        for key, value in unet.state_dict().items():
            torch.testing.assert_close(state[key], value, rtol=0, atol=0)
        for key, value in gates_before.items():
            torch.testing.assert_close(state[key], value, rtol=0, atol=0)


def test_strict_loading_reports_only_gate_keys_missing() -> None:
    model = AttentionUNet(features=4)
    result = model.load_state_dict(UNet(features=4).state_dict(), strict=False)
    assert result.unexpected_keys == []
    # BatchNorm fills a missing num_batches_tracked itself, so PyTorch does not report it
    assert sorted(result.missing_keys) == sorted(k for k in model.gate_keys() if not k.endswith("num_batches_tracked"))
    assert all(key.startswith(("attention1.", "attention2.", "attention3.", "attention4.")) for key in result.missing_keys)


def test_load_unet_weights_rejects_other_input_channels() -> None:
    with pytest.raises(ValueError, match="trained on 1 input channels but AttentionUNet has in_channels=3"):
        AttentionUNet(in_channels=3, features=4).load_unet_weights(UNet(in_channels=1, features=4))


def test_load_unet_weights_rejects_other_widths() -> None:
    with pytest.raises(ValueError, match=r"encoder1.enc1conv1.weight: \(8, 3, 3, 3\) vs \(4, 3, 3, 3\)"):
        AttentionUNet(features=4).load_unet_weights(UNet(features=8))


def test_load_unet_weights_rejects_foreign_keys() -> None:
    state = UNet(features=4).state_dict()
    state["head.weight"] = torch.zeros(1)
    with pytest.raises(DataError, match=r"missing keys none; unexpected keys \['head.weight'\]"):
        AttentionUNet(features=4).load_unet_weights(state)
