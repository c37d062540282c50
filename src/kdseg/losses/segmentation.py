"""Supervised segmentation losses on logits: soft Dice, BCE + Dice, Tversky, Dice + Tversky, Dice + CE.

Every loss takes **logits** of shape (B, C, H, W[, D]) and a target of the same shape with values in
[0, 1] (hard masks or soft labels). Each channel is an independent sigmoid output: one channel for polyps,
three for the nested BraTS regions (WT, TC, ET). Probabilities come from ``torch.sigmoid`` and the
cross-entropy from ``binary_cross_entropy_with_logits``, so logits of any magnitude give finite values
and gradients.

Each loss first computes one value per image and channel, shape (B, C) — or one per channel, shape (C,),
with ``batch=True``, where the sums run over the whole batch — then applies ``reduction``:
``"mean"`` (average of those values), ``"sum"`` or ``"none"`` (return them).

Empty masks: the ``smooth`` term is added to numerator and denominator, so an image whose target and
prediction are both empty scores Dice = smooth / smooth = 1 and costs 0 (in the limit of a confident
all-background prediction); an empty target with a non-empty prediction scores close to 0 and costs
close to 1. ``smooth`` must be positive, which also keeps the ratios away from 0/0.

Losses are created by name from a config's ``loss:`` block through :func:`create_loss`.

Example:
    >>> loss = create_loss("bce_dice", bce_weight=1.0, dice_weight=1.0)
    >>> value = loss(torch.zeros(2, 3, 8, 8, 8), torch.ones(2, 3, 8, 8, 8))
"""

from __future__ import annotations

import inspect
from enum import Enum
from typing import Any

import torch
import torch.nn.functional as F
from torch.nn.modules.loss import _Loss

from kdseg.utils.errors import ConfigError
from kdseg.utils.options import look_up_option

__all__ = [
    "LOSSES",
    "BCEDiceLoss",
    "DiceCELoss",
    "DiceTverskyLoss",
    "LossReduction",
    "SoftDiceLoss",
    "SoftmaxDiceCELoss",
    "TverskyLoss",
    "create_loss",
]


class LossReduction(str, Enum):
    """How a loss turns its per-item values into its output."""

    MEAN = "mean"
    SUM = "sum"
    NONE = "none"


_REDUCTIONS = {r.value: r for r in LossReduction}


def _check_reduction(reduction: LossReduction | str) -> str:
    """The reduction's string value; unknown names raise ConfigError with the closest one."""
    name = reduction.value if isinstance(reduction, LossReduction) else reduction
    return look_up_option(name, _REDUCTIONS, what="loss reduction").value


def _reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == LossReduction.MEAN.value:
        return values.mean()
    if reduction == LossReduction.SUM.value:
        return values.sum()
    return values


def _check_logits_and_target(logits: torch.Tensor, target: torch.Tensor, target_name: str = "target") -> None:
    if logits.ndim < 3:
        raise ValueError(f"expected logits of shape (B, C, H, W[, D]), got shape {tuple(logits.shape)}")
    if target.shape != logits.shape:
        raise ValueError(
            f"{target_name} shape {tuple(target.shape)} differs from logits shape {tuple(logits.shape)}; "
            "they need one channel per output channel (e.g. the 3 regions WT, TC, ET) at the same size"
        )


def _check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}")


def _check_non_negative(name: str, value: float) -> None:
    if not value >= 0:
        raise ValueError(f"{name} must be >= 0, got {value}")


def _check_weights(**weights: float) -> None:
    """Loss weights must be >= 0 and not all zero."""
    for name, value in weights.items():
        _check_non_negative(name, value)
    if not any(weights.values()):
        raise ValueError(f"at least one of {', '.join(weights)} must be > 0, got all zero")


def _sum_dims(x: torch.Tensor, batch: bool) -> list[int]:
    """Dimensions summed into one item: the spatial ones, plus the batch one when ``batch``."""
    return ([0] if batch else []) + list(range(2, x.ndim))


