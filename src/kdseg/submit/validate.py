"""Validators of the challenge packages, run by the packagers before anything is written and by the tests.

Each validator collects every problem it finds, as ``<file>: <rule> — <detail>``, and raises one
:class:`SubmissionError` listing them. The rules:

- ``missing mask`` / ``missing file``: an expected mask (or package file) is absent;
- ``extra file``: a file nobody asked for;
- ``wrong name``: a file that stands for an expected one under another name (``img.png`` for ``img.jpg``,
  ``img.jpg`` for ``img_mask.jpg``, ``case.nii`` for ``case.nii.gz``);
- ``wrong size``: a mask without its image's resolution;
- ``not single-channel``: a mask that is not an 8-bit grey image;
- ``not binary``: values other than 0 and 255. Packages must be lossless (evaluators binarise with ``> 0``,
  which counts JPEG noise as foreground); only the task-2 container's own JPEG masks may deviate up to
  :data:`JPEG_TOLERANCE` levels, as long as ``> 127`` gives the mask;
- ``differs from the prediction``: the mask read back is not the mask that was predicted;
- ``unreadable``: a file that cannot be decoded;
- ``wrong geometry``: a label map whose shape or affine is not the input volume's;
- ``wrong labels``: a label map with values outside the label convention, or not integer;
- ``bad timing``: timing lines that do not follow ``<name> - <seconds>`` ... ``Mean FPS: <x>`` (MediaEval), or
  ``<stem> -----> <ms>`` ... ``average_t -----> <ms>`` (EndoCV);
- ``ambiguous ground truth``: two EndoCV masks of one folder that the organisers' evaluator would score
  against the same ground-truth file (see :func:`endocv_ground_truth_name`);
- ``entry point failed``: the task-2 entry point exits with an error.

Example:
    >>> validate_mediaeval_task1("mediaeval2020_task1.zip", {"img1.jpg": (530, 620)})
"""

from __future__ import annotations

import gzip
import io
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from kdseg.data.volumes import LABEL_CONVENTIONS
from kdseg.utils.errors import DataError

__all__ = [
    "BRATS_LABELS",
    "ENDOCV_README",
    "ENDOCV_ROOT",
    "JPEG_TOLERANCE",
    "TASK2_FILES",
    "Problem",
    "SubmissionError",
    "check_endocv_timing",
    "check_mask",
    "check_names",
    "check_timing",
    "endocv_ground_truth_name",
    "endocv_mask_name",
    "endocv_timing_name",
    "read_members",
    "validate_brats",
    "validate_endocv",
    "validate_mediaeval_task1",
    "validate_mediaeval_task2",
]

# a JPEG mask may deviate this many grey levels from 0/255 (quality 100 gives at most 1 or 2)
JPEG_TOLERANCE = 8
# the EndoCV2021 organisers' reference inference code writes EndoCV2021/segmentation/<subset>_pred/
ENDOCV_ROOT = "EndoCV2021/segmentation"
ENDOCV_README = "README.txt"
# the label convention of kdseg.data.volumes behind each BraTS submission format (--labels)
BRATS_LABELS = {"brats2021": "brats", "brats2023": "brats2023"}
TASK2_FILES = ("Dockerfile", "README.md", "requirements.txt", "predict.py", "model.onnx", "model.json")
_AFFINE_TOLERANCE = 1e-3
_LISTED_PROBLEMS = 20
_TIMING_LINE = re.compile(r"^(?P<name>.+) - (?P<seconds>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)$")
_FLOAT = r"\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
# the MediaEval skeleton prints ``print("Mean FPS: ", fps)``: two spaces, the float as Python writes it
_FPS_LINE = re.compile(rf"^Mean FPS:\s+(?P<fps>{_FLOAT})$")
# the reference code writes '%s -----> %s \n' (note the space before the newline)
_ENDOCV_TIMING_LINE = re.compile(rf"^(?P<name>.+) -----> (?P<ms>{_FLOAT}) ?$")
_ENDOCV_AVERAGE = "average_t"


