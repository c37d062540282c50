"""ONNX export of kdseg checkpoints, its parity check against PyTorch, and ONNX Runtime sessions.

A checkpoint is traced with PyTorch's TorchScript-based exporter (``dynamo=False``): the torch.export-based
exporter that PyTorch 2.9+ uses by default needs the ``onnxscript`` package, which kdseg does not depend on,
and the TorchScript exporter gives the same graph for these convolutional networks. The graph has one input
``image`` (N, C, *spatial) and one output ``logits`` (N, out_channels, *spatial); the batch axis is dynamic,
and so are the spatial axes unless the network has a fixed input size (UNETR's ViT has a fixed number of
patches, so its spatial axes stay at ``img_size``).

Before the file is written, ONNX Runtime runs it on real cases of the split, preprocessed exactly as
inference preprocesses them (:func:`network_input`), and the logits are compared with PyTorch's: the maximum
and mean absolute differences go into the parity report, and a maximum above ``tolerance · max(1, max|logit|)``
stops the export. The bound scales with the logits because networks trained with a Dice loss alone are not
pulled towards small logits (a trained ResUNet++ here gives logits up to ~2000); float32 rounding, summed over
some twenty layers and reordered by ONNX Runtime's fused kernels, then differs by ~1e-4 of the largest logit
(PyTorch float32 itself differs from float64 by ~1e-6 of it), while an operator exported wrongly differs by
a sizeable fraction of it.

Example:
    >>> report = export_onnx("model.pt", "manifest.csv", "split.csv", "model.onnx", "model.parity.json")
    >>> report["parity"]["max_abs_diff"] <= report["parity"]["bound"]
    True
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import torch

from kdseg.data.images import read_rgb
from kdseg.data.manifest import read_manifest, read_split, select_subset
from kdseg.data.volumes import load_case
from kdseg.engine.checkpoint import load_model
from kdseg.engine.data import normalise_image, resize_image, zscore_nonzero
from kdseg.models import SegmentationModel
from kdseg.utils.errors import DataError
from kdseg.utils.io import file_digest, write_bytes, write_json
from kdseg.utils.options import look_up_option

__all__ = [
    "INPUT_NAME",
    "OPSET",
    "OPTIMISATION_LEVELS",
    "OUTPUT_NAME",
    "PARITY_TOLERANCE",
    "OnnxModel",
    "dynamic_axes",
    "export_onnx",
    "fixed_input_size",
    "network_input",
    "onnx_bytes",
    "onnxruntime_session",
    "subset_rows",
]

log = logging.getLogger(__name__)

INPUT_NAME = "image"
OUTPUT_NAME = "logits"
# opset 17 has LayerNormalization (UNETR) and is run by every onnxruntime >= 1.13 and TensorRT >= 8.6
OPSET = 17
# largest |logit difference| accepted between ONNX Runtime and PyTorch in fp32
PARITY_TOLERANCE = 1e-3
OPTIMISATION_LEVELS: dict[str, ort.GraphOptimizationLevel] = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}
# parity inputs go through both runtimes in batches of two, so the dynamic batch axis is exercised too
_PARITY_BATCH = 2


def onnxruntime_session(
    model: str | Path | bytes,
    threads: int = 1,
    optimisation: str = "all",
    *,
    inter_op_threads: int = 1,
    providers: Sequence[str] | None = None,
) -> ort.InferenceSession:
    """An ONNX Runtime session with graph optimisation and thread settings.

    Args:
        model: an ``.onnx`` file or its bytes.
        threads: threads inside one operator (``intra_op_num_threads``). Defaults to 1.
        optimisation: graph optimisation level, one of :data:`OPTIMISATION_LEVELS` (``disable``, ``basic``:
            constant folding and redundant-node removal, ``extended``: node fusions, ``all``: also memory
            layout changes). Defaults to "all".
        inter_op_threads: threads running independent operators in parallel; 1 runs the graph sequentially,
            which is fastest for these single-path networks. Defaults to 1.
        providers: execution providers in order of preference. Defaults to the CPU provider only.

    Example:
        >>> session = onnxruntime_session("model.onnx", threads=2, optimisation="all")
        >>> logits = session.run(None, {"image": batch})[0]
    """
    level = look_up_option(optimisation, OPTIMISATION_LEVELS, "onnxruntime optimisation level")
    options = ort.SessionOptions()
    options.graph_optimization_level = level
    options.intra_op_num_threads = max(1, int(threads))
    options.inter_op_num_threads = max(1, int(inter_op_threads))
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL if inter_op_threads <= 1 else ort.ExecutionMode.ORT_PARALLEL
    options.log_severity_level = 3  # errors only: the graph-optimiser's notices are not for the user
    source = model if isinstance(model, bytes) else str(model)
    if not isinstance(model, bytes) and not Path(model).is_file():
        raise DataError(f"ONNX model {model} does not exist; export it first (kdseg-export-onnx).")
    try:
        return ort.InferenceSession(source, sess_options=options, providers=list(providers or ["CPUExecutionProvider"]))
    except Exception as err:  # onnxruntime raises its own exception types for bad graphs
        name = "the exported graph" if isinstance(model, bytes) else str(model)
        raise DataError(f"ONNX Runtime cannot load {name}: {err}. Re-export it with kdseg-export-onnx.") from None


class OnnxModel:
    """An ONNX Runtime session behind a network's calling convention: a torch batch in, a logits tensor out.

    It has ``spatial_dims`` like a :class:`~kdseg.models.SegmentationModel`, so the sliding-window
    inference of :func:`kdseg.engine.inference.predict_volume` and the benchmark can run it unchanged.

    Args:
        session: a session from :func:`onnxruntime_session`.
        spatial_dims: 2 or 3, read from the input's rank when not given. Defaults to None.

    Example:
        >>> model = OnnxModel(onnxruntime_session("model.onnx", threads=2))
        >>> logits = model(torch.zeros(1, 3, 256, 256))
    """

    def __init__(self, session: ort.InferenceSession, spatial_dims: int | None = None) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name
        rank = len(session.get_inputs()[0].shape)
        self.spatial_dims = spatial_dims if spatial_dims is not None else rank - 2

    @property
    def input_shape(self) -> list[int | str]:
        """The graph's input shape; dynamic axes are named (``batch``, ``height``...)."""
        return list(self.session.get_inputs()[0].shape)

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Logits of a float32 batch (N, C, *spatial) as a NumPy array."""
        return self.session.run(None, {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)})[0]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.run(x.detach().float().cpu().numpy())).to(x.device)


def fixed_input_size(model: SegmentationModel) -> tuple[int, ...] | None:
    """The spatial size a network only accepts (UNETR's ``img_size``), or None when any size divisible by
    ``required_divisor`` works."""
    size = getattr(model, "img_size", None)
    return tuple(int(s) for s in size) if size is not None else None


def dynamic_axes(model: SegmentationModel) -> dict[str, dict[int, str]]:
    """Dynamic axes of the exported graph: batch always, spatial axes unless the size is fixed."""
    names = ("height", "width") if model.spatial_dims == 2 else ("x", "y", "z")
    axes = {0: "batch"}
    if fixed_input_size(model) is None:
        axes |= {2 + i: name for i, name in enumerate(names)}
    return {INPUT_NAME: dict(axes), OUTPUT_NAME: dict(axes)}


def onnx_bytes(model: SegmentationModel, example: torch.Tensor, opset: int = OPSET) -> bytes:
    """Trace ``model`` (in eval mode) on ``example`` and return the ONNX graph, checked by ``onnx.checker``.

    Args:
        model: the network.
        example: an input batch of the size the network was trained at.
        opset: ONNX opset, at least 17. Defaults to 17.
    """
    if not model.is_onnx_exportable:
        raise DataError(f"{type(model).__name__} is marked as not ONNX-exportable (is_onnx_exportable = False); remove it from export.models.")
    if opset < OPSET:
        raise DataError(f"opset {opset} is too old; kdseg exports with opset >= {OPSET}.")
    model.eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        # the TorchScript exporter announces its deprecation on every call; instance norm without running
        # statistics normalises with the input's own statistics (what eval mode does too); torch.nn's own
        # input checks trip the tracer harmlessly. Tracer warnings from the models' code stay visible.
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*operator 'instance_norm' is set to train=True")
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning, module=r"torch\.nn\.")
        torch.onnx.export(
            model,
            (example,),
            buffer,
            dynamo=False,
            opset_version=opset,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes=dynamic_axes(model),
            do_constant_folding=True,
        )
    data = buffer.getvalue()
    onnx.checker.check_model(onnx.load_model_from_string(data))
    return data


def subset_rows(manifest: str | Path, split: str | Path, subset: str, limit: int = 0) -> pd.DataFrame:
    """Manifest rows of one subset of a split, at most ``limit`` (0: all); an empty subset is an error."""
    rows = select_subset(read_manifest(manifest), read_split(split), subset)
    if rows.empty:
        raise DataError(f"the {subset!r} subset of {split} is empty; give a subset with cases (--subset).")
    return rows.head(limit) if limit > 0 else rows


def _centre_fit(volume: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """Crop or zero-pad the spatial axes of (C, *spatial) around the centre to ``size``."""
    pads, window = [(0, 0)], [slice(None)]
    for extent, want in zip(volume.shape[1:], size):
        short = max(0, want - extent)
        pads.append((short // 2, short - short // 2))
        start = max(0, (extent - want) // 2)
        window.append(slice(start, start + want))
    return np.pad(volume[tuple(window)], pads)


def network_input(row: pd.Series, meta: dict[str, Any], size: Sequence[int] | None = None) -> np.ndarray:
    """One case as the network sees it, float32 (C, *size).

    2D images are resized to ``size`` and normalised to the checkpoint's input range (as
    :func:`kdseg.engine.inference.predict_image` does); 3D volumes are z-scored over their non-zero voxels
    and centre-cropped or padded to ``size`` (one window of the sliding-window inference).

    Args:
        row: a manifest row (``image`` column).
        meta: the checkpoint's meta (``input_range``, ``size``, ``spatial_dims``).
        size: spatial size. Defaults to the training size ``meta["size"]``.
    """
    size = tuple(int(s) for s in (size if size is not None else meta["size"]))
    if meta["spatial_dims"] == 3:
        volume, _ = load_case(row["image"])
        return np.ascontiguousarray(_centre_fit(zscore_nonzero(volume), size), dtype=np.float32)
    return normalise_image(resize_image(read_rgb(row["image"]), size), meta["input_range"])


def _other_size(model: SegmentationModel, size: Sequence[int]) -> tuple[int, ...]:
    """A second spatial size that checks the dynamic spatial axes: one divisor step larger on every axis."""
    step = max(1, int(model.required_divisor))
    return tuple(int(s) + step * (1 + i % 2) for i, s in enumerate(size))


def _compare(model: SegmentationModel, session: OnnxModel, inputs: np.ndarray) -> tuple[np.ndarray, float]:
    """|ONNX Runtime − PyTorch| of the logits, per element, computed in batches, and PyTorch's max |logit|."""
    diffs, scale = [], 0.0
    with torch.inference_mode():
        for start in range(0, len(inputs), _PARITY_BATCH):
            batch = inputs[start : start + _PARITY_BATCH]
            reference = model(torch.from_numpy(batch)).numpy()
            diffs.append(np.abs(session.run(batch) - reference))
            scale = max(scale, float(np.abs(reference).max()))
    return np.concatenate(diffs), scale


