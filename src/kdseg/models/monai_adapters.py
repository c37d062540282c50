"""MONAI's UNETR and DynUNet (nnU-Net) behind the kdseg model contract, with the heads of Dual Self-Distillation.

The networks themselves are MONAI's (``monai.networks.nets.UNETR`` and ``DynUNet``), held as ``self.backbone``;
the adapters only run the backbone's blocks in order to keep the encoder and decoder maps, and add the
training-only "bottleneck modules" of Banerjee et al., "Dual Self-Distillation of U-shaped Networks for 3D
Medical Image Segmentation", ISBI 2024 (paper 003, https://github.com/soumbane/DualSelfDistillation).

Levels, as in the reference code: a U-shaped backbone with Z skip connections has Z encoder levels (the skip
maps; the bottleneck is not one) and Z decoder levels (the bottleneck, then every decoder block but the last,
whose output feeds the main 1×1×1 output block). A :class:`~kdseg.models.blocks3d.DistillationHead3d` on each
level turns it into full-resolution logits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from monai.networks.nets import UNETR, DynUNet
from monai.utils import ensure_tuple_rep
from torch import nn

from kdseg.models.base import SegmentationModel
from kdseg.models.blocks3d import DistillationHead3d

__all__ = ["DynUNetSeg", "UNETRSeg"]

UNETR_PATCH_SIZE = 16  # fixed inside monai.networks.nets.UNETR


class _DSDAdapter(SegmentationModel):
    """Shared part of the MONAI adapters: the DSD heads and the features they produce.

    Subclasses build ``self.backbone``, call :meth:`_build_dsd_heads` and implement :meth:`_backbone_features`.
    In training mode with heads, ``forward_features`` adds two keys:

    - "decoder_outputs": Z logits at full resolution, index 0 from the decoder level nearest full resolution
      (DSD's decoder teacher), the last from the bottleneck;
    - "encoder_outputs": Z logits at full resolution, index 0 from the top (full-resolution) encoder level, the
      last from the deepest encoder level (DSD's encoder teacher).

    In eval mode the heads are skipped, so inference and ONNX exports are the bare backbone.
    """

    spatial_dims = 3
    dsd_heads: nn.ModuleDict | None

    def _build_dsd_heads(self, encoder_channels: Sequence[int], decoder_channels: Sequence[int]) -> None:
        """Heads for the levels of a backbone with ``encoder_channels`` (top first, bottleneck last) and
        ``decoder_channels`` (decoding order, full resolution last); every level halves the resolution."""
        k = self.out_channels
        skip_levels = encoder_channels[:-1]  # top first
        decoder_levels = [encoder_channels[-1], *decoder_channels[:-1]][::-1]  # nearest full resolution first
        self.dsd_heads = nn.ModuleDict(
            {
                "encoder": nn.ModuleList(DistillationHead3d(c, k, 2**i) for i, c in enumerate(skip_levels)),
                "decoder": nn.ModuleList(DistillationHead3d(c, k, 2 ** (i + 1)) for i, c in enumerate(decoder_levels)),
            }
        )

    def _backbone_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """Logits, encoder maps (top first, bottleneck last) and decoder maps (decoding order)."""
        raise NotImplementedError

    def _forward_features(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        logits, encoder, decoder = self._backbone_features(x)
        features: dict[str, Any] = {"encoder": encoder, "decoder": decoder}
        if self.training and self.dsd_heads is not None:
            decoder_levels = [encoder[-1], *decoder[:-1]][::-1]
            features["encoder_outputs"] = [head(f) for head, f in zip(self.dsd_heads["encoder"], encoder[:-1])]
            features["decoder_outputs"] = [head(f) for head, f in zip(self.dsd_heads["decoder"], decoder_levels)]
        return logits, features

    def parameter_counts(self) -> dict[str, int]:
        """Trainable parameters of the backbone (used at inference) and of the training-only DSD heads."""
        heads = sum(p.numel() for p in self.dsd_heads.parameters()) if self.dsd_heads is not None else 0
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        return {"backbone": trainable - heads, "dsd_heads": heads}


class UNETRSeg(_DSDAdapter):
    """UNETR (ViT encoder, convolutional decoder) with optional Dual Self-Distillation heads.

    Hatamizadeh et al., "UNETR: Transformers for 3D Medical Image Segmentation", WACV 2022
    (https://arxiv.org/abs/2103.10504), as ``monai.networks.nets.UNETR``; DSD heads after Banerjee et al. 2024
    (see the module docstring). Encoder levels: encoder1..encoder4 (full, ½, ¼, ⅛ resolution); decoder levels:
    the projected ViT output (1/16), decoder5, decoder4, decoder3 (⅛, ¼, ½). The ViT has a fixed number of
    16³ patches, so the input must have exactly ``img_size`` (use sliding-window inference on whole volumes).

    Args:
        in_channels: input modalities. Defaults to 4.
        out_channels: output channels: 3 sigmoid regions WT/TC/ET, or background + the labels as a softmax
            (``train.targets: labels``, as the DSD reference trains: 4 classes on MSD BraTS). Defaults to 3.
        img_size: input size, multiples of 16. Defaults to (96, 96, 96).
        feature_size: channels of the top convolutional level. Defaults to 16.
        hidden_size: ViT embedding size. Defaults to 768.
        mlp_dim: ViT feed-forward size. Defaults to 3072.
        num_heads: ViT attention heads; must divide ``hidden_size``. Defaults to 12.
        proj_type: patch embedding, "conv" or "perceptron" (needs einops). Defaults to "conv".
        dropout_rate: ViT dropout. Defaults to 0.0.
        deep_supervision: build the training-only DSD heads on every encoder and decoder level (keys
            "decoder_outputs" and "encoder_outputs"); False gives the bare UNETR (the paper's "Basic" row).
            Defaults to True.

    Example:
        >>> model = UNETRSeg(in_channels=4, out_channels=3, img_size=(96, 96, 96))
        >>> logits, features = model.forward_features(torch.zeros(1, 4, 96, 96, 96))
        >>> len(features["decoder_outputs"]), features["decoder_outputs"][0].shape
        (4, torch.Size([1, 3, 96, 96, 96]))
    """

    required_divisor = UNETR_PATCH_SIZE

    def __init__(
        self,
        in_channels: int = 4,
        out_channels: int = 3,
        img_size: Sequence[int] | int = (96, 96, 96),
        feature_size: int = 16,
        hidden_size: int = 768,
        mlp_dim: int = 3072,
        num_heads: int = 12,
        proj_type: str = "conv",
        dropout_rate: float = 0.0,
        deep_supervision: bool = True,
    ) -> None:
        super().__init__(in_channels, out_channels)
        self.img_size = tuple(int(s) for s in ensure_tuple_rep(img_size, self.spatial_dims))
        if any(s < UNETR_PATCH_SIZE or s % UNETR_PATCH_SIZE for s in self.img_size):
            raise ValueError(f"img_size must be multiples of UNETR's patch size {UNETR_PATCH_SIZE}, got {self.img_size}")
        self.backbone = UNETR(
            in_channels=in_channels,
            out_channels=out_channels,
            img_size=self.img_size,
            feature_size=feature_size,
            hidden_size=hidden_size,
            mlp_dim=mlp_dim,
            num_heads=num_heads,
            proj_type=proj_type,
            dropout_rate=dropout_rate,
        )
        # MONAI builds a cross-attention LayerNorm in every ViT block even without cross-attention; it never
        # runs, so freeze it: optimisers and parameter counts see only the parameters training can change
        for block in self.backbone.vit.blocks:
            if not block.with_cross_attention:
                block.norm_cross_attn.requires_grad_(False)
        self.dsd_heads = None
        if deep_supervision:
            self._build_dsd_heads(
                encoder_channels=[feature_size, 2 * feature_size, 4 * feature_size, 8 * feature_size, hidden_size],
                decoder_channels=[8 * feature_size, 4 * feature_size, 2 * feature_size, feature_size],
            )
        self._record_init_kwargs(
            in_channels=in_channels,
            out_channels=out_channels,
            img_size=self.img_size,
            feature_size=feature_size,
            hidden_size=hidden_size,
            mlp_dim=mlp_dim,
            num_heads=num_heads,
            proj_type=proj_type,
            dropout_rate=dropout_rate,
            deep_supervision=deep_supervision,
        )

    def check_input_shape(self, x: torch.Tensor) -> None:
        """As the base check, and the spatial size must equal ``img_size``."""
        super().check_input_shape(x)
        if tuple(x.shape[2:]) != self.img_size:
            raise RuntimeError(
                f"UNETRSeg was built for img_size {self.img_size} (its ViT has a fixed number of patches); got "
                f"{tuple(x.shape[2:])}. Crop or pad the input to {self.img_size}, or run sliding-window inference "
                f"with roi_size={self.img_size}."
            )

    def _backbone_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        # the steps of UNETR.forward, keeping the maps; ViT hidden states 3, 6 and 9 feed encoder2..4 there too
        net = self.backbone
        tokens, hidden_states = net.vit(x)
        encoder = [
            net.encoder1(x),
            net.encoder2(net.proj_feat(hidden_states[3])),
            net.encoder3(net.proj_feat(hidden_states[6])),
            net.encoder4(net.proj_feat(hidden_states[9])),
            net.proj_feat(tokens),
        ]
        decoder = []
        h = encoder[-1]
        for block, skip in zip((net.decoder5, net.decoder4, net.decoder3, net.decoder2), reversed(encoder[:-1])):
            h = block(h, skip)
            decoder.append(h)
        return net.out(h), encoder, decoder


class DynUNetSeg(_DSDAdapter):
    """nnU-Net's 3D U-Net (MONAI DynUNet) with optional Dual Self-Distillation heads.

    Isensee et al., "nnU-Net: a self-configuring method for deep learning-based biomedical image segmentation",
    Nature Methods 2021, as ``monai.networks.nets.DynUNet``; DSD heads after Banerjee et al. 2024 (see the module
    docstring). One level per entry of ``filters``: 3×3×3 kernels, stride 1 at the top and 2 below, instance
    norm and leaky ReLU (MONAI's defaults). MONAI's own deep-supervision heads are not used; the DSD decoder
    heads take their place (their outputs are at full resolution).

    Args:
        in_channels: input modalities. Defaults to 4.
        out_channels: output channels: 3 sigmoid regions WT/TC/ET, or background + the labels as a softmax
            (``train.targets: labels``). Defaults to 3.
        filters: channels per level, top first; at least 3 levels; inputs must be divisible by
            ``2**(len(filters) - 1)``. Defaults to (32, 64, 128, 256, 320) (nnU-Net; the DSD reference used
            (16, 32, 64, 128, 256) on MSD BraTS).
        kernel_size: cubic kernel size of every convolution. Defaults to 3.
        res_block: residual convolution blocks, as in the DSD reference code. Defaults to True.
        dropout: dropout inside the blocks; 0 disables it. Defaults to 0.0.
        deep_supervision: build the training-only DSD heads on every encoder and decoder level (keys
            "decoder_outputs" and "encoder_outputs"); False gives the bare network (the paper's "Basic" row).
            Defaults to True.

    Example:
        >>> model = DynUNetSeg(in_channels=4, out_channels=3, filters=(32, 64, 128, 256, 320))
        >>> model.required_divisor
        16
    """

    def __init__(
        self,
        in_channels: int = 4,
        out_channels: int = 3,
        filters: Sequence[int] = (32, 64, 128, 256, 320),
        kernel_size: int = 3,
        res_block: bool = True,
        dropout: float = 0.0,
        deep_supervision: bool = True,
    ) -> None:
        super().__init__(in_channels, out_channels)
        levels = len(filters)
        if levels < 3 or min(filters) < 1:
            raise ValueError(
                f"filters needs at least 3 positive widths (top, one downsampling, bottleneck), got {list(filters)}"
            )
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and positive, got {kernel_size}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        strides = [1] + [2] * (levels - 1)
        self.required_divisor = 2 ** (levels - 1)
        self.backbone = DynUNet(
            spatial_dims=self.spatial_dims,
            in_channels=in_channels,
            out_channels=out_channels,
            kernel_size=[kernel_size] * levels,
            strides=strides,
            upsample_kernel_size=strides[1:],
            filters=list(filters),
            dropout=dropout or None,
            res_block=res_block,
        )
        self.dsd_heads = None
        if deep_supervision:
            self._build_dsd_heads(encoder_channels=list(filters), decoder_channels=list(filters)[-2::-1])
        self._record_init_kwargs(
            in_channels=in_channels,
            out_channels=out_channels,
            filters=filters,
            kernel_size=kernel_size,
            res_block=res_block,
            dropout=dropout,
            deep_supervision=deep_supervision,
        )

    def _backbone_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        # the path DynUNet.skip_layers takes, keeping the maps; its upsamples are stored deepest first
        net = self.backbone
        h = net.input_block(x)
        encoder = [h]
        for block in [*net.downsamples, net.bottleneck]:
            h = block(h)
            encoder.append(h)
        decoder = []
        for block, skip in zip(net.upsamples, reversed(encoder[:-1])):
            h = block(h, skip)
            decoder.append(h)
        return net.output_block(h), encoder, decoder
