"""3D training: patches drawn on the fly, learning-rate schedules, softmax labels (paper 003), the
teachers' ensemble (paper 004): its pseudo-labels and its scores."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from kdseg.data.volumes import load_nifti
from kdseg.distill.pseudolabel import pseudolabel
from kdseg.engine import find_trainer
from kdseg.engine.checkpoint import load_model
from kdseg.engine.evaluate import evaluate
from kdseg.utils.errors import ConfigError

SIZE = [16, 16, 16]
AUGMENT = {"recipe": "brats_ensemble_kd", "size": SIZE, "foreground": 0.5, "patches_per_case": 2}


def brain_settings(make_settings, **overrides):
    settings = make_settings(arch="unet3d", arch_kwargs={"features": 4, "depth": 2}, loss={"name": "bce_dice"}, size=SIZE, augment=AUGMENT)
    settings["train"] |= {"epochs": 1, "batch_size": 2, "input_range": "zscore", "optimizer": {"name": "adam", "lr": 2e-4}}
    return settings | overrides


def train(settings, data, out, **kwargs):
    trainer_class = find_trainer(settings.get("trainer", "Trainer"))
    return trainer_class(settings, data["manifest"], data["split"], out, device="cpu", **kwargs).run_training()


@pytest.mark.parametrize(
    ("optimizer", "scheduler", "last_lr"),
    [
        # paper 004 as read here: the rate falls by the decay rate over the whole run
        ({"name": "adam", "lr": 2e-4}, {"name": "exponential", "gamma": 0.6, "period": None}, 2e-4 * 0.6 ** (3 / 4)),
        ({"name": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True}, {"name": "exponential", "gamma": 0.85, "period": None}, 0.1 * 0.85 ** (3 / 4)),
        ({"name": "adam", "lr": 2e-4}, {"name": "exponential", "gamma": 0.6}, 2e-4 * 0.6**3),  # per epoch
        ({"name": "adam", "lr": 1e-2}, {"name": "poly", "power": 1.0}, 1e-2 * 1 / 4),
    ],
)
def test_learning_rate_of_the_last_epoch_is_the_configured_one(brain_data, make_settings, tmp_path, optimizer, scheduler, last_lr):
    settings = brain_settings(make_settings)
    settings["train"] |= {"epochs": 4, "optimizer": optimizer, "scheduler": scheduler}
    settings["augment"] = AUGMENT | {"patches_per_case": 1}
    train(settings, brain_data, tmp_path / "run")
    history = pd.read_csv(tmp_path / "run" / "history.csv")
    assert history["lr"].iloc[0] == pytest.approx(optimizer["lr"])
    assert history["lr"].iloc[-1] == pytest.approx(last_lr, rel=1e-5)


def test_nesterov_needs_sgd_with_momentum(brain_data, make_settings, tmp_path):
    settings = brain_settings(make_settings)
    settings["train"]["optimizer"] = {"name": "adam", "lr": 1e-3, "nesterov": True}
    with pytest.raises(ConfigError, match="nesterov needs name sgd with momentum > 0"):
        train(settings, brain_data, tmp_path / "run")


def test_3d_training_draws_patches_per_case_and_epoch(brain_data, make_settings, tmp_path):
    summary = train(brain_settings(make_settings), brain_data, tmp_path / "run")
    assert summary["training_samples"] == 4 * 2  # 4 training cases, 2 patches each
    _, meta = load_model(tmp_path / "run" / "model.pt")
    assert meta["size"] == SIZE and meta["targets"] == "regions" and meta["label_convention"] == "brats2015"


def test_softmax_labels_with_dual_self_distillation(brain_data, make_settings, tmp_path):
    settings = brain_settings(
        make_settings,
        arch="dynunet",
        arch_kwargs={"filters": [4, 8, 16]},
        trainer="DualSelfDistillationTrainer",
        loss={"name": "softmax_dice_ce"},
        distill={"eta": 1.0, "alpha_encoder": 1.0, "alpha_decoder": 1.0},
    )
    settings["train"]["targets"] = "labels"
    train(settings, brain_data, tmp_path / "dsd")
    history = pd.read_csv(tmp_path / "dsd" / "history.csv")
    assert {"train_main", "train_deep", "train_kl_dec", "train_kl_enc", "val_dice"} <= set(history.columns)
    assert history["train_kl_enc"].iloc[0] > 0
    model, meta = load_model(tmp_path / "dsd" / "model.pt")
    assert meta["targets"] == "labels" and model.out_channels == 5  # background + BRATS 2015 labels 1-4
    metrics = evaluate(tmp_path / "dsd" / "model.pt", brain_data["manifest"], brain_data["split"], "val", tmp_path / "m.json", tmp_path / "m.csv", tmp_path / "pred", device="cpu")
    written, _ = load_nifti(tmp_path / "pred" / "case4.nii.gz")
    assert set(np.unique(written)) <= {0, 1, 2, 3, 4}
    assert metrics["cases"] == 1


def test_a_sigmoid_loss_with_label_targets_is_refused(brain_data, make_settings, tmp_path):
    settings = brain_settings(make_settings)
    settings["train"]["targets"] = "labels"
    with pytest.raises(ConfigError, match="use softmax_dice_ce with train.targets: labels"):
        train(settings, brain_data, tmp_path / "run")


def test_ensemble_pseudo_labels_keep_the_geometry_and_the_ensemble_is_scored(brain_data, make_settings, tmp_path):
    teachers = []
    for name, arch, kwargs in (("unet", "unet3d", {"features": 4, "depth": 2}), ("res", "resunet3d", {"features": 8, "blocks_down": [1, 1, 1], "blocks_up": [1, 1]})):
        train(brain_settings(make_settings, model=name, arch=arch, arch_kwargs=kwargs), brain_data, tmp_path / name)
        teachers.append(tmp_path / name / "model.pt")
    summary = pseudolabel(teachers, brain_data["manifest"], brain_data["split"], "unlabelled", tmp_path / "pseudo", device="cpu")
    assert summary["cases"] == 1
    labelled = pd.read_csv(tmp_path / "pseudo" / "manifest.csv")
    written, affine = load_nifti(labelled.loc[0, "mask"])
    source, source_affine = load_nifti(tmp_path / "raw" / "case5" / "seg.nii.gz")
    assert written.shape == source.shape
    assert np.array_equal(affine, source_affine)

    student = brain_settings(make_settings, model="distilled", stage="distill", arch="best_teacher", trainer="PseudoLabelDistillationTrainer")
    result = train(student, brain_data, tmp_path / "student", teachers=teachers, pseudolabels=tmp_path / "pseudo")
    assert result["training_samples"] == (4 + 1) * 2  # labelled and pseudo-labelled cases, 2 patches each

    scores = evaluate(teachers, brain_data["manifest"], brain_data["split"], "val", tmp_path / "e.json", tmp_path / "e.csv", tmp_path / "epred", device="cpu")
    assert scores["model"] == "ensemble" and scores["arch"] == "unet3d+resunet3d"
    assert json.loads((tmp_path / "e.json").read_text())["metrics"]["n_cases"] == 1
