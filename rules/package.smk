# Challenge packages, each checked by its validator before it is written.


rule package_mediaeval:
    input:
        unpack(get_package_inputs("mediaeval2020")),
    output:
        task1=f"{RESULTS}/submissions/mediaeval2020_task1.zip",
        task2=f"{RESULTS}/submissions/mediaeval2020_task2.zip",
    params:
        images=lambda wc, input: image_flags("mediaeval2020", input),
        prediction=lambda wc: prediction_flags(config["submission"]["mediaeval2020"]["experiment"]),
    conda:
        "../envs/torch.yaml"
    log:
        f"logs/{PRESET}/package/mediaeval2020.log",
    threads: 2
    shell:
        "kdseg-package mediaeval2020 --checkpoint {input.checkpoint} --onnx {input.onnx} {params.images} {params.prediction}"
        " --threads {threads} --out {output.task1} --out-task2 {output.task2} > {log} 2>&1"


rule package_endocv:
    input:
        unpack(get_package_inputs("endocv2022")),
    output:
        f"{RESULTS}/submissions/endocv2022.zip",
    params:
        images=lambda wc, input: image_flags("endocv2022", input),
        prediction=lambda wc: prediction_flags(config["submission"]["endocv2022"]["experiment"]),
    conda:
        "../envs/torch.yaml"
    log:
        f"logs/{PRESET}/package/endocv2022.log",
    threads: 2
    shell:
        "kdseg-package endocv2022 --checkpoint {input.checkpoint} --onnx {input.onnx} {params.images} {params.prediction}"
        " --threads {threads} --out {output} > {log} 2>&1"


rule package_brats:
    input:
        unpack(get_package_inputs("brats")),
    output:
        f"{RESULTS}/submissions/brats.zip",
    params:
        images=lambda wc, input: image_flags("brats", input),
        prediction=lambda wc: prediction_flags(config["submission"]["brats"]["experiment"]),
        labels=config["submission"]["brats"].get("labels", "brats2021"),
    conda:
        "../envs/torch.yaml"
    log:
        f"logs/{PRESET}/package/brats.log",
    threads: 2
    shell:
        "kdseg-package brats --checkpoint {input.checkpoint} --onnx {input.onnx} {params.images} {params.prediction}"
        " --labels {params.labels} --threads {threads} --out {output} > {log} 2>&1"
