"""Training keeps freed heap memory where glibc allows it, and changes nothing elsewhere."""

from __future__ import annotations

import platform

import pytest

from kdseg.utils import memory
from kdseg.utils.memory import retain_freed_memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt's settings are glibc's")
def test_glibc_takes_every_setting():
    assert retain_freed_memory() is True


def test_an_allocator_without_mallopt_is_left_alone(monkeypatch):
    monkeypatch.setattr(memory.ctypes.util, "find_library", lambda _name: "libkdseg-no-such-c-library.so")
    assert retain_freed_memory() is False
