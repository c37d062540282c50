"""Tests of kdseg.losses.segmentation: hand-computed values, empty masks, stability, shapes, registry."""

from __future__ import annotations

import math

import pytest
import torch

from kdseg.losses import (
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
from kdseg.utils.errors import ConfigError

DTYPE = torch.float64  # exact comparisons with the hand-computed values


def logits_of(probs: list[float], shape: tuple[int, ...] = (1, 1, 2, 2)) -> torch.Tensor:
    """Logits whose sigmoid is ``probs``."""
    return torch.logit(torch.tensor(probs, dtype=DTYPE)).reshape(shape)


def mask(values: list[float], shape: tuple[int, ...] = (1, 1, 2, 2)) -> torch.Tensor:
    return torch.tensor(values, dtype=DTYPE).reshape(shape)


def confident(values: list[float], shape: tuple[int, ...] = (1, 1, 2, 2)) -> torch.Tensor:
    """Logits ±50 that predict the 0/1 ``values`` (σ(50) = 1 − 2e-22)."""
    return (torch.tensor(values, dtype=DTYPE) * 100.0 - 50.0).reshape(shape)


# p = σ(z) = [0.75, 0.25, 0.5, 0.5], g = [1, 0, 1, 0]:
#   Σpg = 0.75 + 0.5 = 1.25, Σp = 2, Σg = 2, Σp² = 0.5625 + 0.0625 + 0.25 + 0.25 = 1.125, Σg² = 2
#   TP = 1.25, FP = Σp(1−g) = 0.25 + 0.5 = 0.75, FN = Σ(1−p)g = 0.25 + 0.5 = 0.75
#   BCE = mean(−ln 0.75, −ln 0.75, ln 2, ln 2) = (2·0.2876821 + 2·0.6931472) / 4 = 0.4904146
P, G = [0.75, 0.25, 0.5, 0.5], [1.0, 0.0, 1.0, 0.0]
BCE_PG = (2 * -math.log(0.75) + 2 * math.log(2)) / 4
# g' = [1, 0, 0, 0]: TP = 0.75, FP = 0.25 + 0.5 + 0.5 = 1.25, FN = 0.25
G1 = [1.0, 0.0, 0.0, 0.0]

TEST_CASES = [
    # (loss class, kwargs, logits, target, expected)
    # 1 − (2·1.25 + 1) / (2 + 2 + 1) = 1 − 3.5/5 = 0.3
    (SoftDiceLoss, {}, logits_of(P), mask(G), 0.3),
    # squared denominator: 1 − (2.5 + 1) / (1.125 + 2 + 1) = 1 − 3.5/4.125
    (SoftDiceLoss, {"squared_denominator": True}, logits_of(P), mask(G), 1 - 3.5 / 4.125),
    # smooth → 0: 1 − 2.5/4
    (SoftDiceLoss, {"smooth": 1e-9}, logits_of(P), mask(G), 0.375),
    # 3D input (1, 1, 2, 2, 1): same voxels, same value
    (SoftDiceLoss, {}, logits_of(P, (1, 1, 2, 2, 1)), mask(G, (1, 1, 2, 2, 1)), 0.3),
    # both empty: (0 + 1) / (Σp ≈ 8e-22 + 0 + 1) = 1 → loss 0
    (SoftDiceLoss, {}, confident([0, 0, 0, 0]), mask([0, 0, 0, 0]), 0.0),
    (SoftDiceLoss, {"squared_denominator": True}, confident([0, 0, 0, 0]), mask([0, 0, 0, 0]), 0.0),
    # empty target, p = 0.5 everywhere: 1 − 1 / (2 + 0 + 1) = 2/3; squared: 1 − 1 / (1 + 0 + 1) = 0.5
    (SoftDiceLoss, {}, logits_of([0.5] * 4), mask([0, 0, 0, 0]), 2 / 3),
    (SoftDiceLoss, {"squared_denominator": True}, logits_of([0.5] * 4), mask([0, 0, 0, 0]), 0.5),
    # empty prediction, 2 target pixels: 1 − 1 / (0 + 2 + 1) = 2/3
    (SoftDiceLoss, {}, confident([0, 0, 0, 0]), mask(G), 2 / 3),
    # all correct: (2·2 + 1) / (2 + 2 + 1) = 1 → 0
    (SoftDiceLoss, {}, confident(G), mask(G), 0.0),
    # Tversky α = 0.3, β = 0.7: 1 − (1.25 + 1) / (1.25 + 0.3·0.75 + 0.7·0.75 + 1) = 1 − 2.25/3 = 0.25
    (TverskyLoss, {}, logits_of(P), mask(G), 0.25),
    # g': 1 − (0.75 + 1) / (0.75 + 0.3·1.25 + 0.7·0.25 + 1) = 1 − 1.75/2.3
    (TverskyLoss, {"alpha": 0.3, "beta": 0.7}, logits_of(P), mask(G1), 1 - 1.75 / 2.3),
    # α weighs false positives: 1 − 1.75 / (0.75 + 0.7·1.25 + 0.3·0.25 + 1) = 1 − 1.75/2.7
    (TverskyLoss, {"alpha": 0.7, "beta": 0.3}, logits_of(P), mask(G1), 1 - 1.75 / 2.7),
    # α = β = 0.5, smooth → 0 is the Dice loss: 1 − 1.25 / (1.25 + 0.375 + 0.375) = 0.375
    (TverskyLoss, {"alpha": 0.5, "beta": 0.5, "smooth": 1e-9}, logits_of(P), mask(G), 0.375),
    (TverskyLoss, {}, confident([0, 0, 0, 0]), mask([0, 0, 0, 0]), 0.0),
    (TverskyLoss, {}, confident(G), mask(G), 0.0),
    # Dice 0.3 + Tversky 0.25
    (DiceTverskyLoss, {}, logits_of(P), mask(G), 0.55),
    (DiceTverskyLoss, {"dice_weight": 2.0, "tversky_weight": 0.0}, logits_of(P), mask(G), 0.6),
    (DiceTverskyLoss, {}, confident(G), mask(G), 0.0),
    # BCE 0.4904146 + squared Dice 1 − 3.5/4.125 = 0.1515152
    (BCEDiceLoss, {}, logits_of(P), mask(G), BCE_PG + 1 - 3.5 / 4.125),
    (BCEDiceLoss, {"bce_weight": 2.0, "dice_weight": 0.5}, logits_of(P), mask(G), 2 * BCE_PG + 0.5 * (1 - 3.5 / 4.125)),
    # all correct: BCE = ln(1 + e^−50) ≈ 2e-22, Dice loss 0
    (BCEDiceLoss, {}, confident(G), mask(G), 0.0),
    (BCEDiceLoss, {}, confident([0, 0, 0, 0]), mask([0, 0, 0, 0]), 0.0),
    # DiceCE (smooth 1e-5, Σp + Σg): 1 − (2.5 + 1e-5) / (4 + 1e-5) + BCE
    (DiceCELoss, {}, logits_of(P), mask(G), 1 - (2.5 + 1e-5) / (4 + 1e-5) + BCE_PG),
    (DiceCELoss, {}, confident(G), mask(G), 0.0),
]


@pytest.mark.parametrize("loss_class, kwargs, logits, target, expected", TEST_CASES)
def test_value(loss_class, kwargs, logits, target, expected):
    assert loss_class(**kwargs)(logits, target).item() == pytest.approx(expected, abs=1e-7)


def batch_of_four() -> tuple[torch.Tensor, torch.Tensor]:
    """(B=2, C=2, 2, 2) logits/targets; items (0,0) P/G, (0,1) p = 0.5 on an empty target,
    (1,0) all correct on G, (1,1) both empty."""
    logits = torch.stack(
        [
            torch.cat([logits_of(P)[0], logits_of([0.5] * 4)[0]]),
            torch.cat([confident(G)[0], confident([0, 0, 0, 0])[0]]),
        ]
    )
    target = torch.stack([torch.cat([mask(G)[0], mask([0, 0, 0, 0])[0]]), torch.cat([mask(G)[0], mask([0, 0, 0, 0])[0]])])
    return logits, target


# per-item Dice losses of batch_of_four: [[0.3, 2/3], [0, 0]]
# batch=True sums over the batch per channel:
#   channel 0: Σpg = 1.25 + 2 = 3.25, Σp + Σg = 4 + 4 → 1 − (6.5 + 1) / (8 + 1) = 1/6
#   channel 1: Σpg = 0, Σp = 2, Σg = 0 → 1 − 1 / (2 + 1) = 2/3
REDUCTION_CASES = [
    ({"reduction": "none"}, [[0.3, 2 / 3], [0.0, 0.0]]),
    ({"reduction": LossReduction.NONE}, [[0.3, 2 / 3], [0.0, 0.0]]),
    ({"reduction": "mean"}, (0.3 + 2 / 3) / 4),
    ({"reduction": "sum"}, 0.3 + 2 / 3),
    ({"reduction": "none", "batch": True}, [1 / 6, 2 / 3]),
    ({"reduction": "mean", "batch": True}, (1 / 6 + 2 / 3) / 2),
]


@pytest.mark.parametrize("kwargs, expected", REDUCTION_CASES)
def test_reductions_multichannel_batch(kwargs, expected):
    logits, target = batch_of_four()
    result = SoftDiceLoss(**kwargs)(logits, target)
    torch.testing.assert_close(result, torch.tensor(expected, dtype=DTYPE), atol=1e-7, rtol=0)


def test_bce_per_item_is_voxel_mean():
    # reduction "none" gives BCE + Dice per (image, channel); their mean is the BCE over all elements
    logits, target = batch_of_four()
    per_item = BCEDiceLoss(dice_weight=0.0, reduction="none")(logits, target)
    assert per_item.shape == (2, 2)
    assert per_item[0, 0].item() == pytest.approx(BCE_PG)
    assert per_item.mean().item() == pytest.approx(torch.nn.functional.binary_cross_entropy_with_logits(logits, target).item())


SIGMOID_LOSSES = sorted(name for name, loss in LOSSES.items() if getattr(loss, "activation", "sigmoid") == "sigmoid")


@pytest.mark.parametrize("name", SIGMOID_LOSSES)
@pytest.mark.parametrize("shape", [(2, 1, 8, 8), (2, 3, 4, 4, 4)])
def test_shapes_2d_3d(name, shape):
    logits, target = torch.randn(shape), torch.randint(0, 2, shape).float()
    assert create_loss(name)(logits, target).shape == ()
    assert create_loss(name, reduction="none")(logits, target).shape == shape[:2]
    assert create_loss(name, reduction="none", batch=True)(logits, target).shape == shape[1:2]


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("magnitude", [50.0, 1e4])
def test_gradient_finite_for_extreme_logits(name, magnitude):
    # confidently wrong and confidently right voxels, in float32 as in training
    signs = torch.tensor([1.0, -1.0, 1.0, -1.0, 1.0, -1.0, -1.0, 1.0], dtype=torch.float32)
    logits = (magnitude * signs).reshape(1, 2, 2, 2).requires_grad_()
    target = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0], dtype=torch.float32).reshape(1, 2, 2, 2)
    loss = create_loss(name)(logits, target)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(logits.grad).all()


