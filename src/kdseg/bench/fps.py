"""Frame rates of a segmentation network: the MediaEval efficiency protocol, end to end, and batch throughput.

Three measurements on real cases of a split's subset, for each runtime:

1. **Model call** — the MediaEval 2020 Medico task-2 protocol (Jha et al., "Medico Multimedia Task at
   MediaEval 2020", https://multimediaeval.github.io/editions/2020/tasks/medico/): every image is
   preprocessed beforehand, the model is called ``warmup`` times, then each image's model call alone is
   timed with the device synchronised (CUDA events on a GPU, ``time.perf_counter`` on the CPU, whose
   calls are synchronous). Reported: seconds per image (printed as the official ``<name> - <seconds>``
   lines and ``Mean FPS: <x>``), mean, p50/p90/p99 milliseconds and FPS = images / total seconds.
2. **End to end** — decode the file, preprocess, model, postprocess to a mask at the image's resolution,
   encode and write it (3D: load the case, z-score, sliding-window inference, write the label map).
3. **Throughput** — batches of each size in ``batch_sizes`` (real inputs repeated), images per second.

Runtimes (``runtimes``), each one or more JSON entries:

- ``eager``: PyTorch fp32 (``pytorch_eager_fp32``), the reference the others are checked against.
- ``channels_last``: PyTorch fp32 in channels-last memory format (``pytorch_channels_last_fp32``).
- ``autocast``: channels-last with autocast: bf16 on the CPU (``pytorch_channels_last_bf16``; fp16
  autocast has few fast CPU kernels); fp16 and bf16 on CUDA (``pytorch_channels_last_fp16``,
  ``pytorch_channels_last_bf16``).
- ``compile``: ``torch.compile`` (inductor, default mode) of the fp32 model on the CPU
  (``pytorch_compile``), of the channels-last fp16 autocast model on CUDA (``pytorch_compile_fp16``).
- ``compile_max_autotune``: CUDA only, ``torch.compile(mode="max-autotune")`` of the channels-last fp16
  model: inductor searches kernel configurations and replays CUDA graphs (``pytorch_compile_max_autotune_fp16``).
- ``cuda_graph``: CUDA only, the whole channels-last fp16 forward captured once per input shape as one
  CUDA graph (:class:`CudaGraphForward`) and replayed (``pytorch_cuda_graph_fp16``).
- ``onnxruntime``: the exported graph (:func:`kdseg.export.onnx.onnxruntime_session`), with the CUDA
  execution provider on CUDA (skipped where ONNX Runtime has none) and the CPU provider on the CPU.
- ``tensorrt``: each ``--engine`` (``tensorrt_<precision>``).

A runtime that cannot run on the machine (no CUDA, no compiler, no TensorRT) is recorded as
``{"status": "skipped", "reason": ...}`` instead of failing the benchmark. Every measured runtime is
checked against the first one measured (``reference_runtime``, eager fp32 unless left out) on the
first :data:`AGREEMENT_CASES` cases: the largest logit difference (``max_abs_diff_vs_reference``) and the
Dice between its masks and the reference's (``mask_dice_vs_reference``: mean and min over the cases).
On CUDA, cuDNN's algorithm search is on (``torch.backends.cudnn.benchmark``): every series is timed
after its warm-up, at a fixed shape. The JSON also gives the network's FLOPs per image
(``flops_per_image``, counted by :class:`torch.utils.flop_counter.FlopCounterMode`), from which the
fraction of a device's peak a throughput reaches follows. It is rewritten after each runtime, so a
killed run keeps the runtimes it finished.

The JSON is a measurement: it changes from run to run.

Example:
    >>> result = benchmark("model.pt", "manifest.csv", "split.csv", "bench.json", "bench.png",
    ...                    onnx="model.onnx", size=(256, 256), batch_sizes=(1, 8), threads=2)
    >>> result["runtimes"]["onnxruntime"]["model_call"]["fps"]
"""

from __future__ import annotations

import copy
import importlib.metadata
import logging
import os
import platform
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd
import torch

