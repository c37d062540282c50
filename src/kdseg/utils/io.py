"""Atomic, deterministic file output.

Every artifact of the workflow is written through these helpers: the content goes to a temporary
sibling first and is renamed into place only when complete, so a killed job never leaves a
half-written file that a later run would take for a finished one. A full disk or quota (``ENOSPC``,
``EDQUOT``) while writing becomes one :class:`~kdseg.utils.errors.DiskFullError` naming the path, the
space it needed and the space free; the temporary sibling is removed and the previous output kept.
"""

from __future__ import annotations

import contextlib
import errno
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

from kdseg.utils.errors import DiskFullError


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# mkstemp creates 0600 files; artifacts get the permissions a plain open() would give them
FILE_MODE = 0o666 & ~_current_umask()

__all__ = [
    "atomic_write",
    "atomic_directory",
    "disk_full_error",
    "ensure_free_space",
    "format_bytes",
    "is_disk_full",
    "write_bytes",
    "write_text",
    "write_json",
    "read_json",
    "write_csv",
    "gzip_bytes",
    "zip_bytes",
    "file_digest",
]


# errno values of a full file system and of an exhausted quota
_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_disk_full(err: OSError) -> bool:
    """Whether ``err`` is a full file system or an exhausted quota."""
    return err.errno in _NO_SPACE


def format_bytes(count: int) -> str:
    """A byte count for people: ``"1.5 GB"`` (decimal units, as ``df -H`` prints them)."""
    units = ("B", "kB", "MB", "GB", "TB")
    value, power = float(count), 0
    while value >= 999.95 and power < len(units) - 1:  # 999.96 MB prints as 1.0 GB, not 1000.0 MB
        value, power = value / 1000, power + 1
    return f"{int(count)} B" if power == 0 else f"{value:.1f} {units[power]}"


def _free_bytes(folder: Path) -> int:
    while not folder.exists():  # the parents of an output may not exist yet
        folder = folder.parent
    return shutil.disk_usage(folder).free


def disk_full_error(path: str | os.PathLike[str], needed_bytes: int, *, at_least: bool = False) -> DiskFullError:
    """The error for a write to ``path`` that found no space: what was written, how much it needed
    (``at_least`` when only the bytes written before the failure are known), how much is free, what to do."""
    target = Path(path)
    needed = f"{'at least ' if at_least else ''}{format_bytes(needed_bytes)}"
    kept = f"The previous {target} is kept" if target.exists() else f"Nothing was written to {target}"
    return DiskFullError(
        f"No space left on the device of {target.parent} while writing {target}: it needs {needed}, and"
        f" {format_bytes(_free_bytes(target.parent))} is free there. {kept}. Free space on that device (or run"
        " the workflow from a larger disk, e.g. with --directory), then run again."
    )


def ensure_free_space(path: str | os.PathLike[str], needed_bytes: int) -> None:
    """Raise the :func:`disk_full_error` before writing ``needed_bytes`` to ``path`` if they cannot fit."""
    if _free_bytes(Path(path).parent) < needed_bytes:
        raise disk_full_error(path, needed_bytes)


def _written_bytes(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size if path.exists() else 0


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
    except OSError as err:
        written = _written_bytes(tmp)
        tmp.unlink(missing_ok=True)
        if is_disk_full(err):
            raise disk_full_error(target, written, at_least=True) from err
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike[str], needed_bytes: int | None = None) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; it replaces ``path`` when the block succeeds.

    A previous ``path`` is removed only after the new content is complete.

    Args:
        path: final folder; parent folders are created.
        needed_bytes: size of the content, when known: checked against the free space before anything
            is written, and quoted if the disk fills up anyway. Defaults to None (not checked).
    """
    target = Path(path)
    if needed_bytes is not None:
        ensure_free_space(target, needed_bytes)
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
    except OSError as err:
        written = _written_bytes(tmp)
        shutil.rmtree(tmp, ignore_errors=True)
        if is_disk_full(err):
            raise disk_full_error(target, max(written, needed_bytes or 0), at_least=needed_bytes is None) from err
        raise
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
