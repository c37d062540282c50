"""Console command ``kdseg-bench-fps``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from kdseg.utils.cli import add_common_args, add_device_args, run_entry

__all__ = ["bench_fps_entry"]


def bench_fps_entry(argv: Sequence[str] | None = None) -> None:
    """``kdseg-bench-fps``: frame rates of a model (MediaEval protocol, end to end, batch throughput) per runtime."""
    from kdseg.bench.fps import RUNTIMES, benchmark
    from kdseg.export.onnx import OPTIMISATION_LEVELS

    parser = argparse.ArgumentParser(prog="kdseg-bench-fps", description=bench_fps_entry.__doc__)
    parser.add_argument("--checkpoint", required=True, type=Path, help="[REQUIRED] model.pt written by kdseg-train.")
    parser.add_argument("--manifest", required=True, type=Path, help="[REQUIRED] manifest CSV (the measured cases are real ones).")
    parser.add_argument("--split", required=True, type=Path, help="[REQUIRED] split CSV.")
    parser.add_argument("--out-json", required=True, type=Path, help="[REQUIRED] JSON of the measurements (device, versions, per-runtime statistics).")
    parser.add_argument("--out-plot", required=True, type=Path, help="[REQUIRED] bar chart PNG.")
    parser.add_argument("--onnx", type=Path, help="[OPTIONAL] exported .onnx file, for the onnxruntime runtime.")
    parser.add_argument("--engine", dest="engines", action="append", type=Path, default=[], help="[OPTIONAL] a TensorRT .engine file; repeat for several.")
    parser.add_argument("--size", type=int, nargs="+", help="[OPTIONAL] input size H W (or X Y Z). Default: the training size.")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1], help="[OPTIONAL] batch sizes of the throughput measurement. Default: 1.")
    parser.add_argument("--subset", default="val", help="[OPTIONAL] subset of the split whose cases are measured. Default: val.")
    parser.add_argument("--max-images", type=int, default=0, help="[OPTIONAL] measure at most this many cases; 0 = all. Default: 0.")
    parser.add_argument("--warmup", type=int, default=5, help="[OPTIONAL] untimed calls before each timed series. Default: 5.")
    parser.add_argument("--iterations", type=int, default=10, help="[OPTIONAL] timed batches per batch size. Default: 10.")
    parser.add_argument("--runtimes", nargs="+", default=list(RUNTIMES), choices=RUNTIMES, help=f"[OPTIONAL] runtimes to measure. Default: {' '.join(RUNTIMES)}.")
    parser.add_argument("--ort-optimisation", default="all", choices=sorted(OPTIMISATION_LEVELS), help="[OPTIONAL] ONNX Runtime graph optimisation level. Default: all.")
    parser.add_argument("--out-timings", type=Path, help="[OPTIONAL] folder for one official MediaEval timing file per runtime.")
    add_device_args(parser)
    add_common_args(parser)
    run_entry(
        parser,
        lambda a: benchmark(
            a.checkpoint, a.manifest, a.split, a.out_json, a.out_plot,
            onnx=a.onnx, engines=a.engines, size=a.size, batch_sizes=a.batch_sizes, subset=a.subset, max_images=a.max_images,
            warmup=a.warmup, iterations=a.iterations, runtimes=a.runtimes, threads=a.threads, device=a.device,
            ort_optimisation=a.ort_optimisation, out_timings=a.out_timings,
        ),
        argv,
    )