from kdseg.data.images import png_bytes, read_rgb
from kdseg.data.volumes import load_case, nifti_bytes
from kdseg.engine.checkpoint import load_model
from kdseg.engine.data import normalise_image, resize_image
from kdseg.engine.inference import predict_label_map
from kdseg.engine.trainer import resolve_device
from kdseg.export.onnx import OnnxModel, fixed_input_size, network_input, onnxruntime_session, subset_rows
from kdseg.models import SegmentationModel
from kdseg.submit.task2_entrypoint import format_timing
from kdseg.utils.errors import ConfigError, KdsegError
from kdseg.utils.io import write_json, write_text
from kdseg.utils.options import look_up_option
from kdseg.utils.progress import progress

__all__ = [
    "AGREEMENT_CASES",
    "CUDA_ONLY_RUNTIMES",
    "RUNTIMES",
    "CudaGraphForward",
    "Runtime",
    "benchmark",
    "cpu_model",
    "environment",
    "mask_dice",
    "plot_benchmark",
    "time_call",
]

log = logging.getLogger(__name__)

#: every runtime, in the order measured by default: those that take long to build (compilation) last, so a
#: time-boxed run that is stopped loses those first
RUNTIMES = ("eager", "channels_last", "autocast", "cuda_graph", "onnxruntime", "tensorrt", "compile", "compile_max_autotune")
#: runtimes that only exist on a CUDA device; elsewhere they are recorded as skipped
CUDA_ONLY_RUNTIMES = ("compile_max_autotune", "cuda_graph")
#: cases of the model-call series on which each runtime's output is compared with the reference's
AGREEMENT_CASES = 16


@dataclass
class Runtime:
    """One way of running the network.

    Args:
        label: readable name for the chart.
        call: the timed model call, a batch on the device in, float32 logits out.
        prepare: untimed conversion of a batch on the device (memory format). Defaults to identity.
        spatial_dims: 2 or 3, as a network has it (the sliding-window inference reads it). Defaults to 2.
    """

    label: str
    call: Callable[[torch.Tensor], torch.Tensor]
    prepare: Callable[[torch.Tensor], torch.Tensor] = lambda x: x
    spatial_dims: int = 2

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.call(self.prepare(x)).float()


