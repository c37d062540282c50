"""Frame-rate benchmarks: the MediaEval efficiency protocol, end-to-end FPS and batch throughput for
PyTorch (eager, channels-last, autocast, torch.compile), ONNX Runtime and TensorRT."""

from __future__ import annotations

from kdseg.bench.fps import RUNTIMES, Runtime, benchmark, environment, plot_benchmark, time_call

__all__ = ["RUNTIMES", "Runtime", "benchmark", "environment", "plot_benchmark", "time_call"]
