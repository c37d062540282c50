"""FPS benchmark: the MediaEval protocol's numbers, the JSON a table reads, skipped runtimes and their reasons."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch

from kdseg.bench import fps
from kdseg.bench.entrypoints import bench_fps_entry
from kdseg.bench.fps import benchmark, time_call
from kdseg.submit.validate import check_timing
from kdseg.utils.errors import ConfigError
from kdseg.utils.io import read_json
from tests.export._helpers import brain_model, polyp_model  # noqa: F401  (fixtures)

VAL_IMAGES = ["img2.jpg", "img3.png", "img4.jpg", "img5.png"]


def _no_compiler(model: torch.nn.Module, **kwargs: object) -> object:
    def compiled(x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("InductorError: no working C++ compiler\nmore details")

    return compiled


def test_benchmark_2d(polyp_model: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], restore_logging: None) -> None:
    monkeypatch.setattr(torch, "compile", _no_compiler)
    (tmp_path / "m.fp16.engine").write_bytes(b"an engine built elsewhere")
    bench_fps_entry([
        "--checkpoint", str(polyp_model["checkpoint"]), "--onnx", str(polyp_model["onnx"]), "--engine", str(tmp_path / "m.fp16.engine"),
        "--manifest", str(polyp_model["manifest"]), "--split", str(polyp_model["split"]), "--size", "32", "48",
        "--batch-sizes", "1", "3", "--threads", "1", "--warmup", "1", "--iterations", "2",
        "--out-json", str(tmp_path / "bench.json"), "--out-plot", str(tmp_path / "bench.png"), "--out-timings", str(tmp_path / "timings"),
    ])
    result = read_json(tmp_path / "bench.json")
    assert (result["size"], result["images"], result["batch_sizes"], result["reference_runtime"]) == ([32, 48], 4, [1, 3], "pytorch_eager_fp32")
    env = result["environment"]
    assert env["device"] == "cpu" and env["threads"] == 1 and env["torch"] == torch.__version__ and env["device_name"] == env["cpu_model"]
    assert env["cpu_count"] >= 1 and env["load_average_before"] >= 0 and env["load_average_after"] >= 0
    runtimes = result["runtimes"]
    assert sorted(runtimes) == sorted(["pytorch_eager_fp32", "pytorch_channels_last_fp32", "pytorch_channels_last_bf16", "pytorch_compile", "onnxruntime", "tensorrt_fp16"])
    assert runtimes["pytorch_compile"] == {"status": "skipped", "reason": "torch.compile failed on this machine (RuntimeError: InductorError: no working C++ compiler)"}
    assert runtimes["tensorrt_fp16"]["status"] == "skipped" and "TensorRT engines cannot be built or run here" in runtimes["tensorrt_fp16"]["reason"]
    for name in ("pytorch_eager_fp32", "pytorch_channels_last_fp32", "pytorch_channels_last_bf16", "onnxruntime"):
        entry = runtimes[name]
        call = entry["model_call"]
        seconds = list(call["per_image_s"].values())
        assert list(call["per_image_s"]) == VAL_IMAGES
        assert call["fps"] == pytest.approx(4 / sum(seconds)) and call["mean_ms"] == pytest.approx(250 * sum(seconds))
        assert call["p50_ms"] <= call["p90_ms"] <= call["p99_ms"] <= 1000 * max(seconds) + 1e-9
        assert entry["end_to_end"]["fps"] > 0 and entry["end_to_end"]["mean_ms"] >= 0
        assert set(entry["throughput"]) == {"1", "3"} and entry["throughput"]["3"]["images_per_s"] > 0
        assert check_timing((tmp_path / "timings" / f"{name}.txt").read_text(), VAL_IMAGES) == []
    assert runtimes["pytorch_eager_fp32"]["max_abs_diff_vs_reference"] == 0.0
    assert runtimes["onnxruntime"]["max_abs_diff_vs_reference"] < 1e-4  # same graph, fp32
    assert runtimes["pytorch_channels_last_bf16"]["max_abs_diff_vs_reference"] > 0  # bf16 rounds
    assert (tmp_path / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "== onnxruntime: ONNX Runtime (CPU, optimisation all)\nimg2.jpg - " in printed


def test_benchmark_3d_end_to_end(brain_model: dict[str, Path], tmp_path: Path) -> None:
    result = benchmark(
        brain_model["checkpoint"], brain_model["manifest"], brain_model["split"], tmp_path / "b.json", tmp_path / "b.png",
        onnx=brain_model["onnx"], runtimes=("eager", "onnxruntime"), batch_sizes=(2,), warmup=1, iterations=1,
    )
    assert result["size"] == [16, 16, 16] and result["images"] == 2
    for name in ("pytorch_eager_fp32", "onnxruntime"):
        assert list(result["runtimes"][name]["model_call"]["per_image_s"]) == ["case1", "case2"]
        assert result["runtimes"][name]["end_to_end"]["fps"] > 0  # 24x24x16 cases through the sliding window


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": (30, 32)}, r"benchmark size \[30, 32\] is not divisible by 16, which UNet needs; use \[32, 32\]"),
        ({"size": (32, 32, 32)}, r"benchmark size \[32, 32, 32\] has 3 axes; the model is 2D"),
        ({"runtimes": ("eager", "onnxruntim")}, r"Unknown benchmark runtime 'onnxruntim'.*Did you mean 'onnxruntime'"),
        ({"batch_sizes": (0,)}, r"batch sizes must be >= 1 \(got \[0\]\)"),
    ],
)
def test_benchmark_errors(kwargs: dict, message: str, polyp_model: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=message):
        benchmark(polyp_model["checkpoint"], polyp_model["manifest"], polyp_model["split"], tmp_path / "b.json", tmp_path / "b.png", **kwargs)
    assert not (tmp_path / "b.json").exists()


def test_missing_onnx_is_a_recorded_skip(polyp_model: dict[str, Path], tmp_path: Path) -> None:
    result = benchmark(polyp_model["checkpoint"], polyp_model["manifest"], polyp_model["split"], tmp_path / "b.json", tmp_path / "b.png", runtimes=("eager", "onnxruntime", "tensorrt"), max_images=1, warmup=0, iterations=1)
    assert result["runtimes"]["onnxruntime"] == {"status": "skipped", "reason": "no ONNX model given (--onnx)"}
    assert result["runtimes"]["tensorrt"] == {"status": "skipped", "reason": "no TensorRT engine given (--engine)"}
    assert list(result["runtimes"]["pytorch_eager_fp32"]["model_call"]["per_image_s"]) == ["img2.jpg"]


def test_time_call_measures_the_call() -> None:
    def slow(x: torch.Tensor) -> torch.Tensor:
        time.sleep(0.05)
        return x + 1

    out, seconds = time_call(slow, torch.zeros(2), torch.device("cpu"))
    assert torch.equal(out, torch.ones(2)) and 0.05 <= seconds < 1.0


def test_summary_statistics() -> None:
    summary = fps._summary([0.1, 0.2, 0.3, 0.4])
    assert summary["mean_ms"] == pytest.approx(250.0) and summary["fps"] == pytest.approx(4.0)
    assert summary["p50_ms"] == pytest.approx(250.0) and summary["p90_ms"] == pytest.approx(370.0)
    assert np.isclose(summary["p99_ms"], 397.0)
