"""Adversarial trainers of XP-Net (paper 001, Ragu B et al., EndoCV2022).

- :class:`Pix2PixTrainer` trains XP-Net's second teacher: the UNet+EPSA as the generator of a pix2pix
  conditional GAN (Isola et al. 2017), a patch discriminator judging (image, mask) pairs, with least
  squares GAN terms; pix2pix's L1 reconstruction term is the segmentation loss here.
- :class:`HierarchicalAdversarialDistillationTrainer` distils both teachers into the separable
  student with HAD-Net's hierarchical discriminator, which sees the segmentation, the image and the
  network's multi-scale encoder maps: ``L_S = DV(ŷ_s, y) + λ · MSE(HD(x, ŷ_s, ŷ_s,latent), 1)`` and
  ``L_HD = MSE(HD(x, ŷ_s, ...), 0) + MSE(HD(x, ŷ_t, ...), 1)`` (paper 001, eqs. 2 and 3). The two
  teachers take turns as the "real" sample, one batch each. The discriminator steps only while its
  accuracy is at most 0.8, and uses Adam(2e-4, betas 0.5/0.999), as in HAD-Net.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from kdseg.engine.trainer import Trainer
from kdseg.losses import LSGANLoss, discriminator_accuracy
from kdseg.models.xpnet import HierarchicalDiscriminator, PatchDiscriminator
from kdseg.utils.errors import ConfigError

__all__ = ["HierarchicalAdversarialDistillationTrainer", "Pix2PixTrainer"]


class _AdversarialTrainer(Trainer):
    """Shared mechanics: option checking, the discriminator's optimiser and its saved state."""

    OPTIONS: dict[str, float] = {}

    def read_options(self) -> dict[str, float]:
        options = dict(self.settings.get("distill") or {})
        unknown = sorted(set(options) - set(self.OPTIONS))
        if unknown:
            raise ConfigError(f"{self.where}.distill: unknown option(s) {', '.join(unknown)} for {type(self).__name__}; allowed: {', '.join(self.OPTIONS)}.")
        return {k: float(options.get(k, default)) for k, default in self.OPTIONS.items()}

    def build_discriminator(self) -> nn.Module:
        raise NotImplementedError

    def configure_optimizers(self, parameters: Any = None) -> tuple[torch.optim.Optimizer, Any]:
        self.gan = LSGANLoss()
        self.discriminator = self.build_discriminator().to(self.device)
        self.optimizer_d = torch.optim.Adam(self.discriminator.parameters(), lr=self.options["d_lr"], betas=(0.5, 0.999))
        self.global_step = 0
        return super().configure_optimizers(parameters)

    def extra_state(self) -> dict[str, Any]:
        return {"discriminator": self.discriminator.state_dict(), "optimizer_d": self.optimizer_d.state_dict(), "global_step": self.global_step}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.discriminator.load_state_dict(state["discriminator"])
        self.optimizer_d.load_state_dict(state["optimizer_d"])
        self.global_step = state["global_step"]


class Pix2PixTrainer(_AdversarialTrainer):
    """A segmentation network trained as a pix2pix generator.

    ``distill`` options: ``gan_weight`` (λ on the generator's GAN term, default 0.1) and ``d_lr``
    (discriminator learning rate, default 2e-4).
    """

    OPTIONS = {"gan_weight": 0.1, "d_lr": 2e-4}

    def build_loss(self) -> nn.Module:
        self.options = self.read_options()
        return super().build_loss()

    def build_discriminator(self) -> nn.Module:
        return PatchDiscriminator(in_channels=self.network.in_channels + self.network.out_channels)

    def train_step(self, batch: dict[str, Any]) -> dict[str, float]:
        image, target = self.to_device(batch)
        with self.autocast():
            logits = self.network(image)
            fake = torch.sigmoid(logits)
            task = self.loss(logits, target)
            adversarial = self.gan.generator_loss(self.discriminator(torch.cat([image, fake], 1)))
            loss = task + self.options["gan_weight"] * adversarial
        self.backward_step(loss, self.optimizer)
        with self.autocast():
            d_real = self.discriminator(torch.cat([image, target], 1))
            d_fake = self.discriminator(torch.cat([image, fake.detach()], 1))
            loss_d = self.gan.discriminator_loss(d_real, d_fake)
        self.backward_step(loss_d, self.optimizer_d)
        self.global_step += 1
        return {"loss": float(loss.detach()), "task": float(task.detach()), "g_adv": float(adversarial.detach()), "d": float(loss_d.detach())}


class HierarchicalAdversarialDistillationTrainer(_AdversarialTrainer):
    """Dual-teacher hierarchical adversarial distillation (XP-Net's student).

    ``distill`` options: ``weight`` (λ on the adversarial term, default 0.1), ``d_lr`` (default 2e-4)
    and ``d_accuracy_limit`` (the discriminator steps only at or below it, default 0.8).
    """

    OPTIONS = {"weight": 0.1, "d_lr": 2e-4, "d_accuracy_limit": 0.8}

    def build_loss(self) -> nn.Module:
        self.options = self.read_options()
        self.teachers = self.load_teachers()
        return super().build_loss()

    def build_discriminator(self) -> nn.Module:
        return HierarchicalDiscriminator.for_generator(self.network, image_channels=self.network.in_channels)

    def _judge(self, logits: torch.Tensor, features: dict[str, Any], image: torch.Tensor, detach: bool) -> torch.Tensor:
        maps = HierarchicalDiscriminator.generator_features(features)
        segmentation = torch.sigmoid(logits)
        if detach:
            segmentation, maps = segmentation.detach(), [m.detach() for m in maps]
        return self.discriminator(segmentation, maps, image)

    def train_step(self, batch: dict[str, Any]) -> dict[str, float]:
        image, target = self.to_device(batch)
        teacher = self.teachers[self.global_step % len(self.teachers)]
        with torch.no_grad(), self.autocast():
            teacher_logits, teacher_features = teacher.forward_features(image)
        with self.autocast():
            logits, features = self.network.forward_features(image)
            task = self.loss(logits, target)
            adversarial = self.gan.generator_loss(self._judge(logits, features, image, detach=False))
            loss = task + self.options["weight"] * adversarial
        self.backward_step(loss, self.optimizer)
        with self.autocast():
            d_real = self._judge(teacher_logits, teacher_features, image, detach=True)
            d_fake = self._judge(logits, features, image, detach=True)
            loss_d = self.gan.discriminator_loss(d_real, d_fake)
        accuracy = discriminator_accuracy(d_real.detach(), d_fake.detach())
        if accuracy <= self.options["d_accuracy_limit"]:
            self.backward_step(loss_d, self.optimizer_d)
        else:
            self.optimizer_d.zero_grad(set_to_none=True)
        self.global_step += 1
        return {"loss": float(loss.detach()), "task": float(task.detach()), "g_adv": float(adversarial.detach()), "d": float(loss_d.detach()), "d_acc": accuracy}
