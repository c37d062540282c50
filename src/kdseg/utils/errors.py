"""User-facing errors.

A :class:`KdsegError` carries a message written for the person running the workflow: what went wrong,
which file or key, and what to do. Stage commands catch it at the top level and print it without a
traceback (see :func:`kdseg.utils.cli.run_entry`); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = ["KdsegError", "ConfigError", "DataError", "ChecksumError", "DiskFullError", "UnsafeArchiveError"]


class KdsegError(Exception):
    """An error the user can fix; the message says how."""


class ConfigError(KdsegError):
    """A configuration key has a wrong name, type or value."""


class DataError(KdsegError):
    """An input file or data set is missing, unreadable or inconsistent."""


class ChecksumError(DataError):
    """A downloaded or local archive does not match its pinned checksum."""


class UnsafeArchiveError(DataError):
    """An archive holds a member that could escape or corrupt the extraction folder."""


class DiskFullError(KdsegError):
    """The disk (or quota) ran out while writing an output; the previous output is kept."""
