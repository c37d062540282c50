"""Tests of kdseg.data.archive: formats, the safety rules, atomic replacement and damaged archives."""

from __future__ import annotations

import collections
import errno
import hashlib
import io
import random
import re
import stat
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

import kdseg.data.archive as archive_module
from kdseg.data.archive import extract_archive
from kdseg.data.entrypoints import extract_entry
from kdseg.utils.errors import ChecksumError, DataError, DiskFullError, UnsafeArchiveError

GOOD_FILES = {
    "Kvasir-SEG/images/cju0qkwl35piu0993l0dewei2.jpg": b"image bytes",
    "Kvasir-SEG/masks/cju0qkwl35piu0993l0dewei2.jpg": b"mask bytes",
    "Kvasir-SEG/kavsir_bboxes.json": b"{}",
}


def _tar_entry(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", linkname: str = "") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname = kind, len(data), linkname
    return info, data


def write_tar(path: Path, entries: list[tuple[tarfile.TarInfo, bytes]], mode: str = "w:gz") -> Path:
    """A tar whose members are written exactly as given (tarfile.add would clean the names)."""
    with tarfile.open(path, mode) as bundle:
        for info, data in entries:
            bundle.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return path


def write_zip(path: Path, entries: list[tuple[zipfile.ZipInfo, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w") as bundle:
        for info, data in entries:
            bundle.writestr(info, data)
    return path


def _zip_entry(name: str, data: bytes = b"", mode: int = stat.S_IFREG | 0o644) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # Unix, so external_attr holds a Unix mode
    info.external_attr = mode << 16
    return info, data


def good_tar_entries() -> list[tuple[tarfile.TarInfo, bytes]]:
    return [_tar_entry("Kvasir-SEG", tarfile.DIRTYPE)] + [_tar_entry(name, data=data) for name, data in GOOD_FILES.items()]


def good_zip_entries() -> list[tuple[zipfile.ZipInfo, bytes]]:
    return [_zip_entry(name, data) for name, data in GOOD_FILES.items()]


def shutil_usage(free: int) -> tuple[int, int, int]:
    """What shutil.disk_usage returns for a device with ``free`` bytes left."""
    return collections.namedtuple("usage", "total used free")(10**12, 10**12 - free, free)


def read_tree(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


# ------------------------------------------------------------------------------------------- good archives
ARCHIVE_WRITERS: list[tuple[str, Callable[[Path], Path]]] = [
    ("data.zip", lambda path: write_zip(path, good_zip_entries())),
    ("data.tar", lambda path: write_tar(path, good_tar_entries(), "w")),
    ("data.tar.gz", lambda path: write_tar(path, good_tar_entries(), "w:gz")),
    ("data.tgz", lambda path: write_tar(path, good_tar_entries(), "w:gz")),
    ("data.tar.bz2", lambda path: write_tar(path, good_tar_entries(), "w:bz2")),
    ("data.tar.xz", lambda path: write_tar(path, good_tar_entries(), "w:xz")),
    ("download.bin", lambda path: write_tar(path, good_tar_entries(), "w:xz")),  # recognised by content
    ("download", lambda path: write_zip(path, good_zip_entries())),
]


@pytest.mark.parametrize(("name", "writer"), ARCHIVE_WRITERS)
def test_extracts_supported_formats(tmp_path: Path, name: str, writer: Callable[[Path], Path]) -> None:
    archive = writer(tmp_path / name)
    out = tmp_path / "datasets" / "kvasir_seg"
    assert extract_archive(archive, out) == out
    assert read_tree(out) == GOOD_FILES
    assert sorted(p.name for p in out.parent.iterdir()) == ["kvasir_seg"]  # no staging folder left behind


def test_checksum_is_verified(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "data.zip", good_zip_entries())
    sha256 = hashlib.sha256(archive.read_bytes()).hexdigest()
    extract_archive(archive, tmp_path / "out", checksum=f"sha256:{sha256}")
    assert read_tree(tmp_path / "out") == GOOD_FILES
    with pytest.raises(ChecksumError, match=rf"{archive}: expected md5:0{{32}}, got md5:[0-9a-f]{{32}}.*delete it"):
        extract_archive(archive, tmp_path / "other", checksum="md5:" + "0" * 32)
    assert not (tmp_path / "other").exists()


def test_existing_out_is_replaced(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "old").mkdir(parents=True)
    (out / "old" / "stale.txt").write_text("from an earlier release")
    extract_archive(write_tar(tmp_path / "data.tar.gz", good_tar_entries()), out)
    assert read_tree(out) == GOOD_FILES
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.tar.gz", "out"]


# ------------------------------------------------------------------------------------------- unsafe archives
UNSAFE_CASES = [
    ("tar", _tar_entry("/etc/evil.txt", data=b"x"), "is an absolute path"),
    ("tar", _tar_entry("C:/evil.txt", data=b"x"), "starts with a drive letter"),
    ("tar", _tar_entry("../escape.txt", data=b"x"), "has a '..' component"),
    ("tar", _tar_entry("Kvasir-SEG/../../escape.txt", data=b"x"), "has a '..' component"),
    ("tar", _tar_entry("Kvasir-SEG/link", tarfile.SYMTYPE, linkname="/etc/passwd"), "is a symbolic link \\(to '/etc/passwd'\\)"),
    ("tar", _tar_entry("Kvasir-SEG/hard", tarfile.LNKTYPE, linkname="Kvasir-SEG/kavsir_bboxes.json"), "is a hard link"),
    ("tar", _tar_entry("Kvasir-SEG/null", tarfile.CHRTYPE), "is a device or FIFO file"),
    ("tar", _tar_entry("Kvasir-SEG/pipe", tarfile.FIFOTYPE), "is a device or FIFO file"),
    ("zip", _zip_entry("/etc/evil.txt", b"x"), "is an absolute path"),
    ("zip", _zip_entry("\\\\server\\evil.txt", b"x"), "is an absolute path"),
    ("zip", _zip_entry("C:\\evil.txt", b"x"), "starts with a drive letter"),
    ("zip", _zip_entry("Kvasir-SEG\\..\\..\\escape.txt", b"x"), "has a '..' component"),
    ("zip", _zip_entry("Kvasir-SEG/link", b"/etc/passwd", stat.S_IFLNK | 0o777), "is a symbolic link \\(its external attributes"),
    ("zip", _zip_entry("Kvasir-SEG/pipe", b"", stat.S_IFIFO | 0o644), "is a device or FIFO file"),
]


@pytest.mark.parametrize(("archive_format", "bad_entry", "rule"), UNSAFE_CASES)
def test_refuses_unsafe_members(tmp_path: Path, archive_format: str, bad_entry: tuple, rule: str) -> None:
    # The bad member comes last: the good ones before it must not be written either.
    if archive_format == "tar":
        archive = write_tar(tmp_path / "data.tar.gz", good_tar_entries() + [bad_entry])
    else:
        archive = write_zip(tmp_path / "data.zip", good_zip_entries() + [bad_entry])
    member = bad_entry[0].name if archive_format == "tar" else bad_entry[0].filename
    with pytest.raises(UnsafeArchiveError, match=rf"Refusing to extract {archive}: member {re.escape(repr(member))} {rule}.*Nothing was extracted"):
        extract_archive(archive, tmp_path / "out")
    assert [p.name for p in tmp_path.iterdir()] == [archive.name]


def test_refusal_keeps_existing_out(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "kept.txt").write_text("previous extraction")
    archive = write_tar(tmp_path / "data.tar", good_tar_entries() + [_tar_entry("../escape.txt", data=b"x")], "w")
    with pytest.raises(UnsafeArchiveError, match="'../escape.txt' has a '..' component"):
        extract_archive(archive, out)
    assert read_tree(out) == {"kept.txt": b"previous extraction"}


def test_data_filter_is_second_line_of_defence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive_module, "_check_tar_member", lambda archive, member: None)
    archive = write_tar(tmp_path / "data.tar.gz", good_tar_entries() + [_tar_entry("../escape.txt", data=b"x")])
    with pytest.raises(UnsafeArchiveError, match="member '../escape.txt' was refused by tarfile's 'data' filter"):
        extract_archive(archive, tmp_path / "out")
    assert [p.name for p in tmp_path.iterdir()] == ["data.tar.gz"]


# ------------------------------------------------------------------------------------------- damaged or missing archives
def _truncated_tar_gz(path: Path) -> Path:
    full = write_tar(path, good_tar_entries()).read_bytes()
    path.write_bytes(full[: len(full) // 2])
    return path


def _zip_with_bad_crc(path: Path) -> Path:
    data = bytearray(write_zip(path, good_zip_entries()).read_bytes())
    offset = data.index(b"image bytes")
    data[offset : offset + 5] = b"IMAGE"  # same size, different content: the stored CRC-32 no longer matches
    path.write_bytes(bytes(data))
    return path


def _tar_bz2_with_bad_block(path: Path) -> Path:
    # 100 kB bzip2 blocks: the tar header in block 1 opens fine, the damage in block 2 shows only while reading.
    data = random.Random(0).randbytes(300_000)
    with tarfile.open(path, "w:bz2", compresslevel=1) as bundle:
        info, _ = _tar_entry("Kvasir-SEG/volume.bin", data=data)
        bundle.addfile(info, io.BytesIO(data))
    damaged = bytearray(path.read_bytes())
    middle = len(damaged) // 2
    damaged[middle : middle + 8] = bytes(8)
    path.write_bytes(bytes(damaged))
    return path


def _write(content: bytes) -> Callable[[Path], Path]:
    def writer(path: Path) -> Path:
        path.write_bytes(content)
        return path

    return writer


DAMAGED_CASES = [
    ("data.tar.gz", _truncated_tar_gz, r"is damaged or not a valid tar archive \(EOFError"),
    ("data.tar.bz2", _tar_bz2_with_bad_block, r"is damaged or not a valid tar archive \(OSError: Invalid data stream"),
    ("data.zip", _zip_with_bad_crc, r"is damaged or not a valid zip archive \(BadZipFile: Bad CRC-32"),
    ("data.zip", _write(b"<html>Please log in</html>"), r"is damaged or not a valid zip archive \(BadZipFile"),
    ("data.tar.gz", _write(b"\x1f\x8b not really gzip"), r"is damaged or not a valid tar archive \(ReadError"),
    ("data.html", _write(b"<html>Please log in</html>"), r"is not a recognised archive.*\.zip, \.tar, \.tar\.gz, \.tgz, \.tar\.bz2, \.tar\.xz"),
]


@pytest.mark.parametrize(("name", "writer", "message"), DAMAGED_CASES)
def test_damaged_archive(tmp_path: Path, name: str, writer: Callable[[Path], Path], message: str) -> None:
    archive = writer(tmp_path / name)
    with pytest.raises(DataError, match=message):
        extract_archive(archive, tmp_path / "out")
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_missing_archive(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"missing\.zip does not exist.*run the download step first"):
        extract_archive(tmp_path / "missing.zip", tmp_path / "out")


# ------------------------------------------------------------------------------------------- limits and full disks
BOMB_BYTES = 20 * 10**6  # zeros: deflate and gzip pack them about 1000:1


@pytest.mark.parametrize("archive_format", ["zip", "tar.gz"])
def test_decompression_bomb_is_refused_by_the_default_ratio(tmp_path: Path, archive_format: str) -> None:
    out = tmp_path / "out"
    (out / "old.txt").parent.mkdir()
    (out / "old.txt").write_text("previous extraction")
    if archive_format == "zip":
        zeros = _zip_entry("zeros.bin", bytes(BOMB_BYTES))
        zeros[0].compress_type = zipfile.ZIP_DEFLATED
        bomb = write_zip(tmp_path / "bomb.zip", [_zip_entry("readme.txt", b"hi"), zeros])
    else:
        bomb = write_tar(tmp_path / "bomb.tar.gz", [_tar_entry("readme.txt", data=b"hi"), _tar_entry("zeros.bin", data=bytes(BOMB_BYTES))])
    ratio = BOMB_BYTES / bomb.stat().st_size
    assert ratio > archive_module.DEFAULT_MAX_COMPRESSION_RATIO
    message = (
        rf"Refusing to extract {re.escape(str(bomb))}: it unpacks to 20\.0 MB from .* a compression ratio of {ratio:.0f}, over the limit of 100"
        r" \(largest member 'zeros\.bin', 20\.0 MB\).*Nothing was extracted.*`limits: \{max_compression_ratio: \.\.\.\}`"
    )
    with pytest.raises(UnsafeArchiveError, match=message):
        extract_archive(bomb, out)
    assert read_tree(out) == {"old.txt": b"previous extraction"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb." + archive_format, "out"]
    # a trusted archive passes with a higher limit
    extract_archive(bomb, out, max_ratio=ratio + 1)
    assert (out / "zeros.bin").stat().st_size == BOMB_BYTES


def test_total_size_limit_names_the_member_that_passes_it(tmp_path: Path) -> None:
    archive = write_tar(tmp_path / "data.tar", good_tar_entries(), "w")
    limit = len(GOOD_FILES["Kvasir-SEG/images/cju0qkwl35piu0993l0dewei2.jpg"]) + 1  # the first file fits, the second does not
    with pytest.raises(UnsafeArchiveError, match=r"its members unpack to 23 B, over the limit of 12 B \(passed at member 'Kvasir-SEG/masks/cju0qkwl35piu0993l0dewei2\.jpg', 10 B\)"):
        extract_archive(archive, tmp_path / "out", max_bytes=limit)
    assert not (tmp_path / "out").exists()


def test_too_little_free_space_is_found_before_extracting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import kdseg.utils.io as io_module

    monkeypatch.setattr(io_module.shutil, "disk_usage", lambda _: shutil_usage(free=5))
    out = tmp_path / "datasets" / "kvasir_seg"
    with pytest.raises(DiskFullError, match=rf"No space left on the device of {re.escape(str(out.parent))} while writing {re.escape(str(out))}: it needs 23 B, and 5 B is free there\. Nothing was written to"):
        extract_archive(write_zip(tmp_path / "data.zip", good_zip_entries()), out)
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_disk_full_while_extracting_keeps_the_previous_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    extract_archive(write_zip(tmp_path / "old.zip", [_zip_entry("old.txt", b"previous")]), out)
    original = zipfile.ZipFile.extract

    def extract_until_full(self: zipfile.ZipFile, member: zipfile.ZipInfo, path: Path) -> str:
        if member.filename.endswith("kavsir_bboxes.json"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, member, path)

    monkeypatch.setattr(zipfile.ZipFile, "extract", extract_until_full)
    with pytest.raises(DiskFullError, match=rf"while writing {re.escape(str(out))}: it needs 23 B, .* is free there\. The previous {re.escape(str(out))} is kept\."):
        extract_archive(write_zip(tmp_path / "data.zip", good_zip_entries()), out)
    assert read_tree(out) == {"old.txt": b"previous"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.zip", "old.zip", "out"]  # no staging folder left


# ------------------------------------------------------------------------------------------- command line
@pytest.mark.usefixtures("restore_logging")
def test_extract_entry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    archive = write_zip(tmp_path / "data.zip", good_zip_entries())
    extract_entry(["--archive", str(archive), "--out", str(tmp_path / "out")])
    assert read_tree(tmp_path / "out") == GOOD_FILES
    with pytest.raises(SystemExit):
        extract_entry(["--archive", str(archive), "--out", str(tmp_path / "small"), "--max-extracted-gb", "1e-8"])
    assert "over the limit of 10 B" in capsys.readouterr().err

    unsafe = write_zip(tmp_path / "unsafe.zip", [_zip_entry("../escape.txt", b"x")])
    with pytest.raises(SystemExit) as exit_info:
        extract_entry(["--archive", str(unsafe), "--out", str(tmp_path / "other")])
    assert exit_info.value.code == 1
    assert f"kdseg-extract: error: Refusing to extract {unsafe}: member '../escape.txt'" in capsys.readouterr().err
    assert not (tmp_path / "other").exists()
