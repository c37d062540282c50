# Students distilled from an experiment's teachers (self-distillation, adversarial dual-teacher,
# pseudo-label distillation), all through kdseg-train with the trainer named in the config.


rule distill_student:
    input:
        unpack(get_distill_inputs),
    output:
        model=f"{RESULTS}/{{exp}}/distill/{{model}}/model.pt",
        history=f"{RESULTS}/{{exp}}/distill/{{model}}/history.csv",
        curves=report(
            f"{RESULTS}/{{exp}}/distill/{{model}}/curves.png",
            caption="../report/training_curves.rst",
            category="{exp}",
            subcategory="Training",
            labels={"model": "{model}", "stage": "distill"},
        ),
        summary=f"{RESULTS}/{{exp}}/distill/{{model}}/summary.json",
    params:
        settings=get_settings_json,
        augmented=augmented_flag,
        init=init_flag,
        teachers=lambda wc, input: " ".join(f"--teacher {p}" for p in input.teachers),
        pseudolabels=lambda wc, input: f"--pseudolabels {input.pseudolabels}" if "pseudolabels" in input.keys() else "",
        out_dir=subpath(output.model, parent=True),
    conda:
        "../envs/torch.yaml"
    log:
        f"logs/{PRESET}/distill_student/{{exp}}/{{model}}.log",
    benchmark:
        f"benchmarks/{PRESET}/distill_student/{{exp}}/{{model}}.tsv"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=480,
    shell:
        "kdseg-train --settings {params.settings:q} --manifest {input.manifest} --split {input.split}"
        " {params.augmented} {params.init} {params.teachers} {params.pseudolabels}"
        " --threads {threads} --out-dir {params.out_dir} > {log} 2>&1"
