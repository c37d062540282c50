"""Progress bars that stay readable when stderr is a log file."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm.auto import tqdm

__all__ = ["progress"]

T = TypeVar("T")


def progress(iterable: Iterable[T] | None, desc: str, **kwargs: Any) -> tqdm:
    """A tqdm bar on stderr: live on a terminal, one line every 30 s in a log file (rules redirect stderr)."""
    interactive = sys.stderr.isatty()
    kwargs.setdefault("mininterval", 0.1 if interactive else 30.0)
    kwargs.setdefault("dynamic_ncols", interactive)
    return tqdm(iterable, desc=desc, file=sys.stderr, **kwargs)
