# Configuration checks and every input function of the workflow. Rules hold wiring only.

import json
import os
import shlex
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

from snakemake_interface_executor_plugins.settings import DeploymentMethod

from kdseg import config as kdseg_config
from kdseg.export.tensorrt import check_engine_requirements
from kdseg.utils.cores import capped_cores
from kdseg.utils.errors import ConfigError

try:
    _resolved = kdseg_config.resolve_config(
        config,
        dict(workflow.config_settings.config),
        origin="workflow_config.yaml",
        schema_path=workflow.source_path("../schemas/config.schema.yaml"),
    )
except ConfigError as err:
    raise WorkflowError(f"Configuration error: {err}") from None
config.clear()
config.update(_resolved)

# Where Snakemake hands out cores itself (a local run, a job on a cluster node; a cluster run schedules by
# --jobs), it gets no more than this machine lets it use, so no job gets more threads than there are cores
# and `--cores 8` on 2 cores is no slower than `--cores 2` (it ran four 2-thread trainings at once).
if workflow.global_resources["_nodes"].value is None:
    _requested_cores = workflow.global_resources["_cores"].value
    _cores = capped_cores(_requested_cores)
    if _cores != _requested_cores:
        print(f"kdseg: using {_cores} cores: --cores {_requested_cores} asks for more than this machine has for it.", file=sys.stderr)
        workflow.global_resources["_cores"] = _cores

# the conda environments' post-deploy scripts install kdseg from here (envs/*.post-deploy.sh)
os.environ.setdefault("KDSEG_WORKFLOW_DIR", str(Path(workflow.basedir)))

PRESET = config["preset"]
DATA = "results/data"
RESULTS = f"results/{PRESET}"
EXPERIMENTS = kdseg_config.active_experiments(config)
ENGINES = sorted({p for exp in EXPERIMENTS for p in config["experiments"][exp]["export"]["engines"]})
ALL_MODELS = sorted({m for exp in config["experiments"].values() for m in exp["models"]})


wildcard_constraints:
    dataset="|".join(config["datasets"]),
    split="|".join(config["splits"]),
    exp="|".join(config["experiments"]),
    model="|".join(ALL_MODELS),
    subset="train|val|test|unlabelled",
    precision="fp32|fp16",


def as_json(obj):
    """Compact, key-sorted JSON for a command-line flag (stable, so params only change with the config)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


# ----------------------------------------------------------------------------------------- data sets
def get_dataset(name):
    return config["datasets"][name]


def get_source_kind(dataset):
    return kdseg_config.source_kind(get_dataset(dataset)["source"])


def get_download_path(dataset):
    url = get_dataset(dataset)["source"]
    return f"resources/archives/{dataset}/{Path(url.split('?')[0]).name}"


def get_archive(wildcards):
    """The archive to extract: a download, a generated demo archive, or a local file."""
    kind = get_source_kind(wildcards.dataset)
    if kind == "url":
        return get_download_path(wildcards.dataset)
    if kind == "archive":
        return get_dataset(wildcards.dataset)["source"]
    raise WorkflowError(f"data set {wildcards.dataset!r} is a folder source; it is read in place, not extracted.")


def get_dataset_root(wildcards):
    """Where ingest reads a data set: the extracted archive, or the user's folder (checked here, early)."""
    dataset = get_dataset(wildcards.dataset)
    if get_source_kind(wildcards.dataset) != "folder":
        return f"resources/datasets/{wildcards.dataset}"
    folder = Path(dataset["source"])
    if not folder.is_dir():
        where = f" It needs registration: get it from {dataset['registration']}," if dataset.get("registration") else " Get it"
        raise WorkflowError(
            f"Data set {wildcards.dataset!r} ({dataset['layout']} layout) was expected in the folder {folder}, which does not exist."
            f"{where} unpack it, then put it at {folder} or point the workflow at it with"
            f" --config 'datasets={{{wildcards.dataset}: {{source: /path/to/it}}}}'."
        )
    return str(folder)


