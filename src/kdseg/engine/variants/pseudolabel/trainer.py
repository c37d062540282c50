"""Distillation by pseudo-labels (paper 004, after Lachinov et al. 2020 and Radosavovic et al. 2018).

The averaged ensemble of the teachers labels the held-out "unlabelled" cases (``kdseg-pseudolabel``);
the student — the best single architecture, trained from scratch — learns from the original training
data plus those cases. "Best" is judged on the validation split (each teacher checkpoint's
``best_metric``), never on the test cases the tables report.
"""

from __future__ import annotations

import logging
import math

from torch.utils.data import Dataset

from kdseg.data.manifest import read_manifest
from kdseg.engine.checkpoint import load_checkpoint
from kdseg.engine.data import EpochConcatDataset
from kdseg.engine.trainer import Trainer
from kdseg.models import SegmentationModel, create_model
from kdseg.utils.errors import ConfigError

__all__ = ["PseudoLabelDistillationTrainer"]

log = logging.getLogger(__name__)


class PseudoLabelDistillationTrainer(Trainer):
    """Train on patches of the training cases plus patches of the pseudo-labelled cases, drawn alike.

    ``arch: best_teacher`` re-creates (untrained) the architecture of the teacher with the highest
    validation score; any registry name trains that architecture instead.
    """

    def build_network(self) -> SegmentationModel:
        if self.settings["arch"] != "best_teacher":
            return super().build_network()
        if not self.teacher_paths:
            raise ConfigError(f"{self.where}: arch best_teacher needs `teachers:` to choose from.")
        candidates = [load_checkpoint(p) for p in self.teacher_paths]
        scores = [c["meta"].get("best_metric") for c in candidates]
        best = max(range(len(candidates)), key=lambda i: -math.inf if scores[i] is None else scores[i])
        chosen = candidates[best]
        self.chosen_arch = chosen["arch"]
        log.info("best teacher on validation: %s (%s, %s=%s); its architecture is trained from scratch", self.teacher_paths[best], self.chosen_arch, self.train_settings.monitor, scores[best])
        return create_model(self.chosen_arch, **chosen["arch_kwargs"])

    def build_datasets(self) -> tuple[Dataset, Dataset | None]:
        train, val = super().build_datasets()
        if self.pseudolabels is None:
            raise ConfigError(f"{self.where}: {type(self).__name__} needs the pseudo-labelled cases (--pseudolabels; set distill.pseudolabels to the subset to label).")
        pseudo_rows = read_manifest(self.pseudolabels / "manifest.csv")
        log.info("training on %d patches of labelled cases + %d of pseudo-labelled cases per epoch", len(train), len(pseudo_rows) * train.patches_per_case)
        return EpochConcatDataset([train, self.build_patch_set(pseudo_rows)]), val
