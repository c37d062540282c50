"""Conventions shared by every ``kdseg-*`` command.

Each stage has an ``<verb>_entry`` function that builds an argparse parser, then calls a typed API
function with explicit arguments (as nnU-Net's ``*_entry`` functions do). :func:`run_entry` turns a
:class:`~kdseg.utils.errors.KdsegError` into one clear message on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from kdseg.utils.errors import ConfigError, KdsegError

__all__ = ["add_common_args", "add_device_args", "json_arg", "run_entry", "setup_logging"]

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def add_common_args(parser: argparse.ArgumentParser, *, seed: bool = False) -> None:
    """Add the flags every stage shares: ``--verbose`` and, where results depend on it, ``--seed``."""
    parser.add_argument("-v", "--verbose", action="store_true", help="[OPTIONAL] log debug messages.")
    if seed:
        parser.add_argument(
            "--seed",
            type=int,
            default=0,
            help="[OPTIONAL] base seed; changes results. Default: 0.",
        )


def add_device_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--device`` and ``--threads`` for the stages that run a network."""
    parser.add_argument("--device", default="auto", help="[OPTIONAL] auto (CUDA when available), cpu or cuda[:n]. Default: auto.")
    parser.add_argument("--threads", type=int, default=1, help="[OPTIONAL] CPU threads for torch. Default: 1.")


def json_arg(text: str) -> Any:
    """argparse type for a JSON value given on the command line (``--options '{"epochs": 2}'``)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON ({err.msg} at position {err.pos}): {text!r}") from err


def setup_logging(verbose: bool = False) -> None:
    """Log to stderr (which the rules redirect into ``logs/``)."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=LOG_FORMAT, stream=sys.stderr, force=True)


def run_entry(parser: argparse.ArgumentParser, work: Callable[[argparse.Namespace], Any], argv: Sequence[str] | None = None) -> None:
    """Parse ``argv``, set up logging and call ``work``; a :class:`KdsegError` exits 1 with its message."""
    args = parser.parse_args(argv)
    setup_logging(getattr(args, "verbose", False))
    try:
        work(args)
    except ConfigError as err:
        print(f"{parser.prog}: configuration error: {err}", file=sys.stderr)
        raise SystemExit(1) from None
    except KdsegError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        raise SystemExit(1) from None
