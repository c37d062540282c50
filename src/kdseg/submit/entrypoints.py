"""Console command ``kdseg-package``: one sub-command per challenge (mediaeval2020, endocv2022, brats)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from kdseg.utils.cli import add_common_args, run_entry

__all__ = ["package_entry"]


def _add_package_args(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--checkpoint", required=True, type=Path, help="[REQUIRED] model.pt of the packaged model (input size, range, modalities).")
    parser.add_argument("--onnx", required=True, type=Path, help="[REQUIRED] the model's .onnx file written by kdseg-export-onnx; it makes the predictions.")
    parser.add_argument("--out", required=True, type=Path, help="[REQUIRED] zip to write.")
    source = parser.add_argument_group(f"test {what} [REQUIRED: --manifest, --split and --subset, or --images-dir]")
    source.add_argument("--manifest", type=Path, help="manifest CSV of the data set whose split subset is the test set.")
    source.add_argument("--split", type=Path, help="split CSV.")
    source.add_argument("--subset", help="subset of the split (train, val, test, unlabelled).")
    source.add_argument("--images-dir", type=Path, help=f"a folder of test {what} as the challenge hands them out.")
    parser.add_argument("--threshold", type=float, default=0.5, help="[OPTIONAL] probability threshold; changes results. Default: 0.5.")
    flips = "case's 8 mirrored predictions (flip TTA, 8x slower)" if what == "cases" else "image's 4 mirrored predictions (flip TTA, one call of a batch of 4)"
    parser.add_argument("--mirror", action="store_true", help=f"[OPTIONAL] average each {flips}; changes results.")
    parser.add_argument("--threads", type=int, default=1, help="[OPTIONAL] ONNX Runtime threads. Default: 1.")
    add_common_args(parser)


def package_entry(argv: Sequence[str] | None = None) -> None:
    """``kdseg-package``: predict a challenge's test set with the exported model, validate the package, write it."""
    parser = argparse.ArgumentParser(prog="kdseg-package", description=package_entry.__doc__)
    challenges = parser.add_subparsers(dest="challenge", required=True, metavar="{mediaeval2020,endocv2022,brats}")
    mediaeval = challenges.add_parser("mediaeval2020", help="MediaEval 2020 Medico: task-1 zip of masks and task-2 Docker build context.")
    _add_package_args(mediaeval, "images")
    mediaeval.add_argument("--out-task2", required=True, type=Path, help="[REQUIRED] zip of the task-2 Docker build context to write.")
    endocv = challenges.add_parser("endocv2022", help="EndoCV2021/2022 in the organisers' layout: <subset>_pred/<stem>_mask.jpg per image and a timing file per subset, zipped.")
    _add_package_args(endocv, "images")
    brats = challenges.add_parser("brats", help="BraTS: <case>.nii.gz label maps, zipped.")
    _add_package_args(brats, "cases")
    brats.add_argument("--labels", default="brats2021", choices=("brats2021", "brats2023"), help="[OPTIONAL] label values: brats2021 = 0/1/2/4, brats2023 = 0/1/2/3. Default: brats2021.")

    def work(a: argparse.Namespace) -> None:
        source = {"manifest": a.manifest, "split": a.split, "subset": a.subset, "images_dir": a.images_dir}
        common = {"threads": a.threads, "threshold": a.threshold, "mirror": a.mirror, **source}
        if a.challenge == "mediaeval2020":
            from kdseg.submit.mediaeval import package_mediaeval

            package_mediaeval(a.checkpoint, a.onnx, a.out, a.out_task2, **common)
        elif a.challenge == "endocv2022":
            from kdseg.submit.endocv import package_endocv

            package_endocv(a.checkpoint, a.onnx, a.out, **common)
        else:
            from kdseg.submit.brats import package_brats

            package_brats(a.checkpoint, a.onnx, a.out, labels=a.labels, **common)

    run_entry(parser, work, argv)
