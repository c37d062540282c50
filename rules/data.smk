# Data sets: demo generation, download, extraction, ingest, splits.


rule data_make_demo:
    output:
        "resources/demo/{dataset}.{ext}",
    wildcard_constraints:
        ext=r"zip|tar\.gz",
    params:
        generator=lambda wc: get_demo_options(wc)["generator"],
        samples=lambda wc: get_demo_options(wc)["samples"],
        seed=config["seed"],
    conda:
        "../envs/data.yaml"
    log:
        "logs/data/make_demo/{dataset}.{ext}.log",
    shell:
        "kdseg-make-demo --generator {params.generator} --samples {params.samples}"
        " --seed {params.seed} --out {output} > {log} 2>&1"


rule data_download:
    output:
        "resources/archives/{dataset}/{filename}",
    params:
        url=lambda wc: get_dataset(wc.dataset)["source"],
        checksum=get_dataset_checksum_flag,
    conda:
        "../envs/data.yaml"
    log:
        "logs/data/download/{dataset}/{filename}.log",
    retries: 1
    resources:
        runtime=120,
    shell:
        "kdseg-download --url {params.url:q} {params.checksum} --out {output:q} > {log} 2>&1"


rule data_download_split_list:
    output:
        "resources/splits/{split}/{subset}.txt",
    params:
        url=get_split_list_url,
        checksum=get_split_list_checksum_flag,
    conda:
        "../envs/data.yaml"
    log:
        "logs/data/download_split_list/{split}/{subset}.log",
    shell:
        "kdseg-download --url {params.url:q} {params.checksum} --out {output:q} > {log} 2>&1"


rule data_extract:
    input:
        archive=get_archive,
    output:
        directory("resources/datasets/{dataset}"),
    params:
        checksum=get_dataset_checksum_flag,
        limits=get_extract_limit_flags,
    conda:
        "../envs/data.yaml"
    log:
        "logs/data/extract/{dataset}.log",
    benchmark:
        "benchmarks/data/extract/{dataset}.tsv"
    shell:
        "kdseg-extract --archive {input.archive:q} {params.checksum} {params.limits} --out {output:q} > {log} 2>&1"


rule data_ingest:
    input:
        root=get_dataset_root,
    output:
        manifest=f"{DATA}/{{dataset}}/manifest.csv",
        bad_samples=f"{DATA}/{{dataset}}/bad_samples.csv",
    params:
        layout=lambda wc: get_dataset(wc.dataset)["layout"],
        options=lambda wc: as_json(get_dataset(wc.dataset).get("options", {})),
        on_bad_sample=config["on_bad_sample"],
        limits=get_ingest_limit_flags,
    conda:
        "../envs/data.yaml"
    log:
        main="logs/data/ingest/{dataset}.log",
        # a failed job loses its outputs but keeps its logs: the bad-sample list the error points to
        bad_samples="logs/data/ingest/{dataset}.bad_samples.csv",
    benchmark:
        "benchmarks/data/ingest/{dataset}.tsv"
    threads: 2
    shell:
        "kdseg-ingest --layout {params.layout} --root {input.root:q} --options {params.options:q}"
        " --on-bad-sample {params.on_bad_sample} {params.limits} --threads {threads}"
        " --out-manifest {output.manifest} --out-report {output.bad_samples}"
        " --report-copy {log.bad_samples} > {log.main} 2>&1"


rule data_split:
    input:
        manifest=f"{DATA}/{{dataset}}/manifest.csv",
        lists=lambda wc: list(get_split_lists(wc).values()),
        groups=get_split_groups,
    output:
        f"{DATA}/{{dataset}}/splits/{{split}}.csv",
    params:
        spec=lambda wc: as_json(get_split_spec(wc)),
        lists=lambda wc: list_flags(get_split_lists(wc)),
        groups=lambda wc, input: f"--groups {input.groups:q}" if input.groups else "",
        seed=config["seed"],
    conda:
        "../envs/data.yaml"
    log:
        "logs/data/split/{dataset}/{split}.log",
    shell:
        "kdseg-split --manifest {input.manifest} --spec {params.spec:q} {params.lists} {params.groups}"
        " --seed {params.seed} --out {output} > {log} 2>&1"
