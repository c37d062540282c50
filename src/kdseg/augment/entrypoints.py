"""Console command ``kdseg-augment``: materialise a 2D experiment's augmented training set."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from kdseg.utils.cli import add_common_args, run_entry

__all__ = ["augment_entry"]


def augment_entry(argv: Sequence[str] | None = None) -> None:
    """``kdseg-augment``: apply a paper's 2D recipe to the training subset and write images, masks and a manifest.

    3D experiments need no such set: their training cuts a fresh patch every time a case is drawn.
    """
    from kdseg.augment.materialize import augment_dataset
    from kdseg.augment.recipes import RECIPES

    parser = argparse.ArgumentParser(prog="kdseg-augment", description=augment_entry.__doc__)
    parser.add_argument("--manifest", required=True, type=Path, help="[REQUIRED] manifest CSV of the data set.")
    parser.add_argument("--split", required=True, type=Path, help="[REQUIRED] split CSV; its train subset is augmented.")
    parser.add_argument("--recipe", required=True, choices=sorted(RECIPES), help="[REQUIRED] the paper's 2D recipe.")
    parser.add_argument("--size", required=True, type=int, nargs="+", help="[REQUIRED] output size: H W.")
    parser.add_argument("--copies", type=int, default=1, help="[OPTIONAL] augmented copies per training sample; changes results. Default: 1.")
    parser.add_argument(
        "--online", action="store_true", help="[OPTIONAL] write the resized originals only; training draws the augmentations every epoch (needs --copies 0)."
    )
    parser.add_argument("--threads", type=int, default=1, help="[OPTIONAL] worker processes. Default: 1.")
    parser.add_argument("--out", required=True, type=Path, help="[REQUIRED] folder to write (replaced atomically).")
    add_common_args(parser, seed=True)
    run_entry(
        parser,
        lambda a: augment_dataset(a.manifest, a.split, a.recipe, tuple(a.size), a.copies, a.seed, a.out, online=a.online, threads=a.threads),
        argv,
    )
