"""Losses on logits for 2D/3D sigmoid (single- and multi-channel) and softmax segmentation, and for distillation.

Supervised losses are created by name from a config's ``loss:`` block (:func:`create_loss`, names in
:data:`LOSSES`); distillation losses are built by the distillation trainers.

Example:
    >>> loss = create_loss("dice", squared_denominator=False, smooth=1.0)
"""

from __future__ import annotations

from kdseg.losses.distill import (
    DiceDistillationLoss,
    DualSelfDistillationLoss,
    LSGANLoss,
    SelfDistillationKLLoss,
    discriminator_accuracy,
)
from kdseg.losses.segmentation import (
    LOSSES,
    BCEDiceLoss,
    DiceCELoss,
    DiceTverskyLoss,
    LossReduction,
    SoftDiceLoss,
    SoftmaxDiceCELoss,
    TverskyLoss,
    create_loss,
)

__all__ = [
    "LOSSES",
    "BCEDiceLoss",
    "DiceCELoss",
    "DiceDistillationLoss",
    "DiceTverskyLoss",
    "DualSelfDistillationLoss",
    "LSGANLoss",
    "LossReduction",
    "SelfDistillationKLLoss",
    "SoftDiceLoss",
    "SoftmaxDiceCELoss",
    "TverskyLoss",
    "create_loss",
    "discriminator_accuracy",
]
