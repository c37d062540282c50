"""BraTS package: label maps in the configured convention with the input's shape and affine."""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from kdseg.data.volumes import load_case, regions_to_labels, write_nifti
from kdseg.engine.checkpoint import load_model
from kdseg.engine.data import zscore_nonzero
from kdseg.engine.inference import predict_volume
from kdseg.submit.brats import package_brats
from kdseg.submit.entrypoints import package_entry
from kdseg.submit.validate import read_members
from kdseg.utils.errors import ConfigError, DataError
from tests.export._helpers import AFFINE, brain_case, brain_model  # noqa: F401  (fixture)


def _read(data: bytes) -> nib.Nifti1Image:
    return nib.Nifti1Image.from_bytes(gzip.decompress(data))


@pytest.mark.parametrize(("labels", "convention"), [("brats2021", "brats"), ("brats2023", "brats2023")])
def test_package_from_split(labels: str, convention: str, brain_model: dict[str, Path], tmp_path: Path) -> None:
    summary = package_brats(brain_model["checkpoint"], brain_model["onnx"], tmp_path / "b.zip", labels=labels, manifest=brain_model["manifest"], split=brain_model["split"], subset="val")
    assert summary == {"cases": 2, "labels": labels, "out": str(tmp_path / "b.zip")}
    members = read_members(tmp_path / "b.zip")
    assert sorted(members) == ["case1.nii.gz", "case2.nii.gz"]
    model, meta = load_model(brain_model["checkpoint"])
    volume, affine = load_case(f"{brain_model['root']}/raw/case1/flair.nii.gz;{brain_model['root']}/raw/case1/t1c.nii.gz")
    label_map = _read(members["case1.nii.gz"])
    assert label_map.shape == (24, 24, 16)
    np.testing.assert_allclose(label_map.affine, AFFINE)
    expected = regions_to_labels(predict_volume(model, zscore_nonzero(volume), meta["size"]) >= 0.5, convention)
    np.testing.assert_array_equal(np.asanyarray(label_map.dataobj), expected)


def test_package_from_case_folders_is_reproducible(brain_model: dict[str, Path], tmp_path: Path, restore_logging: None) -> None:
    for case in ("BraTS2021_00001", "BraTS2021_00002"):
        flair, t1c, _ = brain_case(int(case[-1]))
        for modality, volume in (("flair", flair), ("t1", flair * 0.5), ("t1ce", t1c), ("t2", flair * 2)):
            write_nifti(tmp_path / "validation" / case / f"{case}_{modality}.nii.gz", volume, AFFINE)
    zips = []
    for run in ("a", "b"):
        package_entry(["brats", "--checkpoint", str(brain_model["checkpoint"]), "--onnx", str(brain_model["onnx"]), "--images-dir", str(tmp_path / "validation"), "--labels", "brats2021", "--out", str(tmp_path / f"{run}.zip")])
        zips.append((tmp_path / f"{run}.zip").read_bytes())
    assert zips[0] == zips[1]
    members = read_members(zips[0])
    assert sorted(members) == ["BraTS2021_00001.nii.gz", "BraTS2021_00002.nii.gz"]
    assert set(np.unique(np.asanyarray(_read(members["BraTS2021_00001.nii.gz"]).dataobj))) <= {0, 1, 2, 4}


def test_case_without_a_trained_modality_is_refused(brain_model: dict[str, Path], tmp_path: Path) -> None:
    flair, _, _ = brain_case(0)
    case = tmp_path / "validation" / "BraTS2021_00001"
    write_nifti(case / "BraTS2021_00001_flair.nii.gz", flair, AFFINE)
    with pytest.raises(DataError, match="BraTS2021_00001 lacks the modalities \\['t1ce'\\] the model was trained on \\(flair, t1ce\\)"):
        package_brats(brain_model["checkpoint"], brain_model["onnx"], tmp_path / "b.zip", images_dir=tmp_path / "validation")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"labels": "brats-2021", "images_dir": "."}, ConfigError, "Unknown BraTS label convention 'brats-2021'; allowed: 'brats2021', 'brats2023'. Did you mean 'brats2021'"),
        ({"images_dir": "nowhere"}, DataError, "test case folder nowhere does not exist"),
        ({"images_dir": "."}, DataError, "no BraTS case folders in \\."),
    ],
)
def test_package_errors(kwargs: dict, error: type, message: str, brain_model: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(error, match=message):
        package_brats(brain_model["checkpoint"], brain_model["onnx"], tmp_path / "b.zip", **kwargs)


def test_2d_model_is_refused(brain_model: dict[str, Path], tmp_path: Path) -> None:
    from tests.export._helpers import save_tiny_checkpoint

    checkpoint = save_tiny_checkpoint(tmp_path / "unet.pt", "unet")
    with pytest.raises(DataError, match="is not a 3D model; the BraTS package needs the brain model"):
        package_brats(checkpoint, brain_model["onnx"], tmp_path / "b.zip", images_dir=tmp_path)
