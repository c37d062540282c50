"""ResUNet++ (Jha et al. 2019) and its blocks."""

from __future__ import annotations

from kdseg.models.resunetpp.decoder import ASPP, AttentionBlock, DecoderBlock, ResidualSEBlock, ResUNetPlusPlusDecoder
from kdseg.models.resunetpp.model import ResUNetPlusPlus

__all__ = ["ASPP", "AttentionBlock", "DecoderBlock", "ResUNetPlusPlus", "ResUNetPlusPlusDecoder", "ResidualSEBlock"]
