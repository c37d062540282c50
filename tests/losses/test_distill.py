"""Tests of kdseg.losses.distill: Dice distillation, KL self-distillation, LSGAN terms, D accuracy."""

from __future__ import annotations

import math

import pytest
import torch

from kdseg.losses import (
    DiceDistillationLoss,
    DualSelfDistillationLoss,
    LSGANLoss,
    SelfDistillationKLLoss,
    SoftmaxDiceCELoss,
    discriminator_accuracy,
)
from kdseg.utils.errors import ConfigError

DTYPE = torch.float64  # exact comparisons with the hand-computed values
LN3 = math.log(3.0)


def logits_of(probs: list[float], shape: tuple[int, ...] = (1, 1, 2, 2)) -> torch.Tensor:
    """Logits whose sigmoid is ``probs``."""
    return torch.logit(torch.tensor(probs, dtype=DTYPE)).reshape(shape)


def tensor(values: list, shape: tuple[int, ...] | None = None) -> torch.Tensor:
    t = torch.tensor(values, dtype=DTYPE)
    return t.reshape(shape) if shape else t


STUDENT = logits_of([0.75, 0.25, 0.5, 0.5])
TEACHER = logits_of([0.9, 0.2, 0.6, 0.4])

# KL of the 2-class pair p_T = (0.75, 0.25), p_S = (0.5, 0.5):
#   0.75·ln(0.75/0.5) + 0.25·ln(0.25/0.5) = 0.75·0.4054651 − 0.25·0.6931472 = 0.1308121
KL_TOY = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
UNIFORM = tensor([0.0, 0.0], (1, 2, 1, 1))  # one voxel, 2 classes, p = (0.5, 0.5)
TOY_TEACHER = tensor([LN3, 0.0], (1, 2, 1, 1))  # p = (0.75, 0.25) at T = 1

TEST_CASES = [
    # (loss class, kwargs, student logits, teacher logits, expected)
    # soft target t = [0.9, 0.2, 0.6, 0.4], p = [0.75, 0.25, 0.5, 0.5]:
    #   Σpt = 0.675 + 0.05 + 0.3 + 0.2 = 1.225, Σp = 2, Σt = 2.1 → 1 − (2.45 + 1) / (4.1 + 1) = 1 − 3.45/5.1
    (DiceDistillationLoss, {"target": "soft"}, STUDENT, TEACHER, 1 - 3.45 / 5.1),
    # hard target t = [1, 0, 1, 0]: Σpt = 1.25, Σt = 2 → 1 − (2.5 + 1) / (4 + 1) = 0.3
    (DiceDistillationLoss, {"target": "hard"}, STUDENT, TEACHER, 0.3),
    (DiceDistillationLoss, {"target": "hard", "weight": 0.1}, STUDENT, TEACHER, 0.03),
    # squared denominator, soft: Σp² = 1.125, Σt² = 0.81 + 0.04 + 0.36 + 0.16 = 1.37 → 1 − 3.45/3.495
    (DiceDistillationLoss, {"squared_denominator": True}, STUDENT, TEACHER, 1 - 3.45 / 3.495),
    # teacher logit exactly 0 (σ = 0.5) is background for the hard target: t = 0 → 1 − 1 / (2 + 0 + 1)
    (DiceDistillationLoss, {"target": "hard"}, logits_of([0.5] * 4), torch.zeros(1, 1, 2, 2, dtype=DTYPE), 2 / 3),
    # student == teacher → 0
    (SelfDistillationKLLoss, {}, TEACHER.repeat(1, 2, 1, 1), TEACHER.repeat(1, 2, 1, 1), 0.0),
    (SelfDistillationKLLoss, {"activation": "sigmoid"}, TEACHER, TEACHER, 0.0),
    # one voxel, 2 classes, T = 1: teacher logits (ln 3, 0) → (0.75, 0.25), student (0, 0) → (0.5, 0.5)
    (SelfDistillationKLLoss, {"temperature": 1.0}, UNIFORM, TOY_TEACHER, KL_TOY),
    # T = 3 on teacher logits (3 ln 3, 0): same soft labels, times T² = 9
    (SelfDistillationKLLoss, {"temperature": 3.0}, UNIFORM, 3 * TOY_TEACHER, 9 * KL_TOY),
    # α = 0.5
    (SelfDistillationKLLoss, {"temperature": 3.0, "weight": 0.5}, UNIFORM, 3 * TOY_TEACHER, 4.5 * KL_TOY),
    # sigmoid, 2 channels, T = 1: Bernoulli KL(0.75 ‖ 0.5) + KL(0.25 ‖ 0.5) = 2·0.1308121, summed over channels
    (SelfDistillationKLLoss, {"temperature": 1.0, "activation": "sigmoid"}, UNIFORM, tensor([LN3, -LN3], (1, 2, 1, 1)), 2 * KL_TOY),
    # mean over voxels: voxel 1 as above, voxel 2 identical (KL 0) → KL_TOY / 2
    (SelfDistillationKLLoss, {"temperature": 1.0}, UNIFORM.repeat(1, 1, 1, 2), torch.cat([TOY_TEACHER, UNIFORM], dim=3), KL_TOY / 2),
]


