"""FPS benchmark: the MediaEval protocol's numbers, the JSON a table reads, skipped runtimes and their reasons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from kdseg.bench import fps
from kdseg.bench.entrypoints import bench_fps_entry
from kdseg.bench.fps import benchmark, time_call
from kdseg.engine.checkpoint import load_model
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
    assert sorted(runtimes) == sorted([
        "pytorch_eager_fp32", "pytorch_channels_last_fp32", "pytorch_channels_last_bf16", "pytorch_compile",
        "pytorch_compile_max_autotune_fp16", "pytorch_cuda_graph_fp16", "onnxruntime", "tensorrt_fp16",
    ])
    assert runtimes["pytorch_compile"] == {"status": "skipped", "reason": "torch.compile failed on this machine (RuntimeError: InductorError: no working C++ compiler)"}
    for name in ("pytorch_compile_max_autotune_fp16", "pytorch_cuda_graph_fp16"):  # the CUDA runtimes are skipped, not errors
        assert runtimes[name]["status"] == "skipped" and "needs a CUDA device; this benchmark runs on cpu" in runtimes[name]["reason"]
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
    assert runtimes["pytorch_eager_fp32"]["mask_dice_vs_reference"] == {"mean": 1.0, "min": 1.0, "cases": 4}
    assert runtimes["onnxruntime"]["max_abs_diff_vs_reference"] < 1e-4  # same graph, fp32
    assert runtimes["onnxruntime"]["mask_dice_vs_reference"]["min"] > 0.99
    assert runtimes["pytorch_channels_last_bf16"]["max_abs_diff_vs_reference"] > 0  # bf16 rounds
    assert result["flops_per_image"] > 0
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
    assert result["runtimes"]["tensorrt"]["status"] == "skipped" and result["runtimes"]["tensorrt"]["reason"].startswith("no TensorRT engine given (--engine")
    assert list(result["runtimes"]["pytorch_eager_fp32"]["model_call"]["per_image_s"]) == ["img2.jpg"]


class FakeClock:
    """A clock that only moves when the fake network runs: 10 ms per image of the batch."""

    def __init__(self) -> None:
        self.now = 100.0
        self.calls: list[int] = []

    def __call__(self) -> float:
        return self.now

    def network(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(x.shape[0])
        self.now += 0.010 * x.shape[0]
        return x[:, :1]


def test_time_call_reads_the_clock_around_the_call() -> None:
    clock = FakeClock()
    out, seconds = time_call(clock.network, torch.zeros(3, 2, 4, 4), torch.device("cpu"), clock)
    assert out.shape == (3, 1, 4, 4) and seconds == pytest.approx(0.030) and clock.calls == [3]


def test_model_call_times_each_image_after_the_warmup() -> None:
    clock = FakeClock()
    runtime = fps.Runtime("fake", clock.network)
    inputs = [(f"img{i}.jpg", np.zeros((3, 8, 8), np.float32)) for i in range(5)]
    result = fps._model_call(runtime, inputs, warmup=3, device=torch.device("cpu"), clock=clock)
    assert clock.calls == [1] * 8  # 3 untimed warm-up calls, then one per image
    assert list(result["per_image_s"]) == [name for name, _ in inputs]
    assert all(s == pytest.approx(0.010) for s in result["per_image_s"].values())
    assert result["fps"] == pytest.approx(100.0) and result["mean_ms"] == pytest.approx(10.0) and result["p99_ms"] == pytest.approx(10.0)


def test_throughput_times_whole_batches() -> None:
    clock = FakeClock()
    runtime = fps.Runtime("fake", clock.network)
    inputs = [(f"img{i}.jpg", np.full((3, 8, 8), i, np.float32)) for i in range(3)]
    result = fps._throughput(runtime, inputs, batch_sizes=(1, 8), warmup=2, iterations=4, device=torch.device("cpu"), clock=clock)
    assert clock.calls == [1] * 6 + [8] * 6
    assert result["1"] == pytest.approx({"images_per_s": 100.0, "ms_per_batch": 10.0})
    assert result["8"] == pytest.approx({"images_per_s": 100.0, "ms_per_batch": 80.0})


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([0, 0, 0, 0], [0, 0, 0, 0], 1.0),  # both empty: they agree
        ([1, 1, 0, 0], [1, 1, 0, 0], 1.0),
        ([1, 1, 0, 0], [0, 0, 1, 1], 0.0),
        ([1, 1, 1, 0], [1, 0, 0, 0], 0.5),
    ],
)
def test_mask_dice(a: list[int], b: list[int], expected: float) -> None:
    assert fps.mask_dice(torch.tensor(a, dtype=torch.bool), torch.tensor(b, dtype=torch.bool)) == pytest.approx(expected)


def _runtime_outcomes(options: tuple[str, ...], model: torch.nn.Module, device: str, **kwargs: object) -> dict[str, object]:
    arguments = {"onnx": None, "engines": [], "threads": 1, "optimisation": "all"} | kwargs
    example = torch.zeros(1, 3, 32, 32)
    return {name: runtime for name, runtime in fps._runtimes(options, model, torch.device(device), example, **arguments)}


def test_cuda_selects_fp16_and_bf16_autocast(polyp_model: dict[str, Path]) -> None:
    model, _ = load_model(polyp_model["checkpoint"], torch.device("cpu"))
    on_cuda = _runtime_outcomes(("eager", "autocast"), model, "cuda")
    assert list(on_cuda) == ["pytorch_eager_fp32", "pytorch_channels_last_fp16", "pytorch_channels_last_bf16"]
    assert on_cuda["pytorch_channels_last_fp16"].label == "PyTorch channels-last + fp16 autocast"
    assert list(_runtime_outcomes(("autocast",), model, "cpu")) == ["pytorch_channels_last_bf16"]


def test_onnxruntime_without_its_cuda_provider_is_skipped_on_cuda(polyp_model: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fps.ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    model, _ = load_model(polyp_model["checkpoint"], torch.device("cpu"))
    reason = _runtime_outcomes(("onnxruntime",), model, "cuda", onnx=polyp_model["onnx"])["onnxruntime"]
    assert isinstance(reason, str) and "no CUDA execution provider (it has CPUExecutionProvider)" in reason and "onnxruntime-gpu" in reason
    assert isinstance(_runtime_outcomes(("onnxruntime",), model, "cpu", onnx=polyp_model["onnx"])["onnxruntime"], fps.Runtime)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a CUDA GPU")
def test_cuda_graph_forward_matches_the_eager_forward(polyp_model: dict[str, Path]) -> None:
    device = torch.device("cuda")
    model, _ = load_model(polyp_model["checkpoint"], device)
    graphed = fps.CudaGraphForward(model, device)
    with torch.inference_mode():
        for batch in (1, 3):
            x = torch.randn(batch, 3, 32, 48, device=device)
            torch.testing.assert_close(graphed(x).clone(), model(x), rtol=1e-3, atol=1e-3)
            y = torch.randn_like(x)  # a replay reads the new input, not the captured one
            torch.testing.assert_close(graphed(y).clone(), model(y), rtol=1e-3, atol=1e-3)


def test_summary_statistics() -> None:
    summary = fps._summary([0.1, 0.2, 0.3, 0.4])
    assert summary["mean_ms"] == pytest.approx(250.0) and summary["fps"] == pytest.approx(4.0)
    assert summary["p50_ms"] == pytest.approx(250.0) and summary["p90_ms"] == pytest.approx(370.0)
    assert np.isclose(summary["p99_ms"], 397.0)
