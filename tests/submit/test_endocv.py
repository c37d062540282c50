"""EndoCV package: subset folders, <stem>_mask.jpg masks that threshold cleanly, the timing file."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kdseg.data.images import read_rgb
from kdseg.engine.checkpoint import load_model
from kdseg.engine.inference import predict_image
from kdseg.submit.endocv import mask_name, package_endocv
from kdseg.submit.entrypoints import package_entry
from kdseg.submit.validate import check_timing, read_members
from kdseg.utils.errors import DataError
from tests.export._helpers import exported, make_polyp_data, polyp_model  # noqa: F401  (fixture)


def test_package_from_challenge_folders(polyp_model: dict[str, Path], tmp_path: Path, restore_logging: None) -> None:
    raw = polyp_model["root"] / "raw"
    layout = {"data1": ["img0.jpg", "img1.png"], "data2": ["img2.jpg"], ".": ["img3.png"]}
    for group, names in layout.items():
        (tmp_path / "test" / group).mkdir(parents=True, exist_ok=True)
        for name in names:
            shutil.copy(raw / name, tmp_path / "test" / group / name)
    package_entry(["endocv2022", "--checkpoint", str(polyp_model["checkpoint"]), "--onnx", str(polyp_model["onnx"]), "--images-dir", str(tmp_path / "test"), "--out", str(tmp_path / "endocv.zip")])

    members = read_members(tmp_path / "endocv.zip")
    # images directly in the folder form a subset named after it
    sources = {"data1/img0_mask.jpg": "img0.jpg", "data1/img1_mask.jpg": "img1.png", "data2/img2_mask.jpg": "img2.jpg", "test/img3_mask.jpg": "img3.png"}
    assert sorted(members) == [*sources, "timing.txt"]
    assert check_timing(members["timing.txt"].decode(), list(sources)) == []
    model, meta = load_model(polyp_model["checkpoint"])
    for name, source in sources.items():
        with Image.open(io.BytesIO(members[name])) as image:
            values = np.asarray(image)
        truth = predict_image(model, meta, read_rgb(raw / source)) >= 0.5
        np.testing.assert_array_equal(values > 127, truth)
        assert values[~truth].max(initial=0) <= 1 and values[truth].min(initial=255) >= 254


def test_split_subsets_are_centres(tmp_path: Path) -> None:
    data = make_polyp_data(tmp_path, centres=["C1", "C1", "C1", "", "C2", "C2"])
    model = exported(tmp_path, "unet", data)
    summary = package_endocv(model["checkpoint"], model["onnx"], tmp_path / "e.zip", manifest=data["manifest"], split=data["split"], subset="val")
    assert summary["images"] == {"C1": 1, "C2": 2, "val": 1}
    assert sorted(read_members(tmp_path / "e.zip")) == ["C1/img2_mask.jpg", "C2/img4_mask.jpg", "C2/img5_mask.jpg", "timing.txt", "val/img3_mask.jpg"]


def test_same_stem_in_one_subset_is_refused(polyp_model: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "test").mkdir()
    shutil.copy(polyp_model["root"] / "raw" / "img0.jpg", tmp_path / "test" / "x.jpg")
    shutil.copy(polyp_model["root"] / "raw" / "img1.png", tmp_path / "test" / "x.png")
    with pytest.raises(DataError, match="share a file stem \\(test/x_mask.jpg\\)"):
        package_endocv(polyp_model["checkpoint"], polyp_model["onnx"], tmp_path / "e.zip", images_dir=tmp_path / "test")


def test_empty_folder_is_refused(polyp_model: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "test" / "data1").mkdir(parents=True)
    with pytest.raises(DataError, match="no test images in .*test or its sub-folders"):
        package_endocv(polyp_model["checkpoint"], polyp_model["onnx"], tmp_path / "e.zip", images_dir=tmp_path / "test")


def test_mask_name() -> None:
    assert mask_name("data3", "/x/EndoCV_DATA3_0001.jpg") == "data3/EndoCV_DATA3_0001_mask.jpg"
