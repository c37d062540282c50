"""Atomic, deterministic file output.

Every artifact of the workflow is written through these helpers: the content goes to a temporary
sibling first and is renamed into place only when complete, so a killed job never leaves a
half-written file that a later run would take for a finished one.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates 0600 files; artifacts get the permissions a plain open() would give them
FILE_MODE = 0o666 & ~_current_umask()

__all__ = [
    "atomic_write",
    "atomic_directory",
    "write_bytes",
    "write_text",
    "write_json",
    "read_json",
    "write_csv",
    "gzip_bytes",
    "zip_bytes",
    "file_digest",
]


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w", **open_kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` and move it onto ``path`` when the block succeeds.

    Args:
        path: final location; parent folders are created.
        mode: ``"w"`` (text) or ``"wb"`` (binary). Defaults to ``"w"``.
        open_kwargs: passed to :func:`open` (``encoding``, ``newline``...).

    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write supports modes 'w' and 'wb', got {mode!r}")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if mode == "w":
            open_kwargs.setdefault("encoding", "utf-8")
        with open(tmp, mode, **open_kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; it replaces ``path`` when the block succeeds.

    A previous ``path`` is removed only after the new content is complete.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_current_umask())
        if target.exists() or target.is_symlink():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
            os.replace(target, old / "content")
            os.replace(tmp, target)
            shutil.rmtree(old)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_write(path, "wb") as handle:
        handle.write(data)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to ``path`` atomically."""
    with atomic_write(path, "w", newline="\n") as handle:
        handle.write(text)


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented JSON with sorted keys, so equal content gives equal bytes."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=True) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def write_csv(frame: Any, path: str | os.PathLike[str], **to_csv_kwargs: Any) -> None:
    """Write a :class:`pandas.DataFrame` as CSV atomically (no index, ``\\n`` line ends)."""
    to_csv_kwargs.setdefault("index", False)
    to_csv_kwargs.setdefault("lineterminator", "\n")
    with atomic_write(path, "w", newline="") as handle:
        frame.to_csv(handle, **to_csv_kwargs)


def gzip_bytes(data: bytes, level: int = 6) -> bytes:
    """Gzip ``data`` with a zero timestamp and no file name, so equal input gives equal bytes."""
    return gzip.compress(data, compresslevel=level, mtime=0)


# 1980-01-01, the earliest time a zip entry can hold: members carry no build time
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def zip_bytes(members: Mapping[str, bytes | None]) -> bytes:
    """A zip of ``members`` (name -> bytes; None for a folder entry) whose bytes depend only on them:
    sorted names, a fixed date and unix permissions (0644 files, 0755 folders)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in sorted(members):
            data = members[name]
            is_dir = data is None
            info = zipfile.ZipInfo(name.rstrip("/") + "/" if is_dir else name, date_time=_ZIP_DATE)
            info.create_system = 3  # unix, so the permission bits below are read back everywhere
            info.external_attr = ((0o40755 << 16) | 0x10) if is_dir else (0o100644 << 16)
            info.compress_type = zipfile.ZIP_STORED if is_dir else zipfile.ZIP_DEFLATED
            archive.writestr(info, b"" if is_dir else data, compresslevel=None if is_dir else 6)
    return buffer.getvalue()


def file_digest(path: str | os.PathLike[str], algorithm: str = "sha256", chunk_size: int = 1 << 20) -> str:
    """Return the hex digest of a file, read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()
