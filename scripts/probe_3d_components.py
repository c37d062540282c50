"""Where a 3D model's whole-tumour errors lie: scattered false-positive components or a wrong tumour.

For every model folder under ``results/<preset>/<experiment>/predictions/`` and every label map in it, compares the
predicted whole tumour (label > 0) with the reference of the source case and prints one Markdown row: WT Dice, the
number of connected components (26-connectivity), predicted over reference volume, the share of predicted voxels
outside the brain mask, and the WT Dice of the largest component alone. A model whose largest component scores well
while the whole prediction does not has found the tumour and scatters false positives around it.

    python scripts/probe_3d_components.py results/cpu/brats_ensemble_kd/predictions results/cpu/dsd/predictions \
        --source /path/to/deepmedic-brats2015-3d

The reference and brain mask are read from ``<source>/<case>/OTMultiClass.nii.gz`` and ``brainmask.nii.gz``
(DeepMedic's BRATS 2015 layout).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from scipy import ndimage

from kdseg.data.volumes import load_nifti
from kdseg.metrics.volumetric import region_dice

LABEL_FILE = "OTMultiClass.nii.gz"
BRAIN_FILE = "brainmask.nii.gz"


def _read_mask(path: Path) -> np.ndarray:
    return load_nifti(path)[0] > 0


def component_row(prediction_path: Path, case_folder: Path) -> dict[str, float | int | str]:
    """The statistics of one predicted label map against its source case."""
    prediction, reference = _read_mask(prediction_path), _read_mask(case_folder / LABEL_FILE)
    if prediction.shape != reference.shape:
        raise SystemExit(f"{prediction_path} has shape {prediction.shape} but {case_folder / LABEL_FILE} {reference.shape}")
    brain = _read_mask(case_folder / BRAIN_FILE)
    components, count = ndimage.label(prediction, structure=np.ones((3, 3, 3)))
    largest = components == (np.argmax(np.bincount(components.ravel())[1:]) + 1) if count else prediction
    return {
        "wt_dice": region_dice(prediction, reference),
        "components": int(count),
        "volume_ratio": float(prediction.sum() / max(reference.sum(), 1)),
        "outside_brain": float((prediction & ~brain).sum() / max(prediction.sum(), 1)),
        "largest_component_wt_dice": region_dice(largest, reference),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("predictions", nargs="+", type=Path, help="predictions folders, one sub-folder per model")
    parser.add_argument("--source", type=Path, required=True, help="the DeepMedic BRATS 2015 release folder")
    args = parser.parse_args(argv)
    print("| experiment | model | case | WT Dice | components | predicted / reference voxels | outside the brain | WT Dice, largest component |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for folder in args.predictions:
        for model in sorted(p for p in folder.iterdir() if p.is_dir()):
            for path in sorted(model.glob("*.nii.gz")):
                case = path.name.removesuffix(".nii.gz")
                row = component_row(path, args.source / case)
                print(
                    f"| {folder.parent.name} | {model.name} | {case} | {row['wt_dice']:.3f} | {row['components']} | "
                    f"{row['volume_ratio']:.2f} | {row['outside_brain']:.1%} | {row['largest_component_wt_dice']:.3f} |"
                )


if __name__ == "__main__":
    main()
