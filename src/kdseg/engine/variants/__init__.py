"""Trainer variants, one concern per sub-package; each overrides the hooks that change (nnU-Net style)."""
