"""Typed training settings, read from a model's resolved config block (``kdseg.config.model_settings``).

The config schema already checks names and types; these classes give the trainer attributes instead
of dict look-ups and fill the defaults in one place.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from kdseg.utils.errors import ConfigError
from kdseg.utils.options import look_up_option

__all__ = ["OPTIMIZERS", "SCHEDULERS", "EarlyStoppingSettings", "OptimizerSettings", "SchedulerSettings", "TrainSettings"]

#: optimiser names ``train.optimizer.name`` accepts (built by ``Trainer.configure_optimizers``)
OPTIMIZERS = ("adam", "nadam", "adamw", "sgd")
#: learning-rate schedules ``train.scheduler.name`` accepts (built by ``Trainer._build_scheduler``)
SCHEDULERS = ("none", "plateau", "step", "exponential", "poly")


def _from_mapping(cls: type, data: dict[str, Any] | None, where: str) -> Any:
    data = dict(data or {})
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(names))}.")
    return cls(**data)


@dataclass(frozen=True)
class OptimizerSettings:
    """Optimiser: ``name`` in adam, nadam, adamw, sgd; ``lr``; ``weight_decay`` (the L2 term of paper 002)
    defaults to 0; ``betas`` default (0.9, 0.999); ``momentum`` (sgd) defaults to 0.9; ``nesterov``
    (sgd: Nesterov momentum, which needs momentum > 0) defaults to False."""

    name: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    momentum: float = 0.9
    nesterov: bool = False

    def __post_init__(self) -> None:
        look_up_option(self.name, OPTIMIZERS, "optimizer")
        if self.nesterov and (self.name != "sgd" or self.momentum <= 0):
            raise ConfigError(f"optimizer.nesterov needs name sgd with momentum > 0, got name {self.name!r} and momentum {self.momentum}.")


@dataclass(frozen=True)
class SchedulerSettings:
    """Learning-rate schedule: ``none``; ``plateau`` (factor, patience, min_lr on the monitored metric);
    ``step`` (step_size epochs, gamma); ``exponential`` (``lr · gamma^(epoch / period)``: the rate falls
    by ``gamma`` every ``period`` epochs, smoothly; ``period`` defaults to 1, None = the whole run, so the
    last epoch trains at about ``gamma · lr``); ``poly`` (power over the epochs)."""

    name: str = "none"
    factor: float = 0.1
    patience: int = 10
    min_lr: float = 0.0
    step_size: int = 30
    gamma: float = 0.1
    power: float = 0.9
    period: int | None = 1

    def __post_init__(self) -> None:
        look_up_option(self.name, SCHEDULERS, "scheduler")


@dataclass(frozen=True)
class EarlyStoppingSettings:
    """Stop after ``patience`` validations without an improvement larger than ``min_delta`` (default 0)."""

    patience: int = 20
    min_delta: float = 0.0


@dataclass(frozen=True)
class TrainSettings:
    """Everything the training loop needs besides the network, loss and data.

    Args:
        epochs: training epochs. Defaults to 1.
        batch_size: samples per step. Defaults to 8.
        optimizer: see :class:`OptimizerSettings`.
        scheduler: see :class:`SchedulerSettings`.
        early_stopping: see :class:`EarlyStoppingSettings`; None disables it. Defaults to None.
        monitor: validation metric that selects the best checkpoint (higher is better). Defaults to "val_dice".
        amp: autocast precision: none, bf16, fp16 (CUDA only) or auto (bf16 where the device supports it).
            Defaults to "none".
        channels_last: channels-last memory format for the network and inputs. Defaults to False.
        num_workers: data-loading worker processes. Defaults to 2.
        input_range: intensity normalisation: unit ([0, 1]), symmetric ([-1, 1], paper 002) or zscore
            (per channel over non-zero voxels, paper 004). Defaults to "unit".
        val_interval: epochs between validations. Defaults to 1.
        max_minutes: stop after the first epoch that ends this many minutes after training started (or
            resumed); None trains all ``epochs``. With a limit, how many epochs run depends on the machine's
            speed. Defaults to None.
        ema_decay: keep an exponential moving average of the weights with this decay per step, in (0, 1)
            (:class:`kdseg.engine.averaging.WeightAverage`); validation scores it and ``model.pt`` holds it.
            None trains without one. Defaults to None.
        targets: what a 3D network predicts (:data:`kdseg.engine.patches.TARGETS`): ``regions``, one
            sigmoid channel per nested BraTS region (paper 004), or ``labels``, softmax over background
            and the data set's labels (paper 003). 2D networks predict one sigmoid channel. Defaults to "regions".
    """

    epochs: int = 1
    batch_size: int = 8
    optimizer: OptimizerSettings = field(default_factory=OptimizerSettings)
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    early_stopping: EarlyStoppingSettings | None = None
    monitor: str = "val_dice"
    amp: str = "none"
    channels_last: bool = False
    num_workers: int = 2
    input_range: str = "unit"
    val_interval: int = 1
    max_minutes: float | None = None
    ema_decay: float | None = None
    targets: str = "regions"

    def __post_init__(self) -> None:
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise ConfigError(f"train.ema_decay must lie in (0, 1) (e.g. 0.999, an average over about 1,000 steps), got {self.ema_decay}; use null for none.")

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "train") -> TrainSettings:
        """Build from a config ``train`` block (nested blocks become their settings classes)."""
        data = dict(data)
        nested: dict[str, Any] = {}
        if "optimizer" in data:
            opt = dict(data.pop("optimizer"))
            if "betas" in opt:
                opt["betas"] = tuple(opt["betas"])
            nested["optimizer"] = _from_mapping(OptimizerSettings, opt, f"{where}.optimizer")
        if "scheduler" in data:
            nested["scheduler"] = _from_mapping(SchedulerSettings, data.pop("scheduler"), f"{where}.scheduler")
        if "early_stopping" in data:
            stop = data.pop("early_stopping")
            nested["early_stopping"] = None if stop is None else _from_mapping(EarlyStoppingSettings, stop, f"{where}.early_stopping")
        settings = _from_mapping(cls, data, where)
        return cls(**{**asdict_shallow(settings), **nested})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def asdict_shallow(obj: Any) -> dict[str, Any]:
    """Field values of a dataclass without recursing into nested dataclasses."""
    return {f.name: getattr(obj, f.name) for f in fields(obj)}
