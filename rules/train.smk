# Supervised training: pre-training on another data set (paper 002's brain-MRI U-Net) and the teachers.
# Every training writes model.pt (selected weights), history.csv, curves.png and summary.json; the
# per-epoch resume state under state/ is not an output, so it survives a killed job.


rule train_pretrain:
    input:
        unpack(get_pretrain_inputs),
    output:
        model=f"{RESULTS}/{{exp}}/pretrain/{{model}}/model.pt",
        history=f"{RESULTS}/{{exp}}/pretrain/{{model}}/history.csv",
        curves=report(
            f"{RESULTS}/{{exp}}/pretrain/{{model}}/curves.png",
            caption="../report/training_curves.rst",
            category="{exp}",
            subcategory="Training",
            labels={"model": "{model}", "stage": "pretrain"},
        ),
        summary=f"{RESULTS}/{{exp}}/pretrain/{{model}}/summary.json",
    params:
        settings=get_settings_json,
        out_dir=subpath(output.model, parent=True),
    conda:
        "../envs/torch.yaml"
    log:
        f"logs/{PRESET}/train_pretrain/{{exp}}/{{model}}.log",
    benchmark:
        f"benchmarks/{PRESET}/train_pretrain/{{exp}}/{{model}}.tsv"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=240,
    shell:
        "kdseg-train --settings {params.settings:q} --manifest {input.manifest} --split {input.split}"
        " --threads {threads} --out-dir {params.out_dir} > {log} 2>&1"


rule train_model:
    input:
        unpack(get_train_inputs),
    output:
        model=f"{RESULTS}/{{exp}}/train/{{model}}/model.pt",
        history=f"{RESULTS}/{{exp}}/train/{{model}}/history.csv",
        curves=report(
            f"{RESULTS}/{{exp}}/train/{{model}}/curves.png",
            caption="../report/training_curves.rst",
            category="{exp}",
            subcategory="Training",
            labels={"model": "{model}", "stage": "train"},
        ),
        summary=f"{RESULTS}/{{exp}}/train/{{model}}/summary.json",
    params:
        settings=get_settings_json,
        augmented=augmented_flag,
        init=init_flag,
        out_dir=subpath(output.model, parent=True),
    conda:
        "../envs/torch.yaml"
    log:
        f"logs/{PRESET}/train_model/{{exp}}/{{model}}.log",
    benchmark:
        f"benchmarks/{PRESET}/train_model/{{exp}}/{{model}}.tsv"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=480,
    shell:
        "kdseg-train --settings {params.settings:q} --manifest {input.manifest} --split {input.split}"
        " {params.augmented} {params.init} --threads {threads} --out-dir {params.out_dir} > {log} 2>&1"
