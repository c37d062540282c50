"""Tests of kdseg.augment.materialize.augment_dataset: layout, determinism, workers, atomicity, errors."""

from __future__ import annotations

import json
from pathlib import Path

import albumentations as A
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from kdseg.augment import augment_dataset
from kdseg.data.images import read_mask, read_rgb, write_png
from kdseg.data.manifest import AUGMENTED_COLUMNS, MANIFEST_2D_COLUMNS, MANIFEST_3D_COLUMNS
from kdseg.data.volumes import write_nifti
from kdseg.utils.errors import ConfigError, DataError

TRAIN_IDS = ("a", "b", "c")
AFFINE = np.array([[-1.0, 0, 0, 90], [0, -1.0, 0, 126], [0, 0, 2.0, -72], [0, 0, 0, 1]])


def _write_split(path: Path, subsets: dict[str, str]) -> Path:
    pd.DataFrame({"id": list(subsets), "subset": list(subsets.values())}).to_csv(path, index=False)
    return path


def _split_of(ids: tuple[str, ...], val: str = "d") -> dict[str, str]:
    return {**{i: "train" for i in ids}, val: "val"}


def _make_2d(root: Path) -> tuple[Path, Path]:
    """Four 40x50 samples (three train, one val) with masks marked by the blue channel."""
    rows = []
    for index, sample_id in enumerate((*TRAIN_IDS, "d")):
        yy, xx = np.mgrid[:40, :50]
        mask = (((yy - 20) / (6 + index)) ** 2 + ((xx - 15 - 3 * index) / 9) ** 2 < 1).astype(np.uint8)
        image = np.random.default_rng(index).integers(0, 120, (40, 50, 3), dtype=np.uint8)
        image[..., 2][mask == 1] = 250
        write_png(root / "images" / f"{sample_id}.png", image)
        write_png(root / "masks" / f"{sample_id}.png", mask * np.uint8(255))
        rows.append([sample_id, str(root / "images" / f"{sample_id}.png"), str(root / "masks" / f"{sample_id}.png"), 50, 40, "", "", sample_id, 0])
    manifest = root / "manifest.csv"
    pd.DataFrame(rows, columns=list(MANIFEST_2D_COLUMNS)).to_csv(manifest, index=False)
    return manifest, _write_split(root / "split.csv", _split_of(TRAIN_IDS))


def _make_3d(root: Path) -> tuple[Path, Path]:
    """Three 2-modality 20x20x16 cases (two train, one val), one NIfTI per modality, labels 0/1/2/4."""
    rows = []
    xx, yy, zz = np.mgrid[:20, :20, :16]
    for index, case in enumerate(("p1", "p2", "p3")):
        radius = np.sqrt((xx - 9.0 - index) ** 2 + (yy - 10.0) ** 2 + (zz - 8.0) ** 2)
        labels = np.select([radius < 2, radius < 3.5, radius < 5], [4, 1, 2], 0).astype(np.uint8)
        brain = radius < 8
        paths = []
        for modality in ("flair", "t1c"):
            data = (np.random.default_rng([index, len(modality)]).normal(300, 50, labels.shape) * brain).astype(np.float32)
            path = root / case / f"{modality}.nii.gz"
            write_nifti(path, data, AFFINE)
            paths.append(str(path))
        write_nifti(root / case / "seg.nii.gz", labels, AFFINE)
        rows.append([case, ";".join(paths), "flair;t1c", str(root / case / "seg.nii.gz"), "brats2015", "20x20x16", "1x1x2", case])
    manifest = root / "manifest.csv"
    pd.DataFrame(rows, columns=list(MANIFEST_3D_COLUMNS)).to_csv(manifest, index=False)
    return manifest, _write_split(root / "split.csv", {"p1": "train", "p2": "train", "p3": "val"})


@pytest.fixture
def data_2d(tmp_path: Path) -> tuple[Path, Path]:
    return _make_2d(tmp_path / "src2d")


@pytest.fixture
def data_3d(tmp_path: Path) -> tuple[Path, Path]:
    return _make_3d(tmp_path / "src3d")


