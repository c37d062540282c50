"""Configuration: presets, command-line overrides, schema and cross-reference errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdseg.config import active_experiments, active_models, load_yaml, model_settings, resolve_config, source_kind
from kdseg.utils.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def raw() -> dict:
    return load_yaml(ROOT / "workflow_config.yaml")


ALL_EXPERIMENTS = ["kd_resunetpp", "attunet_transfer", "xpnet", "brats_ensemble_kd", "dsd"]


@pytest.mark.parametrize(
    ("preset", "experiments"), [("demo", ALL_EXPERIMENTS), ("paper", ALL_EXPERIMENTS), ("cpu", ["kd_resunetpp", "attunet_transfer", "xpnet"])]
)
def test_every_preset_resolves(raw, preset, experiments):
    config = resolve_config(raw, {"preset": preset})
    assert config["preset"] == preset
    assert active_experiments(config) == experiments


def test_every_preset_is_tested(raw):
    assert sorted(raw["presets"]) == ["cpu", "demo", "paper"]


def test_demo_preset_uses_the_synthetic_data_sets(raw):
    config = resolve_config(raw)
    assert config["preset"] == "demo"
    assert {config["experiments"][e]["dataset"] for e in active_experiments(config)} == {"kvasir_seg_demo", "polypgen_demo", "brats_demo"}
    assert active_models(config, "dsd") == ["dynunet_basic", "dynunet_dsd"]


def test_paper_preset_keeps_the_papers_settings(raw):
    config = resolve_config(raw, {"preset": "paper"})
    kd = model_settings(config, "kd_resunetpp", "kd_resunetpp")
    assert kd["dataset"] == "kvasir_seg" and kd["split"] == "medico2020"
    assert kd["arch_kwargs"]["filters"] == [16, 32, 64, 128, 256]
    assert kd["distill"] == {"weight": 0.1, "target": "soft"}
    assert kd["train"]["optimizer"] == {"name": "adam", "lr": 1e-3}
    assert kd["size"] == [256, 256]
    student = model_settings(config, "xpnet", "xpnet")
    # the model's own train block overrides the experiment's defaults, the rest is inherited
    assert student["train"]["optimizer"]["betas"] == [0.5, 0.999] and student["train"]["epochs"] == 450


@pytest.mark.parametrize("preset", ["demo", "paper", "cpu"])
def test_brain_pretraining_and_polyp_fine_tuning_see_the_same_input_range(raw, preset):
    # paper 002 normalises to [-1, 1]; a pre-trained first layer fed another range starts off-scale
    config = resolve_config(raw, {"preset": preset})
    if "attunet_transfer" in active_experiments(config):
        ranges = {m: model_settings(config, "attunet_transfer", m)["train"]["input_range"] for m in active_models(config, "attunet_transfer")}
        assert set(ranges.values()) == {"symmetric"}, ranges


def test_only_paper_000_builds_an_offline_augmented_set(raw):
    config = resolve_config(raw, {"preset": "paper"})
    augment = {e: config["experiments"][e]["augment"] for e in ("kd_resunetpp", "attunet_transfer", "xpnet")}
    assert not augment["kd_resunetpp"].get("online") and augment["kd_resunetpp"]["copies"] == 1
    assert augment["attunet_transfer"]["online"] and augment["xpnet"]["online"]


def test_command_line_wins_over_the_preset(raw):
    # snakemake hands nested --config values over as strings
    config = resolve_config(raw, {"presets": {"demo": {"experiments": {"kd_resunetpp": {"train": {"epochs": "3"}}}}}, "datasets": {"kvasir_seg": {"source": "/data/Kvasir-SEG"}}})
    assert config["experiments"]["kd_resunetpp"]["train"]["epochs"] == 3
    assert config["datasets"]["kvasir_seg"]["source"] == "/data/Kvasir-SEG"
    assert config["experiments"]["attunet_transfer"]["paper"] == "002"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"preset": "papr"}, "preset 'papr' is not defined.*Did you mean 'paper'"),
        ({"experiments": {"kd_resunetpp": {"train": {"epocs": 3}}}}, r"experiments\.kd_resunetpp\.train: unknown key\(s\) 'epocs'.*Did you mean 'epochs'"),
        ({"experiments": {"kd_resunetpp": {"train": {"amp": "bf32"}}}}, r"train\.amp: 'bf32' is not allowed; allowed: 'none', 'bf16', 'fp16', 'auto'"),
        ({"experiments": {"kd_resunetpp": {"train": {"batch_size": "eight"}}}}, r"batch_size: expected integer, got str 'eight'"),
        ({"on_bad_sample": "ignore"}, r"on_bad_sample: 'ignore' is not allowed; allowed: 'fail', 'skip'"),
        ({"datasets": {"kvasir_seg": {"checksum": "sha1:abc"}}}, r"datasets\.kvasir_seg\.checksum"),
        ({"experiments": {"kd_resunetpp": {"models": {"kd_resunetpp": {"teachers": ["resunet"]}}}}}, r"teachers: 'resunet' is not an active model.*Did you mean 'resunetpp'"),
        ({"experiments": {"kd_resunetpp": {"dataset": "kvasir"}}}, r"experiments\.kd_resunetpp\.dataset: no data set named 'kvasir'"),
        ({"splits": {"ratio_88_12": {"ratios": {"train": 0.9, "val": 0.2}}}}, r"splits\.ratio_88_12\.ratios: the fractions must sum to 1, they sum to 1\.1"),
        ({"experiments": {"dsd": {"augment": {"size": [32, 32]}}}}, r"experiments\.dsd\.augment\.size: data set 'brats_demo' is 3D, so the size needs 3 numbers"),
        ({"experiments": {"xpnet": {"export": {"models": ["xp_net"]}}}}, r"xpnet\.export\.models: 'xp_net' is not an active model"),
        ({"experiments": {"xpnet": {"evaluate": {"external": ["cvc"]}}}}, r"xpnet\.evaluate\.external: no data set named 'cvc'; defined: brats, brats2015, brats_demo, cvc_clinicdb"),
        ({"experiments": {"xpnet": {"evaluate": {"external": ["brats_demo"]}}}}, r"xpnet\.evaluate\.external: 'brats_demo' is 3D, the experiment's data set 'polypgen_demo' is not"),
        ({"experiments": {"xpnet": {"evaluate": {"external": ["polypgen_demo"]}}}}, r"'polypgen_demo' is the experiment's own data set"),
        ({"experiments": {"kd_resunetpp": {"models": {"resunetpp": {"arch": "best_teacher"}}}}}, "best_teacher picks a teacher's architecture"),
        ({"experiments": {"dsd": {"augment": {"copies": 2}}}}, r"experiments\.dsd\.augment: remove copies: 3D patches are drawn on the fly"),
        ({"experiments": {"xpnet": {"augment": {"patches_per_case": 2}}}}, r"experiments\.xpnet\.augment: remove patches_per_case: they apply to 3D patch sampling only"),
        ({"experiments": {"dsd": {"augment": {"foreground": 1.5}}}}, r"foreground: 1\.5 is greater than the maximum of 1"),
        ({"experiments": {"brats_ensemble_kd": {"evaluate": {"ensemble": ["unet3d", "resunet"]}}}}, r"evaluate\.ensemble: 'resunet' is not an active model.*Did you mean 'resunet3d'"),
        ({"experiments": {"kd_resunetpp": {"train": {"optimizer": {"name": "sgd", "lr": 0.1, "nesterov": "yes"}}}}}, r"nesterov: expected boolean"),
    ],
)
def test_bad_values_name_the_key_and_what_is_allowed(raw, override, message):
    with pytest.raises(ConfigError, match=message):
        resolve_config(raw, override)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"models": {"resunetpp": {"arch": "resunet_pp"}}}, r"models\.resunetpp\.arch: no architecture named 'resunet_pp'; available: .*'resunetpp'\?"),
        ({"models": {"kd_resunetpp": {"trainer": "SelfDistilationTrainer"}}}, r"models\.kd_resunetpp\.trainer: no trainer named 'SelfDistilationTrainer'.*'SelfDistillationTrainer'\?"),
        ({"models": {"resunetpp": {"loss": {"name": "dice_tverski"}}}}, r"models\.resunetpp\.loss\.name: no loss named 'dice_tverski'.*'dice_tversky'\?"),
        ({"train": {"optimizer": {"name": "adamm", "lr": 0.1}}}, r"train\.optimizer\.name: no optimizer named 'adamm'.*'adam'\?"),
        ({"models": {"resunetpp": {"train": {"scheduler": {"name": "plateu"}}}}}, r"models\.resunetpp\.train\.scheduler\.name: no scheduler named 'plateu'.*'plateau'\?"),
        ({"augment": {"recipe": "kd_resunet"}}, r"augment\.recipe: no augmentation recipe named 'kd_resunet'.*'kd_resunetpp'\?"),
        ({"benchmark": {"runtimes": ["eager", "onnx_runtime"]}}, r"benchmark\.runtimes: no benchmark runtime named 'onnx_runtime'.*'onnxruntime'\?"),
    ],
)
def test_every_named_component_is_checked_against_its_registry(raw, override, message):
    """A typo in a component's name stops the configuration (so `snakemake -n`), not a training job."""
    with pytest.raises(ConfigError, match=rf"experiments\.kd_resunetpp\.{message}"):
        resolve_config(raw, {"experiments": {"kd_resunetpp": override}})


