"""Building blocks shared by the 2D networks.

- :func:`double_conv_block`: (conv → BN → ReLU) × 2 with an optional module between the two stages, keyed as in
  the brain-MRI U-Net of mateuszbuda/brain-segmentation-pytorch ("enc1conv1", "enc1norm1", ...). U-Net, Attention
  U-Net and the XP-Net teacher (attention between the stages) and student (separable convolutions) use it.
- :class:`SqueezeExcitationWeights`: the squeeze-and-excitation gate (global average pool → 1×1 conv → ReLU →
  1×1 conv → sigmoid) returning the channel weights; ResUNet++ multiplies them with its input, the EPSA module
  of XP-Net softmaxes them across its branches.
- :func:`kaiming_init_`: He initialisation of convolution weights, where a reference implementation asks for it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import torch
from torch import nn

from kdseg.utils.options import look_up_option

__all__ = ["ConvFactory", "SqueezeExcitationWeights", "conv3x3", "double_conv_block", "kaiming_init_"]

# builds the convolution of one stage: (in_channels, out_channels, stage index 1 or 2) -> module
ConvFactory = Callable[[int, int, int], nn.Module]

KAIMING_DISTRIBUTIONS = ("uniform", "normal")


def conv3x3(in_channels: int, out_channels: int, stage: int) -> nn.Conv2d:
    """3×3 convolution, "same" padding, no bias (a batch norm follows), as in the reference U-Net."""
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False)


def double_conv_block(
    in_channels: int,
    out_channels: int,
    name: str,
    attention: nn.Module | None = None,
    conv: ConvFactory = conv3x3,
) -> nn.Sequential:
    """Two conv → BN → ReLU stages, optionally with ``attention`` between them.

    The keys are the reference U-Net's (``f"{name}conv1"``, ``f"{name}norm1"``, ``f"{name}relu1"``, then stage 2),
    so a state dict of mateuszbuda/brain-segmentation-pytorch loads into blocks built with the default ``conv``.
    An attention module is keyed ``f"{name}attention"``.

    Args:
        in_channels: channels entering the block.
        out_channels: channels of both stages.
        name: key prefix, e.g. "enc1", "bottleneck", "dec4".
        attention: module applied between the two stages (channels unchanged). Defaults to None.
        conv: builds each stage's convolution from (in_channels, out_channels, stage). Defaults to :func:`conv3x3`.

    Example:
        >>> block = double_conv_block(3, 32, "enc1")
        >>> list(block.state_dict())[:2]
        ['enc1conv1.weight', 'enc1norm1.weight']
    """
    layers: list[tuple[str, nn.Module]] = []
    for stage, stage_in in ((1, in_channels), (2, out_channels)):
        if stage == 2 and attention is not None:
            layers.append((f"{name}attention", attention))
        layers += [
            (f"{name}conv{stage}", conv(stage_in, out_channels, stage)),
            (f"{name}norm{stage}", nn.BatchNorm2d(out_channels)),
            (f"{name}relu{stage}", nn.ReLU(inplace=True)),
        ]
    return nn.Sequential(OrderedDict(layers))


class SqueezeExcitationWeights(nn.Module):
    """Channel weights of a squeeze-and-excitation gate (Hu et al., https://arxiv.org/abs/1709.01507).

    Global average pooling, a 1×1 convolution to ``reduced_channels``, ReLU, a 1×1 convolution back to
    ``channels`` and a sigmoid; the result has shape (N, channels, 1, 1). The caller decides how to use it
    (multiply, or softmax across branches as EPSANet does).

    Args:
        channels: input and output channels.
        reduced_channels: channels of the bottleneck (>= 1).
        bias: whether the two 1×1 convolutions have a bias. Defaults to True.

    Example:
        >>> weights = SqueezeExcitationWeights(32, 4, bias=False)(torch.zeros(2, 32, 8, 8))
        >>> weights.shape
        torch.Size([2, 32, 1, 1])
    """

    def __init__(self, channels: int, reduced_channels: int, bias: bool = True) -> None:
        super().__init__()
        if channels < 1 or reduced_channels < 1:
            raise ValueError(f"channels and reduced_channels must be >= 1, got {channels} and {reduced_channels}")
        self.squeeze = nn.Conv2d(channels, reduced_channels, kernel_size=1, bias=bias)
        self.relu = nn.ReLU(inplace=True)
        self.excite = nn.Conv2d(reduced_channels, channels, kernel_size=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = x.mean(dim=(2, 3), keepdim=True)
        return torch.sigmoid(self.excite(self.relu(self.squeeze(pooled))))


def kaiming_init_(module: nn.Module, distribution: str = "uniform") -> None:
    """He-initialise every convolution and linear weight inside ``module`` (ReLU gain, fan-in) and zero their biases.

    Args:
        module: the module whose sub-modules are initialised in place.
        distribution: "uniform" (``kaiming_uniform_``) or "normal" (``kaiming_normal_``). Defaults to "uniform".

    Raises:
        ConfigError: for an unknown ``distribution``.
    """
    distribution = look_up_option(distribution, KAIMING_DISTRIBUTIONS, what="initialisation distribution")
    init = nn.init.kaiming_uniform_ if distribution == "uniform" else nn.init.kaiming_normal_
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            init(layer.weight, nonlinearity="relu")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
