"""Checked string options with a suggestion for near misses (as MONAI's ``look_up_option``)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import TypeVar

from kdseg.utils.errors import ConfigError

__all__ = ["look_up_option"]

T = TypeVar("T")


def look_up_option(value: str, allowed: Mapping[str, T] | Iterable[str], what: str = "option") -> T | str:
    """Return ``allowed[value]`` (mapping) or ``value`` (iterable) if ``value`` is allowed.

    Raises:
        ConfigError: naming ``what``, the bad value, the allowed values and the closest match.
    """
    names = list(allowed.keys()) if isinstance(allowed, Mapping) else list(allowed)
    if value in names:
        return allowed[value] if isinstance(allowed, Mapping) else value
    close = difflib.get_close_matches(str(value), [str(n) for n in names], n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ConfigError(f"Unknown {what} {value!r}; allowed: {', '.join(map(repr, sorted(names)))}.{hint}")
