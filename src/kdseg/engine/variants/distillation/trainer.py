"""Output distillation: the student learns the labels and the frozen teachers' masks.

Paper 000 (Kang & Gwak, KD-ResUNet++, MediaEval 2020): ``L = 0.1 · (1 − Dice(y_s, y_t)) + (1 − Dice(y_s, y))``,
the teacher in eval mode seeing the same augmented batch as the student.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

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
        return super().build_loss()

    def teacher_logits(self, image: torch.Tensor) -> torch.Tensor:
        """Logits of the averaged teacher probabilities (one teacher: its own logits)."""
        with torch.no_grad():
            if len(self.teachers) == 1:
                return self.teachers[0](image)
            prob = torch.stack([torch.sigmoid(t(image).float()) for t in self.teachers]).mean(0)
            return torch.logit(prob, eps=1e-6)

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
