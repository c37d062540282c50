#!/usr/bin/env python3
"""Print the wall time, CPU time and peak memory of every job of a run, from Snakemake's benchmark files.

Every heavy rule writes ``benchmarks/<preset>/<rule>/<...>.tsv`` (data-set rules ``benchmarks/data/...``);
this reads them and prints one row per job, slowest first, and the totals. Use it to size the SLURM
profile's ``runtime`` and ``mem_mb`` or to see where a preset spends its time:

    python scripts/job_times.py benchmarks/demo benchmarks/data
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def job_times(folders: list[Path]) -> pd.DataFrame:
    """One row per benchmark file: job (its path below the folder), wall s, CPU s, peak RSS MB."""
    rows = []
    for folder in folders:
        for tsv in sorted(folder.rglob("*.tsv")):
            last = pd.read_csv(tsv, sep="\t").iloc[-1]  # one row per repeat of benchmark: repeat(...); the last counts
            rows.append({"job": f"{folder.name}/{tsv.relative_to(folder).with_suffix('')}", "wall_s": last["s"], "cpu_s": last["cpu_time"], "max_rss_mb": last["max_rss"]})
    if not rows:
        raise SystemExit(f"no benchmark files under {', '.join(map(str, folders))}: run the workflow first")
    return pd.DataFrame(rows).sort_values("wall_s", ascending=False, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="benchmark folders, e.g. benchmarks/demo benchmarks/data")
    times = job_times(parser.parse_args().folders)
    print(times.to_string(index=False, float_format=lambda x: f"{x:.1f}"))
    print(f"\n{len(times)} jobs: {times['wall_s'].sum():.0f} s wall (sum over jobs), {times['cpu_s'].sum():.0f} s CPU, peak RSS {times['max_rss_mb'].max():.0f} MB")


if __name__ == "__main__":
    main()
