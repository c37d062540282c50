"""BraTS segmentation package: one label map per case, in the configured label convention.

Menze et al. 2015, Bakas et al. 2017, Baid et al. 2021 (https://www.synapse.org/brats2021) and the
BraTS 2023 challenges: ``<case-id>.nii.gz`` per case with the input volume's shape and affine, labels
0/1/2/4 (``brats2021``: necrotic core 1, oedema 2, enhancing tumour 4) or 0/1/2/3 (``brats2023``:
enhancing tumour 3). The exported ONNX model predicts the three nested regions (WT, TC, ET) with
kdseg's Gaussian sliding-window inference at the training patch size; the thresholded regions become
labels the way :func:`kdseg.data.volumes.regions_to_labels` writes them. The zip's bytes are reproducible.

Cases come from a split's subset, or from a folder of BraTS case folders as the challenge hands them out
(``<case>/<case>_{flair,t1,t1ce,t2}.nii.gz`` or ``<case>/<case>-{t2f,t1n,t1c,t2w}.nii.gz``); the channels
are taken in the order of the modalities the model was trained on.

Example:
    >>> package_brats("model.pt", "model.onnx", "brats.zip", labels="brats2021", images_dir="BraTS2021_Validation/")
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kdseg.data.conversion import brats as brats_layout
from kdseg.data.volumes import label_regions, load_case, nifti_bytes, regions_to_labels
from kdseg.engine.checkpoint import load_checkpoint
from kdseg.engine.inference import predict_label_map
from kdseg.export.onnx import OnnxModel, onnxruntime_session, subset_rows
from kdseg.submit.common import is_split_source
from kdseg.submit.validate import BRATS_LABELS, validate_brats
from kdseg.utils.errors import DataError
from kdseg.utils.io import write_bytes, zip_bytes
from kdseg.utils.options import look_up_option
from kdseg.utils.progress import progress

__all__ = ["input_cases", "package_brats"]

log = logging.getLogger(__name__)


def _folder_cases(folder: Path, modalities: Sequence[str]) -> list[tuple[str, str]]:
    cases = []
    for sample in brats_layout.find_samples(folder, {}):
        files = dict(zip(sample.modalities, sample.images))
        lacking = [m for m in modalities if m not in files or not files[m].is_file()]
        if lacking:
            raise DataError(f"case folder {folder / sample.id} lacks the modalities {lacking} the model was trained on ({', '.join(modalities)}).")
        cases.append((sample.id, ";".join(str(files[m]) for m in modalities)))
    return cases


def input_cases(
    modalities: Sequence[str],
    *,
    manifest: str | Path | None = None,
    split: str | Path | None = None,
    subset: str | None = None,
    images_dir: str | Path | None = None,
) -> list[tuple[str, str]]:
    """(case id, ``;``-separated modality files in ``modalities`` order) of a split's subset or a folder.

    Raises:
        DataError: when both or neither source is given, the folder holds no case, or a case lacks a modality.
    """
    if is_split_source(manifest=manifest, split=split, subset=subset, images_dir=images_dir):
        rows = subset_rows(manifest, split, subset)
        return list(zip(rows["id"], rows["image"]))
    folder = Path(images_dir)
    if not folder.is_dir():
        raise DataError(f"test case folder {folder} does not exist; point submission.brats.images.folder at the challenge's cases.")
    cases = _folder_cases(folder, modalities)
    if not cases:
        raise DataError(f"no BraTS case folders in {folder}; expected {brats_layout.EXPECTED}.")
    return cases


def package_brats(
    checkpoint: str | Path,
    onnx: str | Path,
    out: str | Path,
    *,
    labels: str = "brats2021",
    manifest: str | Path | None = None,
    split: str | Path | None = None,
    subset: str | None = None,
    images_dir: str | Path | None = None,
    threads: int = 1,
    threshold: float = 0.5,
    mirror: bool = False,
) -> dict[str, Any]:
    """Write the BraTS zip of label maps, validated first.

    Args:
        checkpoint: ``model.pt`` of the 3D model (for its patch size and modalities).
        onnx: the model's ``.onnx`` file (what predicts the label maps).
        out: the zip to write.
        labels: label convention of the maps, ``brats2021`` (0/1/2/4) or ``brats2023`` (0/1/2/3). Defaults to "brats2021".
        manifest: manifest CSV, with ``split`` and ``subset``, when the cases are a split's subset. Defaults to None.
        split: split CSV. Defaults to None.
        subset: subset of the split. Defaults to None.
        images_dir: a folder of BraTS case folders instead. Defaults to None.
        threads: ONNX Runtime threads. Defaults to 1.
        threshold: probability threshold of each region; changes results. Defaults to 0.5.
        mirror: average the predictions of the 8 mirrored copies (flip test-time augmentation). Defaults to False.

    Returns:
        a summary: cases, label convention, the written path.

    Raises:
        DataError: unusable inputs; :class:`~kdseg.submit.validate.SubmissionError` if the package breaks a rule.
    """
    convention = look_up_option(labels, BRATS_LABELS, "BraTS label convention")
    meta = load_checkpoint(checkpoint)["meta"]
    if meta.get("spatial_dims") != 3:
        raise DataError(f"{checkpoint} is not a 3D model; the BraTS package needs the brain model (submission.brats.model).")
    modalities = str(meta.get("modalities", "")).split(",")
    cases = input_cases(modalities, manifest=manifest, split=split, subset=subset, images_dir=images_dir)
    model = OnnxModel(onnxruntime_session(onnx, threads), spatial_dims=3)
    members, geometry = {}, {}
    for case, files in progress(cases, desc="segment", unit="case"):
        volume, affine = load_case(files)
        if volume.shape[0] != len(modalities):
            raise DataError(f"case {case} has {volume.shape[0]} channel(s) but the model was trained on {len(modalities)} ({', '.join(modalities)}).")
        # the model's own label map (its data set's convention), then written in the package's convention
        model_convention = meta.get("label_convention", "brats")
        regions = label_regions(predict_label_map([model], volume, meta, model_convention, threshold, mirror=mirror), model_convention)
        members[f"{case}.nii.gz"] = nifti_bytes(regions_to_labels(regions.astype(bool), convention), affine)
        geometry[case] = (volume.shape[1:], np.asarray(affine))
    archive = zip_bytes(members)
    validate_brats(archive, geometry, labels)
    write_bytes(out, archive)
    log.info("wrote %s: %d label maps (%s labels)", out, len(members), labels)
    return {"cases": len(members), "labels": labels, "out": str(out)}
