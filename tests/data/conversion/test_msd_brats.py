"""Tests of kdseg.data.conversion.msd_brats: training cases only, macOS files skipped."""

from __future__ import annotations

from kdseg.data.conversion import msd_brats
from kdseg.data.ingest import VolumeSample


def test_training_cases(tmp_path, caplog):
    for name in ("imagesTr/BRATS_002.nii.gz", "imagesTr/BRATS_001.nii.gz", "imagesTr/._BRATS_001.nii.gz", "labelsTr/BRATS_001.nii.gz",
                 "labelsTr/._BRATS_001.nii.gz", "labelsTr/BRATS_900.nii.gz", "imagesTs/BRATS_485.nii.gz", "dataset.json"):  # fmt: skip
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    assert msd_brats.is_release_root(tmp_path)
    with caplog.at_level("INFO"):
        samples = msd_brats.find_samples(tmp_path, {})
    assert samples == [
        VolumeSample(f"BRATS_00{n}", (tmp_path / f"imagesTr/BRATS_00{n}.nii.gz",), ("flair", "t1", "t1ce", "t2"),
                     tmp_path / f"labelsTr/BRATS_00{n}.nii.gz", "msd", f"BRATS_00{n}")  # fmt: skip
        for n in (1, 2)
    ]
    assert samples[0].is_4d
    assert "1 label map(s)" in caplog.text and "BRATS_900" in caplog.text
    assert "left out 1 unlabelled case(s)" in caplog.text
