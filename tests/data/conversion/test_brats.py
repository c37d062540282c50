"""Tests of kdseg.data.conversion.brats: 2018-2021 and 2023 naming, grade folders, missing files."""

from __future__ import annotations

from pathlib import Path

from kdseg.data.conversion import brats


def touch(root: Path, *names: str) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).touch()


def test_2021_naming_in_grade_folders(tmp_path):
    case = "Brats18_2013_2_1"
    touch(tmp_path, *(f"HGG/{case}/{case}_{part}.nii.gz" for part in ("flair", "t1", "t1ce", "t2", "seg")), "LGG/notes/readme.txt")
    assert brats.is_release_root(tmp_path)
    (sample,) = brats.find_samples(tmp_path, {})
    folder = tmp_path / "HGG" / case
    assert sample.id == sample.group == case
    assert sample.images == tuple(folder / f"{case}_{m}.nii.gz" for m in ("flair", "t1", "t1ce", "t2"))
    assert (sample.modalities, sample.label, sample.label_convention) == (("flair", "t1", "t1ce", "t2"), folder / f"{case}_seg.nii.gz", "brats")


def test_2023_naming_nii_files_and_missing_label(tmp_path):
    case = "BraTS-GLI-00001-000"
    touch(tmp_path, *(f"{case}/{case}-{part}.nii" for part in ("t2f", "t1n", "t1c", "t2w")))
    (sample,) = brats.find_samples(tmp_path, {})
    assert [p.name for p in sample.images] == [f"{case}-{p}.nii" for p in ("t2f", "t1n", "t1c", "t2w")]
    assert sample.label == tmp_path / case / f"{case}-seg.nii.gz" and sample.label_convention == "brats2023"


def test_folders_without_case_files_are_not_cases(tmp_path):
    touch(tmp_path, "docs/readme.txt", "BraTS2021_00000/other_flair.nii.gz")
    assert not brats.is_release_root(tmp_path)
    assert brats.find_samples(tmp_path, {}) == []
