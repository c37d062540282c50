"""The shared training loop: outputs, determinism, resumption after a kill, settings errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from kdseg.engine import Trainer, find_trainer
from kdseg.engine import trainer as trainer_module
from kdseg.engine.checkpoint import load_model
from kdseg.utils.errors import ConfigError

UNET = {"arch": "unet", "arch_kwargs": {"features": 4}}


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def test_outputs_and_checkpoint_round_trip(polyp_data, make_settings, tmp_path):
    out = tmp_path / "run"
    summary = Trainer(make_settings(**UNET), polyp_data["manifest"], polyp_data["split"], out, augmented=polyp_data["augmented"], device="cpu").run_training()
    for name in ("model.pt", "history.csv", "curves.png", "summary.json", "state/latest.pt", "state/best.pt"):
        assert (out / name).is_file(), name
    history = pd.read_csv(out / "history.csv")
    assert list(history["epoch"]) == [1, 2, 3]
    assert {"train_loss", "val_dice", "lr"} <= set(history.columns)
    assert summary["best_epoch"] == int(history["val_dice"].idxmax()) + 1
    model, meta = load_model(out / "model.pt")
    assert meta["size"] == [32, 32] and meta["input_range"] == "unit" and meta["spatial_dims"] == 2
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 1, 32, 32)
    assert json.loads((out / "summary.json").read_text())["epochs_run"] == 3


def test_same_seed_same_bytes(polyp_data, make_settings, tmp_path):
    for run in ("a", "b"):
        Trainer(make_settings(**UNET), polyp_data["manifest"], polyp_data["split"], tmp_path / run, augmented=polyp_data["augmented"], device="cpu").run_training()
    for name in ("model.pt", "history.csv", "summary.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


@pytest.mark.parametrize("train", [{}, {"ema_decay": 0.9}], ids=["raw", "weight-average"])
def test_resume_after_kill_mid_epoch_gives_the_same_weights(polyp_data, make_settings, tmp_path, monkeypatch, train):
    settings = make_settings(**UNET)
    settings["train"] |= train
    Trainer(settings, polyp_data["manifest"], polyp_data["split"], tmp_path / "straight", augmented=polyp_data["augmented"], device="cpu").run_training()

    killed = Trainer(settings, polyp_data["manifest"], polyp_data["split"], tmp_path / "killed", augmented=polyp_data["augmented"], device="cpu")
    original_step = Trainer.train_step
    calls = {"n": 0}

    def dying_step(self, batch):
        calls["n"] += 1
        if self.epoch == 1 and calls["n"] > 3:  # one step into the second epoch
            raise KeyboardInterrupt("killed")
        return original_step(self, batch)

    monkeypatch.setattr(Trainer, "train_step", dying_step)
    with pytest.raises(KeyboardInterrupt):
        killed.run_training()
    assert not (tmp_path / "killed" / "model.pt").exists()
    monkeypatch.setattr(Trainer, "train_step", original_step)

    resumed = Trainer(settings, polyp_data["manifest"], polyp_data["split"], tmp_path / "killed", augmented=polyp_data["augmented"], device="cpu")
    resumed.setup()
    assert resumed.maybe_resume() == 1  # epoch 0 was complete, epoch 1 is replayed
    Trainer(settings, polyp_data["manifest"], polyp_data["split"], tmp_path / "killed", augmented=polyp_data["augmented"], device="cpu").run_training()
    straight, after_kill = _weights(tmp_path / "straight" / "model.pt"), _weights(tmp_path / "killed" / "model.pt")
    assert all(torch.equal(straight[k], after_kill[k]) for k in straight)
    assert (tmp_path / "straight" / "history.csv").read_bytes() == (tmp_path / "killed" / "history.csv").read_bytes()


def test_changed_settings_ignore_an_old_resume_state(polyp_data, make_settings, tmp_path):
    out = tmp_path / "run"
    Trainer(make_settings(**UNET), polyp_data["manifest"], polyp_data["split"], out, augmented=polyp_data["augmented"], device="cpu").run_training()
    changed = make_settings(**UNET, seed=1)
    trainer = Trainer(changed, polyp_data["manifest"], polyp_data["split"], out, augmented=polyp_data["augmented"], device="cpu")
    trainer.setup()
    assert trainer.maybe_resume() == 0


def test_early_stopping_and_plateau(polyp_data, make_settings, tmp_path):
    settings = make_settings(**UNET)
    settings["train"] |= {"epochs": 6, "optimizer": {"name": "adam", "lr": 1e-6}, "early_stopping": {"patience": 2, "min_delta": 0.5}, "scheduler": {"name": "plateau", "factor": 0.5, "patience": 0}}
    summary = Trainer(settings, polyp_data["manifest"], polyp_data["split"], tmp_path / "run", augmented=polyp_data["augmented"], device="cpu").run_training()
    history = pd.read_csv(tmp_path / "run" / "history.csv")
    assert summary["stopped_early"] and summary["epochs_run"] == 3
    # the plateau after epoch 2 halves the rate that epoch 3 trains with
    assert history["lr"].iloc[2] == pytest.approx(history["lr"].iloc[0] / 2)


def test_time_limit_stops_after_the_epoch_that_reaches_it(polyp_data, make_settings, tmp_path, monkeypatch):
    clock = {"now": 0.0}  # a fake clock: each epoch takes 40 s
    monkeypatch.setattr(trainer_module.time, "perf_counter", lambda: clock["now"])
    original_epoch = Trainer.train_epoch

    def slow_epoch(self, epoch):
        clock["now"] += 40.0
        return original_epoch(self, epoch)

    monkeypatch.setattr(Trainer, "train_epoch", slow_epoch)
    settings = make_settings(**UNET)
    settings["train"] |= {"epochs": 6, "max_minutes": 1.0}
    summary = Trainer(settings, polyp_data["manifest"], polyp_data["split"], tmp_path / "run", augmented=polyp_data["augmented"], device="cpu").run_training()
    assert summary["epochs_run"] == 2 and summary["stopped_at_time_limit"] and not summary["stopped_early"]  # 40 s < 1 min <= 80 s
    assert (tmp_path / "run" / "model.pt").is_file()


def test_bf16_autocast_and_channels_last_train(polyp_data, make_settings, tmp_path):
    settings = make_settings(**UNET)
    settings["train"] |= {"epochs": 1, "amp": "bf16", "channels_last": True}
    summary = Trainer(settings, polyp_data["manifest"], polyp_data["split"], tmp_path / "run", augmented=polyp_data["augmented"], device="cpu").run_training()
    assert summary["epochs_run"] == 1


def test_worker_processes_give_the_same_weights(polyp_data, make_settings, tmp_path):
    for workers in (0, 2):
        settings = make_settings(**UNET)
        settings["train"] |= {"epochs": 1, "num_workers": workers}
        Trainer(settings, polyp_data["manifest"], polyp_data["split"], tmp_path / f"w{workers}", augmented=polyp_data["augmented"], device="cpu").run_training()
    a, b = _weights(tmp_path / "w0" / "model.pt"), _weights(tmp_path / "w2" / "model.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_validation_every_few_epochs_keeps_the_validated_weights(polyp_data, make_settings, tmp_path):
    settings = make_settings(**UNET)
    settings["train"] |= {"epochs": 3, "val_interval": 3}
    out = tmp_path / "run"
    summary = Trainer(settings, polyp_data["manifest"], polyp_data["split"], out, augmented=polyp_data["augmented"], device="cpu").run_training()
    history = pd.read_csv(out / "history.csv")
    assert history["val_dice"].isna().tolist() == [True, True, False]
    assert summary["best_epoch"] == 3
    kept, best = _weights(out / "model.pt"), torch.load(out / "state" / "best.pt", weights_only=True)
    assert best["epoch"] == 2  # zero-based: the third epoch
    assert all(torch.equal(kept[k], best["network"][k]) for k in best["network"])


def test_a_weight_average_is_what_validation_scores_and_model_pt_holds(polyp_data, make_settings, tmp_path, monkeypatch):
    settings = make_settings(**UNET)
    settings["train"] |= {"ema_decay": 0.5}
    scored = []
    original_validate = Trainer.validate

    def recording_validate(self):
        scored.append({k: v.clone() for k, v in self.average.network.state_dict().items()})
        return original_validate(self)

    monkeypatch.setattr(Trainer, "validate", recording_validate)
    out = tmp_path / "run"
    summary = Trainer(settings, polyp_data["manifest"], polyp_data["split"], out, augmented=polyp_data["augmented"], device="cpu").run_training()
    kept, latest = _weights(out / "model.pt"), torch.load(out / "state" / "latest.pt", weights_only=True)
    best_average = scored[summary["best_epoch"] - 1]
    assert all(torch.equal(kept[k], best_average[k]) for k in kept)
    # the optimiser stepped the raw network; the average trails it
    assert not torch.equal(latest["network"]["encoder1.enc1conv1.weight"], latest["average"]["encoder1.enc1conv1.weight"])


@pytest.mark.parametrize(
    ("train", "message"),
    [
        ({"ema_decay": 1.0}, r"ema_decay must lie in \(0, 1\)"),
        ({"amp": "fp16"}, "fp16 autocast needs a CUDA device"),
        ({"epocs": 2}, "unknown key"),
        ({"monitor": "val_iou"}, "is not a validation value"),
    ],
)
def test_bad_settings(polyp_data, make_settings, tmp_path, train, message):
    settings = make_settings(**UNET)
    settings["train"] |= train
    with pytest.raises(ConfigError, match=message):
        Trainer(settings, polyp_data["manifest"], polyp_data["split"], tmp_path / "run", augmented=polyp_data["augmented"], device="cpu").run_training()


def test_unknown_architecture_and_trainer(polyp_data, make_settings, tmp_path):
    with pytest.raises(ConfigError, match="Unknown architecture 'unte'"):
        Trainer(make_settings(arch="unte"), polyp_data["manifest"], polyp_data["split"], tmp_path, augmented=polyp_data["augmented"], device="cpu").run_training()
    with pytest.raises(ConfigError, match="Did you mean 'DistillationTrainer'"):
        find_trainer("DistilationTrainer")


def test_fine_tuning_copies_matching_weights(polyp_data, make_settings, tmp_path):
    Trainer(make_settings(**UNET), polyp_data["manifest"], polyp_data["split"], tmp_path / "unet", augmented=polyp_data["augmented"], device="cpu").run_training()
    trainer = Trainer(make_settings(arch="attention_unet", arch_kwargs={"features": 4}), polyp_data["manifest"], polyp_data["split"], tmp_path / "att", augmented=polyp_data["augmented"], init=tmp_path / "unet" / "model.pt", device="cpu")
    trainer.setup()
    unet = _weights(tmp_path / "unet" / "model.pt")
    own = trainer.network.state_dict()
    shared = [k for k in unet if k in own]
    assert shared and all(torch.equal(unet[k], own[k]) for k in shared)


def _self_distillation_student(data, make_settings, tmp_path, **overrides):
    """A U-Net teacher trained on ``data``, a self-distillation student of it (set up), and the teacher's checkpoint."""
    Trainer(make_settings(**UNET), data["manifest"], data["split"], tmp_path / "teacher", augmented=data["augmented"], device="cpu").run_training()
    teacher = tmp_path / "teacher" / "model.pt"
    settings = make_settings(**UNET, stage="distill", trainer="SelfDistillationTrainer", teachers=["teacher"], distill={"weight": 0.1}, **overrides)
    init = teacher if settings["init_from"] else None
    student = find_trainer("SelfDistillationTrainer")(settings, data["manifest"], data["split"], tmp_path / "student", augmented=data["augmented"], init=init, teachers=[teacher], device="cpu")
    student.setup()
    return student, teacher