class _Skip(Exception):
    """A runtime that cannot run on this machine; the message is the recorded reason."""


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``, else :func:`platform.processor`)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _load_average() -> float | None:
    """The 1-minute load average (processes running or waiting for a CPU), where the OS reports one."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def environment(device: torch.device, threads: int) -> dict[str, Any]:
    """Device, CPU, thread count, the machine's load and library versions of a measurement."""
    cuda = device.type == "cuda"
    return {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if cuda else cpu_model(),
        "cpu_model": cpu_model(),
        "threads": threads,
        "cpu_count": os.cpu_count(),
        "load_average_before": _load_average(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda if cuda else None,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "cudnn_benchmark": torch.backends.cudnn.benchmark if cuda else None,
        # fp32 convolutions and matrix products may run in TF32 on tensor cores; the fp32 rows depend on it
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32 if cuda else None,
        "matmul_precision": torch.get_float32_matmul_precision(),
        "onnxruntime": ort.__version__,
        "onnxruntime_providers": ort.get_available_providers(),
        "tensorrt": _version("tensorrt") or _version("tensorrt-cu12") or _version("tensorrt-cu13"),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _synchronise(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA calls return before their kernels finish)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(
    call: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    device: torch.device,
    clock: Callable[[], float] = time.perf_counter,
) -> tuple[torch.Tensor, float]:
    """Run ``call(x)`` and return its output and the seconds it took.

    On CUDA the call is bracketed by two CUDA events on the current stream and the end event is waited
    for, so the time is the device's from the first to the last kernel of the call, including any time
    the device waits for the CPU to launch them. Elsewhere calls are synchronous and ``clock`` is read
    before and after.

    Args:
        call: the model call.
        x: its input, already on ``device``.
        device: where ``call`` runs.
        clock: seconds of a monotonic clock, for non-CUDA devices. Defaults to :func:`time.perf_counter`.
    """
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        out = call(x)
        end.record()
        end.synchronize()
        return out, start.elapsed_time(end) / 1000.0
    begin = clock()
    out = call(x)
    return out, clock() - begin


def _summary(seconds: Sequence[float]) -> dict[str, float]:
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return {"mean_ms": float(ms.mean()), "p50_ms": float(p50), "p90_ms": float(p90), "p99_ms": float(p99), "fps": float(len(ms) / (ms.sum() / 1000.0))}


def mask_dice(a: torch.Tensor, b: torch.Tensor) -> float:
    """Dice between two boolean masks of the same shape; 1.0 when both are empty (they agree)."""
    both = int((a & b).sum())
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * both / total


def flops_per_image(model: SegmentationModel, example: torch.Tensor) -> int | None:
    """Floating-point operations of one forward of a one-image batch (a multiply-add counts 2), or None
    where the counter cannot trace the network."""
    from torch.utils.flop_counter import FlopCounterMode

    try:
        with FlopCounterMode(display=False) as counter:
            model(example[:1])
    except Exception as err:  # a counter failure must not cost the benchmark
        log.warning("could not count the FLOPs of the network (%s: %s)", type(err).__name__, err)
        return None
    return int(counter.get_total_flops())


# ----------------------------------------------------------------------------------------- runtimes
_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


def _channels_last(model: SegmentationModel) -> tuple[SegmentationModel, torch.memory_format]:
    layout = torch.channels_last if model.spatial_dims == 2 else torch.channels_last_3d
    return copy.deepcopy(model).to(memory_format=layout), layout


def _channels_last_runtime(model: SegmentationModel) -> Runtime:
    converted, layout = _channels_last(model)
    return Runtime("PyTorch channels-last fp32", converted, lambda x: x.contiguous(memory_format=layout))


def _autocast_precisions(device: torch.device) -> tuple[str, ...]:
    """fp16 and bf16 on CUDA (tensor cores take both); bf16 on the CPU, where fp16 autocast has few fast kernels."""
    return ("fp16", "bf16") if device.type == "cuda" else ("bf16",)


def _autocast_forward(model: SegmentationModel, device: torch.device, precision: str) -> tuple[Callable[[torch.Tensor], torch.Tensor], torch.memory_format]:
    """A channels-last copy of ``model`` called under autocast, and its memory format.

    The autocast cache of cast weights is off: a CUDA graph cannot capture it, and in inference mode
    each call casts the weights anyway."""
    converted, layout = _channels_last(model)

    def forward(x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device.type, dtype=_DTYPES[precision], cache_enabled=False):
            return converted(x)

    return forward, layout


def _autocast_runtime(model: SegmentationModel, device: torch.device, precision: str) -> Runtime:
    forward, layout = _autocast_forward(model, device, precision)
    return Runtime(f"PyTorch channels-last + {precision} autocast", forward, lambda x: x.contiguous(memory_format=layout))


def _require_cuda(device: torch.device, what: str) -> None:
    if device.type != "cuda":
        raise _Skip(f"{what} needs a CUDA device; this benchmark runs on {device} (--device cuda on a machine with a GPU)")


def _compile_runtime(model: SegmentationModel, device: torch.device, example: torch.Tensor, mode: str) -> Runtime:
    """``torch.compile`` in ``mode``: of the fp32 model on the CPU, of the channels-last fp16 model on CUDA."""
    if mode != "default":
        _require_cuda(device, f"torch.compile mode {mode!r}")
    if device.type == "cuda":
        forward, layout = _autocast_forward(model, device, "fp16")
        label, prepare = f"PyTorch torch.compile ({mode}), channels-last + fp16 autocast", lambda x: x.contiguous(memory_format=layout)
    else:
        forward, label, prepare = copy.deepcopy(model), "PyTorch torch.compile (inductor)", lambda x: x
    compiled = torch.compile(forward, mode=None if mode == "default" else mode, dynamic=False)
    try:
        begin = time.perf_counter()
        compiled(prepare(example))  # compiles; later calls at this shape reuse the code
        log.info("torch.compile (%s) took %.1f s", mode, time.perf_counter() - begin)
    except Exception as err:  # inductor failures come in many types (no compiler, unsupported op...)
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise _Skip(f"torch.compile failed on this machine ({type(err).__name__}: {first_line[:200]})") from None
    return Runtime(label, compiled, prepare)


class CudaGraphForward:
    """A forward captured as one CUDA graph per input shape and replayed: one launch per call instead of
    one per kernel, which is what limits a small network at batch 1.

    The first call at a shape warms the forward up on a side stream and captures it (untimed in the
    benchmark: the reference check and every warm-up call before a timed series come first); each call
    copies its input into the graph's input buffer and replays. The returned tensor is the graph's output
    buffer: the next call at the same shape overwrites it.

    Args:
        forward: the function to capture (tensors in, tensor out; no host synchronisation inside).
        device: its CUDA device.
        warmup: forward calls before a capture (cuDNN's algorithm search, lazy initialisation). Defaults to 3.

    Example:
        >>> graphed = CudaGraphForward(model, torch.device("cuda"))
        >>> logits = graphed(torch.zeros(1, 3, 256, 256, device="cuda")).clone()
    """

    def __init__(self, forward: Callable[[torch.Tensor], torch.Tensor], device: torch.device, warmup: int = 3) -> None:
        self.forward = forward
        self.device = device
        self.warmup = warmup
        self._graphs: dict[tuple[tuple[int, ...], tuple[int, ...]], tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor]] = {}

    def _capture(self, x: torch.Tensor) -> tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor]:
        static_input = x.clone()  # keeps the memory format
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(self.warmup):
                self.forward(static_input)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_output = self.forward(static_input)
        return graph, static_input, static_output

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        key = (tuple(x.shape), tuple(x.stride()))
        if key not in self._graphs:
            self._graphs[key] = self._capture(x)
        graph, static_input, static_output = self._graphs[key]
        static_input.copy_(x)
        graph.replay()
        return static_output


