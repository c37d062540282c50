"""Console commands of the engine: ``kdseg-train`` and ``kdseg-evaluate``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from kdseg.utils.cli import add_common_args, add_device_args, json_arg, run_entry
from kdseg.utils.memory import retain_freed_memory

__all__ = ["evaluate_entry", "train_entry"]


def train_entry(argv: Sequence[str] | None = None) -> None:
    """``kdseg-train``: train one network (pre-training, teacher or distilled student) with the trainer its settings name."""
    from kdseg.engine import find_trainer

    parser = argparse.ArgumentParser(prog="kdseg-train", description=train_entry.__doc__)
    parser.add_argument("--settings", required=True, type=json_arg, help="[REQUIRED] the model's resolved settings as JSON (kdseg.config.model_settings; the rules pass them).")
    parser.add_argument("--manifest", required=True, type=Path, help="[REQUIRED] manifest CSV.")
    parser.add_argument("--split", required=True, type=Path, help="[REQUIRED] split CSV.")
    parser.add_argument("--out-dir", required=True, type=Path, help="[REQUIRED] output folder (model.pt, history.csv, curves.png, summary.json, state/).")
    parser.add_argument("--augmented", type=Path, help="[OPTIONAL] the experiment's augmented training set.")
    parser.add_argument("--init", type=Path, help="[OPTIONAL] initial weights (kdseg checkpoint or state dict); tensors matching by name and shape are copied.")
    parser.add_argument("--teacher", dest="teachers", action="append", type=Path, default=[], help="[OPTIONAL] a teacher checkpoint; repeat for several.")
    parser.add_argument("--pseudolabels", type=Path, help="[OPTIONAL] folder written by kdseg-pseudolabel.")
    add_device_args(parser)
    add_common_args(parser)

    def work(a: argparse.Namespace) -> None:
        retain_freed_memory()
        trainer_class = find_trainer(a.settings.get("trainer", "Trainer"))
        trainer = trainer_class(
            a.settings, a.manifest, a.split, a.out_dir,
            augmented=a.augmented, init=a.init, teachers=a.teachers, pseudolabels=a.pseudolabels,
            device=a.device, threads=a.threads,
        )
        trainer.run_training()

    run_entry(parser, work, argv)


def evaluate_entry(argv: Sequence[str] | None = None) -> None:
    """``kdseg-evaluate``: predict a subset at each case's own resolution and score it."""
    from kdseg.engine.evaluate import evaluate

    parser = argparse.ArgumentParser(prog="kdseg-evaluate", description=evaluate_entry.__doc__)
    parser.add_argument("--checkpoint", dest="checkpoints", required=True, action="append", type=Path, help="[REQUIRED] model.pt written by kdseg-train; repeat it to score the averaged ensemble of several 3D models.")
    parser.add_argument("--name", help="[OPTIONAL] model name in the metrics JSON. Default: the checkpoint's model, or ensemble for several.")
    parser.add_argument("--manifest", required=True, type=Path, help="[REQUIRED] manifest CSV.")
    parser.add_argument("--split", type=Path, help="[OPTIONAL] split CSV. Default: none, every sample of the manifest is scored (an external test set).")
    parser.add_argument("--subset", choices=("train", "val", "test"), help="[OPTIONAL] subset of --split to score. Default: val with --split.")
    parser.add_argument("--dataset", help="[OPTIONAL] the data set's name, recorded in the metrics JSON for the tables. Default: none.")
    parser.add_argument("--threshold", type=float, default=0.5, help="[OPTIONAL] probability threshold; changes results. Default: 0.5.")
    parser.add_argument("--mirror", action="store_true", help="[OPTIONAL] average each prediction with its mirrored copies (flip TTA: 4 passes in 2D, 8 in 3D); changes results.")
    parser.add_argument("--out-metrics", required=True, type=Path, help="[REQUIRED] JSON of mean metrics.")
    parser.add_argument("--out-per-case", required=True, type=Path, help="[REQUIRED] CSV of per-case metrics.")
    parser.add_argument("--out-predictions", required=True, type=Path, help="[REQUIRED] folder of predicted masks (PNG 0/255 or NIfTI label maps).")
    add_device_args(parser)
    add_common_args(parser)
    run_entry(
        parser,
        lambda a: evaluate(
            a.checkpoints, a.manifest, a.split, a.subset or ("val" if a.split else None), a.out_metrics, a.out_per_case, a.out_predictions,
            threshold=a.threshold, mirror=a.mirror, device=a.device, threads=a.threads, dataset=a.dataset, name=a.name,
        ),
        argv,
    )
