"""EndoCV package: the organisers' layout, lossless <stem>_mask.jpg masks, their timing files, and their evaluator's reading."""

from __future__ import annotations

import io
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from kdseg.data.images import read_rgb
from kdseg.engine.checkpoint import load_model
from kdseg.engine.evaluate import evaluate
from kdseg.engine.inference import predict_image
from kdseg.submit.endocv import endocv_timing_text, package_endocv
from kdseg.submit.entrypoints import package_entry
from kdseg.submit.validate import read_members
from kdseg.utils.errors import DataError
from tests.export._helpers import exported, make_polyp_data, polyp_model  # noqa: F401  (fixture)
from tests.submit import _organisers as organisers


def _pred(subset: str, name: str) -> str:
    return f"EndoCV2021/segmentation/{subset}_pred/{name}"


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
    sources = {_pred("data1", "img0_mask.jpg"): "img0.jpg", _pred("data1", "img1_mask.jpg"): "img1.png", _pred("data2", "img2_mask.jpg"): "img2.jpg", _pred("test", "img3_mask.jpg"): "img3.png"}
    timings = [_pred(s, f"timeElaspsed{s}.txt") for s in ("data1", "data2", "test")]
    assert sorted(members) == sorted([*sources, *timings, "README.txt"])
    model, meta = load_model(polyp_model["checkpoint"])
    for name, source in sources.items():
        with Image.open(io.BytesIO(members[name])) as image:
            values = np.asarray(image)
        truth = predict_image(model, meta, read_rgb(raw / source)) >= 0.5
        np.testing.assert_array_equal(values > 0, truth)
        assert set(np.unique(values)) <= {0, 255}
    lines = members[_pred("data1", "timeElaspseddata1.txt")].decode().splitlines(keepends=True)
    assert [line.split(" -----> ")[0] for line in lines] == ["img0", "img1", "average_t"]
    assert all(re.fullmatch(r"\S+ -----> \d+\.\d+(e-\d+)? \n", line) for line in lines)
    times = [float(line.split(" -----> ")[1]) for line in lines]
    assert times[2] == pytest.approx((times[0] + times[1]) / 2)
    readme = members["README.txt"].decode()
    assert "python compute_seg.py --GT_maskDIR <ground truth of data2> --Eval_maskDIR eval/data2 --testType data2" in readme


def test_organisers_evaluator_reads_our_dice(polyp_model: dict[str, Path], tmp_path: Path) -> None:
    """compute_seg.py's rules, applied to the zip as its README says, give our evaluation's Dice."""
    package_endocv(polyp_model["checkpoint"], polyp_model["onnx"], tmp_path / "e.zip", manifest=polyp_model["manifest"], split=polyp_model["split"], subset="val")
    ours = evaluate(polyp_model["checkpoint"], polyp_model["manifest"], polyp_model["split"], "val", tmp_path / "m.json", tmp_path / "m.csv", tmp_path / "pred")
    with zipfile.ZipFile(tmp_path / "e.zip") as archive:
        archive.extractall(tmp_path / "package")
    # the README's recipe: the subset's masks in <dir>/semantic_masks/
    flat = tmp_path / "eval" / "val" / "semantic_masks"
    flat.mkdir(parents=True)
    for mask in (tmp_path / "package" / "EndoCV2021" / "segmentation" / "val_pred").glob("*_mask.jpg"):
        shutil.copy(mask, flat / mask.name)
    # the organisers' ground truth: <image stem>.jpg, lossless so both sides read the same truth
    truth = tmp_path / "gt"
    truth.mkdir()
    for row in pd.read_csv(polyp_model["manifest"]).itertuples():
        shutil.copy(row.mask, truth / f"{row.id}.jpg")
    dice, count = organisers.endocv_mean_dice(flat.parent, truth)
    assert count == ours["cases"] == 4
    assert dice == pytest.approx(ours["metrics"]["dsc"], abs=1e-6)


def test_split_subsets_are_centres(tmp_path: Path) -> None:
    data = make_polyp_data(tmp_path, centres=["C1", "C1", "C1", "", "C2", "C2"])
    model = exported(tmp_path, "unet", data)
    summary = package_endocv(model["checkpoint"], model["onnx"], tmp_path / "e.zip", manifest=data["manifest"], split=data["split"], subset="val")
    assert summary["images"] == {"C1": 1, "C2": 2, "val": 1}
    masks = sorted(name for name in read_members(tmp_path / "e.zip") if name.endswith(".jpg"))
    assert masks == [_pred("C1", "img2_mask.jpg"), _pred("C2", "img4_mask.jpg"), _pred("C2", "img5_mask.jpg"), _pred("val", "img3_mask.jpg")]


def test_same_stem_in_one_subset_is_refused(polyp_model: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "test").mkdir()
    shutil.copy(polyp_model["root"] / "raw" / "img0.jpg", tmp_path / "test" / "x.jpg")
    shutil.copy(polyp_model["root"] / "raw" / "img1.png", tmp_path / "test" / "x.png")
    with pytest.raises(DataError, match="share a file stem \\(EndoCV2021/segmentation/test_pred/x_mask.jpg\\)"):
        package_endocv(polyp_model["checkpoint"], polyp_model["onnx"], tmp_path / "e.zip", images_dir=tmp_path / "test")


def test_empty_folder_is_refused(polyp_model: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "test" / "data1").mkdir(parents=True)
    with pytest.raises(DataError, match="no test images in .*test or its sub-folders"):
        package_endocv(polyp_model["checkpoint"], polyp_model["onnx"], tmp_path / "e.zip", images_dir=tmp_path / "test")


def test_timing_text() -> None:
    assert endocv_timing_text([("a", 2.5), ("b", 0.5)]) == "a -----> 2.5 \nb -----> 0.5 \naverage_t -----> 1.5 \n"