def test_registries_are_what_the_code_builds():
    """The names the config check accepts are the ones the stages build (no private trainer bases)."""
    from kdseg.engine import available_trainers, find_trainer
    from kdseg.engine.settings import OptimizerSettings, SchedulerSettings

    assert "_AdversarialTrainer" not in available_trainers()
    assert {name: find_trainer(name) for name in available_trainers()} == available_trainers()
    with pytest.raises(ConfigError, match="Unknown optimizer 'adamm'.*Did you mean 'adam'"):
        OptimizerSettings(name="adamm")
    with pytest.raises(ConfigError, match="Unknown scheduler 'cosine'"):
        SchedulerSettings(name="cosine")


def test_a_typo_in_another_preset_is_found_too(raw):
    with pytest.raises(ConfigError, match=r"(?s)preset 'paper'.*unknown key\(s\) 'epoch'"):
        resolve_config(raw, {"presets": {"paper": {"experiments": {"dsd": {"train": {"epoch": 1}}}}}})


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("https://datasets.simula.no/downloads/kvasir-seg.zip", "url"),
        ("file:///data/x.tar", "url"),
        ("resources/demo/brats_demo.tar.gz", "archive"),
        ("/data/Task01_BrainTumour.TAR", "archive"),
        ("/data/Kvasir-SEG", "folder"),
    ],
)
def test_source_kind(source, kind):
    assert source_kind(source) == kind