def test_wrong_prediction_costs_more_than_right():
    target = mask(G)
    for name in SIGMOID_LOSSES:  # one channel: a softmax over it is constant
        loss = create_loss(name)
        assert loss(confident([1 - g for g in G]), target) > loss(logits_of(P), target) > loss(confident(G), target)


@pytest.mark.parametrize(
    "name, kwargs, loss_class",
    [
        ("dice", {"squared_denominator": True}, SoftDiceLoss),
        ("bce_dice", {"bce_weight": 0.5}, BCEDiceLoss),
        ("tversky", {"alpha": 0.2, "beta": 0.8}, TverskyLoss),
        ("dice_tversky", {"tversky_weight": 2.0}, DiceTverskyLoss),
        ("dice_ce", {"smooth": 1.0}, DiceCELoss),
    ],
)
def test_create_loss_passes_kwargs(name, kwargs, loss_class):
    loss = create_loss(name, **kwargs)
    assert type(loss) is loss_class
    logits, target = logits_of(P), mask(G1)
    # the kwargs reach the loss: same value as built directly, different from the defaults
    assert loss(logits, target).item() == pytest.approx(loss_class(**kwargs)(logits, target).item())
    assert loss(logits, target).item() != pytest.approx(loss_class()(logits, target).item())


ILL_ARG_CASES = [
    # (callable, kwargs, error, message pattern)
    (SoftDiceLoss, {"smooth": 0.0}, ValueError, "smooth must be > 0, got 0.0"),
    (SoftDiceLoss, {"reduction": "meen"}, ConfigError, "Unknown loss reduction 'meen'.*Did you mean 'mean'"),
    (TverskyLoss, {"alpha": -0.1}, ValueError, "alpha must be >= 0, got -0.1"),
    (TverskyLoss, {"alpha": 0.0, "beta": 0.0}, ValueError, "at least one of alpha, beta must be > 0"),
    (TverskyLoss, {"smooth": -1.0}, ValueError, "smooth must be > 0"),
    (DiceTverskyLoss, {"dice_weight": 0.0, "tversky_weight": 0.0}, ValueError, "at least one of dice_weight, tversky_weight"),
    (BCEDiceLoss, {"bce_weight": -1.0}, ValueError, "bce_weight must be >= 0, got -1.0"),
    (DiceCELoss, {"bce_weight": 0.0, "dice_weight": 0.0}, ValueError, "at least one of bce_weight, dice_weight"),
    (create_loss, {"name": "dice_tverski"}, ConfigError, "Unknown loss name 'dice_tverski'.*Did you mean 'dice_tversky'"),
    (
        create_loss,
        {"name": "dice", "alpha": 0.3},
        ConfigError,
        "Loss 'dice' does not take 'alpha'; its keys are: 'squared_denominator', 'smooth', 'batch', 'reduction'",
    ),
    (create_loss, {"name": "tversky", "beta": -1.0}, ConfigError, "Invalid value in the `loss:` block for 'tversky': beta must be >= 0"),
    (create_loss, {"name": "bce_dice", "reduction": "avg"}, ConfigError, "Unknown loss reduction 'avg'; allowed: 'mean', 'none', 'sum'"),
]


