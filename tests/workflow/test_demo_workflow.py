"""The workflow itself: the complete graph, the demo data stages end to end, caching and reproducibility,
and the messages a user gets for a bad configuration or missing data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

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
        "distill_student", "pseudolabel_ensemble", "evaluate_model", "evaluate_external", "evaluate_ensemble", "export_onnx", "bench_fps",
        "package_mediaeval", "package_endocv", "package_brats",
    ):
        assert f"rule {rule}:" in out, rule
    for exp in EXPERIMENTS:
        assert (f"results/demo/{exp}/augmented" in out) == (exp in EXPERIMENTS_2D), exp
        assert f"results/demo/{exp}/metrics/" in out
    assert "results/demo/brats_ensemble_kd/metrics/ensemble.json" in out
    # every evaluated model of the 2D experiments on their external demo sets
    for target in ("kd_resunetpp/external/cvc_demo/metrics/kd_resunetpp.json", "attunet_transfer/external/cvc_demo/metrics/attunet.json", "xpnet/external/kvasir_seg_demo/metrics/unet_epsa_pix2pix.json"):
        assert f"results/demo/{target}" in out, target
    assert "results/demo/submissions/mediaeval2020_task2.zip" in out


def test_a_student_started_from_its_teacher_gets_the_teacher_s_weights(tmp_path):
    """``init_from`` on a distilled model (the cpu preset's kd_resunetpp) hands the teacher's checkpoint to the job."""
    config = "presets={demo: {experiments: {kd_resunetpp: {models: {kd_resunetpp: {init_from: resunetpp}}}}}}"
    out = snakemake(tmp_path, "-n", "-p", "results/demo/kd_resunetpp/distill/kd_resunetpp/model.pt", "--config", config).stdout
    teacher = "results/demo/kd_resunetpp/train/resunetpp/model.pt"
    assert f"--init {teacher} --teacher {teacher}" in out


def test_evaluation_and_package_of_an_experiment_predict_alike(tmp_path):
    """``evaluate.mirror`` and ``evaluate.threshold`` reach the experiment's evaluations and the package of
    its model, so the submitted masks are the scored ones."""
    config = "presets={demo: {experiments: {kd_resunetpp: {evaluate: {mirror: true, threshold: 0.4}}}}}"
    targets = ["results/demo/kd_resunetpp/metrics/kd_resunetpp.json", "results/demo/submissions/mediaeval2020_task1.zip", "results/demo/attunet_transfer/metrics/attunet.json"]
    lines = snakemake(tmp_path, "-n", "-p", *targets, "--config", config).stdout.splitlines()
    commands = [line.removeprefix("Shell command: ") for line in lines if line.startswith(("Shell command: kdseg-evaluate", "Shell command: kdseg-package"))]
    flipped = [line for line in commands if "--threshold 0.4 --mirror" in line]
    assert len(flipped) == 2 and {line.split()[0] for line in flipped} == {"kdseg-evaluate", "kdseg-package"}
    assert any("attunet_transfer" in line and "--threshold 0.5 " in line and "--mirror" not in line for line in commands)


# the smallest kd_resunetpp that still runs every stage up to its tables: one epoch of the teacher alone
_SMALL_KD = (
    "presets={demo: {experiments: {kd_resunetpp: {augment: {size: [32, 32]}, train: {epochs: 1},"
    " models: {resunetpp: {arch_kwargs: {filters: [8, 12, 16, 24, 32]}}, kd_resunetpp: {activate: false}},"
    " export: {models: []}, benchmark: {models: []}}}}}"
)


@pytest.mark.slow
def test_external_test_set_end_to_end(tmp_path):
    """The demo's CVC-ClinicDB look-alike is generated, ingested and scored in full; the tables and the
    qualitative figure show it."""
    targets = ["results/demo/tables/kd_resunetpp.md", "results/demo/figures/kd_resunetpp/qualitative.png"]
    snakemake(tmp_path, *targets, "--config", _SMALL_KD)
    manifest = pd.read_csv(tmp_path / "results" / "data" / "cvc_demo" / "manifest.csv", dtype={"id": str})
    assert sorted(manifest["id"], key=int) == [str(n) for n in range(1, 7)]
    assert manifest["image"].str.endswith(".tif").all() and manifest["image"].str.contains("/Original/").all()
    external = tmp_path / "results" / "demo" / "kd_resunetpp" / "external" / "cvc_demo"
    metrics = json.loads((external / "metrics" / "resunetpp.json").read_text())
    assert (metrics["dataset"], metrics["subset"], metrics["cases"]) == ("cvc_demo", "all", 6)
    assert len(pd.read_csv(external / "metrics" / "resunetpp.per_case.csv")) == 6
    for row in manifest.itertuples():  # at each image's own resolution
        with Image.open(external / "predictions" / "resunetpp" / f"{row.id}.png") as prediction:
            assert (prediction.height, prediction.width) == (row.height, row.width)
    table = (tmp_path / "results" / "demo" / "tables" / "kd_resunetpp.md").read_text()
    assert "## Generalisation: DSC and IoU on the evaluation subset and on each external test set (ours)" in table
    assert "| Model | kvasir_seg_demo (val, 5 cases) DSC | kvasir_seg_demo (val, 5 cases) IoU | cvc_demo (external, 6 cases) DSC | cvc_demo (external, 6 cases) IoU |" in table
    assert (tmp_path / "results" / "demo" / "figures" / "kd_resunetpp" / "qualitative.png").is_file()


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
    # the README's report command (tests/test_packaging.py checks that the workflow extra alone provides for it)
    snakemake(first, "--report", "report.html", "data")
    assert "<html" in (first / "report.html").read_text(encoding="utf-8", errors="replace")[:2000].lower()

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


def test_an_unknown_architecture_stops_the_dry_run(tmp_path):
    result = snakemake(tmp_path, "-n", "--config", "experiments={kd_resunetpp: {models: {resunetpp: {arch: resunet_pp}}}}", check=False)
    assert result.returncode != 0
    assert "experiments.kd_resunetpp.models.resunetpp.arch: no architecture named 'resunet_pp'" in result.stderr + result.stdout
    assert "Did you mean 'resunetpp'?" in result.stderr + result.stdout


def test_the_bad_sample_list_outlives_a_failed_ingest(tmp_path):
    """Snakemake deletes a failed job's outputs; the list the error points to must still be there."""
    from tests.data.test_ingest import make_kvasir

    release = make_kvasir(tmp_path / "data")
    (release / "images" / "b.jpg").write_bytes(b"<html>not a JPEG</html>")
    result = snakemake(tmp_path / "run", "results/data/kvasir_seg/manifest.csv", "--config", f"datasets={{kvasir_seg: {{source: {release}}}}}", check=False)
    assert result.returncode != 0
    assert not (tmp_path / "run" / "results/data/kvasir_seg/bad_samples.csv").exists()  # removed with the failed job
    log = (tmp_path / "run" / "logs/data/ingest/kvasir_seg.log").read_text()
    assert "1 of the 3 samples found in" in log and "The full list is in logs/data/ingest/kvasir_seg.bad_samples.csv." in log
    bad = pd.read_csv(tmp_path / "run" / "logs/data/ingest/kvasir_seg.bad_samples.csv")
    assert bad["id"].tolist() == ["b"] and "cannot be read" in bad.loc[0, "reason"]


def test_a_data_set_s_extraction_limits_reach_the_job(tmp_path):
    result = snakemake(tmp_path, "resources/datasets/kvasir_seg_demo", "--config", "datasets={kvasir_seg_demo: {limits: {max_compression_ratio: 0.5}}}", check=False)
    assert result.returncode != 0
    log = (tmp_path / "logs/data/extract/kvasir_seg_demo.log").read_text()
    assert "kdseg-extract: error: Refusing to extract resources/demo/kvasir_seg_demo.zip: it unpacks to" in log
    assert "over the limit of 0.5" in log and not (tmp_path / "resources/datasets/kvasir_seg_demo").exists()


def test_cores_beyond_the_machine_are_not_handed_out(tmp_path):
    """`--cores` above the machine's cores neither starts more jobs nor gives a job more threads than there are cores."""
    from kdseg.utils.cores import available_cores

    cores, asked = available_cores(), available_cores() + 6
    result = snakemake(tmp_path, "results/data/kvasir_seg_demo/manifest.csv", "--cores", str(asked), "--set-threads", f"data_ingest={asked}")
    text = result.stdout + result.stderr
    assert f"kdseg: using {cores} cores: --cores {asked} asks for more than this machine has for it." in text
    assert f"Provided cores: {cores}" in text
    assert f"--threads {cores} --out-manifest" in text  # the ingest job asked for {asked} threads


def test_missing_registration_data_says_where_to_get_it(tmp_path):
    result = snakemake(tmp_path, "-n", "results/data/polypgen/manifest.csv", check=False)
    text = result.stderr + result.stdout
    assert result.returncode != 0
    assert "resources/external/PolypGen2021_MultiCenterData_v3, which does not exist" in text
    assert "https://www.synapse.org/#!Synapse:syn26376615" in text
    assert "--config 'datasets={polypgen: {source: /path/to/it}}'" in text


ENGINE = "results/paper/kd_resunetpp/export/kd_resunetpp.fp16.engine"


def _needs_a_machine_without_cuda() -> None:
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA; the message is for machines without it")


def test_engines_without_tensorrt_stop_a_local_run_before_any_job(tmp_path):
    _needs_a_machine_without_cuda()
    result = snakemake(tmp_path, ENGINE, "--config", "preset=paper", check=False)
    text = result.stderr + result.stdout
    assert result.returncode != 0
    assert "TensorRT engines (fp16, fp32) are requested (export.engines)" in text
    assert "pip install --extra-index-url https://pypi.nvidia.com tensorrt-cu12" in text
    assert not (tmp_path / "logs").exists() and not (tmp_path / "resources").exists()  # no job started


def test_a_cluster_run_is_not_checked_on_the_submitting_machine(tmp_path):
    """A login node without a GPU plans the paper preset for SLURM; the engine jobs check on their GPU node."""
    _needs_a_machine_without_cuda()
    result = snakemake(tmp_path, "-n", "--executor", "slurm", "--jobs", "1", ENGINE, "--config", "preset=paper", check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "TensorRT" not in result.stderr + result.stdout
    assert "export_engine" in result.stdout + result.stderr
