"""The core budget of a local run never exceeds the cores the process may use."""

from __future__ import annotations

import os

import pytest

from kdseg.utils.cores import available_cores, capped_cores


@pytest.mark.parametrize(("requested", "available", "expected"), [(8, 2, 2), (2, 2, 2), (1, 2, 1), (2, 8, 2), (None, 2, None)])
def test_capped_cores(requested, available, expected):
    assert capped_cores(requested, available) == expected


def test_available_cores_follow_the_affinity(monkeypatch):
    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("no CPU affinity on this platform")
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 3})
    assert available_cores() == 2
    assert capped_cores(8) == 2