@pytest.mark.parametrize("factory, kwargs, error, message", ILL_ARG_CASES)
def test_ill_arg(factory, kwargs, error, message):
    with pytest.raises(error, match=message):
        factory(**kwargs)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_ill_shape(name):
    loss = create_loss(name)
    with pytest.raises(ValueError, match=r"target shape \(1, 1, 2, 2\) differs from logits shape \(1, 3, 2, 2\)"):
        loss(torch.zeros(1, 3, 2, 2), torch.zeros(1, 1, 2, 2))
    with pytest.raises(ValueError, match=r"expected logits of shape \(B, C, H, W\[, D\]\), got shape \(4, 4\)"):
        loss(torch.zeros(4, 4), torch.zeros(4, 4))


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_bfloat16_logits_are_summed_in_float32(name):
    # under bf16 autocast the network hands over bf16 logits; a Dice sum over a whole image kept in bf16
    # keeps about 3 significant digits, so every loss must compute in float32
    torch.manual_seed(0)
    logits = (3 * torch.randn(2, 3, 64, 64)).bfloat16()
    target = (torch.rand(2, 3, 64, 64) > 0.7).float()
    loss = create_loss(name)
    low, reference = loss(logits, target), loss(logits.float(), target)
    assert low.dtype == torch.float32
    assert torch.allclose(low, reference, rtol=1e-6, atol=1e-7)


