"""Tests of kdseg.data.ingest: every check on tiny data sets built in tmp_path, fail/skip, report, errors."""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from kdseg.data.ingest import LAYOUTS, MASK_MAX_AMBIGUOUS_FRACTION, ingest, load_layout
from kdseg.data.manifest import BAD_SAMPLE_COLUMNS, MANIFEST_2D_COLUMNS, MANIFEST_3D_COLUMNS, read_manifest
from kdseg.utils.errors import ConfigError, DataError

WIDTH, HEIGHT = 16, 12
IDS = ("a", "b", "c")


# -------------------------------------------------------------------------------------------- helpers
def jpeg_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def write_image(path: Path, array: np.ndarray) -> None:
    """Write an array as JPEG or PNG (by suffix); PNG keeps exact values for hand-counted masks."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".png":
        Image.fromarray(array).save(path)
    else:
        path.write_bytes(jpeg_bytes(array))


def photo(width: int = WIDTH, height: int = HEIGHT, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def clean_mask(width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[3:9, 4:12] = 255
    return mask


def make_kvasir(root: Path, ids=IDS) -> Path:
    """A Kvasir-SEG-like release: JPEG images, lossless PNG masks (so counts are exact)."""
    top = root / "Kvasir-SEG"
    for index, sample_id in enumerate(ids):
        write_image(top / "images" / f"{sample_id}.jpg", photo(seed=index))
        write_image(top / "masks" / f"{sample_id}.png", clean_mask())
    (top / "kavsir_bboxes.json").write_text("{}")
    return top


def run(root: Path, tmp_path: Path, layout: str = "kvasir_seg", **kwargs) -> pd.DataFrame:
    return ingest(layout, root, tmp_path / "out" / "manifest.csv", tmp_path / "out" / "bad.csv", **kwargs)


def report(tmp_path: Path) -> pd.DataFrame:
    return pd.read_csv(tmp_path / "out" / "bad.csv", dtype=str, keep_default_na=False)


# ------------------------------------------------------------------------------------------- 2D: good
def test_kvasir_manifest_rows(tmp_path):
    top = make_kvasir(tmp_path / "data")
    mask = clean_mask()
    mask[0, 0:3] = 7  # JPEG-like noise near 0 ...
    mask[5, 5:7] = 250  # ... and near 255: 5 pixels fixed, the mask stays the same after thresholding
    write_image(top / "masks" / "b.png", mask)
    manifest = run(tmp_path / "data", tmp_path)
    assert list(manifest.columns) == list(MANIFEST_2D_COLUMNS)
    assert manifest["id"].tolist() == list(IDS)
    row = manifest.set_index("id").loc["b"]
    assert row["image"] == (top / "images" / "b.jpg").as_posix()
    assert row["mask"] == (top / "masks" / "b.png").as_posix()
    assert (row["width"], row["height"], row["mask_fixed_pixels"]) == (WIDTH, HEIGHT, 5)
    assert (row["centre"], row["sequence"], row["group"]) == ("", "", "b")
    assert manifest.set_index("id").loc["a", "mask_fixed_pixels"] == 0
    on_disk = read_manifest(tmp_path / "out" / "manifest.csv")
    assert on_disk.equals(manifest)
    assert report(tmp_path).empty and list(report(tmp_path).columns) == list(BAD_SAMPLE_COLUMNS)


def test_root_may_be_the_release_itself_and_hidden_files_are_ignored(tmp_path):
    top = make_kvasir(tmp_path)
    (top / "images" / ".DS_Store").write_bytes(b"\0")
    (top / "images" / "._a.jpg").write_bytes(b"\0\5\x16\7")  # macOS resource fork
    (top / "images" / "notes.txt").write_text("not an image")
    manifest = run(top, tmp_path)
    assert manifest["id"].tolist() == list(IDS)


def test_manifest_bytes_do_not_depend_on_threads(tmp_path):
    make_kvasir(tmp_path / "data", ids=[f"s{i:02d}" for i in range(9)])
    run(tmp_path / "data", tmp_path, threads=1)
    one = (tmp_path / "out" / "manifest.csv").read_bytes()
    run(tmp_path / "data", tmp_path, threads=3)
    assert (tmp_path / "out" / "manifest.csv").read_bytes() == one


def test_orphan_mask_is_logged(tmp_path, caplog):
    top = make_kvasir(tmp_path)
    write_image(top / "masks" / "lonely.png", clean_mask())
    with caplog.at_level(logging.WARNING):
        manifest = run(top, tmp_path)
    assert len(manifest) == 3
    assert "1 mask(s)" in caplog.text and "lonely" in caplog.text


# -------------------------------------------------------------------------------------------- 2D: bad
def _truncated_jpeg(path: Path) -> None:
    data = jpeg_bytes(photo())
    path.write_bytes(data[: len(data) // 2])


def _mid_grey_mask(path: Path) -> None:
    write_image(path, np.full((HEIGHT, WIDTH), 128, dtype=np.uint8))


def _yellow_mask(path: Path) -> None:
    # yellow is light (grey level 226, not mid-grey): only the channel spread reveals it is coloured
    rgb = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    rgb[:, :, 0] = rgb[:, :, 1] = 255
    write_image(path, rgb)


def _ambiguous_mask(pixels: int):
    def damage(path: Path) -> None:
        mask = clean_mask()
        mask.reshape(-1)[:pixels] = 100
        write_image(path, mask)

    return damage


# (file to damage, how, file named in the report, expected reason) -- each leaves sample "b" bad;
# WIDTH*HEIGHT = 192 pixels
IMAGE, MASK = "images/b.jpg", "masks/b.png"
BAD_2D_CASES = [
    (IMAGE, lambda p: p.write_bytes(b"this is not a JPEG"), IMAGE, r"image .*b\.jpg cannot be read: cannot identify image file"),
    (IMAGE, _truncated_jpeg, IMAGE, r"image .*b\.jpg cannot be read: (image file is truncated|Truncated File Read)"),
    # the expected mask takes the image's suffix
    (MASK, lambda p: p.unlink(), "masks/b.jpg", r"mask missing: no b\.jpg in .*masks for image b\.jpg"),
    (MASK, lambda p: p.write_bytes(b"\x89PNG garbage"), MASK, r"mask .*b\.png cannot be read"),
    (MASK, lambda p: write_image(p, clean_mask(width=10)), MASK, r"mask is 10x12 but its image is 16x12 \(width x height\)"),
    (MASK, _mid_grey_mask, MASK, r"mask is not black and white: 100\.0% of its pixels are mid-grey \(64-191\) or coloured"),
    (MASK, _yellow_mask, MASK, r"mask is not black and white: 100\.0% .*channels differ by more than 64.*at most 5% may be"),
    (MASK, _ambiguous_mask(10), MASK, r"mask is not black and white: 5\.2% of its pixels"),  # 10/192 > 5 %
]


@pytest.mark.parametrize("damaged, damage, reported, reason", BAD_2D_CASES)
def test_bad_2d_sample_is_reported_and_skipped(tmp_path, damaged, damage, reported, reason):
    top = make_kvasir(tmp_path)
    damage(top / damaged)
    manifest = run(top, tmp_path, on_bad_sample="skip")
    assert manifest["id"].tolist() == ["a", "c"]
    bad = report(tmp_path)
    assert bad["id"].tolist() == ["b"]
    assert bad.loc[0, "path"] == (top / reported).as_posix()
    assert re.search(reason, bad.loc[0, "reason"]), bad.loc[0, "reason"]


def _claims_size(path: Path, width: int, height: int) -> None:
    """A JPEG whose header claims ``width`` x ``height`` over a tiny body: decoding it would allocate the
    claimed size and then fail, so only a check of the header gives the size-limit reason."""
    data = bytearray(jpeg_bytes(photo()))
    frame = data.index(b"\xff\xc0")  # start of frame: marker, length (2), precision (1), height (2), width (2)
    data[frame + 5 : frame + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    path.write_bytes(bytes(data))


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # Pillow's own, above 89 million pixels
@pytest.mark.parametrize(
    ("damaged", "limit", "reason"),
    [
        (IMAGE, {}, r"image .*b\.jpg is 10000x10000 = 100\.0 million pixels, over the limit of 25 million .*it was not decoded"),
        (IMAGE, {"max_image_pixels": 10_000}, r"image .*b\.jpg is 640x480 = 0\.3 million pixels, over the limit of 0\.01 million"),
        ("masks/b.jpg", {"max_image_pixels": 10_000}, r"image .*masks/b\.jpg is 640x480 = 0\.3 million pixels, over the limit"),
    ],
)
def test_images_over_the_pixel_limit_are_refused_from_their_header(tmp_path, damaged, limit, reason):
    top = make_kvasir(tmp_path)
    (top / MASK).unlink()
    write_image(top / "masks" / "b.jpg", clean_mask())
    size = (10_000, 10_000) if not limit else (640, 480)
    _claims_size(top / damaged, *size)
    manifest = run(top, tmp_path, on_bad_sample="skip", **limit)
    assert manifest["id"].tolist() == ["a", "c"]
    bad = report(tmp_path)
    assert bad["id"].tolist() == ["b"] and re.search(reason, bad.loc[0, "reason"]), bad.loc[0, "reason"]


def test_few_ambiguous_pixels_are_fixed_not_rejected(tmp_path):
    top = make_kvasir(tmp_path)
    _ambiguous_mask(9)(top / "masks" / "b.png")  # 9/192 = 4.7 % <= 5 %
    assert 9 / (WIDTH * HEIGHT) <= MASK_MAX_AMBIGUOUS_FRACTION
    manifest = run(top, tmp_path)
    assert manifest.set_index("id").loc["b", "mask_fixed_pixels"] == 9


def test_rgb_mask_with_equal_channels_is_fine(tmp_path):
    top = make_kvasir(tmp_path)
    write_image(top / "masks" / "b.png", np.repeat(clean_mask()[..., None], 3, axis=2))
    assert run(top, tmp_path)["id"].tolist() == list(IDS)


def test_real_jpeg_mask_noise_is_counted(tmp_path):
    top = make_kvasir(tmp_path)
    (top / "masks" / "b.png").unlink()
    write_image(top / "masks" / "b.jpg", clean_mask())
    row = run(top, tmp_path).set_index("id").loc["b"]
    with Image.open(top / "masks" / "b.jpg") as img:
        grey = np.asarray(img.convert("L"))
    assert row["mask_fixed_pixels"] == np.count_nonzero((grey != 0) & (grey != 255)) > 0


def test_fail_writes_report_then_raises_with_the_list(tmp_path):
    top = make_kvasir(tmp_path)
    (top / MASK).unlink()
    (top / "images" / "c.jpg").write_bytes(b"broken")
    with pytest.raises(DataError, match=r"(?s)2 of the 3 samples found in .* are bad:\n  b: mask missing.*\n  c: image .*The full list is in .*bad\.csv.*set on_bad_sample: skip in workflow_config\.yaml"):
        run(top, tmp_path)
    assert report(tmp_path)["id"].tolist() == ["b", "c"]
    assert not (tmp_path / "out" / "manifest.csv").exists()


def test_report_copy_is_written_and_named_by_the_error(tmp_path):
    top = make_kvasir(tmp_path)
    (top / MASK).unlink()
    copy = tmp_path / "logs" / "bad_samples.csv"
    with pytest.raises(DataError, match=rf"The full list is in {re.escape(str(copy))}\."):
        run(top, tmp_path, report_copy=copy)
    assert copy.read_bytes() == (tmp_path / "out" / "bad.csv").read_bytes()
    assert pd.read_csv(copy)["id"].tolist() == ["b"]


def test_fail_message_lists_at_most_ten(tmp_path):
    top = make_kvasir(tmp_path, ids=[f"s{i:02d}" for i in range(13)])
    for path in (top / "masks").iterdir():
        if path.stem != "s00":
            path.unlink()
    with pytest.raises(DataError) as caught:
        run(top, tmp_path)
    assert str(caught.value).count("mask missing") == 10 and "... and 2 more" in str(caught.value)
    assert len(report(tmp_path)) == 12


def test_no_usable_sample_is_an_error_even_with_skip(tmp_path):
    top = make_kvasir(tmp_path, ids=["a"])
    (top / "masks" / "a.png").unlink()
    with pytest.raises(DataError, match=r"none of the 1 samples found in .* is usable:\n  a: mask missing"):
        run(top, tmp_path, on_bad_sample="skip")
    assert report(tmp_path)["id"].tolist() == ["a"]


def test_empty_data_set(tmp_path):
    (tmp_path / "data" / "images").mkdir(parents=True)
    (tmp_path / "data" / "masks").mkdir()
    with pytest.raises(DataError, match=r"found no samples in .*data; expected the Kvasir-SEG release layout"):
        run(tmp_path / "data", tmp_path)
    assert report(tmp_path).empty


def test_duplicate_ids_are_bad_samples(tmp_path):
    top = make_kvasir(tmp_path)
    write_image(top / "images" / "a.png", photo())
    manifest = run(top, tmp_path, on_bad_sample="skip")
    assert manifest["id"].tolist() == ["b", "c"]
    bad = report(tmp_path)
    assert bad["path"].str.rsplit("/", n=1).str[-1].tolist() == ["a.jpg", "a.png"]
    assert bad["reason"].str.contains("id a is shared by 2 samples").all()


# ---------------------------------------------------------------------------------- layout and options
def test_missing_layout_folders(tmp_path):
    (tmp_path / "data" / "Kvasir-SEG" / "images").mkdir(parents=True)
    with pytest.raises(DataError, match=r"no images/ and masks/ folders under .*data \(nor in a folder inside it\); expected the Kvasir-SEG release layout"):
        run(tmp_path / "data", tmp_path)


def test_missing_root(tmp_path):
    with pytest.raises(DataError, match=r"data set folder .*nowhere does not exist"):
        run(tmp_path / "nowhere", tmp_path)


def test_two_releases_inside_root(tmp_path):
    make_kvasir(tmp_path / "data")
    make_kvasir(tmp_path / "other")
    (tmp_path / "other" / "Kvasir-SEG").rename(tmp_path / "data" / "Kvasir-SEG-copy")
    with pytest.raises(DataError, match=r"holds 2 releases \(Kvasir-SEG, Kvasir-SEG-copy\); point --root at one of them"):
        run(tmp_path / "data", tmp_path)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"layout": "kvasir"}, r"Unknown data set layout 'kvasir'.*Did you mean 'kvasir_seg'"),
        ({"on_bad_sample": "skp"}, r"Unknown on_bad_sample value 'skp'.*Did you mean 'skip'"),
        ({"threads": 0}, r"threads must be an integer of at least 1, got 0"),
        ({"options": {"include_negative": True}}, r"layout kvasir_seg takes no options, got \['include_negative'\]"),
        ({"layout": "polypgen", "options": {"include_negatives": True}}, r"Unknown option of layout polypgen 'include_negatives'.*Did you mean 'include_negative'"),
        ({"layout": "polypgen", "options": {"include_negative": "yes"}}, r"option include_negative of layout polypgen must be a bool \(default False\), got 'yes'"),
    ],
)
def test_ill_options(tmp_path, kwargs, message):
    make_kvasir(tmp_path / "data")
    with pytest.raises(ConfigError, match=message):
        run(tmp_path / "data", tmp_path, **kwargs)


def test_every_layout_module_has_the_protocol():
    for name in LAYOUTS:
        module = load_layout(name)
        assert {"RELEASE", "EXPECTED", "OPTIONS", "is_release_root", "find_samples"} <= set(vars(module)), name


# --------------------------------------------------------------------------------------------- PolypGen
def test_polypgen_with_negatives(tmp_path):
    top = tmp_path / "PolypGen2021_MultiCenterData_v3"
    write_image(top / "data_C1" / "images_C1" / "100H0050.jpg", photo())
    write_image(top / "data_C1" / "masks_C1" / "100H0050_mask.jpg", clean_mask())
    seq = top / "sequenceData" / "positive" / "seq3"
    write_image(seq / "images_seq3" / "f1.jpg", photo())
    write_image(seq / "masks_seq3" / "f1_mask.jpg", clean_mask())
    write_image(top / "sequenceData" / "negativeOnly" / "seq1_neg" / "n1.jpg", photo(width=20))
    manifest = run(tmp_path, tmp_path, layout="polypgen", options={"include_negative": True}).set_index("id")
    assert manifest.index.tolist() == ["C1_100H0050", "seq1_neg_n1", "seq3_f1"]
    assert manifest.loc["C1_100H0050", ["centre", "sequence", "group"]].tolist() == ["C1", "", "C1/100H0050"]
    assert manifest.loc["seq3_f1", ["centre", "sequence", "group"]].tolist() == ["", "seq3", "seq3"]
    assert manifest.loc["seq1_neg_n1", ["mask", "width", "mask_fixed_pixels"]].tolist() == ["", 20, 0]


# ------------------------------------------------------------------------------------------------- 3D
SHAPE = (4, 4, 3)
AFFINE = np.diag([2.0, 2.0, 3.0, 1.0])
MODALITIES = ("flair", "t1", "t1ce", "t2")


def write_volume(path: Path, data: np.ndarray, affine: np.ndarray = AFFINE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, affine), str(path))


def labels(values=(0, 1, 2, 4)) -> np.ndarray:
    return np.resize(np.array(values, dtype=np.uint8), SHAPE)


def make_brats(root: Path, cases=("BraTS2021_00000", "BraTS2021_00001")) -> Path:
    top = root / "BraTS2021_Training_Data"
    for index, case in enumerate(cases):
        for channel, modality in enumerate(MODALITIES):
            write_volume(top / case / f"{case}_{modality}.nii.gz", np.full(SHAPE, index * 10 + channel, dtype=np.int16))
        write_volume(top / case / f"{case}_seg.nii.gz", labels())
    return top


def case_file(top: Path, part: str, case: str = "BraTS2021_00001") -> Path:
    return top / case / f"{case}_{part}.nii.gz"


def test_brats_manifest_rows(tmp_path):
    top = make_brats(tmp_path)
    manifest = run(tmp_path, tmp_path, layout="brats")
    assert list(manifest.columns) == list(MANIFEST_3D_COLUMNS)
    row = manifest.set_index("id").loc["BraTS2021_00001"]
    assert row["image"] == ";".join(case_file(top, m).as_posix() for m in MODALITIES)
    assert row["mask"] == case_file(top, "seg").as_posix()
    assert (row["modalities"], row["label_convention"], row["shape"], row["spacing"], row["group"]) == (
        "flair,t1,t1ce,t2", "brats", "4x4x3", "2x2x3", "BraTS2021_00001",
    )  # fmt: skip


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-20])


def _shift_affine(delta: float):
    def damage(path: Path) -> None:
        image = nib.load(str(path))
        affine = AFFINE.copy()
        affine[0, 3] += delta
        write_volume(path, np.asarray(image.dataobj), affine)

    return damage


# (file to damage, how, expected reason) -- each leaves case BraTS2021_00001 bad
BAD_3D_CASES = [
    ("t1ce", lambda p: p.unlink(), r"missing in .*BraTS2021_00001: t1ce \(BraTS2021_00001_t1ce\.nii\.gz\)"),
    ("seg", lambda p: p.unlink(), r"missing in .*: label map \(BraTS2021_00001_seg\.nii\.gz\)"),
    ("t1", lambda p: p.write_bytes(b"garbage"), r"volume .*t1\.nii\.gz cannot be read as NIfTI"),
    ("flair", _truncate, r"volume .*flair\.nii\.gz cannot be read as NIfTI"),
    ("t1ce", lambda p: write_volume(p, np.zeros((4, 4, 2), np.int16)), r"modalities differ in shape: flair 4x4x3, t1 4x4x3, t1ce 4x4x2, t2 4x4x3"),
    ("t2", lambda p: write_volume(p, np.zeros((*SHAPE, 2), np.int16)), r"t2 volume is 4x4x3x2; expected a 3D volume"),
    ("t2", _shift_affine(0.5), r"modalities differ in affine \(tolerance 0\.001\): t2 \(by up to 0\.5\) differ from flair"),
    ("seg", lambda p: write_volume(p, np.zeros((4, 3, 3), np.uint8)), r"label map is 4x3x3 but the image is 4x4x3"),
    ("seg", _shift_affine(0.01), r"label map affine differs from the flair affine by up to 0\.01 \(tolerance 0\.001\)"),
    ("seg", lambda p: write_volume(p, labels((0, 3, 5))), r"label values 3, 5 are not in the brats convention \(allowed: 0, 1, 2, 4\)"),
    ("seg", lambda p: write_volume(p, labels((0, 1)).astype(np.float32) * 0.5), r"label map holds non-integer values \(first: 0\.5\)"),
]


@pytest.mark.parametrize("part, damage, reason", BAD_3D_CASES)
def test_bad_3d_case_is_reported_and_skipped(tmp_path, part, damage, reason):
    top = make_brats(tmp_path)
    damage(case_file(top, part))
    manifest = run(tmp_path, tmp_path, layout="brats", on_bad_sample="skip")
    assert manifest["id"].tolist() == ["BraTS2021_00000"]
    bad = report(tmp_path)
    assert bad["id"].tolist() == ["BraTS2021_00001"]
    assert bad.loc[0, "path"] == case_file(top, part).as_posix()
    assert re.search(reason, bad.loc[0, "reason"]), bad.loc[0, "reason"]


def test_affine_within_tolerance_is_fine(tmp_path):
    top = make_brats(tmp_path)
    _shift_affine(5e-4)(case_file(top, "t2"))
    assert len(run(tmp_path, tmp_path, layout="brats")) == 2


def test_brats2023_naming_and_labels(tmp_path):
    case = "BraTS-GLI-00000-000"
    for channel, suffix in enumerate(("t2f", "t1n", "t1c", "t2w")):
        write_volume(tmp_path / case / f"{case}-{suffix}.nii.gz", np.full(SHAPE, channel, np.int16))
    write_volume(tmp_path / case / f"{case}-seg.nii.gz", labels((0, 1, 2, 3)))
    row = run(tmp_path, tmp_path, layout="brats").iloc[0]
    assert (row["id"], row["label_convention"], row["modalities"]) == (case, "brats2023", "flair,t1,t1ce,t2")
    assert row["image"].split(";")[0].endswith(f"{case}-t2f.nii.gz")


def test_msd_4d_cases(tmp_path):
    top = tmp_path / "Task01_BrainTumour"
    write_volume(top / "imagesTr" / "BRATS_001.nii.gz", np.zeros((*SHAPE, 4), np.float32))
    write_volume(top / "labelsTr" / "BRATS_001.nii.gz", labels((0, 1, 2, 3)))
    write_volume(top / "imagesTr" / "BRATS_002.nii.gz", np.zeros((*SHAPE, 3), np.float32))
    write_volume(top / "labelsTr" / "BRATS_002.nii.gz", labels((0, 1, 2, 3)))
    manifest = run(tmp_path, tmp_path, layout="msd_brats", on_bad_sample="skip")
    row = manifest.iloc[0]
    assert (row["id"], row["image"], row["modalities"], row["label_convention"], row["shape"]) == (
        "BRATS_001", (top / "imagesTr" / "BRATS_001.nii.gz").as_posix(), "flair,t1,t1ce,t2", "msd", "4x4x3",
    )  # fmt: skip
    bad = report(tmp_path)
    assert bad["id"].tolist() == ["BRATS_002"]
    assert bad.loc[0, "reason"] == "image is 4x4x3x3; expected a 4D volume with 4 channels (flair,t1,t1ce,t2) on its last axis"


def test_deepmedic_case(tmp_path):
    case = tmp_path / "train" / "brats_2013_pat0001_1"
    write_volume(case / "Flair_subtrMeanDivStd.nii.gz", np.zeros(SHAPE, np.float32))
    write_volume(case / "T1c_subtrMeanDivStd.nii.gz", np.zeros(SHAPE, np.float32))
    write_volume(case / "OTMultiClass.nii.gz", labels((0, 1, 2, 3, 4)))
    row = run(tmp_path, tmp_path, layout="brats2015_deepmedic").iloc[0]
    assert (row["id"], row["modalities"], row["label_convention"]) == ("brats_2013_pat0001_1", "flair,t1ce", "brats2015")
