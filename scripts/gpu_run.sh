#!/usr/bin/env bash
# One prepared, time-boxed run of kd_resunetpp on a borrowed GPU machine: train the teacher and the student
# at the paper's 256x256 settings, evaluate both on the official Medico validation images, benchmark the
# student with every CUDA runtime. scripts/gpu_run.py's docstring says why it is split in two.
#
#   scripts/gpu_run.sh prepare [--data DIR] [--data-mib N] [--train-minutes M] [--wheels-from DIR]
#       here (kdseg installed, PyPI and ../shared/data reachable): fill .gpu-run/ with wheels, data, settings
#   scripts/gpu_run.sh --dry-run [--carried DIR] [--limit-mib N]
#       anywhere: print the plan, the files a command sends and their total; fail over 64 MiB
#   scripts/gpu_run.sh run OUT [--carried DIR] [--bench-images N] [--batch-sizes "1 8 32 64"]
#       on the GPU machine, from the repository root, with .gpu-run carried: everything, in at most
#       KDSEG_GPU_RUN_SECONDS (480); writes at most 8 files to OUT (what the device tool brings back)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
total_seconds=${KDSEG_GPU_RUN_SECONDS:-480}
report_seconds=30 # kept for the summary, the tables and the details tar after the benchmark
experiment=kd_resunetpp
teacher=resunetpp
student=kd_resunetpp

