"""How many CPU cores this process may use, and the local core budget that follows from it."""

from __future__ import annotations

import os

__all__ = ["available_cores", "capped_cores"]


def available_cores() -> int:
    """The cores this process may run on: its CPU affinity (what ``taskset``, cgroups cpusets and SLURM
    allocations restrict), else every core of the machine."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def capped_cores(requested: int | None, available: int | None = None) -> int | None:
    """The cores a local run may hand out: ``requested`` (``--cores``), but no more than are ``available``.

    More would only start more jobs that compete for the same cores: ``--cores 8`` on 2 cores ran four
    2-thread trainings at once, at twice the wall time of ``--cores 2``.

    Args:
        requested: the cores asked for; None (not given) stays None.
        available: the cores there are. Defaults to :func:`available_cores`.
    """
    if requested is None:
        return None
    return min(requested, available if available is not None else available_cores())
