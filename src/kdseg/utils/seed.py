"""Seeds that do not depend on execution order.

Artifacts must be the same bytes whatever the number of workers or the order in which samples are
visited, so every random decision draws from a generator seeded by :func:`derive_seed` with the
base seed and the keys that identify it (sample id, epoch, copy index...), never from a shared stream.
"""

from __future__ import annotations

import hashlib
import os
import random

import numpy as np

__all__ = ["derive_seed", "rng_for", "seed_everything"]


def derive_seed(base: int, *keys: object) -> int:
    """Return a 32-bit seed determined by ``base`` and ``keys`` (stable across runs and machines)."""
    text = "\x1f".join([str(int(base)), *map(str, keys)])
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "little")


def rng_for(base: int, *keys: object) -> np.random.Generator:
    """A NumPy generator seeded with :func:`derive_seed` of ``base`` and ``keys``."""
    return np.random.default_rng(derive_seed(base, *keys))


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    os.environ["PYTHONHASHSEED"] = str(seed)
    try:
        import torch
    except ImportError:  # the data stages run without torch
        return
    torch.manual_seed(seed)
