"""Training engine: one :class:`Trainer` with hooks, its variants, checkpoints and inference.

Trainers are chosen by class name (``trainer:`` in a model's config, ``kdseg-train`` reads it) through
:func:`find_trainer`, which looks in :mod:`kdseg.engine.trainer` and every module under
:mod:`kdseg.engine.variants`.
"""

from __future__ import annotations

import importlib
import pkgutil

from kdseg.engine.trainer import Trainer
from kdseg.utils.errors import ConfigError

__all__ = ["Trainer", "available_trainers", "find_trainer"]


def available_trainers() -> dict[str, type[Trainer]]:
    """Every public :class:`Trainer` subclass, by class name: the names ``trainer:`` accepts."""
    import kdseg.engine.variants as variants

    found: dict[str, type[Trainer]] = {"Trainer": Trainer}
    for info in pkgutil.walk_packages(variants.__path__, prefix=f"{variants.__name__}."):
        module = importlib.import_module(info.name)
        for attr, value in vars(module).items():
            if isinstance(value, type) and issubclass(value, Trainer) and not attr.startswith("_"):
                found[attr] = value
    return found


def find_trainer(name: str) -> type[Trainer]:
    """The :class:`Trainer` subclass called ``name``.

    Raises:
        ConfigError: saying where it looked, the names it found and how to add a trainer.
    """
    found = available_trainers()
    if name in found:
        return found[name]
    import difflib

    close = difflib.get_close_matches(name, found, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ConfigError(
        f"no trainer class {name!r} in kdseg.engine.trainer or kdseg.engine.variants.*; found: {', '.join(sorted(found))}.{hint} "
        "To add one, subclass kdseg.engine.Trainer in a module under src/kdseg/engine/variants/<concern>/ and override the hook that changes."
    )
