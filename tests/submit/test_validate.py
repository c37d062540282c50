"""Validators: a valid package passes, and every broken rule is reported with the file and the rule."""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kdseg.data.volumes import nifti_bytes
from kdseg.submit.task2_entrypoint import encode_mask, format_timing
from kdseg.submit.validate import (
    Problem,
    SubmissionError,
    check_timing,
    validate_brats,
    validate_endocv,
    validate_mediaeval_task1,
    validate_mediaeval_task2,
)
from kdseg.utils.errors import DataError
from kdseg.utils.io import zip_bytes
from tests.export._helpers import polyp_model  # noqa: F401  (fixture)

SIZES = {"a.jpg": (6, 8), "b.png": (5, 4)}


def _mask(height: int, width: int) -> np.ndarray:
    mask = np.zeros((height, width), bool)
    mask[1:-1, 1:3] = True
    return mask


PREDICTIONS = {name: _mask(*size) for name, size in SIZES.items()}


def _members() -> dict[str, bytes]:
    return {name: encode_mask(mask, name) for name, mask in PREDICTIONS.items()}


def _image_bytes(array: np.ndarray, fmt: str, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format=fmt)
    return buffer.getvalue()


def _grey_png(value: int) -> bytes:
    array = np.where(_mask(5, 4), 255, 0).astype(np.uint8)
    array[0, 0] = value
    return _image_bytes(array, "PNG")


def _grey_jpeg(background: int) -> bytes:
    """a.jpg's mask with ``background`` instead of 0, at JPEG quality 100."""
    buffer = io.BytesIO()
    Image.fromarray(np.where(_mask(6, 8), 255, background).astype(np.uint8)).save(buffer, format="JPEG", quality=100)
    return buffer.getvalue()


# (change to the valid members, expected message)
TASK1_CASES: list[tuple[Callable[[dict[str, bytes]], None], str]] = [
    (lambda m: m.pop("b.png"), r"b\.png: missing mask — every test image needs one"),
    (lambda m: m.update({"c.png": m["b.png"]}), r"c\.png: extra file — no test image corresponds to it"),
    (lambda m: m.update({"b.jpg": m.pop("b.png")}), r"b\.jpg: wrong name — it must be called b\.png"),
    (lambda m: m.update({"b.png": encode_mask(np.zeros((4, 5), bool), "b.png")}), r"b\.png: wrong size — mask is 5x4 \(width x height\), its image is 4x5"),
    (lambda m: m.update({"b.png": _image_bytes(np.zeros((5, 4, 3), np.uint8), "PNG")}), r"b\.png: not single-channel — image mode 'RGB'"),
    (lambda m: m.update({"b.png": _grey_png(100)}), r"b\.png: not binary — 1 pixel\(s\) are not 0 or 255 \(e\.g\. 100\)"),
    (lambda m: m.update({"a.jpg": _grey_jpeg(60)}), r"a\.jpg: not binary — 40 pixel\(s\) are not within 8 levels of 0 or 255"),
    (lambda m: m.update({"b.png": _grey_png(255)}), r"b\.png: differs from the prediction — 1 pixel\(s\) read back as > 127 differ"),
    (lambda m: m.update({"b.png": b"not an image"}), r"b\.png: unreadable — cannot be decoded as an image"),
]


def test_valid_task1_passes() -> None:
    validate_mediaeval_task1(zip_bytes(_members()), SIZES, PREDICTIONS)


@pytest.mark.parametrize(("change", "message"), TASK1_CASES)
def test_task1_rejections(change: Callable[[dict[str, bytes]], None], message: str) -> None:
    members = _members()
    change(members)
    with pytest.raises(SubmissionError, match=message) as error:
        validate_mediaeval_task1(zip_bytes(members), SIZES, PREDICTIONS)
    assert str(error.value).startswith("MediaEval 2020 task 1 package is not a valid submission (1 problem(s)):")


def test_every_problem_is_listed() -> None:
    members = {"b.jpg": _members()["b.png"], "extra.txt": b""}
    with pytest.raises(DataError) as error:
        validate_mediaeval_task1(zip_bytes(members), SIZES)
    assert [str(p) for p in error.value.problems] == [
        "b.jpg: wrong name — it must be called b.png",
        "extra.txt: extra file — no test image corresponds to it; remove it",
        "a.jpg: missing mask — every test image needs one",
    ]


