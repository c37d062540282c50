"""Extraction stage: unpack a data set archive safely and atomically.

Every member is checked before anything is written: absolute paths, drive letters, ``..``
components, links and special files are refused (a crafted archive could otherwise write outside
the extraction folder, see CVE-2007-4559). Tar members are then extracted with the standard
library's ``filter="data"`` as a second line of defence (PEP 706). Content goes to a temporary
folder beside ``out`` that replaces ``out`` only once complete, so ``out`` is never half-extracted.

Supported: .zip, .tar, .tar.gz/.tgz, .tar.bz2, .tar.xz; the format is recognised from the file's
first bytes, and from its name only when those are not conclusive.

Limits, checked from the members' declared sizes before anything is written (the readers never write
more than a member declares): the total uncompressed size (:data:`DEFAULT_MAX_EXTRACTED_BYTES`, 100 GB)
and the compression ratio, total uncompressed size / archive size (:data:`DEFAULT_MAX_COMPRESSION_RATIO`,
100). Releases of images and NIfTI volumes are already compressed and unpack at ratios near 1
(Kvasir-SEG's 46 MB zip, MSD Task01's 7.1 GB tar, BraTS's tens of GB); a decompression bomb unpacks at
hundreds to millions. The free space of the destination is checked against the total as well.

Example:
    >>> from pathlib import Path
    >>> from kdseg.data.archive import extract_archive
    >>> extract_archive(Path("resources/demo/brats_demo.tar.gz"), Path("resources/datasets/brats_demo"))  # doctest: +SKIP
    PosixPath('resources/datasets/brats_demo')
"""

from __future__ import annotations

import gzip
import logging
import lzma
import os
import re
import stat
import tarfile
import zipfile
import zlib
from pathlib import Path

from kdseg.data.download import verify_checksum
from kdseg.utils.errors import DataError, UnsafeArchiveError
from kdseg.utils.io import atomic_directory, format_bytes
from kdseg.utils.progress import progress

__all__ = ["DEFAULT_MAX_COMPRESSION_RATIO", "DEFAULT_MAX_EXTRACTED_BYTES", "SUPPORTED_SUFFIXES", "extract_archive"]

logger = logging.getLogger(__name__)

#: File name endings of the supported archive formats.
SUPPORTED_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")

#: default limit of an archive's total uncompressed size: BraTS training releases unpack to tens of GB
DEFAULT_MAX_EXTRACTED_BYTES = 100 * 10**9
#: default limit of total uncompressed size / archive size: real releases are near 1, bombs far above
DEFAULT_MAX_COMPRESSION_RATIO = 100.0

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
# gzip, bzip2 and xz streams; tarfile opens them transparently and fails clearly if no tar is inside.
_COMPRESSED_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")
_TAR_MAGIC_OFFSET = 257  # "ustar" in a POSIX/GNU tar header
_DRIVE_LETTER = re.compile(r"^[A-Za-z]:")
# What a damaged archive raises while being listed or read (bz2 reports bad data as a plain OSError without errno).
_CORRUPT_ERRORS = (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error, lzma.LZMAError, gzip.BadGzipFile)


