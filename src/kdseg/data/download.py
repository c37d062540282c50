"""Download stage: fetch a data set archive with resume and retries, verify it, place it atomically.

The file is streamed to ``<out>.part`` beside the target. An interrupted transfer leaves that partial
file behind and the next attempt (or the next run) continues it with an HTTP ``Range`` request. The
checksum is verified on the ``.part`` file, and only a verified file is renamed onto ``out``, so a
file at ``out`` is always complete. Only the standard library's :mod:`urllib` is used.

Example:
    >>> from pathlib import Path
    >>> from kdseg.data.download import download
    >>> download(  # doctest: +SKIP
    ...     "https://msd-for-monai.s3-us-west-2.amazonaws.com/Task01_BrainTumour.tar",
    ...     Path("resources/archives/msd_brats/Task01_BrainTumour.tar"),
    ...     checksum="md5:240a19d752f0d9e9101544901065d872",
    ... )
"""

from __future__ import annotations

import http.client
import io
import logging
import os
import re
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from time import sleep
from urllib.parse import urlsplit

from kdseg import __version__
from kdseg.utils.errors import ChecksumError, ConfigError, DataError
from kdseg.utils.io import disk_full_error, file_digest, is_disk_full
from kdseg.utils.options import look_up_option
from kdseg.utils.progress import progress

__all__ = ["CHECKSUM_ALGORITHMS", "download", "parse_checksum", "verify_checksum"]

logger = logging.getLogger(__name__)

#: Supported checksum algorithms and the length of their hex digest.
CHECKSUM_ALGORITHMS: dict[str, int] = {"sha256": 64, "md5": 32}

_CHUNK_SIZE = 1 << 20
_URL_SCHEMES = ("http", "https", "file")
_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)")
# Transport failures worth another attempt; HTTP errors are sorted by status in _fetch_http.
_TRANSIENT_ERRORS = (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError, ssl.SSLError)


class _TransientError(Exception):
    """A failed attempt that a later attempt may get past (network error, timeout, HTTP 5xx or 429)."""


def parse_checksum(text: str) -> tuple[str, str]:
    """Split a pinned checksum ``"sha256:<hex>"`` or ``"md5:<hex>"`` into ``(algorithm, hexdigest)``.

    Args:
        text: the checksum as written in workflow_config.yaml; case does not matter.

    Returns:
        The lower-case algorithm name and hex digest.

    Raises:
        ConfigError: when the text is not ``<algorithm>:<hex digest>`` with a supported algorithm and
            a digest of the right length.

    Example:
        >>> parse_checksum("md5:240A19D752F0D9E9101544901065D872")
        ('md5', '240a19d752f0d9e9101544901065d872')
    """
    algorithm, sep, digest = text.strip().lower().partition(":")
    form = " or ".join(f"'{name}:<{length} hex digits>'" for name, length in CHECKSUM_ALGORITHMS.items())
    if not sep:
        raise ConfigError(f"Checksum {text!r} has no algorithm prefix; write it as {form} (`checksum:` in workflow_config.yaml).")
    length = look_up_option(algorithm, CHECKSUM_ALGORITHMS, what="checksum algorithm")
    if not re.fullmatch(f"[0-9a-f]{{{length}}}", digest):
        raise ConfigError(
            f"Checksum {text!r} is not valid: a {algorithm} digest is {length} hex digits (0-9, a-f), got {len(digest)} characters"
            f" {digest!r}. Fix `checksum:` in workflow_config.yaml; the expected form is {form}."
        )
    return algorithm, digest


def verify_checksum(path: str | os.PathLike[str], checksum: str, *, source: str | None = None, delete_on_mismatch: bool = False) -> str:
    """Check that a file matches a pinned checksum.

    Args:
        path: the file to check.
        checksum: ``"sha256:<hex>"`` or ``"md5:<hex>"`` (see :func:`parse_checksum`).
        source: where the file came from (a URL), named in the error. Defaults to None.
        delete_on_mismatch: delete the file before raising, so a bad download is never reused. Defaults to False.

    Returns:
        The file's hex digest (equal to the pinned one).

    Raises:
        ConfigError: when ``checksum`` is malformed.
        ChecksumError: when the digests differ; the message names the file, both digests and what to do.

    Example:
        >>> verify_checksum("resources/archives/msd_brats/Task01_BrainTumour.tar", "md5:240a19d752f0d9e9101544901065d872")  # doctest: +SKIP
        '240a19d752f0d9e9101544901065d872'
    """
    algorithm, expected = parse_checksum(checksum)
    file_path = Path(path)
    actual = file_digest(file_path, algorithm)
    if actual == expected:
        logger.info("%s matches its pinned checksum %s:%s", file_path, algorithm, expected)
        return actual
    origin = f" (downloaded from {source})" if source else ""
    if delete_on_mismatch:
        file_path.unlink(missing_ok=True)
        remedy = "The file was deleted; run again to fetch it afresh."
    else:
        remedy = "If the file is truncated or damaged, delete it and run again so it is fetched or built afresh."
    raise ChecksumError(
        f"Checksum mismatch for {file_path}{origin}: expected {algorithm}:{expected}, got {algorithm}:{actual}. {remedy}"
        f" If the source was deliberately re-released, check the new file and then set `checksum: {algorithm}:{actual}`"
        " (or the matching `checksums:` entry of a split) in workflow_config.yaml."
    )


