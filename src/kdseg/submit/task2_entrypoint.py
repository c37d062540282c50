#!/usr/bin/env python3
"""MediaEval 2020 Medico task 2 (efficiency): segment every image of a folder with an exported ONNX model.

This file is copied into the Docker build context as ``predict.py`` and runs there without kdseg: it needs
NumPy, Pillow, OpenCV (headless) and ONNX Runtime only. kdseg's packages import it too, so the masks of
task 1 and of EndoCV are made by the very code that runs in the container.

For each image of the input folder (sorted by name) it decodes the image, resizes it to the model's input
size and normalises it as kdseg's inference does, runs the model, resizes the foreground probability back
to the image's resolution, thresholds it, and writes a single-channel 0/255 mask with the image's file
name. It prints what the organisers' skeleton prints: one line ``<name> - <seconds>`` per image, the
seconds to ten decimals (``%.10f``) covering the model call only (measured after a few warm-up calls),
and a last line ``Mean FPS:  <images / total seconds>`` (two spaces, full precision, as
``print("Mean FPS: ", fps)`` writes it).

A file that cannot be decoded (truncated, or not an image under an image's name) gets no mask: it is
named on stderr with the reason, every other image is still segmented and timed, the timing lines are
still printed, and the exit status is 1 at the end. Files without an image suffix are left out and
named on stderr.

Usage (the container's defaults are the challenge's folders)::

    python predict.py [INPUT_DIR=/medico2020] [OUTPUT_DIR=/mask] [--model model.onnx] [--config model.json]
                      [--threads 0]

``model.json`` holds the network's input ``size`` [H, W], ``input_range`` (unit, symmetric or zscore),
the probability ``threshold`` and ``mirror``: when true, each image goes through the model as one batch of
four (itself, flipped left-right, up-down and both) and the flipped-back probabilities are averaged; the
timed model call is that batch's.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort
from PIL import Image

__all__ = [
    "CONFIG_FILE",
    "IMAGE_SUFFIXES",
    "MODEL_FILE",
    "WARMUP_CALLS",
    "Segmenter",
    "UnreadableImageError",
    "encode_mask",
    "format_timing",
    "list_images",
    "main",
    "mean_fps_line",
    "read_rgb",
    "timing_line",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
MODEL_FILE = "model.onnx"
CONFIG_FILE = "model.json"
WARMUP_CALLS = 5
JPEG_SUFFIXES = (".jpg", ".jpeg")


def _visible_files(folder: str | Path) -> list[Path]:
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and not p.name.startswith("."))


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name (hidden files skipped)."""
    return [p for p in _visible_files(folder) if p.suffix.lower() in IMAGE_SUFFIXES]


class UnreadableImageError(Exception):
    """An image file that cannot be decoded; the message names the file and says why."""


def read_rgb(path: str | Path) -> np.ndarray:
    """Decode an image as uint8 (H, W, 3).

    Raises:
        UnreadableImageError: the file is not an image Pillow can decode completely (truncated JPEG,
            HTML page under an image's name, decompression bomb...).
    """
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise UnreadableImageError(f"{Path(path).name} cannot be decoded ({type(err).__name__}: {err})") from err


def encode_mask(mask: np.ndarray, name: str) -> bytes:
    """A boolean (H, W) mask as a single-channel 0/255 image in the format ``name``'s suffix names.

    JPEG masks are written at quality 100 (grey, so no chroma subsampling): decoding gives values within
    one or two levels of 0 and 255, so ``> 127`` recovers the mask exactly. Other formats are lossless.
    """
    image = Image.fromarray(np.where(mask, 255, 0).astype(np.uint8), mode="L")
    buffer = io.BytesIO()
    suffix = Path(name).suffix.lower()
    if suffix in JPEG_SUFFIXES:
        image.save(buffer, format="JPEG", quality=100, subsampling=0)
    elif suffix == ".png":
        image.save(buffer, format="PNG", optimize=False, compress_level=6)
    else:
        image.save(buffer, format=Image.registered_extensions()[suffix])
    return buffer.getvalue()


