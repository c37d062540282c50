# Prediction at each image's own resolution and scoring on the experiment's evaluation subset.


rule evaluate_model:
    input:
        unpack(get_model_for_eval),
    output:
        metrics=f"{RESULTS}/{{exp}}/metrics/{{model}}.json",
        per_case=f"{RESULTS}/{{exp}}/metrics/{{model}}.per_case.csv",
        predictions=directory(f"{RESULTS}/{{exp}}/predictions/{{model}}"),
    params:
        subset=lambda wc: get_experiment(wc.exp)["evaluate"]["subset"],
        threshold=lambda wc: get_experiment(wc.exp)["evaluate"].get("threshold", 0.5),
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
        " --subset {params.subset} --threshold {params.threshold} --threads {threads}"
        " --out-metrics {output.metrics} --out-per-case {output.per_case} --out-predictions {output.predictions}"
        " > {log} 2>&1"
