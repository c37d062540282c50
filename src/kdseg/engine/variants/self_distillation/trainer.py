"""Dual Self-Distillation (DSD) of U-shaped networks (paper 003, Banerjee et al., ISBI 2024).

Loss (paper 003, eq. 4): ``L = L_seg(main) + η · Σ_i L_seg(decoder_i) + α1 · Σ_j KL(enc_teacher ‖ enc_j)
+ α2 · Σ_i KL(dec_teacher ‖ dec_i)``, each KL at temperature τ = 3 scaled by τ². The decoder teacher
is the decoder output nearest full resolution, the encoder teacher the deepest encoder head; the
training-only heads come from the network's ``forward_features`` (``decoder_outputs``,
``encoder_outputs``, all upsampled to full size). The ablation rows of the paper's Table 1 are the
settings: Basic (η = α1 = α2 = 0), DS (η = 1), SDD (η = α2 = 1), SDE (η = α1 = 1), DSD (all 1).
"""

from __future__ import annotations

import torch
from torch import nn

from kdseg.engine.trainer import Trainer
from kdseg.losses import SelfDistillationKLLoss
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
        self.encoder_kl = SelfDistillationKLLoss(temperature=self.dsd["temperature"], activation="sigmoid", weight=self.dsd["alpha_encoder"])
        self.decoder_kl = SelfDistillationKLLoss(temperature=self.dsd["temperature"], activation="sigmoid", weight=self.dsd["alpha_decoder"])
        return super().build_loss()

    def compute_loss(self, image: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        logits, features = self.network.forward_features(image)
        decoder, encoder = features.get("decoder_outputs", []), features.get("encoder_outputs", [])
        needs_decoder = bool(self.dsd["eta"] or self.dsd["alpha_decoder"])
        if (needs_decoder and not decoder) or (self.dsd["alpha_encoder"] and not encoder):
            raise ConfigError(f"{self.where}: {self.settings['arch']} exposes no deep-supervision/self-distillation heads; use unetr or dynunet for DualSelfDistillationTrainer.")
        main = self.loss(logits, target)
        zero = main.new_zeros(())
        deep = sum((self.loss(d, target) for d in decoder), zero) if self.dsd["eta"] else zero
        kl_decoder = sum((self.decoder_kl(d, decoder[0]) for d in decoder[1:]), zero) if self.dsd["alpha_decoder"] else zero
        kl_encoder = sum((self.encoder_kl(e, encoder[-1]) for e in encoder[:-1]), zero) if self.dsd["alpha_encoder"] else zero
        loss = main + self.dsd["eta"] * deep + kl_decoder + kl_encoder
        return loss, {"loss": float(loss.detach()), "main": float(main.detach()), "deep": float(deep.detach()), "kl_dec": float(kl_decoder.detach()), "kl_enc": float(kl_encoder.detach())}
