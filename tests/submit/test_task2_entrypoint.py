"""The MediaEval task-2 entry point, run as the container runs it, on a folder of images."""

from __future__ import annotations

import ast
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kdseg.data.images import read_rgb
from kdseg.engine.checkpoint import load_model
from kdseg.engine.data import normalise_image, resize_image
from kdseg.engine.inference import predict_image
from kdseg.export.onnx import onnxruntime_session
from kdseg.submit import task2_entrypoint
from kdseg.submit.task2_entrypoint import Segmenter, encode_mask, format_timing
from kdseg.submit.validate import check_mask, check_timing
from tests.export._helpers import polyp_image, polyp_model  # noqa: F401  (fixture)

ENTRY = Path(task2_entrypoint.__file__)
CONFIG = {"size": [32, 32], "input_range": "unit", "threshold": 0.5}


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """Three images of different sizes and formats, and a file that is not an image."""
    folder = tmp_path / "medico2020"
    folder.mkdir()
    for name, (height, width) in {"b.jpg": (40, 52), "a.png": (30, 30), "c.jpeg": (24, 36)}.items():
        Image.fromarray(polyp_image(height, width, len(name))[0]).save(folder / name)
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_entry_point_output_format(image_folder: Path, polyp_model: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "model.json").write_text(json.dumps(CONFIG))
    out = tmp_path / "mask"
    run = subprocess.run(
        [sys.executable, str(ENTRY), str(image_folder), str(out), "--model", str(polyp_model["onnx"]), "--config", str(tmp_path / "model.json"), "--threads", "1"],
        capture_output=True, text=True, check=False, timeout=120,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert [line.split(" - ")[0] for line in lines[:-1]] == ["a.png", "b.jpg", "c.jpeg"]
    assert all(re.fullmatch(r"\S+ - \d+\.\d{6}", line) for line in lines[:-1])
    seconds = [float(line.split(" - ")[1]) for line in lines[:-1]]
    assert re.fullmatch(r"Mean FPS: \d+\.\d\d", lines[-1])
    # the printed seconds are rounded to microseconds; the FPS comes from the unrounded ones
    assert float(lines[-1].removeprefix("Mean FPS: ")) == pytest.approx(3 / sum(seconds), rel=1e-2)
    assert check_timing(run.stdout, ["a.png", "b.jpg", "c.jpeg"]) == []
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.jpg", "c.jpeg"]
    for name in ("a.png", "b.jpg", "c.jpeg"):
        with Image.open(image_folder / name) as image:
            size = (image.height, image.width)
        assert check_mask(name, (out / name).read_bytes(), size) == []


def test_entry_point_masks_are_kdseg_predictions(image_folder: Path, polyp_model: dict[str, Path]) -> None:
    model, meta = load_model(polyp_model["checkpoint"])
    segmenter = Segmenter(onnxruntime_session(polyp_model["onnx"]), CONFIG)
    for path in sorted(image_folder.glob("*.*g")):
        rgb = read_rgb(path)
        mask, seconds = segmenter.predict(rgb)
        np.testing.assert_array_equal(mask, predict_image(model, meta, rgb) >= 0.5)
        assert mask.shape == rgb.shape[:2] and seconds > 0


@pytest.mark.parametrize("input_range", ["unit", "symmetric", "zscore"])
def test_preprocessing_is_kdseg_preprocessing(input_range: str, polyp_model: dict[str, Path]) -> None:
    rgb = polyp_image(40, 52, 3)[0]
    segmenter = Segmenter(onnxruntime_session(polyp_model["onnx"]), CONFIG | {"input_range": input_range})
    np.testing.assert_array_equal(segmenter.preprocess(rgb)[0], normalise_image(resize_image(rgb, (32, 32)), input_range))


@pytest.mark.parametrize("name", ["m.jpg", "m.png", "m.bmp"])
def test_encode_mask_round_trip(name: str) -> None:
    mask = polyp_image(37, 53, 0)[1].astype(bool)
    with Image.open(io.BytesIO(encode_mask(mask, name))) as image:
        assert image.mode == "L"
        values = np.asarray(image)
    np.testing.assert_array_equal(values > 127, mask)
    if name.endswith(".jpg"):  # quality 100: at most one level of ringing
        assert values[~mask].max() <= 1 and values[mask].min() >= 254
    else:
        assert set(np.unique(values)) == {0, 255}


def test_timing_text() -> None:
    assert format_timing([("a.jpg", 0.5), ("b.jpg", 0.25), ("c.jpg", 0.25)]) == "a.jpg - 0.500000\nb.jpg - 0.250000\nc.jpg - 0.250000\nMean FPS: 3.00\n"


@pytest.mark.parametrize(("make", "message"), [(False, "input folder .* does not exist"), (True, "no images")])
def test_entry_point_errors(make: bool, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if make:
        (tmp_path / "in").mkdir()
    assert task2_entrypoint.main([str(tmp_path / "in"), str(tmp_path / "out")]) == 2
    assert re.search(message, capsys.readouterr().err)


def test_entry_point_is_self_contained() -> None:
    """The container has no kdseg: the script may import the standard library and its four requirements only."""
    tree = ast.parse(ENTRY.read_text(encoding="utf-8"))
    modules = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    modules |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    third_party = modules - set(sys.stdlib_module_names)
    assert third_party == {"cv2", "numpy", "onnxruntime", "PIL"}
