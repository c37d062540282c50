"""Workflow configuration: presets, validation and cross-references.

The Snakefile calls :func:`resolve_config` once at start-up; it returns the configuration every rule
reads. Resolution order (later wins): the configuration file, the preset named by ``preset``, the
values given with ``--config``. Every preset is checked at load time, so a typo in ``paper`` is found
by a ``demo`` run too.

Example:
    >>> raw = load_yaml("workflow_config.yaml")
    >>> config = resolve_config(raw)                         # the file's own preset
    >>> config = resolve_config(raw, {"preset": "paper"})    # as --config preset=paper
"""

from __future__ import annotations

import copy
import difflib
import functools
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from kdseg.utils.errors import ConfigError

__all__ = [
    "ARCHIVE_SUFFIXES",
    "SCHEMA_PATH",
    "active_experiments",
    "active_models",
    "dataset_ndim",
    "deep_merge",
    "load_yaml",
    "model_settings",
    "resolve_config",
    "source_kind",
]

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "config.schema.yaml"
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
LAYOUT_NDIM = {"kvasir_seg": 2, "polypgen": 2, "cvc": 2, "etis_larib": 2, "brats": 3, "brats2015_deepmedic": 3, "msd_brats": 3}
DEFAULT_TRAINERS = {"pretrain": "SliceTrainer", "train": "Trainer", "distill": "DistillationTrainer"}


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML file into a dict, naming the file in any parse error."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} does not exist") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of keys to values at the top level")
    return data


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``base`` with ``override`` merged in recursively (mappings merge, anything else replaces)."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def resolve_config(
    raw: Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
    *,
    origin: str = "workflow_config.yaml",
    schema_path: str | Path = SCHEMA_PATH,
) -> dict[str, Any]:
    """Merge the selected preset and the command-line overrides into ``raw`` and check the result.

    Args:
        raw: the configuration file's content.
        overrides: values given with ``--config`` (they win over the preset). Defaults to none.
        origin: name used in error messages. Defaults to ``"workflow_config.yaml"``.
        schema_path: JSON schema to validate against. Defaults to ``schemas/config.schema.yaml``.

    Raises:
        ConfigError: naming each wrong key, what was found and what is allowed.
    """
    overrides = _typed_cli_values(dict(overrides or {}))
    schema = load_yaml(schema_path)
    merged_raw = deep_merge(raw, overrides)
    presets = merged_raw.get("presets") or {}
    selected = merged_raw.get("preset")
    if selected not in presets:
        raise ConfigError(
            f"{origin}: preset {selected!r} is not defined; defined presets: {', '.join(sorted(presets)) or 'none'}."
            + _suggest(selected, presets)
        )
    # every preset is checked, so a typo in one that is not run today is found too; the selected one
    # first, so that an error in it names its own data sets
    resolved = None
    for name in [selected, *sorted(set(presets) - {selected})]:
        candidate = deep_merge(deep_merge(merged_raw, presets[name]), overrides)
        candidate["preset"] = name
        where = f"{origin} (preset {name!r})"
        _validate_schema(candidate, schema, where)
        _check_references(candidate, where)
        if resolved is None:
            resolved = candidate
    return resolved


def active_experiments(config: Mapping[str, Any]) -> list[str]:
    """Names of the experiments with ``activate: true``, in file order."""
    return [name for name, exp in config["experiments"].items() if exp["activate"]]


def active_models(config: Mapping[str, Any], experiment: str, stage: str | None = None) -> list[str]:
    """Names of an experiment's active models (optionally of one ``stage``), in file order."""
    models = config["experiments"][experiment]["models"]
    return [
        name
        for name, model in models.items()
        if model.get("activate", True) and (stage is None or model["stage"] == stage)
    ]


