# Offline augmentation of each experiment's training subset with its paper's recipe.


rule augment_train_set:
    input:
        unpack(get_experiment_data),
    output:
        directory(f"{RESULTS}/{{exp}}/augmented"),
    params:
        recipe=lambda wc: get_experiment(wc.exp)["augment"]["recipe"],
        size=lambda wc: " ".join(map(str, get_experiment(wc.exp)["augment"]["size"])),
        copies=lambda wc: get_experiment(wc.exp)["augment"]["copies"],
        seed=config["seed"],
    conda:
        "../envs/data.yaml"
    log:
        f"logs/{PRESET}/augment/{{exp}}.log",
    benchmark:
        f"benchmarks/{PRESET}/augment/{{exp}}.tsv"
    threads: 2
    resources:
        mem_mb=4000,
    shell:
        "kdseg-augment --manifest {input.manifest} --split {input.split} --recipe {params.recipe}"
        " --size {params.size} --copies {params.copies} --seed {params.seed} --threads {threads}"
        " --out {output} > {log} 2>&1"
