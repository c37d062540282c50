"""Shared helpers: atomic output, order-independent seeds, CLI conventions, user-facing errors."""

from kdseg.utils.errors import ChecksumError, ConfigError, DataError, DiskFullError, KdsegError, UnsafeArchiveError
from kdseg.utils.io import (
    atomic_directory,
    atomic_write,
    file_digest,
    gzip_bytes,
    read_json,
    write_bytes,
    write_csv,
    write_json,
    write_text,
)
from kdseg.utils.options import look_up_option
from kdseg.utils.seed import derive_seed, rng_for, seed_everything

__all__ = [
    "ChecksumError",
    "ConfigError",
    "DataError",
    "DiskFullError",
    "KdsegError",
    "UnsafeArchiveError",
    "atomic_directory",
    "atomic_write",
    "derive_seed",
    "file_digest",
    "gzip_bytes",
    "look_up_option",
    "read_json",
    "rng_for",
    "seed_everything",
    "write_bytes",
    "write_csv",
    "write_json",
    "write_text",
]