@pytest.mark.parametrize("loss_class, kwargs, student, teacher, expected", TEST_CASES)
def test_value(loss_class, kwargs, student, teacher, expected):
    assert loss_class(**kwargs)(student, teacher).item() == pytest.approx(expected, abs=1e-7)


def test_soft_and_hard_targets_differ_and_hard_is_binary():
    soft, hard = DiceDistillationLoss(target="soft"), DiceDistillationLoss(target="hard")
    assert soft.teacher_target(TEACHER).flatten().tolist() == pytest.approx([0.9, 0.2, 0.6, 0.4])
    assert hard.teacher_target(TEACHER).flatten().tolist() == [1.0, 0.0, 1.0, 0.0]
    assert soft(STUDENT, TEACHER).item() != pytest.approx(hard(STUDENT, TEACHER).item())


@pytest.mark.parametrize(
    "loss",
    [
        DiceDistillationLoss(target="soft"),
        DiceDistillationLoss(target="hard"),
        SelfDistillationKLLoss(activation="softmax"),
        SelfDistillationKLLoss(activation="sigmoid"),
    ],
)
def test_teacher_is_detached(loss):
    student = torch.randn(2, 3, 4, 4, 4, requires_grad=True)
    teacher = torch.randn(2, 3, 4, 4, 4, requires_grad=True)
    loss(student, teacher).backward()
    assert teacher.grad is None
    assert student.grad is not None and student.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "loss",
    [
        DiceDistillationLoss(target="soft"),
        SelfDistillationKLLoss(activation="softmax"),
        SelfDistillationKLLoss(activation="sigmoid"),
        SelfDistillationKLLoss(activation="sigmoid", temperature=0.1),
    ],
)
def test_gradient_finite_for_extreme_logits(loss):
    signs = torch.tensor([1.0, -1.0, 1.0, -1.0, -1.0, 1.0, -1.0, 1.0])
    student = (50.0 * signs).reshape(1, 2, 2, 2).requires_grad_()
    teacher = (-50.0 * signs).reshape(1, 2, 2, 2)  # confidently opposite
    value = loss(student, teacher)
    value.backward()
    assert torch.isfinite(value)
    assert torch.isfinite(student.grad).all()


def test_kl_reductions_and_3d_shapes():
    student, teacher = torch.randn(2, 3, 4, 4, 4), torch.randn(2, 3, 4, 4, 4)
    per_voxel = SelfDistillationKLLoss(reduction="none")(student, teacher)
    assert per_voxel.shape == (2, 4, 4, 4)
    assert (per_voxel >= 0).all()
    assert SelfDistillationKLLoss(reduction="mean")(student, teacher).item() == pytest.approx(per_voxel.mean().item())
    assert SelfDistillationKLLoss(reduction="sum")(student, teacher).item() == pytest.approx(per_voxel.sum().item())


def test_kl_matches_torch_kl_div():
    # KL(p_T ‖ p_S) = F.kl_div(log p_S, p_T) summed over classes, mean over voxels, times T²
    student, teacher = torch.randn(2, 4, 3, 5), torch.randn(2, 4, 3, 5)
    t = 3.0
    reference = torch.nn.functional.kl_div(
        torch.log_softmax(student / t, dim=1), torch.softmax(teacher / t, dim=1), reduction="none"
    ).sum(1).mean() * t**2
    assert SelfDistillationKLLoss(temperature=t)(student, teacher).item() == pytest.approx(reference.item(), rel=1e-5)


def test_dice_distillation_reduction_none_is_per_image_channel():
    student, teacher = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    assert DiceDistillationLoss(reduction="none")(student, teacher).shape == (2, 3)
    assert DiceDistillationLoss(reduction="none", batch=True)(student, teacher).shape == (3,)


