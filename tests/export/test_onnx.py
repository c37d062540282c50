"""ONNX export: parity with PyTorch for every model family, the report, and every error path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from kdseg.data.images import read_rgb
from kdseg.engine.checkpoint import load_model, save_model
from kdseg.engine.data import normalise_image, resize_image
from kdseg.export import onnx as onnx_export
from kdseg.export.entrypoints import export_onnx_entry
from kdseg.export.onnx import OnnxModel, export_onnx, network_input, onnxruntime_session, subset_rows
from kdseg.models import get_model_class
from kdseg.utils.errors import ConfigError, DataError
from kdseg.utils.io import file_digest, read_json
from tests.export._helpers import TINY, make_brain_data, make_polyp_data, registered_families, save_tiny_checkpoint


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, Path]]:
    """The 2D and 3D data sets, keyed by spatial_dims."""
    return {2: make_polyp_data(tmp_path_factory.mktemp("polyp")), 3: make_brain_data(tmp_path_factory.mktemp("brain"))}


@pytest.mark.parametrize("arch", registered_families())
def test_parity_for_each_family(arch: str, datasets: dict[int, dict[str, Path]], tmp_path: Path) -> None:
    model_class = get_model_class(arch)
    data = datasets[model_class.spatial_dims]
    checkpoint = save_tiny_checkpoint(tmp_path / "model.pt", arch)
    report = export_onnx(checkpoint, data["manifest"], data["split"], tmp_path / "model.onnx", tmp_path / "parity.json", cases=2)

    parity = report["parity"]
    assert parity["max_abs_diff"] <= 1e-3 and 0 <= parity["mean_abs_diff"] <= parity["max_abs_diff"]
    assert parity["bound"] == pytest.approx(1e-3 * max(1.0, parity["max_abs_logit"]))
    assert parity["cases"] == (["img2", "img3"] if model_class.spatial_dims == 2 else ["case1", "case2"])
    assert read_json(tmp_path / "parity.json") == report
    assert report["sha256"] == file_digest(tmp_path / "model.onnx")
    session = onnxruntime_session(tmp_path / "model.onnx")
    shape = session.get_inputs()[0].shape
    assert shape[0] == "batch" and shape[1] == TINY[arch].get("in_channels", 3)
    if arch == "unetr":  # the ViT has a fixed number of patches: only the batch axis is dynamic
        assert shape[2:] == [16, 16, 16] and "other_size" not in parity
    else:
        assert all(isinstance(axis, str) for axis in shape[2:])
        assert parity["other_size"]["max_abs_diff"] <= 1e-3


def test_entry_writes_the_same_bytes_twice(datasets: dict[int, dict[str, Path]], tmp_path: Path, restore_logging: None) -> None:
    data = datasets[2]
    checkpoint = save_tiny_checkpoint(tmp_path / "model.pt", "unet")
    digests = []
    for run in ("a", "b"):
        export_onnx_entry(["--checkpoint", str(checkpoint), "--manifest", str(data["manifest"]), "--split", str(data["split"]), "--threads", "1", "--out", str(tmp_path / run / "m.onnx"), "--report", str(tmp_path / run / "m.json"), "--cases", "1"])
        digests.append(file_digest(tmp_path / run / "m.onnx"))
    assert digests[0] == digests[1]
    report = read_json(tmp_path / "a" / "m.json")
    assert report["opset"] == 17 and report["parity"]["cases"] == ["img2"] and report["parity"]["batch_size"] == 1
    assert report["input"] == {"name": "image", "shape": ["batch", 3, "height", "width"]}


def test_parity_failure_writes_nothing(datasets: dict[int, dict[str, Path]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = datasets[2]
    checkpoint = save_tiny_checkpoint(tmp_path / "model.pt", "unet")
    real_run = OnnxModel.run
    monkeypatch.setattr(OnnxModel, "run", lambda self, batch: real_run(self, batch) + 0.01)
    with pytest.raises(DataError, match=r"ONNX parity check failed .* max \|ONNX Runtime - PyTorch\| = 0\.01 on the logits, above the bound .*tolerance 0\.001"):
        export_onnx(checkpoint, data["manifest"], data["split"], tmp_path / "m.onnx", tmp_path / "m.json", cases=1)
    assert not (tmp_path / "m.onnx").exists() and not (tmp_path / "m.json").exists()


def _large_logit_checkpoint(path: Path) -> Path:
    """A tiny U-Net whose output layer is scaled up, as Dice-only training leaves it: logits far above 1."""
    model, meta = load_model(save_tiny_checkpoint(path, "unet"))
    output_layer = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    with torch.no_grad():
        output_layer.weight.mul_(1000.0)
        output_layer.bias.mul_(1000.0)
    save_model(path, model, "unet", meta)
    return path


@pytest.mark.parametrize(("relative_offset", "passes"), [(5e-4, True), (2e-3, False)])
def test_parity_bound_scales_with_the_logits(relative_offset: float, passes: bool, datasets: dict[int, dict[str, Path]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = datasets[2]
    checkpoint = _large_logit_checkpoint(tmp_path / "model.pt")
    real_run = OnnxModel.run

    def run_with_error(self: OnnxModel, batch: np.ndarray) -> np.ndarray:
        # an error of a given fraction of the largest logit, as float32 rounding through many layers gives
        logits = real_run(self, batch)
        return logits + relative_offset * np.abs(logits).max()

    monkeypatch.setattr(OnnxModel, "run", run_with_error)

    def export() -> dict:
        return export_onnx(checkpoint, data["manifest"], data["split"], tmp_path / "m.onnx", tmp_path / "m.json", cases=2)

    if passes:
        parity = export()["parity"]
        assert parity["max_abs_logit"] > 10 and parity["max_abs_diff"] > 1e-3
        assert parity["bound"] == pytest.approx(1e-3 * parity["max_abs_logit"]) and parity["max_abs_diff"] <= parity["bound"]
    else:
        with pytest.raises(DataError, match=r"above the bound .* \(tolerance 0\.001 x max\(1, max \|logit\| = "):
            export()
        assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize(
    ("change", "kwargs", "message"),
    [
        ("not_exportable", {}, "marked as not ONNX-exportable"),
        (None, {"opset": 13}, "opset 13 is too old"),
        (None, {"subset": "test"}, "the 'test' subset of .* is empty"),
    ],
)
def test_export_errors(change: str | None, kwargs: dict, message: str, datasets: dict[int, dict[str, Path]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = datasets[2]
    checkpoint = save_tiny_checkpoint(tmp_path / "model.pt", "unet")
    if change == "not_exportable":
        monkeypatch.setattr(get_model_class("unet"), "is_onnx_exportable", False)
    with pytest.raises(DataError, match=message):
        export_onnx(checkpoint, data["manifest"], data["split"], tmp_path / "m.onnx", tmp_path / "m.json", **kwargs)


def test_session_settings(tmp_path: Path) -> None:
    graph = onnx_export.onnx_bytes(get_model_class("unet")(features=4).eval(), torch.zeros(1, 3, 16, 16))
    session = onnxruntime_session(graph, threads=2, optimisation="basic", inter_op_threads=1)
    options = session.get_session_options()
    assert options.intra_op_num_threads == 2 and options.inter_op_num_threads == 1
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    with pytest.raises(ConfigError, match="Unknown onnxruntime optimisation level 'al'.*Did you mean 'all'"):
        onnxruntime_session(graph, optimisation="al")
    with pytest.raises(DataError, match="missing.onnx does not exist; export it first"):
        onnxruntime_session(tmp_path / "missing.onnx")
    with pytest.raises(DataError, match="ONNX Runtime cannot load the exported graph"):
        onnxruntime_session(b"not a graph")


def test_network_input_is_inference_preprocessing(datasets: dict[int, dict[str, Path]]) -> None:
    rows = subset_rows(datasets[2]["manifest"], datasets[2]["split"], "val")
    row = rows.iloc[1]  # a 36x44 PNG
    meta = {"spatial_dims": 2, "size": [32, 32], "input_range": "symmetric"}
    expected = normalise_image(resize_image(read_rgb(row["image"]), (32, 32)), "symmetric")
    np.testing.assert_array_equal(network_input(row, meta), expected)
    assert network_input(row, meta, (16, 24)).shape == (3, 16, 24)


def test_network_input_centres_volumes(datasets: dict[int, dict[str, Path]]) -> None:
    row = subset_rows(datasets[3]["manifest"], datasets[3]["split"], "val").iloc[0]
    meta = {"spatial_dims": 3, "size": [16, 16, 16]}
    cropped = network_input(row, meta)
    assert cropped.shape == (2, 16, 16, 16) and cropped.dtype == np.float32
    # 24x24x16 -> 16x24x20: x cropped by 4 on each side, y kept, z zero-padded by 2 at each end
    fitted = network_input(row, meta, (16, 24, 20))
    assert fitted.shape == (2, 16, 24, 20)
    assert not fitted[:, :, :, :2].any() and not fitted[:, :, :, -2:].any()
    np.testing.assert_array_equal(fitted[:, :, :, 2:-2], network_input(row, meta, (16, 24, 16)))
