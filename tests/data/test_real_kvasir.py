"""Ingest and split of the real Kvasir-SEG (../shared/data/kvasir-seg); skipped when it is absent.

Ingests the 1000 pairs once per module (about 20 s with 2 threads on a 2-core machine; the time is printed).
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest

from kdseg.data.ingest import ingest
from kdseg.data.split import make_split, read_id_list

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
KVASIR = SHARED_DATA / "kvasir-seg"
MEDICO = KVASIR / "splits" / "medico2020"

pytestmark = [pytest.mark.real_data, pytest.mark.slow]


@pytest.fixture(scope="module")
def shared_data() -> Path:
    if not KVASIR.is_dir():
        pytest.skip(f"real data not present: {KVASIR}")
    return KVASIR


@pytest.fixture(scope="module")
def ingested(shared_data, tmp_path_factory) -> tuple[Path, pd.DataFrame, Path]:
    out = tmp_path_factory.mktemp("kvasir")
    start = time.perf_counter()
    manifest = ingest("kvasir_seg", shared_data, out / "manifest.csv", out / "bad_samples.csv", threads=2)
    print(f"\ningest of the real Kvasir-SEG (1000 pairs, threads=2): {time.perf_counter() - start:.1f} s")
    return out / "manifest.csv", manifest, out / "bad_samples.csv"


def test_ingest_gives_1000_clean_samples(ingested):
    _, manifest, report = ingested
    assert len(manifest) == 1000 and manifest["id"].is_unique and manifest["id"].is_monotonic_increasing
    assert pd.read_csv(report).empty
    # SOURCE.md: sizes range from 332x487 to 1920x1072; masks are JPEG, so some noise is always fixed
    assert manifest["width"].between(332, 1920).all() and manifest["height"].between(332, 1920).all()
    assert (manifest["mask_fixed_pixels"] > 0).all()
    assert (manifest["group"] == manifest["id"]).all() and (manifest["centre"] == "").all()


def test_official_medico_split_reproduces_the_lists(ingested, tmp_path):
    manifest_path, _, _ = ingested
    lists = {"train": MEDICO / "train.txt", "val": MEDICO / "val.txt"}
    split = make_split(manifest_path, {"method": "official"}, lists, 0, tmp_path / "medico2020.csv")
    for subset, path in lists.items():
        assert split.loc[split.subset == subset, "id"].tolist() == sorted(read_id_list(path))
    assert split["subset"].value_counts().to_dict() == {"train": 880, "val": 120}


@pytest.mark.parametrize("train, val", [(0.88, 0.12), (0.80, 0.20), (0.95, 0.05)])
def test_ratio_splits(ingested, tmp_path, train, val):
    manifest_path, _, _ = ingested
    split = make_split(manifest_path, {"method": "ratio", "ratios": {"train": train, "val": val}, "group_by": "group"}, {}, 0, tmp_path / "s.csv")
    assert split["subset"].value_counts().to_dict() == {"train": round(1000 * train), "val": round(1000 * val)}