def test_not_a_zip(tmp_path: Path) -> None:
    (tmp_path / "broken.zip").write_bytes(b"PK but not really")
    with pytest.raises(SubmissionError, match=r"broken\.zip: unreadable — not a zip archive"):
        validate_mediaeval_task1(tmp_path / "broken.zip", SIZES)


ENDOCV_SIZES = {"data1/a_mask.jpg": (6, 8), "data2/b_mask.jpg": (5, 4)}


def _endocv_members() -> dict[str, bytes]:
    members = {name: encode_mask(_mask(*size), name) for name, size in ENDOCV_SIZES.items()}
    members["timing.txt"] = format_timing([("data1/a_mask.jpg", 0.5), ("data2/b_mask.jpg", 0.25)]).encode()
    return members


ENDOCV_CASES: list[tuple[Callable[[dict[str, bytes]], None], str]] = [
    (lambda m: m.pop("timing.txt"), r"timing\.txt: missing file — the package needs the timing file"),
    (lambda m: m.update({"data1/a.jpg": m.pop("data1/a_mask.jpg")}), r"data1/a\.jpg: wrong name — it must be called data1/a_mask\.jpg"),
    (lambda m: m.update({"a_mask.jpg": m.pop("data1/a_mask.jpg")}), r"a_mask\.jpg: extra file"),
    (lambda m: m.update({"timing.txt": b"data1/a_mask.jpg: 0.5\nMean FPS: 2.00\n"}), r"timing\.txt: bad timing — line 1 'data1/a_mask\.jpg: 0\.5' is not '<name> - <seconds>'"),
    (lambda m: m.update({"timing.txt": b"data1/a_mask.jpg - 0.5\ndata2/b_mask.jpg - 0.25\nMean FPS: 9.00\n"}), r"Mean FPS 9\.00 does not match the per-image seconds \(images / total seconds = 2\.67\)"),
    (lambda m: m.update({"data2/b_mask.jpg": _grey_jpeg(0)}), r"data2/b_mask\.jpg: wrong size — mask is 8x6 \(width x height\), its image is 4x5"),
]


def test_valid_endocv_passes() -> None:
    validate_endocv(zip_bytes(_endocv_members()), ENDOCV_SIZES)


@pytest.mark.parametrize(("change", "message"), ENDOCV_CASES)
def test_endocv_rejections(change: Callable[[dict[str, bytes]], None], message: str) -> None:
    members = _endocv_members()
    change(members)
    with pytest.raises(SubmissionError, match=message):
        validate_endocv(zip_bytes(members), ENDOCV_SIZES)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a - 0.5\nb - 0.25\nMean FPS: 2.67\n", None),
        ("a - 0.5\nb - 2.5e-01\nMean FPS: 2.67\n", None),
        ("", "it is empty"),
        ("a - 0.5\nMean FPS: 2.00\n", "it has no line for: b"),
        ("a - 0.5\nb - 0.25\nc - 0.25\nMean FPS: 3.00\n", "it times images that are not in the test set: c"),
        ("a - 0.5\na - 0.5\nb - 0.5\nMean FPS: 2.00\n", "it times more than once: a"),
        ("a - 0.5\nb - 0.25\nFPS 2.67\n", "the last line 'FPS 2.67' is not 'Mean FPS: <x>'"),
    ],
)
def test_check_timing(text: str, message: str | None) -> None:
    problems = check_timing(text, ["a", "b"], file="out")
    if message is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problems[0].file == "out" and problems[0].rule == "bad timing" and message in problems[0].detail


AFFINE = np.diag([-1.0, -1.0, 1.5, 1.0])
GEOMETRY = {"case1": ((4, 5, 3), AFFINE)}


def _label_map(values: tuple[int, ...] = (0, 1, 2, 4), dtype: type = np.uint8, shape: tuple[int, ...] = (4, 5, 3), affine: np.ndarray = AFFINE) -> bytes:
    data = np.resize(np.array(values, dtype=dtype), shape)
    return nifti_bytes(data, affine)


