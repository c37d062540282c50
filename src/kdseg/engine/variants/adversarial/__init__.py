"""Adversarial training: pix2pix-style teachers and hierarchical adversarial distillation (paper 001)."""

from kdseg.engine.variants.adversarial.trainer import HierarchicalAdversarialDistillationTrainer, Pix2PixTrainer

__all__ = ["HierarchicalAdversarialDistillationTrainer", "Pix2PixTrainer"]
