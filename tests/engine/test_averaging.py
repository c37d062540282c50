"""The weight average: its update rule, what it does with BatchNorm buffers, and bad decays."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from kdseg.engine.averaging import WeightAverage


def _net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))


def test_update_moves_every_float_tensor_by_one_minus_decay_and_copies_integer_buffers():
    net = _net()
    average = WeightAverage(net, decay=0.9)
    before = {k: v.clone() for k, v in average.network.state_dict().items()}
    net.train()(torch.randn(4, 1, 8, 8))  # moves BatchNorm's running statistics and its batch counter
    with torch.no_grad():
        net[0].weight.add_(1.0)
    average.update(net)
    current = net.state_dict()
    for name, value in average.network.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(value, 0.9 * before[name] + 0.1 * current[name])
        else:
            assert torch.equal(value, current[name]), name
    assert int(average.network[1].num_batches_tracked) == 1
    assert not torch.equal(average.network[1].running_mean, current["1.running_mean"])


def test_the_average_is_a_frozen_copy_that_leaves_the_network_alone():
    net = _net()
    original = {k: v.clone() for k, v in net.state_dict().items()}
    average = WeightAverage(net, decay=0.5)
    with torch.no_grad():
        average.network[0].weight.zero_()
    average.update(net)
    assert all(torch.equal(original[k], v) for k, v in net.state_dict().items())
    assert not any(p.requires_grad for p in average.network.parameters())


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.1, 1.5])
def test_a_decay_outside_zero_one_is_refused(decay):
    with pytest.raises(ValueError, match=r"decay must lie in \(0, 1\)"):
        WeightAverage(_net(), decay=decay)
