"""Distillation losses on logits: Dice to a teacher, pixel-wise KL self-distillation, LSGAN terms.

All teacher tensors are detached inside the losses, so no gradient ever reaches a teacher network.

Example:
    >>> distill = DiceDistillationLoss(target="soft")
    >>> loss = 0.1 * distill(student_logits, teacher_logits) + SoftDiceLoss()(student_logits, mask)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.nn.modules.loss import _Loss

from kdseg.losses.segmentation import (
    LossReduction,
    SoftDiceLoss,
    _check_logits_and_target,
    _check_non_negative,
    _check_positive,
    _check_reduction,
    _full_precision,
    _reduce,
)
from kdseg.utils.options import look_up_option

__all__ = [
    "DiceDistillationLoss",
    "DualSelfDistillationLoss",
    "LSGANLoss",
    "SelfDistillationKLLoss",
    "discriminator_accuracy",
]

_TEACHER_TARGETS = ("soft", "hard")
_ACTIVATIONS = ("softmax", "sigmoid")


class DiceDistillationLoss(_Loss):
    """``weight · (1 − Dice(σ(z_s), y_t))``: the student matches the teacher's output with a Dice loss.

    Paper 000 (Kang & Gwak, KD-ResUNet++, MediaEval 2020), eq. 1: ``L_dist = 1 − Dice(y_s, y_t)``, trained
    as ``L_total = 0.1 · L_dist + (1 − Dice(y_s, y))``. The teacher target ``y_t`` is its probability
    map σ(z_t) (``"soft"``) or its thresholded mask σ(z_t) > 0.5 (``"hard"``, computed as z_t > 0 so
    that rounding at 0.5 cannot flip a voxel). Dice as in :class:`SoftDiceLoss`.

    Layout: ``student_logits`` and ``teacher_logits`` are (B, C, H, W[, D]); the teacher is detached.

    Args:
        target: ``"soft"`` or ``"hard"`` teacher target. Defaults to ``"soft"``.
        weight: factor on the loss, >= 0 (paper 000: 0.1). Defaults to 1.0.
        squared_denominator: Dice denominator ``Σp² + Σg²`` instead of ``Σp + Σg``. Defaults to False.
        smooth: added to the Dice numerator and denominator; must be > 0. Defaults to 1.0.
        batch: one Dice per channel over the whole batch instead of one per image. Defaults to False.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (returns (B, C), or (C,) with ``batch``).
            Defaults to ``"mean"``.

    Example:
        >>> loss = DiceDistillationLoss(target="hard", weight=0.1)
        >>> loss(torch.randn(2, 1, 64, 64), torch.randn(2, 1, 64, 64))
    """

    def __init__(
        self,
        target: str = "soft",
        weight: float = 1.0,
        squared_denominator: bool = False,
        smooth: float = 1.0,
        batch: bool = False,
        reduction: LossReduction | str = LossReduction.MEAN,
    ) -> None:
        _check_non_negative("weight", weight)
        super().__init__(reduction=_check_reduction(reduction))
        self.target = look_up_option(target, _TEACHER_TARGETS, what="distillation target")
        self.weight = weight
        self.dice = SoftDiceLoss(squared_denominator=squared_denominator, smooth=smooth, batch=batch, reduction="none")

    def teacher_target(self, teacher_logits: torch.Tensor) -> torch.Tensor:
        """The detached target built from the teacher's logits (soft probabilities or a 0/1 mask)."""
        teacher_logits = _full_precision(teacher_logits.detach())
        if self.target == "hard":
            return (teacher_logits > 0).to(teacher_logits.dtype)
        return torch.sigmoid(teacher_logits)

    def forward(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        _check_logits_and_target(student_logits, teacher_logits, target_name="teacher logits")
        return _reduce(self.weight * self.dice(student_logits, self.teacher_target(teacher_logits)), self.reduction)


class SelfDistillationKLLoss(_Loss):
    """Pixel-wise KL self-distillation ``α · T² · KL(p_T ‖ p_S)`` between two outputs of one network.

    Paper 003 (Banerjee et al., "Dual Self-Distillation of U-shaped Networks for 3D Medical Image
    Segmentation", ISBI 2024, https://doi.org/10.1109/ISBI56570.2024.10635393), eq. 3: the deepest encoder / decoder
    output is the teacher of the shallower ones, with soft labels at temperature τ = 3.

    - ``"softmax"``: ``p = softmax(z / T)`` over the channel axis; KL summed over classes.
    - ``"sigmoid"``: each channel is a Bernoulli ``p = σ(z / T)`` (multi-label outputs such as the BraTS
      regions); KL of the Bernoulli pair per channel, summed over channels.

    The value per voxel is then averaged over voxels (and batch). Log-probabilities come from
    ``log_softmax`` / ``logsigmoid``, so logits of any magnitude give finite values and gradients.

    Layout: ``student_logits`` and ``teacher_logits`` are (B, C, H, W[, D]); the teacher is detached.

    Args:
        temperature: softening temperature T, > 0. Defaults to 3.0.
        activation: ``"softmax"`` or ``"sigmoid"``. Defaults to ``"softmax"``.
        weight: α, the factor in front of T², >= 0 (0 switches the term off, as in the ablation).
            Defaults to 1.0.
        reduction: ``"mean"`` (over voxels and batch), ``"sum"`` or ``"none"`` (returns the per-voxel map
            (B, H, W[, D])). Defaults to ``"mean"``.

    Example:
        >>> loss = SelfDistillationKLLoss(temperature=3.0, activation="sigmoid")
        >>> loss(shallow_decoder_logits, deepest_decoder_logits)
    """

    def __init__(
        self,
        temperature: float = 3.0,
        activation: str = "softmax",
        weight: float = 1.0,
        reduction: LossReduction | str = LossReduction.MEAN,
    ) -> None:
        _check_positive("temperature", temperature)
        _check_non_negative("weight", weight)
        super().__init__(reduction=_check_reduction(reduction))
        self.activation = look_up_option(activation, _ACTIVATIONS, what="distillation activation")
        self.temperature = temperature
        self.weight = weight

    def forward(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
        _check_logits_and_target(student_logits, teacher_logits, target_name="teacher logits")
        student = _full_precision(student_logits) / self.temperature
        teacher = _full_precision(teacher_logits.detach()) / self.temperature
        if self.activation == "softmax":
            log_p_teacher = F.log_softmax(teacher, dim=1)
            log_p_student = F.log_softmax(student, dim=1)
            kl = (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(dim=1)
        else:
            # Bernoulli KL per channel: log p = logsigmoid(z), log(1 − p) = logsigmoid(−z)
            p_teacher = torch.sigmoid(teacher)
            kl_positive = p_teacher * (F.logsigmoid(teacher) - F.logsigmoid(student))
            kl_negative = (1.0 - p_teacher) * (F.logsigmoid(-teacher) - F.logsigmoid(-student))
            kl = (kl_positive + kl_negative).sum(dim=1)
        return _reduce(self.weight * self.temperature**2 * kl, self.reduction)


class DualSelfDistillationLoss(_Loss):
    """The dual self-distillation loss of paper 003 (eq. 4) on a U-shaped network's training outputs.

    Banerjee et al., "Dual Self-Distillation of U-shaped Networks for 3D Medical Image Segmentation",
    ISBI 2024: ``L = L_seg(Y) + η · Σ_i L_seg(D_i) + α1 · Σ_{i<Z} KL(E_i, E_Z) + α2 · Σ_{i>1} KL(D_i, D_1)``,
    each KL a :class:`SelfDistillationKLLoss` at temperature τ (scaled by τ², teacher detached). The
    decoder teacher ``D_1`` is ``decoder_outputs[0]`` (nearest full resolution), the encoder teacher
    ``E_Z`` is ``encoder_outputs[-1]`` (deepest). The paper: η = α1 = α2 = 1, τ = 3; Basic, DS, SDD,
    SDE of its ablation set some of them to 0.

    Layout: every tensor (B, K, H, W[, D]); the bottleneck outputs are already upsampled to full size.

    Args:
        segmentation: ``L_seg`` (paper 003: Dice + CE, :class:`~kdseg.losses.SoftmaxDiceCELoss`).
        eta: η, weight of deep supervision, >= 0. Defaults to 1.0.
        alpha_encoder: α1, weight of encoder self-distillation, >= 0. Defaults to 1.0.
        alpha_decoder: α2, weight of decoder self-distillation, >= 0. Defaults to 1.0.
        temperature: τ, > 0. Defaults to 3.0.
        activation: ``"softmax"`` (paper 003's classes) or ``"sigmoid"`` (BraTS regions, Bernoulli KL per
            channel). Defaults to ``"softmax"``.

    Example:
        >>> dsd = DualSelfDistillationLoss(SoftmaxDiceCELoss())
        >>> dsd.terms(logits, decoder_outputs, encoder_outputs, target)["loss"].backward()
    """

    def __init__(
        self,
        segmentation: _Loss,
        eta: float = 1.0,
        alpha_encoder: float = 1.0,
        alpha_decoder: float = 1.0,
        temperature: float = 3.0,
        activation: str = "softmax",
    ) -> None:
        for name, value in (("eta", eta), ("alpha_encoder", alpha_encoder), ("alpha_decoder", alpha_decoder)):
            _check_non_negative(name, value)
        super().__init__()
        self.segmentation = segmentation
        self.eta = eta
        self.encoder_kl = SelfDistillationKLLoss(temperature=temperature, activation=activation, weight=alpha_encoder)
        self.decoder_kl = SelfDistillationKLLoss(temperature=temperature, activation=activation, weight=alpha_decoder)

    def terms(
        self,
        logits: torch.Tensor,
        decoder_outputs: list[torch.Tensor],
        encoder_outputs: list[torch.Tensor],
        target: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """``main``, ``deep`` (Σ decoder losses, before η), ``kl_dec``, ``kl_enc`` (weighted) and their total ``loss``."""
        main = self.segmentation(logits, target)
        zero = main.new_zeros(())
        deep = sum((self.segmentation(d, target) for d in decoder_outputs), zero) if self.eta else zero
        kl_dec = sum((self.decoder_kl(d, decoder_outputs[0]) for d in decoder_outputs[1:]), zero) if self.decoder_kl.weight else zero
        kl_enc = sum((self.encoder_kl(e, encoder_outputs[-1]) for e in encoder_outputs[:-1]), zero) if self.encoder_kl.weight else zero
        return {"loss": main + self.eta * deep + kl_dec + kl_enc, "main": main, "deep": deep, "kl_dec": kl_dec, "kl_enc": kl_enc}

    def forward(self, logits: torch.Tensor, decoder_outputs: list[torch.Tensor], encoder_outputs: list[torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        return self.terms(logits, decoder_outputs, encoder_outputs, target)["loss"]


class LSGANLoss(_Loss):
    """Least-squares GAN terms for the hierarchical discriminator of paper 001.

    Paper 001 (Ragu B et al., XP-Net, EndoCV2022), eqs. 2–3, after HAD-Net (Vadacchino et al., MIDL 2021) and
    LSGAN (Mao et al., 2017, https://arxiv.org/abs/1611.04076):

    - generator (student) term: ``MSE(D(student), 1)`` (:meth:`generator_loss`), added with weight λ;
    - discriminator term: ``MSE(D(teacher), 1) + MSE(D(student), 0)`` (:meth:`discriminator_loss`).

    ``forward(d_output, target_is_real)`` is ``MSE(d_output, 1 if target_is_real else 0)``. For the
    discriminator step, compute D(student) on the *detached* student output so that the step does not
    update the student; D's own output must keep its gradient.

    Layout: discriminator outputs of any shape (one score per image or a patch map).

    Args:
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (element-wise squared errors). Defaults to ``"mean"``.

    Example:
        >>> gan = LSGANLoss()
        >>> loss_d = gan.discriminator_loss(disc(teacher_out), disc(student_out.detach()))
        >>> loss_g = gan.generator_loss(disc(student_out))
    """

    def __init__(self, reduction: LossReduction | str = LossReduction.MEAN) -> None:
        super().__init__(reduction=_check_reduction(reduction))

    def forward(self, d_output: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        label = torch.full_like(d_output, 1.0 if target_is_real else 0.0)
        return F.mse_loss(d_output, label, reduction=self.reduction)

    def generator_loss(self, d_fake: torch.Tensor) -> torch.Tensor:
        """``MSE(D(student), 1)``: the student tries to be taken for a teacher."""
        return self(d_fake, True)

    def discriminator_loss(self, d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
        """``MSE(D(teacher), 1) + MSE(D(student), 0)``."""
        return self(d_real, True) + self(d_fake, False)


def discriminator_accuracy(d_real: torch.Tensor, d_fake: torch.Tensor) -> float:
    """Fraction of discriminator scores on the right side of 0.5: real > 0.5 and fake < 0.5.

    Every element counts (one per image, or one per patch for a patch discriminator). HAD-Net (which
    paper 001 follows) steps the discriminator only while this is ≤ 0.8, so it cannot overpower the student.

    Raises:
        ValueError: when either tensor is empty.
    """
    if d_real.numel() == 0 or d_fake.numel() == 0:
        raise ValueError(
            f"discriminator_accuracy needs scores for both real and fake inputs, got {d_real.numel()} real "
            f"and {d_fake.numel()} fake"
        )
    correct = (d_real.detach() > 0.5).sum() + (d_fake.detach() < 0.5).sum()
    return float(correct) / (d_real.numel() + d_fake.numel())
