"""Dual Self-Distillation (DSD) of U-shaped networks (paper 003, Banerjee et al., ISBI 2024).

Loss (paper 003, eq. 4): :class:`kdseg.losses.DualSelfDistillationLoss` on the network's
training-only heads from ``forward_features`` (``decoder_outputs``, ``encoder_outputs``, all upsampled
to full size). As the authors train it (``train.targets: labels``, ``loss: {name: softmax_dice_ce}``):
a softmax over background and the labels, Dice + CE on every output and the KL between softmax outputs
at τ = 3. With ``train.targets: regions`` and a sigmoid loss (``dice_ce``) the same scheme runs on
the three BraTS region channels, with a Bernoulli KL per channel: our variant, not the paper's. The
ablation rows of the paper's Table 1 are the settings: Basic (η = α1 = α2 = 0), DS (η = 1), SDD
(η = α2 = 1), SDE (η = α1 = 1), DSD (all 1).
"""

from __future__ import annotations

import torch
from torch import nn

from kdseg.engine.trainer import Trainer
from kdseg.losses import DualSelfDistillationLoss
from kdseg.utils.errors import ConfigError

__all__ = ["DualSelfDistillationTrainer"]

_OPTIONS = {"eta": 1.0, "alpha_encoder": 1.0, "alpha_decoder": 1.0, "temperature": 3.0}


class DualSelfDistillationTrainer(Trainer):
    """Deep supervision plus encoder and decoder self-distillation; options under ``distill``:
    ``eta``, ``alpha_encoder``, ``alpha_decoder`` (default 1 each) and ``temperature`` (default 3)."""

    def build_loss(self) -> nn.Module:
        options = dict(self.settings.get("distill") or {})
        unknown = sorted(set(options) - set(_OPTIONS))
        if unknown:
            raise ConfigError(f"{self.where}.distill: unknown option(s) {', '.join(unknown)} for DualSelfDistillationTrainer; allowed: {', '.join(_OPTIONS)}.")
        self.dsd = {k: float(options.get(k, default)) for k, default in _OPTIONS.items()}
        segmentation = super().build_loss()
        activation = "softmax" if self.train_settings.targets == "labels" else "sigmoid"
        return DualSelfDistillationLoss(segmentation, activation=activation, **self.dsd)

    def compute_loss(self, image: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        logits, features = self.network.forward_features(image)
        decoder, encoder = features.get("decoder_outputs", []), features.get("encoder_outputs", [])
        needs_decoder = bool(self.dsd["eta"] or self.dsd["alpha_decoder"])
        if (needs_decoder and not decoder) or (self.dsd["alpha_encoder"] and not encoder):
            raise ConfigError(f"{self.where}: {self.settings['arch']} exposes no deep-supervision/self-distillation heads; use unetr or dynunet for DualSelfDistillationTrainer.")
        terms = self.loss.terms(logits, decoder, encoder, target)
        return terms["loss"], {name: float(value.detach()) for name, value in terms.items()}
