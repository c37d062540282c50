"""XP-Net (paper 001): U-Net + EPSA teacher, separable-filter student and the hierarchical discriminator."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from kdseg.models.blocks import ConvFactory, conv3x3, double_conv_block, kaiming_init_
from kdseg.models.unet.model import LEVELS, UNetBase
from kdseg.models.xpnet.blocks import DiscriminatorBlock, PyramidSqueezeAttention, separable_conv

__all__ = ["HierarchicalDiscriminator", "PatchDiscriminator", "SeparableUNetEPSA", "UNetEPSA"]

ATTENTION_BLOCK = "enc1"


class UNetEPSA(UNetBase):
    """U-Net with an EPSA module in its first encoder block: the teachers of XP-Net.

    Ragu B et al., "XP-Net: An Attention Segmentation Network by Dual Teacher Hierarchical Knowledge Distillation
    for Polyp Generalization" (EndoCV2022). CABR32-P-CBR64-P-CBR128-P-CBR256-P-CBR512-UPCONV256-CBR256-…-CBR32-CE1:
    the brain-MRI U-Net (see :class:`~kdseg.models.unet.UNet`) whose first block runs conv-BN-ReLU, then
    :class:`~kdseg.models.xpnet.blocks.PyramidSqueezeAttention` (key ``encoder1.enc1attention``), then conv-BN-ReLU.
    All convolutions are He-uniform initialised (the paper found kaiming-uniform converged best). ``forward``
    returns logits (the paper's CE1 sigmoid is applied outside). Features as in
    :class:`~kdseg.models.unet.UNetBase`.

    Parameters at features 32: 7,771,147 = 7,763,041 (U-Net) + 8,106 (PSA at C = 32). Paper 001 reports
    7,774,374, i.e. +11,333 over the U-Net, which no faithful reading of the module reproduces: a brute-force
    search over the natural variants (groups dividing C/4 = 8 per branch — EPSANet's 16 does not —, convolution
    bias or not, a shared or per-branch SE on C/4 or C channels with any bottleneck and bias, up to two extra batch
    norms) finds only arbitrary fits, such as groups (8, 1, 8, 8) with a 5-channel SE over all 32 channels and two
    extra batch norms. The gap is 3,227 parameters (0.04 %).

    Args:
        in_channels: channels of the input image. Defaults to 3.
        out_channels: channels of the output logits. Defaults to 1.
        features: channels of the first block, doubled at every level (>= 4, a multiple of 4 for the PSA).
            Defaults to 32.

    Example:
        >>> model = UNetEPSA(in_channels=3, out_channels=1, features=32)
        >>> model(torch.zeros(1, 3, 512, 512)).shape
        torch.Size([1, 1, 512, 512])
    """

    # the convolution of each block stage (see kdseg.models.blocks.ConvFactory)
    stage_conv: ConvFactory = staticmethod(conv3x3)

    def __init__(self, in_channels: int = 3, out_channels: int = 1, features: int = 32) -> None:
        if features % 4:
            raise ValueError(f"features must be a multiple of 4 (the EPSA module splits them into 4 branches), got {features}")
        super().__init__(in_channels, out_channels, features)
        kaiming_init_(self, "uniform")

    def _make_block(self, in_channels: int, out_channels: int, name: str) -> nn.Module:
        attention = PyramidSqueezeAttention(out_channels) if name == ATTENTION_BLOCK else None
        return double_conv_block(in_channels, out_channels, name, attention=attention, conv=self.stage_conv)


class SeparableUNetEPSA(UNetEPSA):
    """The XP-Net student: :class:`UNetEPSA` with separable filters.

    CAPDBR32-P-CPDBR64-…-CPDBR512-UPCONV256-CPDBR256-…-CPDBR32-CE1 (paper 001, section 2.2.2): every 3×3
    convolution of the teacher becomes a depthwise (1, 5) convolution + 1×1 pointwise convolution in the first
    stage of a block and a depthwise (5, 1) + 1×1 in the second (see
    :class:`~kdseg.models.xpnet.blocks.SeparableConv2d`), each followed by BN and ReLU; the first block keeps the
    EPSA module between its stages (CAPDBR). Transposed convolutions and the 1×1 output are the teacher's.
    Same features as the teacher, so the discriminator reads either network's maps.

    Parameters at features 32: 1,509,882 (1,501,776 without the PSA). Paper 001 reports 1,839,333 and a 78 %
    reduction (its own numbers give 76 %); this reading gives 81 %. The literal reading of the paper's names —
    full (1, 5) and (5, 1) convolutions to K channels, each followed by a full 1×1 — gives 5.5 M (29 %), and no
    mix of depthwise or full stages, with or without the 1×1 convolutions, biases or separable transposed
    convolutions gives 1,839,333 exactly.

    Args:
        in_channels: channels of the input image. Defaults to 3.
        out_channels: channels of the output logits. Defaults to 1.
        features: channels of the first block, doubled at every level (>= 4, a multiple of 4 for the PSA).
            Defaults to 32.

    Example:
        >>> model = SeparableUNetEPSA(in_channels=3, out_channels=1, features=32)
        >>> model(torch.zeros(1, 3, 512, 512)).shape
        torch.Size([1, 1, 512, 512])
    """

    stage_conv: ConvFactory = staticmethod(separable_conv)


class HierarchicalDiscriminator(nn.Module):
    """Patch discriminator that also reads the generator's multi-scale features (HAD-Net, used by XP-Net).

    Vadacchino et al., "HAD-Net: A Hierarchical Adversarial Knowledge Distillation Network for Improved Enhanced
    Tumour Segmentation Without Post-Contrast Images" (MIDL 2021, https://arxiv.org/abs/2103.16617). The
    segmentation probabilities (concatenated with the image when ``image_channels`` > 0) pass through blocks of
    Conv(4×4, stride 2, padding 1) + InstanceNorm + LeakyReLU(0.2), the first without norm; before every later
    block the generator's feature map of the current scale is concatenated. A 3×3 convolution ends in a
    one-channel patch map of raw scores (LSGAN: compared with 1 or 0 by MSE).

    Scales: after block i the map has 1/2^(i+1) of the input size, so block i (i >= 1) takes the generator map at
    1/2^i. For the U-Net family these are ``features["encoder"][1:]`` — encoder2, encoder3, encoder4 and the
    bottleneck at 1/2, 1/4, 1/8, 1/16 with 2f, 4f, 8f, 16f channels; :meth:`generator_features` picks them and
    :meth:`for_generator` sizes the discriminator for a generator. The patch map has 1/32 of the input size, so
    inputs need at least 64 pixels a side (instance norm needs more than one value per channel). The
    widths default to XP-Net's discriminator blocks (DC32, DC128, DC128, DC32, DC32). Paper 001 keeps full
    resolution (3×3 stride-1 convolutions) and concatenates encoder 1, encoder 3, decoder 3 and decoder 1 resized
    to it; HAD-Net's 4×4 stride-2 blocks let each block meet a generator map at its own scale instead.

    Args:
        segmentation_channels: channels of the segmentation input (the generator's out_channels). Defaults to 1.
        image_channels: channels of the image concatenated with it; 0 for none. Defaults to 3.
        feature_channels: channels of the generator maps fed before blocks 1, 2, ... Defaults to (64, 128, 256, 512).
        channels: output channels of every block; one more entry than ``feature_channels``.
            Defaults to (32, 128, 128, 32, 32).

    Example:
        >>> generator = UNetEPSA(features=32)
        >>> discriminator = HierarchicalDiscriminator.for_generator(generator)
        >>> logits, features = generator.forward_features(image)  # doctest: +SKIP
        >>> scores = discriminator(torch.sigmoid(logits), discriminator.generator_features(features), image)  # doctest: +SKIP
    """

    def __init__(
        self,
        segmentation_channels: int = 1,
        image_channels: int = 3,
        feature_channels: Sequence[int] = (64, 128, 256, 512),
        channels: Sequence[int] = (32, 128, 128, 32, 32),
    ) -> None:
        super().__init__()
        if segmentation_channels < 1 or image_channels < 0:
            raise ValueError(
                f"segmentation_channels must be >= 1 and image_channels >= 0, got {segmentation_channels} and {image_channels}"
            )
        if len(channels) != len(feature_channels) + 1:
            raise ValueError(
                f"channels needs one entry per block, i.e. len(feature_channels) + 1 = {len(feature_channels) + 1}, got {list(channels)}"
            )
        if min([*channels, *feature_channels]) < 1:
            raise ValueError(f"channel counts must be >= 1, got channels {list(channels)} and feature_channels {list(feature_channels)}")
        self.image_channels = image_channels
        self.feature_channels = [int(c) for c in feature_channels]
        in_channels = segmentation_channels + image_channels
        blocks = []
        for index, out_channels in enumerate(channels):
            if index:
                in_channels += self.feature_channels[index - 1]
            blocks.append(DiscriminatorBlock(in_channels, out_channels, normalize=index > 0))
            in_channels = out_channels
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Conv2d(in_channels, 1, kernel_size=3, padding=1)

    @classmethod
    def for_generator(
        cls, generator: UNetBase, image_channels: int = 3, channels: Sequence[int] = (32, 128, 128, 32, 32)
    ) -> HierarchicalDiscriminator:
        """A discriminator sized for the segmentation and encoder maps of a U-Net-family ``generator``."""
        feature_channels = [generator.features * 2**level for level in range(1, LEVELS + 1)]
        return cls(generator.out_channels, image_channels, feature_channels, channels)

    @staticmethod
    def generator_features(features: Mapping[str, Any]) -> list[torch.Tensor]:
        """The maps of a U-Net-family ``forward_features`` that the discriminator reads: encoder[1:] (1/2 .. 1/16)."""
        return list(features["encoder"][1:])

    def forward(self, segmentation: torch.Tensor, features: Sequence[torch.Tensor], image: torch.Tensor | None = None) -> torch.Tensor:
        """Patch scores (N, 1, H/32, W/32) for a segmentation, the generator's maps and (optionally) the image.

        Raises:
            ValueError: when the image presence, the number of maps or a map's shape does not fit.
        """
        if (image is None) != (self.image_channels == 0):
            raise ValueError(
                f"This discriminator was built with image_channels={self.image_channels}: pass the image exactly when it is > 0."
            )
        if len(features) != len(self.feature_channels):
            raise ValueError(
                f"Expected {len(self.feature_channels)} generator feature maps "
                f"(1/2 to 1/{2 ** len(self.feature_channels)} scale), got {len(features)}."
            )
        x = segmentation if image is None else torch.cat([segmentation, image], dim=1)
        x = self.blocks[0](x)
        for block, feature, channels in zip(self.blocks[1:], features, self.feature_channels):
            expected = (x.shape[0], channels, *x.shape[2:])
            if tuple(feature.shape) != expected:
                raise ValueError(f"A generator feature map has shape {tuple(feature.shape)}, expected {expected} at this scale.")
            x = block(torch.cat([x, feature], dim=1))
        return self.head(x)


class PatchDiscriminator(nn.Sequential):
    """pix2pix's PatchGAN (Isola et al., CVPR 2017, https://arxiv.org/abs/1611.07004) for (image, mask) pairs.

    Trains XP-Net's second teacher, "a baseline U-Net with EPSA block using pix2pix GAN" (paper 001). Three
    :class:`DiscriminatorBlock` (4×4 stride-2 convolutions, instance norm from the second, LeakyReLU 0.2)
    and a 3×3 convolution to one channel of raw scores, one per 1/8-size patch (LSGAN: compared with 1 or 0).

    Args:
        in_channels: channels of the concatenated image and segmentation. Defaults to 4.
        features: width of the first block, doubled per block. Defaults to 64.

    Example:
        >>> PatchDiscriminator(in_channels=4)(torch.zeros(2, 4, 64, 64)).shape
        torch.Size([2, 1, 8, 8])
    """

    def __init__(self, in_channels: int = 4, features: int = 64) -> None:
        if in_channels < 1 or features < 1:
            raise ValueError(f"in_channels and features must be >= 1, got {in_channels} and {features}")
        super().__init__(
            DiscriminatorBlock(in_channels, features, normalize=False),
            DiscriminatorBlock(features, 2 * features),
            DiscriminatorBlock(2 * features, 4 * features),
            nn.Conv2d(4 * features, 1, kernel_size=3, padding=1),
        )
