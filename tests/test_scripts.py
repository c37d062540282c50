"""scripts/job_times.py: per-job figures read back from Snakemake's benchmark files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _job_times(*folders: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "job_times.py"), *map(str, folders)], capture_output=True, text=True)


def test_jobs_slowest_first_with_totals(tmp_path):
    demo = tmp_path / "demo"
    (demo / "train_model" / "kd").mkdir(parents=True)
    (demo / "train_model" / "kd" / "teacher.tsv").write_text(HEADER + "12.5\t0:00:12\t500.0\t0\t0\t0\t0\t0\t90\t20.0\n")
    (demo / "augment").mkdir()
    (demo / "augment" / "kd.tsv").write_text(HEADER + "3.0\t0:00:03\t800.0\t0\t0\t0\t0\t0\t90\t2.5\n")
    result = _job_times(demo)
    assert result.returncode == 0, result.stderr
    rows = result.stdout.splitlines()
    assert rows[1].split() == ["demo/train_model/kd/teacher", "12.5", "20.0", "500.0"]
    assert rows[2].split() == ["demo/augment/kd", "3.0", "2.5", "800.0"]
    assert rows[-1] == "2 jobs: 16 s wall (sum over jobs), 22 s CPU, peak RSS 800 MB"
    only = subprocess.run([sys.executable, str(ROOT / "scripts" / "job_times.py"), str(demo), "--match", "train_model"], capture_output=True, text=True)
    assert only.returncode == 0 and only.stdout.splitlines()[-1] == "1 jobs: 12 s wall (sum over jobs), 20 s CPU, peak RSS 500 MB"


def test_no_benchmarks_says_so(tmp_path):
    result = _job_times(tmp_path)
    assert result.returncode == 1 and "no benchmark files under" in result.stderr and "run the workflow first" in result.stderr