def _cuda_graph_runtime(model: SegmentationModel, device: torch.device) -> Runtime:
    _require_cuda(device, "a CUDA graph")
    forward, layout = _autocast_forward(model, device, "fp16")
    return Runtime("PyTorch CUDA graph of the whole forward, channels-last + fp16 autocast", CudaGraphForward(forward, device), lambda x: x.contiguous(memory_format=layout))


def _onnx_runtime(onnx: Path | None, threads: int, optimisation: str, device: torch.device, spatial_dims: int) -> Runtime:
    """The exported graph in ONNX Runtime: the CUDA execution provider on CUDA, the CPU provider elsewhere."""
    if onnx is None:
        raise _Skip("no ONNX model given (--onnx)")
    available = ort.get_available_providers()
    if device.type == "cuda" and "CUDAExecutionProvider" not in available:
        raise _Skip(f"ONNX Runtime {ort.__version__} here has no CUDA execution provider (it has {', '.join(available)}); install onnxruntime-gpu to measure it on the GPU")
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device.type == "cuda" else ["CPUExecutionProvider"]
    model = OnnxModel(onnxruntime_session(onnx, threads, optimisation, providers=providers), spatial_dims)
    provider = model.session.get_providers()[0].removesuffix("ExecutionProvider")
    return Runtime(f"ONNX Runtime ({provider}, optimisation {optimisation})", model)


def _engine_precision(engine: Path) -> str:
    """``fp16`` of ``model.fp16.engine``."""
    return engine.name.removesuffix(".engine").rsplit(".", 1)[-1]


def _tensorrt_runtime(engine: Path, device: torch.device) -> Runtime:
    from kdseg.export.tensorrt import TensorRTRunner

    try:
        runner = TensorRTRunner(engine, device)
    except KdsegError as err:
        raise _Skip(str(err)) from None
    return Runtime(f"TensorRT {_engine_precision(engine)}", runner)