def download(
    url: str,
    out: str | os.PathLike[str],
    *,
    checksum: str | None = None,
    retries: int = 5,
    timeout: float = 60.0,
    backoff: float = 1.0,
) -> Path:
    """Fetch ``url`` to ``out``: stream with a progress bar, resume, retry, verify, then place atomically.

    ``http://`` and ``https://`` transfers resume a partial ``<out>.part`` with a ``Range`` request
    (a server that ignores it and answers 200 is read from the start). Connection errors, timeouts,
    HTTP 5xx and 429 are retried with exponential backoff (an attempt that received data resets the
    count); other HTTP errors are final.
    ``file://`` URLs must be absolute (``file:///data/kvasir-seg.zip``); the file is copied.
    If ``out`` already exists and matches ``checksum``, nothing is done.

    Args:
        url: ``http://``, ``https://`` or absolute ``file://`` URL.
        out: destination file; parent folders are created.
        checksum: ``"sha256:<hex>"`` or ``"md5:<hex>"``; None to skip the check (the sha256 is logged
            so it can be pinned). Defaults to None.
        retries: further attempts after a failed one; an attempt that received data resets the count. Defaults to 5.
        timeout: seconds to wait for the connection or for more data before an attempt fails. Defaults to 60.0.
        backoff: seconds before the first retry; doubled for each later one. Defaults to 1.0.

    Returns:
        ``out`` as a :class:`~pathlib.Path`.

    Raises:
        ConfigError: malformed ``checksum``, unsupported or relative URL, negative ``retries``.
        DataError: a final HTTP error, a missing ``file://`` file, or every attempt failed.
        ChecksumError: the downloaded file does not match ``checksum`` (it is deleted, ``out`` is untouched).

    Example:
        >>> download("https://example.org/data.zip", Path("resources/archives/demo/data.zip"), checksum=None)  # doctest: +SKIP
    """
    target = Path(out)
    if retries < 0:
        raise ConfigError(f"retries must be 0 or more, got {retries}.")
    if checksum is not None:
        parse_checksum(checksum)  # fail on a malformed checksum before any transfer
    scheme = urlsplit(url).scheme.lower()
    if scheme not in _URL_SCHEMES:
        raise ConfigError(
            f"Cannot download {url!r}: unsupported URL scheme {scheme!r}; use one of {', '.join(s + '://' for s in _URL_SCHEMES)}"
            " (`source:` in workflow_config.yaml), or give the path of a local archive instead."
        )
    if target.is_file() and _is_verified(target, checksum):
        logger.info("%s already exists and matches %s; nothing to do.", target, checksum)
        return target

    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    if scheme == "file":
        _copy_file_url(url, part)
    else:
        _fetch_with_retries(url, part, retries=retries, timeout=timeout, backoff=backoff)

    if checksum is not None:
        verify_checksum(part, checksum, source=url, delete_on_mismatch=True)
    else:
        digest = file_digest(part, "sha256")
        logger.warning(
            "%s is not pinned to a checksum; its sha256 is %s. Pin it with `checksum: sha256:%s` in workflow_config.yaml"
            " so later runs verify it and reruns are no-ops.",
            url,
            digest,
            digest,
        )
    os.replace(part, target)
    logger.info("Downloaded %s to %s (%d bytes).", url, target, target.stat().st_size)
    return target


def _is_verified(path: Path, checksum: str | None) -> bool:
    """Whether an existing ``out`` can be kept: only when a pinned checksum confirms it."""
    if checksum is None:
        logger.info("%s exists but no checksum is pinned to confirm it; downloading again.", path)
        return False
    algorithm, expected = parse_checksum(checksum)
    if file_digest(path, algorithm) == expected:
        return True
    logger.warning("%s exists but does not match %s; downloading again (it is replaced only once the new file is verified).", path, checksum)
    return False


def _copy_file_url(url: str, part: Path) -> None:
    """Copy the file of an absolute ``file://`` URL to ``part`` (local copies neither resume nor retry)."""
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
        raise ConfigError(
            f"file URL {url!r} is not an absolute local path; write it as file:///absolute/path/to/archive"
            " (`source:` in workflow_config.yaml), or give a relative path without 'file:' to use a local archive."
        )
    source = Path(urllib.request.url2pathname(parts.path))
    if not source.is_file():
        raise DataError(f"Cannot download {url}: {source} does not exist or is not a file. Check `source:` in workflow_config.yaml.")
    with open(source, "rb") as reader:
        _stream(reader, part, offset=0, total=source.stat().st_size)