# LSGAN: D(student) = [0.2, 0.6], D(teacher) = [0.9, 0.4]
#   generator: mean((0.2 − 1)², (0.6 − 1)²) = (0.64 + 0.16) / 2 = 0.4
#   discriminator: mean((0.9 − 1)², (0.4 − 1)²) + mean(0.2², 0.6²) = (0.01 + 0.36)/2 + (0.04 + 0.36)/2 = 0.385
D_FAKE, D_REAL = [0.2, 0.6], [0.9, 0.4]
LSGAN_CASES = [
    # (reduction, method, expected)
    ("mean", "generator", 0.4),
    ("mean", "discriminator", 0.385),
    ("sum", "generator", 0.8),
    ("sum", "discriminator", 0.77),
    ("none", "generator", [0.64, 0.16]),
    ("none", "discriminator", [0.01 + 0.04, 0.36 + 0.36]),
]


@pytest.mark.parametrize("reduction, method, expected", LSGAN_CASES)
def test_lsgan_values(reduction, method, expected):
    gan = LSGANLoss(reduction=reduction)
    if method == "generator":
        value = gan.generator_loss(tensor(D_FAKE))
    else:
        value = gan.discriminator_loss(tensor(D_REAL), tensor(D_FAKE))
    torch.testing.assert_close(value, torch.tensor(expected, dtype=DTYPE))


def test_lsgan_forward_targets_and_gradient():
    gan = LSGANLoss()
    d_out = tensor([[0.25, 0.75]], (1, 1, 1, 2)).requires_grad_()
    # (0.75² + 0.25²) / 2 = 0.3125 against 1; (0.25² + 0.75²) / 2 = 0.3125 against 0
    assert gan(d_out, True).item() == pytest.approx(0.3125)
    assert gan(d_out, False).item() == pytest.approx(0.3125)
    gan.discriminator_loss(d_out, d_out).backward()
    # d/dx [mean((x − 1)²) + mean(x²)] = (2(x − 1) + 2x) / 2 = 2x − 1
    torch.testing.assert_close(d_out.grad.flatten(), tensor([-0.5, 0.5]))


ACCURACY_CASES = [
    # (d_real, d_fake, expected): real counts when > 0.5, fake when < 0.5
    ([0.9, 0.4], [0.2, 0.6], 0.5),
    ([0.9, 0.8], [0.1, 0.3], 1.0),
    ([0.1, 0.2], [0.9, 0.7], 0.0),
    ([0.5], [0.5], 0.0),  # exactly 0.5 is wrong for both
    ([[0.9, 0.9], [0.9, 0.1]], [0.1], 0.8),  # patch scores: 3 of 4 real + 1 of 1 fake
]


@pytest.mark.parametrize("d_real, d_fake, expected", ACCURACY_CASES)
def test_discriminator_accuracy(d_real, d_fake, expected):
    accuracy = discriminator_accuracy(tensor(d_real), tensor(d_fake))
    assert isinstance(accuracy, float)
    assert accuracy == pytest.approx(expected)


ILL_ARG_CASES = [
    (DiceDistillationLoss, {"target": "sof"}, ConfigError, "Unknown distillation target 'sof'.*Did you mean 'soft'"),
    (DiceDistillationLoss, {"weight": -0.1}, ValueError, "weight must be >= 0, got -0.1"),
    (DiceDistillationLoss, {"smooth": 0.0}, ValueError, "smooth must be > 0"),
    (DiceDistillationLoss, {"reduction": "summ"}, ConfigError, "Unknown loss reduction 'summ'.*Did you mean 'sum'"),
    (SelfDistillationKLLoss, {"temperature": 0.0}, ValueError, "temperature must be > 0, got 0.0"),
    (SelfDistillationKLLoss, {"activation": "softmx"}, ConfigError, "Unknown distillation activation 'softmx'.*Did you mean 'softmax'"),
    (SelfDistillationKLLoss, {"weight": -1.0}, ValueError, "weight must be >= 0, got -1.0"),
    (LSGANLoss, {"reduction": "average"}, ConfigError, "Unknown loss reduction 'average'"),
]


@pytest.mark.parametrize("loss_class, kwargs, error, message", ILL_ARG_CASES)
def test_ill_arg(loss_class, kwargs, error, message):
    with pytest.raises(error, match=message):
        loss_class(**kwargs)


@pytest.mark.parametrize("loss", [DiceDistillationLoss(), SelfDistillationKLLoss()])
def test_ill_shape(loss):
    with pytest.raises(ValueError, match=r"teacher logits shape \(1, 2, 4, 4\) differs from logits shape \(1, 3, 4, 4\)"):
        loss(torch.zeros(1, 3, 4, 4), torch.zeros(1, 2, 4, 4))