def extract_archive(
    archive: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    checksum: str | None = None,
    max_bytes: int = DEFAULT_MAX_EXTRACTED_BYTES,
    max_ratio: float = DEFAULT_MAX_COMPRESSION_RATIO,
) -> Path:
    """Verify ``archive``, check every member and the limits, then extract it into the folder ``out``.

    Args:
        archive: a .zip, .tar, .tar.gz/.tgz, .tar.bz2 or .tar.xz file.
        out: folder to create; an existing one is replaced once the new content is complete.
        checksum: ``"sha256:<hex>"`` or ``"md5:<hex>"`` of the archive; None to skip the check. Defaults to None.
        max_bytes: most bytes the members may hold in all. Defaults to :data:`DEFAULT_MAX_EXTRACTED_BYTES`.
        max_ratio: most the total uncompressed size may be over the archive's size. Defaults to
            :data:`DEFAULT_MAX_COMPRESSION_RATIO`.

    Returns:
        ``out`` as a :class:`~pathlib.Path`.

    Raises:
        DataError: the archive is missing, of an unsupported format or damaged.
        ChecksumError: the archive does not match ``checksum``.
        UnsafeArchiveError: a member breaks a safety rule or the archive a limit; nothing is written and ``out``
            is untouched.
        DiskFullError: the destination's device has less free space than the archive unpacks to, or fills up
            while extracting; ``out`` is untouched.

    Example:
        >>> extract_archive("resources/archives/kvasir_seg/kvasir-seg.zip", "resources/datasets/kvasir_seg")  # doctest: +SKIP
        PosixPath('resources/datasets/kvasir_seg')
    """
    archive_path, out_path = Path(archive), Path(out)
    if not archive_path.is_file():
        raise DataError(f"Archive {archive_path} does not exist or is not a file; run the download step first or fix `source:` in workflow_config.yaml.")
    if checksum is not None:
        verify_checksum(archive_path, checksum)
    archive_format = _archive_format(archive_path)
    limits = _Limits(max_bytes, max_ratio)
    try:
        if archive_format == "zip":
            count = _extract_zip(archive_path, out_path, limits)
        else:
            count = _extract_tar(archive_path, out_path, limits)
    except _CORRUPT_ERRORS as err:
        raise _corrupt(archive_path, archive_format, err) from err
    except OSError as err:
        if err.errno is not None:  # a real file-system problem (disk full, permissions), not bad archive data
            raise
        raise _corrupt(archive_path, archive_format, err) from err
    logger.info("Extracted %d members of %s into %s.", count, archive_path, out_path)
    return out_path


def _archive_format(archive: Path) -> str:
    """``"zip"`` or ``"tar"``, from the magic bytes, else from the file name."""
    with open(archive, "rb") as handle:
        head = handle.read(_TAR_MAGIC_OFFSET + 5)
    if head.startswith(_ZIP_MAGIC):
        return "zip"
    if head.startswith(_COMPRESSED_MAGIC) or head[_TAR_MAGIC_OFFSET:] == b"ustar":
        return "tar"
    name = archive.name.lower()
    if name.endswith(".zip"):
        return "zip"  # e.g. a self-extracting zip, whose data starts after a program
    if name.endswith(SUPPORTED_SUFFIXES):
        return "tar"  # e.g. an old V7 tar without the "ustar" magic
    raise DataError(
        f"{archive} is not a recognised archive: its content is neither zip nor (compressed) tar, and its name does not end"
        f" with one of {', '.join(SUPPORTED_SUFFIXES)}. Check that it is the file you meant (an HTML error page saved by"
        " a download is a common cause); if so, repack it in a supported format."
    )


def _corrupt(archive: Path, archive_format: str, err: BaseException) -> DataError:
    return DataError(
        f"{archive} is damaged or not a valid {archive_format} archive ({type(err).__name__}: {err}). Nothing was extracted."
        " Delete it and run again so it is fetched afresh, and pin `checksum:` in workflow_config.yaml to catch this earlier."
    )


