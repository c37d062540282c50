"""The brain-MRI U-Net of Buda et al. (mateuszbuda/brain-segmentation-pytorch) and its shared skeleton.

:class:`UNetBase` is the topology — four levels of two-convolution blocks with 2×2 max pooling, a bottleneck,
2×2 transposed convolutions, skip concatenation and a 1×1 output convolution — with two hooks: ``_make_block``
builds each block and ``_gate_skip`` may transform a skip connection before it is concatenated. :class:`UNet`
is the reference network itself; Attention U-Net and the XP-Net networks override the hooks.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from kdseg.models.base import SegmentationModel
from kdseg.models.blocks import double_conv_block
from kdseg.utils.errors import DataError

__all__ = ["UNet", "UNetBase", "load_unet_state", "read_state_dict"]

LEVELS = 4
FIRST_CONV_KEY = "encoder1.enc1conv1.weight"
OUTPUT_CONV_KEY = "conv.weight"
# BatchNorm counters that checkpoints written before PyTorch 0.4.1 lack; the model's own values are kept then
OPTIONAL_SUFFIX = "num_batches_tracked"


class UNetBase(SegmentationModel):
    """Skeleton of the reference U-Net: blocks f..16f, max pooling, transposed convolutions, 1×1 output.

    Modules are named as in the reference (encoder1..encoder4, pool1..pool4, bottleneck, upconv4..upconv1,
    decoder4..decoder1, conv) so that its state dict keys carry over. ``forward_features`` returns
    "encoder" = [encoder1, encoder2, encoder3, encoder4, bottleneck] outputs (full resolution to 1/16, channels
    f to 16f) and "decoder" = [decoder4, decoder3, decoder2, decoder1] outputs (1/8 to full resolution).

    Args:
        in_channels: channels of the input image. Defaults to 3.
        out_channels: channels of the output logits. Defaults to 1.
        features: channels of the first block, doubled at every level (>= 4). Defaults to 32.

    Example:
        >>> _, features = UNetBase(features=8).forward_features(torch.zeros(1, 3, 64, 64))
        >>> [f.shape[1] for f in features["encoder"]], [f.shape[-1] for f in features["decoder"]]
        ([8, 16, 32, 64, 128], [8, 16, 32, 64])
    """

    required_divisor = 2**LEVELS

    def __init__(self, in_channels: int = 3, out_channels: int = 1, features: int = 32) -> None:
        super().__init__(in_channels, out_channels)
        if features < 4:
            raise ValueError(f"features must be >= 4 (channels of the first block), got {features}")
        self.features = features
        widths = [features * 2**level for level in range(LEVELS + 1)]
        block_in = in_channels
        for level in range(1, LEVELS + 1):
            self.add_module(f"encoder{level}", self._make_block(block_in, widths[level - 1], f"enc{level}"))
            self.add_module(f"pool{level}", nn.MaxPool2d(kernel_size=2, stride=2))
            block_in = widths[level - 1]
        self.bottleneck = self._make_block(widths[LEVELS - 1], widths[LEVELS], "bottleneck")
        for level in range(LEVELS, 0, -1):
            self.add_module(f"upconv{level}", nn.ConvTranspose2d(widths[level], widths[level - 1], kernel_size=2, stride=2))
            self.add_module(f"decoder{level}", self._make_block(2 * widths[level - 1], widths[level - 1], f"dec{level}"))
        self.conv = nn.Conv2d(features, out_channels, kernel_size=1)
        self._record_init_kwargs(in_channels=in_channels, out_channels=out_channels, features=features)

    def _make_block(self, in_channels: int, out_channels: int, name: str) -> nn.Module:
        """The block called ``name`` ("enc1".."enc4", "bottleneck", "dec4".."dec1"); the reference's by default."""
        return double_conv_block(in_channels, out_channels, name)

    def _gate_skip(self, level: int, skip: torch.Tensor, gating: torch.Tensor) -> torch.Tensor:
        """The skip connection of ``level`` as concatenated, given the coarser ``gating`` map; unchanged here."""
        return skip

    def _forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        skips = []
        for level in range(1, LEVELS + 1):
            x = self.get_submodule(f"encoder{level}")(x)
            skips.append(x)
            x = self.get_submodule(f"pool{level}")(x)
        x = self.bottleneck(x)
        encoder = [*skips, x]
        decoder = []
        for level in range(LEVELS, 0, -1):
            skip = self._gate_skip(level, skips[level - 1], x)
            # the reference concatenates the upsampled map first, the skip second
            upsampled = self.get_submodule(f"upconv{level}")(x)
            x = self.get_submodule(f"decoder{level}")(torch.cat([upsampled, skip], dim=1))
            decoder.append(x)
        return self.conv(x), {"encoder": encoder, "decoder": decoder}