def limit_flags(dataset, flags):
    """``--flag value`` for each of the data set's ``limits:`` named in ``flags``; the stage's defaults apply to the rest."""
    limits = get_dataset(dataset).get("limits", {})
    return " ".join(f"{flag} {limits[key]}" for key, flag in flags.items() if key in limits)


def get_extract_limit_flags(wildcards):
    return limit_flags(wildcards.dataset, {"max_extracted_gb": "--max-extracted-gb", "max_compression_ratio": "--max-compression-ratio"})


def get_ingest_limit_flags(wildcards):
    return limit_flags(wildcards.dataset, {"max_image_pixels": "--max-image-pixels"})


def get_demo_options(wildcards):
    return get_dataset(wildcards.dataset)["demo"]


def get_split_spec(wildcards):
    return config["splits"][wildcards.split]


def get_split_lists(wildcards):
    """Official id lists of a split: a local path as given, or the file its URL is downloaded to."""
    lists = get_split_spec(wildcards).get("lists", {})
    return {
        subset: (f"resources/splits/{wildcards.split}/{subset}.txt" if kdseg_config.source_kind(src) == "url" else src)
        for subset, src in lists.items()
    }


def get_split_groups(wildcards):
    """The split's groups file (id -> video or patient), or none."""
    groups = get_split_spec(wildcards).get("groups")
    return [groups] if groups else []


def get_split_list_url(wildcards):
    return get_split_spec(wildcards)["lists"][wildcards.subset]


def checksum_flag(checksum):
    return f"--checksum {checksum}" if checksum else ""


def get_dataset_checksum_flag(wildcards):
    return checksum_flag(get_dataset(wildcards.dataset)["checksum"])


def get_split_list_checksum_flag(wildcards):
    return checksum_flag(get_split_spec(wildcards).get("checksums", {}).get(wildcards.subset))


def list_flags(lists):
    return " ".join(f"--list {subset}={path}" for subset, path in lists.items())


def manifest_path(dataset):
    return f"{DATA}/{dataset}/manifest.csv"


def split_path(dataset, split):
    return f"{DATA}/{dataset}/splits/{split}.csv"


# ----------------------------------------------------------------------------------------- experiments
def get_experiment(exp):
    return config["experiments"][exp]


def get_model_settings(exp, model):
    return kdseg_config.model_settings(config, exp, model)


def model_dir(exp, model):
    return f"{RESULTS}/{exp}/{get_experiment(exp)['models'][model]['stage']}/{model}"


def model_checkpoint(exp, model):
    return f"{model_dir(exp, model)}/model.pt"


def require_stage(wildcards, stage):
    models = get_experiment(wildcards.exp)["models"]
    if wildcards.model not in models or models[wildcards.model]["stage"] != stage:
        raise WorkflowError(f"{wildcards.exp}/{stage}/{wildcards.model}: experiment {wildcards.exp!r} has no {stage} model named {wildcards.model!r}.")


def experiment_data(exp):
    spec = get_experiment(exp)
    return {"manifest": manifest_path(spec["dataset"]), "split": split_path(spec["dataset"], spec["split"])}


def get_experiment_data(wildcards):
    return experiment_data(wildcards.exp)


def get_pretrain_inputs(wildcards):
    require_stage(wildcards, "pretrain")
    settings = get_model_settings(wildcards.exp, wildcards.model)
    return {"manifest": manifest_path(settings["dataset"]), "split": split_path(settings["dataset"], settings["split"])}


def is_volumetric(exp):
    """3D experiments draw their training patches on the fly; only 2D ones have an augmented set."""
    return kdseg_config.dataset_ndim(config, get_experiment(exp)["dataset"]) == 3


def augmented_input(exp):
    return {} if is_volumetric(exp) else {"augmented": f"{RESULTS}/{exp}/augmented"}


def augmented_flag(wildcards, input):
    return f"--augmented {input.augmented}" if "augmented" in input.keys() else ""


