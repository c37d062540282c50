"""Tests of kdseg.data.conversion.cvc (CVC-ClinicDB, CVC-ColonDB) and etis_larib: a synthetic release in
each layout is found, paired and ingested, TIFF frames and masks included."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kdseg.data.conversion import cvc, etis_larib
from kdseg.data.images import read_mask, read_rgb
from kdseg.data.ingest import ImageSample, ingest
from kdseg.data.split import make_split
from kdseg.data.synthetic import CVC_TOP, ETIS_TOP, write_cvc, write_etis_larib


def touch(root: Path, *names: str) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).touch()


def test_cvc_pairs_frames_with_masks_of_the_same_stem(tmp_path):
    touch(tmp_path, "Original/2.tif", "Original/1.tif", "Ground Truth/1.tif", "Ground Truth/2.tif", "Original/.DS_Store")
    assert cvc.is_release_root(tmp_path)
    assert cvc.find_samples(tmp_path, {}) == [
        ImageSample("1", tmp_path / "Original/1.tif", tmp_path / "Ground Truth/1.tif", group="1"),
        ImageSample("2", tmp_path / "Original/2.tif", tmp_path / "Ground Truth/2.tif", group="2"),
    ]


def test_cvc_ground_truth_folder_without_space(tmp_path):
    touch(tmp_path, "Original/1.png", "GroundTruth/1.png")
    assert cvc.is_release_root(tmp_path)
    (sample,) = cvc.find_samples(tmp_path, {})
    assert sample.mask == tmp_path / "GroundTruth/1.png"


def test_cvc_needs_both_folders(tmp_path):
    touch(tmp_path, "Original/1.tif")
    assert not cvc.is_release_root(tmp_path)


def test_etis_masks_carry_a_p(tmp_path):
    touch(tmp_path, "ETIS-LaribPolypDB/1.tif", "ETIS-LaribPolypDB/2.tif", "Ground Truth/p1.tif", "Ground Truth/2.tif")
    assert etis_larib.is_release_root(tmp_path)
    assert [(s.id, s.mask.name) for s in etis_larib.find_samples(tmp_path, {})] == [("1", "p1.tif"), ("2", "2.tif")]


def test_etis_missing_mask_is_the_p_name(tmp_path):
    touch(tmp_path, "ETIS-LaribPolypDB/7.tif", "GroundTruth/p1.tif")
    (sample,) = etis_larib.find_samples(tmp_path, {})
    assert sample.mask == tmp_path / "GroundTruth/p7.tif" and not sample.mask.exists()


@pytest.mark.parametrize(("layout", "write", "top", "masks"), [("cvc", write_cvc, CVC_TOP, "Ground Truth/{}.tif"), ("etis_larib", write_etis_larib, ETIS_TOP, "Ground Truth/p{}.tif")])
def test_synthetic_release_ingests(layout, write, top, masks, tmp_path):
    write(tmp_path / "data", 7, seed=0)
    manifest = ingest(layout, tmp_path / "data", tmp_path / "manifest.csv", tmp_path / "bad.csv")
    assert sorted(manifest["id"], key=int) == [str(n) for n in range(1, 8)]
    assert pd.read_csv(tmp_path / "bad.csv").empty
    row = manifest.set_index("id").loc["3"]
    assert Path(row["mask"]) == tmp_path / "data" / top / masks.format(3)
    image, mask = read_rgb(row["image"]), read_mask(row["mask"])
    assert image.shape[:2] == mask.shape == (row["height"], row["width"])
    assert 0 < np.count_nonzero(mask) < mask.size and row["mask_fixed_pixels"] == 0  # TIFF masks are exact 0/255


def test_cvc_videos_stay_whole_with_a_groups_file(tmp_path):
    """The demo's frames come in videos of three; a groups file keeps each video in one subset."""
    write_cvc(tmp_path / "data", 12, seed=0)
    ingest("cvc", tmp_path / "data", tmp_path / "manifest.csv", tmp_path / "bad.csv")
    groups = pd.DataFrame({"id": [str(n) for n in range(1, 13)], "group": [f"video{(n - 1) // 3}" for n in range(1, 13)]})
    groups.to_csv(tmp_path / "groups.csv", index=False)
    split = make_split(tmp_path / "manifest.csv", {"method": "ratio", "ratios": {"train": 0.75, "val": 0.25}}, {}, 0, tmp_path / "split.csv", groups=tmp_path / "groups.csv")
    merged = split.merge(groups, on="id")
    assert merged.groupby("group")["subset"].nunique().max() == 1
    assert split["subset"].value_counts().to_dict() == {"train": 9, "val": 3}
