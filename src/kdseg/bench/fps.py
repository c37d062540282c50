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

Runtimes (``runtimes``): ``eager`` (PyTorch fp32), ``channels_last`` (PyTorch fp32 in channels-last
memory format), ``autocast`` (channels-last with bf16 autocast on the CPU, fp16 on CUDA),
``compile`` (``torch.compile``, inductor; skipped with the reason when it fails on the machine),
``onnxruntime`` (the exported graph, :func:`kdseg.export.onnx.onnxruntime_session`) and ``tensorrt``
(each ``--engine``; skipped with the reason where TensorRT or CUDA is missing). The JSON also records
each runtime's largest logit difference on the first case from the first runtime measured
(``reference_runtime``, eager fp32 unless left out).

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
from kdseg.engine.data import normalise_image, resize_image, zscore_nonzero
from kdseg.engine.inference import predict_volume, probabilities_to_labels
from kdseg.engine.trainer import resolve_device
from kdseg.export.onnx import OnnxModel, fixed_input_size, network_input, onnxruntime_session, subset_rows
from kdseg.models import SegmentationModel
from kdseg.submit.task2_entrypoint import format_timing
from kdseg.utils.errors import ConfigError, KdsegError
from kdseg.utils.io import write_json, write_text
from kdseg.utils.options import look_up_option
from kdseg.utils.progress import progress

__all__ = ["RUNTIMES", "Runtime", "benchmark", "cpu_model", "environment", "plot_benchmark", "time_call"]

log = logging.getLogger(__name__)

RUNTIMES = ("eager", "channels_last", "autocast", "compile", "onnxruntime", "tensorrt")


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
        "onnxruntime": ort.__version__,
        "tensorrt": _version("tensorrt") or _version("tensorrt-cu12"),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def time_call(call: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, float]:
    """Run ``call(x)`` and return its output and the seconds it took, with the device synchronised."""
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        out = call(x)
        end.record()
        end.synchronize()
        return out, start.elapsed_time(end) / 1000.0
    begin = time.perf_counter()
    out = call(x)
    return out, time.perf_counter() - begin


def _summary(seconds: Sequence[float]) -> dict[str, float]:
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return {"mean_ms": float(ms.mean()), "p50_ms": float(p50), "p90_ms": float(p90), "p99_ms": float(p99), "fps": float(len(ms) / (ms.sum() / 1000.0))}


# ----------------------------------------------------------------------------------------- runtimes
def _channels_last(model: SegmentationModel) -> tuple[SegmentationModel, torch.memory_format]:
    layout = torch.channels_last if model.spatial_dims == 2 else torch.channels_last_3d
    return copy.deepcopy(model).to(memory_format=layout), layout


def _channels_last_runtime(model: SegmentationModel) -> Runtime:
    converted, layout = _channels_last(model)
    return Runtime("PyTorch channels-last fp32", converted, lambda x: x.contiguous(memory_format=layout))


def _autocast_precision(device: torch.device) -> str:
    """fp16 on CUDA (tensor cores); bf16 on the CPU, where fp16 autocast has few fast kernels."""
    return "fp16" if device.type == "cuda" else "bf16"


def _autocast_runtime(model: SegmentationModel, device: torch.device) -> Runtime:
    precision = _autocast_precision(device)
    dtype = torch.float16 if precision == "fp16" else torch.bfloat16
    converted, layout = _channels_last(model)

    def call(x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device.type, dtype=dtype):
            return converted(x)

    return Runtime(f"PyTorch channels-last + {precision} autocast", call, lambda x: x.contiguous(memory_format=layout))


def _compile_runtime(model: SegmentationModel, example: torch.Tensor) -> Runtime:
    compiled = torch.compile(copy.deepcopy(model), dynamic=False)
    try:
        begin = time.perf_counter()
        compiled(example)  # compiles; later calls at this shape reuse the code
        log.info("torch.compile took %.1f s", time.perf_counter() - begin)
    except Exception as err:  # inductor failures come in many types (no compiler, unsupported op...)
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise _Skip(f"torch.compile failed on this machine ({type(err).__name__}: {first_line[:200]})") from None
    return Runtime("PyTorch torch.compile (inductor)", compiled)


def _onnx_runtime(onnx: Path | None, threads: int, optimisation: str, device: torch.device, spatial_dims: int) -> Runtime:
    if onnx is None:
        raise _Skip("no ONNX model given (--onnx)")
    providers = ["CPUExecutionProvider"]
    if device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
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
    builders: dict[str, list[tuple[str, Callable[[], Runtime]]]] = {
        "eager": [("pytorch_eager_fp32", lambda: Runtime("PyTorch eager fp32", model))],
        "channels_last": [("pytorch_channels_last_fp32", lambda: _channels_last_runtime(model))],
        "autocast": [(f"pytorch_channels_last_{_autocast_precision(device)}", lambda: _autocast_runtime(model, device))],
        "compile": [("pytorch_compile", lambda: _compile_runtime(model, example))],
        "onnxruntime": [("onnxruntime", lambda: _onnx_runtime(onnx, threads, optimisation, device, model.spatial_dims))],
        "tensorrt": [(f"tensorrt_{_engine_precision(e)}", lambda e=e: _tensorrt_runtime(e, device)) for e in engines],
    }
    for option in options:
        if not builders[option]:
            yield option, "no TensorRT engine given (--engine)"
        for name, build in builders[option]:
            try:
                runtime = build()
            except _Skip as reason:
                yield name, str(reason)
                continue
            runtime.spatial_dims = model.spatial_dims
            yield name, runtime