def init_input(exp, settings):
    """The weights a model starts from: another model of the experiment (init_from) or a file (init_checkpoint)."""
    if settings["init_from"]:
        return {"init": model_checkpoint(exp, settings["init_from"])}
    if settings["init_checkpoint"]:
        return {"init": settings["init_checkpoint"]}
    return {}


def init_flag(wildcards, input):
    return f"--init {input.init}" if "init" in input.keys() else ""


def get_train_inputs(wildcards):
    """Data of the experiment, its augmented set (2D) and, for fine-tuning, the initial weights."""
    require_stage(wildcards, "train")
    settings = get_model_settings(wildcards.exp, wildcards.model)
    return get_experiment_data(wildcards) | augmented_input(wildcards.exp) | init_input(wildcards.exp, settings)


def get_distill_inputs(wildcards):
    """Data, augmented set (2D), initial weights where given, the teachers' weights, and pseudo-labels where used."""
    require_stage(wildcards, "distill")
    settings = get_model_settings(wildcards.exp, wildcards.model)
    inputs = get_experiment_data(wildcards) | augmented_input(wildcards.exp) | init_input(wildcards.exp, settings)
    inputs["teachers"] = [model_checkpoint(wildcards.exp, t) for t in settings["teachers"]]
    if settings["distill"].get("pseudolabels"):
        inputs["pseudolabels"] = f"{RESULTS}/{wildcards.exp}/pseudolabels/{wildcards.model}"
    return inputs


def get_pseudolabel_inputs(wildcards):
    settings = get_model_settings(wildcards.exp, wildcards.model)
    if not settings["distill"].get("pseudolabels"):
        raise WorkflowError(f"{wildcards.exp}/{wildcards.model} uses no pseudo-labels (set distill.pseudolabels to a subset).")
    return get_experiment_data(wildcards) | {"teachers": [model_checkpoint(wildcards.exp, t) for t in settings["teachers"]]}


def get_settings_json(wildcards):
    return as_json(get_model_settings(wildcards.exp, wildcards.model))


def get_model_for_eval(wildcards):
    return get_experiment_data(wildcards) | {"checkpoint": model_checkpoint(wildcards.exp, wildcards.model)}


def evaluated_models(exp):
    return [m for m in kdseg_config.active_models(config, exp) if get_experiment(exp)["models"][m]["stage"] != "pretrain"]


def get_engine_onnx(wildcards):
    """The ONNX file an engine is built from, once TensorRT and CUDA are checked where the engine jobs will run.

    Input functions run while the graph is built, before any job, and the executor is known by then: a
    local run stops here, before any job, when either is missing; so does the engine job on a cluster node
    (it builds its own graph). The submitting machine of a cluster run (a login node, often without a GPU)
    and dry runs check nothing. Under --sdm conda TensorRT lives in envs/tensorrt.yaml: only CUDA is checked.
    """
    runs_jobs_here = workflow.executor_plugin is not None and workflow.local_exec and not (workflow.dryrun or workflow.touch)
    if runs_jobs_here:
        problem = check_engine_requirements(ENGINES, check_tensorrt=DeploymentMethod.CONDA not in workflow.deployment_settings.deployment_method)
        if problem:
            raise WorkflowError(problem)
    return f"{RESULTS}/{wildcards.exp}/export/{wildcards.model}.onnx"


def external_datasets(exp):
    return get_experiment(exp)["evaluate"].get("external", [])


def get_external_eval_inputs(wildcards):
    """A model's checkpoint and the manifest of an external test set the experiment names."""
    if wildcards.dataset not in external_datasets(wildcards.exp):
        raise WorkflowError(f"{wildcards.dataset!r} is not an external test set of {wildcards.exp!r}; add it to evaluate.external.")
    return {"checkpoint": model_checkpoint(wildcards.exp, wildcards.model), "manifest": manifest_path(wildcards.dataset)}


