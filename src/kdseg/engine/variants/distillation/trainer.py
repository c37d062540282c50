"""Output distillation: the student learns the labels and the frozen teachers' masks.

Paper 000 (Kang & Gwak, KD-ResUNet++, MediaEval 2020): ``L = 0.1 · (1 − Dice(y_s, y_t)) + (1 − Dice(y_s, y))``,
the teacher in eval mode seeing the same augmented batch as the student.

On a fixed offline set (paper 000's rot90 + flip copies) every sample is the same image each epoch, so the
frozen teachers' logits are computed in the first epoch and reused after it: a distillation epoch then
costs about what a training epoch does. Sets drawn on the fly (``online``) and 3D patches run the teachers
on every batch.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

from kdseg.engine.data import AugmentedSet
from kdseg.engine.trainer import Trainer
from kdseg.losses import DiceDistillationLoss
from kdseg.utils.errors import ConfigError

__all__ = ["DistillationTrainer", "SelfDistillationTrainer"]

log = logging.getLogger(__name__)

_OPTIONS = ("weight", "target")


class DistillationTrainer(Trainer):
    """Student trained on ``task_loss(y_s, y) + weight · (1 − Dice(y_s, y_t))``.

    ``distill`` options: ``weight`` (default 0.1, paper 000) and ``target`` — ``soft`` (the teachers'
    mean probability) or ``hard`` (its 0.5 threshold); default ``soft``. With several teachers their
    probabilities are averaged.
    """

    def build_loss(self) -> nn.Module:
        options = dict(self.settings.get("distill") or {})
        unknown = sorted(set(options) - set(_OPTIONS))
        if unknown:
            raise ConfigError(f"{self.where}.distill: unknown option(s) {', '.join(unknown)} for {type(self).__name__}; allowed: {', '.join(_OPTIONS)}.")
        self.distill_weight = float(options.get("weight", 0.1))
        self.distill_loss = DiceDistillationLoss(target=options.get("target", "soft"))
        self.teachers = self.load_teachers()
        fixed_images = isinstance(self.train_set, AugmentedSet) and not self.train_set.online
        # sample id -> the teachers' logits for it, kept on the CPU; None where images change every epoch
        self.teacher_cache: dict[str, torch.Tensor] | None = {} if fixed_images else None
        self._batch_ids: list[str] = []
        return super().build_loss()

    def train_step(self, batch: dict[str, Any]) -> dict[str, float]:
        self._batch_ids = list(batch["id"])
        return super().train_step(batch)

    def _run_teachers(self, image: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            if len(self.teachers) == 1:
                return self.teachers[0](image)
            prob = torch.stack([torch.sigmoid(t(image).float()) for t in self.teachers]).mean(0)
            return torch.logit(prob, eps=1e-6)

    def teacher_logits(self, image: torch.Tensor) -> torch.Tensor:
        """Logits of the averaged teacher probabilities (one teacher: its own logits) for the current batch,
        from the cache where its samples were seen before."""
        cache = self.teacher_cache
        if cache is None:
            return self._run_teachers(image)
        ids = self._batch_ids
        missing = [i for i, sample_id in enumerate(ids) if sample_id not in cache]
        if missing:
            fresh = self._run_teachers(image[missing])
            cache.update((ids[i], row.to("cpu", copy=True)) for i, row in zip(missing, fresh))
        return torch.stack([cache[sample_id] for sample_id in ids]).to(image.device)

    def compute_loss(self, image: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        student = self.network(image)
        task = self.loss(student, target)
        distill = self.distill_loss(student, self.teacher_logits(image))
        loss = task + self.distill_weight * distill
        return loss, {"loss": float(loss.detach()), "task": float(task.detach()), "distill": float(distill.detach())}


class SelfDistillationTrainer(DistillationTrainer):
    """Self-distillation: one teacher of the student's own architecture (paper 000's KD-ResUNet++)."""

    def load_teachers(self) -> list[nn.Module]:
        teachers = super().load_teachers()
        if len(teachers) != 1 or type(teachers[0]).__name__ != type(self.network).__name__:
            raise ConfigError(f"{self.where}: self-distillation takes one teacher of the student's architecture ({type(self.network).__name__}); got {[type(t).__name__ for t in teachers]}. Use DistillationTrainer otherwise.")
        return teachers