def model_settings(config: Mapping[str, Any], experiment: str, model: str) -> dict[str, Any]:
    """A model's complete settings: the experiment's ``train`` defaults merged with the model's own.

    The result holds ``arch``, ``arch_kwargs``, ``trainer`` (stage default if unset), ``loss``,
    ``teachers``, ``distill``, ``dataset``, ``split``, ``train``, ``size`` (the experiment's training
    size), ``seed`` and, for 3D experiments, ``augment`` (recipe and patch sampling): everything a
    trainer needs.
    """
    exp = config["experiments"][experiment]
    spec = exp["models"][model]
    settings = {
        "experiment": experiment,
        "model": model,
        "stage": spec["stage"],
        "arch": spec["arch"],
        "arch_kwargs": dict(spec.get("arch_kwargs", {})),
        "trainer": spec.get("trainer", DEFAULT_TRAINERS[spec["stage"]]),
        "loss": dict(spec["loss"]) if "loss" in spec else {"name": "dice"},
        "teachers": list(spec.get("teachers", [])),
        "init_from": spec.get("init_from"),
        "init_checkpoint": spec.get("init_checkpoint"),
        "distill": dict(spec.get("distill", {})),
        "dataset": spec.get("dataset", exp["dataset"]),
        "split": spec.get("split", exp["split"]),
        "train": deep_merge(exp["train"], spec.get("train", {})),
        "size": list(exp["augment"]["size"]),
        "seed": config["seed"],
    }
    if dataset_ndim(config, exp["dataset"]) == 3:
        # 3D trainings sample their patches on the fly with the experiment's recipe (kdseg.engine.patches)
        settings["augment"] = dict(exp["augment"])
    return settings


def dataset_ndim(config: Mapping[str, Any], dataset: str) -> int:
    """2 for the polyp layouts, 3 for the brain layouts."""
    return LAYOUT_NDIM[config["datasets"][dataset]["layout"]]


def source_kind(source: str) -> str:
    """Classify a data source: ``"url"``, ``"archive"`` or ``"folder"``."""
    if source.startswith(("http://", "https://", "file://")):
        return "url"
    if source.lower().endswith(ARCHIVE_SUFFIXES):
        return "archive"
    return "folder"


# --------------------------------------------------------------------------------------------------
_INT = re.compile(r"[-+]?(0|[1-9][0-9]*)")
_FLOAT = re.compile(r"[-+]?(([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+)")


def _typed_cli_values(value: Any) -> Any:
    """Numbers, booleans and null inside --config mappings, which snakemake hands over as strings
    (it parses nested values with YAML's BaseLoader). Strings such as "000" keep their form."""
    if isinstance(value, Mapping):
        return {k: _typed_cli_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed_cli_values(v) for v in value]
    if not isinstance(value, str):
        return value
    if _INT.fullmatch(value):
        return int(value)
    if _FLOAT.fullmatch(value):
        return float(value)
    return {"true": True, "false": False, "null": None, "~": None}.get(value.lower(), value)


