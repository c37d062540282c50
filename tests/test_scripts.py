"""scripts/job_times.py: per-job figures read back from Snakemake's benchmark files; scripts/gpu_run.sh:
what it prepares, what its dry run sends, and the summary of a GPU run; scripts/probe_3d_components.py: the
split of a 3D prediction's errors into scattered false positives and the tumour; scripts/probe_2d_training.py:
the batch-norm drift of a trained 2D network."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

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


# ----------------------------------------------------------------------------------------- scripts/gpu_run.sh
GPU_RUN = ROOT / "scripts" / "gpu_run.sh"
TRAIN_IDS, VAL_IDS = ["t0", "t1", "t2", "t3", "t4"], ["v0", "v1"]


def _gpu_run(*args: str | Path) -> subprocess.CompletedProcess:
    """The script with this interpreter's python3 first on the PATH (kdseg is installed there)."""
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(["bash", str(GPU_RUN), *map(str, args)], capture_output=True, text=True, env=env)


def _kvasir_release(folder: Path) -> Path:
    """A Kvasir-SEG release folder: 1000-byte images, 500-byte masks, the official lists."""
    for sample_id in TRAIN_IDS + VAL_IDS:
        for sub, size in (("images", 1000), ("masks", 500)):
            (folder / sub).mkdir(parents=True, exist_ok=True)
            (folder / sub / f"{sample_id}.jpg").write_bytes(sample_id.encode() * (size // 2))
    lists = folder / "splits" / "medico2020"
    lists.mkdir(parents=True)
    (lists / "train.txt").write_text("\n".join(TRAIN_IDS) + "\n")
    (lists / "val.txt").write_text("\n".join(VAL_IDS) + "\n")
    return folder


@pytest.fixture
def prepared(tmp_path: Path) -> Path:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for name in ("albumentations-2.0.8-py3-none-any.whl", "pydantic_core-2.50.5-cp312-cp312-manylinux2014_x86_64.whl"):
        (wheels / name).write_bytes(b"w" * 2000)
    # validation pairs take 3000 bytes, each training pair 1500: 7549 bytes hold the first 3 training pairs
    result = _gpu_run("prepare", "--carried", tmp_path / "carried", "--data", _kvasir_release(tmp_path / "kvasir"), "--data-mib", 7549 / 2**20, "--train-minutes", 1.5, "--wheels-from", wheels)
    assert result.returncode == 0, result.stderr
    return tmp_path / "carried"


def test_gpu_run_prepare_carries_the_validation_images_and_the_first_training_images(prepared: Path, tmp_path: Path) -> None:
    record = json.loads((prepared / "prepared.json").read_text())
    assert (record["train_images"], record["train_images_listed"], record["val_images"]) == (3, 5, 2)
    assert record["augment"] == {"recipe": "kd_resunetpp", "size": [256, 256], "copies": 1}
    assert record["wheels"] == ["albumentations-2.0.8-py3-none-any.whl", "pydantic_core-2.50.5-cp312-cp312-manylinux2014_x86_64.whl"]
    with tarfile.open(prepared / "kvasir-seg.tar") as tar:
        names = tar.getnames()
        lists = {name: tar.extractfile(name).read().decode() for name in ("kvasir-seg/splits/train.txt", "kvasir-seg/splits/val.txt")}
    assert sorted(names) == sorted([f"kvasir-seg/{sub}/{i}.jpg" for i in ["t0", "t1", "t2", "v0", "v1"] for sub in ("images", "masks")] + list(lists))
    assert lists == {"kvasir-seg/splits/train.txt": "t0\nt1\nt2\n", "kvasir-seg/splits/val.txt": "v0\nv1\n"}
    teacher, student = (json.loads((prepared / "settings" / f"{m}.json").read_text()) for m in ("resunetpp", "kd_resunetpp"))
    assert (teacher["size"], teacher["train"]["batch_size"], teacher["train"]["max_minutes"], teacher["train"]["optimizer"]) == ([256, 256], 8, 1.5, {"name": "adam", "lr": 0.001})
    assert (student["trainer"], student["teachers"], student["train"]["max_minutes"]) == ("SelfDistillationTrainer", ["resunetpp"], 1.5)
    first = (prepared / "kvasir-seg.tar").read_bytes()
    again = _gpu_run("prepare", "--carried", prepared, "--data", tmp_path / "kvasir", "--data-mib", 7549 / 2**20, "--wheels-from", tmp_path / "wheels")
    assert again.returncode == 0 and (prepared / "kvasir-seg.tar").read_bytes() == first  # same files, same bytes


def test_gpu_run_prepare_refuses_a_budget_below_the_validation_images(tmp_path: Path) -> None:
    result = _gpu_run("prepare", "--carried", tmp_path / "carried", "--data", _kvasir_release(tmp_path / "kvasir"), "--data-mib", 0.001, "--wheels-from", tmp_path)
    assert result.returncode == 1 and "the 2 validation images alone take 0.0 MiB, more than --data-mib" in result.stderr


def test_gpu_run_dry_run_lists_what_it_sends_and_checks_the_total(prepared: Path) -> None:
    result = _gpu_run("--dry-run", "--carried", prepared)
    assert result.returncode == 0, result.stderr
    assert "Plan (one command on the GPU machine, at most 8 minutes):" in result.stdout
    assert "Data: 3 of 5 official training images, 2 validation images" in result.stdout
    sent = re.search(r"Sent: (\d+) files, ([\d.]+) MiB of 64 MiB \(working tree: (\d+) files", result.stdout)
    carried = sorted(path for path in prepared.rglob("*") if path.is_file())
    assert sent and int(sent[1]) == int(sent[3]) + len(carried) == int(sent[3]) + 6
    for path in carried:
        assert f"MiB  {path}" in result.stdout
    over = _gpu_run("--dry-run", "--carried", prepared, "--limit-mib", 0.01)
    assert over.returncode == 1 and "MiB would be sent, over the 0.01 MiB limit; prepare again with a smaller --data-mib" in over.stderr


def test_gpu_run_dry_run_before_prepare_says_what_to_do(tmp_path: Path) -> None:
    result = _gpu_run("--dry-run", "--carried", tmp_path)
    assert result.returncode == 1
    assert "lacks kvasir-seg.tar, prepared.json, settings/resunetpp.json, settings/kd_resunetpp.json, wheels/*.whl; run 'scripts/gpu_run.sh prepare' first" in result.stderr


def test_gpu_run_summary_sets_each_runtime_beside_the_papers_and_the_peak(tmp_path: Path) -> None:
    work, out = tmp_path / "work", tmp_path / "out"
    for model, epochs, dsc in (("resunetpp", 21, 0.78), ("kd_resunetpp", 17, 0.80)):
        (work / "models" / model).mkdir(parents=True)
        (work / "models" / model / "summary.json").write_text(json.dumps({"epochs_run": epochs}))
        out.mkdir(exist_ok=True)
        (out / f"{model}.metrics.json").write_text(json.dumps({"metrics": {"dsc": dsc, "jaccard": dsc - 0.1}}))
    (work / "steps.tsv").write_text("install\t12\t0\nbenchmark\t95\t124\n")

    def measured(fps: float, per_second: float) -> dict:
        return {
            "status": "ok", "label": "x", "max_abs_diff_vs_reference": 0.01, "mask_dice_vs_reference": {"mean": 0.999, "min": 0.998, "cases": 16},
            "model_call": {"fps": fps, "p99_ms": 0.8}, "end_to_end": {"fps": 60.0}, "throughput": {"1": {"images_per_s": fps}, "64": {"images_per_s": per_second}},
        }

    bench = {
        "size": [256, 256], "images": 120, "batch_sizes": [1, 64], "flops_per_image": 2e9,
        "environment": {"device_name": "NVIDIA H200", "torch": "2.11.0", "cuda": "13.0", "cudnn": 91000},
        "runtimes": {"pytorch_eager_fp32": measured(200.0, 4000.0), "pytorch_cuda_graph_fp16": measured(1500.0, 9890.0), "onnxruntime": {"status": "skipped", "reason": "no CUDA provider"}},
    }
    (out / "kd_resunetpp.bench.json").write_text(json.dumps(bench))
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "gpu_run.py"), "summarise", "--work", str(work), "--out", str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    summary = (out / "summary.md").read_text()
    assert "paper 000 KD-ResUNet++: 107.88 FPS; paper 001 XP-Net / RTX 3090: 120 FPS" in summary
    # 2e9 FLOP x 9890 images/s = 19.78 TFLOP/s = 2.00 % of 989 TFLOP/s
    assert "| pytorch_cuda_graph_fp16 | 1500.0 | 0.800 | 60.0 | 9890 | 2.00 | 0.01 | 0.9980 |" in summary
    assert "| onnxruntime | skipped: no CUDA provider |" in summary
    assert "| kd_resunetpp | 17 | 0.8000 | 0.7000 | 0.831 |" in summary
    run = json.loads((out / "run.json").read_text())
    assert run["steps"] == [{"step": "install", "seconds": 12.0, "exit_status": 0}, {"step": "benchmark", "seconds": 95.0, "exit_status": 124}]
    assert [row["runtime"] for row in run["runtimes"]] == ["pytorch_cuda_graph_fp16", "pytorch_eager_fp32", "onnxruntime"]  # fastest first
    assert run["runtimes"][0]["peak_fraction"]["64"] == pytest.approx(2e9 * 9890 / 989e12)


def test_component_probe_separates_scattered_false_positives(tmp_path):
    import nibabel as nib
    import numpy as np

    affine = np.diag([1.0, 1.0, 2.0, 1.0])
    reference = np.zeros((20, 20, 10), np.uint8)
    reference[5:11, 5:11, 2:6] = 2  # the tumour: 144 voxels
    brain = np.zeros_like(reference)
    brain[:, :, :8] = 1
    prediction = reference.copy()
    prediction[15, 15, 9] = 1  # a false positive outside the brain
    prediction[1, 18, 1] = 4  # and one inside it
    case = tmp_path / "source" / "case1"
    case.mkdir(parents=True)
    nib.save(nib.Nifti1Image(reference, affine), case / "OTMultiClass.nii.gz")
    nib.save(nib.Nifti1Image(brain, affine), case / "brainmask.nii.gz")
    model = tmp_path / "exp" / "predictions" / "unet3d"
    model.mkdir(parents=True)
    nib.save(nib.Nifti1Image(prediction, affine), model / "case1.nii.gz")
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "probe_3d_components.py"), str(model.parent), "--source", str(tmp_path / "source")],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    cells = [cell.strip() for cell in result.stdout.splitlines()[-1].strip("|").split("|")]
    dice = 2 * 144 / (146 + 144)
    assert cells == ["exp", "unet3d", "case1", f"{dice:.3f}", "3", f"{146 / 144:.2f}", f"{1 / 146:.1%}", "1.000"]