# ----------------------------------------------------------------------------------------- measurements
def _model_call(runtime: Runtime, inputs: Sequence[tuple[str, np.ndarray]], warmup: int, device: torch.device) -> dict[str, Any]:
    first = runtime.prepare(torch.from_numpy(inputs[0][1])[None].to(device))
    for _ in range(warmup):
        runtime.call(first)
    seconds = {}
    for name, array in inputs:
        x = runtime.prepare(torch.from_numpy(array)[None].to(device))
        seconds[name] = time_call(runtime.call, x, device)[1]
    return {**_summary(list(seconds.values())), "per_image_s": seconds}


def _end_to_end(runtime: Runtime, rows: pd.DataFrame, meta: dict[str, Any], size: Sequence[int], device: torch.device, threshold: float, scratch: Path) -> dict[str, float]:
    seconds = []
    for _, row in rows.iterrows():
        begin = time.perf_counter()
        if meta["spatial_dims"] == 3:
            volume, affine = load_case(row["image"])
            targets = meta.get("targets", "regions")
            probs = predict_volume([runtime], zscore_nonzero(volume), size, device=device, targets=targets)
            labels = probabilities_to_labels(probs, targets, meta.get("label_convention", "brats"), threshold)
            (scratch / f"{row['id']}.nii.gz").write_bytes(nifti_bytes(labels, affine))
        else:
            rgb = read_rgb(row["image"])
            x = torch.from_numpy(normalise_image(resize_image(rgb, size), meta["input_range"]))[None].to(device)
            probability = torch.sigmoid(runtime(x))[0, 0].cpu().numpy()
            mask = resize_image(probability, rgb.shape[:2]) >= threshold
            (scratch / f"{row['id']}.png").write_bytes(png_bytes(mask.astype(np.uint8) * 255))
        seconds.append(time.perf_counter() - begin)
    return _summary(seconds)


def _throughput(runtime: Runtime, inputs: Sequence[tuple[str, np.ndarray]], batch_sizes: Sequence[int], warmup: int, iterations: int, device: torch.device) -> dict[str, dict[str, float]]:
    result = {}
    for size in batch_sizes:
        batch = np.stack([inputs[i % len(inputs)][1] for i in range(size)])
        x = runtime.prepare(torch.from_numpy(batch).to(device))
        for _ in range(warmup):
            runtime.call(x)
        seconds = [time_call(runtime.call, x, device)[1] for _ in range(iterations)]
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
        threshold: probability threshold of the end-to-end masks. Defaults to 0.5.
        out_timings: folder for one official MediaEval timing file per runtime (``<runtime>.txt``). Defaults to None.
    """
    for name in runtimes:
        look_up_option(name, RUNTIMES, "benchmark runtime")
    if min(batch_sizes, default=0) < 1 or warmup < 0 or iterations < 1:
        raise ConfigError(f"batch sizes must be >= 1 (got {list(batch_sizes)}), warmup >= 0 (got {warmup}) and iterations >= 1 (got {iterations}).")
    torch.set_num_threads(max(1, threads))
    torch_device = resolve_device(device)
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
    reference = None
    with torch.inference_mode(), tempfile.TemporaryDirectory(prefix="kdseg-bench-") as scratch:
        built = _runtimes(runtimes, model, torch_device, first, Path(onnx) if onnx else None, [Path(e) for e in engines], threads, ort_optimisation)
        for name, runtime in progress(built, desc="runtimes", total=None, unit="runtime"):
            if isinstance(runtime, str):
                log.warning("skipping %s: %s", name, runtime)
                result["runtimes"][name] = {"status": "skipped", "reason": runtime}
                continue
            logits = runtime(first)
            if reference is None:
                reference, result["reference_runtime"] = logits, name
            entry = {"status": "ok", "label": runtime.label, "max_abs_diff_vs_reference": float((logits - reference).abs().max())}
            entry["model_call"] = _model_call(runtime, inputs, warmup, torch_device)
            entry["end_to_end"] = _end_to_end(runtime, rows, meta, input_size, torch_device, threshold, Path(scratch))
            entry["throughput"] = _throughput(runtime, inputs, batch_sizes, warmup, iterations, torch_device)
            result["runtimes"][name] = entry
            timing = format_timing(entry["model_call"]["per_image_s"].items())
            print(f"== {name}: {runtime.label}\n{timing}", end="", flush=True)
            if out_timings is not None:
                write_text(Path(out_timings) / f"{name}.txt", timing)
            log.info("%s: %.2f FPS model call (mean %.2f ms), %.2f FPS end to end", name, entry["model_call"]["fps"], entry["model_call"]["mean_ms"], entry["end_to_end"]["fps"])
            del runtime
    result["environment"]["load_average_after"] = _load_average()
    write_json(out_json, result)
    plot_benchmark(result, out_plot)
    return result


_PLOT_ORDER = ("pytorch_eager", "pytorch_channels_last_fp32", "pytorch_channels_last", "pytorch_compile", "onnxruntime", "tensorrt")


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