def timing_line(name: str, seconds: float) -> str:
    """One image's official timing line, ``<name> - <seconds>`` with ten decimals (the skeleton's ``%.10f``)."""
    return f"{name} - {seconds:.10f}"


def mean_fps_line(seconds: Sequence[float]) -> str:
    """The official last line, ``Mean FPS:  <images / total seconds>``: two spaces and the float's full
    precision, as the skeleton's ``print("Mean FPS: ", fps)`` writes it."""
    total = float(sum(seconds))
    return f"Mean FPS:  {float(len(seconds) / total) if total > 0 else 0.0}"


def format_timing(timings: Iterable[tuple[str, float]]) -> str:
    """The official timing text: one :func:`timing_line` per image, then the :func:`mean_fps_line`."""
    timings = list(timings)
    lines = [timing_line(name, seconds) for name, seconds in timings]
    return "\n".join([*lines, mean_fps_line([seconds for _, seconds in timings])]) + "\n"


def _resize(array: np.ndarray, height: int, width: int) -> np.ndarray:
    # bilinear, as kdseg.engine.data.resize_image (and albumentations' Resize) do
    if array.shape[:2] == (height, width):
        return array
    return cv2.resize(array, (width, height), interpolation=cv2.INTER_LINEAR)


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    # exp of a negated magnitude only, so large logits of either sign cannot overflow
    decay = np.exp(-np.abs(logits))
    return np.where(logits >= 0, 1.0 / (1.0 + decay), decay / (1.0 + decay)).astype(np.float32)


def _normalise(image: np.ndarray, input_range: str) -> np.ndarray:
    # uint8 (H, W, C) -> float32 (C, H, W), as kdseg.engine.data.normalise_image
    chw = np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32)
    if input_range == "unit":
        return chw / 255.0
    if input_range == "symmetric":
        return chw / 127.5 - 1.0
    if input_range == "zscore":
        mean = chw.mean(axis=(1, 2), keepdims=True)
        std = chw.std(axis=(1, 2), keepdims=True)
        return (chw - mean) / np.maximum(std, 1e-6)
    raise ValueError(f"unknown input_range {input_range!r} in the model config; expected unit, symmetric or zscore")


# the views of a mirror pass, as indices of an array's last two axes (H, W): itself, left-right, up-down, both
_KEEP, _REVERSE = slice(None), slice(None, None, -1)
_MIRRORS = ((_KEEP, _KEEP), (_KEEP, _REVERSE), (_REVERSE, _KEEP), (_REVERSE, _REVERSE))


class Segmenter:
    """A 2D ONNX segmentation model with kdseg's preprocessing and postprocessing.

    Args:
        session: an ONNX Runtime session of the exported model.
        config: ``size`` [H, W], ``input_range``, ``threshold`` and ``mirror`` (see the module docstring).

    Example:
        >>> segmenter = Segmenter(ort.InferenceSession("model.onnx"), json.load(open("model.json")))
        >>> mask, seconds = segmenter.predict(read_rgb("image.jpg"))
    """

    def __init__(self, session: ort.InferenceSession, config: dict[str, Any]) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.height, self.width = (int(s) for s in config["size"])
        self.input_range = str(config["input_range"])
        self.threshold = float(config.get("threshold", 0.5))
        self.mirror = bool(config.get("mirror", False))
        self.views = _MIRRORS if self.mirror else _MIRRORS[:1]

    def preprocess(self, rgb: np.ndarray) -> np.ndarray:
        """The network input of one RGB image: (1, C, H, W), or with ``mirror`` (4, C, H, W), the image
        followed by its left-right, up-down and double flips."""
        chw = _normalise(_resize(rgb, self.height, self.width), self.input_range)
        return np.ascontiguousarray(np.stack([chw[(..., *view)] for view in self.views]))

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, float]:
        """Logits of a batch and the seconds the model call took."""
        start = time.perf_counter()
        logits = self.session.run(None, {self.input_name: batch})[0]
        return logits, time.perf_counter() - start

    def postprocess(self, logits: np.ndarray, shape: Sequence[int]) -> np.ndarray:
        """Boolean mask (H, W) at the image's resolution from the logits (1, 1, h, w), or with ``mirror``
        from the mean of the four flipped-back probabilities of (4, 1, h, w)."""
        probs = _sigmoid(logits[:, 0].astype(np.float32))
        probability = sum(prob[view] for prob, view in zip(probs, self.views)) / len(self.views)
        return _resize(probability, int(shape[0]), int(shape[1])) >= self.threshold

    def warm_up(self, rgb: np.ndarray, calls: int = WARMUP_CALLS) -> None:
        """Run the model a few times so that timed calls do not pay for first-call allocations."""
        batch = self.preprocess(rgb)
        for _ in range(calls):
            self.run(batch)

    def predict(self, rgb: np.ndarray) -> tuple[np.ndarray, float]:
        """(boolean mask at the image's resolution, seconds of the model call)."""
        logits, seconds = self.run(self.preprocess(rgb))
        return self.postprocess(logits, rgb.shape[:2]), seconds