def _suggest(value: Any, names: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(value), [str(n) for n in names], n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def _key_path(path: Iterable[Any]) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _schema_message(error: jsonschema.ValidationError) -> str:
    where = _key_path(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = sorted(error.schema.get("properties", {}))
        unknown = [k for k in error.instance if k not in allowed]
        hints = "".join(_suggest(k, allowed) for k in unknown)
        return f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(allowed)}.{hints}"
    if error.validator == "enum":
        allowed = ", ".join(map(repr, error.validator_value))
        return f"{where}: {error.instance!r} is not allowed; allowed: {allowed}.{_suggest(error.instance, map(str, error.validator_value))}"
    if error.validator == "type":
        return f"{where}: expected {error.validator_value}, got {type(error.instance).__name__} {error.instance!r}."
    if error.validator == "required":
        return f"{where}: {error.message}."
    if error.validator in ("oneOf", "anyOf") and error.context:
        best = jsonschema.exceptions.best_match(error.context)
        return _schema_message(best)
    if error.validator == "propertyNames":
        return f"{where}: {error.message}."
    return f"{where}: {error.message}."


def _validate_schema(config: Mapping[str, Any], schema: Mapping[str, Any], origin: str) -> None:
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        lines = [_schema_message(e) for e in errors[:10]]
        more = f"\n  ... and {len(errors) - 10} more" if len(errors) > 10 else ""
        raise ConfigError(f"{origin} is not valid:\n  " + "\n  ".join(lines) + more)


@functools.cache
def _component_registries() -> dict[str, tuple[str, ...]]:
    """The names each component registry holds, keyed by what the config calls the component.

    Imported here rather than at the top: the registries pull in torch, and only resolving needs them.
    """
    from kdseg.augment.recipes import RECIPES
    from kdseg.bench.fps import RUNTIMES
    from kdseg.engine import available_trainers
    from kdseg.engine.settings import OPTIMIZERS, SCHEDULERS
    from kdseg.losses import LOSSES
    from kdseg.models import MODEL_ARCHITECTURES

    return {
        "architecture": (*MODEL_ARCHITECTURES, "best_teacher"),
        "trainer": tuple(available_trainers()),
        "loss": tuple(LOSSES),
        "optimizer": OPTIMIZERS,
        "scheduler": SCHEDULERS,
        "augmentation recipe": tuple(RECIPES),
        "benchmark runtime": RUNTIMES,
    }


def _component_problems(config: Mapping[str, Any]) -> list[str]:
    """Every named component (architecture, trainer, loss, optimiser, scheduler, augmentation recipe,
    benchmark runtime) checked against its registry, so a typo stops ``snakemake -n``, not a training job."""
    registries = _component_registries()
    problems = []

    def check(kind: str, value: str, key: str) -> None:
        if value not in registries[kind]:
            problems.append(f"{key}: no {kind} named {value!r}; available: {', '.join(sorted(registries[kind]))}.{_suggest(value, registries[kind])}")

    def check_train(train: Mapping[str, Any], key: str) -> None:
        for part in ("optimizer", "scheduler"):
            if part in train:
                check(part, train[part]["name"], f"{key}.{part}.name")

    for exp_name, exp in config["experiments"].items():
        key = f"experiments.{exp_name}"
        check("augmentation recipe", exp["augment"]["recipe"], f"{key}.augment.recipe")
        for runtime in exp["benchmark"].get("runtimes", []):
            check("benchmark runtime", runtime, f"{key}.benchmark.runtimes")
        check_train(exp["train"], f"{key}.train")
        for model_name, spec in exp["models"].items():
            mkey = f"{key}.models.{model_name}"
            check("architecture", spec["arch"], f"{mkey}.arch")
            check("trainer", spec.get("trainer", DEFAULT_TRAINERS[spec["stage"]]), f"{mkey}.trainer")
            if "loss" in spec:
                check("loss", spec["loss"]["name"], f"{mkey}.loss.name")
            check_train(spec.get("train", {}), f"{mkey}.train")
    return problems


def _check_references(config: Mapping[str, Any], origin: str) -> None:
    """Cross-key rules a schema cannot express: names that must exist (data sets, splits, models and
    every registered component), ratios that must sum to 1."""
    problems: list[str] = _component_problems(config)
    datasets, splits = config["datasets"], config["splits"]

    def need(kind: str, value: str, names: Mapping[str, Any], key: str) -> bool:
        if value in names:
            return True
        problems.append(f"{key}: no {kind} named {value!r}; defined: {', '.join(sorted(names))}.{_suggest(value, names)}")
        return False

    for name, ds in datasets.items():
        if "demo" in ds and source_kind(ds["source"]) != "archive":
            problems.append(f"datasets.{name}.source: a demo data set is generated as an archive; use a path ending in {', '.join(ARCHIVE_SUFFIXES)}.")
    for name, split in splits.items():
        if "ratios" in split:
            total = sum(split["ratios"].values())
            if abs(total - 1.0) > 1e-6:
                problems.append(f"splits.{name}.ratios: the fractions must sum to 1, they sum to {total:g}.")
    for exp_name, exp in config["experiments"].items():
        key = f"experiments.{exp_name}"
        if need("data set", exp["dataset"], datasets, f"{key}.dataset"):
            ndim = dataset_ndim(config, exp["dataset"])
            if len(exp["augment"]["size"]) != ndim:
                problems.append(f"{key}.augment.size: data set {exp['dataset']!r} is {ndim}D, so the size needs {ndim} numbers, got {exp['augment']['size']}.")
            if ndim == 2 and "copies" not in exp["augment"]:
                problems.append(f"{key}.augment: 2D training sets are augmented offline; give `copies`.")
            extra = sorted(set(exp["augment"]) & ({"copies"} if ndim == 3 else {"foreground", "patches_per_case"}))
            if extra:
                what = "3D patches are drawn on the fly, nothing is written offline" if ndim == 3 else "they apply to 3D patch sampling only"
                problems.append(f"{key}.augment: remove {', '.join(extra)}: {what}.")
        need("split", exp["split"], splits, f"{key}.split")
        for external in exp["evaluate"].get("external", []):
            if need("data set", external, datasets, f"{key}.evaluate.external") and exp["dataset"] in datasets:
                if dataset_ndim(config, external) != dataset_ndim(config, exp["dataset"]):
                    problems.append(f"{key}.evaluate.external: {external!r} is {dataset_ndim(config, external)}D, the experiment's data set {exp['dataset']!r} is not; external test sets must be of the same kind.")
                elif external == exp["dataset"]:
                    problems.append(f"{key}.evaluate.external: {external!r} is the experiment's own data set; an external test set must be another one.")
        models = exp["models"]
        active = {m for m, spec in models.items() if spec.get("activate", True)}
        for model_name, spec in models.items():
            mkey = f"{key}.models.{model_name}"
            if "dataset" in spec:
                need("data set", spec["dataset"], datasets, f"{mkey}.dataset")
            if "split" in spec:
                need("split", spec["split"], splits, f"{mkey}.split")
            if spec["stage"] == "distill" and not spec.get("teachers"):
                problems.append(f"{mkey}: a distill model needs `teachers` (models of the same experiment).")
            if spec["arch"] == "best_teacher" and spec["stage"] != "distill":
                problems.append(f"{mkey}.arch: best_teacher picks a teacher's architecture, so it needs stage distill.")
            if spec.get("init_from") and spec.get("init_checkpoint"):
                problems.append(f"{mkey}: give init_from (a model of this experiment) or init_checkpoint (a file), not both.")
            if not spec.get("activate", True):
                continue
            for ref_key in ("teachers", "init_from"):
                refs = spec.get(ref_key) or []
                for ref in [refs] if isinstance(refs, str) else refs:
                    if ref == model_name:
                        problems.append(f"{mkey}.{ref_key}: a model cannot learn from itself.")
                    elif ref not in active:
                        problems.append(f"{mkey}.{ref_key}: {ref!r} is not an active model of experiment {exp_name!r}; active models: {', '.join(sorted(active))}.{_suggest(ref, active)}")
                    elif models[ref]["stage"] == "distill":
                        problems.append(f"{mkey}.{ref_key}: {ref!r} is itself distilled; teachers and initialisations must be pretrain or train models.")
        for ref in exp["evaluate"].get("ensemble", []):
            if ref not in active:
                problems.append(f"{key}.evaluate.ensemble: {ref!r} is not an active model of experiment {exp_name!r}; active models: {', '.join(sorted(active))}.{_suggest(ref, active)}")
        if exp["evaluate"].get("ensemble") and exp["dataset"] in datasets and dataset_ndim(config, exp["dataset"]) != 3:
            problems.append(f"{key}.evaluate.ensemble: ensembles are scored for 3D experiments only.")
        for section in ("export", "benchmark"):
            for ref in exp[section]["models"]:
                if ref not in active:
                    problems.append(f"{key}.{section}.models: {ref!r} is not an active model of experiment {exp_name!r}; active models: {', '.join(sorted(active))}.{_suggest(ref, active)}")
    for pkg_name, pkg in config["submission"].items():
        pkey = f"submission.{pkg_name}"
        if need("experiment", pkg["experiment"], config["experiments"], f"{pkey}.experiment"):
            exp_models = config["experiments"][pkg["experiment"]]["models"]
            need("model", pkg["model"], exp_models, f"{pkey}.model")
    if problems:
        raise ConfigError(f"{origin} is not consistent:\n  " + "\n  ".join(problems))
