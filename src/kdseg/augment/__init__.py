"""Offline augmentation: one recipe per reproduced paper, and the stage that writes the augmented training set."""

from __future__ import annotations

from kdseg.augment.materialize import VOLUME_COLUMNS, augment_dataset
from kdseg.augment.recipes import (
    RECIPES,
    AttUNetTransferRecipe,
    AugmentedSample,
    BratsEnsembleKDRecipe,
    DSDRecipe,
    KDResUNetPPRecipe,
    Recipe,
    XPNetRecipe,
    seeded_compose,
    zscore_nonzero,
)

__all__ = [
    "RECIPES",
    "VOLUME_COLUMNS",
    "AttUNetTransferRecipe",
    "AugmentedSample",
    "BratsEnsembleKDRecipe",
    "DSDRecipe",
    "KDResUNetPPRecipe",
    "Recipe",
    "XPNetRecipe",
    "augment_dataset",
    "seeded_compose",
    "zscore_nonzero",
]
