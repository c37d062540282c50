#!/usr/bin/env bash
# Copy what a preset's run measured into a reports folder worth committing: per experiment its paper tables,
# each model's metrics JSON, training history and curves, the benchmark JSONs and the job times.
#   scripts/collect_reports.sh cpu reports/cpu-2core kd_resunetpp attunet_transfer
set -euo pipefail
preset=$1 out=$2
shift 2
for exp in "$@"; do
    results=results/$preset/$exp
    mkdir -p "$out/$exp"
    cp "results/$preset/tables/$exp.md" "$out/$exp.tables.md"
    for metrics in "$results"/metrics/*.json; do
        cp "$metrics" "$out/$exp/$(basename "$metrics" .json).metrics.json"
    done
    for history in "$results"/{train,distill,pretrain}/*/history.csv; do
        [ -f "$history" ] || continue
        model=$(basename "$(dirname "$history")")
        cp "$history" "$out/$exp/$model.history.csv"
        cp "$(dirname "$history")/curves.png" "$out/$exp/$model.curves.png"
    done
    for bench in "$results"/bench/*.json; do
        [ -f "$bench" ] && cp "$bench" "$out/$exp/$(basename "$bench" .json).bench.json"
    done
    python scripts/job_times.py "benchmarks/$preset" --match "$exp" > "$out/$exp.job_times.txt"
done
