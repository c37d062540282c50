"""Augmentation: one recipe per reproduced paper, and the stage that writes a 2D experiment's augmented training set."""

from __future__ import annotations

from kdseg.augment.materialize import augment_dataset
from kdseg.augment.recipes import (
    RECIPES,
    AttUNetTransferRecipe,
    AugmentedSample,
    BratsEnsembleKDRecipe,
    DSDRecipe,
    KDResUNetPPRecipe,
    Recipe,
    Recipe2D,
    Recipe3D,
    XPNetRecipe,
    seeded_compose,
    zscore_nonzero,
)

__all__ = [
    "RECIPES",
    "AttUNetTransferRecipe",
    "AugmentedSample",
    "BratsEnsembleKDRecipe",
    "DSDRecipe",
    "KDResUNetPPRecipe",
    "Recipe",
    "Recipe2D",
    "Recipe3D",
    "XPNetRecipe",
    "augment_dataset",
    "seeded_compose",
    "zscore_nonzero",
]
