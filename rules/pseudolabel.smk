# Paper 004: the averaged ensemble of the teachers labels the held-out ("unlabelled") cases.


rule pseudolabel_ensemble:
    input:
        unpack(get_pseudolabel_inputs),
    output:
        directory(f"{RESULTS}/{{exp}}/pseudolabels/{{model}}"),
    params:
        teachers=lambda wc, input: " ".join(f"--teacher {p}" for p in input.teachers),
        subset=lambda wc: get_model_settings(wc.exp, wc.model)["distill"]["pseudolabels"],
    conda:
        "../envs/torch.yaml"
    log:
        f"logs/{PRESET}/pseudolabel_ensemble/{{exp}}/{{model}}.log",
    benchmark:
        f"benchmarks/{PRESET}/pseudolabel_ensemble/{{exp}}/{{model}}.tsv"
    threads: 2
    resources:
        mem_mb=8000,
    shell:
        "kdseg-pseudolabel {params.teachers} --manifest {input.manifest} --split {input.split}"
        " --subset {params.subset} --threads {threads} --out {output} > {log} 2>&1"