def test_ill_empty_discriminator_scores():
    with pytest.raises(ValueError, match="needs scores for both real and fake inputs, got 0 real and 2 fake"):
        discriminator_accuracy(torch.zeros(0), torch.zeros(2))


@pytest.mark.parametrize("loss", [DiceDistillationLoss(), DiceDistillationLoss(target="hard"), SelfDistillationKLLoss(activation="sigmoid"), SelfDistillationKLLoss(activation="softmax")], ids=["dice-soft", "dice-hard", "kl-sigmoid", "kl-softmax"])
def test_bfloat16_logits_are_computed_in_float32(loss):
    torch.manual_seed(0)
    student, teacher = (3 * torch.randn(2, 3, 32, 32)).bfloat16(), (3 * torch.randn(2, 3, 32, 32)).bfloat16()
    low, reference = loss(student, teacher), loss(student.float(), teacher.float())
    assert low.dtype == torch.float32
    assert torch.allclose(low, reference, rtol=1e-6, atol=1e-7)


def _two_voxels(*logits: float) -> torch.Tensor:
    """(1, K, 1, 1, 2) logits, the same on both voxels."""
    return torch.tensor(logits).reshape(1, -1, 1, 1, 1).expand(1, len(logits), 1, 1, 2).contiguous()


@pytest.mark.parametrize(
    "eta, alpha_encoder, alpha_decoder",
    [(1.0, 1.0, 1.0), (0.0, 0.0, 0.0), (1.0, 0.0, 0.0), (1.0, 0.0, 1.0), (1.0, 1.0, 0.0)],  # DSD, Basic, DS, SDD, SDE
)
def test_softmax_dsd_loss_equals_a_hand_computation(eta, alpha_encoder, alpha_decoder):
    # K = 2 classes on 2 voxels (voxel 0 class 0, voxel 1 class 1), τ = 3:
    # - zero logits give p = (1/2, 1/2): Dice_k = 2·1/2 / (1 + 1) = 1/2, CE = ln 2 → L_DCE = 1/2 + ln 2;
    # - logits (3 ln 3, 0) give p = (27/28, 1/28): L_DCE = 1 − (54/82 + 2/30)/2 + (ln(28/27) + ln 28)/2
    #   (see tests/losses/test_segmentation.py), and at τ = 3 the soft labels (3/4, 1/4);
    # - KL(teacher (1/2, 1/2) ‖ student (3/4, 1/4)) = 1/2 ln(2/3) + 1/2 ln 2 = 1/2 ln(4/3), times τ² = 9.
    # Main output and decoder teacher D1: zero logits; student decoder D2: (3 ln 3, 0);
    # encoder teacher E2 (deepest): zero logits; student encoder E1: (3 ln 3, 0).
    zero, peaked = _two_voxels(0.0, 0.0), _two_voxels(3 * math.log(3), 0.0)
    target = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).reshape(1, 2, 1, 1, 2)
    dce_zero = 0.5 + math.log(2)
    dce_peaked = 1 - (54 / 82 + 2 / 30) / 2 + (math.log(28 / 27) + math.log(28)) / 2
    kl = 9 * 0.5 * math.log(4 / 3)
    expected = dce_zero + eta * (dce_zero + dce_peaked) + alpha_encoder * kl + alpha_decoder * kl
    loss = DualSelfDistillationLoss(SoftmaxDiceCELoss(), eta=eta, alpha_encoder=alpha_encoder, alpha_decoder=alpha_decoder, temperature=3.0)
    terms = loss.terms(zero, [zero, peaked], [peaked, zero], target)
    assert float(terms["loss"]) == pytest.approx(expected, rel=1e-5)
    assert float(terms["kl_dec"]) == pytest.approx(alpha_decoder * kl, rel=1e-5)
    assert float(loss(zero, [zero, peaked], [peaked, zero], target)) == pytest.approx(expected, rel=1e-5)


def test_dsd_teachers_get_no_gradient_from_the_kl():
    student, teacher = _two_voxels(1.0, 0.0).requires_grad_(), _two_voxels(0.0, 2.0).requires_grad_()
    loss = DualSelfDistillationLoss(SoftmaxDiceCELoss(), eta=0.0, alpha_encoder=1.0, alpha_decoder=0.0)
    target = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).reshape(1, 2, 1, 1, 2)
    (loss(torch.zeros(1, 2, 1, 1, 2), [], [student, teacher], target)).backward()
    assert teacher.grad is None and student.grad.abs().sum() > 0
