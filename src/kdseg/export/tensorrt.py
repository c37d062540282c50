"""TensorRT engines built from the exported ONNX files, and a runner that executes them.

:func:`build_engine` uses TensorRT's Python API (>= 10): a builder, a network filled by the ONNX parser,
one optimisation profile (batch 1 to ``max_batch`` at the benchmark's spatial size, optimised for batch 1,
the MediaEval protocol's batch), the fp16 flag for ``fp16`` engines, and the serialized engine written
atomically. :class:`TensorRTRunner` deserializes an engine and runs it on CUDA tensors owned by torch.

TensorRT is imported only when needed: its wheels come from NVIDIA's package index and run only on a CUDA
GPU, so a machine without them gets a :class:`TensorRTUnavailableError` that says how to install them, and
:func:`check_engine_requirements` lets the workflow refuse a local run before any job starts (a cluster run
is checked by the engine job, on its node).

Example:
    >>> build_engine("model.onnx", "fp16", (256, 256), max_batch=8, out="model.fp16.engine")
    >>> runner = TensorRTRunner("model.fp16.engine")
    >>> logits = runner(torch.zeros(1, 3, 256, 256, device="cuda"))
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from kdseg.utils.errors import DataError, KdsegError
from kdseg.utils.io import write_bytes
from kdseg.utils.options import look_up_option

__all__ = [
    "INSTALL_HINT",
    "PRECISIONS",
    "TensorRTRunner",
    "TensorRTUnavailableError",
    "build_engine",
    "check_engine_requirements",
    "import_tensorrt",
]

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "fp16")
INSTALL_HINT = (
    "install TensorRT's Python package from NVIDIA's index (pip install --extra-index-url https://pypi.nvidia.com "
    "tensorrt-cu12) on a machine with a CUDA GPU and a CUDA build of torch"
)
_MIN_MAJOR_VERSION = 10


class TensorRTUnavailableError(KdsegError):
    """TensorRT or a CUDA GPU is missing where a TensorRT engine is asked for."""


def _missing_requirements(check_tensorrt: bool = True) -> str | None:
    """``"<what> is missing"`` / ``"<what> and <what> are missing"``, or None when nothing is."""
    missing = []
    if check_tensorrt and importlib.util.find_spec("tensorrt") is None:
        missing.append("TensorRT's Python package (import tensorrt fails)")
    if not torch.cuda.is_available():
        missing.append(f"a CUDA GPU (torch {torch.__version__} sees none{'' if torch.version.cuda else '; it is a CPU-only build'})")
    if not missing:
        return None
    return f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing"


def check_engine_requirements(engines: Sequence[str], *, check_tensorrt: bool = True) -> str | None:
    """Why the TensorRT engines asked for cannot be built here, or None when they can (or none are asked for).

    The workflow calls this while it builds its graph, with the union of ``export.engines`` of the enabled
    experiments, wherever the engine jobs run in this process: a local run that needs an engine stops before
    any job runs, and an engine job on a cluster node stops at its start.

    Args:
        engines: precisions asked for (``fp32``, ``fp16``); empty means nothing to check.
        check_tensorrt: also require ``import tensorrt`` to work in this Python; False when TensorRT comes
            from the rule's own conda environment (``--sdm conda``) and only the GPU can be checked here.
            Defaults to True.

    Example:
        >>> message = check_engine_requirements(["fp16"])
        >>> if message: raise SystemExit(message)
    """
    if not engines:
        return None
    missing = _missing_requirements(check_tensorrt)
    if missing is None:
        return None
    return (
        f"TensorRT engines ({', '.join(sorted(engines))}) are requested (export.engines) but {missing} on this machine. "
        f"Either {INSTALL_HINT}, or ask for ONNX only with --config 'experiments={{<experiment>: {{export: {{engines: []}}}}}}' "
        "(the demo preset does)."
    )


def import_tensorrt() -> ModuleType:
    """Import TensorRT (>= 10) after checking that it and a CUDA GPU are present.

    Raises:
        TensorRTUnavailableError: saying what is missing and how to install it.
    """
    missing = _missing_requirements()
    if missing is not None:
        raise TensorRTUnavailableError(f"TensorRT engines cannot be built or run here: {missing}. To fix it, {INSTALL_HINT}.")
    trt = importlib.import_module("tensorrt")
    major = int(str(trt.__version__).split(".")[0])
    if major < _MIN_MAJOR_VERSION:
        raise TensorRTUnavailableError(f"TensorRT {trt.__version__} is too old; kdseg needs TensorRT >= {_MIN_MAJOR_VERSION}. To fix it, {INSTALL_HINT}.")
    return trt


def _profile_shapes(input_shape: Sequence[int], size: Sequence[int], max_batch: int) -> tuple[tuple[int, ...], ...]:
    """(min, opt, max) shapes of the optimisation profile; opt is batch 1 (the per-image protocol)."""
    channels, spatial = int(input_shape[1]), tuple(int(s) for s in size)
    if len(spatial) != len(input_shape) - 2:
        raise DataError(f"--size {list(spatial)} has {len(spatial)} axes but the ONNX input {list(input_shape)} has {len(input_shape) - 2} spatial axes.")
    for axis, (have, want) in enumerate(zip(input_shape[2:], spatial)):
        if have >= 0 and have != want:
            raise DataError(f"the ONNX input has a fixed spatial size {list(input_shape[2:])}; build the engine at that size (axis {axis} is {have}, --size asks for {want}).")
    if channels < 1:
        raise DataError(f"the ONNX input {list(input_shape)} has no fixed channel count; re-export it with kdseg-export-onnx.")
    return tuple((batch, channels, *spatial) for batch in (1, 1, max_batch))


def build_engine(
    onnx: str | Path,
    precision: str,
    size: Sequence[int],
    max_batch: int,
    out: str | Path,
    *,
    workspace_gib: float = 4.0,
) -> dict[str, Any]:
    """Build a serialized TensorRT engine from an ONNX file and write it atomically.

    Args:
        onnx: the ``.onnx`` file written by ``kdseg-export-onnx``.
        precision: ``fp32`` or ``fp16`` (fp16 lets TensorRT pick half-precision kernels where faster).
        size: spatial size (H, W) or (X, Y, Z) the engine runs at.
        max_batch: largest batch of the optimisation profile (the benchmark's largest batch size).
        out: the ``.engine`` file to write.
        workspace_gib: scratch memory TensorRT may use while choosing kernels. Defaults to 4.

    Returns:
        the profile and settings the engine was built with.

    Raises:
        TensorRTUnavailableError: TensorRT or a CUDA GPU is missing.
        DataError: the ONNX file is missing or cannot be parsed, or the build fails.
    """
    look_up_option(precision, PRECISIONS, "engine precision")
    if max_batch < 1:
        raise DataError(f"--max-batch must be >= 1, got {max_batch}.")
    onnx = Path(onnx)
    if not onnx.is_file():
        raise DataError(f"ONNX model {onnx} does not exist; export it first (kdseg-export-onnx).")
    trt = import_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10 networks are always explicit-batch
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise DataError(f"TensorRT's ONNX parser rejects {onnx}: {errors}. Re-export it with kdseg-export-onnx (opset >= 17).")
    tensor = network.get_input(0)
    shapes = _profile_shapes(tuple(tensor.shape), size, max_batch)
    profile = builder.create_optimization_profile()
    profile.set_shape(tensor.name, *shapes)
    config = builder.create_builder_config()
    config.add_optimization_profile(profile)
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * (1 << 30)))
    if precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    log.info("building a %s TensorRT %s engine from %s, profile min/opt/max %s", precision, trt.__version__, onnx, shapes)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise DataError(f"TensorRT could not build an engine from {onnx} at {list(size)} (see TensorRT's messages above); try --workspace-gib larger or precision fp32.")
    write_bytes(out, bytes(serialized))
    log.info("wrote %s", out)
    return {"onnx": str(onnx), "precision": precision, "input": tensor.name, "profile": {"min": shapes[0], "opt": shapes[1], "max": shapes[2]}, "tensorrt": trt.__version__}


class TensorRTRunner:
    """Execute a serialized TensorRT engine on torch tensors (the engine's I/O memory is torch's).

    Batches larger than the engine's profile allows are run in chunks. Calls are asynchronous on torch's
    current CUDA stream, like a torch module's; synchronise before reading a clock.

    Args:
        engine: the ``.engine`` file written by :func:`build_engine`.
        device: CUDA device of the inputs and outputs. Defaults to "cuda".

    Example:
        >>> runner = TensorRTRunner("model.fp16.engine")
        >>> logits = runner(torch.zeros(1, 3, 256, 256, device="cuda"))
    """

    def __init__(self, engine: str | Path, device: str | torch.device = "cuda") -> None:
        engine = Path(engine)
        if not engine.is_file():
            raise DataError(f"TensorRT engine {engine} does not exist; build it with kdseg-build-engine.")
        trt = import_tensorrt()
        self.path = engine
        self.device = torch.device(device)
        self._runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = self._runtime.deserialize_cuda_engine(engine.read_bytes())
        if self.engine is None:
            raise DataError(f"TensorRT cannot load {engine}; it was built by another TensorRT version or for another GPU. Rebuild it with kdseg-build-engine.")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if n not in inputs]
        if len(inputs) != 1 or len(outputs) != 1:
            raise DataError(f"TensorRT engine {engine} has inputs {inputs} and outputs {outputs}; kdseg engines have one of each.")
        self.input_name, self.output_name = inputs[0], outputs[0]
        self.max_batch = int(self.engine.get_tensor_profile_shape(self.input_name, 0)[2][0])
        self.spatial_dims = len(self.engine.get_tensor_shape(self.input_name)) - 2

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, torch.float32).contiguous()
        self.context.set_input_shape(self.input_name, tuple(x.shape))
        out = torch.empty(tuple(self.context.get_tensor_shape(self.output_name)), dtype=torch.float32, device=self.device)
        self.context.set_tensor_address(self.input_name, x.data_ptr())
        self.context.set_tensor_address(self.output_name, out.data_ptr())
        stream = torch.cuda.current_stream(self.device).cuda_stream if self.device.type == "cuda" else 0
        if not self.context.execute_async_v3(stream):
            raise DataError(f"TensorRT engine {self.path} failed on an input of shape {tuple(x.shape)}; the engine's profile allows batches up to {self.max_batch} at its build size.")
        return out

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] <= self.max_batch:
            return self._run(x)
        return torch.cat([self._run(chunk) for chunk in torch.split(x, self.max_batch)])
