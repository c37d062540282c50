"""Shared checks for the 3D networks: each tests/models/test_<arch>.py subclasses :class:`Model3DTester`.

A subclass sets ``arch`` (registry name), ``kwargs`` (a tiny configuration), ``input_shape`` and the extra
``forward_features`` keys it expects in training mode; it overrides :meth:`Model3DTester.training_loss` when some
parameters are only reached through those extra outputs. Everything runs on CPU with volumes of 32³ or less, and
each class runs one eval pass and one training pass that its tests share (class-scoped fixtures), because 3D
forward passes dominate the run time on a small machine.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import onnxruntime as ort
import pytest
import torch

from kdseg.models import SegmentationModel, create_model

ONNX_OPSET = 17
ONNX_TOLERANCE = 1e-4


def sample(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    """A reproducible standard-normal tensor."""
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def export_onnx(model: SegmentationModel, x: torch.Tensor, path: Path) -> None:
    """Export ``model`` (eval mode) with a dynamic batch axis, as the export stage does."""
    model.eval()
    with warnings.catch_warnings():
        # the legacy exporter's deprecation notice and torch's own tracer warnings (InstanceNorm size check)
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (x,),
            str(path),
            dynamo=False,
            opset_version=ONNX_OPSET,
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
        )


@dataclass(frozen=True)
class Pass:
    """One forward pass of a network: the network, its input and what ``forward_features`` returned."""

    model: SegmentationModel
    x: torch.Tensor
    logits: torch.Tensor
    features: dict[str, Any]


class Model3DTester:
    """Contract tests every 3D architecture must pass (not collected itself: its name has no Test prefix)."""

    arch: ClassVar[str]
    kwargs: ClassVar[dict[str, Any]]
    input_shape: ClassVar[tuple[int, int, int, int, int]] = (1, 4, 16, 16, 16)
    extra_feature_keys: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def build(cls, **overrides: Any) -> SegmentationModel:
        torch.manual_seed(0)
        return create_model(cls.arch, **{**cls.kwargs, **overrides})

    @classmethod
    def training_loss(cls, logits: torch.Tensor, features: dict[str, Any]) -> torch.Tensor:
        """A loss that uses every output a trainer would supervise."""
        return logits.square().mean()

    @pytest.fixture(scope="class")
    @classmethod
    def eval_pass(cls) -> Pass:
        model = cls.build().eval()
        x = sample(cls.input_shape)
        with torch.no_grad():
            logits, features = model.forward_features(x)
        return Pass(model, x, logits, features)

    @pytest.fixture(scope="class")
    @classmethod
    def training_pass(cls) -> Pass:
        """A training-mode pass whose :meth:`training_loss` has been back-propagated."""
        model = cls.build().train()
        x = sample(cls.input_shape)
        logits, features = model.forward_features(x)
        cls.training_loss(logits, features).backward()
        return Pass(model, x, logits, features)

    def check_onnx_model(self, path: Path) -> None:
        """Extra checks of the exported file (subclasses add theirs)."""

    def test_forward_returns_logits_of_input_size(self, eval_pass: Pass) -> None:
        n, _, *spatial = self.input_shape
        assert eval_pass.logits.shape == (n, eval_pass.model.out_channels, *spatial)
        assert eval_pass.logits.dtype == torch.float32
        # logits, not probabilities: sigmoid lives in losses and predict()
        assert eval_pass.logits.min() < 0 or eval_pass.logits.max() > 1

    def test_eval_forward_equals_forward_features(self, eval_pass: Pass) -> None:
        with torch.no_grad():
            torch.testing.assert_close(eval_pass.model(eval_pass.x), eval_pass.logits, rtol=0, atol=0)

    def test_predict_gives_sigmoid_of_eval_logits(self, eval_pass: Pass) -> None:
        torch.testing.assert_close(eval_pass.model.predict(eval_pass.x), torch.sigmoid(eval_pass.logits))

    def test_backward_reaches_every_parameter(self, training_pass: Pass) -> None:
        parameters = dict(training_pass.model.named_parameters())
        missing = [name for name, p in parameters.items() if p.requires_grad and p.grad is None]
        assert not missing, f"parameters without gradient: {missing}"
        assert all(torch.isfinite(p.grad).all() for p in parameters.values() if p.grad is not None)

    def test_forward_features_lists_levels_in_order(self, training_pass: Pass) -> None:
        features = training_pass.features
        assert {"encoder", "decoder"} | self.extra_feature_keys == set(features)
        encoder_sizes = [f.shape[2] for f in features["encoder"]]
        decoder_sizes = [f.shape[2] for f in features["decoder"]]
        assert encoder_sizes == sorted(encoder_sizes, reverse=True), "encoder: highest resolution first"
        assert decoder_sizes == sorted(decoder_sizes), "decoder: decoding order, lowest resolution first"
        assert encoder_sizes[0] == decoder_sizes[-1] == training_pass.logits.shape[2]

    def test_indivisible_input_names_padded_size(self) -> None:
        model = self.build()
        n, c, x, y, z = self.input_shape
        divisor = model.required_divisor
        assert x % divisor == 0
        with pytest.raises(RuntimeError, match=re.escape(f"Pad or resize the input to {(x + divisor, y, z)}")):
            model(torch.zeros(n, c, x + 1, y, z))

    def test_wrong_channel_count_is_refused(self) -> None:
        model = self.build()
        n, c, *spatial = self.input_shape
        with pytest.raises(RuntimeError, match=f"built for {c} input channels, got {c + 1}"):
            model(torch.zeros(n, c + 1, *spatial))

    def test_init_kwargs_recreate_the_network(self, eval_pass: Pass) -> None:
        kwargs = eval_pass.model.init_kwargs
        clone = create_model(self.arch, **kwargs).eval()
        assert type(clone) is type(eval_pass.model)
        assert clone.init_kwargs == kwargs
        clone.load_state_dict(eval_pass.model.state_dict())
        with torch.no_grad():
            torch.testing.assert_close(clone(eval_pass.x), eval_pass.logits)

    def test_state_dict_survives_weights_only_load(self, eval_pass: Pass, tmp_path: Path) -> None:
        path = tmp_path / "weights.pt"
        model = eval_pass.model
        torch.save({"arch": self.arch, "init_kwargs": model.init_kwargs, "state_dict": model.state_dict()}, path)
        checkpoint = torch.load(path, weights_only=True)
        restored = create_model(checkpoint["arch"], **checkpoint["init_kwargs"]).eval()
        restored.load_state_dict(checkpoint["state_dict"], strict=True)
        with torch.no_grad():
            torch.testing.assert_close(restored(eval_pass.x), eval_pass.logits, rtol=0, atol=0)

    def test_onnx_export_matches_pytorch_with_dynamic_batch(self, eval_pass: Pass, tmp_path: Path) -> None:
        model = eval_pass.model
        path = tmp_path / f"{self.arch}.onnx"
        export_onnx(model, eval_pass.x, path)
        self.check_onnx_model(path)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        batch = torch.cat([eval_pass.x, sample(self.input_shape, seed=1)])  # a batch size the export never saw
        (onnx_logits,) = session.run(None, {"image": batch.numpy()})
        with torch.no_grad():
            expected = model(batch).numpy()
        assert onnx_logits.shape == expected.shape
        assert np.abs(onnx_logits - expected).max() < ONNX_TOLERANCE