def _count_teacher_images(student):
    """The batch sizes the student's teacher is run on from now on."""
    batch_sizes = []
    student.teachers[0].register_forward_hook(lambda module, args, output: batch_sizes.append(args[0].shape[0]))
    return batch_sizes


def test_a_student_can_start_from_its_teacher(polyp_data, make_settings, tmp_path):
    """Self-distillation with ``init_from`` (the cpu preset's kd_resunetpp): the student begins as a copy of the teacher."""
    student, teacher = _self_distillation_student(polyp_data, make_settings, tmp_path, init_from="teacher")
    weights, own = _weights(teacher), student.network.state_dict()
    assert set(weights) == set(own) and all(torch.equal(weights[k], own[k]) for k in own)


def test_distillation_on_a_fixed_set_runs_the_teacher_once_per_image(polyp_data, make_settings, tmp_path):
    """Paper 000's offline set shows the same images every epoch: the teacher's logits are computed once and reused."""
    student, _ = _self_distillation_student(polyp_data, make_settings, tmp_path)
    batch_sizes = _count_teacher_images(student)
    for epoch in range(3):
        student.train_epoch(epoch)
    assert sum(batch_sizes) == len(student.train_set) == 8
    student.teachers[0].eval()
    for index in range(len(student.train_set)):
        sample = student.train_set[index]
        with torch.no_grad():
            fresh = student.teachers[0](sample["image"][None])[0]
        torch.testing.assert_close(student.teacher_cache[sample["id"]], fresh, atol=1e-5, rtol=1e-4)


def test_distillation_on_an_online_set_runs_the_teacher_on_every_batch(polyp_data, make_settings, tmp_path):
    """Augmentations drawn every epoch change the images, so nothing is cached."""
    recipe = polyp_data["augmented"] / "recipe.json"
    recipe.write_text(json.dumps({**json.loads(recipe.read_text()), "recipe": "kd_resunetpp", "online": True}))
    student, _ = _self_distillation_student(polyp_data, make_settings, tmp_path)
    batch_sizes = _count_teacher_images(student)
    for epoch in range(3):
        student.train_epoch(epoch)
    assert student.teacher_cache is None
    assert sum(batch_sizes) == 3 * 8
