"""Frame-rate benchmarks: the MediaEval efficiency protocol, end-to-end FPS and batch throughput for
PyTorch (eager, channels-last, autocast, torch.compile, CUDA graphs), ONNX Runtime and TensorRT."""

from __future__ import annotations

from kdseg.bench.fps import RUNTIMES, CudaGraphForward, Runtime, benchmark, environment, mask_dice, plot_benchmark, time_call

__all__ = ["RUNTIMES", "CudaGraphForward", "Runtime", "benchmark", "environment", "mask_dice", "plot_benchmark", "time_call"]
