"""TensorRT engines: the build and run code up to TensorRT's API (a stand-in module records the calls), and
the messages where TensorRT or CUDA is missing."""

from __future__ import annotations

import importlib.machinery
import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import torch

from kdseg.export import tensorrt as trt_export
from kdseg.export.entrypoints import build_engine_entry
from kdseg.export.tensorrt import (
    TensorRTRunner,
    TensorRTUnavailableError,
    build_engine,
    check_engine_requirements,
    import_tensorrt,
)
from kdseg.utils.errors import ConfigError, DataError

INSTALL = "pip install --extra-index-url https://pypi.nvidia.com tensorrt-cu12"


class FakeTensorRT(types.ModuleType):
    """The parts of TensorRT 10's Python API that kdseg uses; every call is appended to ``calls``."""

    def __init__(self, input_shape: tuple[int, ...] = (-1, 3, -1, -1), parse_ok: bool = True, builds: bool = True, version: str = "10.3.0") -> None:
        super().__init__("tensorrt")
        self.__spec__ = importlib.machinery.ModuleSpec("tensorrt", None)
        self.__version__ = version
        self.calls: list[tuple[Any, ...]] = []
        self.input_shape, self.parse_ok, self.builds = input_shape, parse_ok, builds
        fake = self

        class Logger:
            WARNING = "warning"

            def __init__(self, level: str) -> None:
                fake.calls.append(("Logger", level))

        class Tensor:
            name = "image"
            shape = fake.input_shape

        class Network:
            def get_input(self, index: int) -> Tensor:
                return Tensor()

        class Profile:
            def set_shape(self, name: str, low: tuple, opt: tuple, high: tuple) -> None:
                fake.calls.append(("set_shape", name, low, opt, high))

        class Config:
            def add_optimization_profile(self, profile: Profile) -> None:
                fake.calls.append(("add_optimization_profile",))

            def set_memory_pool_limit(self, pool: str, size: int) -> None:
                fake.calls.append(("set_memory_pool_limit", pool, size))

            def set_flag(self, flag: str) -> None:
                fake.calls.append(("set_flag", flag))

        class Builder:
            def __init__(self, logger: Logger) -> None:
                fake.calls.append(("Builder",))

            def create_network(self, flags: int) -> Network:
                fake.calls.append(("create_network", flags))
                return Network()

            def create_optimization_profile(self) -> Profile:
                return Profile()

            def create_builder_config(self) -> Config:
                return Config()

            def build_serialized_network(self, network: Network, config: Config) -> bytes | None:
                fake.calls.append(("build_serialized_network",))
                return b"serialized engine" if fake.builds else None

        class OnnxParser:
            num_errors = 1

            def __init__(self, network: Network, logger: Logger) -> None:
                pass

            def parse(self, data: bytes) -> bool:
                fake.calls.append(("parse", data))
                return fake.parse_ok

            def get_error(self, index: int) -> str:
                return "unsupported operator GridSample"

        class Context:
            def set_input_shape(self, name: str, shape: tuple) -> None:
                self.shape = shape
                fake.calls.append(("set_input_shape", name, shape))

            def get_tensor_shape(self, name: str) -> tuple:
                return (self.shape[0], 1, *self.shape[2:])

            def set_tensor_address(self, name: str, address: int) -> None:
                fake.calls.append(("set_tensor_address", name, address))

            def execute_async_v3(self, stream: int) -> bool:
                fake.calls.append(("execute_async_v3", stream))
                return True

        class Engine:
            num_io_tensors = 2

            def get_tensor_name(self, index: int) -> str:
                return ("image", "logits")[index]

            def get_tensor_mode(self, name: str) -> str:
                return "input" if name == "image" else "output"

            def get_tensor_profile_shape(self, name: str, profile: int) -> list[tuple]:
                return [(1, 3, 32, 32), (1, 3, 32, 32), (2, 3, 32, 32)]

            def get_tensor_shape(self, name: str) -> tuple:
                return (-1, 3, 32, 32)

            def create_execution_context(self) -> Context:
                return Context()

        class Runtime:
            def __init__(self, logger: Logger) -> None:
                pass

            def deserialize_cuda_engine(self, data: bytes) -> Engine:
                fake.calls.append(("deserialize_cuda_engine", data))
                return Engine()

        self.Logger, self.Builder, self.OnnxParser, self.Runtime = Logger, Builder, OnnxParser, Runtime
        self.MemoryPoolType = types.SimpleNamespace(WORKSPACE="workspace")
        self.BuilderFlag = types.SimpleNamespace(FP16="fp16")
        self.TensorIOMode = types.SimpleNamespace(INPUT="input", OUTPUT="output")

    def named(self, name: str) -> list[tuple[Any, ...]]:
        return [call for call in self.calls if call[0] == name]


@pytest.fixture
def fake_trt(monkeypatch: pytest.MonkeyPatch) -> FakeTensorRT:
    """A stand-in ``tensorrt`` module on a machine that claims a CUDA GPU."""
    module = FakeTensorRT()
    monkeypatch.setitem(sys.modules, "tensorrt", module)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    return module


@pytest.fixture
def onnx_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"onnx graph bytes")
    return path


@pytest.mark.parametrize(("precision", "flags"), [("fp16", [("set_flag", "fp16")]), ("fp32", [])])
def test_build_engine_calls(precision: str, flags: list, fake_trt: FakeTensorRT, onnx_file: Path, tmp_path: Path) -> None:
    out = tmp_path / f"model.{precision}.engine"
    summary = build_engine(onnx_file, precision, (32, 32), 8, out, workspace_gib=2)
    assert out.read_bytes() == b"serialized engine"
    assert fake_trt.named("create_network") == [("create_network", 0)]
    assert fake_trt.named("parse") == [("parse", b"onnx graph bytes")]
    assert fake_trt.named("set_shape") == [("set_shape", "image", (1, 3, 32, 32), (1, 3, 32, 32), (8, 3, 32, 32))]
    assert fake_trt.named("set_memory_pool_limit") == [("set_memory_pool_limit", "workspace", 2 << 30)]
    assert fake_trt.named("set_flag") == flags
    assert summary["profile"]["max"] == (8, 3, 32, 32) and summary["tensorrt"] == "10.3.0"


