# Each paper's tables rebuilt from the metric artifacts, the paper's figures beside ours.


rule tables_paper:
    input:
        unpack(get_table_inputs),
        reported=workflow.source_path("../src/kdseg/report/paper_results.yaml"),
    output:
        md=f"{RESULTS}/tables/{{exp}}.md",
        csv=f"{RESULTS}/tables/{{exp}}.csv",
        tex=f"{RESULTS}/tables/{{exp}}.tex",
    params:
        paper=lambda wc: get_experiment(wc.exp)["paper"],
        metrics=lambda wc, input: " ".join(f"--metrics {p}" for p in input.metrics),
        bench=lambda wc, input: " ".join(f"--bench {p}" for p in input.bench),
    conda:
        "../envs/report.yaml"
    log:
        f"logs/{PRESET}/tables/{{exp}}.log",
    shell:
        "kdseg-tables --experiment {wildcards.exp} --paper {params.paper} --reported {input.reported}"
        " {params.metrics} {params.bench} --out-md {output.md} --out-csv {output.csv} --out-tex {output.tex}"
        " > {log} 2>&1"