def test_softmax_dice_ce_equals_a_hand_computation():
    # K = 2 classes, 2 voxels: voxel 0 is class 0, voxel 1 class 1; logits (3 ln 3, 0) on both voxels give
    # p = (27/28, 1/28). Dice_0 = 2·(27/28) / (54/28 + 1) = 54/82, Dice_1 = 2·(1/28) / (2/28 + 1) = 2/30;
    # CE = mean over voxels of −ln p_true = (ln(28/27) + ln 28) / 2
    logits = torch.tensor([3 * math.log(3), 0.0]).reshape(1, 2, 1, 1, 1).expand(1, 2, 1, 1, 2).contiguous()
    target = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).reshape(1, 2, 1, 1, 2)
    expected = 1 - (54 / 82 + 2 / 30) / 2 + (math.log(28 / 27) + math.log(28)) / 2
    assert float(SoftmaxDiceCELoss()(logits, target)) == pytest.approx(expected, rel=1e-5)
    assert float(SoftmaxDiceCELoss(ce_weight=0.0)(logits, target)) == pytest.approx(1 - (54 / 82 + 2 / 30) / 2, rel=1e-5)


def test_softmax_dice_ce_matches_monai():
    monai_losses = pytest.importorskip("monai.losses")
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 6, 5, 4)
    labels = torch.randint(0, 4, (2, 1, 6, 5, 4))
    onehot = torch.nn.functional.one_hot(labels[:, 0], 4).movedim(-1, 1).float()
    reference = monai_losses.DiceCELoss(to_onehot_y=True, softmax=True)(logits, labels)
    assert float(SoftmaxDiceCELoss()(logits, onehot)) == pytest.approx(float(reference), rel=1e-5)