def _no_engine_reason() -> str:
    installed = _version("tensorrt") or _version("tensorrt-cu12") or _version("tensorrt-cu13")
    if installed is None:
        return "no TensorRT engine given (--engine), and TensorRT is not installed here"
    return f"no TensorRT engine given (--engine; TensorRT {installed} is installed: build one with kdseg-build-engine)"


def _runtimes(
    options: Sequence[str],
    model: SegmentationModel,
    device: torch.device,
    example: torch.Tensor,
    onnx: Path | None,
    engines: Sequence[Path],
    threads: int,
    optimisation: str,
) -> Iterator[tuple[str, Runtime | str]]:
    """(JSON name, runtime) for each runtime of ``options``, built one at a time (so only one holds memory),
    or (JSON name, reason) when it cannot run here."""
    cuda = device.type == "cuda"
    builders: dict[str, list[tuple[str, Callable[[], Runtime]]]] = {
        "eager": [("pytorch_eager_fp32", lambda: Runtime("PyTorch eager fp32", model))],
        "channels_last": [("pytorch_channels_last_fp32", lambda: _channels_last_runtime(model))],
        "autocast": [(f"pytorch_channels_last_{p}", lambda p=p: _autocast_runtime(model, device, p)) for p in _autocast_precisions(device)],
        "compile": [("pytorch_compile_fp16" if cuda else "pytorch_compile", lambda: _compile_runtime(model, device, example, "default"))],
        "compile_max_autotune": [("pytorch_compile_max_autotune_fp16", lambda: _compile_runtime(model, device, example, "max-autotune"))],
        "cuda_graph": [("pytorch_cuda_graph_fp16", lambda: _cuda_graph_runtime(model, device))],
        "onnxruntime": [("onnxruntime", lambda: _onnx_runtime(onnx, threads, optimisation, device, model.spatial_dims))],
        "tensorrt": [(f"tensorrt_{_engine_precision(e)}", lambda e=e: _tensorrt_runtime(e, device)) for e in engines],
    }
    for option in options:
        if not builders[option]:
            yield option, _no_engine_reason()
        for name, build in builders[option]:
            try:
                runtime = build()
            except _Skip as reason:
                yield name, str(reason)
                continue
            runtime.spatial_dims = model.spatial_dims
            yield name, runtime


# ----------------------------------------------------------------------------------------- measurements
def _model_call(
    runtime: Runtime,
    inputs: Sequence[tuple[str, np.ndarray]],
    warmup: int,
    device: torch.device,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, Any]:
    """The MediaEval protocol: ``warmup`` untimed calls on the first input, then each input's model call
    timed alone at batch 1 (input already on the device and in the runtime's memory format)."""
    first = runtime.prepare(torch.from_numpy(inputs[0][1])[None].to(device))
    for _ in range(warmup):
        runtime.call(first)
    _synchronise(device)
    seconds = {}
    for name, array in inputs:
        x = runtime.prepare(torch.from_numpy(array)[None].to(device))
        seconds[name] = time_call(runtime.call, x, device, clock)[1]
    return {**_summary(list(seconds.values())), "per_image_s": seconds}


def _agreement(runtime: Runtime, inputs: Sequence[tuple[str, np.ndarray]], reference: Sequence[torch.Tensor], device: torch.device, threshold: float) -> dict[str, Any]:
    """Largest logit difference and mask Dice of ``runtime`` against the reference logits of the same inputs."""
    worst, dice = 0.0, []
    for (_, array), expected in zip(inputs, reference):
        logits = runtime(torch.from_numpy(array)[None].to(device)).cpu()
        worst = max(worst, float((logits - expected).abs().max()))
        dice.append(mask_dice(torch.sigmoid(logits) >= threshold, torch.sigmoid(expected) >= threshold))
    return {"max_abs_diff_vs_reference": worst, "mask_dice_vs_reference": {"mean": float(np.mean(dice)), "min": float(np.min(dice)), "cases": len(dice)}}


