"""Model distillation through pseudo-labels of held-out cases (paper 004)."""

from kdseg.engine.variants.pseudolabel.trainer import PseudoLabelDistillationTrainer

__all__ = ["PseudoLabelDistillationTrainer"]
