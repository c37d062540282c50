"""Console commands of the export stage: ``kdseg-export-onnx`` and ``kdseg-build-engine``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from kdseg.utils.cli import add_common_args, run_entry

__all__ = ["build_engine_entry", "export_onnx_entry"]


def export_onnx_entry(argv: Sequence[str] | None = None) -> None:
    """``kdseg-export-onnx``: export a checkpoint to ONNX after checking it against PyTorch on real cases."""
    from kdseg.export.onnx import OPSET, OPTIMISATION_LEVELS, PARITY_TOLERANCE, export_onnx

    parser = argparse.ArgumentParser(prog="kdseg-export-onnx", description=export_onnx_entry.__doc__)
    parser.add_argument("--checkpoint", required=True, type=Path, help="[REQUIRED] model.pt written by kdseg-train.")
    parser.add_argument("--manifest", required=True, type=Path, help="[REQUIRED] manifest CSV (parity inputs are real cases).")
    parser.add_argument("--split", required=True, type=Path, help="[REQUIRED] split CSV.")
    parser.add_argument("--out", required=True, type=Path, help="[REQUIRED] .onnx file to write.")
    parser.add_argument("--report", required=True, type=Path, help="[REQUIRED] parity JSON to write (max and mean |ONNX - PyTorch|, shapes, versions).")
    parser.add_argument("--subset", default="val", help="[OPTIONAL] subset whose first cases feed the parity check. Default: val.")
    parser.add_argument("--cases", type=int, default=4, help="[OPTIONAL] real cases compared. Default: 4.")
    parser.add_argument("--opset", type=int, default=OPSET, help=f"[OPTIONAL] ONNX opset, >= {OPSET}. Default: {OPSET}.")
    parser.add_argument("--tolerance", type=float, default=PARITY_TOLERANCE, help=f"[OPTIONAL] largest max |logit difference| accepted, as a fraction of max(1, max |logit|). Default: {PARITY_TOLERANCE:g}.")
    parser.add_argument("--optimisation", default="all", choices=sorted(OPTIMISATION_LEVELS), help="[OPTIONAL] ONNX Runtime graph optimisation of the check. Default: all.")
    parser.add_argument("--threads", type=int, default=1, help="[OPTIONAL] CPU threads of PyTorch and ONNX Runtime. Default: 1.")
    add_common_args(parser)
    run_entry(
        parser,
        lambda a: export_onnx(
            a.checkpoint, a.manifest, a.split, a.out, a.report,
            subset=a.subset, cases=a.cases, threads=a.threads, opset=a.opset, tolerance=a.tolerance, optimisation=a.optimisation,
        ),
        argv,
    )


def build_engine_entry(argv: Sequence[str] | None = None) -> None:
    """``kdseg-build-engine``: build a TensorRT engine from an ONNX file (needs TensorRT and a CUDA GPU)."""
    from kdseg.export.tensorrt import PRECISIONS, build_engine

    parser = argparse.ArgumentParser(prog="kdseg-build-engine", description=build_engine_entry.__doc__)
    parser.add_argument("--onnx", required=True, type=Path, help="[REQUIRED] .onnx file written by kdseg-export-onnx.")
    parser.add_argument("--precision", required=True, choices=PRECISIONS, help="[REQUIRED] fp32, or fp16 (half-precision kernels; changes results slightly).")
    parser.add_argument("--size", required=True, type=int, nargs="+", help="[REQUIRED] spatial size the engine runs at: H W, or X Y Z.")
    parser.add_argument("--max-batch", required=True, type=int, help="[REQUIRED] largest batch the engine accepts.")
    parser.add_argument("--out", required=True, type=Path, help="[REQUIRED] .engine file to write.")
    parser.add_argument("--workspace-gib", type=float, default=4.0, help="[OPTIONAL] GPU scratch memory for kernel selection, GiB. Default: 4.")
    add_common_args(parser)
    run_entry(parser, lambda a: build_engine(a.onnx, a.precision, a.size, a.max_batch, a.out, workspace_gib=a.workspace_gib), argv)