def test_3d_settings_carry_the_patch_sampling_and_2d_ones_do_not(raw):
    config = resolve_config(raw, {"preset": "paper"})
    dsd = model_settings(config, "dsd", "dynunet_dsd")
    assert dsd["augment"] == {"recipe": "dsd", "size": [96, 96, 96], "foreground": 0.333, "patches_per_case": 1}
    assert dsd["train"]["targets"] == "labels" and dsd["loss"] == {"name": "softmax_dice_ce"}
    cascaded = model_settings(config, "brats_ensemble_kd", "cascaded_unet3d")
    assert cascaded["train"]["scheduler"] == {"name": "exponential", "gamma": 0.85, "period": None}
    assert cascaded["train"]["optimizer"]["nesterov"] is False
    assert "augment" not in model_settings(config, "kd_resunetpp", "resunetpp")


def test_cpu_preset_runs_the_3d_experiments_on_brats2015_when_turned_on(raw):
    config = resolve_config(raw, {"preset": "cpu", "experiments": {"brats_ensemble_kd": {"activate": True}, "dsd": {"activate": True}}})
    assert active_experiments(config) == ["kd_resunetpp", "attunet_transfer", "xpnet", "brats_ensemble_kd", "dsd"]
    assert {config["experiments"][e]["dataset"] for e in ("brats_ensemble_kd", "dsd")} == {"brats2015"}
    assert config["datasets"]["brats2015"]["layout"] == "brats2015_deepmedic"