def _refuse(archive: Path, member: str, rule: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(
        f"Refusing to extract {archive}: member {member!r} {rule}. Nothing was extracted. Get the archive from its official"
        " source, or, if you trust it, extract it by hand and give the folder as `source:` in workflow_config.yaml."
    )


class _Limits:
    """The size and ratio limits of one extraction (see the module docstring)."""

    def __init__(self, max_bytes: int, max_ratio: float) -> None:
        if max_bytes <= 0 or max_ratio <= 0:
            raise ValueError(f"extraction limits must be positive, got max_bytes={max_bytes!r}, max_ratio={max_ratio!r}")
        self.max_bytes, self.max_ratio = max_bytes, max_ratio

    def check(self, archive: Path, sizes: list[tuple[str, int]]) -> int:
        """The total uncompressed size of members ``(name, size)``; refuses an archive over a limit."""
        total = 0
        for name, size in sizes:
            total += size
            if total > self.max_bytes:
                in_all = sum(s for _, s in sizes)
                raise self._refuse(
                    archive, f"its members unpack to {format_bytes(in_all)}, over the limit of {format_bytes(self.max_bytes)}"
                    f" (passed at member {name!r}, {format_bytes(size)})", "max_extracted_gb", "--max-extracted-gb"
                )
        packed = max(archive.stat().st_size, 1)
        if total / packed > self.max_ratio:
            name, size = max(sizes, key=lambda item: item[1])
            raise self._refuse(
                archive, f"it unpacks to {format_bytes(total)} from {format_bytes(packed)}, a compression ratio of {total / packed:.0f},"
                f" over the limit of {self.max_ratio:g} (largest member {name!r}, {format_bytes(size)}); data set releases unpack"
                " at ratios near 1, decompression bombs at hundreds or more", "max_compression_ratio", "--max-compression-ratio"
            )
        return total

    @staticmethod
    def _refuse(archive: Path, problem: str, key: str, flag: str) -> UnsafeArchiveError:
        return UnsafeArchiveError(
            f"Refusing to extract {archive}: {problem}. Nothing was extracted. If you trust the archive, raise the limit"
            f" with `limits: {{{key}: ...}}` under the data set in workflow_config.yaml (kdseg-extract {flag})."
        )


def _check_name(archive: Path, name: str) -> None:
    """Refuse a member path that is absolute, starts with a drive letter or climbs out with ``..``."""
    if name.startswith(("/", "\\")):
        raise _refuse(archive, name, "is an absolute path (members must be relative to the extraction folder)")
    if _DRIVE_LETTER.match(name):
        raise _refuse(archive, name, "starts with a drive letter (members must be relative to the extraction folder)")
    if ".." in re.split(r"[/\\]", name):
        raise _refuse(archive, name, "has a '..' component, which could write outside the extraction folder")


def _check_tar_member(archive: Path, member: tarfile.TarInfo) -> None:
    _check_name(archive, member.name)
    if member.issym():
        raise _refuse(archive, member.name, f"is a symbolic link (to {member.linkname!r}); links are not allowed")
    if member.islnk():
        raise _refuse(archive, member.name, f"is a hard link (to {member.linkname!r}); links are not allowed")
    if not (member.isfile() or member.isdir()):
        raise _refuse(archive, member.name, "is a device or FIFO file; only regular files and folders are allowed")


def _check_zip_member(archive: Path, member: zipfile.ZipInfo) -> None:
    _check_name(archive, member.filename)
    file_type = stat.S_IFMT(member.external_attr >> 16)  # Unix mode, as written by Info-ZIP and Python
    if file_type == stat.S_IFLNK:
        raise _refuse(archive, member.filename, "is a symbolic link (its external attributes mark a Unix symlink); links are not allowed")
    if file_type not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise _refuse(archive, member.filename, "is a device or FIFO file (per its external attributes); only regular files and folders are allowed")


def _extract_zip(archive: Path, out: Path, limits: _Limits) -> int:
    with zipfile.ZipFile(archive) as bundle:
        members = bundle.infolist()
        for member in members:
            _check_zip_member(archive, member)
        total = limits.check(archive, [(member.filename, member.file_size) for member in members])
        with atomic_directory(out, needed_bytes=total) as staging:
            for member in progress(members, f"extract {archive.name}", unit="member"):
                bundle.extract(member, staging)
    return len(members)


def _extract_tar(archive: Path, out: Path, limits: _Limits) -> int:
    with tarfile.open(archive, "r:*") as bundle:
        members = bundle.getmembers()
        for member in members:
            _check_tar_member(archive, member)
        total = limits.check(archive, [(member.name, member.size) for member in members])
        with atomic_directory(out, needed_bytes=total) as staging:
            for member in progress(members, f"extract {archive.name}", unit="member"):
                try:
                    bundle.extract(member, staging, filter="data")
                except tarfile.FilterError as err:  # the second line of defence caught what the checks above missed
                    raise _refuse(archive, member.name, f"was refused by tarfile's 'data' filter ({err})") from err
    return len(members)
