"""MediaEval 2020 packages: task-1 zip and the zipped task-2 build context, from a split's subset and from a folder."""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kdseg.engine.evaluate import evaluate
from kdseg.submit import task2_entrypoint
from kdseg.submit.entrypoints import package_entry
from kdseg.submit.mediaeval import package_mediaeval
from kdseg.submit.validate import read_members, validate_mediaeval_task1
from kdseg.utils.errors import DataError
from tests.export._helpers import brain_model, polyp_model  # noqa: F401  (fixtures)
from tests.submit import _organisers as organisers


def test_package_from_split(polyp_model: dict[str, Path], tmp_path: Path) -> None:
    summary = package_mediaeval(
        polyp_model["checkpoint"], polyp_model["onnx"], tmp_path / "task1.zip", tmp_path / "task2.zip",
        manifest=polyp_model["manifest"], split=polyp_model["split"], subset="val",
    )
    members = read_members(tmp_path / "task1.zip")
    assert sorted(members) == ["img2.jpg", "img3.png", "img4.jpg", "img5.png"]  # the val images' own names
    assert summary["images"] == 4 and summary["mean_fps"] > 0
    # the build context and nothing else
    task2 = read_members(tmp_path / "task2.zip")
    assert sorted(task2) == ["Dockerfile", "README.md", "model.json", "model.onnx", "predict.py", "requirements.txt"]
    dockerfile = task2["Dockerfile"].decode()
    assert f"FROM python:{sys.version_info.major}.{sys.version_info.minor}-slim" in dockerfile
    assert 'ENTRYPOINT ["python", "/app/predict.py"]' in dockerfile and 'CMD ["/medico2020", "/mask"]' in dockerfile
    assert task2["predict.py"] == Path(task2_entrypoint.__file__).read_bytes()
    assert task2["model.onnx"] == polyp_model["onnx"].read_bytes()
    assert json.loads(task2["model.json"]) == {"experiment": "exp", "model": "tiny_unet", "size": [32, 32], "input_range": "unit", "threshold": 0.5, "mirror": False}
    assert f"onnxruntime=={importlib.metadata.version('onnxruntime')}\n" in task2["requirements.txt"].decode()
    readme = task2["README.md"].decode()
    for step in ("docker build -t kdseg-medico2020-task2 .", "docker run --rm -v /path/to/test-images:/medico2020:ro -v /path/to/masks:/mask kdseg-medico2020-task2", "docker save kdseg-medico2020-task2 | gzip > kdseg-medico2020-task2.tar.gz"):
        assert step in readme


@pytest.mark.parametrize(("above", "mirror"), [(0, False), (127, False), (127, True)])
def test_task1_masks_read_with_either_threshold_give_our_dice(above: int, mirror: bool, polyp_model: dict[str, Path], tmp_path: Path) -> None:
    """What the organisers score is what kdseg-evaluate scored, flip-averaged (``--mirror``) or not."""
    package_mediaeval(polyp_model["checkpoint"], polyp_model["onnx"], tmp_path / "task1.zip", tmp_path / "task2.zip", manifest=polyp_model["manifest"], split=polyp_model["split"], subset="val", mirror=mirror)
    ours = evaluate(polyp_model["checkpoint"], polyp_model["manifest"], polyp_model["split"], "val", tmp_path / "m.json", tmp_path / "m.csv", tmp_path / "pred", mirror=mirror)
    assert ours["mirror"] is mirror
    with zipfile.ZipFile(tmp_path / "task2.zip") as context:
        assert json.loads(context.read("model.json"))["mirror"] is mirror
    with zipfile.ZipFile(tmp_path / "task1.zip") as archive:
        archive.extractall(tmp_path / "task1")
    manifest = pd.read_csv(polyp_model["manifest"]).set_index("id")
    scores = []
    for mask in sorted((tmp_path / "task1").iterdir()):
        truth = organisers.read_mask(manifest.loc[mask.stem, "mask"], 0)
        scores.append(organisers.dice(truth, organisers.read_mask(mask, above)))
    assert len(scores) == ours["cases"] == 4
    assert float(np.mean(scores)) == pytest.approx(ours["metrics"]["dsc"], abs=1e-6)


def test_package_is_reproducible_from_a_folder(polyp_model: dict[str, Path], tmp_path: Path, restore_logging: None) -> None:
    folder = tmp_path / "test_images"
    folder.mkdir()
    for name in ("img2.jpg", "img3.png"):
        shutil.copy(polyp_model["root"] / "raw" / name, folder / name)
    zips = []
    for run in ("a", "b"):
        package_entry(["mediaeval2020", "--checkpoint", str(polyp_model["checkpoint"]), "--onnx", str(polyp_model["onnx"]), "--images-dir", str(folder), "--threads", "1", "--out", str(tmp_path / run / "task1.zip"), "--out-task2", str(tmp_path / run / "task2.zip")])
        zips.append((tmp_path / run / "task1.zip").read_bytes())
        zips.append((tmp_path / run / "task2.zip").read_bytes())
    assert zips[0] == zips[2] and zips[1] == zips[3]
    assert sorted(read_members(zips[0])) == ["img2.jpg", "img3.png"]
    validate_mediaeval_task1(zips[0], {"img2.jpg": (40, 48), "img3.png": (30, 30)})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"subset": "val"}, "give the test data either as --manifest, --split and --subset, or as --images-dir"),
        ({"manifest": "m.csv", "split": "s.csv", "subset": "val", "images_dir": "x"}, "one of the two"),
        ({"images_dir": "does-not-exist"}, "test image folder does-not-exist does not exist"),
    ],
)
def test_image_source_errors(kwargs: dict, message: str, polyp_model: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(DataError, match=message):
        package_mediaeval(polyp_model["checkpoint"], polyp_model["onnx"], tmp_path / "t1.zip", tmp_path / "t2.zip", **kwargs)


def test_duplicate_file_names_are_refused(polyp_model: dict[str, Path], tmp_path: Path) -> None:
    for group in ("data1", "data2"):
        (tmp_path / "images" / group).mkdir(parents=True)
        shutil.copy(polyp_model["root"] / "raw" / "img2.jpg", tmp_path / "images" / group / "same.jpg")
    with pytest.raises(DataError, match="test images share file names \\(same.jpg\\)"):
        package_mediaeval(polyp_model["checkpoint"], polyp_model["onnx"], tmp_path / "t1.zip", tmp_path / "t2.zip", images_dir=tmp_path / "images")
    assert not (tmp_path / "t1.zip").exists()


def test_3d_model_is_refused(polyp_model: dict[str, Path], brain_model: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is a 3D model; this package needs a 2D \\(polyp\\) model"):
        package_mediaeval(brain_model["checkpoint"], brain_model["onnx"], tmp_path / "t1.zip", tmp_path / "t2.zip", manifest=polyp_model["manifest"], split=polyp_model["split"], subset="val")