class UNet(UNetBase):
    """U-Net for brain MRI of Buda et al., the "U-Net" of papers 001 and 002.

    Buda, Saha, Mazurowski, "Association of genomic subtypes of lower-grade gliomas with shape features
    automatically extracted by a deep learning algorithm", Computers in Biology and Medicine 2019;
    code and torch.hub weights: https://github.com/mateuszbuda/brain-segmentation-pytorch.
    Blocks of two 3×3 convolutions (no bias) + BN + ReLU with f, 2f, 4f, 8f, 16f channels, 2×2 max pooling, 2×2
    transposed convolutions and a 1×1 output convolution: 7,763,041 parameters at f = 32, 3 input channels and one
    output. ``forward`` returns logits; the reference applies the sigmoid inside, here losses and ``predict`` do.
    Parameter and buffer names equal the reference's, so its published ``unet.pt`` loads with
    :meth:`from_reference_checkpoint`. Features as in :class:`UNetBase`.

    Args:
        in_channels: channels of the input image (3 for the published weights). Defaults to 3.
        out_channels: channels of the output logits. Defaults to 1.
        features: channels of the first block, doubled at every level (>= 4). Defaults to 32.

    Example:
        >>> model = UNet(in_channels=3, out_channels=1, features=32)
        >>> model(torch.zeros(1, 3, 256, 256)).shape
        torch.Size([1, 1, 256, 256])
    """

    @classmethod
    def from_reference_checkpoint(cls, path: str | Path) -> UNet:
        """A U-Net holding the weights of a reference state-dict file (the torch.hub release ``unet.pt``).

        The widths (input channels, output channels, features) are read from the tensors' shapes.

        Raises:
            DataError: when the file is missing, is not a plain state dict of tensors (for example a dict that
                wraps one, or a pickled module), or its keys are not the reference's; the message lists the
                missing and unexpected keys.
        """
        state = read_state_dict(path)
        for key in (FIRST_CONV_KEY, OUTPUT_CONV_KEY):
            if key not in state:
                raise DataError(
                    f"{path} is not a state dict of the reference U-Net: it has no {key!r} (keys start with {sorted(state)[:5]})."
                )
        out_channels, features = state[OUTPUT_CONV_KEY].shape[:2]
        model = cls(in_channels=state[FIRST_CONV_KEY].shape[1], out_channels=out_channels, features=features)
        load_unet_state(model, state, source=str(path))
        return model


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a raw state dict (a mapping of names to tensors) with ``torch.load(weights_only=True)`` on the CPU.

    Raises:
        DataError: when the file is missing or unreadable, or holds anything but a mapping of str to tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Weights file {path} does not exist; download the reference release and pass its local path.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError or EOFError for bad files
        raise DataError(
            f"Cannot read {path} as a weights-only state dict ({error}). Save the weights with torch.save(model.state_dict(), path)."
        ) from error
    if not isinstance(state, Mapping) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        described = f"a dict with keys {sorted(map(str, state))[:5]}" if isinstance(state, Mapping) else type(state).__name__
        raise DataError(f"{path} holds {described}, not a raw state dict of tensors. Extract the model's state dict and save it alone.")
    return dict(state)


def load_unet_state(
    model: nn.Module, state: Mapping[str, torch.Tensor], source: str, keep_initialised: Collection[str] = ()
) -> list[str]:
    """Copy a U-Net state dict into ``model`` whose keys (apart from ``keep_initialised``) must match it exactly.

    Args:
        model: the network receiving the weights; its parameters named in ``keep_initialised`` stay untouched.
        state: the weights, keyed as the reference U-Net.
        source: where the weights come from, for error messages.
        keep_initialised: model keys the state does not provide (e.g. attention gates). Defaults to ().

    Returns:
        The keys copied, in the model's order.

    Raises:
        DataError: listing the missing and unexpected keys when the key sets differ.
        ValueError: when the input channels or any tensor shape differ.
    """
    expected = {key: value for key, value in model.state_dict().items() if key not in set(keep_initialised)}
    missing = [key for key in expected if key not in state and not key.endswith(OPTIONAL_SUFFIX)]
    unexpected = [key for key in state if key not in expected]
    if missing or unexpected:
        raise DataError(
            f"The weights in {source} do not match {type(model).__name__}: missing keys {missing or 'none'}; "
            f"unexpected keys {unexpected or 'none'}. Pass a state dict of the reference U-Net "
            "(mateuszbuda/brain-segmentation-pytorch) with the same widths."
        )
    if state[FIRST_CONV_KEY].shape[1] != expected[FIRST_CONV_KEY].shape[1]:
        raise ValueError(
            f"The weights in {source} were trained on {state[FIRST_CONV_KEY].shape[1]} input channels but "
            f"{type(model).__name__} has in_channels={expected[FIRST_CONV_KEY].shape[1]}; build the model with the checkpoint's channels."
        )
    mismatched = [
        f"{key}: {tuple(state[key].shape)} vs {tuple(value.shape)}"
        for key, value in expected.items()
        if key in state and state[key].shape != value.shape
    ]
    if mismatched:
        raise ValueError(
            f"Tensor shapes in {source} differ from {type(model).__name__} (checkpoint vs model): {'; '.join(mismatched)}. "
            "Match the features width."
        )
    model.load_state_dict(dict(state), strict=False)
    return [key for key in expected if key in state]