def test_batch_norm_drift_points_at_the_layer_whose_running_statistics_are_stale():
    import importlib.util

    import torch

    from kdseg.models import create_model

    spec = importlib.util.spec_from_file_location("probe_2d_training", ROOT / "scripts" / "probe_2d_training.py")
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    torch.manual_seed(0)
    network = create_model("resunetpp", in_channels=3, out_channels=1, filters=[8, 12, 16, 24, 32])
    images, masks = torch.rand(8, 3, 32, 32), (torch.rand(8, 1, 32, 32) > 0.5).float()
    # running statistics that match the batch exactly: a cumulative average over that one batch
    probe.recalibrate_batch_norm(network, images)
    layers = [m for m in network.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(layer.momentum == 0.1 and not layer.training for layer in layers)  # restored after recalibrating
    scores, ratios = probe.batch_norm_drift(network, images, masks)
    assert len(ratios) == len(layers)
    # close to 1 throughout (the running variance is the unbiased one, and small deviations compound in the decoder)
    assert all(0.9 < median < 1.1 for _, _, median in ratios)
    assert scores["running"]["val_dice"] == pytest.approx(scores["batch"]["val_dice"], abs=1e-3)

    stale = ratios[3][0]
    dict(network.named_modules())[stale].running_var /= 100  # this layer's statistics now lag its activations 100-fold
    before = [name for name, _, _ in ratios]
    running = {k: v.clone() for k, v in network.state_dict().items() if "running" in k}
    scores_after, ratios = probe.batch_norm_drift(network, images, masks)
    assert [name for name, _, _ in ratios] == before
    drifted = {name: median for name, _, median in ratios}
    assert 90 < drifted[stale] < 110 and all(0.99 < drifted[name] < 1.01 for name in before[:3])
    assert scores_after["batch"] == scores["batch"]  # batch statistics ignore the running ones
    assert all(torch.equal(network.state_dict()[k], v) for k, v in running.items())  # and the probe leaves them as they were
    report = probe.drift_report(scores_after, ratios)
    assert f"| {stale} | " in report and "| batch | " in report

    probe.recalibrate_batch_norm(network, images)  # statistics recomputed under the final weights: the drift is gone
    _, ratios = probe.batch_norm_drift(network, images, masks)
    assert all(0.9 < median < 1.1 for _, _, median in ratios)
