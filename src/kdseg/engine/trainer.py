"""The training loop every experiment shares (nnU-Net's ``nnUNetTrainer`` pattern).

:class:`Trainer` trains one network with labels. Its :meth:`Trainer.run_training` loop only calls
small hooks — :meth:`build_datasets`, :meth:`build_network`, :meth:`build_loss`,
:meth:`configure_optimizers`, :meth:`train_step`, :meth:`compute_loss`, :meth:`validate` — and the
variants in :mod:`kdseg.engine.variants` (distillation, adversarial, pseudo-label, dual
self-distillation, brain-slice pre-training) override one or two of them.

Reproducibility and resumption:

- every epoch draws its batch order and any randomness from seeds derived from the base seed and the
  epoch number, never from a running stream, so an epoch replayed after a kill is the same epoch;
- at the end of every epoch the whole state (weights, optimiser, scheduler, early-stopping counters,
  history, variant state) is written atomically to ``<out>/state/latest.pt``, the best weights to
  ``<out>/state/best.pt``; a new run with the same settings and inputs resumes from there, one with
  other settings (a fingerprint differs) starts afresh;
- a run killed mid-epoch and started again ends with the same weights on CPU as one never stopped.

Outputs: ``model.pt`` (the weights of the best validation epoch, or of the last one without
validation data; with ``train.ema_decay``, of the weight average, which validation scores),
``history.csv``, ``curves.png`` and ``summary.json``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from kdseg.data.manifest import read_manifest, read_split, select_subset
from kdseg.data.volumes import LABEL_CONVENTIONS, REGIONS
from kdseg.engine.averaging import WeightAverage
from kdseg.engine.checkpoint import load_model, save_model, save_state
from kdseg.engine.data import AugmentedSet, ResizedImageSet, VolumeSet, is_volumetric
from kdseg.engine.inference import output_probabilities, predict_logits, predicted_regions
from kdseg.engine.patches import PatchSet
from kdseg.engine.settings import TrainSettings
from kdseg.losses import create_loss
from kdseg.metrics.binary import image_metrics
from kdseg.models import SegmentationModel, create_model
from kdseg.utils.errors import ConfigError, DataError
from kdseg.utils.io import write_csv, write_json
from kdseg.utils.progress import progress
from kdseg.utils.seed import derive_seed, seed_everything

__all__ = ["Trainer", "resolve_device"]

log = logging.getLogger(__name__)

STATE_FORMAT = "kdseg-train-state/1"


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` picks CUDA when available, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} was asked for but CUDA is not available on this machine; use --device cpu or auto.")
    return torch.device(device)


class _SeededPermutation(Sampler[int]):
    """A random order fixed by its seed: every iteration yields the same permutation.

    torch's RandomSampler advances its generator on each ``iter()``, and wrappers such as progress
    bars may start one more iteration with worker processes; a fixed permutation keeps the batch
    order independent of that and of the number of workers.
    """

    def __init__(self, size: int, seed: int) -> None:
        self.size, self.seed = size, seed

    def __len__(self) -> int:
        return self.size

    def __iter__(self):
        return iter(torch.randperm(self.size, generator=torch.Generator().manual_seed(self.seed)).tolist())


class _ExponentialDecay:
    """``gamma^(epoch / period)``: the learning-rate factor of the ``exponential`` schedule (a class, not a
    lambda, so that the scheduler's state can be saved)."""

    def __init__(self, gamma: float, period: int) -> None:
        self.gamma, self.period = gamma, period

    def __call__(self, epoch: int) -> float:
        return self.gamma ** (epoch / self.period)


def _seed_worker(worker_id: int) -> None:
    # each worker's NumPy/random streams follow the loader's seeded torch generator
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)


