"""kd_resunetpp augmentation of the real Kvasir-SEG training set (official Medico 2020 split).

Reads ../shared/data/kvasir-seg when present and skips otherwise; the manifest is built here from the
files (not by the ingest stage) so this test depends on the augment stage only.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from kdseg.augment import augment_dataset
from kdseg.data.images import binarise_mask, read_mask, read_rgb
from kdseg.data.manifest import AUGMENTED_COLUMNS, MANIFEST_2D_COLUMNS

KVASIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "kvasir-seg"
OUTPUTS_PER_IMAGE = 3  # original + rot90^k + its horizontal flip, copies=1

pytestmark = [pytest.mark.real_data, pytest.mark.slow]


@pytest.fixture(scope="module")
def kvasir() -> Path:
    if not (KVASIR / "images").is_dir():
        pytest.skip(f"real Kvasir-SEG not found at {KVASIR}")
    return KVASIR


def _kvasir_tables(root: Path, folder: Path) -> tuple[Path, Path]:
    """Write a 2D manifest of every image/mask pair and the official 880/120 split table."""
    rows = []
    for image in sorted((root / "images").glob("*.jpg")):
        mask = root / "masks" / image.name
        with Image.open(image) as img:
            width, height = img.size
        with Image.open(mask) as gray:
            fixed = binarise_mask(np.asarray(gray.convert("L")))[1]
        rows.append([image.stem, str(image), str(mask), width, height, "", "", image.stem, fixed])
    manifest = folder / "manifest.csv"
    pd.DataFrame(rows, columns=list(MANIFEST_2D_COLUMNS)).to_csv(manifest, index=False)
    splits = root / "splits" / "medico2020"
    subsets = [(line.strip(), subset) for subset in ("train", "val") for line in (splits / f"{subset}.txt").read_text().splitlines() if line.strip()]
    split = folder / "medico2020.csv"
    pd.DataFrame(subsets, columns=["id", "subset"]).to_csv(split, index=False)
    return manifest, split


def test_kd_resunetpp_on_real_kvasir(kvasir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    manifest, split = _kvasir_tables(kvasir, tmp_path)
    train_ids = (kvasir / "splits" / "medico2020" / "train.txt").read_text().split()
    assert len(train_ids) == 880
    out = tmp_path / "augmented"
    started = time.perf_counter()
    with caplog.at_level(logging.INFO, logger="kdseg.augment.materialize"):
        table = augment_dataset(manifest, split, "kd_resunetpp", (256, 256), 1, 0, out, threads=2)
    elapsed = time.perf_counter() - started
    print(f"kd_resunetpp on 880 Kvasir-SEG images at 256x256, copies=1, threads=2: {elapsed:.1f} s")

    assert len(table) == 880 * OUTPUTS_PER_IMAGE
    assert tuple(pd.read_csv(out / "manifest.csv").columns) == AUGMENTED_COLUMNS
    assert sorted(set(table["source_id"])) == sorted(train_ids)
    assert len(list((out / "images").iterdir())) == len(list((out / "masks").iterdir())) == 880 * OUTPUTS_PER_IMAGE
    assert "wrote 2640 augmented samples from 880 training samples" in caplog.text
    for mask_path in (out / "masks").iterdir():
        with Image.open(mask_path) as mask:
            assert mask.size == (256, 256)
            assert set(np.unique(np.asarray(mask))) <= {0, 255}, mask_path.name
    # one sample end to end: copy 1 is a 90° rotation of copy 0 and copy 2 its mirror image
    first = train_ids[0]
    original = read_rgb(out / f"images/{first}__00.png")
    rotated = read_rgb(out / f"images/{first}__01.png")
    assert original.shape == (256, 256, 3)
    assert any(np.array_equal(rotated, np.rot90(original, k)) for k in range(4))
    np.testing.assert_array_equal(read_rgb(out / f"images/{first}__02.png"), np.fliplr(rotated))
    np.testing.assert_array_equal(read_mask(out / f"masks/{first}__02.png"), np.fliplr(read_mask(out / f"masks/{first}__01.png")))
