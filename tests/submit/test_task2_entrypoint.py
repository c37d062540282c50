"""The MediaEval task-2 entry point, run as the container runs it, on a folder of images."""

from __future__ import annotations

import ast
import io
import json
import re
import subprocess
import sys
import warnings
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


def _run_entry(folder: Path, model: Path, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The entry point as the container runs it, with numpy's warnings turned into errors."""
    (tmp_path / "model.json").write_text(json.dumps(CONFIG))
    out = tmp_path / "mask"
    run = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", str(ENTRY), str(folder), str(out), "--model", str(model), "--config", str(tmp_path / "model.json"), "--threads", "1"],
        capture_output=True, text=True, check=False, timeout=120,
    )
    return run, out


def _check_output(run: subprocess.CompletedProcess[str], out: Path, folder: Path, readable: list[str]) -> None:
    """The skeleton's lines for exactly the readable images, and a correct mask for each of them."""
    lines = run.stdout.splitlines()
    assert [line.split(" - ")[0] for line in lines[:-1]] == readable
    assert all(re.fullmatch(r"\S+ - \d+\.\d{10}", line) for line in lines[:-1])
    seconds = [float(line.split(" - ")[1]) for line in lines[:-1]]
    # print("Mean FPS: ", fps): two spaces, then the float's repr
    assert re.fullmatch(r"Mean FPS:  \d+\.\d+(e[-+]\d+)?", lines[-1])
    fps = float(lines[-1].removeprefix("Mean FPS:  "))
    assert lines[-1] == f"Mean FPS:  {fps!r}" and fps == pytest.approx(len(readable) / sum(seconds), rel=1e-6)
    assert check_timing(run.stdout, readable) == []
    assert sorted(p.name for p in out.iterdir()) == readable
    for name in readable:
        with Image.open(folder / name) as image:
            size = (image.height, image.width)
        assert check_mask(name, (out / name).read_bytes(), size) == []
    assert "Warning" not in run.stderr


def test_entry_point_output_format(image_folder: Path, polyp_model: dict[str, Path], tmp_path: Path) -> None:
    run, out = _run_entry(image_folder, polyp_model["onnx"], tmp_path)
    assert run.returncode == 0, run.stderr
    _check_output(run, out, image_folder, ["a.png", "b.jpg", "c.jpeg"])
    assert "notes.txt" in run.stderr  # left out, and said so


def test_entry_point_survives_unreadable_images(image_folder: Path, polyp_model: dict[str, Path], tmp_path: Path) -> None:
    """A truncated JPEG (sorted first, so warm-up meets it first), an HTML page and a text file under image
    names: each is named on stderr, every other image gets its mask and timing line, the exit status is 1."""
    jpeg = io.BytesIO()
    Image.fromarray(polyp_image(64, 64, 9)[0]).save(jpeg, format="JPEG")
    (image_folder / "0_truncated.jpg").write_bytes(jpeg.getvalue()[: len(jpeg.getvalue()) // 2])
    (image_folder / "d_page.jpg").write_text("<!DOCTYPE html><html><body>404 Not Found</body></html>")
    (image_folder / "e_text.png").write_text("just some text")
    run, out = _run_entry(image_folder, polyp_model["onnx"], tmp_path)
    assert run.returncode == 1, run.stderr
    _check_output(run, out, image_folder, ["a.png", "b.jpg", "c.jpeg"])
    errors = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert [line.split()[1] for line in errors[:3]] == ["0_truncated.jpg", "d_page.jpg", "e_text.png"]
    assert "truncated" in errors[0] and all("no mask written" in line for line in errors[:3])
    assert errors[-1] == "error: 3 of 6 images could not be decoded and have no mask: 0_truncated.jpg, d_page.jpg, e_text.png"
    assert "Traceback" not in run.stderr


def test_postprocess_is_stable_for_extreme_logits(polyp_model: dict[str, Path]) -> None:
    segmenter = Segmenter(onnxruntime_session(polyp_model["onnx"]), CONFIG)
    logits = np.array([[[[-1.0e4, -100.0], [0.0, 1.0e4]]]], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mask = segmenter.postprocess(logits, (2, 2))
    np.testing.assert_array_equal(mask, [[False, False], [True, True]])


@pytest.mark.parametrize("mirror", [False, True])
def test_entry_point_masks_are_kdseg_predictions(mirror: bool, image_folder: Path, polyp_model: dict[str, Path]) -> None:
    """The container's masks are kdseg's, with flip averaging (one batch of four) as without it."""
    model, meta = load_model(polyp_model["checkpoint"])
    segmenter = Segmenter(onnxruntime_session(polyp_model["onnx"]), CONFIG | {"mirror": mirror})
    for path in sorted(image_folder.glob("*.*g")):
        rgb = read_rgb(path)
        assert segmenter.preprocess(rgb).shape == (4 if mirror else 1, 3, 32, 32)
        mask, seconds = segmenter.predict(rgb)
        np.testing.assert_array_equal(mask, predict_image(model, meta, rgb, mirror=mirror) >= 0.5)
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
    timing = format_timing([("a.jpg", 0.5), ("b.jpg", 0.25), ("c.jpg", 1 / 3)])
    assert timing == "a.jpg - 0.5000000000\nb.jpg - 0.2500000000\nc.jpg - 0.3333333333\nMean FPS:  2.7692307692307696\n"


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
