"""Tests of kdseg.data.download against a real HTTP server on 127.0.0.1 that misbehaves on request."""

from __future__ import annotations

import hashlib
import io
import logging
import random
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import kdseg.data.download as download_module
from kdseg.data.download import download, parse_checksum, verify_checksum
from kdseg.data.entrypoints import download_entry
from kdseg.utils.errors import ChecksumError, ConfigError, DataError


def _make_payload() -> bytes:
    """A small zip archive, the kind of file the workflow downloads."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as bundle:
        bundle.writestr("Kvasir-SEG/images/cju0qkwl35piu0993l0dewei2.jpg", random.Random(0).randbytes(200_000))
        bundle.writestr("Kvasir-SEG/masks/cju0qkwl35piu0993l0dewei2.jpg", b"\xff" * 1000)
    return buffer.getvalue()


PAYLOAD = _make_payload()
SHA256 = hashlib.sha256(PAYLOAD).hexdigest()
MD5 = hashlib.md5(PAYLOAD).hexdigest()
DROP_AFTER = 50_000  # bytes sent before a "drop" response closes the connection
STALL_AFTER = 10  # bytes sent before a "stall" response goes quiet


@dataclass
class FakeServer:
    """Serves PAYLOAD; request i gets ``script[i]`` (the last entry repeats) and its Range header is recorded.

    Actions: "range" (honours Range: 206, or 416 past the end), "ignore_range" (always 200 with everything),
    "drop" (promises everything, sends DROP_AFTER bytes, closes), "stall" (sends STALL_AFTER bytes, then waits
    past the client's timeout), or an HTTP status such as "500" / "404".
    """

    url: str
    script: list[str] = field(default_factory=lambda: ["range"])
    ranges: list[str | None] = field(default_factory=list)

    def serve(self, *script: str) -> None:
        self.script = list(script)
        self.ranges.clear()


class _Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        fake: FakeServer = self.server.fake  # type: ignore[attr-defined]
        requested = self.headers.get("Range")
        fake.ranges.append(requested)
        action = fake.script[min(len(fake.ranges), len(fake.script)) - 1]
        if action.isdigit():
            self.send_error(int(action))
            return
        start = int(requested.removeprefix("bytes=").rstrip("-")) if requested and action != "ignore_range" else 0
        if start >= len(PAYLOAD):
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(PAYLOAD)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = PAYLOAD[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            if action == "drop":
                self.wfile.write(body[:DROP_AFTER])
            elif action == "stall":
                self.wfile.write(body[:STALL_AFTER])
                self.wfile.flush()
                time.sleep(1.5)
                self.wfile.write(body[STALL_AFTER:])
            else:
                self.wfile.write(body)
        except OSError:
            pass  # the client gave up on a stalled response

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (http.server's signature)
        """Keep the test output quiet."""


@pytest.fixture(scope="module")
def running_server() -> Iterator[FakeServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    fake = FakeServer(url=f"http://127.0.0.1:{httpd.server_address[1]}/kvasir-seg.zip")
    httpd.fake = fake  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield fake
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def server(running_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    """The shared server, reset to honour Range; proxies are bypassed so requests reach 127.0.0.1."""
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")
    running_server.serve("range")
    return running_server


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Backoff delays requested by download(), recorded instead of slept."""
    delays: list[float] = []
    monkeypatch.setattr(download_module, "sleep", delays.append)
    return delays


def _part(out: Path) -> Path:
    return out.with_name(out.name + ".part")


# ------------------------------------------------------------------------------------------- checksums
PARSE_CASES = [
    ("sha256:" + "ab" * 32, ("sha256", "ab" * 32)),
    ("md5:" + "0f" * 16, ("md5", "0f" * 16)),
    ("  MD5:" + "0F" * 16 + "\n", ("md5", "0f" * 16)),
]
BAD_CHECKSUMS = [
    ("ab" * 32, "no algorithm prefix"),
    ("sha1:" + "ab" * 20, "Unknown checksum algorithm 'sha1'.*Did you mean 'sha256'"),
    ("sha256:" + "ab" * 16, "a sha256 digest is 64 hex digits.*got 32 characters"),
    ("md5:" + "zz" * 16, "a md5 digest is 32 hex digits"),
]


@pytest.mark.parametrize(("text", "expected"), PARSE_CASES)
def test_parse_checksum(text: str, expected: tuple[str, str]) -> None:
    assert parse_checksum(text) == expected


@pytest.mark.parametrize(("text", "message"), BAD_CHECKSUMS)
def test_parse_checksum_rejects(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_checksum(text)


def test_verify_checksum(tmp_path: Path) -> None:
    path = tmp_path / "a.bin"
    path.write_bytes(b"abc")
    sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # sha256("abc"), FIPS 180-2 example
    assert verify_checksum(path, f"sha256:{sha}") == sha
    with pytest.raises(ChecksumError, match=rf"{path}: expected md5:0{{32}}, got md5:900150983cd24fb0d6963f7d28e17f72\. If the file"
                       r".*delete it.*`checksum: md5:900150983cd24fb0d6963f7d28e17f72`.*workflow_config\.yaml"):
        verify_checksum(path, "md5:" + "0" * 32)
    assert path.exists()  # only download() deletes a mismatching file


# ------------------------------------------------------------------------------------------- http
@pytest.mark.parametrize("checksum", [f"sha256:{SHA256}", f"md5:{MD5}"])
def test_download_verifies_checksum(server: FakeServer, tmp_path: Path, checksum: str) -> None:
    out = tmp_path / "archives" / "kvasir-seg.zip"
    assert download(server.url, out, checksum=checksum) == out
    assert out.read_bytes() == PAYLOAD
    assert not _part(out).exists()
    assert server.ranges == [None]


def test_download_mismatch_deletes_part(server: FakeServer, tmp_path: Path) -> None:
    out = tmp_path / "kvasir-seg.zip"
    wrong = "sha256:" + "0" * 64
    with pytest.raises(ChecksumError, match=rf"downloaded from {server.url}\): expected {wrong}, got sha256:{SHA256}\. The file was deleted"):
        download(server.url, out, checksum=wrong)
    assert not out.exists()
    assert not _part(out).exists()


def test_download_is_noop_when_out_matches(server: FakeServer, tmp_path: Path) -> None:
    out = tmp_path / "kvasir-seg.zip"
    out.write_bytes(PAYLOAD)
    download(server.url, out, checksum=f"sha256:{SHA256}")
    assert server.ranges == []


def test_download_replaces_stale_out(server: FakeServer, tmp_path: Path) -> None:
    out = tmp_path / "kvasir-seg.zip"
    out.write_bytes(b"an older release")
    download(server.url, out, checksum=f"md5:{MD5}")
    assert out.read_bytes() == PAYLOAD


def test_download_unpinned_logs_sha256(server: FakeServer, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "kvasir-seg.zip"
    with caplog.at_level(logging.INFO, logger="kdseg.data.download"):
        download(server.url, out)
    assert out.read_bytes() == PAYLOAD
    assert f"Pin it with `checksum: sha256:{SHA256}` in workflow_config.yaml" in caplog.text


def test_resume_sends_range(server: FakeServer, tmp_path: Path) -> None:
    out = tmp_path / "kvasir-seg.zip"
    _part(out).write_bytes(PAYLOAD[:1234])
    download(server.url, out, checksum=f"sha256:{SHA256}")
    assert server.ranges == ["bytes=1234-"]
    assert out.read_bytes() == PAYLOAD


def test_resume_restarts_when_range_ignored(server: FakeServer, tmp_path: Path) -> None:
    server.serve("ignore_range")
    out = tmp_path / "kvasir-seg.zip"
    _part(out).write_bytes(b"x" * 1234)  # would corrupt the file if the 200 answer were appended
    download(server.url, out, checksum=f"sha256:{SHA256}")
    assert server.ranges == ["bytes=1234-"]
    assert out.read_bytes() == PAYLOAD


def test_complete_part_answered_416_is_kept(server: FakeServer, tmp_path: Path) -> None:
    out = tmp_path / "kvasir-seg.zip"
    _part(out).write_bytes(PAYLOAD)
    download(server.url, out, checksum=f"sha256:{SHA256}")
    assert server.ranges == [f"bytes={len(PAYLOAD)}-"]
    assert out.read_bytes() == PAYLOAD


def test_oversized_part_answered_416_restarts(server: FakeServer, tmp_path: Path, sleeps: list[float]) -> None:
    out = tmp_path / "kvasir-seg.zip"
    _part(out).write_bytes(PAYLOAD + b"junk")
    download(server.url, out, checksum=f"sha256:{SHA256}")
    assert server.ranges == [f"bytes={len(PAYLOAD) + 4}-", None]
    assert out.read_bytes() == PAYLOAD


def test_dropped_connection_resumes(server: FakeServer, tmp_path: Path, sleeps: list[float]) -> None:
    server.serve("drop", "range")
    out = tmp_path / "kvasir-seg.zip"
    download(server.url, out, checksum=f"sha256:{SHA256}", backoff=0.5)
    assert server.ranges == [None, f"bytes={DROP_AFTER}-"]
    assert sleeps == [0.5]
    assert out.read_bytes() == PAYLOAD


def test_stalled_transfer_times_out_and_resumes(server: FakeServer, tmp_path: Path, sleeps: list[float]) -> None:
    server.serve("stall", "range")
    out = tmp_path / "kvasir-seg.zip"
    download(server.url, out, checksum=f"md5:{MD5}", timeout=0.5)
    assert server.ranges == [None, f"bytes={STALL_AFTER}-"]
    assert out.read_bytes() == PAYLOAD


def test_server_errors_retry_with_backoff(server: FakeServer, tmp_path: Path, sleeps: list[float]) -> None:
    server.serve("500", "429", "range")
    out = tmp_path / "kvasir-seg.zip"
    download(server.url, out, checksum=f"sha256:{SHA256}", backoff=1.0)
    assert sleeps == [1.0, 2.0]
    assert len(server.ranges) == 3
    assert out.read_bytes() == PAYLOAD


def test_retries_exhausted(server: FakeServer, tmp_path: Path, sleeps: list[float]) -> None:
    server.serve("drop", "503")
    out = tmp_path / "kvasir-seg.zip"
    with pytest.raises(DataError, match=rf"3 attempts in a row failed; last error: HTTP 503.*The {DROP_AFTER} bytes received are kept in .*a rerun resumes"):
        download(server.url, out, retries=2, backoff=0.25)
    assert sleeps == [0.25, 0.5]
    assert _part(out).stat().st_size == DROP_AFTER
    assert not out.exists()


def test_progress_resets_retry_count(server: FakeServer, tmp_path: Path, sleeps: list[float]) -> None:
    server.serve("drop", "drop", "drop", "range")
    out = tmp_path / "kvasir-seg.zip"
    download(server.url, out, checksum=f"sha256:{SHA256}", retries=1, backoff=0.5)
    assert server.ranges == [None, f"bytes={DROP_AFTER}-", f"bytes={2 * DROP_AFTER}-", f"bytes={3 * DROP_AFTER}-"]
    assert sleeps == [0.5, 0.5, 0.5]
    assert out.read_bytes() == PAYLOAD


def test_client_error_is_final(server: FakeServer, tmp_path: Path, sleeps: list[float]) -> None:
    server.serve("404")
    out = tmp_path / "kvasir-seg.zip"
    with pytest.raises(DataError, match=rf"Download of {server.url} failed with HTTP 404 Not Found; this is not retried"):
        download(server.url, out)
    assert server.ranges == [None]
    assert sleeps == []
    assert not out.exists()


# ------------------------------------------------------------------------------------------- file:// and arguments
def test_file_url(tmp_path: Path) -> None:
    source = tmp_path / "local copy.zip"
    source.write_bytes(PAYLOAD)
    out = tmp_path / "archives" / "kvasir-seg.zip"
    download(source.as_uri(), out, checksum=f"md5:{MD5}")
    assert out.read_bytes() == PAYLOAD


BAD_ARGUMENTS = [
    ("ftp://example.org/a.zip", {}, ConfigError, "unsupported URL scheme 'ftp'"),
    ("file:archives/a.zip", {}, ConfigError, "not an absolute local path; write it as file:///absolute/path"),
    ("file://server/share/a.zip", {}, ConfigError, "not an absolute local path"),
    ("file:///nonexistent/kdseg/a.zip", {}, DataError, "/nonexistent/kdseg/a.zip does not exist"),
    ("file:///nonexistent/kdseg/a.zip", {"checksum": "sha256:abc"}, ConfigError, "a sha256 digest is 64 hex digits"),
    ("file:///nonexistent/kdseg/a.zip", {"retries": -1}, ConfigError, "retries must be 0 or more, got -1"),
]


@pytest.mark.parametrize(("url", "kwargs", "error", "message"), BAD_ARGUMENTS)
def test_download_rejects(tmp_path: Path, url: str, kwargs: dict, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        download(url, tmp_path / "a.zip", **kwargs)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------- command line
@pytest.mark.usefixtures("restore_logging")
def test_download_entry(server: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "kvasir-seg.zip"
    download_entry(["--url", server.url, "--out", str(out), "--checksum", f"sha256:{SHA256}", "--retries", "0"])
    assert out.read_bytes() == PAYLOAD

    server.serve("404")
    with pytest.raises(SystemExit) as exit_info:
        download_entry(["--url", server.url, "--out", str(tmp_path / "other.zip")])
    assert exit_info.value.code == 1
    assert f"kdseg-download: error: Download of {server.url} failed with HTTP 404" in capsys.readouterr().err