def external_metrics(exp):
    """Metrics JSONs of every evaluated model on every external test set, data set by data set."""
    return [f"{RESULTS}/{exp}/external/{d}/metrics/{m}.json" for d in external_datasets(exp) for m in evaluated_models(exp)]


def get_ensemble_for_eval(wildcards):
    """The checkpoints of the models the experiment's ``evaluate.ensemble`` averages (paper 004's Ensemble row)."""
    members = get_experiment(wildcards.exp)["evaluate"].get("ensemble")
    if not members:
        raise WorkflowError(f"experiment {wildcards.exp!r} scores no ensemble; list its members under evaluate.ensemble.")
    return get_experiment_data(wildcards) | {"checkpoints": [model_checkpoint(wildcards.exp, m) for m in members]}


def metrics_outputs(exp):
    """Metrics JSONs of an experiment: each evaluated model, and the ensemble where one is scored."""
    names = evaluated_models(exp) + (["ensemble"] if get_experiment(exp)["evaluate"].get("ensemble") else [])
    return [f"{RESULTS}/{exp}/metrics/{name}.json" for name in names]


# ----------------------------------------------------------------------------------------- packages, tables
def get_package_inputs(name):
    """Model files and test images of a package (a subset of the experiment's split, or a folder)."""

    def inputs(wildcards):
        package = config["submission"][name]
        exp, model = package["experiment"], package["model"]
        out = {"checkpoint": model_checkpoint(exp, model), "onnx": f"{RESULTS}/{exp}/export/{model}.onnx"}
        if "folder" in package["images"]:
            out["images"] = package["images"]["folder"]
        else:
            out |= experiment_data(exp)
        return out

    return inputs


def prediction_flags(exp):
    """How an experiment's models predict (evaluate.threshold, evaluate.mirror): its evaluations and the
    packages of its models pass the same flags, so a package holds the masks that were scored."""
    evaluate = get_experiment(exp)["evaluate"]
    flags = f"--threshold {evaluate.get('threshold', 0.5)}"
    return f"{flags} --mirror" if evaluate.get("mirror", False) else flags


def image_flags(name, input):
    images = config["submission"][name]["images"]
    if "folder" in images:
        return f"--images-dir {input.images}"
    return f"--manifest {input.manifest} --split {input.split} --subset {images['subset']}"


# benchmark JSONs measured on a GPU and committed (scripts/gpu_run.sh): the papers' FPS are GPU figures
GPU_BENCHMARKS = Path(workflow.basedir) / "reports" / "h200"


def get_table_inputs(wildcards):
    """Metrics and benchmarks of an experiment; none where this preset does not run it (its tables say so).
    Every table also gets the GPU benchmark JSONs; kdseg-tables keeps those of its experiment."""
    gpu_bench = sorted(str(path) for path in GPU_BENCHMARKS.glob("*.bench.json"))
    if wildcards.exp not in EXPERIMENTS:
        return {"metrics": [], "external": [], "bench": [], "gpu_bench": gpu_bench}
    exp = get_experiment(wildcards.exp)
    return {
        "metrics": metrics_outputs(wildcards.exp),
        "external": external_metrics(wildcards.exp),
        "bench": [f"{RESULTS}/{wildcards.exp}/bench/{m}.json" for m in exp["benchmark"]["models"]],
        "gpu_bench": gpu_bench,
    }


# ----------------------------------------------------------------------------------------- targets
def get_engines(exp):
    return get_experiment(exp)["export"]["engines"]


def runtimes_flag(exp):
    runtimes = get_experiment(exp)["benchmark"].get("runtimes")
    return f"--runtimes {' '.join(runtimes)}" if runtimes else ""


def get_export_output(exp):
    out = []
    for model in get_experiment(exp)["export"]["models"]:
        out.append(f"{RESULTS}/{exp}/export/{model}.onnx")
        out += [f"{RESULTS}/{exp}/export/{model}.{p}.engine" for p in get_engines(exp)]
    return out


