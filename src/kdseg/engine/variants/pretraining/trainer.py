"""Brain-MRI pre-training on 2D slices (paper 002).

Paper 002 (Khadka, MediaEval 2020) fine-tunes a U-Net "pretrained on brain MRI" (mateuszbuda's
brain-segmentation-pytorch: three MR sequences as RGB channels, abnormality mask as target). This
trainer rebuilds that pre-training from the configured brain data set: axial slices of the split's
train and val cases, three modalities as channels, whole tumour as target, at the experiment's size.
"""

from __future__ import annotations

from torch.utils.data import Dataset

from kdseg.data.manifest import select_subset
from kdseg.engine.data import BrainSliceSet, is_volumetric
from kdseg.engine.trainer import Trainer
from kdseg.utils.errors import ConfigError

__all__ = ["SliceTrainer"]


class SliceTrainer(Trainer):
    """A 2D network trained on brain slices (3 channels in, whole-tumour mask out)."""

    def build_datasets(self) -> tuple[Dataset, Dataset | None]:
        if not is_volumetric(self.manifest):
            raise ConfigError(f"{self.where}: SliceTrainer pre-trains on a brain data set (3D layout); {self.manifest_path} is 2D. Set the model's `dataset` to a BraTS data set.")
        self.patch_size = tuple(self.settings["size"])
        self.volumetric = False  # the network sees 2D slices of the 3D cases
        input_range = self.train_settings.input_range
        train = BrainSliceSet(select_subset(self.manifest, self.split, "train"), self.patch_size, input_range=input_range)
        val_rows = select_subset(self.manifest, self.split, "val")
        val = BrainSliceSet(val_rows, self.patch_size, input_range=input_range) if not val_rows.empty else None
        return train, val

    def network_channels(self) -> tuple[int, int]:
        return 3, 1