def _end_to_end(runtime: Runtime, rows: pd.DataFrame, meta: dict[str, Any], size: Sequence[int], device: torch.device, threshold: float, scratch: Path) -> dict[str, float]:
    seconds = []
    for _, row in rows.iterrows():
        begin = time.perf_counter()
        if meta["spatial_dims"] == 3:
            volume, affine = load_case(row["image"])
            labels = predict_label_map([runtime], volume, meta, meta.get("label_convention", "brats"), threshold, patch_size=size, device=device)
            (scratch / f"{row['id']}.nii.gz").write_bytes(nifti_bytes(labels, affine))
        else:
            rgb = read_rgb(row["image"])
            x = torch.from_numpy(normalise_image(resize_image(rgb, size), meta["input_range"]))[None].to(device)
            probability = torch.sigmoid(runtime(x))[0, 0].cpu().numpy()
            mask = resize_image(probability, rgb.shape[:2]) >= threshold
            (scratch / f"{row['id']}.png").write_bytes(png_bytes(mask.astype(np.uint8) * 255))
        seconds.append(time.perf_counter() - begin)
    return _summary(seconds)


def _throughput(
    runtime: Runtime,
    inputs: Sequence[tuple[str, np.ndarray]],
    batch_sizes: Sequence[int],
    warmup: int,
    iterations: int,
    device: torch.device,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, dict[str, float]]:
    """Images per second of batches of each size (the real inputs repeated): ``warmup`` untimed calls,
    then ``iterations`` timed ones."""
    result = {}
    for size in batch_sizes:
        batch = np.stack([inputs[i % len(inputs)][1] for i in range(size)])
        x = runtime.prepare(torch.from_numpy(batch).to(device))
        for _ in range(warmup):
            runtime.call(x)
        _synchronise(device)
        seconds = [time_call(runtime.call, x, device, clock)[1] for _ in range(iterations)]
        result[str(size)] = {"images_per_s": size * iterations / sum(seconds), "ms_per_batch": 1000.0 * float(np.mean(seconds))}
    return result


def _check_size(model: SegmentationModel, size: tuple[int, ...]) -> None:
    fixed = fixed_input_size(model)
    if len(size) != model.spatial_dims:
        raise ConfigError(f"benchmark size {list(size)} has {len(size)} axes; the model is {model.spatial_dims}D.")
    if fixed is not None and size != fixed:
        raise ConfigError(f"{type(model).__name__} only accepts inputs of {list(fixed)}; set benchmark.size to {list(fixed)}.")
    divisor = model.required_divisor
    if any(s % divisor for s in size):
        raise ConfigError(f"benchmark size {list(size)} is not divisible by {divisor}, which {type(model).__name__} needs; use {[-(-s // divisor) * divisor for s in size]}.")