def get_experiment_output(exp):
    out = metrics_outputs(exp)
    out += external_metrics(exp)
    out += get_export_output(exp)
    out += [f"{RESULTS}/{exp}/bench/{m}.json" for m in get_experiment(exp)["benchmark"]["models"]]
    return out


PACKAGE_OUTPUTS = {
    "mediaeval2020": ["mediaeval2020_task1.zip", "mediaeval2020_task2.zip"],
    "endocv2022": ["endocv2022.zip"],
    "brats": ["brats.zip"],
}


def get_submission_output():
    """Every enabled experiment's evaluated, exported and benchmarked models, and the challenge packages."""
    out = [path for exp in EXPERIMENTS for path in get_experiment_output(exp)]
    for name, package in config["submission"].items():
        if package["experiment"] in EXPERIMENTS:
            out += [f"{RESULTS}/submissions/{path}" for path in PACKAGE_OUTPUTS[name]]
    return out


def get_tables_output():
    """Every paper's tables (an experiment this preset does not run gets them too, saying so) and the
    figures of the experiments it runs."""
    out = [f"{RESULTS}/tables/{exp}.{ext}" for exp in config["experiments"] for ext in ("csv", "md", "tex", "html")]
    for exp in EXPERIMENTS:
        kinds = FIGURE_KINDS if get_experiment(exp)["benchmark"]["models"] else [k for k in FIGURE_KINDS if k != "fps"]
        out += [f"{RESULTS}/figures/{exp}/{kind}.png" for kind in kinds]
    return out


def get_data_output():
    """Every experiment's data through augmentation: the augmented set (2D), or the manifest and split that
    the patches are drawn from (3D)."""
    return [path for exp in EXPERIMENTS for path in (augmented_input(exp) or experiment_data(exp)).values()]


def get_final_output():
    return get_submission_output() + get_tables_output()


# ----------------------------------------------------------------------------------------- figures
FIGURE_KINDS = ["qualitative", "curves", "metrics", "fps"]


def figure_title(wildcards):
    return f"{wildcards.exp} (paper {get_experiment(wildcards.exp)['paper']}, preset {PRESET})"


def named_flags(flag, names, paths):
    """``--flag name=path`` for each pair, in the order of ``names``."""
    return " ".join(f"{flag} {name}={path}" for name, path in zip(names, paths))


def get_figure_qualitative_inputs(wildcards):
    """The experiment's manifest and, for each evaluated model, its predictions and per-case metrics."""
    models = evaluated_models(wildcards.exp)
    external = external_datasets(wildcards.exp)
    return {
        "manifest": experiment_data(wildcards.exp)["manifest"],
        "predictions": [f"{RESULTS}/{wildcards.exp}/predictions/{m}" for m in models],
        "per_case": [f"{RESULTS}/{wildcards.exp}/metrics/{m}.per_case.csv" for m in models],
        "external_manifests": [manifest_path(d) for d in external],
        "external_predictions": [f"{RESULTS}/{wildcards.exp}/external/{d}/predictions/{m}" for d in external for m in models],
        "external_per_case": [f"{RESULTS}/{wildcards.exp}/external/{d}/metrics/{m}.per_case.csv" for d in external for m in models],
    }


def external_figure_flags(wildcards, input):
    """``--external``, ``--external-prediction`` and ``--external-per-case`` flags of the qualitative figure."""
    external, models = external_datasets(wildcards.exp), evaluated_models(wildcards.exp)
    pairs = [f"{d}:{m}" for d in external for m in models]
    return " ".join(
        [named_flags("--external", external, input.external_manifests), named_flags("--external-prediction", pairs, input.external_predictions), named_flags("--external-per-case", pairs, input.external_per_case)]
    )


def trained_models(exp):
    """Every model an experiment trains in this preset, pre-training included, in config order."""
    return kdseg_config.active_models(config, exp)


def get_figure_curves_inputs(wildcards):
    return [f"{model_dir(wildcards.exp, m)}/history.csv" for m in trained_models(wildcards.exp)]