BRATS_CASES: list[tuple[dict[str, bytes], str, str]] = [
    ({"case1.nii.gz": _label_map((0, 1, 2, 3))}, "brats2021", r"case1\.nii\.gz: wrong labels — values \[3\] are not labels of brats2021 \(allowed \[0, 1, 2, 4\]\)"),
    ({"case1.nii.gz": _label_map((0, 1, 2, 4))}, "brats2023", r"values \[4\] are not labels of brats2023 \(allowed \[0, 1, 2, 3\]\)"),
    ({"case1.nii.gz": _label_map(dtype=np.float32)}, "brats2021", r"case1\.nii\.gz: wrong labels — data type float32; label maps must be integers"),
    ({"case1.nii.gz": _label_map(shape=(4, 5, 4))}, "brats2021", r"case1\.nii\.gz: wrong geometry — shape \(4, 5, 4\), the input volume's is \(4, 5, 3\)"),
    ({"case1.nii.gz": _label_map(affine=np.diag([1.0, 1.0, 1.0, 1.0]))}, "brats2021", r"case1\.nii\.gz: wrong geometry — affine differs from the input volume's \(max difference 2\)"),
    ({"case1.nii": _label_map()}, "brats2021", r"case1\.nii: wrong name — it must be called case1\.nii\.gz"),
    ({}, "brats2021", r"case1\.nii\.gz: missing label map — every test case needs one"),
    ({"case1.nii.gz": b"\x1f\x8b broken"}, "brats2021", r"case1\.nii\.gz: unreadable — not a \(gzipped\) NIfTI-1 file"),
]


@pytest.mark.parametrize("labels", ["brats2021", "brats2023"])
def test_valid_brats_passes(labels: str) -> None:
    values = (0, 1, 2, 4) if labels == "brats2021" else (0, 1, 2, 3)
    validate_brats(zip_bytes({"case1.nii.gz": _label_map(values)}), GEOMETRY, labels)


@pytest.mark.parametrize(("members", "labels", "message"), BRATS_CASES)
def test_brats_rejections(members: dict[str, bytes], labels: str, message: str) -> None:
    with pytest.raises(SubmissionError, match=message):
        validate_brats(zip_bytes(members), GEOMETRY, labels)


def test_problem_text() -> None:
    assert str(Problem("x.png", "wrong size", "details")) == "x.png: wrong size — details"


@pytest.fixture(scope="module")
def task2_context(polyp_model: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid task-2 build context of the tiny exported U-Net."""
    from kdseg.submit.mediaeval import package_mediaeval

    out = tmp_path_factory.mktemp("task2")
    package_mediaeval(polyp_model["checkpoint"], polyp_model["onnx"], out / "task1.zip", out / "task2", manifest=polyp_model["manifest"], split=polyp_model["split"], subset="val", smoke_images=1)
    return out / "task2"


def _break_file(folder: Path, name: str, text: str | None) -> None:
    if text is None:
        (folder / name).unlink()
    else:
        (folder / name).write_text(text)


TASK2_CASES = [
    ("model.onnx", None, r"model\.onnx: missing file — the Docker build context needs it"),
    ("Dockerfile", "FROM python:3.11-slim\n", r"Dockerfile: bad Dockerfile — it must set ENTRYPOINT to the predict\.py entry point"),
    ("model.json", '{"size": [32, 32]}', r"model\.json: bad model settings — it lacks input_range, threshold"),
    ("predict.py", "import sys\nsys.exit('no model here')\n", r"predict\.py: entry point failed — exit status 1: no model here"),
    ("predict.py", "print('img2.jpg 0.1')\n", r"predict\.py output: bad timing — it has no line for: img2\.jpg.*the last line 'img2\.jpg 0\.1' is not 'Mean FPS: <x>'.*img2\.jpg: missing mask"),
]


@pytest.mark.parametrize(("name", "text", "message"), TASK2_CASES)
def test_task2_rejections(name: str, text: str | None, message: str, task2_context: Path, polyp_model: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "task2"
    shutil.copytree(task2_context, folder)
    _break_file(folder, name, text)
    with pytest.raises(SubmissionError, match=re.compile(message, re.S)):
        validate_mediaeval_task2(folder, [polyp_model["root"] / "raw" / "img2.jpg"])


def test_task2_masks_must_be_task1_masks(task2_context: Path, polyp_model: dict[str, Path]) -> None:
    image = polyp_model["root"] / "raw" / "img2.jpg"
    validate_mediaeval_task2(task2_context, [image])
    with pytest.raises(SubmissionError, match=r"img2\.jpg: differs from the prediction — the container's mask is not task 1's mask"):
        validate_mediaeval_task2(task2_context, [image], {"img2.jpg": b"other bytes"})
