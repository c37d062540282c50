# Frame rates measured the MediaEval way (model call only, after warm-up) and end to end.


rule bench_fps:
    input:
        unpack(get_model_for_eval),
        onnx=f"{RESULTS}/{{exp}}/export/{{model}}.onnx",
        engines=lambda wc: [f"{RESULTS}/{wc.exp}/export/{wc.model}.{p}.engine" for p in get_engines(wc.exp)],
    output:
        json=report(
            f"{RESULTS}/{{exp}}/bench/{{model}}.json",
            caption="../report/benchmark.rst",
            category="{exp}",
            subcategory="Benchmark",
            labels={"model": "{model}", "file": "measurements (JSON)"},
        ),
        plot=report(
            f"{RESULTS}/{{exp}}/bench/{{model}}.png",
            caption="../report/benchmark.rst",
            category="{exp}",
            subcategory="Benchmark",
            labels={"model": "{model}", "file": "chart (PNG)"},
        ),
    params:
        size=lambda wc: " ".join(map(str, get_experiment(wc.exp)["benchmark"]["size"])),
        batch_sizes=lambda wc: " ".join(map(str, get_experiment(wc.exp)["benchmark"]["batch_sizes"])),
        engines=lambda wc, input: " ".join(f"--engine {p}" for p in input.engines),
        runtimes=lambda wc: runtimes_flag(wc.exp),
    conda:
        "../envs/torch.yaml"
    log:
        f"logs/{PRESET}/bench_fps/{{exp}}/{{model}}.log",
    threads: 2
    resources:
        runtime=60,
    shell:
        "kdseg-bench-fps --checkpoint {input.checkpoint} --onnx {input.onnx} {params.engines}"
        " --manifest {input.manifest} --split {input.split} --size {params.size}"
        " --batch-sizes {params.batch_sizes} {params.runtimes} --threads {threads}"
        " --out-json {output.json} --out-plot {output.plot} > {log} 2>&1"