usage() {
    sed -n '5,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# step NAME COMMAND...: run COMMAND, print its wall time, and append NAME, seconds and exit status to steps.tsv
step() {
    local name=$1 began=$SECONDS status=0
    shift
    echo "== $name: $*"
    "$@" || status=$?
    echo "== $name: $((SECONDS - began)) s, exit status $status"
    printf '%s\t%d\t%d\n' "$name" $((SECONDS - began)) "$status" >>"$work/steps.tsv"
    return "$status"
}

stages() {
    local data=$work/data models=$work/models threads
    threads=$(nproc)
    # the machine's torch stays; the wheels and kdseg go to a folder in front of it, with no resolution
    step install python3 -m pip install --quiet --no-index --no-deps --no-build-isolation --no-compile --no-cache-dir \
        --target "$work/site" "$carried"/wheels/*.whl "$repo" || return 1
    export PYTHONPATH="$work/site${PYTHONPATH:+:$PYTHONPATH}" PATH="$work/site/bin:$PATH"

    tar -xf "$carried/kvasir-seg.tar" -C "$work" || return 1
    local lists=$work/kvasir-seg/splits recipe size copies
    read -r recipe size copies < <(python3 -c 'import json, sys; a = json.load(open(sys.argv[1]))["augment"]; print(a["recipe"], "x".join(map(str, a["size"])), a["copies"])' "$carried/prepared.json") || return 1
    step ingest kdseg-ingest --layout kvasir_seg --root "$work/kvasir-seg" --out-manifest "$data/manifest.csv" \
        --out-report "$data/bad_samples.csv" --threads "$threads" || return 1
    step split kdseg-split --manifest "$data/manifest.csv" --spec '{"method": "official"}' \
        --list "train=$lists/train.txt" --list "val=$lists/val.txt" --out "$data/split.csv" || return 1
    step augment kdseg-augment --manifest "$data/manifest.csv" --split "$data/split.csv" --recipe "$recipe" \
        --size ${size/x/ } --copies "$copies" --threads "$threads" --out "$data/augmented" || return 1
    local common=(--manifest "$data/manifest.csv" --split "$data/split.csv")

    for model in "$teacher" "$student"; do
        local teachers=()
        [[ $model == "$student" ]] && teachers=(--teacher "$models/$teacher/model.pt")
        step "train_$model" kdseg-train --settings "$(cat "$carried/settings/$model.json")" "${common[@]}" \
            --augmented "$data/augmented" "${teachers[@]}" --threads "$threads" --out-dir "$models/$model" || return 1
        step "evaluate_$model" kdseg-evaluate --checkpoint "$models/$model/model.pt" "${common[@]}" --subset val \
            --threads "$threads" --out-metrics "$out/$model.metrics.json" --out-per-case "$work/$model.per_case.csv" \
            --out-predictions "$work/predictions/$model" || return 1
    done

    local checkpoint=$models/$student/model.pt engines=()
    step export kdseg-export-onnx --checkpoint "$checkpoint" "${common[@]}" --threads "$threads" \
        --out "$work/$student.onnx" --report "$work/$student.parity.json" || return 1
    if python3 -c 'import tensorrt' 2>/dev/null; then
        step engine kdseg-build-engine --onnx "$work/$student.onnx" --precision fp16 --size ${size/x/ } \
            --max-batch 64 --out "$work/$student.fp16.engine" && engines=(--engine "$work/$student.fp16.engine")
    fi

    local left=$((total_seconds - SECONDS - report_seconds))
    if ((left < 30)); then
        echo "== benchmark: not started, $left s left"
        return 1
    fi
    # the benchmark rewrites its JSON after each runtime: stopped at the time limit, it keeps those it finished
    step benchmark timeout "$left" kdseg-bench-fps --checkpoint "$checkpoint" --onnx "$work/$student.onnx" "${engines[@]}" \
        "${common[@]}" --size ${size/x/ } --batch-sizes $batch_sizes --max-images "$bench_images" --threads "$threads" \
        --out-json "$out/$student.bench.json" --out-plot "$work/$student.bench.png" --out-timings "$work/timings"
    local status=$?
    if ((status == 124)); then # timeout's status: the time limit, not a failure (and the device tool reads 124 as its own)
        echo "== benchmark: stopped at the run's time limit; its JSON holds the runtimes it finished"
        return 0
    fi
    return "$status"
}

report() {
    local flags=()
    for model in "$teacher" "$student"; do
        [[ -f $out/$model.metrics.json ]] && flags+=(--metrics "$out/$model.metrics.json")
    done
    [[ -f $out/$student.bench.json ]] && flags+=(--bench "$out/$student.bench.json")
    step tables kdseg-tables --experiment "$experiment" --paper 000 --preset gpu-run "${flags[@]}" \
        --out-csv "$work/paper_000.csv" --out-md "$out/paper_000.md" || true
    step summary python3 "$here/gpu_run.py" summarise --work "$work" --out "$out" || true
    local kept=()
    cd "$work"
    for path in steps.tsv models/*/history.csv models/*/curves.png models/*/summary.json ./*.per_case.csv ./*.parity.json ./*.bench.png timings paper_000.csv; do
        [[ -e $path ]] && kept+=("$path")
    done
    ((${#kept[@]})) && tar -czf "$out/details.tar.gz" "${kept[@]}" || true
    cd - >/dev/null
}

run() {
    out=""
    carried=$repo/.gpu-run
    bench_images=0
    batch_sizes="1 8 32 64"
    while (($#)); do
        case $1 in
        --carried) carried=$2; shift 2 ;;
        --bench-images) bench_images=$2; shift 2 ;;
        --batch-sizes) batch_sizes=$2; shift 2 ;;
        -*) usage ;;
        *) out=$1; shift ;;
        esac
    done
    [[ -n $out ]] || usage
    mkdir -p "$out"
    out=$(cd "$out" && pwd)
    carried=$(cd "$carried" && pwd)
    work=$(mktemp -d /tmp/kdseg-gpu-run.XXXXXX)
    SECONDS=0
    exec > >(tee -a "$out/run.log") 2>&1
    echo "kdseg GPU run: $(date -u +%FT%TZ), work folder $work, output $out, $total_seconds s"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
    local status=0
    stages || status=$?
    report
    echo "kdseg GPU run: done in $SECONDS s (exit status $status); $out holds: $(cd "$out" && ls | tr '\n' ' ')"
    return "$status"
}

case ${1:-} in
prepare) shift; exec python3 "$here/gpu_run.py" prepare "$@" ;;
--dry-run) shift; exec python3 "$here/gpu_run.py" check --repo "$repo" "$@" ;;
run) shift; run "$@" ;;
*) usage ;;
esac
