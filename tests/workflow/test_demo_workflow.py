"""The workflow itself: the complete graph, the demo data stages end to end, caching and reproducibility,
and the messages a user gets for a bad configuration or missing data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = ("kd_resunetpp", "attunet_transfer", "xpnet", "brats_ensemble_kd", "dsd")
# 2D experiments write their augmented set once; 3D ones draw patches on the fly (kdseg.engine.patches)
EXPERIMENTS_2D = EXPERIMENTS[:3]


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run snakemake on the repository's Snakefile in ``workdir`` (so results land there)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(workdir), "--configfile", str(ROOT / "workflow_config.yaml"), "--cores", "2", *args]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def test_dry_run_shows_the_complete_graph(tmp_path):
    out = snakemake(tmp_path, "-n", "submission").stdout
    for rule in (
        "data_make_demo", "data_extract", "data_ingest", "data_split", "augment_train_set", "train_pretrain", "train_model",
        "distill_student", "pseudolabel_ensemble", "evaluate_model", "evaluate_ensemble", "export_onnx", "bench_fps", "package_mediaeval",
        "package_endocv", "package_brats",
    ):
        assert f"rule {rule}:" in out, rule
    for exp in EXPERIMENTS:
        assert (f"results/demo/{exp}/augmented" in out) == (exp in EXPERIMENTS_2D), exp
        assert f"results/demo/{exp}/metrics/" in out
    assert "results/demo/brats_ensemble_kd/metrics/ensemble.json" in out


def test_lint_is_clean(tmp_path):
    result = snakemake(tmp_path, "--lint", check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_demo_data_stages_are_cached_and_reproducible(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    snakemake(first, "data")
    data = first / "results" / "data"
    assert len(pd.read_csv(data / "kvasir_seg_demo" / "manifest.csv")) == 40
    assert len(pd.read_csv(data / "polypgen_demo" / "manifest.csv")) == 40
    brats = pd.read_csv(data / "brats_demo" / "manifest.csv")
    assert len(brats) == 12 and set(brats["modalities"]) == {"flair,t1,t1ce,t2"}
    heldout = pd.read_csv(data / "brats_demo" / "splits" / "brats_heldout.csv")
    assert set(heldout["subset"]) == {"train", "val", "test", "unlabelled"}
    polyp = pd.read_csv(data / "polypgen_demo" / "splits" / "ratio_95_5.csv").merge(pd.read_csv(data / "polypgen_demo" / "manifest.csv"), on="id")
    assert polyp.groupby("group")["subset"].nunique().max() == 1  # no sequence straddles train and val
    for exp in EXPERIMENTS_2D:
        augmented = first / "results" / "demo" / exp / "augmented"
        manifest = pd.read_csv(augmented / "manifest.csv")
        assert len(manifest) > 0 and all((augmented / p).is_file() for p in manifest["image"])

    rerun = snakemake(first, "data")
    assert "Nothing to be done" in rerun.stdout + rerun.stderr

    snakemake(second, "data")
    for folder in (Path("results/data"), *(Path("results/demo") / exp / "augmented" for exp in EXPERIMENTS_2D)):
        files = sorted(p.relative_to(first / folder) for p in (first / folder).rglob("*") if p.is_file())
        assert files == sorted(p.relative_to(second / folder) for p in (second / folder).rglob("*") if p.is_file())
        for name in files:
            if name.suffix in (".csv", ".png", ".gz", ".json", ".txt"):
                assert (first / folder / name).read_bytes() == (second / folder / name).read_bytes(), folder / name


def test_a_bad_key_stops_the_run_before_any_job(tmp_path):
    result = snakemake(tmp_path, "-n", "--config", "presets={demo: {experiments: {kd_resunetpp: {train: {epocs: 2}}}}}", check=False)
    assert result.returncode != 0
    assert "experiments.kd_resunetpp.train: unknown key(s) 'epocs'" in result.stderr + result.stdout
    assert "Did you mean 'epochs'?" in result.stderr + result.stdout


def test_missing_registration_data_says_where_to_get_it(tmp_path):
    result = snakemake(tmp_path, "-n", "results/data/polypgen/manifest.csv", check=False)
    text = result.stderr + result.stdout
    assert result.returncode != 0
    assert "resources/external/PolypGen2021_MultiCenterData_v3, which does not exist" in text
    assert "https://www.synapse.org/#!Synapse:syn26376615" in text
    assert "--config 'datasets={polypgen: {source: /path/to/it}}'" in text


def test_engines_without_tensorrt_stop_before_any_job(tmp_path):
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the message is for machines without it")
    result = snakemake(tmp_path, "-n", "submission", "--config", "preset=paper", check=False)
    text = result.stderr + result.stdout
    assert result.returncode != 0
    assert "TensorRT engines (fp16, fp32) are requested (export.engines)" in text
    assert "pip install --extra-index-url https://pypi.nvidia.com tensorrt-cu12" in text
