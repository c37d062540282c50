# Each paper's tables rebuilt from the metric artifacts, the paper's figures beside ours, and each
# experiment's figures. Everything here is registered in the HTML report (snakemake --report).


rule tables_paper:
    input:
        unpack(get_table_inputs),
        reported=workflow.source_path("../src/kdseg/report/paper_results.yaml"),
    output:
        csv=report(
            f"{RESULTS}/tables/{{exp}}.csv",
            caption="../report/tables_csv.rst",
            category="{exp}",
            subcategory="Paper tables",
            labels={"table": "every printed number, long form (CSV)"},
        ),
        html=report(
            f"{RESULTS}/tables/{{exp}}.html",
            caption="../report/tables.rst",
            category="{exp}",
            subcategory="Paper tables",
            labels={"table": "the paper's tables, ours beside (HTML)"},
        ),
        md=f"{RESULTS}/tables/{{exp}}.md",
        tex=f"{RESULTS}/tables/{{exp}}.tex",
    params:
        paper=lambda wc: get_experiment(wc.exp)["paper"],
        metrics=lambda wc, input: " ".join(f"--metrics {p}" for p in input.metrics),
        external=lambda wc, input: " ".join(f"--external {p}" for p in input.external),
        bench=lambda wc, input: " ".join(f"--bench {p}" for p in input.bench),
        gpu_bench=lambda wc, input: " ".join(f"--gpu-bench {p}" for p in input.gpu_bench),
        preset=PRESET,
        notes=lambda wc: " ".join(f"--note {shlex.quote(n)}" for n in get_experiment(wc.exp).get("notes", [])),
    conda:
        "../envs/report.yaml"
    log:
        f"logs/{PRESET}/tables/{{exp}}.log",
    shell:
        "kdseg-tables --experiment {wildcards.exp} --paper {params.paper} --preset {params.preset}"
        " --reported {input.reported} {params.metrics} {params.external} {params.bench} {params.gpu_bench} {params.notes}"
        " --out-csv {output.csv} --out-md {output.md} --out-tex {output.tex} --out-html {output.html}"
        " > {log} 2>&1"


rule figures_qualitative:
    input:
        unpack(get_figure_qualitative_inputs),
    output:
        report(
            f"{RESULTS}/figures/{{exp}}/qualitative.png",
            caption="../report/figure_qualitative.rst",
            category="{exp}",
            subcategory="Figures",
            labels={"figure": "qualitative examples"},
        ),
    params:
        title=figure_title,
        predictions=lambda wc, input: named_flags("--prediction", evaluated_models(wc.exp), input.predictions),
        per_case=lambda wc, input: named_flags("--per-case", evaluated_models(wc.exp), input.per_case),
        external=external_figure_flags,
    conda:
        "../envs/torch.yaml"
    log:
        f"logs/{PRESET}/figures/{{exp}}/qualitative.log",
    shell:
        "kdseg-figures qualitative --manifest {input.manifest} {params.predictions} {params.per_case} {params.external}"
        " --title {params.title:q} --out {output} > {log} 2>&1"


rule figures_curves:
    input:
        get_figure_curves_inputs,
    output:
        report(
            f"{RESULTS}/figures/{{exp}}/curves.png",
            caption="../report/figure_curves.rst",
            category="{exp}",
            subcategory="Figures",
            labels={"figure": "training curves"},
        ),
    params:
        title=figure_title,
        histories=lambda wc, input: named_flags("--history", trained_models(wc.exp), input),
    conda:
        "../envs/report.yaml"
    log:
        f"logs/{PRESET}/figures/{{exp}}/curves.log",
    shell:
        "kdseg-figures curves {params.histories} --title {params.title:q} --out {output} > {log} 2>&1"


rule figures_metrics:
    input:
        metrics=lambda wc: get_table_inputs(wc)["metrics"],
        table=f"{RESULTS}/tables/{{exp}}.csv",
    output:
        report(
            f"{RESULTS}/figures/{{exp}}/metrics.png",
            caption="../report/figure_metrics.rst",
            category="{exp}",
            subcategory="Figures",
            labels={"figure": "metrics of every model"},
        ),
    params:
        title=figure_title,
        metrics=lambda wc, input: " ".join(f"--metrics {p}" for p in input.metrics),
    conda:
        "../envs/report.yaml"
    log:
        f"logs/{PRESET}/figures/{{exp}}/metrics.log",
    shell:
        "kdseg-figures metrics {params.metrics} --table {input.table} --title {params.title:q} --out {output} > {log} 2>&1"


rule figures_fps:
    input:
        bench=lambda wc: get_table_inputs(wc)["bench"],
        table=f"{RESULTS}/tables/{{exp}}.csv",
    output:
        report(
            f"{RESULTS}/figures/{{exp}}/fps.png",
            caption="../report/figure_fps.rst",
            category="{exp}",
            subcategory="Figures",
            labels={"figure": "frame rates"},
        ),
    params:
        title=figure_title,
        bench=lambda wc, input: " ".join(f"--bench {p}" for p in input.bench),
    conda:
        "../envs/report.yaml"
    log:
        f"logs/{PRESET}/figures/{{exp}}/fps.log",
    shell:
        "kdseg-figures fps {params.bench} --table {input.table} --title {params.title:q} --out {output} > {log} 2>&1"
