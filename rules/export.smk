# ONNX export with a parity check against PyTorch, and TensorRT engines built from the ONNX files.


rule export_onnx:
    input:
        unpack(get_model_for_eval),
    output:
        onnx=f"{RESULTS}/{{exp}}/export/{{model}}.onnx",
        parity=f"{RESULTS}/{{exp}}/export/{{model}}.parity.json",
    conda:
        "../envs/torch.yaml"
    log:
        f"logs/{PRESET}/export_onnx/{{exp}}/{{model}}.log",
    threads: 2
    shell:
        "kdseg-export-onnx --checkpoint {input.checkpoint} --manifest {input.manifest} --split {input.split}"
        " --threads {threads} --out {output.onnx} --report {output.parity} > {log} 2>&1"


rule export_engine:
    input:
        onnx=get_engine_onnx,
    output:
        f"{RESULTS}/{{exp}}/export/{{model}}.{{precision}}.engine",
    params:
        size=lambda wc: " ".join(map(str, get_experiment(wc.exp)["benchmark"]["size"])),
        max_batch=lambda wc: max(get_experiment(wc.exp)["benchmark"]["batch_sizes"]),
    conda:
        "../envs/tensorrt.yaml"
    log:
        f"logs/{PRESET}/export_engine/{{exp}}/{{model}}.{{precision}}.log",
    resources:
        gpu=1,
    shell:
        "kdseg-build-engine --onnx {input.onnx} --precision {wildcards.precision} --size {params.size}"
        " --max-batch {params.max_batch} --out {output} > {log} 2>&1"
