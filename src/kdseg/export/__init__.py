"""Deployment formats of trained networks: ONNX files with a parity check, ONNX Runtime sessions, and
TensorRT engines (built and run only where TensorRT and a CUDA GPU are present)."""

from __future__ import annotations

from kdseg.export.onnx import (
    OPSET,
    OPTIMISATION_LEVELS,
    PARITY_TOLERANCE,
    OnnxModel,
    export_onnx,
    network_input,
    onnxruntime_session,
)
from kdseg.export.tensorrt import TensorRTRunner, TensorRTUnavailableError, build_engine, check_engine_requirements

__all__ = [
    "OPSET",
    "OPTIMISATION_LEVELS",
    "PARITY_TOLERANCE",
    "OnnxModel",
    "TensorRTRunner",
    "TensorRTUnavailableError",
    "build_engine",
    "check_engine_requirements",
    "export_onnx",
    "network_input",
    "onnxruntime_session",
]