def benchmark(
    checkpoint: str | Path,
    manifest: str | Path,
    split: str | Path,
    out_json: str | Path,
    out_plot: str | Path,
    *,
    onnx: str | Path | None = None,
    engines: Sequence[str | Path] = (),
    size: Sequence[int] | None = None,
    batch_sizes: Sequence[int] = (1,),
    subset: str = "val",
    max_images: int = 0,
    warmup: int = 5,
    iterations: int = 10,
    runtimes: Sequence[str] = RUNTIMES,
    threads: int = 1,
    device: str = "auto",
    ort_optimisation: str = "all",
    threshold: float = 0.5,
    out_timings: str | Path | None = None,
) -> dict[str, Any]:
    """Measure every runtime with the three protocols of the module docstring; write the JSON and the chart.

    Args:
        checkpoint: ``model.pt`` written by ``kdseg-train``.
        manifest: manifest CSV of the data set.
        split: split CSV.
        out_json: JSON to write (environment, per-runtime statistics).
        out_plot: bar chart PNG to write.
        onnx: the exported ``.onnx`` file (``onnxruntime``). Defaults to None.
        engines: TensorRT ``.engine`` files (``tensorrt``). Defaults to ().
        size: spatial size of the network input. Defaults to the training size.
        batch_sizes: batch sizes of the throughput measurement. Defaults to (1,).
        subset: subset of the split whose cases are measured. Defaults to "val".
        max_images: measure at most this many cases; 0 for all. Defaults to 0.
        warmup: untimed calls before each timed series. Defaults to 5.
        iterations: timed batches per batch size. Defaults to 10.
        runtimes: runtimes to measure, from :data:`RUNTIMES`. Defaults to all.
        threads: CPU threads of PyTorch and ONNX Runtime. Defaults to 1.
        device: ``auto``, ``cpu`` or ``cuda[:n]``. Defaults to "auto".
        ort_optimisation: ONNX Runtime graph optimisation level. Defaults to "all".
        threshold: probability threshold of the end-to-end masks and of the masks compared with the reference. Defaults to 0.5.
        out_timings: folder for one official MediaEval timing file per runtime (``<runtime>.txt``). Defaults to None.
    """
    for name in runtimes:
        look_up_option(name, RUNTIMES, "benchmark runtime")
    if min(batch_sizes, default=0) < 1 or warmup < 0 or iterations < 1:
        raise ConfigError(f"batch sizes must be >= 1 (got {list(batch_sizes)}), warmup >= 0 (got {warmup}) and iterations >= 1 (got {iterations}).")
    torch.set_num_threads(max(1, threads))
    torch_device = resolve_device(device)
    if torch_device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # shapes are fixed per series: cuDNN picks its fastest algorithms in the warm-up
    model, meta = load_model(checkpoint, torch_device)
    input_size = tuple(int(s) for s in (size if size is not None else meta["size"]))
    _check_size(model, input_size)
    rows = subset_rows(manifest, split, subset, max_images)
    names = [Path(image).name if meta["spatial_dims"] == 2 else case for case, image in zip(rows["id"], rows["image"])]
    inputs = [(name, network_input(row, meta, input_size)) for name, (_, row) in zip(names, rows.iterrows())]
    first = torch.from_numpy(inputs[0][1])[None].to(torch_device)
    result: dict[str, Any] = {
        "experiment": meta.get("experiment"),
        "model": meta.get("model"),
        "arch": meta["arch"],
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "size": list(input_size),
        "subset": subset,
        "images": len(inputs),
        "warmup": warmup,
        "iterations": iterations,
        "batch_sizes": [int(b) for b in batch_sizes],
        "environment": environment(torch_device, threads),
        "runtimes": {},
    }
    log.info("benchmarking %s on %d %s case(s) at %s on %s (%d threads)", meta.get("model") or checkpoint, len(inputs), subset, "x".join(map(str, input_size)), result["environment"]["device_name"], threads)
    load = result["environment"]["load_average_before"]
    if load is not None and load > 0.5:
        log.warning("other processes are using the CPU (1-minute load average %.2f on %s CPUs): timings will be slower and noisier than on an idle machine", load, os.cpu_count())
    reference: list[torch.Tensor] = []
    checked = inputs[:AGREEMENT_CASES]
    with torch.inference_mode(), tempfile.TemporaryDirectory(prefix="kdseg-bench-") as scratch:
        result["flops_per_image"] = flops_per_image(model, first)
        built = _runtimes(runtimes, model, torch_device, first, Path(onnx) if onnx else None, [Path(e) for e in engines], threads, ort_optimisation)
        for name, runtime in progress(built, desc="runtimes", total=None, unit="runtime"):
            if isinstance(runtime, str):
                log.warning("skipping %s: %s", name, runtime)
                result["runtimes"][name] = {"status": "skipped", "reason": runtime}
                write_json(out_json, result)
                continue
            if not reference:
                reference = [runtime(torch.from_numpy(array)[None].to(torch_device)).cpu() for _, array in checked]
                result["reference_runtime"] = name
            entry = {"status": "ok", "label": runtime.label, **_agreement(runtime, checked, reference, torch_device, threshold)}
            entry["model_call"] = _model_call(runtime, inputs, warmup, torch_device)
            entry["end_to_end"] = _end_to_end(runtime, rows, meta, input_size, torch_device, threshold, Path(scratch))
            entry["throughput"] = _throughput(runtime, inputs, batch_sizes, warmup, iterations, torch_device)
            result["runtimes"][name] = entry
            write_json(out_json, result)  # a run killed later keeps this runtime
            timing = format_timing(entry["model_call"]["per_image_s"].items())
            print(f"== {name}: {runtime.label}\n{timing}", end="", flush=True)
            if out_timings is not None:
                write_text(Path(out_timings) / f"{name}.txt", timing)
            log.info("%s: %.2f FPS model call (mean %.2f ms), %.2f FPS end to end, mask Dice vs %s %.4f (min %.4f)", name, entry["model_call"]["fps"], entry["model_call"]["mean_ms"], entry["end_to_end"]["fps"], result["reference_runtime"], entry["mask_dice_vs_reference"]["mean"], entry["mask_dice_vs_reference"]["min"])
            del runtime
    result["environment"]["load_average_after"] = _load_average()
    write_json(out_json, result)
    plot_benchmark(result, out_plot)
    return result


