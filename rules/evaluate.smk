# Prediction at each image's own resolution and scoring: on the experiment's evaluation subset, and on every
# sample of each external test set of evaluate.external.


rule evaluate_model:
    input:
        unpack(get_model_for_eval),
    output:
        metrics=report(
            f"{RESULTS}/{{exp}}/metrics/{{model}}.json",
            caption="../report/metrics.rst",
            category="{exp}",
            subcategory="Evaluation",
            labels={"model": "{model}", "file": "mean metrics (JSON)"},
        ),
        per_case=report(
            f"{RESULTS}/{{exp}}/metrics/{{model}}.per_case.csv",
            caption="../report/per_case.rst",
            category="{exp}",
            subcategory="Evaluation",
            labels={"model": "{model}", "file": "per-case metrics (CSV)"},
        ),
        predictions=directory(f"{RESULTS}/{{exp}}/predictions/{{model}}"),
    params:
        subset=lambda wc: get_experiment(wc.exp)["evaluate"]["subset"],
        dataset=lambda wc: get_experiment(wc.exp)["dataset"],
        prediction=lambda wc: prediction_flags(wc.exp),
    conda:
        "../envs/torch.yaml"
    log:
        f"logs/{PRESET}/evaluate_model/{{exp}}/{{model}}.log",
    benchmark:
        f"benchmarks/{PRESET}/evaluate_model/{{exp}}/{{model}}.tsv"
    threads: 2
    resources:
        mem_mb=8000,
    shell:
        "kdseg-evaluate --checkpoint {input.checkpoint} --manifest {input.manifest} --split {input.split}"
        " --subset {params.subset} --dataset {params.dataset} {params.prediction} --threads {threads}"
        " --out-metrics {output.metrics} --out-per-case {output.per_case} --out-predictions {output.predictions}"
        " > {log} 2>&1"


rule evaluate_external:
    input:
        unpack(get_external_eval_inputs),
    output:
        metrics=report(
            f"{RESULTS}/{{exp}}/external/{{dataset}}/metrics/{{model}}.json",
            caption="../report/metrics_external.rst",
            category="{exp}",
            subcategory="External test sets",
            labels={"model": "{model}", "data set": "{dataset}", "file": "mean metrics (JSON)"},
        ),
        per_case=f"{RESULTS}/{{exp}}/external/{{dataset}}/metrics/{{model}}.per_case.csv",
        predictions=directory(f"{RESULTS}/{{exp}}/external/{{dataset}}/predictions/{{model}}"),
    params:
        prediction=lambda wc: prediction_flags(wc.exp),
    conda:
        "../envs/torch.yaml"
    log:
        f"logs/{PRESET}/evaluate_external/{{exp}}/{{dataset}}/{{model}}.log",
    benchmark:
        f"benchmarks/{PRESET}/evaluate_external/{{exp}}/{{dataset}}/{{model}}.tsv"
    threads: 2
    resources:
        mem_mb=8000,
    shell:
        "kdseg-evaluate --checkpoint {input.checkpoint} --manifest {input.manifest} --dataset {wildcards.dataset}"
        " {params.prediction} --threads {threads}"
        " --out-metrics {output.metrics} --out-per-case {output.per_case} --out-predictions {output.predictions}"
        " > {log} 2>&1"


rule evaluate_ensemble:
    input:
        unpack(get_ensemble_for_eval),
    output:
        metrics=report(
            f"{RESULTS}/{{exp}}/metrics/ensemble.json",
            caption="../report/metrics.rst",
            category="{exp}",
            subcategory="Evaluation",
            labels={"model": "ensemble", "file": "mean metrics (JSON)"},
        ),
        per_case=report(
            f"{RESULTS}/{{exp}}/metrics/ensemble.per_case.csv",
            caption="../report/per_case.rst",
            category="{exp}",
            subcategory="Evaluation",
            labels={"model": "ensemble", "file": "per-case metrics (CSV)"},
        ),
        predictions=directory(f"{RESULTS}/{{exp}}/predictions/ensemble"),
    params:
        checkpoints=lambda wc, input: " ".join(f"--checkpoint {p}" for p in input.checkpoints),
        subset=lambda wc: get_experiment(wc.exp)["evaluate"]["subset"],
        prediction=lambda wc: prediction_flags(wc.exp),
    conda:
        "../envs/torch.yaml"
    log:
        f"logs/{PRESET}/evaluate_ensemble/{{exp}}.log",
    benchmark:
        f"benchmarks/{PRESET}/evaluate_ensemble/{{exp}}.tsv"
    threads: 2
    resources:
        mem_mb=8000,
    shell:
        "kdseg-evaluate {params.checkpoints} --name ensemble --manifest {input.manifest} --split {input.split}"
        " --subset {params.subset} {params.prediction} --threads {threads}"
        " --out-metrics {output.metrics} --out-per-case {output.per_case} --out-predictions {output.predictions}"
        " > {log} 2>&1"
