"""Atomic writers: a full disk becomes one clear error and the previous output stays."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import pytest
import torch

import kdseg.utils.io as io_module
from kdseg.engine.checkpoint import save_state
from kdseg.utils.errors import DiskFullError
from kdseg.utils.io import atomic_directory, format_bytes, write_bytes


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """The device fills up when a file's content is forced to disk (where a full disk shows on most file systems)."""

    def fsync(_fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(io_module.os, "fsync", fsync)


@pytest.mark.usefixtures("full_disk")
def test_full_disk_keeps_the_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "package.zip"
    target.write_bytes(b"previous package")
    with pytest.raises(DiskFullError, match=rf"No space left on the device of {re.escape(str(tmp_path))} while writing {re.escape(str(target))}: it needs at least 3\.0 MB, and .* is free there\. The previous {re.escape(str(target))} is kept\. Free space"):
        write_bytes(target, bytes(3 * 10**6))
    assert target.read_bytes() == b"previous package"
    assert [p.name for p in tmp_path.iterdir()] == ["package.zip"]  # the temporary file is gone


@pytest.mark.usefixtures("full_disk")
def test_full_disk_while_saving_a_checkpoint_names_it(tmp_path: Path) -> None:
    target = tmp_path / "state" / "latest.pt"
    with pytest.raises(DiskFullError, match=rf"while writing {re.escape(str(target))}: it needs at least .* Nothing was written to {re.escape(str(target))}\."):
        save_state(target, {"weights": torch.zeros(1000)})
    assert list(target.parent.iterdir()) == []


def test_other_write_errors_stay_what_they_are(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fsync(_fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(io_module.os, "fsync", fsync)
    with pytest.raises(OSError, match="Input/output error") as caught:
        write_bytes(tmp_path / "a.bin", b"x")
    assert not isinstance(caught.value, DiskFullError)


def test_full_disk_in_a_folder_keeps_the_previous_folder(tmp_path: Path) -> None:
    target = tmp_path / "augmented"
    (target / "images").mkdir(parents=True)
    (target / "images" / "a.png").write_bytes(b"previous")
    with pytest.raises(DiskFullError, match=r"it needs at least 5\.0 kB, .* The previous .*augmented is kept"):
        with atomic_directory(target) as staging:
            (staging / "b.png").write_bytes(bytes(5000))
            raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))
    assert [p.relative_to(target).as_posix() for p in target.rglob("*")] == ["images", "images/a.png"]
    assert [p.name for p in tmp_path.iterdir()] == ["augmented"]


@pytest.mark.parametrize(("count", "text"), [(0, "0 B"), (999, "999 B"), (46_000_000, "46.0 MB"), (7_100_000_000, "7.1 GB"), (999_999_488, "1.0 GB"), (2 * 10**13, "20.0 TB")])
def test_format_bytes(count: int, text: str) -> None:
    assert format_bytes(count) == text
