"""Console command ``kdseg-pseudolabel``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from kdseg.utils.cli import add_common_args, add_device_args, run_entry

__all__ = ["pseudolabel_entry"]


def pseudolabel_entry(argv: Sequence[str] | None = None) -> None:
    """``kdseg-pseudolabel``: label held-out cases with the averaged ensemble of the teachers (paper 004)."""
    from kdseg.distill.pseudolabel import pseudolabel

    parser = argparse.ArgumentParser(prog="kdseg-pseudolabel", description=pseudolabel_entry.__doc__)
    parser.add_argument("--teacher", dest="teachers", action="append", type=Path, required=True, help="[REQUIRED] a teacher checkpoint; repeat for each ensemble member.")
    parser.add_argument("--manifest", required=True, type=Path, help="[REQUIRED] manifest CSV.")
    parser.add_argument("--split", required=True, type=Path, help="[REQUIRED] split CSV.")
    parser.add_argument("--subset", default="unlabelled", help="[OPTIONAL] subset to label. Default: unlabelled.")
    parser.add_argument("--threshold", type=float, default=0.5, help="[OPTIONAL] threshold of the averaged probabilities; changes results. Default: 0.5.")
    parser.add_argument("--out", required=True, type=Path, help="[REQUIRED] folder to write (labels/, manifest.csv, ensemble.json).")
    add_device_args(parser)
    add_common_args(parser)
    run_entry(parser, lambda a: pseudolabel(a.teachers, a.manifest, a.split, a.subset, a.out, threshold=a.threshold, device=a.device, threads=a.threads), argv)
