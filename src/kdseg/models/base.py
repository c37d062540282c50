"""The base class of every network in kdseg.

:class:`SegmentationModel` owns what all architectures share: the input-shape check, ``predict`` under
inference mode, the features used by distillation, and the constructor arguments that let a checkpoint
re-create the network without pickling it. Architectures implement ``_forward_features`` only.

Contract for subclasses:

- ``forward(x)`` returns **logits** of shape (N, out_channels, *spatial) at the input's resolution;
  activations (sigmoid) are applied by losses and by :meth:`predict`, never inside ``forward``.
- ``forward_features(x)`` returns ``(logits, features)`` where ``features`` is a dict with
  ``"encoder"``: list of encoder feature maps, highest resolution first, and ``"decoder"``: list of
  decoder feature maps in decoding order (lowest resolution first). Models with extra training-only
  heads (deep supervision, self-distillation bottlenecks) add their own keys, documented in the class.
- class attributes ``spatial_dims`` (2 or 3), ``required_divisor`` (every spatial size of the input
  must be a multiple of it) and ``is_onnx_exportable``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["SegmentationModel"]


class SegmentationModel(nn.Module):
    """Base of every segmentation network (2D or 3D).

    Args:
        in_channels: channels of the input image. Defaults to 3.
        out_channels: channels of the output logits (1 for polyps; 3 for the brain regions WT, TC, ET).
            Defaults to 1.
    """

    spatial_dims: int = 2
    required_divisor: int = 1
    is_onnx_exportable: bool = True

    def __init__(self, in_channels: int = 3, out_channels: int = 1) -> None:
        super().__init__()
        if in_channels < 1 or out_channels < 1:
            raise ValueError(f"in_channels and out_channels must be >= 1, got {in_channels} and {out_channels}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self._init_kwargs: dict[str, Any] = {}

    # subclasses call this at the end of __init__ with their constructor arguments
    def _record_init_kwargs(self, **kwargs: Any) -> None:
        self._init_kwargs = {k: (list(v) if isinstance(v, tuple) else v) for k, v in kwargs.items()}

    @property
    def init_kwargs(self) -> dict[str, Any]:
        """Constructor arguments that re-create this network (stored in checkpoints)."""
        return dict(self._init_kwargs)

    def check_input_shape(self, x: torch.Tensor) -> None:
        """Raise a RuntimeError naming the padded shape when the input's size is not usable."""
        if x.ndim != self.spatial_dims + 2:
            raise RuntimeError(f"{type(self).__name__} expects a {self.spatial_dims + 2}D input (N, C, {'H, W' if self.spatial_dims == 2 else 'X, Y, Z'}), got shape {tuple(x.shape)}")
        if x.shape[1] != self.in_channels:
            raise RuntimeError(f"{type(self).__name__} was built for {self.in_channels} input channels, got {x.shape[1]}")
        d = self.required_divisor
        spatial = tuple(x.shape[2:])
        if d > 1 and any(s % d for s in spatial):
            padded = tuple((s + d - 1) // d * d for s in spatial)
            raise RuntimeError(f"{type(self).__name__} needs spatial sizes divisible by {d}; got {spatial}. Pad or resize the input to {padded}.")

    def _forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        raise NotImplementedError

    def forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        """Logits and intermediate features (see the module docstring for the keys)."""
        if not torch.jit.is_tracing() and not torch.compiler.is_compiling():
            self.check_input_shape(x)
        return self._forward_features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape (N, out_channels, *spatial)."""
        return self.forward_features(x)[0]

    @torch.inference_mode()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Probabilities (sigmoid of the logits) in eval mode, without gradients."""
        if self.training:
            self.eval()
        return torch.sigmoid(self(x))
