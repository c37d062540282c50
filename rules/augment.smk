# Augmentation of each 2D experiment's training subset with its paper's recipe: written once (offline), or
# only resized with `augment.online`, the training loader then drawing fresh augmentations every epoch.
# 3D experiments have no augmented set (common.smk, augmented_input): their patches are cut during training.


rule augment_train_set:
    input:
        unpack(get_experiment_data),
    output:
        directory(f"{RESULTS}/{{exp}}/augmented"),
    params:
        recipe=lambda wc: get_experiment(wc.exp)["augment"]["recipe"],
        size=lambda wc: " ".join(map(str, get_experiment(wc.exp)["augment"]["size"])),
        copies=lambda wc: get_experiment(wc.exp)["augment"]["copies"],
        online=lambda wc: "--online" if get_experiment(wc.exp)["augment"].get("online") else "",
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
        " --size {params.size} --copies {params.copies} {params.online} --seed {params.seed} --threads {threads}"
        " --out {output} > {log} 2>&1"
