"""The workflow on a real SLURM cluster through profiles/slurm.

The demo data stages of one experiment (demo archive → extract → ingest → split → augment) run with
``--profile profiles/slurm`` in a temporary folder; the test then asks the controller for the jobs
submitted from that folder and checks that every rule's job went through sbatch and completed, and
that the executor's per-job logs are named by those job ids. A job that ran anywhere else (a local
fallback, a rule made local) fails the test.

Where no SLURM answers (``sinfo`` missing or no idle node) the test skips, except in CI after
.ci/slurm.sh started a cluster (``CI=true`` and ``KDSEG_SLURM_CI=1``), where it fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "profiles" / "slurm"
TARGET = "results/demo/kd_resunetpp/augmented"
# the jobs TARGET needs from an empty folder, one per rule
EXPECTED_RULES = ["augment_train_set", "data_extract", "data_ingest", "data_make_demo", "data_split"]
SLURM_REQUIRED = os.environ.get("CI") == "true" and os.environ.get("KDSEG_SLURM_CI") == "1"


def _command_output(*command: str) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=30).stdout


def _slurm_unavailable() -> str | None:
    """Why no job could run on SLURM here, or None when a node is idle and waiting."""
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return "SLURM client commands (sinfo, sbatch) are not installed"
    try:
        states = _command_output("sinfo", "--noheader", "--Node", "--format=%T").split()
    except subprocess.CalledProcessError as err:
        return f"sinfo cannot reach a SLURM controller ({(err.stderr or '').strip() or err})"
    except subprocess.TimeoutExpired:
        return "sinfo did not answer within 30 s"
    if not {"idle", "mixed"} & set(states):
        return f"no SLURM node is idle (node states: {states or 'none'})"
    return None


@pytest.fixture
def slurm_cluster() -> None:
    reason = _slurm_unavailable()
    if reason is None:
        return
    if SLURM_REQUIRED:
        pytest.fail(f"CI started a SLURM cluster (.ci/slurm.sh) but {reason}; see /var/log/slurm/*.log")
    pytest.skip(reason)


def _jobs_submitted_from(workdir: Path) -> list[dict[str, str]]:
    """The controller's records (``scontrol show job``) of the jobs whose working folder is ``workdir``.

    Without accounting, finished jobs stay in the controller for MinJobAge seconds (.ci/slurm.sh: 600).
    """
    records = []
    for line in _command_output("scontrol", "--oneliner", "show", "job").splitlines():
        fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
        if fields.get("WorkDir") == str(workdir):
            records.append(fields)
    return records


def _snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    command = [
        sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(workdir),
        "--configfile", str(ROOT / "workflow_config.yaml"), *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)


def test_profile_asks_slurm_for_what_the_cluster_needs():
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text(encoding="utf-8"))
    assert profile["executor"] == "slurm"
    # a cluster without accounting: sacct would hang; no account is guessed
    assert profile["slurm-status-command"] == "squeue"
    assert profile["slurm-no-account"] is True
    for rule in ("train_pretrain", "train_model", "distill_student", "export_engine"):
        assert profile["set-resources"][rule]["gpu"] == 1, rule
        assert profile["set-resources"][rule]["runtime"] > 0, rule
    # the workflow profile is applied under --profile slurm too and must not override execution settings
    default = yaml.safe_load((ROOT / "profiles" / "default" / "config.yaml").read_text(encoding="utf-8"))
    assert not set(default) & {"executor", "jobs", "cores", "latency-wait", "keep-going", "default-resources", "set-resources"}


def test_demo_data_stages_run_as_slurm_jobs(tmp_path, slurm_cluster):
    workdir = tmp_path.resolve()
    begin = time.monotonic()
    # status checks every few seconds instead of the profile's 20 s: the demo jobs take seconds
    result = _snakemake(workdir, "--profile", str(PROFILE), "--slurm-init-seconds-before-status-checks", "1", "--slurm-keep-successful-logs", TARGET)
    wall = time.monotonic() - begin
    assert result.returncode == 0, f"snakemake on SLURM failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    assert (workdir / TARGET / "manifest.csv").is_file()

    jobs = _jobs_submitted_from(workdir)
    rules = sorted(job["Comment"].removeprefix("rule_").split("_wildcards_")[0] for job in jobs)
    assert rules == EXPECTED_RULES, f"jobs SLURM ran from {workdir}: {rules}\n{result.stderr[-3000:]}"
    assert {(job["JobState"], job["ExitCode"]) for job in jobs} == {("COMPLETED", "0:0")}
    # the executor names each job's log by its SLURM job id
    logs = sorted(p.stem for p in (workdir / ".snakemake" / "slurm_logs").rglob("*.log"))
    assert logs == sorted(job["JobId"] for job in jobs)
    print(f"{len(jobs)} SLURM jobs in {wall:.1f} s")
