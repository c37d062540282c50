"""Tests of kdseg.data.conversion.brats2015_deepmedic: case discovery, and the 6 real BRATS 2015 cases."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from kdseg.data.conversion import brats2015_deepmedic
from kdseg.data.ingest import ingest

SHARED_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
REAL_CASES = [f"brats_2013_pat000{n}_1" for n in range(1, 7)]


def test_cases_flat_or_in_split_folders(tmp_path):
    for name in ("train/case_a/Flair_subtrMeanDivStd.nii.gz", "train/case_a/T1c_subtrMeanDivStd.nii.gz", "train/case_a/OTMultiClass.nii.gz",
                 "case_b/Flair_subtrMeanDivStd.nii.gz", "case_b/brainmask.nii.gz", "ORIGINAL_SPLIT.txt"):  # fmt: skip
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    samples = brats2015_deepmedic.find_samples(tmp_path, {})
    assert [s.id for s in samples] == ["case_b", "case_a"]  # sorted by path: case_b/ before train/
    assert samples[0].images == (tmp_path / "case_b/Flair_subtrMeanDivStd.nii.gz", tmp_path / "case_b/T1c_subtrMeanDivStd.nii.gz")
    assert samples[0].label == tmp_path / "case_b/OTMultiClass.nii.gz"
    assert (samples[1].modalities, samples[1].label_convention) == (("flair", "t1ce"), "brats2015")


@pytest.fixture
def deepmedic_data() -> Path:
    folder = SHARED_DATA / "brats" / "deepmedic-brats2015-3d"
    if not folder.is_dir():
        pytest.skip(f"real data not present: {folder}")
    return folder


@pytest.mark.real_data
def test_real_brats2015_cases(deepmedic_data, tmp_path):
    manifest = ingest("brats2015_deepmedic", deepmedic_data, tmp_path / "manifest.csv", tmp_path / "bad.csv", threads=2)
    assert manifest["id"].tolist() == REAL_CASES
    assert set(manifest["shape"]) == {"240x240x155"} and set(manifest["spacing"]) == {"1x1x1"}
    assert set(manifest["modalities"]) == {"flair,t1ce"} and set(manifest["label_convention"]) == {"brats2015"}
    assert pd.read_csv(tmp_path / "bad.csv").empty