@pytest.mark.parametrize(
    ("fake_kwargs", "args", "message"),
    [
        ({"parse_ok": False}, {}, "TensorRT's ONNX parser rejects .*model.onnx: unsupported operator GridSample"),
        ({"builds": False}, {}, "TensorRT could not build an engine from .* at \\[32, 32\\]"),
        ({"input_shape": (-1, 2, 16, 16, 16)}, {}, "--size \\[32, 32\\] has 2 axes but the ONNX input \\[-1, 2, 16, 16, 16\\] has 3"),
        ({"input_shape": (-1, 3, 16, 16)}, {}, "fixed spatial size \\[16, 16\\]; build the engine at that size"),
        ({}, {"max_batch": 0}, "--max-batch must be >= 1, got 0"),
    ],
)
def test_build_engine_errors(fake_kwargs: dict, args: dict, message: str, monkeypatch: pytest.MonkeyPatch, onnx_file: Path, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", FakeTensorRT(**fake_kwargs))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with pytest.raises(DataError, match=message):
        build_engine(onnx_file, "fp16", (32, 32), args.get("max_batch", 4), tmp_path / "m.engine")
    assert not (tmp_path / "m.engine").exists()


def test_build_engine_checks_arguments_first(fake_trt: FakeTensorRT, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Unknown engine precision 'fp8'"):
        build_engine(tmp_path / "m.onnx", "fp8", (32, 32), 1, tmp_path / "m.engine")
    with pytest.raises(DataError, match="m.onnx does not exist; export it first"):
        build_engine(tmp_path / "m.onnx", "fp32", (32, 32), 1, tmp_path / "m.engine")
    assert fake_trt.calls == []


def test_old_tensorrt_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", FakeTensorRT(version="8.6.1"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    with pytest.raises(TensorRTUnavailableError, match=f"TensorRT 8.6.1 is too old; kdseg needs TensorRT >= 10.*{re.escape(INSTALL)}"):
        import_tensorrt()


def test_runner_runs_chunks_on_torch_memory(fake_trt: FakeTensorRT, tmp_path: Path) -> None:
    engine = tmp_path / "m.fp16.engine"
    engine.write_bytes(b"engine bytes")
    runner = TensorRTRunner(engine, device="cpu")
    assert (runner.input_name, runner.output_name, runner.max_batch, runner.spatial_dims) == ("image", "logits", 2, 2)
    out = runner(torch.zeros(3, 3, 32, 32))
    assert out.shape == (3, 1, 32, 32) and out.dtype == torch.float32
    assert [call[2] for call in fake_trt.named("set_input_shape")] == [(2, 3, 32, 32), (1, 3, 32, 32)]
    assert len(fake_trt.named("execute_async_v3")) == 2
    assert {call[1] for call in fake_trt.named("set_tensor_address")} == {"image", "logits"}


def _without_tensorrt(monkeypatch: pytest.MonkeyPatch, cuda: bool) -> None:
    monkeypatch.delitem(sys.modules, "tensorrt", raising=False)
    real_find_spec = trt_export.importlib.util.find_spec
    monkeypatch.setattr(trt_export.importlib.util, "find_spec", lambda name, *a: None if name == "tensorrt" else real_find_spec(name, *a))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)


def test_missing_tensorrt_and_cuda_message(monkeypatch: pytest.MonkeyPatch, onnx_file: Path, tmp_path: Path) -> None:
    _without_tensorrt(monkeypatch, cuda=False)
    message = check_engine_requirements(["fp32", "fp16"])
    assert message is not None
    assert message.startswith("TensorRT engines (fp16, fp32) are requested (export.engines) but TensorRT's Python package (import tensorrt fails) and a CUDA GPU")
    assert INSTALL in message and "engines: []" in message
    assert check_engine_requirements([]) is None
    with pytest.raises(TensorRTUnavailableError, match=f"cannot be built or run here: TensorRT's Python package .* are missing. To fix it, .*{re.escape(INSTALL)}"):
        build_engine(onnx_file, "fp16", (32, 32), 1, tmp_path / "m.engine")


def test_missing_only_one_requirement(monkeypatch: pytest.MonkeyPatch, fake_trt: FakeTensorRT) -> None:
    assert check_engine_requirements(["fp16"]) is None
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    message = check_engine_requirements(["fp16"])
    assert "but a CUDA GPU (torch" in message and "is missing on this machine" in message
    _without_tensorrt(monkeypatch, cuda=True)
    assert "TensorRT's Python package (import tensorrt fails) is missing" in check_engine_requirements(["fp16"])
    # with --sdm conda TensorRT lives in the rule's environment: only the GPU is checked here
    assert check_engine_requirements(["fp16"], check_tensorrt=False) is None


def test_entry_reports_missing_tensorrt(monkeypatch: pytest.MonkeyPatch, onnx_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], restore_logging: None) -> None:
    _without_tensorrt(monkeypatch, cuda=False)
    with pytest.raises(SystemExit) as exit_info:
        build_engine_entry(["--onnx", str(onnx_file), "--precision", "fp16", "--size", "32", "32", "--max-batch", "8", "--out", str(tmp_path / "m.engine")])
    assert exit_info.value.code == 1
    assert "kdseg-build-engine: error: TensorRT engines cannot be built or run here" in capsys.readouterr().err
