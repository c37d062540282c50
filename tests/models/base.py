"""Checks every segmentation network must pass, shared by the tests/models/test_<arch>.py files.

A test class sets ``arch`` (the registry name) and small ``kwargs`` and inherits :class:`BaseModelTester`
(the pattern of segmentation_models_pytorch's tests/models/base.py); it adds what is special to its network.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import onnxruntime
import pytest
import torch

from kdseg.models import SegmentationModel, create_model

ONNX_TOLERANCE = 1e-4


def sample_input(model: SegmentationModel, batch: int, sizes: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    """A reproducible standard-normal input of shape (batch, model.in_channels, *sizes)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, model.in_channels, *sizes, generator=generator)


class BaseModelTester:
    """Forward, backward, shape checks, re-creation, save/load, ONNX export and feature lists of one architecture.

    Attributes:
        arch: name in ``kdseg.models.MODEL_ARCHITECTURES``.
        kwargs: constructor arguments; keep the widths small, the tests run on a CPU.
        input_size: spatial size of the test input along every axis (a multiple of ``required_divisor``).
        onnx_check_sizes: spatial sizes, different from ``input_size``, at which the exported graph is compared.
    """

    arch: ClassVar[str]
    kwargs: ClassVar[dict[str, Any]] = {}
    input_size: ClassVar[int] = 64
    onnx_check_sizes: ClassVar[tuple[int, ...]] = (32, 48)

    def build(self, seed: int = 0) -> SegmentationModel:
        torch.manual_seed(seed)
        return create_model(self.arch, **self.kwargs)

    @pytest.fixture
    def model(self) -> SegmentationModel:
        return self.build()

    def sizes(self, model: SegmentationModel) -> tuple[int, ...]:
        return (self.input_size,) * model.spatial_dims

    def test_forward_returns_logits_at_input_resolution(self, model: SegmentationModel) -> None:
        model.eval()
        x = sample_input(model, 1, self.sizes(model))
        with torch.no_grad():
            logits, amplified = model(x), model(100 * x)
        assert logits.shape == (1, model.out_channels, *self.sizes(model))
        assert torch.isfinite(logits).all()
        # logits grow with the input; a sigmoid inside forward would keep them in (0, 1)
        assert amplified.abs().max() > 1

    def test_backward_reaches_every_parameter(self, model: SegmentationModel) -> None:
        model.train()
        logits = model(sample_input(model, 2, self.sizes(model)))
        (logits - 0.5).square().mean().backward()
        no_grad = [name for name, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
        assert not no_grad, f"parameters without a finite gradient: {no_grad}"
        # at tiny widths a 1-channel squeeze-excitation bottleneck can sit behind a ReLU that is dead for this batch
        zero_grad = [name for name, p in model.named_parameters() if not p.grad.abs().sum() > 0]
        assert len(zero_grad) <= 0.1 * len(list(model.parameters())), f"parameters with an all-zero gradient: {zero_grad}"

    def test_size_not_divisible_raises_with_padded_shape(self, model: SegmentationModel) -> None:
        divisor = model.required_divisor
        if divisor == 1:
            pytest.skip(f"{self.arch} accepts every input size")
        sizes = (self.input_size + 1,) * model.spatial_dims
        padded = tuple((s + divisor - 1) // divisor * divisor for s in sizes)
        with pytest.raises(RuntimeError, match=f"divisible by {divisor}.*{padded}"):
            model(sample_input(model, 1, sizes))

    def test_wrong_channel_count_raises(self, model: SegmentationModel) -> None:
        x = torch.zeros(1, model.in_channels + 1, *self.sizes(model))
        with pytest.raises(RuntimeError, match=f"built for {model.in_channels} input channels, got {model.in_channels + 1}"):
            model(x)

    def test_init_kwargs_recreate_the_same_network(self, model: SegmentationModel) -> None:
        clone = create_model(self.arch, **model.init_kwargs)
        assert type(clone) is type(model)
        assert {k: v.shape for k, v in clone.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}

    def test_state_dict_round_trip(self, model: SegmentationModel, tmp_path: Path) -> None:
        path = tmp_path / "weights.pt"
        torch.save(model.state_dict(), path)
        restored = self.build(seed=1)
        restored.load_state_dict(torch.load(path, weights_only=True))
        x = sample_input(model, 1, self.sizes(model))
        model.eval()
        restored.eval()
        with torch.no_grad():
            torch.testing.assert_close(restored(x), model(x), rtol=0, atol=0)

    @pytest.mark.filterwarnings("ignore::DeprecationWarning")
    def test_onnx_export_matches_torch_with_dynamic_axes(self, model: SegmentationModel, tmp_path: Path) -> None:
        assert model.is_onnx_exportable
        model.eval()
        path = tmp_path / "model.onnx"
        axes = {0: "batch", **{2 + i: f"size{i}" for i in range(model.spatial_dims)}}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.onnx.export(
                model,
                (sample_input(model, 1, self.sizes(model)),),
                str(path),
                dynamo=False,
                input_names=["image"],
                output_names=["logits"],
                dynamic_axes={"image": axes, "logits": axes},
                opset_version=17,
            )
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        sizes = self.onnx_check_sizes[: model.spatial_dims]
        x = sample_input(model, 2, sizes, seed=3)
        (onnx_logits,) = session.run(None, {"image": x.numpy()})
        with torch.no_grad():
            torch_logits = model(x).numpy()
        assert onnx_logits.shape == (2, model.out_channels, *sizes)
        assert np.abs(onnx_logits - torch_logits).max() < ONNX_TOLERANCE

    def test_forward_features_lists_encoder_and_decoder_maps(self, model: SegmentationModel) -> None:
        model.eval()
        x = sample_input(model, 1, self.sizes(model))
        with torch.no_grad():
            logits, features = model.forward_features(x)
            torch.testing.assert_close(logits, model(x))
        encoder, decoder = features["encoder"], features["decoder"]
        assert encoder and decoder
        encoder_sizes = [tuple(f.shape[2:]) for f in encoder]
        decoder_sizes = [tuple(f.shape[2:]) for f in decoder]
        assert encoder_sizes[0] == self.sizes(model) and decoder_sizes[-1] == self.sizes(model)
        assert encoder_sizes == sorted(encoder_sizes, reverse=True), "encoder maps must go from high to low resolution"
        assert decoder_sizes == sorted(decoder_sizes), "decoder maps must go from low to high resolution"