@dataclass(frozen=True)
class Problem:
    """One broken rule: the file, the rule's name and what was found."""

    file: str
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.file}: {self.rule} — {self.detail}"


class SubmissionError(DataError):
    """A package breaks the challenge's rules; ``problems`` lists every one found."""

    def __init__(self, package: str, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        listed = "\n".join(f"  {p}" for p in self.problems[:_LISTED_PROBLEMS])
        more = f"\n  ... and {len(self.problems) - _LISTED_PROBLEMS} more" if len(self.problems) > _LISTED_PROBLEMS else ""
        super().__init__(f"{package} is not a valid submission ({len(self.problems)} problem(s)):\n{listed}{more}")


def _raise_if(package: str, problems: Sequence[Problem]) -> None:
    if problems:
        raise SubmissionError(package, problems)


def read_members(archive: str | Path | bytes) -> dict[str, bytes]:
    """The files of a zip (a path or its bytes) by name; folders are skipped."""
    what = "the package" if isinstance(archive, bytes) else str(archive)
    try:
        with zipfile.ZipFile(io.BytesIO(archive) if isinstance(archive, bytes) else archive) as handle:
            return {info.filename: handle.read(info) for info in handle.infolist() if not info.is_dir()}
    except (OSError, zipfile.BadZipFile) as err:
        raise SubmissionError(what, [Problem(what, "unreadable", f"not a zip archive ({err})")]) from None


def _name_key(name: str) -> str:
    """What a file name stands for regardless of case, extension and a ``_mask`` suffix."""
    path = PurePosixPath(name.lower())
    stem = path.name.removesuffix(".gz").rsplit(".", 1)[0]  # .nii.gz counts as one extension
    return str(path.parent / stem.removesuffix("_mask"))


def check_names(found: Iterable[str], expected: Iterable[str], *, allowed: Iterable[str] = (), what: str = "mask", source: str = "image") -> list[Problem]:
    """Missing, extra and misnamed files of a package.

    Args:
        found: names in the package.
        expected: names that must be there.
        allowed: other names that may be there (e.g. a timing file). Defaults to ().
        what: what an expected file is, for the ``missing`` rule. Defaults to "mask".
        source: what each expected file belongs to. Defaults to "image".
    """
    found, expected, allowed = set(found), set(expected), set(allowed)
    missing = sorted(expected - found)
    problems = []
    for name in sorted(found - expected - allowed):
        stand_in = next((m for m in missing if _name_key(m) == _name_key(name)), None)
        if stand_in is None:
            problems.append(Problem(name, "extra file", f"no test {source} corresponds to it; remove it"))
        else:
            missing.remove(stand_in)
            problems.append(Problem(name, "wrong name", f"it must be called {stand_in}"))
    problems += [Problem(name, f"missing {what}", f"every test {source} needs one") for name in missing]
    return problems


def check_mask(
    name: str,
    data: bytes,
    size: Sequence[int],
    prediction: np.ndarray | None = None,
    *,
    tolerance: int = 0,
    foreground_above: int = 127,
) -> list[Problem]:
    """Problems of one mask file: format, resolution (H, W), values, and agreement with the prediction.

    Args:
        name: the file's name in the package (for the messages).
        data: the file's bytes; decoded by content, whatever the name's suffix says.
        size: (H, W) of its image.
        prediction: the predicted boolean mask, to check that the file holds it. Defaults to None.
        tolerance: grey levels a value may deviate from 0 or 255 (:data:`JPEG_TOLERANCE` for a lossy
            mask); 0 asks for exactly 0 and 255. Defaults to 0.
        foreground_above: a pixel is foreground when its value is above this, as the evaluator reads it
            (127, or 0 for EndoCV's ``> 0``). Defaults to 127.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            mode = image.mode
            pixels = np.asarray(image)
    except Exception as err:  # PIL raises many types for corrupt files
        return [Problem(name, "unreadable", f"cannot be decoded as an image ({err})")]
    if mode != "L":
        return [Problem(name, "not single-channel", f"image mode {mode!r}; masks must be 8-bit grey (mode 'L'), values 0/255")]
    height, width = (int(s) for s in size)
    if pixels.shape != (height, width):
        return [Problem(name, "wrong size", f"mask is {pixels.shape[1]}x{pixels.shape[0]} (width x height), its image is {width}x{height}; masks must have the image's resolution")]
    problems = []
    off = (pixels > tolerance) & (pixels < 255 - tolerance)
    if off.any():
        allowed = f"within {tolerance} levels of 0 or 255" if tolerance else "0 or 255"
        advice = "" if tolerance else "; write lossless masks (PNG data): an evaluator reading > 0 counts JPEG noise as foreground"
        problems.append(Problem(name, "not binary", f"{int(off.sum())} pixel(s) are not {allowed} (e.g. {int(pixels[off][0])}){advice}"))
    if prediction is not None:
        flipped = int(np.count_nonzero((pixels > foreground_above) != np.asarray(prediction, dtype=bool)))
        if flipped:
            problems.append(Problem(name, "differs from the prediction", f"{flipped} pixel(s) read back as > {foreground_above} differ from the predicted mask"))
    return problems


def _check_masks(members: Mapping[str, bytes], sizes: Mapping[str, Sequence[int]], predictions: Mapping[str, np.ndarray] | None, **read: int) -> list[Problem]:
    problems = []
    for name in sorted(set(members) & set(sizes)):
        problems += check_mask(name, members[name], sizes[name], None if predictions is None else predictions.get(name), **read)
    return problems


def check_timing(text: str, names: Sequence[str], file: str = "timing") -> list[Problem]:
    """Problems of timing text: one ``<name> - <seconds>`` line per image of ``names`` (any order), then
    ``Mean FPS: <x>`` agreeing with the seconds."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return [Problem(file, "bad timing", "it is empty; expected one '<name> - <seconds>' line per image and a last 'Mean FPS: <x>' line")]
    problems, seconds, seen = [], [], []
    for number, line in enumerate(lines[:-1], start=1):
        match = _TIMING_LINE.match(line)
        if match is None:
            problems.append(Problem(file, "bad timing", f"line {number} {line!r} is not '<name> - <seconds>'"))
            continue
        seen.append(match["name"])
        seconds.append(float(match["seconds"]))
    unknown = sorted(set(seen) - set(names))
    missing = sorted(set(names) - set(seen))
    repeated = sorted({n for n in seen if seen.count(n) > 1})
    for label, group in (("times images that are not in the test set", unknown), ("has no line for", missing), ("times more than once", repeated)):
        if group:
            problems.append(Problem(file, "bad timing", f"it {label}: {', '.join(group[:5])}{' ...' if len(group) > 5 else ''}"))
    match = _FPS_LINE.match(lines[-1])
    if match is None:
        problems.append(Problem(file, "bad timing", f"the last line {lines[-1]!r} is not 'Mean FPS: <x>'"))
    elif seconds and sum(seconds) > 0:
        expected = len(seconds) / sum(seconds)
        if abs(float(match["fps"]) - expected) > max(0.011, 0.01 * expected):
            problems.append(Problem(file, "bad timing", f"Mean FPS {match['fps']} does not match the per-image seconds (images / total seconds = {expected:.2f})"))
    return problems


def validate_mediaeval_task1(archive: str | Path | bytes, sizes: Mapping[str, Sequence[int]], predictions: Mapping[str, np.ndarray] | None = None) -> None:
    """MediaEval 2020 Medico task 1: one mask per test image, named as the image, at its resolution, exactly
    0/255 (so ``> 0`` and ``> 127`` both read the prediction).

    Args:
        archive: the zip (path or bytes).
        sizes: (H, W) of each test image, by file name.
        predictions: the predicted boolean masks by file name, to check that the files hold them. Defaults to None.

    Raises:
        SubmissionError: listing every problem.
    """
    members = read_members(archive)
    problems = check_names(members, sizes) + _check_masks(members, sizes, predictions, foreground_above=0)
    _raise_if("MediaEval 2020 task 1 package", problems)


def endocv_mask_name(subset: str, image: str | Path) -> str:
    """Path of an image's mask in the EndoCV package: ``EndoCV2021/segmentation/<subset>_pred/<stem>_mask.jpg``."""
    return f"{ENDOCV_ROOT}/{subset}_pred/{PurePosixPath(Path(image).name).stem}_mask.jpg"


def endocv_timing_name(subset: str) -> str:
    """Path of a subset's timing file: ``EndoCV2021/segmentation/<subset>_pred/timeElaspsed<subset>.txt``
    (the reference code's spelling)."""
    return f"{ENDOCV_ROOT}/{subset}_pred/timeElaspsed{subset}.txt"


def endocv_ground_truth_name(mask_file: str) -> str:
    """The ground-truth file the organisers' ``compute_seg.py`` scores a mask file against: its name cut at
    the first ``.``, then at the first ``_``, plus ``.jpg`` (``img1_mask.jpg`` -> ``img1.jpg``)."""
    return PurePosixPath(mask_file).name.split(".")[0].split("_")[0] + ".jpg"


def _subset_of(folder: str) -> str:
    return PurePosixPath(folder).name.removesuffix("_pred")


def check_endocv_timing(text: str, stems: Sequence[str], file: str) -> list[Problem]:
    """Problems of an EndoCV timing file: one ``<stem> -----> <ms>`` line per image stem of ``stems`` (any
    order), then ``average_t -----> <ms>`` equal to their mean."""
    lines = [line for line in text.splitlines() if line.strip()]
    form = "'<stem> -----> <ms>' lines, then 'average_t -----> <mean ms>'"
    if not lines:
        return [Problem(file, "bad timing", f"it is empty; expected {form}")]
    problems, times, seen = [], [], []
    for number, line in enumerate(lines, start=1):
        match = _ENDOCV_TIMING_LINE.match(line)
        if match is None:
            problems.append(Problem(file, "bad timing", f"line {number} {line!r} is not '<stem> -----> <ms>'"))
        elif number < len(lines):
            seen.append(match["name"])
            times.append(float(match["ms"]))
    for label, group in (("times images that are not in its folder", set(seen) - set(stems)), ("has no line for", set(stems) - set(seen)), ("times more than once", {n for n in seen if seen.count(n) > 1})):
        if group:
            listed = sorted(group)
            problems.append(Problem(file, "bad timing", f"it {label}: {', '.join(listed[:5])}{' ...' if len(listed) > 5 else ''}"))
    last = _ENDOCV_TIMING_LINE.match(lines[-1])
    if last is not None and last["name"] != _ENDOCV_AVERAGE:
        problems.append(Problem(file, "bad timing", f"the last line {lines[-1]!r} is not '{_ENDOCV_AVERAGE} -----> <mean ms>'"))
    elif last is not None and times and not np.isclose(float(last["ms"]), float(np.mean(times)), rtol=1e-6, atol=1e-9):
        problems.append(Problem(file, "bad timing", f"{_ENDOCV_AVERAGE} {last['ms']} is not the mean of the per-image times ({float(np.mean(times))!r})"))
    return problems


def _check_endocv_folders(members: Mapping[str, bytes], sizes: Mapping[str, Sequence[int]]) -> list[Problem]:
    """Each mask folder as the organisers' tools read it: ground-truth names unique, one timing file."""
    problems = []
    folders = sorted({str(PurePosixPath(name).parent) for name in sizes})
    for folder in folders:
        masks = sorted(name for name in members if str(PurePosixPath(name).parent) == folder and name.lower().endswith(".jpg"))
        truth: dict[str, list[str]] = {}
        for name in masks:
            truth.setdefault(endocv_ground_truth_name(name), []).append(name)
        for ground_truth, names in sorted(truth.items()):
            if len(names) > 1:
                problems.append(Problem(folder, "ambiguous ground truth", f"compute_seg.py would score {', '.join(names)} against the same file {ground_truth} (it cuts names at the first '.' and '_'); rename the test images"))
        subset = _subset_of(folder)
        timing = endocv_timing_name(subset)
        if timing in members:
            stems = [PurePosixPath(name).name.removesuffix("_mask.jpg") for name in sizes if str(PurePosixPath(name).parent) == folder]
            problems += check_endocv_timing(members[timing].decode("utf-8", errors="replace"), stems, timing)
        else:
            problems.append(Problem(timing, "missing file", f"every mask folder needs its timing file ('<stem> -----> <ms>' lines, then '{_ENDOCV_AVERAGE} -----> <ms>')"))
    return problems


def validate_endocv(archive: str | Path | bytes, sizes: Mapping[str, Sequence[int]], predictions: Mapping[str, np.ndarray] | None = None) -> None:
    """EndoCV2021/2022 in the organisers' layout, checked the way their tools read it.

    One folder ``EndoCV2021/segmentation/<subset>_pred/`` per test subset holds ``<stem>_mask.jpg`` per
    image (at its resolution, exactly 0/255 so that ``> 0`` reads the prediction) and
    ``timeElaspsed<subset>.txt``; ``README.txt`` at the root says how to score a subset. Within a folder,
    no two masks may map to one ground-truth name (:func:`endocv_ground_truth_name`).

    Args:
        archive: the zip (path or bytes).
        sizes: (H, W) of each expected mask, by its path in the zip (:func:`endocv_mask_name`).
        predictions: the predicted boolean masks by path, to check that the files hold them. Defaults to None.

    Raises:
        SubmissionError: listing every problem.
    """
    members = read_members(archive)
    timings = [endocv_timing_name(_subset_of(str(PurePosixPath(name).parent))) for name in sizes]
    problems = check_names(members, sizes, allowed=[*timings, ENDOCV_README]) + _check_masks(members, sizes, predictions, foreground_above=0)
    problems += _check_endocv_folders(members, sizes)
    if ENDOCV_README not in members:
        problems.append(Problem(ENDOCV_README, "missing file", "the package needs its README (how to point compute_seg.py at each subset)"))
    _raise_if("EndoCV package", problems)


def _read_label_map(name: str, data: bytes) -> tuple[np.ndarray, np.ndarray] | Problem:
    import nibabel as nib  # here: the 2D packages and the benchmark run where nibabel is not installed

    try:
        image = nib.Nifti1Image.from_bytes(gzip.decompress(data) if name.endswith(".gz") else data)
        return np.asanyarray(image.dataobj), np.asarray(image.affine, dtype=np.float64)
    except Exception as err:  # gzip and nibabel raise many types for corrupt files
        return Problem(name, "unreadable", f"not a (gzipped) NIfTI-1 file ({err})")


def validate_brats(archive: str | Path | bytes, geometry: Mapping[str, tuple[Sequence[int], np.ndarray]], labels: str = "brats2021") -> None:
    """BraTS: ``<case>.nii.gz`` per case, integer labels of the convention, the input's shape and affine.

    Args:
        archive: the zip (path or bytes).
        geometry: (shape, 4x4 affine) of each case's input volume, by case id.
        labels: ``brats2021`` (0/1/2/4) or ``brats2023`` (0/1/2/3). Defaults to "brats2021".

    Raises:
        SubmissionError: listing every problem.
    """
    allowed = set(LABEL_CONVENTIONS[BRATS_LABELS[labels]]["labels"])
    members = read_members(archive)
    expected = {f"{case}.nii.gz": case for case in geometry}
    problems = check_names(members, expected, what="label map", source="case")
    for name in sorted(set(members) & set(expected)):
        read = _read_label_map(name, members[name])
        if isinstance(read, Problem):
            problems.append(read)
            continue
        data, affine = read
        shape, want_affine = tuple(int(s) for s in geometry[expected[name]][0]), np.asarray(geometry[expected[name]][1], dtype=np.float64)
        if data.shape != shape:
            problems.append(Problem(name, "wrong geometry", f"shape {data.shape}, the input volume's is {shape}"))
        if affine.shape != (4, 4) or not np.allclose(affine, want_affine, atol=_AFFINE_TOLERANCE):
            worst = float(np.abs(affine - want_affine).max()) if affine.shape == want_affine.shape else float("inf")
            problems.append(Problem(name, "wrong geometry", f"affine differs from the input volume's (max difference {worst:.3g}); copy the input's affine"))
        if not np.issubdtype(data.dtype, np.integer):
            problems.append(Problem(name, "wrong labels", f"data type {data.dtype}; label maps must be integers"))
        else:
            extra = sorted(set(np.unique(data).tolist()) - allowed)
            if extra:
                problems.append(Problem(name, "wrong labels", f"values {extra} are not labels of {labels} (allowed {sorted(allowed)})"))
    _raise_if(f"BraTS package ({labels} labels)", problems)


def _task2_static_problems(folder: Path) -> list[Problem]:
    problems = [Problem(name, "missing file", "the Docker build context needs it") for name in TASK2_FILES if not (folder / name).is_file()]
    dockerfile = folder / "Dockerfile"
    if dockerfile.is_file():
        text = dockerfile.read_text(encoding="utf-8")
        if "ENTRYPOINT" not in text or "predict.py" not in text:
            problems.append(Problem("Dockerfile", "bad Dockerfile", "it must set ENTRYPOINT to the predict.py entry point"))
    config = folder / "model.json"
    if config.is_file():
        try:
            settings = json.loads(config.read_text(encoding="utf-8"))
            missing = [key for key in ("size", "input_range", "threshold") if key not in settings]
        except json.JSONDecodeError as err:
            missing = [f"valid JSON ({err.msg})"]
        if missing:
            problems.append(Problem("model.json", "bad model settings", f"it lacks {', '.join(missing)}"))
    return problems


def validate_mediaeval_task2(
    folder: str | Path,
    images: Sequence[str | Path],
    predictions: Mapping[str, np.ndarray] | None = None,
    *,
    timeout: float = 600.0,
) -> None:
    """MediaEval 2020 Medico task 2: the Docker build context, and a run of its entry point on ``images``.

    The entry point runs here with this Python (as the container's ``ENTRYPOINT`` would, with the input
    and output folders as arguments); its timing lines and masks are checked, and the masks read back
    (``> 127``; JPEG masks may deviate :data:`JPEG_TOLERANCE` levels) compared with ``predictions``
    (task 1's masks) where given.

    Args:
        folder: the build context (see :data:`TASK2_FILES`).
        images: test images to run the entry point on.
        predictions: expected boolean masks by image file name. Defaults to None.
        timeout: seconds the entry point may take. Defaults to 600.

    Raises:
        SubmissionError: listing every problem.
    """
    folder = Path(folder)
    problems = _task2_static_problems(folder)
    if problems:
        _raise_if("MediaEval 2020 task 2 build context", problems)
    images = [Path(p) for p in images]
    with tempfile.TemporaryDirectory(prefix="kdseg-task2-") as scratch:
        inputs, outputs = Path(scratch) / "medico2020", Path(scratch) / "mask"
        inputs.mkdir()
        for image in images:
            shutil.copyfile(image, inputs / image.name)
        run = subprocess.run([sys.executable, str(folder / "predict.py"), str(inputs), str(outputs)], capture_output=True, text=True, timeout=timeout, check=False)
        if run.returncode != 0:
            tail = run.stderr.strip().splitlines()[-3:]
            _raise_if("MediaEval 2020 task 2 build context", [Problem("predict.py", "entry point failed", f"exit status {run.returncode}: {' | '.join(tail)}")])
        names = [image.name for image in images]
        problems += check_timing(run.stdout, names, file="predict.py output")
        produced = {p.name: p.read_bytes() for p in outputs.iterdir()} if outputs.is_dir() else {}
        sizes = {}
        for image in images:
            with Image.open(image) as opened:
                sizes[image.name] = (opened.height, opened.width)
        problems += check_names(produced, sizes)
        for name in sorted(set(produced) & set(sizes)):
            lossy = PurePosixPath(name).suffix.lower() in (".jpg", ".jpeg")
            problems += check_mask(name, produced[name], sizes[name], (predictions or {}).get(name), tolerance=JPEG_TOLERANCE if lossy else 0)
    _raise_if("MediaEval 2020 task 2 build context", problems)