def _session(model: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if threads > 0:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(model), sess_options=options, providers=ort.get_available_providers())


def main(argv: Sequence[str] | None = None) -> int:
    """Segment ``INPUT_DIR`` into ``OUTPUT_DIR`` and print the timing lines; returns the exit status."""
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description="MediaEval 2020 Medico task 2: polyp masks and model-call timings.")
    parser.add_argument("input_dir", nargs="?", default="/medico2020", type=Path, help="folder of test images. Default: /medico2020.")
    parser.add_argument("output_dir", nargs="?", default="/mask", type=Path, help="folder for the masks (created). Default: /mask.")
    parser.add_argument("--model", type=Path, default=here / MODEL_FILE, help=f"ONNX model. Default: {MODEL_FILE} beside this script.")
    parser.add_argument("--config", type=Path, default=here / CONFIG_FILE, help=f"model settings. Default: {CONFIG_FILE} beside this script.")
    parser.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads; 0 lets it use every core. Default: 0.")
    args = parser.parse_args(argv)
    if not args.input_dir.is_dir():
        print(f"error: input folder {args.input_dir} does not exist; mount the test images there.", file=sys.stderr)
        return 2
    images = list_images(args.input_dir)
    if not images:
        print(f"error: no images ({', '.join(IMAGE_SUFFIXES)}) in {args.input_dir}.", file=sys.stderr)
        return 2
    others = [p.name for p in _visible_files(args.input_dir) if p.suffix.lower() not in IMAGE_SUFFIXES]
    if others:
        print(f"note: left out {len(others)} file(s) that are not images ({', '.join(IMAGE_SUFFIXES)}): {', '.join(others)}", file=sys.stderr)
    segmenter = Segmenter(_session(args.model, args.threads), json.loads(args.config.read_text(encoding="utf-8")))
    args.output_dir.mkdir(parents=True, exist_ok=True)
    timings, unreadable = [], []
    for path in images:
        try:
            rgb = read_rgb(path)
        except UnreadableImageError as err:
            unreadable.append(path.name)
            print(f"error: {err}; no mask written for it.", file=sys.stderr, flush=True)
            continue
        if not timings:  # warm up on the first image that decodes, not blindly on the first file
            segmenter.warm_up(rgb)
        mask, seconds = segmenter.predict(rgb)
        (args.output_dir / path.name).write_bytes(encode_mask(mask, path.name))
        timings.append((path.name, seconds))
        print(timing_line(path.name, seconds), flush=True)
    print(mean_fps_line([seconds for _, seconds in timings]), flush=True)
    if unreadable:
        print(f"error: {len(unreadable)} of {len(images)} images could not be decoded and have no mask: {', '.join(unreadable)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