class Trainer:
    """Supervised training of one segmentation network.

    Args:
        settings: the model's resolved settings (:func:`kdseg.config.model_settings`): ``arch``,
            ``arch_kwargs``, ``loss``, ``train``, ``seed``, ``experiment``, ``model``, ``distill``...
        manifest: manifest CSV of the data set.
        split: split CSV; ``train`` samples come from ``augmented`` (2D) or are drawn as patches of the
            ``train`` cases (3D, :class:`kdseg.engine.patches.PatchSet` with the settings' ``augment``), ``val``
            ones validate.
        out_dir: folder of the outputs and of the resume state.
        augmented: the experiment's augmented training set (``kdseg-augment``; 2D only). Defaults to None.
        init: weights to start from: a kdseg checkpoint or a raw state dict (e.g. the published brain-MRI
            U-Net); tensors are copied where names and shapes match. Defaults to None.
        teachers: teacher checkpoints (distillation variants). Defaults to none.
        pseudolabels: folder of pseudo-labels (``kdseg-pseudolabel``). Defaults to None.
        device: ``auto``, ``cpu`` or ``cuda[:n]``. Defaults to "auto".
        threads: CPU threads for torch. Defaults to 1.

    Example:
        >>> Trainer(settings, "manifest.csv", "split.csv", "out/", augmented="augmented/").run_training()
    """

    def __init__(
        self,
        settings: dict[str, Any],
        manifest: str | Path,
        split: str | Path,
        out_dir: str | Path,
        *,
        augmented: str | Path | None = None,
        init: str | Path | None = None,
        teachers: Sequence[str | Path] = (),
        pseudolabels: str | Path | None = None,
        device: str = "auto",
        threads: int = 1,
    ) -> None:
        self.settings = settings
        self.where = f"experiments.{settings.get('experiment', '?')}.models.{settings.get('model', '?')}"
        self.train_settings = TrainSettings.from_dict(settings["train"], where=f"{self.where}.train")
        self.seed = int(settings.get("seed", 0))
        self.manifest_path, self.split_path = Path(manifest), Path(split)
        self.out_dir = Path(out_dir)
        self.augmented = Path(augmented) if augmented else None
        self.init = Path(init) if init else None
        self.teacher_paths = [Path(p) for p in teachers]
        self.pseudolabels = Path(pseudolabels) if pseudolabels else None
        self.device = resolve_device(device)
        self.threads = max(1, threads)
        torch.set_num_threads(self.threads)
        self.manifest = read_manifest(self.manifest_path)
        self.split = read_split(self.split_path)
        self.volumetric = is_volumetric(self.manifest)
        self.history: list[dict[str, float]] = []
        self.best_metric = -math.inf
        self.best_epoch = -1
        self.bad_epochs = 0
        self.stopped_early = False
        self.stopped_at_time_limit = False
        self.average: WeightAverage | None = None

    # ------------------------------------------------------------------------------------ hooks
    def build_datasets(self) -> tuple[Dataset, Dataset | None]:
        """Training set (the augmented set; 3D: patches drawn on the fly) and validation set (the split's ``val`` cases)."""
        if self.volumetric:
            train = self.build_patch_set(select_subset(self.manifest, self.split, "train"))
            self.patch_size = train.size
            return train, self.build_validation_set(train.size)
        if self.augmented is None:
            raise ConfigError(f"{self.where}: {type(self).__name__} trains on the experiment's augmented set; pass --augmented.")
        train = AugmentedSet(self.augmented, self.train_settings.input_range)
        self.patch_size = train.size
        return train, self.build_validation_set(train.size)

    def build_patch_set(self, rows: pd.DataFrame, label_column: str = "mask") -> PatchSet:
        """3D training patches of ``rows``, drawn afresh every epoch with the experiment's ``augment`` settings."""
        if rows.empty:
            raise DataError(f"{self.where}: the split {self.split_path} has no cases to train on.")
        augment = self.settings.get("augment") or {}
        return PatchSet(
            rows,
            self.settings["size"],
            self.seed,
            recipe=augment.get("recipe"),
            foreground=augment.get("foreground", 1 / 3),
            patches_per_case=augment.get("patches_per_case", 1),
            targets=self.train_settings.targets,
            label_column=label_column,
        )

    def build_validation_set(self, size: Sequence[int]) -> Dataset | None:
        """The split's ``val`` cases, at the training size (2D) or whole (3D); None if there are none."""
        rows = select_subset(self.manifest, self.split, "val")
        if rows.empty:
            log.warning("the split has no val cases: no validation, the last epoch's weights are kept")
            return None
        return VolumeSet(rows) if self.volumetric else ResizedImageSet(rows, size, self.train_settings.input_range)

    def network_channels(self) -> tuple[int, int]:
        """(input channels, output channels): RGB → 1 polyp channel; C modalities → WT, TC, ET
        (``targets: regions``) or background + each label of the data set (``targets: labels``)."""
        if self.volumetric:
            outputs = len(REGIONS) if self.train_settings.targets == "regions" else len(LABEL_CONVENTIONS[self.label_convention]["labels"])
            return len(self.manifest.iloc[0]["modalities"].split(",")), outputs
        return 3, 1

    @property
    def label_convention(self) -> str:
        """The 3D data set's label convention (:data:`kdseg.data.volumes.LABEL_CONVENTIONS`)."""
        return self.manifest.iloc[0]["label_convention"]

    def build_network(self) -> SegmentationModel:
        """The architecture named in the settings, with the data's channel counts."""
        in_channels, out_channels = self.network_channels()
        kwargs = {"in_channels": in_channels, "out_channels": out_channels, **self.settings.get("arch_kwargs", {})}
        try:
            return create_model(self.settings["arch"], **kwargs)
        except KeyError as err:
            raise ConfigError(f"{self.where}.arch: {err.args[0]}") from None
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{self.where}.arch_kwargs: {err}") from None

    def build_loss(self) -> nn.Module:
        """The loss named in the settings (``loss: {name: ..., <kwargs>}``)."""
        spec = dict(self.settings.get("loss") or {"name": "dice"})
        loss = create_loss(spec.pop("name"), **spec)
        softmax = getattr(loss, "activation", "sigmoid") == "softmax"
        if softmax != (self.volumetric and self.train_settings.targets == "labels"):
            raise ConfigError(
                f"{self.where}.loss: {type(loss).__name__} applies {'softmax' if softmax else 'sigmoid'} but the network predicts "
                f"{'softmax labels' if not softmax else 'sigmoid outputs'}; use softmax_dice_ce with train.targets: labels (3D only), a sigmoid loss otherwise."
            )
        return loss

    def configure_optimizers(self, parameters: Any = None) -> tuple[torch.optim.Optimizer, Any]:
        """Optimiser and learning-rate scheduler from the ``train`` settings."""
        opt = self.train_settings.optimizer
        params = self.network.parameters() if parameters is None else parameters
        if opt.name == "adam":
            optimizer = torch.optim.Adam(params, lr=opt.lr, betas=opt.betas, weight_decay=opt.weight_decay)
        elif opt.name == "nadam":
            optimizer = torch.optim.NAdam(params, lr=opt.lr, betas=opt.betas, weight_decay=opt.weight_decay)
        elif opt.name == "adamw":
            optimizer = torch.optim.AdamW(params, lr=opt.lr, betas=opt.betas, weight_decay=opt.weight_decay)
        else:
            optimizer = torch.optim.SGD(params, lr=opt.lr, momentum=opt.momentum, weight_decay=opt.weight_decay, nesterov=opt.nesterov)
        return optimizer, self._build_scheduler(optimizer)

    def _build_scheduler(self, optimizer: torch.optim.Optimizer) -> Any:
        sched = self.train_settings.scheduler
        epochs = self.train_settings.epochs
        if sched.name == "plateau":
            return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=sched.factor, patience=sched.patience, min_lr=sched.min_lr)
        if sched.name == "step":
            return torch.optim.lr_scheduler.StepLR(optimizer, step_size=sched.step_size, gamma=sched.gamma)
        if sched.name == "exponential":
            period = epochs if sched.period is None else sched.period
            return torch.optim.lr_scheduler.LambdaLR(optimizer, _ExponentialDecay(sched.gamma, period))
        if sched.name == "poly":
            return torch.optim.lr_scheduler.PolynomialLR(optimizer, total_iters=epochs, power=sched.power)
        return None

    def compute_loss(self, image: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss of one batch (inside autocast) and the values to log."""
        loss = self.loss(self.network(image), target)
        return loss, {"loss": float(loss.detach())}

    def train_step(self, batch: dict[str, Any]) -> dict[str, float]:
        """One optimisation step on a batch."""
        image, target = self.to_device(batch)
        with self.autocast():
            loss, logs = self.compute_loss(image, target)
        self.backward_step(loss, self.optimizer)
        return logs

    @torch.inference_mode()
    def validate(self) -> dict[str, float]:
        """Mean per-case Dice of the thresholded prediction on the validation set (``val_dice``)."""
        if self.val_set is None:
            return {}
        network = self.evaluated_network
        network.eval()
        scores = []
        loader = DataLoader(self.val_set, batch_size=1 if self.volumetric else self.train_settings.batch_size, shuffle=False)
        for batch in loader:
            image, target = self.to_device(batch)
            with self.autocast():
                logits = predict_logits(network, image, self.patch_size if self.volumetric else None)
            if self.volumetric:
                # scored as evaluation scores them: the label map the network's output is written as, in regions
                probs = output_probabilities(logits.float(), self.train_settings.targets).cpu().numpy()
                pred = np.stack([predicted_regions(p, self.train_settings.targets, self.label_convention) for p in probs])
            else:
                pred = (torch.sigmoid(logits.float()) > 0.5).cpu().numpy()
            truth = target.cpu().numpy() > 0.5
            for p, t in zip(pred, truth):
                scores.append(np.mean([image_metrics(p[c], t[c])["dsc"] for c in range(p.shape[0])]))
        return {"val_dice": float(np.mean(scores))}

    def extra_state(self) -> dict[str, Any]:
        """Variant state saved with every epoch (e.g. a discriminator); plain values and tensors only."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`extra_state` saved."""

    def model_meta(self) -> dict[str, Any]:
        """What inference needs besides the weights: input range, training size, channels, labels."""
        meta: dict[str, Any] = {
            "experiment": self.settings.get("experiment"),
            "model": self.settings.get("model"),
            "stage": self.settings.get("stage"),
            "trainer": type(self).__name__,
            "input_range": self.train_settings.input_range,
            "size": list(self.patch_size),
            "spatial_dims": 3 if self.volumetric else 2,
            "settings": json.dumps(self.settings, sort_keys=True),
        }
        if self.volumetric:
            meta["modalities"] = self.manifest.iloc[0]["modalities"]
            meta["label_convention"] = self.label_convention
            meta["targets"] = self.train_settings.targets
        return meta

    def load_teachers(self) -> list[SegmentationModel]:
        """The teacher checkpoints as frozen networks in eval mode on the training device."""
        if not self.teacher_paths:
            raise ConfigError(f"{self.where}: {type(self).__name__} needs teachers; list them under `teachers:`.")
        teachers = []
        for path in self.teacher_paths:
            teacher, _ = load_model(path, self.device)
            teacher.requires_grad_(False)
            teachers.append(teacher)
        return teachers

    # ------------------------------------------------------------------------------------ mechanics
    def to_device(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        image = batch["image"].to(self.device, non_blocking=True)
        target = batch["target"].to(self.device, non_blocking=True)
        if self.train_settings.channels_last:
            image = image.contiguous(memory_format=self._memory_format())
        return image, target

    def _memory_format(self) -> torch.memory_format:
        return torch.channels_last_3d if self.volumetric else torch.channels_last

    def autocast(self) -> contextlib.AbstractContextManager:
        """Autocast context for the configured precision (a no-op for ``none``)."""
        dtype = self.amp_dtype
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def _resolve_amp(self) -> torch.dtype | None:
        amp = self.train_settings.amp
        if amp == "none":
            return None
        if amp == "fp16":
            if self.device.type != "cuda":
                raise ConfigError(f"{self.where}.train.amp: fp16 autocast needs a CUDA device; on a CPU use bf16 (or auto).")
            return torch.float16
        if amp == "bf16":
            return torch.bfloat16
        # auto: bf16 where the hardware runs it natively
        if self.device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        native = getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)() or getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
        return torch.bfloat16 if native else None

    def backward_step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """Backward pass and optimiser step (with gradient scaling for fp16)."""
        optimizer.zero_grad(set_to_none=True)
        if not torch.isfinite(loss):
            raise DataError(f"{self.where}: the loss became {float(loss)} at epoch {self.epoch}; lower the learning rate or disable amp.")
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(optimizer)
            self.scaler.update()
        else:
            loss.backward()
            optimizer.step()

    def fingerprint(self) -> str:
        """Hash of the settings and the inputs' identities: a resume state with another one is ignored."""
        identity = {"settings": self.settings, "trainer": type(self).__name__, "inputs": {}}
        for name in ("manifest_path", "split_path", "augmented", "init", "pseudolabels"):
            path = getattr(self, name)
            if path is not None:
                identity["inputs"][name] = _path_identity(path)
        identity["inputs"]["teachers"] = [_path_identity(p) for p in self.teacher_paths]
        return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()

    @property
    def state_dir(self) -> Path:
        return self.out_dir / "state"

    def _state(self, epoch: int) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "fingerprint": self._fingerprint,
            "epoch": epoch,
            "network": self.network.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else {},
            "scaler": self.scaler.state_dict() if self.scaler is not None else {},
            "best_metric": self.best_metric,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "stopped_early": self.stopped_early,
            "stopped_at_time_limit": self.stopped_at_time_limit,
            "history": self.history,
            "extra": self.extra_state(),
            "average": self.average.network.state_dict() if self.average is not None else {},
        }

    def maybe_resume(self) -> int:
        """Load ``state/latest.pt`` when it belongs to this run; return the first epoch to train."""
        path = self.state_dir / "latest.pt"
        if not path.is_file():
            return 0
        try:
            state = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as err:  # a torn file cannot exist (atomic writes), but a foreign one can
            log.warning("ignoring unreadable resume state %s (%s); starting afresh", path, err)
            return 0
        if state.get("format") != STATE_FORMAT or state.get("fingerprint") != self._fingerprint:
            log.info("resume state %s was written with other settings or inputs; starting afresh", path)
            return 0
        self.network.load_state_dict(state["network"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None and state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])
        self.best_metric, self.best_epoch, self.bad_epochs = state["best_metric"], state["best_epoch"], state["bad_epochs"]
        self.stopped_early = state["stopped_early"]
        self.history = list(state["history"])
        self.load_extra_state(state["extra"])
        if self.average is not None:
            self.average.network.load_state_dict(state["average"])
        log.info("resuming after epoch %d from %s", state["epoch"], path)
        return state["epoch"] + 1

    def _epoch_loader(self, epoch: int) -> DataLoader:
        if hasattr(self.train_set, "set_epoch"):
            self.train_set.set_epoch(epoch)
        order = _SeededPermutation(len(self.train_set), derive_seed(self.seed, "batches", epoch))
        workers = self.train_settings.num_workers
        return DataLoader(
            self.train_set,
            batch_size=self.train_settings.batch_size,
            sampler=order,
            generator=torch.Generator().manual_seed(derive_seed(self.seed, "workers", epoch)),
            num_workers=workers,
            worker_init_fn=_seed_worker,
            pin_memory=self.device.type == "cuda",
            drop_last=len(self.train_set) > self.train_settings.batch_size,
        )

    def train_epoch(self, epoch: int) -> dict[str, float]:
        """Train one epoch; return the mean of each logged value."""
        self.network.train()
        totals: dict[str, float] = {}
        steps = 0
        bar = progress(self._epoch_loader(epoch), desc=f"epoch {epoch + 1}/{self.train_settings.epochs}", unit="batch")
        for batch in bar:
            logs = self.train_step(batch)
            if self.average is not None:
                self.average.update(self.network)
            steps += 1
            for key, value in logs.items():
                totals[key] = totals.get(key, 0.0) + value
            bar.set_postfix({k: f"{v / steps:.4f}" for k, v in totals.items()}, refresh=False)
        return {f"train_{k}": v / max(steps, 1) for k, v in totals.items()}

    def _scheduler_step(self, logs: dict[str, float]) -> None:
        if self.scheduler is None:
            return
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            if self.train_settings.monitor in logs:
                self.scheduler.step(logs[self.train_settings.monitor])
        else:
            self.scheduler.step()

    def _update_best(self, epoch: int, logs: dict[str, float], *, validated: bool) -> None:
        """Keep the best weights by ``train.monitor``; only epochs that ran validation (``val_interval``) count."""
        monitor = self.train_settings.monitor
        if not validated or self.val_set is None:
            return
        if monitor not in logs:
            raise ConfigError(f"{self.where}.train.monitor: {monitor!r} is not a validation value; available: {', '.join(sorted(logs))}.")
        stop = self.train_settings.early_stopping
        min_delta = stop.min_delta if stop else 0.0
        if logs[monitor] > self.best_metric + min_delta:
            self.best_metric, self.best_epoch, self.bad_epochs = logs[monitor], epoch, 0
            save_state(self.state_dir / "best.pt", {"format": STATE_FORMAT, "fingerprint": self._fingerprint, "network": self.evaluated_network.state_dict(), "epoch": epoch})
        else:
            self.bad_epochs += 1

    def initialise_weights(self) -> None:
        """Copy ``init`` weights into the network where names and shapes match (fine-tuning)."""
        if self.init is None:
            return
        try:
            data = torch.load(self.init, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise DataError(f"{self.where}: initial weights {self.init} do not exist.") from None
        except Exception as err:
            raise DataError(f"{self.where}: initial weights {self.init} cannot be read with weights_only=True ({err}); give a state dict or a kdseg checkpoint.") from None
        state = data["state_dict"] if isinstance(data, dict) and "state_dict" in data else data
        if not isinstance(state, dict):
            raise DataError(f"{self.where}: {self.init} holds no state dict.")
        own = self.network.state_dict()
        loaded = {k: v for k, v in state.items() if k in own and tuple(own[k].shape) == tuple(v.shape)}
        if not loaded:
            raise DataError(f"{self.where}: no tensor of {self.init} matches the {self.settings['arch']} network by name and shape; is it a checkpoint of a compatible architecture?")
        self.network.load_state_dict(loaded, strict=False)
        fresh = sorted(set(own) - set(loaded))
        log.info("initialised %d of %d tensors from %s; %d start fresh%s", len(loaded), len(own), self.init, len(fresh), f" (e.g. {fresh[:3]})" if fresh else "")

    # ------------------------------------------------------------------------------------ the loop
    def setup(self) -> None:
        """Build data, network, loss and optimiser (seeded), and restore a matching resume state."""
        seed_everything(derive_seed(self.seed, "init", self.settings.get("experiment"), self.settings.get("model")))
        torch.use_deterministic_algorithms(True, warn_only=True)
        self.train_set, self.val_set = self.build_datasets()
        self.network = self.build_network().to(self.device)
        self.initialise_weights()
        if self.train_settings.channels_last:
            self.network = self.network.to(memory_format=self._memory_format())
        self.loss = self.build_loss()
        self.amp_dtype = self._resolve_amp()
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None
        self.optimizer, self.scheduler = self.configure_optimizers()
        decay = self.train_settings.ema_decay
        self.average = WeightAverage(self.network, decay) if decay is not None else None
        self._fingerprint = self.fingerprint()
        self.epoch = 0

    def run_training(self) -> dict[str, Any]:
        """Train for the configured epochs (resuming if possible) and write the outputs."""
        self.setup()
        start = self.maybe_resume()
        settings = self.train_settings
        log.info("%s: %s (%d parameters) on %s, %d training samples, epochs %d..%d", type(self).__name__, self.settings["arch"], sum(p.numel() for p in self.network.parameters()), self.device, len(self.train_set), start + 1, settings.epochs)
        training_began = time.perf_counter()
        for epoch in range(start, settings.epochs):
            if self.stopped_early:
                break
            if settings.max_minutes is not None and time.perf_counter() - training_began >= 60 * settings.max_minutes:
                self.stopped_at_time_limit = True
                log.info("time limit: %g min reached after epoch %d; stopping (train.max_minutes)", settings.max_minutes, epoch)
                break
            self.epoch = epoch
            torch.manual_seed(derive_seed(self.seed, "epoch", epoch))
            began = time.perf_counter()
            logs = {"epoch": epoch + 1, **self.train_epoch(epoch)}
            validated = (epoch + 1) % settings.val_interval == 0 or epoch + 1 == settings.epochs
            if validated:
                logs.update(self.validate())
            logs["lr"] = self.optimizer.param_groups[0]["lr"]
            self._scheduler_step(logs)
            self._update_best(epoch, logs, validated=validated)
            self.history.append(logs)
            if settings.early_stopping and self.bad_epochs >= settings.early_stopping.patience:
                self.stopped_early = True
            save_state(self.state_dir / "latest.pt", self._state(epoch))
            log.info("epoch %d/%d in %.1fs: %s", epoch + 1, settings.epochs, time.perf_counter() - began, ", ".join(f"{k}={v:.4g}" for k, v in logs.items() if k != "epoch"))
            if self.stopped_early:
                log.info("early stopping: no %s improvement for %d validations", settings.monitor, self.bad_epochs)
        return self.finish()

    def finish(self) -> dict[str, Any]:
        """Write model.pt (best weights), history.csv, curves.png and summary.json."""
        network = self.evaluated_network
        best_path = self.state_dir / "best.pt"
        if self.best_epoch >= 0 and best_path.is_file():
            network.load_state_dict(torch.load(best_path, map_location=self.device, weights_only=True)["network"])
        meta = self.model_meta() | {"best_epoch": self.best_epoch + 1, "best_metric": self.best_metric if self.best_epoch >= 0 else None}
        save_model(self.out_dir / "model.pt", network, self.arch_name, meta)
        history = pd.DataFrame(self.history)
        write_csv(history, self.out_dir / "history.csv", float_format="%.6g")
        from kdseg.report.figures import training_curves

        training_curves(history, self.out_dir / "curves.png", title=f"{self.settings.get('experiment')} / {self.settings.get('model')}", monitor=self.train_settings.monitor)
        summary = {
            "experiment": self.settings.get("experiment"),
            "model": self.settings.get("model"),
            "arch": self.arch_name,
            "trainer": type(self).__name__,
            "parameters": int(sum(p.numel() for p in self.network.parameters())),
            "epochs_run": len(self.history),
            "stopped_early": self.stopped_early,
            "stopped_at_time_limit": self.stopped_at_time_limit,
            "monitor": self.train_settings.monitor,
            "best_epoch": self.best_epoch + 1 if self.best_epoch >= 0 else None,
            "best_metric": self.best_metric if self.best_epoch >= 0 else None,
            "training_samples": len(self.train_set),
        }
        write_json(self.out_dir / "summary.json", summary)
        return summary

    @property
    def evaluated_network(self) -> nn.Module:
        """What validation scores and ``model.pt`` holds: the weight average where ``train.ema_decay`` keeps one."""
        return self.average.network if self.average is not None else self.network

    @property
    def arch_name(self) -> str:
        """Architecture actually trained (variants that choose one set ``self.chosen_arch``)."""
        return getattr(self, "chosen_arch", self.settings["arch"])


def _path_identity(path: Path) -> Any:
    """Name and size of a file, or of every file in a folder (cheap; contents are the stages' job)."""
    if path.is_dir():
        return sorted((str(p.relative_to(path)), p.stat().st_size) for p in path.rglob("*") if p.is_file())
    return [str(path), path.stat().st_size if path.exists() else None]