_PLOT_ORDER = ("pytorch_eager", "pytorch_channels_last_fp32", "pytorch_channels_last", "pytorch_compile", "pytorch_cuda_graph", "onnxruntime", "tensorrt")


def _plot_rank(name: str) -> tuple[int, str]:
    """PyTorch variants first, then ONNX Runtime, then TensorRT; whatever the JSON's key order is."""
    return next((i for i, prefix in enumerate(_PLOT_ORDER) if name.startswith(prefix)), len(_PLOT_ORDER)), name


def plot_benchmark(result: dict[str, Any], path: str | Path) -> None:
    """Bar chart of a benchmark JSON: FPS per runtime (model call and end to end), and images/s per batch size."""
    from kdseg.report.figures import plt, save_figure

    measured = {name: result["runtimes"][name] for name in sorted(result["runtimes"], key=_plot_rank) if result["runtimes"][name]["status"] == "ok"}
    labels = [textwrap.fill(entry["label"], 18) for entry in measured.values()]
    positions = np.arange(len(labels))
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.2), layout="constrained")
    width = 0.38
    for offset, key, caption in ((-width / 2, "model_call", "model call (MediaEval protocol)"), (width / 2, "end_to_end", "end to end (decode → write)")):
        bars = left.bar(positions + offset, [entry[key]["fps"] for entry in measured.values()], width, label=caption)
        left.bar_label(bars, fmt="%.1f", fontsize=7)
    left.set(title="Frames per second, batch 1", ylabel="frames per second (higher is better)")
    batch_sizes = result["batch_sizes"]
    width = 0.8 / max(1, len(batch_sizes))
    for index, batch in enumerate(batch_sizes):
        bars = right.bar(positions + (index - (len(batch_sizes) - 1) / 2) * width, [entry["throughput"][str(batch)]["images_per_s"] for entry in measured.values()], width, label=f"batch {batch}")
        right.bar_label(bars, fmt="%.1f", fontsize=7)
    right.set(title="Throughput", ylabel="images per second (higher is better)")
    for ax in (left, right):
        ax.set_xticks(positions, labels, fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    env = result["environment"]
    threads = f"{env['threads']} thread{'s' if env['threads'] != 1 else ''}"
    fig.suptitle(f"{result.get('model') or result['arch']} at {'x'.join(map(str, result['size']))} on {env['device_name']} ({threads}, {result['images']} images)")
    skipped = [f"{name}: {textwrap.shorten(entry['reason'], 110)}" for name, entry in result["runtimes"].items() if entry["status"] != "ok"]
    if skipped:
        fig.supxlabel("Skipped — " + "\n".join(skipped), fontsize=7, ha="left", x=0.01)
    save_figure(fig, path)