def _full_precision(x: torch.Tensor) -> torch.Tensor:
    """float16/bfloat16 → float32: under autocast a sum over a whole image in bfloat16 keeps ~3 digits."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _soft_dice(
    probs: torch.Tensor, target: torch.Tensor, *, squared_denominator: bool, smooth: float, batch: bool
) -> torch.Tensor:
    """Soft Dice coefficient per image and channel, (B, C), or per channel, (C,), when ``batch``.

    ``(2 Σ p·g + smooth) / (Σ p + Σ g + smooth)``; with ``squared_denominator`` the denominator sums
    ``p²`` and ``g²`` instead (paper 002's and 004's form).
    """
    dims = _sum_dims(probs, batch)
    intersection = (probs * target).sum(dims)
    if squared_denominator:
        denominator = (probs * probs).sum(dims) + (target * target).sum(dims)
    else:
        denominator = probs.sum(dims) + target.sum(dims)
    return (2.0 * intersection + smooth) / (denominator + smooth)


def _soft_tversky(
    probs: torch.Tensor, target: torch.Tensor, *, alpha: float, beta: float, smooth: float, batch: bool
) -> torch.Tensor:
    """Soft Tversky index ``(TP + smooth) / (TP + α·FP + β·FN + smooth)`` per item, as :func:`_soft_dice`."""
    dims = _sum_dims(probs, batch)
    true_pos = (probs * target).sum(dims)
    false_pos = (probs * (1.0 - target)).sum(dims)
    false_neg = ((1.0 - probs) * target).sum(dims)
    return (true_pos + smooth) / (true_pos + alpha * false_pos + beta * false_neg + smooth)


def _bce_with_logits(logits: torch.Tensor, target: torch.Tensor, *, batch: bool) -> torch.Tensor:
    """Binary cross-entropy averaged over voxels, per image and channel (B, C) or per channel (C,)."""
    elementwise = F.binary_cross_entropy_with_logits(_full_precision(logits), _full_precision(target), reduction="none")
    return elementwise.mean(_sum_dims(logits, batch))


class SoftDiceLoss(_Loss):
    """Soft Dice loss ``1 − Dice(σ(logits), target)`` for sigmoid outputs (one or many channels).

    Paper 000 (Kang & Gwak, KD-ResUNet++, MediaEval 2020) trains with ``1 − Dice`` in the
    ``Σp + Σg`` form; paper 002 (Khadka, MediaEval 2020) uses ``1 − 2Σyŷ / (Σy² + Σŷ² + ε)`` and
    paper 004 (Nalwade & Kisa) the same squared form averaged over the K regions.

    Layout: ``logits`` and ``target`` are (B, C, H, W[, D]); target values in [0, 1].

    Empty masks: target and prediction both empty → Dice = smooth / smooth = 1 → loss 0 (approached as
    the logits go to −∞); empty target, non-empty prediction → loss close to 1.

    Args:
        squared_denominator: sum ``p²`` and ``g²`` in the denominator (papers 002 and 004) instead of ``p``
            and ``g`` (paper 000). Defaults to False.
        smooth: added to numerator and denominator; must be > 0. Defaults to 1.0.
        batch: compute one Dice per channel over the whole batch instead of one per image.
            Defaults to False.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (returns (B, C), or (C,) with ``batch``).
            Defaults to ``"mean"``.

    Example:
        >>> loss = SoftDiceLoss(squared_denominator=True, smooth=1e-5)
        >>> loss(torch.randn(4, 1, 64, 64), torch.randint(0, 2, (4, 1, 64, 64)).float())
    """

    def __init__(
        self,
        squared_denominator: bool = False,
        smooth: float = 1.0,
        batch: bool = False,
        reduction: LossReduction | str = LossReduction.MEAN,
    ) -> None:
        _check_positive("smooth", smooth)
        super().__init__(reduction=_check_reduction(reduction))
        self.squared_denominator = squared_denominator
        self.smooth = smooth
        self.batch = batch

    def per_item(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Unreduced loss, (B, C) or (C,) with ``batch``."""
        _check_logits_and_target(logits, target)
        dice = _soft_dice(
            torch.sigmoid(_full_precision(logits)),
            target,
            squared_denominator=self.squared_denominator,
            smooth=self.smooth,
            batch=self.batch,
        )
        return 1.0 - dice

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return _reduce(self.per_item(logits, target), self.reduction)


