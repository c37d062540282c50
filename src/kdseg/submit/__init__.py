"""Challenge packages (MediaEval 2020 Medico tasks 1 and 2, EndoCV2021/2022, BraTS) and their validators.

Every packager predicts with the exported ONNX model, checks the package with the validator of
:mod:`kdseg.submit.validate` and only then writes it (atomically).
"""

from __future__ import annotations

from kdseg.submit.brats import package_brats
from kdseg.submit.endocv import package_endocv
from kdseg.submit.mediaeval import package_mediaeval
from kdseg.submit.validate import (
    Problem,
    SubmissionError,
    validate_brats,
    validate_endocv,
    validate_mediaeval_task1,
    validate_mediaeval_task2,
)

__all__ = [
    "Problem",
    "SubmissionError",
    "package_brats",
    "package_endocv",
    "package_mediaeval",
    "validate_brats",
    "validate_endocv",
    "validate_mediaeval_task1",
    "validate_mediaeval_task2",
]
