"""MediaEval 2020 packages: task-1 zip and task-2 build context, from a split's subset and from a folder."""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import sys
from pathlib import Path

import pytest

from kdseg.submit import task2_entrypoint
from kdseg.submit.entrypoints import package_entry
from kdseg.submit.mediaeval import package_mediaeval
from kdseg.submit.validate import read_members, validate_mediaeval_task1
from kdseg.utils.errors import DataError
from tests.export._helpers import brain_model, polyp_model  # noqa: F401  (fixtures)


def test_package_from_split(polyp_model: dict[str, Path], tmp_path: Path) -> None:
    summary = package_mediaeval(
        polyp_model["checkpoint"], polyp_model["onnx"], tmp_path / "task1.zip", tmp_path / "task2",
        manifest=polyp_model["manifest"], split=polyp_model["split"], subset="val",
    )
    members = read_members(tmp_path / "task1.zip")
    assert sorted(members) == ["img2.jpg", "img3.png", "img4.jpg", "img5.png"]  # the val images' own names
    assert summary["images"] == 4 and summary["mean_fps"] > 0
    task2 = tmp_path / "task2"
    assert sorted(p.name for p in task2.iterdir()) == ["Dockerfile", "README.md", "model.json", "model.onnx", "predict.py", "requirements.txt"]
    dockerfile = (task2 / "Dockerfile").read_text()
    assert f"FROM python:{sys.version_info.major}.{sys.version_info.minor}-slim" in dockerfile
    assert 'ENTRYPOINT ["python", "/app/predict.py"]' in dockerfile and 'CMD ["/medico2020", "/mask"]' in dockerfile
    assert (task2 / "predict.py").read_bytes() == Path(task2_entrypoint.__file__).read_bytes()
    assert (task2 / "model.onnx").read_bytes() == polyp_model["onnx"].read_bytes()
    assert json.loads((task2 / "model.json").read_text()) == {"experiment": "exp", "model": "tiny_unet", "size": [32, 32], "input_range": "unit", "threshold": 0.5}
    assert f"onnxruntime=={importlib.metadata.version('onnxruntime')}\n" in (task2 / "requirements.txt").read_text()
    assert "docker build -t kdseg-medico2020-task2 ." in (task2 / "README.md").read_text()


def test_package_is_reproducible_from_a_folder(polyp_model: dict[str, Path], tmp_path: Path, restore_logging: None) -> None:
    folder = tmp_path / "test_images"
    folder.mkdir()
    for name in ("img2.jpg", "img3.png"):
        shutil.copy(polyp_model["root"] / "raw" / name, folder / name)
    zips = []
    for run in ("a", "b"):
        package_entry(["mediaeval2020", "--checkpoint", str(polyp_model["checkpoint"]), "--onnx", str(polyp_model["onnx"]), "--images-dir", str(folder), "--threads", "1", "--out", str(tmp_path / run / "task1.zip"), "--out-task2", str(tmp_path / run / "task2")])
        zips.append((tmp_path / run / "task1.zip").read_bytes())
    assert zips[0] == zips[1]
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
        package_mediaeval(polyp_model["checkpoint"], polyp_model["onnx"], tmp_path / "t1.zip", tmp_path / "t2", **kwargs)


def test_duplicate_file_names_are_refused(polyp_model: dict[str, Path], tmp_path: Path) -> None:
    for group in ("data1", "data2"):
        (tmp_path / "images" / group).mkdir(parents=True)
        shutil.copy(polyp_model["root"] / "raw" / "img2.jpg", tmp_path / "images" / group / "same.jpg")
    with pytest.raises(DataError, match="test images share file names \\(same.jpg\\)"):
        package_mediaeval(polyp_model["checkpoint"], polyp_model["onnx"], tmp_path / "t1.zip", tmp_path / "t2", images_dir=tmp_path / "images")
    assert not (tmp_path / "t1.zip").exists()


def test_3d_model_is_refused(polyp_model: dict[str, Path], brain_model: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is a 3D model; this package needs a 2D \\(polyp\\) model"):
        package_mediaeval(brain_model["checkpoint"], brain_model["onnx"], tmp_path / "t1.zip", tmp_path / "t2", manifest=polyp_model["manifest"], split=polyp_model["split"], subset="val")
