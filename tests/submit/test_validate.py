"""Validators: a valid package passes, and every broken rule is reported with the file and the rule."""

from __future__ import annotations

import io
import re
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kdseg.data.volumes import nifti_bytes
from kdseg.submit.common import lossless_mask
from kdseg.submit.task2_entrypoint import encode_mask
from kdseg.submit.validate import (
    Problem,
    SubmissionError,
    check_timing,
    endocv_ground_truth_name,
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
    return {name: lossless_mask(mask) for name, mask in PREDICTIONS.items()}


def _image_bytes(array: np.ndarray, fmt: str, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format=fmt)
    return buffer.getvalue()


def _grey_png(value: int, at: tuple[int, int] = (0, 0)) -> bytes:
    """b.png's mask with ``value`` at pixel ``at`` (background at (0, 0), foreground at (1, 1))."""
    array = np.where(_mask(5, 4), 255, 0).astype(np.uint8)
    array[at] = value
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
    (lambda m: m.update({"b.png": _grey_png(100, at=(1, 1))}), r"b\.png: not binary — 1 pixel\(s\) are not 0 or 255 \(e\.g\. 100\); write lossless masks"),
    (lambda m: m.update({"b.png": _grey_png(255)}), r"b\.png: differs from the prediction — 1 pixel\(s\) read back as > 0 differ"),
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


def test_a_real_jpeg_mask_is_refused_for_task1() -> None:
    # quality 100 keeps the mask for > 127, but its noise along the edges is foreground for > 0
    members = _members() | {"a.jpg": encode_mask(PREDICTIONS["a.jpg"], "a.jpg")}
    with pytest.raises(SubmissionError) as error:
        validate_mediaeval_task1(zip_bytes(members), SIZES, PREDICTIONS)
    assert [(p.file, p.rule) for p in error.value.problems] == [("a.jpg", "not binary"), ("a.jpg", "differs from the prediction")]
    assert "read back as > 0 differ" in error.value.problems[1].detail


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


ENDOCV_A = "EndoCV2021/segmentation/data1_pred/a_mask.jpg"
ENDOCV_B = "EndoCV2021/segmentation/data2_pred/b_mask.jpg"
ENDOCV_TIMING_1 = "EndoCV2021/segmentation/data1_pred/timeElaspseddata1.txt"
ENDOCV_SIZES = {ENDOCV_A: (6, 8), ENDOCV_B: (5, 4)}


def _endocv_members() -> dict[str, bytes]:
    members = {name: lossless_mask(_mask(*size)) for name, size in ENDOCV_SIZES.items()}
    members[ENDOCV_TIMING_1] = b"a -----> 2.5 \naverage_t -----> 2.5 \n"
    members["EndoCV2021/segmentation/data2_pred/timeElaspseddata2.txt"] = b"b -----> 1.25 \naverage_t -----> 1.25 \n"
    members["README.txt"] = b"how to score"
    return members


ENDOCV_CASES: list[tuple[Callable[[dict[str, bytes]], None], str]] = [
    (lambda m: m.pop(ENDOCV_TIMING_1), r"timeElaspseddata1\.txt: missing file — every mask folder needs its timing file"),
    (lambda m: m.pop("README.txt"), r"README\.txt: missing file"),
    (lambda m: m.update({ENDOCV_A.replace("_mask", ""): m.pop(ENDOCV_A)}), r"data1_pred/a\.jpg: wrong name — it must be called .*data1_pred/a_mask\.jpg"),
    (lambda m: m.update({"data1/a_mask.jpg": m.pop(ENDOCV_A)}), r"data1/a_mask\.jpg: extra file"),
    (lambda m: m.update({ENDOCV_TIMING_1: b"a: 2.5\naverage_t -----> 2.5\n"}), r"timeElaspseddata1\.txt: bad timing — line 1 'a: 2\.5' is not '<stem> -----> <ms>'"),
    (lambda m: m.update({ENDOCV_TIMING_1: b"a -----> 2.5 \naverage_t -----> 9.0 \n"}), r"average_t 9\.0 is not the mean of the per-image times \(2\.5\)"),
    (lambda m: m.update({ENDOCV_TIMING_1: b"a -----> 2.5 \nc -----> 2.5 \naverage_t -----> 2.5 \n"}), r"it times images that are not in its folder: c"),
    (lambda m: m.update({ENDOCV_TIMING_1: b"a -----> 2.5 \n"}), r"the last line 'a -----> 2\.5 ' is not 'average_t -----> <mean ms>'"),
    (lambda m: m.update({ENDOCV_B: _grey_jpeg(0)}), r"data2_pred/b_mask\.jpg: wrong size — mask is 8x6 \(width x height\), its image is 4x5"),
    # a real JPEG at quality 100: the ring of 1s along the edges is foreground for the evaluator's > 0
    (lambda m: m.update({ENDOCV_A: encode_mask(_mask(6, 8), "a.jpg")}), r"data1_pred/a_mask\.jpg: not binary — \d+ pixel\(s\) are not 0 or 255 \(e\.g\. 1\); write lossless masks"),
]


def test_valid_endocv_passes() -> None:
    validate_endocv(zip_bytes(_endocv_members()), ENDOCV_SIZES, {name: _mask(*size) for name, size in ENDOCV_SIZES.items()})


@pytest.mark.parametrize(("change", "message"), ENDOCV_CASES)
def test_endocv_rejections(change: Callable[[dict[str, bytes]], None], message: str) -> None:
    members = _endocv_members()
    change(members)
    with pytest.raises(SubmissionError, match=message):
        validate_endocv(zip_bytes(members), ENDOCV_SIZES)


def test_endocv_names_the_evaluator_cannot_tell_apart_are_refused() -> None:
    # compute_seg.py cuts "x_1_mask.jpg" and "x_2_mask.jpg" to the same ground truth "x.jpg"
    sizes = {f"EndoCV2021/segmentation/d_pred/x_{i}_mask.jpg": (5, 4) for i in (1, 2)}
    members = {name: lossless_mask(_mask(5, 4)) for name in sizes}
    members["EndoCV2021/segmentation/d_pred/timeElaspsedd.txt"] = b"x_1 -----> 1.0 \nx_2 -----> 3.0 \naverage_t -----> 2.0 \n"
    members["README.txt"] = b""
    with pytest.raises(SubmissionError, match=r"d_pred: ambiguous ground truth — compute_seg\.py would score .*x_1_mask\.jpg, .*x_2_mask\.jpg against the same file x\.jpg"):
        validate_endocv(zip_bytes(members), sizes)


def test_endocv_ground_truth_name() -> None:
    assert endocv_ground_truth_name("EndoCV2021/segmentation/d_pred/img1_mask.jpg") == "img1.jpg"
    assert endocv_ground_truth_name("EndoCV_DATA3_0001_mask.jpg") == "EndoCV.jpg"


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
        # the organisers' skeleton: two spaces, full precision
        ("a - 0.5000000000\nb - 0.2500000000\nMean FPS:  2.6666666666666665\n", None),
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
    package_mediaeval(polyp_model["checkpoint"], polyp_model["onnx"], out / "task1.zip", out / "task2.zip", manifest=polyp_model["manifest"], split=polyp_model["split"], subset="val", smoke_images=1)
    with zipfile.ZipFile(out / "task2.zip") as archive:
        archive.extractall(out / "task2")
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
    with Image.open(image) as opened:
        other = np.ones((opened.height, opened.width), bool)
    with pytest.raises(SubmissionError, match=r"img2\.jpg: differs from the prediction — \d+ pixel\(s\) read back as > 127 differ"):
        validate_mediaeval_task2(task2_context, [image], {"img2.jpg": other})
