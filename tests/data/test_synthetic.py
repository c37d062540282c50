"""Tests of kdseg.data.synthetic: the layouts ingest relies on, learnable signal, and byte-identical archives."""

from __future__ import annotations

import gzip
import io
import json
import re
import tarfile
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from kdseg.data.images import read_mask, read_rgb
from kdseg.data.synthetic import (
    BRATS_MODALITIES,
    BRATS_SHAPE,
    BRATS_TOP,
    GENERATORS,
    KVASIR_TOP,
    POLYPGEN_TOP,
    brats_affine,
    make_demo_archive,
    write_brats,
    write_cvc,
    write_etis_larib,
    write_kvasir_seg,
    write_polypgen,
)
from kdseg.data.volumes import label_regions
from kdseg.utils.errors import ConfigError

DEMO_SAMPLES = {"kvasir_seg": 40, "polypgen": 40, "brats": 12}


@pytest.fixture(scope="module")
def kvasir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_kvasir_seg(tmp_path_factory.mktemp("kvasir"), DEMO_SAMPLES["kvasir_seg"], seed=0)


@pytest.fixture(scope="module")
def polypgen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_polypgen(tmp_path_factory.mktemp("polypgen"), DEMO_SAMPLES["polypgen"], seed=0)


@pytest.fixture(scope="module")
def brats(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_brats(tmp_path_factory.mktemp("brats"), DEMO_SAMPLES["brats"], seed=0)


def _names(folder: Path) -> set[str]:
    return {path.name for path in folder.iterdir()}


def _dice(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(2 * np.count_nonzero(pred & truth) / (np.count_nonzero(pred) + np.count_nonzero(truth)))


def _positive_sequences(top: Path) -> list[Path]:
    return sorted((top / "sequenceData" / "positive").iterdir(), key=lambda p: int(p.name[3:]))


def _load(case: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    img = nib.load(case / f"{case.name}_{name}.nii.gz")
    return np.asanyarray(img.dataobj), img.affine


def test_generators_registry() -> None:
    assert GENERATORS == {"kvasir_seg": write_kvasir_seg, "polypgen": write_polypgen, "cvc": write_cvc, "etis_larib": write_etis_larib, "brats": write_brats}


# ---------------------------------------------------------------------------------------------- Kvasir-SEG


def test_kvasir_layout(kvasir: Path) -> None:
    assert kvasir.name == KVASIR_TOP == "Kvasir-SEG"
    assert _names(kvasir.parent) == {"Kvasir-SEG"}
    assert _names(kvasir) == {"images", "masks", "kavsir_bboxes.json"}
    images, masks = _names(kvasir / "images"), _names(kvasir / "masks")
    assert images == masks and len(images) == 40
    assert all(re.fullmatch(r"cju[a-z0-9]{22}\.jpg", name) for name in images)


def test_kvasir_images_and_masks(kvasir: Path) -> None:
    sizes, noisy_masks = set(), 0
    for image_path in sorted((kvasir / "images").iterdir()):
        mask_path = kvasir / "masks" / image_path.name
        with Image.open(image_path) as image, Image.open(mask_path) as mask:
            assert (image.format, image.mode, mask.format) == ("JPEG", "RGB", "JPEG")
            assert image.size == mask.size
            sizes.add(image.size)
            grey = np.asarray(mask.convert("L"))
        assert 120 <= image.size[0] <= 220 and 100 <= image.size[1] <= 200
        # JPEG noise: grey levels off 0/255 along the edges, but the mask stays essentially binary
        noisy_masks += bool(np.any((grey != 0) & (grey != 255)))
        assert np.mean((grey < 20) | (grey > 235)) > 0.95
        assert 0.01 < read_mask(mask_path).mean() < 0.7
    assert len(sizes) > 30
    assert noisy_masks == 40


def test_kvasir_bboxes_match_masks(kvasir: Path) -> None:
    boxes = json.loads((kvasir / "kavsir_bboxes.json").read_text())
    assert set(boxes) == {path.stem for path in (kvasir / "images").iterdir()}
    for sample_id, entry in boxes.items():
        mask = read_mask(kvasir / "masks" / f"{sample_id}.jpg").astype(bool)
        assert (entry["height"], entry["width"]) == mask.shape
        covered = np.zeros_like(mask)
        for box in entry["bbox"]:
            assert box["label"] == "polyp"
            inside = mask[box["ymin"] : box["ymax"], box["xmin"] : box["xmax"]]
            # half-open and tight: the polyp touches all four sides of its box
            assert inside[0].any() and inside[-1].any() and inside[:, 0].any() and inside[:, -1].any()
            covered[box["ymin"] : box["ymax"], box["xmin"] : box["xmax"]] = True
        assert not np.any(mask & ~covered), sample_id
    assert any(len(entry["bbox"]) > 1 for entry in boxes.values())  # some frames show two polyps, as in the release


def _pixel_features(image: np.ndarray) -> np.ndarray:
    """Per-pixel colour, 9x9 local mean colour and local brightness spread: (H*W, 7)."""
    rgb = image.astype(np.float64) / 255
    local_mean = np.stack([ndimage.uniform_filter(rgb[..., c], 9) for c in range(3)], axis=-1)
    brightness = rgb.mean(axis=-1)
    spread = np.sqrt(np.clip(ndimage.uniform_filter(brightness**2, 9) - ndimage.uniform_filter(brightness, 9) ** 2, 0, None))
    return np.concatenate([rgb, local_mean, spread[..., None]], axis=-1).reshape(-1, 7)


def test_kvasir_is_learnable_but_not_by_one_threshold(kvasir: Path) -> None:
    ids = sorted(path.stem for path in (kvasir / "images").iterdir())
    samples = [(read_rgb(kvasir / "images" / f"{i}.jpg"), read_mask(kvasir / "masks" / f"{i}.jpg").ravel().astype(bool)) for i in ids]
    train, test = samples[:30], samples[30:]
    features = np.concatenate([_pixel_features(image) for image, _ in train])
    target = np.concatenate([mask for _, mask in train]).astype(np.float64)
    pick = np.random.default_rng(0).choice(len(features), 20000, replace=False)
    features, target = features[pick], target[pick]
    mean, std = features.mean(axis=0), features.std(axis=0)
    design = np.c_[(features - mean) / std, np.ones(len(features))]
    weights = np.zeros(design.shape[1])
    for _ in range(300):  # logistic regression by gradient descent
        weights -= 0.5 * design.T @ (1 / (1 + np.exp(-design @ weights)) - target) / len(target)

    test_rgb = np.concatenate([image.reshape(-1, 3) for image, _ in test])
    test_features = np.concatenate([_pixel_features(image) for image, _ in test])
    truth = np.concatenate([mask for _, mask in test])
    learned = _dice(np.c_[(test_features - mean) / std, np.ones(len(truth))] @ weights > 0, truth)
    all_foreground = _dice(np.ones_like(truth), truth)  # all-background scores 0
    assert learned > all_foreground + 0.25, (learned, all_foreground)
    # the best threshold on one colour channel, chosen on the test pixels themselves, still does worse
    best_threshold = max(
        _dice(test_rgb[:, c] > t if above else test_rgb[:, c] <= t, truth) for c in range(3) for t in range(0, 256, 4) for above in (True, False)
    )
    assert best_threshold < min(0.75, learned - 0.1), (best_threshold, learned)


# ---------------------------------------------------------------------------------------------- PolypGen


def test_polypgen_layout(polypgen: Path) -> None:
    assert polypgen.name == POLYPGEN_TOP == "PolypGen2021_MultiCenterData_v3"
    assert _names(polypgen) == {"data_C1", "data_C2", "data_C3", "sequenceData"}
    stem_patterns = {1: r"\d{3}H\d{4}", 2: r"EndoCV2021_\d{6}", 3: r"C3_EndoCV2021_\d{5}"}
    singles = 0
    for centre, pattern in stem_patterns.items():
        folder = polypgen / f"data_C{centre}"
        assert _names(folder) == {f"images_C{centre}", f"masks_C{centre}"}
        stems = {path.stem for path in (folder / f"images_C{centre}").glob("*.jpg")}
        assert all(re.fullmatch(pattern, stem) for stem in stems), stems
        assert _names(folder / f"masks_C{centre}") == {f"{stem}_mask.jpg" for stem in stems}
        singles += len(stems)
    assert singles == 20

    assert _names(polypgen / "sequenceData") == {"positive", "negativeOnly"}
    sequences = _positive_sequences(polypgen)
    assert [p.name for p in sequences] == ["seq1", "seq2", "seq3"]
    frames = 0
    for number, sequence in enumerate(sequences, start=1):
        assert _names(sequence) == {f"images_seq{number}", f"masks_seq{number}"}
        stems = sorted(path.stem for path in (sequence / f"images_seq{number}").iterdir())
        assert len(stems) >= 3
        assert all(re.fullmatch(rf"{number - 1}_endocv2021_positive_\d+", stem) for stem in stems)
        assert _names(sequence / f"masks_seq{number}") == {f"{stem}_mask.jpg" for stem in stems}
        frames += len(stems)
    assert frames == 20
    negatives = polypgen / "sequenceData" / "negativeOnly"
    assert _names(negatives) == {"seq1_neg"}
    assert sorted(_names(negatives / "seq1_neg")) == [f"0_endocv2021_negative_{n}.jpg" for n in (100, 101, 102)]


def test_polypgen_image_mask_sizes(polypgen: Path) -> None:
    sizes = set()
    for mask_path in polypgen.rglob("*_mask.jpg"):
        image_path = mask_path.parent.parent / mask_path.parent.name.replace("masks_", "images_") / mask_path.name.replace("_mask", "")
        with Image.open(image_path) as image, Image.open(mask_path) as mask:
            assert image.size == mask.size, image_path
            sizes.add(image.size)
    assert len(sizes) > 10


def test_polypgen_minimum_split(tmp_path: Path) -> None:
    """12 samples: one single frame per centre and three sequences of three frames."""
    top = write_polypgen(tmp_path, 12, seed=3)
    assert [len(list((top / f"data_C{c}" / f"images_C{c}").iterdir())) for c in (1, 2, 3)] == [1, 1, 1]
    assert [len(list((s / f"images_{s.name}").iterdir())) for s in _positive_sequences(top)] == [3, 3, 3]


def test_polypgen_sequences_move_smoothly(polypgen: Path) -> None:
    first_frames = []
    for sequence in _positive_sequences(polypgen):
        masks = [read_mask(path).astype(bool) for path in sorted((sequence / f"masks_{sequence.name}").iterdir())]
        images = [read_rgb(path).astype(np.float64) for path in sorted((sequence / f"images_{sequence.name}").iterdir())]
        assert len({mask.shape for mask in masks}) == 1
        centroids = np.array([ndimage.center_of_mass(mask) for mask in masks])
        steps = np.linalg.norm(np.diff(centroids, axis=0), axis=1)
        # the camera pans at most 2 px per axis and frame: the polyp moves, a little, in one direction
        assert np.all(steps < 4) and np.linalg.norm(centroids[-1] - centroids[0]) > 1, steps
        for first, second in zip(masks, masks[1:]):
            assert np.count_nonzero(first & second) / np.count_nonzero(first | second) > 0.7
        assert all(np.abs(a - b).mean() < 10 for a, b in zip(images, images[1:]))
        first_frames.append(images[0])
    # one scene per sequence: frames of different sequences differ far more than consecutive ones
    height, width = min(f.shape[0] for f in first_frames), min(f.shape[1] for f in first_frames)
    crops = [frame[:height, :width] for frame in first_frames]
    assert all(np.abs(a - b).mean() > 15 for i, a in enumerate(crops) for b in crops[i + 1 :])


def test_polypgen_centres_have_colour_casts(polypgen: Path) -> None:
    def warmth(centre: int) -> float:
        rgb = np.concatenate([read_rgb(p).reshape(-1, 3) for p in (polypgen / f"data_C{centre}" / f"images_C{centre}").iterdir()]).astype(np.float64)
        return float(np.mean((rgb[:, 0] - rgb[:, 2]) / (rgb.sum(axis=1) + 1)))

    assert warmth(2) > warmth(1) + 0.02 > warmth(3) + 0.04


# ---------------------------------------------------------------------------------------------- BraTS


def test_brats_layout_and_geometry(brats: Path) -> None:
    assert brats.name == BRATS_TOP == "BraTS2021_Training_Data"
    cases = sorted(brats.iterdir())
    assert [case.name for case in cases] == [f"BraTS2021_{i:05d}" for i in range(12)]
    expected_affine = np.array([[-4, 0, 0, 94], [0, -4, 0, 94], [0, 0, 4, -70], [0, 0, 0, 1]], dtype=np.float64)
    np.testing.assert_array_equal(brats_affine(), expected_affine)
    for case in cases:
        assert _names(case) == {f"{case.name}_{m}.nii.gz" for m in (*BRATS_MODALITIES, "seg")}
        for name in (*BRATS_MODALITIES, "seg"):
            data, affine = _load(case, name)
            assert data.shape == BRATS_SHAPE == (48, 48, 36)
            assert data.dtype == (np.uint8 if name == "seg" else np.int16)
            np.testing.assert_array_equal(affine, expected_affine)
    assert nib.aff2axcodes(expected_affine) == ("L", "P", "S")
    # the voxel centre of the volume sits at the world origin; the field of view is 192 x 192 x 144 mm
    np.testing.assert_allclose(expected_affine @ [23.5, 23.5, 17.5, 1], [0, 0, 0, 1])


def test_brats_brain_and_labels(brats: Path) -> None:
    tumour_centres, tumour_volumes = [], []
    for case in sorted(brats.iterdir()):
        labels = _load(case, "seg")[0]
        flair = _load(case, "flair")[0]
        brain = flair > 0
        extent_mm = [4 * np.ptp(np.nonzero(brain)[axis]) for axis in range(3)]
        assert 110 <= extent_mm[0] <= 170 and 130 <= extent_mm[1] <= 190 and 90 <= extent_mm[2] <= 140, extent_mm
        assert set(np.unique(labels)) == {0, 1, 2, 4}
        for name in BRATS_MODALITIES:
            volume = _load(case, name)[0]
            assert volume.min() == 0 and np.array_equal(volume > 0, brain), name  # skull-stripped background
        wt, tc, et = label_regions(labels, "brats").astype(bool)
        assert not np.any(wt & ~brain)
        assert not np.any(tc & ~wt) and not np.any(et & ~tc)
        # necrosis is enclosed by the enhancing rim, the core by oedema (where the brain goes on)
        assert not np.any(ndimage.binary_dilation(labels == 1) & ~tc)
        assert not np.any(ndimage.binary_dilation(tc) & brain & ~wt)
        tumour_centres.append(ndimage.center_of_mass(wt))
        tumour_volumes.append(np.count_nonzero(wt))
    assert np.all(np.std(tumour_centres, axis=0) > 2)
    assert len(set(tumour_volumes)) == 12


def test_brats_tumour_is_visible(brats: Path) -> None:
    for case in sorted(brats.iterdir()):
        labels = _load(case, "seg")[0]
        volumes = {name: _load(case, name)[0].astype(np.float64) for name in BRATS_MODALITIES}
        healthy = (volumes["flair"] > 0) & (labels == 0)

        def mean(name: str, region: np.ndarray) -> float:
            return float(volumes[name][region].mean())

        for name in ("flair", "t2"):
            assert mean(name, labels == 2) > 1.3 * mean(name, healthy), (case.name, name)
        assert mean("t1ce", labels == 4) > 1.5 * mean("t1ce", healthy), case.name
        assert mean("t1ce", labels == 1) < min(mean("t1ce", healthy), 0.5 * mean("t1ce", labels == 4)), case.name


# ---------------------------------------------------------------------------------------------- archives


@pytest.mark.parametrize(
    ("generator", "samples", "name"),
    [("kvasir_seg", 3, "demo.zip"), ("polypgen", 12, "demo.tar.gz"), ("brats", 2, "demo.tar.gz"), ("brats", 1, "demo.zip"), ("cvc", 4, "demo.zip"), ("etis_larib", 2, "demo.zip")],
)
def test_archive_is_deterministic(tmp_path: Path, generator: str, samples: int, name: str) -> None:
    first = make_demo_archive(generator, samples, 7, tmp_path / "a" / name)
    assert first == tmp_path / "a" / name
    make_demo_archive(generator, samples, 7, tmp_path / "b" / name)
    make_demo_archive(generator, samples, 8, tmp_path / "c" / name)
    payload = first.read_bytes()
    assert payload == (tmp_path / "b" / name).read_bytes()
    assert payload != (tmp_path / "c" / name).read_bytes()
    assert _names(tmp_path / "a") == {name}  # no temporary file left beside it


def test_zip_members_match_the_written_folder(tmp_path: Path) -> None:
    archive = make_demo_archive("kvasir_seg", 3, 1, tmp_path / "kvasir-seg.zip")
    top = write_kvasir_seg(tmp_path / "folder", 3, 1)
    expected = {"Kvasir-SEG/", "Kvasir-SEG/images/", "Kvasir-SEG/masks/", "Kvasir-SEG/kavsir_bboxes.json"}
    expected |= {f"Kvasir-SEG/{p.parent.name}/{p.name}" for p in top.glob("*/*.jpg")}
    with zipfile.ZipFile(archive) as opened:
        infos = opened.infolist()
        names = [info.filename for info in infos]
        assert names == sorted(names) and set(names) == expected and len(names) == 3 + 1 + 6
        for info in infos:
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.external_attr >> 16 == (0o40755 if info.is_dir() else 0o100644)
            if not info.is_dir():
                assert opened.read(info) == (tmp_path / "folder" / info.filename).read_bytes()


def test_tar_gz_metadata(tmp_path: Path) -> None:
    archive = make_demo_archive("brats", 1, 0, tmp_path / "brats.tar.gz")
    payload = archive.read_bytes()
    assert payload[:4] == b"\x1f\x8b\x08\x00" and payload[4:8] == b"\x00\x00\x00\x00"  # no name, zero mtime
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(payload))) as opened:
        members = opened.getmembers()
    names = [m.name for m in members]
    case = "BraTS2021_Training_Data/BraTS2021_00000"
    assert names == ["BraTS2021_Training_Data", case, *(f"{case}/BraTS2021_00000_{m}.nii.gz" for m in ("flair", "seg", "t1", "t1ce", "t2"))]
    for member in members:
        assert (member.mtime, member.uid, member.gid, member.uname, member.gname) == (0, 0, 0, "root", "root")
        assert member.mode == (0o755 if member.isdir() else 0o644)


@pytest.mark.parametrize(
    ("generator", "samples", "name", "message"),
    [
        ("kvasir_seg", 3, "demo.tar", r"unsupported suffix; name it \*\.zip or \*\.tar\.gz"),
        ("kvasir_seg", 3, "demo.zip.part", "unsupported suffix"),
        ("brats", 1, "demo.tgz", "unsupported suffix"),
        ("kvasir", 3, "demo.zip", "Unknown demo generator 'kvasir'.*Did you mean 'kvasir_seg'"),
        ("polypgen", 11, "demo.zip", r"polypgen demo generator needs an integer number of samples >= 12, got 11"),
        ("kvasir_seg", 0, "demo.zip", r"kvasir_seg demo generator needs .* >= 1, got 0"),
        ("brats", 2.5, "demo.zip", r"brats demo generator needs an integer .* got 2\.5"),
    ],
)
def test_ill_args(tmp_path: Path, generator: str, samples: int, name: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_demo_archive(generator, samples, 0, tmp_path / name)
    assert not any(tmp_path.iterdir())