def _folder_bytes(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_2d_layout_manifest_and_recipe(data_2d: tuple[Path, Path], tmp_path: Path) -> None:
    manifest, split = data_2d
    out = tmp_path / "aug"
    table = augment_dataset(manifest, split, "kd_resunetpp", (32, 32), 2, 0, out)
    # 3 train samples x (original + 2 draws x (rotation, flipped rotation)); val sample "d" left out
    assert len(table) == 3 * 5
    assert tuple(table.columns) == AUGMENTED_COLUMNS
    assert table["id"].tolist() == [f"{s}__{c:02d}" for s in TRAIN_IDS for c in range(5)]
    assert table["source_id"].tolist() == [s for s in TRAIN_IDS for _ in range(5)]
    assert table["copy"].tolist() == list(range(5)) * 3
    assert table["image"].iloc[0] == "images/a__00.png" and table["mask"].iloc[0] == "masks/a__00.png"
    written = pd.read_csv(out / "manifest.csv", dtype=str)
    assert tuple(written.columns) == AUGMENTED_COLUMNS and written["id"].tolist() == table["id"].tolist()
    assert sorted(p.name for p in (out / "images").iterdir()) == sorted(f"{i}.png" for i in table["id"])
    for row in table.itertuples():
        image = read_rgb(out / row.image)
        assert image.shape == (32, 32, 3)
        with Image.open(out / row.mask) as mask_png:
            assert mask_png.mode == "L"
            assert set(np.unique(np.asarray(mask_png))) <= {0, 255}
    recipe = json.loads((out / "recipe.json").read_text())
    assert recipe == {
        "albumentations": A.__version__,
        "copies": 2,
        "online": False,
        "outputs_per_sample": 5,
        "paper": "000",
        "recipe": "kd_resunetpp",
        "seed": 0,
        "size": [32, 32],
        "source_samples": 3,
    }
    # the flipped rotation on disk is the mirror of the rotation on disk
    np.testing.assert_array_equal(read_rgb(out / "images/b__02.png"), np.fliplr(read_rgb(out / "images/b__01.png")))
    np.testing.assert_array_equal(read_mask(out / "masks/b__02.png"), np.fliplr(read_mask(out / "masks/b__01.png")))


def test_same_seed_same_bytes_other_seed_other_bytes(data_2d: tuple[Path, Path], tmp_path: Path) -> None:
    manifest, split = data_2d
    first = _folder_bytes(_run(manifest, split, tmp_path / "one", seed=3))
    second = _folder_bytes(_run(manifest, split, tmp_path / "two", seed=3))
    other = _folder_bytes(_run(manifest, split, tmp_path / "three", seed=4))
    assert first == second
    assert first.keys() == other.keys()
    changed = {name for name in first if first[name] != other[name]}
    # originals (copy 00) do not depend on the seed; augmented copies do
    assert not any("__00" in name for name in changed)
    assert any(name.startswith("images/") for name in changed)
    assert "recipe.json" in changed


def _run(manifest: Path, split: Path, out: Path, seed: int, threads: int = 1, recipe: str = "attunet_transfer") -> Path:
    augment_dataset(manifest, split, recipe, (24, 32), 2, seed, out, threads=threads)
    return out


def test_threads_do_not_change_results(data_2d: tuple[Path, Path], tmp_path: Path) -> None:
    manifest, split = data_2d
    assert _folder_bytes(_run(manifest, split, tmp_path / "t1", seed=0)) == _folder_bytes(_run(manifest, split, tmp_path / "t2", seed=0, threads=2))


def test_copies_zero_writes_originals_only(data_2d: tuple[Path, Path], tmp_path: Path) -> None:
    manifest, split = data_2d
    table = augment_dataset(manifest, split, "xpnet", (16, 20), 0, 0, tmp_path / "aug")
    assert table["id"].tolist() == ["a__00", "b__00", "c__00"]
    assert read_rgb(tmp_path / "aug" / "images" / "a__00.png").shape == (16, 20, 3)


def test_failed_sample_leaves_no_partial_folder(data_2d: tuple[Path, Path], tmp_path: Path) -> None:
    manifest, split = data_2d
    (manifest.parent / "images" / "c.png").unlink()
    out = tmp_path / "aug"
    for threads in (1, 2):
        with pytest.raises(DataError, match=r"image .*c\.png does not exist"):
            augment_dataset(manifest, split, "kd_resunetpp", (16, 16), 1, 0, out, threads=threads)
        assert not out.exists()
        assert [p.name for p in tmp_path.iterdir() if p.name != "src2d"] == []  # no temporary folder left behind
    # an earlier complete output survives a failed rerun untouched
    out.mkdir()
    (out / "manifest.csv").write_text("previous\n")
    with pytest.raises(DataError):
        augment_dataset(manifest, split, "kd_resunetpp", (16, 16), 1, 0, out)
    assert [p.name for p in out.iterdir()] == ["manifest.csv"] and (out / "manifest.csv").read_text() == "previous\n"


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"recipe": "kd_resunet"}, ConfigError, "Unknown augmentation recipe 'kd_resunet'.*Did you mean 'kd_resunetpp'"),
        ({"size": (32, 32, 32)}, ConfigError, r"needs a size of 2 values \(H W\); got \[32, 32, 32\]"),
        ({"copies": -1}, ConfigError, "copies must be a whole number >= 0"),
        ({"threads": 0}, ConfigError, "threads must be a whole number >= 1"),
    ],
)
def test_ill_arguments(kwargs: dict, error: type[Exception], match: str, data_2d: tuple[Path, Path], tmp_path: Path) -> None:
    manifest, split = data_2d
    arguments = {"recipe": "kd_resunetpp", "size": (16, 16), "copies": 1, "threads": 1, **kwargs}
    with pytest.raises(error, match=match):
        augment_dataset(manifest, split, arguments["recipe"], arguments["size"], arguments["copies"], 0, tmp_path / "aug", threads=arguments["threads"])
    assert not (tmp_path / "aug").exists()


