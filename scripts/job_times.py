#!/usr/bin/env python3
"""Print the wall time, CPU time and peak memory of every job of a run, from Snakemake's benchmark files.

Every heavy rule writes ``benchmarks/<preset>/<rule>/<...>.tsv`` (data-set rules ``benchmarks/data/...``);
this reads them and prints one row per job, slowest first, and the totals. Use it to size the SLURM
profile's ``runtime`` and ``mem_mb`` or to see where a preset spends its time:

    python scripts/job_times.py benchmarks/demo benchmarks/data
    python scripts/job_times.py benchmarks/cpu --match kd_resunetpp   # the jobs of one experiment
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def job_times(folders: list[Path], match: str = "") -> pd.DataFrame:
    """One row per benchmark file whose job name contains ``match``: job (its path below the folder), wall s, CPU s, peak RSS MB."""
    rows = []
    for folder in folders:
        for tsv in sorted(folder.rglob("*.tsv")):
            job = f"{folder.name}/{tsv.relative_to(folder).with_suffix('')}"
            if match not in job:
                continue
            last = pd.read_csv(tsv, sep="\t").iloc[-1]  # one row per repeat of benchmark: repeat(...); the last counts
            rows.append({"job": job, "wall_s": last["s"], "cpu_s": last["cpu_time"], "max_rss_mb": last["max_rss"]})
    if not rows:
        raise SystemExit(f"no benchmark files{f' of jobs matching {match!r}' if match else ''} under {', '.join(map(str, folders))}: run the workflow first")
    return pd.DataFrame(rows).sort_values("wall_s", ascending=False, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="benchmark folders, e.g. benchmarks/demo benchmarks/data")
    parser.add_argument("--match", default="", help="only jobs whose name contains this text, e.g. an experiment")
    args = parser.parse_args()
    times = job_times(args.folders, args.match)
    print(times.to_string(index=False, float_format=lambda x: f"{x:.1f}"))
    print(f"\n{len(times)} jobs: {times['wall_s'].sum():.0f} s wall (sum over jobs), {times['cpu_s'].sum():.0f} s CPU, peak RSS {times['max_rss_mb'].max():.0f} MB")


if __name__ == "__main__":
    main()