class TverskyLoss(_Loss):
    """Tversky loss ``1 − TI``, ``TI = (TP + s) / (TP + α·FP + β·FN + s)`` on sigmoid outputs.

    Paper 001 (Ragu B et al., XP-Net, EndoCV2022) adds it to the Dice loss (its ref. [16]); the Tversky
    index (Salehi et al., 2017, https://arxiv.org/abs/1706.05721) weighs false positives by α and false
    negatives by β, so β > α favours recall. α = β = 0.5 gives the Dice loss (with half its smooth).

    Layout: ``logits`` and ``target`` are (B, C, H, W[, D]); target values in [0, 1].

    Empty masks: as :class:`SoftDiceLoss`, both empty → TI = 1 → loss 0.

    Args:
        alpha: weight of false positives, >= 0. Defaults to 0.3.
        beta: weight of false negatives, >= 0 (α + β > 0). Defaults to 0.7.
        smooth: added to numerator and denominator; must be > 0. Defaults to 1.0.
        batch: one index per channel over the whole batch instead of one per image. Defaults to False.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (returns (B, C), or (C,) with ``batch``).
            Defaults to ``"mean"``.

    Example:
        >>> loss = TverskyLoss(alpha=0.3, beta=0.7)
        >>> loss(torch.randn(2, 1, 32, 32), torch.ones(2, 1, 32, 32))
    """

    def __init__(
        self,
        alpha: float = 0.3,
        beta: float = 0.7,
        smooth: float = 1.0,
        batch: bool = False,
        reduction: LossReduction | str = LossReduction.MEAN,
    ) -> None:
        _check_weights(alpha=alpha, beta=beta)
        _check_positive("smooth", smooth)
        super().__init__(reduction=_check_reduction(reduction))
        self.alpha = alpha
        self.beta = beta
        self.smooth = smooth
        self.batch = batch

    def per_item(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Unreduced loss, (B, C) or (C,) with ``batch``."""
        _check_logits_and_target(logits, target)
        tversky = _soft_tversky(
            torch.sigmoid(_full_precision(logits)), target, alpha=self.alpha, beta=self.beta, smooth=self.smooth, batch=self.batch
        )
        return 1.0 - tversky

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return _reduce(self.per_item(logits, target), self.reduction)


class DiceTverskyLoss(_Loss):
    """``dice_weight · (1 − Dice) + tversky_weight · (1 − TI)`` on sigmoid outputs.

    Paper 001 (Ragu B et al., XP-Net, EndoCV2022), eq. 1: ``DV = Dice loss + Tversky loss``, the
    supervised part of the student and teacher losses.

    Layout: ``logits`` and ``target`` are (B, C, H, W[, D]); target values in [0, 1].

    Args:
        dice_weight: weight of the Dice term, >= 0. Defaults to 1.0.
        tversky_weight: weight of the Tversky term, >= 0. Defaults to 1.0.
        alpha: Tversky weight of false positives. Defaults to 0.3.
        beta: Tversky weight of false negatives. Defaults to 0.7.
        smooth: added to numerators and denominators; must be > 0. Defaults to 1.0.
        batch: one value per channel over the whole batch instead of one per image. Defaults to False.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (returns (B, C), or (C,) with ``batch``).
            Defaults to ``"mean"``.

    Example:
        >>> loss = DiceTverskyLoss()
        >>> loss(torch.randn(2, 1, 32, 32), torch.ones(2, 1, 32, 32))
    """

    def __init__(
        self,
        dice_weight: float = 1.0,
        tversky_weight: float = 1.0,
        alpha: float = 0.3,
        beta: float = 0.7,
        smooth: float = 1.0,
        batch: bool = False,
        reduction: LossReduction | str = LossReduction.MEAN,
    ) -> None:
        _check_weights(dice_weight=dice_weight, tversky_weight=tversky_weight)
        super().__init__(reduction=_check_reduction(reduction))
        self.dice_weight = dice_weight
        self.tversky_weight = tversky_weight
        self.dice = SoftDiceLoss(smooth=smooth, batch=batch, reduction="none")
        self.tversky = TverskyLoss(alpha=alpha, beta=beta, smooth=smooth, batch=batch, reduction="none")

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        values = self.dice_weight * self.dice(logits, target) + self.tversky_weight * self.tversky(logits, target)
        return _reduce(values, self.reduction)


class BCEDiceLoss(_Loss):
    """``bce_weight · BCE + dice_weight · (1 − Dice)`` on sigmoid outputs.

    Paper 002 (Khadka, MediaEval 2020): ``L = L_BCE + L_Dice + λ‖θ‖²`` with the squared-denominator Dice;
    the L2 term is the optimiser's weight decay, not part of this loss. Paper 004 (Nalwade & Kisa; the
    Lachinov et al. workflow): unweighted soft Dice (squared denominator, mean over the K = 3 regions) +
    BCE over the region channels.

    BCE is averaged over voxels per image and channel, so with ``reduction="mean"`` it equals the BCE
    averaged over every element (paper 004 writes the sum over regions; set ``bce_weight`` to C for it).

    Layout: ``logits`` and ``target`` are (B, C, H, W[, D]); target values in [0, 1].

    Args:
        bce_weight: weight of the BCE term, >= 0. Defaults to 1.0.
        dice_weight: weight of the Dice term, >= 0. Defaults to 1.0.
        squared_denominator: Dice denominator ``Σp² + Σg²`` (papers 002, 004) instead of ``Σp + Σg``.
            Defaults to True.
        smooth: added to the Dice numerator and denominator; must be > 0. Defaults to 1.0.
        batch: one value per channel over the whole batch instead of one per image. Defaults to False.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (returns (B, C), or (C,) with ``batch``).
            Defaults to ``"mean"``.

    Example:
        >>> loss = BCEDiceLoss()
        >>> loss(torch.randn(2, 3, 16, 16, 16), torch.randint(0, 2, (2, 3, 16, 16, 16)).float())
    """

    def __init__(
        self,
        bce_weight: float = 1.0,
        dice_weight: float = 1.0,
        squared_denominator: bool = True,
        smooth: float = 1.0,
        batch: bool = False,
        reduction: LossReduction | str = LossReduction.MEAN,
    ) -> None:
        _check_weights(bce_weight=bce_weight, dice_weight=dice_weight)
        super().__init__(reduction=_check_reduction(reduction))
        self.bce_weight = bce_weight
        self.dice_weight = dice_weight
        self.batch = batch
        self.dice = SoftDiceLoss(squared_denominator=squared_denominator, smooth=smooth, batch=batch, reduction="none")

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        dice_term = self.dice(logits, target)  # checks the shapes first
        bce_term = _bce_with_logits(logits, target, batch=self.batch)
        return _reduce(self.bce_weight * bce_term + self.dice_weight * dice_term, self.reduction)


class DiceCELoss(BCEDiceLoss):
    """Dice + cross-entropy for multi-label sigmoid outputs, with MONAI ``DiceCELoss`` defaults.

    Paper 003 (Banerjee et al., Dual Self-Distillation, ISBI 2024) supervises the main output and every
    decoder output with ``L_DCE = L_dice + L_CE`` as implemented by MONAI's ``DiceCELoss``. Its authors
    train a softmax over the classes (:class:`SoftmaxDiceCELoss`); this is the sigmoid variant for the
    three nested BraTS regions (``train.targets: regions``), where CE is the binary cross-entropy per
    channel: :class:`BCEDiceLoss` with MONAI's Dice form, ``Σp + Σg`` denominator and smooth = 1e-5.

    Layout: ``logits`` and ``target`` are (B, C, H, W[, D]); target values in [0, 1].

    Args:
        bce_weight: weight of the cross-entropy term (MONAI's ``lambda_ce``), >= 0. Defaults to 1.0.
        dice_weight: weight of the Dice term (MONAI's ``lambda_dice``), >= 0. Defaults to 1.0.
        squared_denominator: Dice denominator ``Σp² + Σg²`` instead of ``Σp + Σg``. Defaults to False.
        smooth: added to the Dice numerator and denominator; must be > 0. Defaults to 1e-5.
        batch: one value per channel over the whole batch instead of one per image. Defaults to False.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (returns (B, C), or (C,) with ``batch``).
            Defaults to ``"mean"``.

    Example:
        >>> loss = DiceCELoss()
        >>> loss(torch.randn(1, 3, 16, 16, 16), torch.randint(0, 2, (1, 3, 16, 16, 16)).float())
    """

    def __init__(
        self,
        bce_weight: float = 1.0,
        dice_weight: float = 1.0,
        squared_denominator: bool = False,
        smooth: float = 1e-5,
        batch: bool = False,
        reduction: LossReduction | str = LossReduction.MEAN,
    ) -> None:
        super().__init__(
            bce_weight=bce_weight,
            dice_weight=dice_weight,
            squared_denominator=squared_denominator,
            smooth=smooth,
            batch=batch,
            reduction=reduction,
        )


class SoftmaxDiceCELoss(_Loss):
    """Dice + cross-entropy over softmax classes, background included (MONAI ``DiceCELoss(softmax=True,
    to_onehot_y=True)``).

    Paper 003 (Banerjee et al., Dual Self-Distillation, ISBI 2024): "the training was performed including
    the background and evaluated only on the foreground classes", with ``L_DCE = L_dice + L_CE`` (eq. 1)
    from MONAI; the authors' code (soumbane/DualSelfDistillation) trains a softmax over background and
    the three tumour labels. Per image: ``dice_weight · mean_k (1 − Dice_k) + ce_weight · CE`` with
    ``Dice_k = (2 Σ p_k·g_k + smooth) / (Σ p_k + Σ g_k + smooth)`` (MONAI's smooth_nr = smooth_dr = 1e-5)
    and ``CE = −mean_voxels Σ_k g_k log p_k``, ``p = softmax(logits)`` over the channel axis.

    Layout: ``logits`` (B, K, H, W[, D]) and a one-hot (or soft, summing to 1 over K) ``target`` of the
    same shape (:func:`kdseg.engine.patches.training_targets` with ``targets="labels"``).

    Args:
        ce_weight: weight of the cross-entropy term (MONAI's ``lambda_ce``), >= 0. Defaults to 1.0.
        dice_weight: weight of the Dice term (MONAI's ``lambda_dice``), >= 0. Defaults to 1.0.
        smooth: added to each class's Dice numerator and denominator; must be > 0. Defaults to 1e-5.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (returns (B,)). Defaults to ``"mean"``.

    Example:
        >>> loss = SoftmaxDiceCELoss()
        >>> loss(torch.randn(1, 4, 16, 16, 16), F.one_hot(torch.randint(0, 4, (1, 16, 16, 16)), 4).movedim(-1, 1).float())
    """

    #: the network's outputs are read as a softmax over the channels
    activation = "softmax"

    def __init__(
        self,
        ce_weight: float = 1.0,
        dice_weight: float = 1.0,
        smooth: float = 1e-5,
        reduction: LossReduction | str = LossReduction.MEAN,
    ) -> None:
        _check_weights(ce_weight=ce_weight, dice_weight=dice_weight)
        _check_positive("smooth", smooth)
        super().__init__(reduction=_check_reduction(reduction))
        self.ce_weight, self.dice_weight, self.smooth = ce_weight, dice_weight, smooth

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check_logits_and_target(logits, target)
        logits, target = _full_precision(logits), _full_precision(target)
        log_probs = F.log_softmax(logits, dim=1)
        dice = _soft_dice(log_probs.exp(), target, squared_denominator=False, smooth=self.smooth, batch=False)
        cross_entropy = -(target * log_probs).sum(dim=1).flatten(1).mean(dim=1)
        return _reduce(self.dice_weight * (1.0 - dice).mean(dim=1) + self.ce_weight * cross_entropy, self.reduction)


# config name -> class; the names a `loss: {name: ...}` block may use
LOSSES: dict[str, type[_Loss]] = {
    "dice": SoftDiceLoss,
    "bce_dice": BCEDiceLoss,
    "tversky": TverskyLoss,
    "dice_tversky": DiceTverskyLoss,
    "dice_ce": DiceCELoss,
    "softmax_dice_ce": SoftmaxDiceCELoss,
}


def create_loss(name: str, **kwargs: Any) -> _Loss:
    """Build the loss registered as ``name`` from the other keys of a config's ``loss:`` block.

    Raises:
        ConfigError: for an unknown name (suggesting the closest), a keyword the loss does not take
            (naming the allowed ones) or a value it rejects.

    Example:
        >>> create_loss("dice_tversky", alpha=0.3, beta=0.7)
    """
    loss_class = look_up_option(name, LOSSES, what="loss name")
    allowed = [p for p in inspect.signature(loss_class.__init__).parameters if p != "self"]
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ConfigError(
            f"Loss {name!r} does not take {', '.join(map(repr, unknown))}; "
            f"its keys are: {', '.join(map(repr, allowed))}. Fix the `loss:` block of the model's config."
        )
    try:
        return loss_class(**kwargs)
    except ValueError as err:
        raise ConfigError(f"Invalid value in the `loss:` block for {name!r}: {err}.") from err