@pytest.mark.parametrize("recipe", ["brats_ensemble_kd", "dsd"])
@pytest.mark.parametrize("online", [False, True])
def test_3d_recipe_is_refused(recipe: str, online: bool, data_3d: tuple[Path, Path], tmp_path: Path) -> None:
    # 3D trainings cut their patches on the fly (PatchSet); an offline 3D set would be read by nothing
    with pytest.raises(ConfigError, match=rf"recipe '{recipe}' is 3D: 3D trainings cut a fresh patch .* only for 2D experiments"):
        augment_dataset(*data_3d, recipe, (8, 8, 8), 0, 0, tmp_path / "aug", online=online)
    assert not (tmp_path / "aug").exists()


def test_2d_recipe_on_3d_manifest(data_3d: tuple[Path, Path], tmp_path: Path) -> None:
    manifest, split = data_3d
    with pytest.raises(ConfigError, match="recipe 'xpnet' is for 2D data but manifest .* describes 3D samples .* only for 2D"):
        augment_dataset(manifest, split, "xpnet", (16, 16), 1, 0, tmp_path / "aug")
    assert not (tmp_path / "aug").exists()


@pytest.mark.parametrize(
    ("subsets", "match"),
    [
        ({"a": "val", "b": "test"}, "has no 'train' samples"),
        ({"a": "train", "b": "train", "c": "train", "d": "val", "e": "train"}, "not in the manifest"),
    ],
)
def test_ill_split(subsets: dict[str, str], match: str, data_2d: tuple[Path, Path], tmp_path: Path) -> None:
    manifest, _ = data_2d
    split = _write_split(tmp_path / "bad_split.csv", subsets)
    with pytest.raises(DataError, match=match):
        augment_dataset(manifest, split, "kd_resunetpp", (16, 16), 1, 0, tmp_path / "aug")


def test_duplicate_train_ids(data_2d: tuple[Path, Path], tmp_path: Path) -> None:
    manifest, _ = data_2d
    split = tmp_path / "dup.csv"
    split.write_text("id,subset\na,train\nb,train\na,train\n")
    with pytest.raises(DataError, match=r"lists 1 train id\(s\) more than once \(first: \['a'\]\)"):
        augment_dataset(manifest, split, "kd_resunetpp", (16, 16), 1, 0, tmp_path / "aug")


def test_mask_of_other_size(data_2d: tuple[Path, Path], tmp_path: Path) -> None:
    manifest, split = data_2d
    write_png(manifest.parent / "masks" / "b.png", np.zeros((30, 50), dtype=np.uint8))
    with pytest.raises(DataError, match=r"sample b: image .*b\.png is 50x40 but mask .*b\.png is 50x30"):
        augment_dataset(manifest, split, "kd_resunetpp", (16, 16), 1, 0, tmp_path / "aug")


def _epoch_batches(folder: Path, epoch: int) -> list[np.ndarray]:
    from kdseg.engine.data import AugmentedSet

    dataset = AugmentedSet(folder, "symmetric")
    dataset.set_epoch(epoch)
    return [np.concatenate([dataset[i]["image"].numpy().ravel(), dataset[i]["target"].numpy().ravel()]) for i in range(len(dataset))]


@pytest.mark.parametrize("recipe", ["kd_resunetpp", "attunet_transfer", "xpnet"])
def test_online_set_draws_fresh_seeded_augmentations_each_epoch(recipe: str, data_2d: tuple[Path, Path], tmp_path: Path) -> None:
    manifest, split = data_2d
    table = augment_dataset(manifest, split, recipe, (16, 16), 0, 3, tmp_path / "aug", online=True)
    assert table["id"].tolist() == ["a__00", "b__00", "c__00"]
    assert json.loads((tmp_path / "aug" / "recipe.json").read_text())["online"] is True
    augment_dataset(manifest, split, recipe, (16, 16), 0, 3, tmp_path / "again", online=True)
    first, replay = _epoch_batches(tmp_path / "aug", 0), _epoch_batches(tmp_path / "again", 0)
    assert all(np.array_equal(x, y) for x, y in zip(first, replay))  # same seed, same epoch: the same samples
    later = [_epoch_batches(tmp_path / "aug", epoch) for epoch in (1, 2, 3)]
    # with three images and four epochs, at least one image must be drawn differently in some epoch
    assert any(not np.array_equal(x, y) for batch in later for x, y in zip(first, batch))
    from kdseg.engine.data import AugmentedSet

    sample = AugmentedSet(tmp_path / "aug", "symmetric")[0]
    assert set(np.unique(sample["target"].numpy())) <= {0.0, 1.0}
    assert sample["image"].min() >= -1.0 and sample["image"].max() <= 1.0


def test_online_needs_no_copies(data_2d: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="online augmentation draws afresh every epoch and writes no copies, but copies is 2"):
        augment_dataset(*data_2d, "attunet_transfer", (16, 16), 2, 0, tmp_path / "aug", online=True)
    assert not (tmp_path / "aug").exists()
