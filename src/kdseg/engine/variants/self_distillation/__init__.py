"""Dual self-distillation with deep supervision (paper 003)."""

from kdseg.engine.variants.self_distillation.trainer import DualSelfDistillationTrainer

__all__ = ["DualSelfDistillationTrainer"]
