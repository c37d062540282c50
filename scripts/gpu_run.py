#!/usr/bin/env python3
"""The Python half of ``scripts/gpu_run.sh``: one time-boxed run of ``kd_resunetpp`` on a borrowed GPU machine.

That machine has its own torch with CUDA but no MONAI, albumentations, nibabel, jsonschema or Snakemake,
and nothing can be downloaded there; what it needs travels with the working tree (64 MiB in all). So the
run is split in two:

``prepare`` (here, with kdseg installed and PyPI reachable) fills the carried folder (``.gpu-run/``)::

    wheels/*.whl          the pure-Python packages kdseg's 2D stages import that the GPU machine lacks
                          (albumentations and its requirements), at the versions installed here
    kvasir-seg.tar        real Kvasir-SEG: every official Medico validation image, and the official training
                          images in list order while the tar stays within --data-mib (original files)
    settings/<model>.json the paper preset's settings of the teacher and the student (kdseg.config), with a
                          time limit per model (train.max_minutes) and data-loading workers for 16 cores
    prepared.json         what was prepared: counts, sizes, versions, the time limit

``check`` (the dry run; any machine) prints the plan and checks what would be sent: the files of the
working tree (tracked and untracked-not-ignored) plus the carried folder, against the 64 MiB limit.

``summarise`` (there, after the stages ran) writes ``summary.md``: the student's frame rate for every
runtime beside the papers' GPU figures, the throughput with the fraction of the GPU's peak that it reaches,
and the Dice of the short training; and ``run.json`` with the same numbers and each step's wall time.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import io
import json
import subprocess
import sys
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MIB = 2**20
#: what the GPU machine accepts with a command: the working tree and the carried paths together
SEND_LIMIT_MIB = 64
#: packages kdseg's 2D stages import that the GPU machine's image lacks, with their requirements
#: (albumentations 2.0 -> albucore, pydantic; albucore -> stringzilla, simsimd); the image has numpy,
#: scipy, opencv, PyYAML and the rest
WHEELS = ("albumentations", "albucore", "pydantic", "pydantic-core", "annotated-types", "typing-inspection", "typing-extensions", "stringzilla", "simsimd")
#: the GPU machine's interpreter and platform (KINDS.md: Python 3.12 on x86-64)
WHEEL_TARGET = ["--python-version", "3.12", "--implementation", "cp", "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64"]
EXPERIMENT, TEACHER, STUDENT = "kd_resunetpp", "resunetpp", "kd_resunetpp"
#: dense fp16/bf16 tensor-core peak of an H200 SXM by NVIDIA's datasheet, TFLOP/s
H200_PEAK_TFLOPS = 989.0
#: the steps of the run and their share of the 8 minutes (run.sh enforces the limits)
PLAN = (
    ("install", "pip install --no-deps --no-index: the carried wheels, then kdseg itself, into /tmp (over the machine's torch)"),
    ("data", "unpack kvasir-seg.tar; kdseg-ingest, kdseg-split (official Medico lists, trimmed to the carried images), kdseg-augment (kd_resunetpp recipe, 256x256)"),
    ("teacher", "kdseg-train resunetpp at the paper's settings until its time limit; kdseg-evaluate on the 120 official validation images"),
    ("student", "kdseg-train kd_resunetpp (self-distillation from the teacher) for the same time; kdseg-evaluate"),
    ("export", "kdseg-export-onnx of the student; kdseg-build-engine fp16 where TensorRT is installed"),
    ("benchmark", "kdseg-bench-fps of the student, every runtime, batch 1 (MediaEval protocol) and 8/32/64, stopped at the 8-minute mark"),
    ("report", "kdseg-tables (paper 000), summary.md, run.json, details.tar.gz into the output folder"),
)


def _fail(message: str) -> None:
    print(f"gpu_run: {message}", file=sys.stderr)
    raise SystemExit(1)


# ----------------------------------------------------------------------------------------- prepare
def _read_list(path: Path) -> list[str]:
    return [Path(line.strip()).stem for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _pair(data: Path, sample_id: str) -> list[Path]:
    """The image and the mask of one sample, as the release names them."""
    pair = []
    for folder in ("images", "masks"):
        found = sorted((data / folder).glob(f"{sample_id}.*"))
        if not found:
            _fail(f"{data / folder} has no file for id {sample_id!r} of the split lists; --data must be the Kvasir-SEG release folder (images/, masks/, splits/medico2020/).")
        pair.append(found[0])
    return pair


def select_subset(data: Path, budget_bytes: int) -> tuple[list[str], list[str], int]:
    """(train ids, val ids, bytes of their files): every validation id, then training ids in list order
    while the files stay within ``budget_bytes``."""
    lists = data / "splits" / "medico2020"
    train, val = _read_list(lists / "train.txt"), _read_list(lists / "val.txt")
    total = sum(path.stat().st_size for sample_id in val for path in _pair(data, sample_id))
    if total > budget_bytes:
        _fail(f"the {len(val)} validation images alone take {total / MIB:.1f} MiB, more than --data-mib {budget_bytes / MIB:.0f}; raise --data-mib.")
    chosen = []
    for sample_id in train:
        size = sum(path.stat().st_size for path in _pair(data, sample_id))
        if total + size > budget_bytes:
            break
        chosen.append(sample_id)
        total += size
    return chosen, val, total


def _add(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    """A member with fixed owner, mode and time, so the same files give the same tar bytes."""
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(payload), 0o644, 0
    tar.addfile(info, io.BytesIO(payload))


def write_data_tar(data: Path, train: Sequence[str], val: Sequence[str], out: Path) -> None:
    """``kvasir-seg/{images,masks}/`` of the chosen ids and ``kvasir-seg/splits/{train,val}.txt`` listing them."""
    partial = out.with_name(out.name + ".partial")
    with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
        for sample_id in sorted([*train, *val]):
            for path in _pair(data, sample_id):
                _add(tar, f"kvasir-seg/{path.parent.name}/{path.name}", path.read_bytes())
        _add(tar, "kvasir-seg/splits/train.txt", "".join(f"{i}\n" for i in train).encode())
        _add(tar, "kvasir-seg/splits/val.txt", "".join(f"{i}\n" for i in val).encode())
    partial.replace(out)


def paper_settings(train_minutes: float, workers: int) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The paper preset's augmentation of the experiment, and the settings of the teacher and the student, time-limited."""
    from kdseg import config

    resolved = config.resolve_config(config.load_yaml(ROOT / "workflow_config.yaml"), {"preset": "paper"}, schema_path=ROOT / "schemas" / "config.schema.yaml")
    settings = {}
    for model in (TEACHER, STUDENT):
        one = config.model_settings(resolved, EXPERIMENT, model)
        one["train"] |= {"max_minutes": train_minutes, "num_workers": workers}
        settings[model] = one
    return resolved["experiments"][EXPERIMENT]["augment"], settings


