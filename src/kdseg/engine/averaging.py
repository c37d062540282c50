"""Exponential moving average of a network's weights (``train.ema_decay``).

With an average, validation scores it, the best-epoch checkpoint holds it and ``model.pt`` is written from
it; the optimiser keeps stepping the raw network. Late in a run whose validation Dice still swings from
epoch to epoch, the average of the last few thousand steps is a steadier model than any one of them.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["WeightAverage"]


class WeightAverage:
    """Exponential moving average of a network's parameters and buffers.

    After every optimiser step :meth:`update` moves each floating-point tensor of the average towards the
    network's, ``average ← decay · average + (1 − decay) · current``; BatchNorm's running statistics are
    averaged the same way, integer buffers (``num_batches_tracked``) are copied. The average starts as a
    copy of the network, so a run initialised from a checkpoint (a student from its teacher) averages from
    those weights; it spans about ``1 / (1 − decay)`` steps.

    Args:
        network: the network being trained (copied, not modified).
        decay: weight kept by the past at each step, in (0, 1).

    Example:
        >>> net = torch.nn.Linear(1, 1, bias=False)
        >>> _ = torch.nn.init.ones_(net.weight)
        >>> average = WeightAverage(net, decay=0.75)
        >>> _ = torch.nn.init.zeros_(net.weight)
        >>> average.update(net)
        >>> average.network.weight.item()
        0.75
    """

    def __init__(self, network: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"the weight average's decay must lie in (0, 1), got {decay}")
        self.decay = decay
        self.network = copy.deepcopy(network).requires_grad_(False)

    @torch.no_grad()
    def update(self, network: nn.Module) -> None:
        """Move the average one step towards ``network`` (same architecture as the one copied)."""
        # state_dict tensors share storage with the module, so updating them in place updates the average
        for average, current in zip(self.network.state_dict().values(), network.state_dict().values(), strict=True):
            if average.is_floating_point():
                average.lerp_(current, 1.0 - self.decay)
            else:
                average.copy_(current)
