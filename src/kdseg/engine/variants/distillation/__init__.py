"""Teacher-student distillation by matching the teachers' outputs (paper 000)."""

from kdseg.engine.variants.distillation.trainer import DistillationTrainer, SelfDistillationTrainer

__all__ = ["DistillationTrainer", "SelfDistillationTrainer"]