def _download_wheels(out: Path, wheels_from: Path | None) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.whl"):
        stale.unlink()
    if wheels_from is not None:
        for wheel in sorted(wheels_from.glob("*.whl")):
            (out / wheel.name).write_bytes(wheel.read_bytes())
    else:
        pins = [f"{name}=={importlib.metadata.version(name)}" for name in WHEELS]
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", *WHEEL_TARGET, "--dest", str(out), *pins]
        if subprocess.run(command).returncode != 0:
            _fail(f"pip could not download {' '.join(pins)}; prepare needs PyPI (or --wheels-from a folder of these wheels).")
    return sorted(wheel.name for wheel in out.glob("*.whl"))


def prepare(carried: Path, data: Path, data_mib: float, train_minutes: float, workers: int, wheels_from: Path | None) -> dict[str, Any]:
    """Fill ``carried`` (see the module docstring) and return what ``prepared.json`` records."""
    if not (data / "splits" / "medico2020" / "train.txt").is_file():
        _fail(f"{data} has no splits/medico2020/train.txt; --data must be the Kvasir-SEG release folder with the official Medico lists.")
    carried.mkdir(parents=True, exist_ok=True)
    train, val, data_bytes = select_subset(data, int(data_mib * MIB))
    write_data_tar(data, train, val, carried / "kvasir-seg.tar")
    settings_dir = carried / "settings"
    settings_dir.mkdir(exist_ok=True)
    augment, models = paper_settings(train_minutes, workers)
    for model, settings in models.items():
        (settings_dir / f"{model}.json").write_text(json.dumps(settings, sort_keys=True) + "\n", encoding="utf-8")
    wheels = _download_wheels(carried / "wheels", wheels_from)
    record = {
        "train_images": len(train),
        "train_images_listed": len(_read_list(data / "splits" / "medico2020" / "train.txt")),
        "val_images": len(val),
        "data_mib": round(data_bytes / MIB, 2),
        "train_minutes_per_model": train_minutes,
        "augment": augment,
        "wheels": wheels,
    }
    (carried / "prepared.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return record


# ----------------------------------------------------------------------------------------- check (dry run)
def sent_files(repo: Path, carried: Path) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """(path, bytes) of every file a command on the GPU machine receives: the working tree's tracked and
    untracked-not-ignored files, and the carried folder's."""
    listed = subprocess.run(["git", "-C", str(repo), "ls-files", "-z", "--cached", "--others", "--exclude-standard"], capture_output=True, check=True).stdout
    tree = [(name, (repo / name).stat().st_size) for name in sorted(set(listed.decode().split("\0")) - {""}) if (repo / name).is_file()]
    if carried.resolve().is_relative_to(repo.resolve()):
        prefix = carried.resolve().relative_to(repo.resolve()).as_posix()
        if any(name.startswith(f"{prefix}/") for name, _ in tree):
            _fail(f"{carried} is not ignored by git, so it would travel twice; add '/{prefix}/' to .gitignore.")
    extra = [(str(path), path.stat().st_size) for path in sorted(carried.rglob("*")) if path.is_file()]
    return tree, extra


def check(repo: Path, carried: Path, limit_mib: float = SEND_LIMIT_MIB) -> int:
    """Print the plan and what would be sent; return the bytes sent. Fails when the carried folder is
    incomplete or the total is over ``limit_mib``."""
    missing = [name for name in ("kvasir-seg.tar", "prepared.json", f"settings/{TEACHER}.json", f"settings/{STUDENT}.json") if not (carried / name).is_file()]
    if not list((carried / "wheels").glob("*.whl")):
        missing.append("wheels/*.whl")
    if missing:
        _fail(f"{carried} lacks {', '.join(missing)}; run 'scripts/gpu_run.sh prepare' first.")
    prepared = json.loads((carried / "prepared.json").read_text(encoding="utf-8"))
    tree, extra = sent_files(repo, carried)
    tree_bytes, carried_bytes = sum(size for _, size in tree), sum(size for _, size in extra)
    total = tree_bytes + carried_bytes
    print("Plan (one command on the GPU machine, at most 8 minutes):")
    for number, (step, what) in enumerate(PLAN, 1):
        print(f"  {number}. {step}: {what}")
    print(f"Data: {prepared['train_images']} of {prepared['train_images_listed']} official training images, {prepared['val_images']} validation images ({prepared['data_mib']} MiB)")
    print(f"Training: {prepared['train_minutes_per_model']} min per model (teacher, then student)")
    print(f"Sent: {len(tree) + len(extra)} files, {total / MIB:.1f} MiB of {limit_mib:g} MiB (working tree: {len(tree)} files, {tree_bytes / MIB:.1f} MiB; carried:)")
    for name, size in extra:
        print(f"  {size / MIB:8.2f} MiB  {name}")
    if total > limit_mib * MIB:
        _fail(f"{total / MIB:.1f} MiB would be sent, over the {limit_mib:g} MiB limit; prepare again with a smaller --data-mib.")
    return total


# ----------------------------------------------------------------------------------------- summarise
def _read(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _steps(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [{"step": step, "seconds": float(seconds), "exit_status": int(status)} for step, seconds, status in rows]


def paper_fps() -> list[str]:
    """Every frame rate papers 000-002 print for their own models (kdseg's paper_results.yaml), as text."""
    from kdseg.report.tables import load_reported, reported_cells

    papers = load_reported()
    found = []
    for paper in ("000", "001", "002"):
        cells = reported_cells(papers, paper)
        ours = cells[(cells["metric"] == "fps") & (cells["model"] != "")]
        found += [f"paper {paper} {row}: {value:g} FPS" for row, value in zip(ours["row"], ours["paper_value"])]
    return found


def summary_rows(bench: dict[str, Any], peak_tflops: float) -> list[dict[str, Any]]:
    """One row per runtime of a benchmark JSON, fastest first: batch-1 FPS, throughput, agreement with fp32,
    or the skip reason."""
    flops = bench.get("flops_per_image")
    rows = []
    for name, entry in bench["runtimes"].items():
        row: dict[str, Any] = {"runtime": name, "status": entry["status"]}
        if entry["status"] != "ok":
            rows.append(row | {"reason": entry["reason"]})
            continue
        row |= {"label": entry["label"], "fps_batch1": entry["model_call"]["fps"], "p99_ms": entry["model_call"]["p99_ms"], "end_to_end_fps": entry["end_to_end"]["fps"]}
        row |= {"max_abs_diff": entry["max_abs_diff_vs_reference"], "mask_dice_min": entry["mask_dice_vs_reference"]["min"]}
        row["throughput"] = {batch: values["images_per_s"] for batch, values in entry["throughput"].items()}
        if flops:
            row["peak_fraction"] = {batch: flops * rate / (peak_tflops * 1e12) for batch, rate in row["throughput"].items()}
        rows.append(row)
    return sorted(rows, key=lambda row: (row["status"] != "ok", -row.get("fps_batch1", 0.0)))  # fastest first, skipped last


def summarise(work: Path, out: Path, peak_tflops: float) -> dict[str, Any]:
    """Write ``summary.md`` and ``run.json`` from what the run left in ``work`` and ``out``."""
    bench = _read(out / f"{STUDENT}.bench.json")
    metrics = {model: _read(out / f"{model}.metrics.json") for model in (TEACHER, STUDENT)}
    training = {model: _read(work / "models" / model / "summary.json") for model in (TEACHER, STUDENT)}
    run = {"steps": _steps(work / "steps.tsv"), "training": training, "metrics": {m: v and v["metrics"] for m, v in metrics.items()}, "peak_tflops": peak_tflops}
    lines = ["# kd_resunetpp: a time-boxed run on a GPU", ""]
    if bench is not None:
        env = bench["environment"]
        run |= {"environment": env, "flops_per_image": bench.get("flops_per_image"), "runtimes": summary_rows(bench, peak_tflops)}
        lines += [f"{env['device_name']}, torch {env['torch']}, CUDA {env['cuda']}, cuDNN {env['cudnn']}; the student at {'x'.join(map(str, bench['size']))}, {bench['images']} validation images.", ""]
        lines += ["The papers' GPU frame rates: " + "; ".join(paper_fps()) + ".", ""]
        batches = [str(b) for b in bench["batch_sizes"] if b != 1]
        header = ["runtime", "FPS batch 1 (MediaEval)", "p99 ms", "end to end FPS", *[f"img/s batch {b}" for b in batches], *[f"% of {peak_tflops:g} TFLOP/s, batch {b}" for b in batches[-1:]], "max abs Δ vs fp32", "mask Dice min vs fp32"]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for row in run["runtimes"]:
            if row["status"] != "ok":
                lines.append(f"| {row['runtime']} | skipped: {row['reason']} |" + " |" * (len(header) - 2))
                continue
            cells = [row["runtime"], f"{row['fps_batch1']:.1f}", f"{row['p99_ms']:.3f}", f"{row['end_to_end_fps']:.1f}", *[f"{row['throughput'][b]:.0f}" for b in batches]]
            cells += [f"{100 * row['peak_fraction'][b]:.2f}" for b in batches[-1:]] if "peak_fraction" in row else ["" for _ in batches[-1:]]
            cells += [f"{row['max_abs_diff']:.3g}", f"{row['mask_dice_min']:.4f}"]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    else:
        lines += ["No benchmark JSON: the benchmark did not run or finished no runtime (see the steps below and run.log).", ""]
    lines += ["| model | epochs run | DSC | Jaccard | paper DSC |", "|---|---|---|---|---|"]
    for model, paper_dsc in ((TEACHER, 0.8120), (STUDENT, 0.8310)):
        done, scores = training[model], metrics[model]
        epochs = done["epochs_run"] if done else "not trained"
        dsc, jaccard = (f"{scores['metrics']['dsc']:.4f}", f"{scores['metrics']['jaccard']:.4f}") if scores else ("", "")
        lines.append(f"| {model} | {epochs} | {dsc} | {jaccard} | {paper_dsc} |")
    lines += ["", "Steps: " + ", ".join(f"{s['step']} {s['seconds']:.0f} s" + ("" if s["exit_status"] == 0 else f" (exit {s['exit_status']})") for s in run["steps"]), ""]
    (out / "summary.md").write_text("\n".join(lines), encoding="utf-8")
    (out / "run.json").write_text(json.dumps(run, indent=1) + "\n", encoding="utf-8")
    return run


# ----------------------------------------------------------------------------------------- command line
def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="gpu_run.py", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    prep = commands.add_parser("prepare", help="fill the carried folder (here: needs kdseg, the data and PyPI)")
    prep.add_argument("--carried", type=Path, default=ROOT / ".gpu-run", help="[OPTIONAL] folder to fill. Default: .gpu-run in the repository.")
    prep.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "kvasir-seg", help="[OPTIONAL] Kvasir-SEG release folder with splits/medico2020/. Default: ../shared/data/kvasir-seg.")
    prep.add_argument("--data-mib", type=float, default=40.0, help="[OPTIONAL] size limit of the carried images and masks, MiB. Default: 40.")
    prep.add_argument("--train-minutes", type=float, default=2.5, help="[OPTIONAL] training time limit of each model, minutes. Default: 2.5.")
    prep.add_argument("--workers", type=int, default=8, help="[OPTIONAL] data-loading workers of the trainings. Default: 8.")
    prep.add_argument("--wheels-from", type=Path, help="[OPTIONAL] take the wheels from this folder instead of downloading them.")
    dry = commands.add_parser("check", help="print the plan and check what would be sent (the dry run)")
    dry.add_argument("--carried", type=Path, default=ROOT / ".gpu-run", help="[OPTIONAL] the prepared folder. Default: .gpu-run in the repository.")
    dry.add_argument("--repo", type=Path, default=ROOT, help="[OPTIONAL] the working tree that travels. Default: this repository.")
    dry.add_argument("--limit-mib", type=float, default=SEND_LIMIT_MIB, help=f"[OPTIONAL] most MiB one command may send. Default: {SEND_LIMIT_MIB}.")
    summ = commands.add_parser("summarise", help="write summary.md and run.json (on the GPU machine, after the stages)")
    summ.add_argument("--work", type=Path, required=True, help="[REQUIRED] the run's work folder (models/, steps.tsv).")
    summ.add_argument("--out", type=Path, required=True, help="[REQUIRED] the output folder (benchmark and metrics JSONs).")
    summ.add_argument("--peak-tflops", type=float, default=H200_PEAK_TFLOPS, help=f"[OPTIONAL] the GPU's dense fp16/bf16 peak, TFLOP/s. Default: {H200_PEAK_TFLOPS:g} (H200 SXM).")
    args = parser.parse_args(argv)
    if args.command == "prepare":
        record = prepare(args.carried, args.data, args.data_mib, args.train_minutes, args.workers, args.wheels_from)
        print(f"prepared {args.carried}: {record['train_images']} training + {record['val_images']} validation images ({record['data_mib']} MiB), {len(record['wheels'])} wheels")
    elif args.command == "check":
        check(args.repo, args.carried, args.limit_mib)
    else:
        summarise(args.work, args.out, args.peak_tflops)


if __name__ == "__main__":
    main()