def export_onnx(
    checkpoint: str | Path,
    manifest: str | Path,
    split: str | Path,
    out: str | Path,
    report: str | Path,
    *,
    subset: str = "val",
    cases: int = 4,
    threads: int = 1,
    opset: int = OPSET,
    tolerance: float = PARITY_TOLERANCE,
    optimisation: str = "all",
) -> dict[str, Any]:
    """Export a checkpoint to ONNX and check it against PyTorch on real cases; write both only if it passes.

    Args:
        checkpoint: ``model.pt`` written by ``kdseg-train``.
        manifest: manifest CSV of the data set the model was trained on.
        split: split CSV.
        out: the ``.onnx`` file to write.
        report: the parity JSON to write (differences, shapes, versions, the file's sha256).
        subset: subset whose first ``cases`` cases feed the parity check. Defaults to "val".
        cases: number of real cases compared. Defaults to 4.
        threads: CPU threads of PyTorch and ONNX Runtime. Defaults to 1.
        opset: ONNX opset (>= 17). Defaults to 17.
        tolerance: largest maximum absolute logit difference accepted, as a fraction of ``max(1, max|logit|)``
            over the compared cases. Defaults to 1e-3.
        optimisation: ONNX Runtime graph optimisation used for the check. Defaults to "all".

    Raises:
        DataError: when the parity check fails (naming the differences) or the inputs are unusable.
    """
    torch.set_num_threads(max(1, threads))
    model, meta = load_model(checkpoint, "cpu")
    rows = subset_rows(manifest, split, subset, cases)
    size = tuple(int(s) for s in meta["size"])
    inputs = np.stack([network_input(row, meta) for _, row in rows.iterrows()])
    log.info("exporting %s (%s) with opset %d; parity on %d %s case(s) at %s", checkpoint, meta["arch"], opset, len(inputs), subset, "x".join(map(str, size)))
    graph = onnx_bytes(model, torch.from_numpy(inputs[:1]), opset)
    session = OnnxModel(onnxruntime_session(graph, threads, optimisation), meta["spatial_dims"])
    diff, scale = _compare(model, session, inputs)
    parity: dict[str, Any] = {
        "subset": subset,
        "cases": rows["id"].tolist(),
        "input_shape": [int(s) for s in inputs.shape[1:]],
        "batch_size": min(_PARITY_BATCH, len(inputs)),
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "per_case_max_abs_diff": {str(i): float(d.max()) for i, d in zip(rows["id"], diff)},
        "tolerance": tolerance,
        "optimisation": optimisation,
    }
    if fixed_input_size(model) is None:
        other = _other_size(model, size)
        other_diff, other_scale = _compare(model, session, network_input(rows.iloc[0], meta, other)[None])
        parity["other_size"] = {"input_shape": list(other), "max_abs_diff": float(other_diff.max())}
        scale = max(scale, other_scale)
    parity["max_abs_logit"] = scale
    parity["bound"] = tolerance * max(1.0, scale)
    worst = max(parity["max_abs_diff"], parity.get("other_size", {}).get("max_abs_diff", 0.0))
    if not worst <= parity["bound"]:
        raise DataError(
            f"ONNX parity check failed for {checkpoint}: max |ONNX Runtime - PyTorch| = {worst:.3g} on the logits, above the bound "
            f"{parity['bound']:.3g} (tolerance {tolerance:g} x max(1, max |logit| = {scale:.3g}); per case: {parity['per_case_max_abs_diff']}, "
            f"other size: {parity.get('other_size')}). An operator is exported differently from PyTorch; try another --opset, "
            "or look for tracer warnings above."
        )
    write_bytes(out, graph)
    summary = {
        "checkpoint": str(checkpoint),
        "experiment": meta.get("experiment"),
        "model": meta.get("model"),
        "arch": meta["arch"],
        "onnx": str(out),
        "sha256": file_digest(out),
        "bytes": len(graph),
        "opset": opset,
        "exporter": "torch.onnx TorchScript (dynamo=False)",
        "input": {"name": INPUT_NAME, "shape": session.input_shape},
        "output": {"name": OUTPUT_NAME, "shape": list(session.session.get_outputs()[0].shape)},
        "dynamic_axes": {k: {str(a): n for a, n in v.items()} for k, v in dynamic_axes(model).items()},
        "input_range": meta.get("input_range"),
        "size": list(size),
        "parity": parity,
        "versions": {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": ort.__version__},
    }
    write_json(report, summary)
    log.info("wrote %s (%.1f MB); parity max |diff| %.3g, mean %.3g", out, len(graph) / 1e6, parity["max_abs_diff"], parity["mean_abs_diff"])
    return summary
