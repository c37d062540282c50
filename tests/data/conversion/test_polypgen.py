"""Tests of kdseg.data.conversion.polypgen: ids, groups, the trailing-underscore mask name, negatives."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdseg.data.conversion import polypgen
from kdseg.data.ingest import ImageSample
from kdseg.utils.errors import DataError

RELEASE_FILES = (
    "data_C1/images_C1/100H0050.jpg",
    "data_C1/masks_C1/100H0050_mask.jpg",
    "data_C1/bbox_C1/100H0050_mask.txt",
    "data_C3/images_C3/C3_EndoCV2021_00489_.jpg",  # real naming slip: the mask drops the trailing underscore
    "data_C3/masks_C3/C3_EndoCV2021_00489_mask.jpg",
    "data_C3/images_C3/C3_EndoCV2021_001.jpg",
    "data_C3/masks_C3/C3_EndoCV2021_001_mask.jpg",
    "data_C3/images_C3/.DS_Store",
    "sequenceData/positive/seq3/images_seq3/2_endocv2021_positive_1059.jpg",
    "sequenceData/positive/seq3/masks_seq3/2_endocv2021_positive_1059_mask.jpg",
    "sequenceData/positive/seq3/masks_seq3/2_endocv2021_positive_1059.txt",  # stray bbox file, as in the release
    "sequenceData/positive/seq3/bbox_image_seq3/2_endocv2021_positive_1059_bbox.jpg",
    "sequenceData/negativeOnly/seq1_neg/0_endocv2021_negative_100.jpg",
    "imagesAll_positive/100H0050.jpg",
)


@pytest.fixture
def release(tmp_path: Path) -> Path:
    for name in RELEASE_FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    return tmp_path


def test_samples(release):
    c1, c3 = release / "data_C1", release / "data_C3"
    seq3 = release / "sequenceData/positive/seq3"
    assert polypgen.is_release_root(release)
    assert polypgen.find_samples(release, {"include_negative": False}) == [
        ImageSample("C1_100H0050", c1 / "images_C1/100H0050.jpg", c1 / "masks_C1/100H0050_mask.jpg", centre="C1", group="C1/100H0050"),
        ImageSample("C3_EndoCV2021_001", c3 / "images_C3/C3_EndoCV2021_001.jpg", c3 / "masks_C3/C3_EndoCV2021_001_mask.jpg", centre="C3", group="C3/C3_EndoCV2021_001"),
        ImageSample(
            "C3_EndoCV2021_00489_", c3 / "images_C3/C3_EndoCV2021_00489_.jpg", c3 / "masks_C3/C3_EndoCV2021_00489_mask.jpg",
            centre="C3", group="C3/C3_EndoCV2021_00489_",
        ),
        ImageSample(
            "seq3_2_endocv2021_positive_1059", seq3 / "images_seq3/2_endocv2021_positive_1059.jpg",
            seq3 / "masks_seq3/2_endocv2021_positive_1059_mask.jpg", sequence="seq3", group="seq3",
        ),
    ]  # fmt: skip


def test_negatives_on_request(release, caplog):
    with caplog.at_level("INFO"):
        assert len(polypgen.find_samples(release, {"include_negative": False})) == 4
    assert "left out 1 negative frame(s)" in caplog.text
    negative = polypgen.find_samples(release, {"include_negative": True})[-1]
    assert negative == ImageSample(
        "seq1_neg_0_endocv2021_negative_100", release / "sequenceData/negativeOnly/seq1_neg/0_endocv2021_negative_100.jpg", None,
        sequence="seq1_neg", group="seq1_neg",
    )  # fmt: skip


def test_centre_without_images_folder(release):
    (release / "data_C2" / "masks_C2").mkdir(parents=True)
    with pytest.raises(DataError, match=r"data_C2 has no images_C2/ folder"):
        polypgen.find_samples(release, {"include_negative": False})


def test_not_a_release(tmp_path):
    (tmp_path / "data_X").mkdir()
    assert not polypgen.is_release_root(tmp_path)
