"""Tests of kdseg.data.split: exact counts, determinism, group-awareness, official lists, BraTS held-out, MSD."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from kdseg.data.manifest import SUBSETS, read_split
from kdseg.data.split import apportion, make_split, read_id_list
from kdseg.utils.errors import ConfigError, DataError


def write_manifest(path: Path, ids, groups=None) -> Path:
    frame = pd.DataFrame({"id": list(ids), "image": [f"images/{i}.jpg" for i in ids], "mask": [f"masks/{i}.jpg" for i in ids]})
    frame["group"] = list(groups) if groups is not None else frame["id"]
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def manifest_1000(tmp_path) -> Path:
    return write_manifest(tmp_path / "manifest.csv", [f"img{i:04d}" for i in range(1000)])


def split(manifest: Path, spec: dict, out: Path, seed: int = 0, lists: dict | None = None) -> pd.DataFrame:
    return make_split(manifest, spec, lists or {}, seed, out)


def counts(frame: pd.DataFrame) -> dict[str, int]:
    return frame["subset"].value_counts().to_dict()


# ------------------------------------------------------------------------------------------- apportion
APPORTION_CASES = [
    (1000, {"train": 0.88, "val": 0.12}, {"train": 880, "val": 120}),
    (1000, {"train": 0.80, "val": 0.20}, {"train": 800, "val": 200}),
    (1000, {"train": 0.95, "val": 0.05}, {"train": 950, "val": 50}),
    (10, {"a": 0.25, "b": 0.75}, {"a": 3, "b": 7}),  # 2.5 / 7.5: the tie goes to the first part
    (100, {"a": 0.29, "b": 0.71}, {"a": 29, "b": 71}),  # 100 * 0.29 is 28.999999999999996 in floating point
    (12, {"train": 0.7, "val": 0.15, "test": 0.15}, {"train": 8, "val": 2, "test": 2}),  # 8.4 / 1.8 / 1.8
    (335, {"train": 0.7, "val": 0.15, "test": 0.15}, {"train": 235, "val": 50, "test": 50}),  # 234.5 / 50.25 / 50.25
]


@pytest.mark.parametrize("total, ratios, expected", APPORTION_CASES)
def test_apportion(total, ratios, expected):
    assert apportion(total, ratios) == expected


# ----------------------------------------------------------------------------------------------- ratio
@pytest.mark.parametrize("train, val", [(0.88, 0.12), (0.80, 0.20), (0.95, 0.05)])
def test_ratio_exact_counts(manifest_1000, tmp_path, train, val):
    result = split(manifest_1000, {"method": "ratio", "ratios": {"train": train, "val": val}}, tmp_path / "split.csv")
    assert counts(result) == {"train": round(1000 * train), "val": round(1000 * val)}
    assert read_split(tmp_path / "split.csv").equals(result)
    assert sorted(result["id"]) == [f"img{i:04d}" for i in range(1000)]


def test_ratio_is_deterministic_and_independent_of_row_order(manifest_1000, tmp_path):
    spec = {"method": "ratio", "ratios": {"val": 0.12, "train": 0.88}}
    split(manifest_1000, spec, tmp_path / "one.csv")
    split(manifest_1000, spec, tmp_path / "two.csv")
    shuffled = pd.read_csv(manifest_1000, dtype=str).sample(frac=1, random_state=3)
    shuffled.to_csv(tmp_path / "shuffled.csv", index=False)
    split(tmp_path / "shuffled.csv", spec, tmp_path / "three.csv")
    split(manifest_1000, spec, tmp_path / "seed1.csv", seed=1)
    one = (tmp_path / "one.csv").read_bytes()
    assert (tmp_path / "two.csv").read_bytes() == one == (tmp_path / "three.csv").read_bytes()
    assert (tmp_path / "seed1.csv").read_bytes() != one


def test_output_order_subset_then_id(manifest_1000, tmp_path):
    result = split(manifest_1000, {"method": "ratio", "ratios": {"train": 0.5, "val": 0.3, "test": 0.2}}, tmp_path / "split.csv")
    order = result["subset"].map(SUBSETS.index)
    assert order.is_monotonic_increasing
    for _, part in result.groupby("subset"):
        assert part["id"].is_monotonic_increasing
    assert counts(result) == {"train": 500, "val": 300, "test": 200}


def test_group_aware_ratio(tmp_path):
    # 60 groups of 1 to 5 samples (180 samples): no group may straddle two subsets
    ids, groups = [], []
    for g in range(60):
        for k in range(g % 5 + 1):
            ids.append(f"g{g:02d}_{k}")
            groups.append(f"g{g:02d}")
    manifest = write_manifest(tmp_path / "manifest.csv", ids, groups)
    result = split(manifest, {"method": "ratio", "ratios": {"train": 0.95, "val": 0.05}, "group_by": "group"}, tmp_path / "split.csv")
    merged = result.merge(pd.read_csv(manifest, dtype=str), on="id")
    assert merged.groupby("group")["subset"].nunique().max() == 1
    assert len(result) == 180
    # target 9 samples: the nearest group boundary is at most half of the largest group (5 samples) away
    assert abs(counts(result)["val"] - 9) <= 2


@pytest.mark.parametrize("seed", range(5))
def test_group_aware_val_takes_small_groups_when_they_fit(tmp_path, seed):
    # PolypGen-like: 20 single frames and 3 sequences of 7 frames (41 samples); 95/5 wants 2 val samples,
    # which only single frames can give, wherever the sequences fall in the shuffled order
    ids = [f"single{i:02d}" for i in range(20)] + [f"seq{s}_{f}" for s in range(3) for f in range(7)]
    groups = ids[:20] + [f"seq{s}" for s in range(3) for _ in range(7)]
    manifest = write_manifest(tmp_path / "manifest.csv", ids, groups)
    result = split(manifest, {"method": "ratio", "ratios": {"train": 0.95, "val": 0.05}, "group_by": "group"}, tmp_path / "s.csv", seed=seed)
    assert counts(result) == {"train": 39, "val": 2}
    assert result.loc[result.subset == "val", "id"].str.startswith("single").all()


def write_groups(path: Path, rows: list[tuple[str, str]]) -> Path:
    pd.DataFrame(rows, columns=["id", "group"]).to_csv(path, index=False)
    return path


def test_groups_file_keeps_videos_whole(tmp_path):
    # CVC-ClinicDB-like: 60 frames numbered 1..60, the manifest knows no videos (each frame its own group);
    # the groups file puts frames 1-6, 7-12, ... in one video each
    ids = [str(n) for n in range(1, 61)]
    manifest = write_manifest(tmp_path / "manifest.csv", ids)
    groups = write_groups(tmp_path / "groups.csv", [(i, f"video{(int(i) - 1) // 6}") for i in ids] + [("999", "video_of_a_bad_sample")])
    spec = {"method": "ratio", "ratios": {"train": 0.8, "val": 0.2}}
    result = make_split(manifest, spec, {}, 0, tmp_path / "split.csv", groups=groups)

    def subsets_per_video(frame: pd.DataFrame) -> int:
        return int(frame.assign(video=frame["id"].astype(int).sub(1).floordiv(6)).groupby("video")["subset"].nunique().max())

    assert subsets_per_video(result) == 1
    assert counts(result) == {"train": 48, "val": 12}
    # without the file, frames of one video land on both sides
    assert subsets_per_video(split(manifest, spec, tmp_path / "plain.csv")) == 2


@pytest.mark.parametrize(
    ("rows", "spec_extra", "error", "message"),
    [
        ([("a", "v1")], {}, DataError, r"groups file .* has no group for 1 id\(s\) of the manifest \(first: b\)"),
        ([("a", "v1"), ("b", "v1"), ("a", "v2")], {}, DataError, r"gives 1 id\(s\) more than one group \(first: a\)"),
        ([("a", "v1"), ("b", "v2")], {"group_by": "group"}, ConfigError, r"both group_by \('group'\) and a groups file"),
    ],
)
def test_ill_groups_files(tmp_path, rows, spec_extra, error, message):
    manifest = write_manifest(tmp_path / "manifest.csv", ["a", "b"])
    groups = write_groups(tmp_path / "groups.csv", rows)
    with pytest.raises(error, match=message):
        make_split(manifest, {"method": "ratio", "ratios": {"train": 0.5, "val": 0.5}, **spec_extra}, {}, 0, tmp_path / "s.csv", groups=groups)


def test_groups_file_without_columns(tmp_path):
    manifest = write_manifest(tmp_path / "manifest.csv", ["a", "b"])
    (tmp_path / "groups.csv").write_text("frame,video\na,v1\n")
    with pytest.raises(DataError, match=r"lacks column\(s\) id, group; it has frame, video"):
        make_split(manifest, {"method": "ratio", "ratios": {"train": 0.5, "val": 0.5}}, {}, 0, tmp_path / "s.csv", groups=tmp_path / "groups.csv")


def test_group_by_unique_column_equals_plain_ratio(manifest_1000, tmp_path):
    spec = {"method": "ratio", "ratios": {"train": 0.8, "val": 0.2}}
    plain = split(manifest_1000, spec, tmp_path / "plain.csv")
    grouped = split(manifest_1000, {**spec, "group_by": "id"}, tmp_path / "grouped.csv")
    assert plain.equals(grouped)


def test_every_subset_gets_a_sample(tmp_path, caplog):
    manifest = write_manifest(tmp_path / "manifest.csv", [f"s{i}" for i in range(10)])
    with caplog.at_level(logging.WARNING):
        result = split(manifest, {"method": "ratio", "ratios": {"train": 0.95, "val": 0.05}}, tmp_path / "split.csv")
    assert counts(result) == {"train": 9, "val": 1}  # 9.5 / 0.5 rounds to 10 / 0
    assert "differ from the ratio targets" in caplog.text


@pytest.mark.parametrize(
    "spec, error, message",
    [
        ({"method": "ratios"}, ConfigError, r"Unknown split method 'ratios'.*Did you mean 'ratio'"),
        ({"method": "ratio"}, ConfigError, r"split method ratio needs `ratios`"),
        ({"method": "ratio", "ratios": {"train": 0.8, "val": 0.1}}, ConfigError, r"`ratios` .* sum to 0\.9; they must sum to 1"),
        ({"method": "ratio", "ratios": {"trian": 0.8, "val": 0.2}}, ConfigError, r"Unknown subset in `ratios` 'trian'.*Did you mean 'train'"),
        ({"method": "ratio", "ratios": {"train": 1.5, "val": -0.5}}, ConfigError, r"ratio of train must be a number in \(0, 1\], got 1\.5"),
        ({"method": "ratio", "ratios": {"train": 0.8, "val": 0.2}, "group_by": "patient"}, ConfigError, r"group_by names column 'patient', which manifest .* lacks"),
    ],
)
def test_ill_ratio_specs(manifest_1000, tmp_path, spec, error, message):
    with pytest.raises(error, match=message):
        split(manifest_1000, spec, tmp_path / "split.csv")
    assert not (tmp_path / "split.csv").exists()


def test_too_few_groups(tmp_path):
    manifest = write_manifest(tmp_path / "manifest.csv", ["a", "b", "c"], ["g", "g", "g"])
    with pytest.raises(DataError, match=r"cannot split 1 group\(s\) into 2 subsets \(train, val\)"):
        split(manifest, {"method": "ratio", "ratios": {"train": 0.8, "val": 0.2}, "group_by": "group"}, tmp_path / "split.csv")


def test_duplicate_manifest_ids(tmp_path):
    manifest = write_manifest(tmp_path / "manifest.csv", ["a", "b", "a"])
    with pytest.raises(DataError, match=r"has 1 duplicated id\(s\) \(first: a\)"):
        split(manifest, {"method": "ratio", "ratios": {"train": 0.5, "val": 0.5}}, tmp_path / "split.csv")


# -------------------------------------------------------------------------------------------- official
@pytest.fixture
def lists(tmp_path) -> dict[str, Path]:
    (tmp_path / "train.txt").write_text("img0000.jpg\nimg0001\n\n  img0002  \nimages/img0003.jpg\n")
    (tmp_path / "val.txt").write_text("img0004\nimg0005.png\n")
    return {"train": tmp_path / "train.txt", "val": tmp_path / "val.txt"}


def test_read_id_list(lists):
    assert read_id_list(lists["train"]) == ["img0000", "img0001", "img0002", "img0003"]


def test_official_split(tmp_path, lists, caplog):
    manifest = write_manifest(tmp_path / "manifest.csv", [f"img{i:04d}" for i in range(7)])
    with caplog.at_level(logging.WARNING):
        result = split(manifest, {"method": "official"}, tmp_path / "split.csv", lists=lists)
    assert result.values.tolist() == [
        ["img0000", "train"], ["img0001", "train"], ["img0002", "train"], ["img0003", "train"], ["img0004", "val"], ["img0005", "val"],
    ]  # fmt: skip
    assert "1 manifest id(s) are in no list and are left out of the split (first: img0006)" in caplog.text


def test_official_unknown_id(tmp_path, lists):
    manifest = write_manifest(tmp_path / "manifest.csv", [f"img{i:04d}" for i in range(4)])
    with pytest.raises(DataError, match=r"2 id\(s\) of the val list .*val\.txt are not in the manifest \(first: img0004, img0005\)"):
        split(manifest, {"method": "official"}, tmp_path / "split.csv", lists=lists)


def test_official_id_in_two_lists(tmp_path, lists):
    (tmp_path / "val.txt").write_text("img0004\nimg0001\n")
    manifest = write_manifest(tmp_path / "manifest.csv", [f"img{i:04d}" for i in range(6)])
    with pytest.raises(DataError, match=r"1 id\(s\) are in both the train list .*train\.txt and the val list .*val\.txt \(first: img0001\)"):
        split(manifest, {"method": "official"}, tmp_path / "split.csv", lists=lists)


@pytest.mark.parametrize(
    "lists, error, message",
    [
        ({}, ConfigError, r"split method official needs id lists: pass --list SUBSET=PATH"),
        ({"valid": "val.txt"}, ConfigError, r"Unknown subset of an id list 'valid'"),
        ({"train": "absent.txt"}, DataError, r"id list .*absent\.txt does not exist"),
        ({"train": "empty.txt"}, DataError, r"id list .*empty\.txt \(train\) holds no id"),
    ],
)
def test_ill_official_lists(tmp_path, lists, error, message):
    (tmp_path / "val.txt").write_text("a\n")
    (tmp_path / "empty.txt").write_text("\n\n")
    manifest = write_manifest(tmp_path / "manifest.csv", ["a", "b"])
    with pytest.raises(error, match=message):
        split(manifest, {"method": "official"}, tmp_path / "split.csv", lists={k: tmp_path / v for k, v in lists.items()})


# --------------------------------------------------------------------------------------- brats_heldout
HELDOUT = {"method": "brats_heldout", "ratios": {"train": 0.7, "val": 0.15, "test": 0.15}, "heldout": {"val": 0.5, "test": 0.2}}


@pytest.mark.parametrize(
    "cases, expected",
    [
        (20, {"train": 14, "val": 1, "test": 2, "unlabelled": 3}),  # 14/3/3; val 1.5 -> 2 held out, test 0.6 -> 1
        (335, {"train": 235, "val": 25, "test": 40, "unlabelled": 35}),  # 235/50/50; 25 of val and 10 of test held out
    ],
)
def test_brats_heldout_counts(tmp_path, cases, expected):
    manifest = write_manifest(tmp_path / "manifest.csv", [f"BraTS_{i:03d}" for i in range(cases)])
    result = split(manifest, HELDOUT, tmp_path / "split.csv")
    assert counts(result) == expected
    # the held-out cases come from val and test only: train is the train of the plain ratio split
    plain = split(manifest, {"method": "ratio", "ratios": HELDOUT["ratios"]}, tmp_path / "plain.csv")
    assert set(result.loc[result.subset == "train", "id"]) == set(plain.loc[plain.subset == "train", "id"])
    assert set(result.loc[result.subset == "unlabelled", "id"]) <= set(plain.loc[plain.subset != "train", "id"])


def test_brats_heldout_cannot_empty_val(tmp_path):
    manifest = write_manifest(tmp_path / "manifest.csv", ["a", "b", "c", "d"])
    spec = {**HELDOUT, "ratios": {"train": 0.5, "val": 0.25, "test": 0.25}}
    with pytest.raises(DataError, match=r"heldout\.val = 0\.5 moves all 1 val case\(s\) to unlabelled, leaving no val case"):
        split(manifest, spec, tmp_path / "split.csv")


@pytest.mark.parametrize(
    "heldout, message",
    [
        (None, r"split method brats_heldout needs `heldout`"),
        ({"train": 0.5}, r"Unknown subset in `heldout` 'train'"),
        ({"val": 1.5}, r"heldout fraction of val must be a number in \[0, 1\], got 1\.5"),
    ],
)
def test_ill_heldout(manifest_1000, tmp_path, heldout, message):
    with pytest.raises(ConfigError, match=message):
        split(manifest_1000, {**HELDOUT, "heldout": heldout}, tmp_path / "split.csv")


# ------------------------------------------------------------------------------------------------- msd
def test_msd_counts(tmp_path):
    ids = [f"BRATS_{i:03d}" for i in range(484, 0, -1)]  # reversed on purpose: the test set is the last 24 sorted ids
    manifest = write_manifest(tmp_path / "manifest.csv", ids)
    result = split(manifest, {"method": "msd", "n_test": 24, "n_val": 72}, tmp_path / "split.csv")
    assert counts(result) == {"train": 388, "val": 72, "test": 24}
    assert result.loc[result.subset == "test", "id"].tolist() == [f"BRATS_{i:03d}" for i in range(461, 485)]
    again = split(manifest, {"method": "msd", "n_test": 24, "n_val": 72}, tmp_path / "again.csv")
    assert again.equals(result)


def test_msd_too_few_cases(tmp_path):
    manifest = write_manifest(tmp_path / "manifest.csv", [f"c{i}" for i in range(12)])
    with pytest.raises(DataError, match=r"the msd split needs at least 97 cases \(24 test \+ 72 val \+ at least 1 train\); the manifest has 12"):
        split(manifest, {"method": "msd", "n_test": 24, "n_val": 72}, tmp_path / "split.csv")


def test_msd_bad_counts_and_ignored_group_by(tmp_path, caplog):
    manifest = write_manifest(tmp_path / "manifest.csv", [f"c{i}" for i in range(12)])
    with pytest.raises(ConfigError, match=r"split method msd needs `n_val` as a positive integer, got None"):
        split(manifest, {"method": "msd", "n_test": 2}, tmp_path / "split.csv")
    with caplog.at_level(logging.WARNING):
        result = split(manifest, {"method": "msd", "n_test": 2, "n_val": 2, "group_by": "group"}, tmp_path / "split.csv")
    assert counts(result) == {"train": 8, "val": 2, "test": 2}
    assert "group_by is ignored by split method msd" in caplog.text
