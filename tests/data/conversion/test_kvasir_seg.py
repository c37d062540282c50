"""Tests of kdseg.data.conversion.kvasir_seg: release detection and image/mask pairing (empty files)."""

from __future__ import annotations

from pathlib import Path

from kdseg.data.conversion import kvasir_seg
from kdseg.data.ingest import ImageSample


def touch(root: Path, *names: str) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).touch()


def test_pairs_images_with_masks(tmp_path):
    touch(tmp_path, "images/b.jpg", "images/a.jpg", "masks/a.jpg", "masks/b.jpg", "kavsir_bboxes.json", "images/._a.jpg", "masks/.DS_Store")
    assert kvasir_seg.is_release_root(tmp_path)
    assert kvasir_seg.find_samples(tmp_path, {}) == [
        ImageSample("a", tmp_path / "images/a.jpg", tmp_path / "masks/a.jpg", group="a"),
        ImageSample("b", tmp_path / "images/b.jpg", tmp_path / "masks/b.jpg", group="b"),
    ]


def test_missing_mask_is_the_expected_path(tmp_path):
    touch(tmp_path, "images/a.jpg", "masks/other.jpg")
    (sample,) = kvasir_seg.find_samples(tmp_path, {})
    assert sample.mask == tmp_path / "masks/a.jpg" and not sample.mask.exists()


def test_release_root_needs_both_folders(tmp_path):
    touch(tmp_path, "images/a.jpg")
    assert not kvasir_seg.is_release_root(tmp_path)
