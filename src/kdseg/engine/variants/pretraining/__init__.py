"""Pre-training on another data set (paper 002's brain-MRI U-Net)."""

from kdseg.engine.variants.pretraining.trainer import SliceTrainer

__all__ = ["SliceTrainer"]