def _fetch_with_retries(url: str, part: Path, *, retries: int, timeout: float, backoff: float) -> None:
    """Run :func:`_fetch_http` until it succeeds, sleeping ``backoff * 2**k`` after the k-th failure in a row.

    An attempt that received data starts the count again, so a long transfer over a flaky connection
    is not abandoned while it is still making progress.
    """
    failures = 0
    while True:
        size_before = _size(part)
        try:
            _fetch_http(url, part, timeout)
            return
        except _TransientError as err:
            failures = 1 if _size(part) > size_before else failures + 1
            if failures > retries:
                kept = f" The {_size(part)} bytes received are kept in {part}; a rerun resumes from there." if part.exists() else ""
                raise DataError(
                    f"Could not download {url}: {failures} attempts in a row failed; last error: {err}.{kept}"
                    " Check the network and the URL (`source:` in workflow_config.yaml), or allow more retries or a longer timeout"
                    " (--retries, --timeout)."
                ) from err
            delay = backoff * 2 ** (failures - 1)
            logger.warning("Attempt for %s failed (%s; %d of %d retries used); retrying in %.1f s.", url, err, failures, retries, delay)
            sleep(delay)


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _fetch_http(url: str, part: Path, timeout: float) -> None:
    """One attempt: request the bytes ``part`` lacks and append them.

    Raises:
        _TransientError: for failures worth retrying.
        DataError: for a final HTTP error.
    """
    offset = _size(part)
    request = urllib.request.Request(url, headers={"User-Agent": f"kdseg/{__version__}", "Accept-Encoding": "identity"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # scheme already checked by download()
    except urllib.error.HTTPError as err:
        err.close()
        if err.code == 416 and offset:
            _, size = _parse_content_range(err.headers.get("Content-Range"))
            if size == offset:
                logger.info("%s: the partial file already holds all %d bytes.", url, offset)
                return
            part.unlink()
            raise _TransientError(f"HTTP 416: cannot resume at byte {offset} (remote size {size}); the partial file was deleted") from err
        if err.code == 429 or err.code >= 500:
            raise _TransientError(f"HTTP {err.code} {err.reason}") from err
        raise DataError(
            f"Download of {url} failed with HTTP {err.code} {err.reason}; this is not retried. Check the URL"
            " (`source:` or a split's `lists:` in workflow_config.yaml); data that needs an account must be fetched"
            " by hand and given as a local path."
        ) from err
    except _TRANSIENT_ERRORS as err:
        raise _TransientError(f"{type(err).__name__}: {err}") from err

    with response:
        if offset and response.status != 206:
            logger.warning("%s ignored the Range request (HTTP %d); restarting from byte 0.", url, response.status)
            offset = 0
        elif offset:
            start, _ = _parse_content_range(response.headers.get("Content-Range"))
            if start != offset:
                part.unlink()
                raise _TransientError(f"server resumed at byte {start} instead of {offset}; the partial file was deleted")
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length and length.isdigit() else None
        try:
            received = _stream(response, part, offset=offset, total=total)
        except _TRANSIENT_ERRORS as err:
            raise _TransientError(f"{type(err).__name__}: {err}") from err
    if total is not None and offset + received < total:
        raise _TransientError(f"connection closed after {offset + received} of {total} bytes")


def _parse_content_range(header: str | None) -> tuple[int | None, int | None]:
    """``"bytes 100-199/200"`` → ``(100, 200)``; ``"bytes */200"`` → ``(None, 200)``; unknown parts are None."""
    match = _CONTENT_RANGE.fullmatch(header.strip()) if header else None
    if match is None:
        return None, None
    start, size = match.groups()
    return (int(start) if start else None), (int(size) if size.isdigit() else None)


def _stream(reader: io.BufferedIOBase, part: Path, *, offset: int, total: int | None) -> int:
    """Copy ``reader`` to ``part`` in chunks (appending after ``offset`` bytes, else from scratch); return bytes copied.

    ``read1`` returns whatever has arrived instead of waiting for a full chunk, so the bytes received
    before a timeout or a dropped connection are on disk for the next attempt to resume from.
    """
    received = 0
    bar = progress(None, part.name, total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024)
    try:
        with open(part, "ab" if offset else "wb") as writer, bar:
            for chunk in iter(lambda: reader.read1(_CHUNK_SIZE), b""):
                writer.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
            writer.flush()
            os.fsync(writer.fileno())
    except OSError as err:
        if is_disk_full(err):  # the partial file stays: the next run resumes from it once there is space
            raise disk_full_error(part, total if total is not None else offset + received, at_least=total is None) from err
        raise
    return received
