# kdseg: public medical-imaging data sets -> challenge submissions and knowledge-distillation paper tables.
# This file is a table of contents: configuration, rule files, target rules. Logic lives in src/kdseg/.

from snakemake.utils import min_version

min_version("9.0")


configfile: "workflow_config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/augment.smk"
include: "rules/train.smk"
include: "rules/distill.smk"
include: "rules/pseudolabel.smk"
include: "rules/evaluate.smk"
include: "rules/export.smk"
include: "rules/benchmark.smk"
include: "rules/package.smk"
include: "rules/tables.smk"


rule all:
    input:
        get_final_output(),
    default_target: True


rule submission:
    input:
        get_submission_output(),


rule tables:
    input:
        get_tables_output(),


rule data:
    input:
        get_data_output(),
