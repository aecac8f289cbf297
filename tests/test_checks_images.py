"""Image-file checks on small images made here with Pillow (in a temporary folder).

The planted folder (ids, split, what is wrong):

    1  a.jpg        train  clean 160x120 scene
    2  b.jpg        train  clean 160x120 scene
    3  a_val.jpg    val    byte copy of a.jpg in another split        -> leakage of 1
    4  b_small.jpg  train  b.jpg resized to 80x60, recompressed       -> near duplicate of 2
    5  trunc.jpg    train  the first half of c.jpg                    -> unreadable
    6  turned.jpg   train  64x48 pixels, EXIF orientation 6, declared 48x64 -> exif (turned view)
    7  junk.jpg     train  text, not an image                         -> unreadable
    8  gone.jpg     val    no such file                               -> missing
    9  wrong.png    val    64x48, declared 100x100                    -> size mismatch (gap 52)
    10 a_again.jpg  train  byte copy of a.jpg in the same split        -> duplicate of 1
    11 d.jpg        train  clean 160x120 scene
    12 d_val.jpg    val    d.jpg resized to 120x90, recompressed      -> near leakage of 11
    13 flipped.jpg  val    e.jpg with EXIF orientation 3 (turned 180) -> exif
    14 cut.png      val    a PNG missing its last 200 bytes           -> unreadable
"""
import io
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageDraw

from annokit.bits import popcount
from annokit import Dataset
from annokit.checks import CHECKS, FINDING_COLUMNS, Thresholds
from annokit import images as image_files
from annokit.checks import images as checks

from conftest import shared_dataset


def scene(seed: int, size=(160, 120)) -> Image.Image:
    """A few large coloured ellipses: a stable perceptual hash, unlike noise."""
    rng = np.random.default_rng(seed)
    w, h = size
    im = Image.new("RGB", size, tuple(int(v) for v in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(im)
    for _ in range(6):
        x0, y0 = rng.integers(0, w - 10), rng.integers(0, h - 10)
        x1, y1 = x0 + rng.integers(w // 4, w // 2), y0 + rng.integers(h // 4, h // 2)
        draw.ellipse([int(x0), int(y0), int(x1), int(y1)],
                     fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    return im


def exif(orientation: int) -> Image.Exif:
    tags = Image.Exif()
    tags[0x0112] = orientation
    return tags


def make_planted(root: Path) -> Dataset:
    root.mkdir()
    scene(1).save(root / "a.jpg", quality=90)
    scene(2).save(root / "b.jpg", quality=90)
    shutil.copy(root / "a.jpg", root / "a_val.jpg")
    scene(2).resize((80, 60)).save(root / "b_small.jpg", quality=60)
    buffer = io.BytesIO()
    scene(3).save(buffer, "JPEG", quality=90)
    (root / "trunc.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    scene(4, (64, 48)).save(root / "turned.jpg", exif=exif(6))
    (root / "junk.jpg").write_text("not an image at all")
    scene(5, (64, 48)).save(root / "wrong.png")
    shutil.copy(root / "a.jpg", root / "a_again.jpg")
    scene(6).save(root / "d.jpg", quality=90)
    scene(6).resize((120, 90)).save(root / "d_val.jpg", quality=70)
    scene(7).save(root / "flipped.jpg", exif=exif(3))
    buffer = io.BytesIO()
    scene(8, (64, 48)).save(buffer, "PNG")
    (root / "cut.png").write_bytes(buffer.getvalue()[:-200])
    files = ["a.jpg", "b.jpg", "a_val.jpg", "b_small.jpg", "trunc.jpg", "turned.jpg",
             "junk.jpg", "gone.jpg", "wrong.png", "a_again.jpg", "d.jpg", "d_val.jpg",
             "flipped.jpg", "cut.png"]
    sizes = [(160, 120), (160, 120), (160, 120), (80, 60), (160, 120), (48, 64), (None, None),
             (10, 10), (100, 100), (160, 120), (160, 120), (120, 90), (160, 120), (64, 48)]
    splits = ["train", "train", "val", "train", "train", "train", "train", "val", "val",
              "train", "train", "val", "val", "val"]
    images = pd.DataFrame({"id": np.arange(1, 15), "file_name": files,
                           "width": [w for w, _ in sizes], "height": [h for _, h in sizes],
                           "split": splits})
    return Dataset(images=images, meta={"image_root": str(root)})


def make_clean(root: Path) -> Dataset:
    root.mkdir()
    scene(11).save(root / "x.jpg", quality=90)
    scene(12, (120, 160)).save(root / "y.png")
    scene(13).save(root / "z.jpg", quality=90, exif=exif(1))  # orientation 1: as stored
    images = pd.DataFrame({"id": [1, 2, 3], "file_name": ["x.jpg", "y.png", "z.jpg"],
                           "width": [160, 120, None], "height": [120, 160, None],
                           "split": ["train", "val", "val"]})
    return Dataset(images=images, meta={"image_root": str(root)})


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return make_planted(tmp_path_factory.mktemp("images") / "planted")


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    return make_clean(tmp_path_factory.mktemp("images") / "clean")


def run(check_id: str, ds: Dataset, **limits) -> pd.DataFrame:
    found = CHECKS[check_id].func(ds, Thresholds(**limits))
    assert list(found.columns) == FINDING_COLUMNS
    assert (found["check"] == check_id).all()
    return found


IMAGE_CHECKS = {"images.missing": "error", "images.unreadable": "error",
                "images.size_mismatch": "error", "images.exif_orientation": "warning",
                "images.duplicate": "warning", "images.near_duplicate": "warning",
                "images.leakage": "error", "images.near_leakage": "warning"}


def test_registered_with_severities():
    got = {k: c.severity for k, c in CHECKS.items() if k.startswith("images.")}
    assert got == {**IMAGE_CHECKS, "images.size_outlier": "warning"}
    assert all(CHECKS[k].needs_images for k in IMAGE_CHECKS)
    assert not CHECKS["images.size_outlier"].needs_images  # declared sizes only


def test_image_table(planted):
    table = image_files.image_table(planted)
    assert table["image_id"].tolist() == list(range(1, 15))
    assert table["found"].tolist() == [True] * 7 + [False] + [True] * 6
    assert table.loc[0, ["width", "height"]].tolist() == [160, 120]
    assert table.loc[3, ["width", "height"]].tolist() == [80, 60]
    assert table.loc[5, ["width", "height", "orientation"]].tolist() == [64, 48, 6]
    assert table.loc[12, "orientation"] == 3
    assert table["error"].notna().tolist() == [False] * 4 + [True, False, True] + \
        [False] * 6 + [True]
    assert table.loc[0, "sha"] == table.loc[2, "sha"] == table.loc[9, "sha"] != table.loc[1, "sha"]
    assert len(table.loc[0, "sha"]) == 32  # BLAKE2b-128, hex
    assert str(table["phash"].dtype) == "UInt64"
    assert table["phash"].isna().tolist() == [False] * 4 + [True, False, True, True] + \
        [False] * 5 + [True]


def test_image_hashes(planted):
    hashes = image_files.image_hashes(planted)
    assert list(hashes.columns) == ["image_id", "sha", "phash"]
    assert hashes["phash"][0] == hashes["phash"][2]  # byte copies
    near = int(hashes["phash"][1]) ^ int(hashes["phash"][3])  # b and its small copy
    assert bin(near).count("1") <= 4


def test_missing(planted, clean):
    found = run("images.missing", planted)
    assert found["image_id"].tolist() == [8]
    assert found["message"][0] == f"image file not found: {planted.meta['image_root']}" \
        f"{os.sep}gone.jpg"
    assert run("images.missing", clean).empty


def test_missing_without_image_folder(planted):
    ds = Dataset(images=planted.images)  # no meta['image_root']
    found = run("images.missing", ds)
    assert len(found) == 1 and found["severity"][0] == "info"
    assert found["value"][0] == 14
    assert found["message"][0].startswith("14 images have no known image folder")
    for check_id in IMAGE_CHECKS:
        if check_id != "images.missing":
            assert run(check_id, ds).empty, check_id


def test_unreadable(planted, clean):
    found = run("images.unreadable", planted)
    assert found["image_id"].tolist() == [5, 7, 14]
    messages = found["message"].tolist()
    assert messages[0].startswith("cannot decode trunc.jpg: OSError: image file is truncated")
    assert messages[1] == "cannot decode junk.jpg: not an image format Pillow can read"
    assert messages[2].startswith("cannot decode cut.png: ")
    assert run("images.unreadable", clean).empty


def test_size_mismatch(planted, clean):
    found = run("images.size_mismatch", planted)
    # turned.jpg declares the EXIF-turned 48x64 of its 64x48 pixels: left to exif_orientation
    assert found["image_id"].tolist() == [9]
    assert found["value"].tolist() == [52.0]  # max(|100 - 64|, |100 - 48|)
    assert found["message"][0] == "declared size 100x100 but wrong.png is 64x48"
    assert run("images.size_mismatch", clean).empty


def test_exif_orientation(planted, clean):
    found = run("images.exif_orientation", planted)
    assert found["image_id"].tolist() == [6, 13]
    assert found["value"].tolist() == [6.0, 3.0]
    assert found["message"].tolist() == [
        "EXIF orientation 6: viewers show the stored pixels turned 90 degrees clockwise, as "
        "48x64 instead of 64x48; the declared size is the turned view; boxes drawn on that "
        "view will not fit the pixels",
        "EXIF orientation 3: viewers show the stored pixels turned 180 degrees; boxes drawn "
        "on that view will not fit the pixels"]
    assert run("images.exif_orientation", clean).empty


def test_duplicate_within_split(planted, clean):
    found = run("images.duplicate", planted)
    assert found["image_id"].tolist() == [10]
    assert found["value"].tolist() == [0.0]
    assert found["message"][0] == "same bytes as image 1 'a.jpg'; 2 matching images in all"
    assert run("images.duplicate", clean).empty


def test_leakage_across_splits(planted, clean):
    found = run("images.leakage", planted)
    # a.jpg (1, train) has byte copies in val (3) and train (10): both later ones leak
    assert found["image_id"].tolist() == [3, 10]
    assert found["value"].tolist() == [0.0, 0.0]
    assert found["message"].tolist() == [
        "same bytes as image 1 'a.jpg' in split 'train' while this image is in 'val'; "
        "2 matching images in all",
        "same bytes as image 3 'a_val.jpg' in split 'val' while this image is in 'train'; "
        "2 matching images in all"]
    assert run("images.leakage", clean).empty


def test_near_duplicate_within_split(planted, clean):
    found = run("images.near_duplicate", planted)
    assert found["image_id"].tolist() == [4]  # b_small, of b; byte copies are not repeated
    table = image_files.image_table(planted)
    distance = bin(int(table["phash"][1]) ^ int(table["phash"][3])).count("1")
    assert found["value"].tolist() == [float(distance)]
    assert found["message"][0] == (f"near-duplicate of image 2 'b.jpg' (pHash distance "
                                   f"{distance} <= 4)")
    if distance:  # a tighter limit leaves it out
        assert run("images.near_duplicate", planted, phash_distance=distance - 1).empty
    assert run("images.near_duplicate", clean).empty


def test_near_leakage_across_splits(planted, clean):
    found = run("images.near_leakage", planted)
    assert found["image_id"].tolist() == [12]  # d_val.jpg, of d.jpg
    assert found["message"][0].startswith("near-duplicate of image 11 'd.jpg' (pHash distance ")
    assert found["message"][0].endswith(" in split 'train' while this image is in 'val'")
    assert found["value"][0] <= 4
    assert run("images.near_leakage", clean).empty


def test_clean_folder_has_no_findings(clean):
    for check_id in IMAGE_CHECKS:
        assert run(check_id, clean).empty, check_id


def test_unrelated_scenes_are_far_apart(planted):
    hashes = image_files.image_hashes(planted).dropna(subset=["phash"])
    ids = hashes["image_id"].to_numpy()
    values = hashes["phash"].to_numpy(dtype=np.uint64)
    i, j = np.triu_indices(len(ids), k=1)
    distances = popcount(values[i] ^ values[j])
    near = {(int(a), int(b)) for a, b in zip(ids[i][distances <= 4], ids[j][distances <= 4])}
    assert near == {(1, 3), (1, 10), (3, 10), (2, 4), (11, 12)}  # only the planted copies


def test_images_without_split_are_duplicates_not_leakage(tmp_path):
    scene(21).save(tmp_path / "p.jpg")
    shutil.copy(tmp_path / "p.jpg", tmp_path / "q.jpg")
    ds = Dataset(images=pd.DataFrame({"id": [5, 2], "file_name": ["p.jpg", "q.jpg"],
                                      "split": [None, "test"]}),
                 meta={"image_root": str(tmp_path)})
    found = run("images.duplicate", ds)
    assert found["image_id"].tolist() == [5]  # the later id, matched to image 2
    assert found["message"][0] == "same bytes as image 2 'q.jpg'"
    assert run("images.leakage", ds).empty


def test_split_roots(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "val").mkdir()
    scene(31).save(tmp_path / "train" / "0001.jpg")
    shutil.copy(tmp_path / "train" / "0001.jpg", tmp_path / "val" / "0001.jpg")
    ds = Dataset(images=pd.DataFrame({"id": [1, 2], "file_name": ["0001.jpg", "0001.jpg"],
                                      "split": ["train", "val"]}),
                 meta={"image_root": str(tmp_path),
                       "split_roots": {s: str(tmp_path / s) for s in ("train", "val")}})
    assert run("images.leakage", ds)["image_id"].tolist() == [2]
    assert run("images.missing", ds).empty


def test_scan_is_reused_and_refreshed(tmp_path, monkeypatch):
    scene(41).save(tmp_path / "p.jpg")
    ds = Dataset(images=pd.DataFrame({"file_name": ["p.jpg"], "width": [160],
                                      "height": [120]}),
                 meta={"image_root": str(tmp_path)})
    calls = []
    scan_file = image_files._scan_file
    monkeypatch.setattr(image_files, "_scan_file", lambda p: calls.append(p) or scan_file(p))
    for check_id in IMAGE_CHECKS:
        run(check_id, ds)
    assert len(calls) == 1  # one read of the file for all eight checks
    scene(41, (80, 60)).save(tmp_path / "p.jpg")
    stat = os.stat(tmp_path / "p.jpg")
    os.utime(tmp_path / "p.jpg", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert run("images.size_mismatch", ds)["value"].tolist() == [80.0]
    assert len(calls) == 2


def test_checks_do_not_mutate(planted):
    before = planted.images.copy()
    for check_id in IMAGE_CHECKS:
        run(check_id, planted)
    pd.testing.assert_frame_equal(planted.images, before)


# -- perceptual hash and the near-pair search ------------------------------------------

def _test_images():
    y, x = np.mgrid[0:48, 0:64]
    grey = ((x * 4 + y * 2) % 256).astype(np.uint8)
    waves = (np.sin(x / 6.0) * 80 + np.cos(y / 9.0) * 40 + 128).astype(np.uint8)
    return [Image.fromarray(grey), Image.fromarray(waves),
            Image.fromarray(np.stack([grey, waves, 255 - grey], -1))]


def test_phash_matches_imagehash_recorded():
    # recorded with ImageHash 4.3.2 (imagehash.phash) on the same arrays
    got = [f"{image_files.phash(im):016x}" for im in _test_images()]
    assert got == ["91b5a9aaaaaaaaaa", "f0d49d5c850fd127", "f0b5a92aaa2aae3a"]


def test_phash_matches_imagehash_live():
    imagehash = pytest.importorskip("imagehash")
    for seed in range(5):
        im = scene(seed)
        assert f"{image_files.phash(im):016x}" == str(imagehash.phash(im))


def test_near_pairs_hand_checked():
    values = np.array([0b0000, 0b0111, 0b1111, 0b0111 << 58], dtype=np.uint64)
    i, j, d = image_files.near_pairs(values, 1)
    assert list(zip(i.tolist(), j.tolist(), d.tolist())) == [(1, 2, 1)]
    i, j, d = image_files.near_pairs(values, 3)
    assert sorted(zip(i.tolist(), j.tolist(), d.tolist())) == [
        (0, 1, 3), (0, 3, 3), (1, 2, 1)]
    assert len(image_files.near_pairs(values, 0)[0]) == 0


@pytest.mark.parametrize("distance", [1, 4, 7])
def test_near_pairs_equals_brute_force(distance):
    rng = np.random.default_rng(distance)
    base = rng.integers(0, 2**63, 400, dtype=np.int64).astype(np.uint64) << np.uint64(1)
    # plant copies with 1..distance+2 flipped bits
    src = rng.integers(0, 400, 200)
    flips = np.zeros(200, dtype=np.uint64)
    for k in range(200):
        for bit in rng.choice(64, rng.integers(1, distance + 3), replace=False):
            flips[k] |= np.uint64(1) << np.uint64(bit)
    values = np.unique(np.r_[base, base[src] ^ flips])
    i, j = np.triu_indices(len(values), k=1)
    d = popcount(values[i] ^ values[j])
    expected = sorted(zip(i[d <= distance].tolist(), j[d <= distance].tolist()))
    gi, gj, gd = image_files.near_pairs(values, distance)
    assert sorted(zip(gi.tolist(), gj.tolist())) == expected
    assert (gd == popcount(values[gi] ^ values[gj])).all()
    assert len(expected) >= 40  # the planted pairs are there to find


def test_forward_pairs_chunks():
    counts = np.array([3, 2, 1, 0])
    whole = [(i.tolist(), j.tolist()) for i, j in image_files._forward_pairs(counts)]
    assert whole == [([0, 0, 0, 1, 1, 2], [1, 2, 3, 2, 3, 3])]
    chunked = [(i.tolist(), j.tolist()) for i, j in image_files._forward_pairs(counts, chunk=2)]
    assert sum((i for i, _ in chunked), []) == [0, 0, 0, 1, 1, 2]
    assert sum((j for _, j in chunked), []) == [1, 2, 3, 2, 3, 3]


def test_many_identical_images_scale():
    """5,000 identical hashes across three splits, plus 20,000 others: linear, not n^2."""
    rng = np.random.default_rng(0)
    n = 25_000
    hashes = rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64)
    hashes[:5000] = 7
    table = pd.DataFrame({"image_id": np.arange(1, n + 1),
                          "split": rng.choice(["train", "val", "test"], n).astype(object),
                          "phash": pd.array(hashes, dtype="UInt64")})
    found = checks._partners(table, "phash", 4)
    blank = found[found["image_id"] <= 5000]
    # every blank image but the first of its split has a within-split partner
    assert (~blank["cross"]).sum() == 5000 - 3
    assert (blank["similar"] == 4999).all()


# -- real data ------------------------------------------------------------------------

@pytest.mark.slow
def test_sign_language_digits():
    root = shared_dataset("sign_language_digits", "Dataset")
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    # every image is 100x100 but for a few 3024x3024 originals, per the README
    ds = Dataset(images=pd.DataFrame({"file_name": files, "width": 100, "height": 100,
                                      "split": [f.split("/")[0] for f in files]}),
                 meta={"image_root": str(root)})
    originals = ["7/IMG_5874.JPG", "7/IMG_5935.JPG", "7/IMG_5978.JPG"]
    ids = ds.images.set_index("file_name").loc[originals, "id"].tolist()
    found = run("images.size_mismatch", ds)
    assert found["image_id"].tolist() == ids
    assert (found["value"] == 2924).all()
    exif_found = run("images.exif_orientation", ds)
    assert exif_found["image_id"].tolist() == ids and (exif_found["value"] == 6).all()
    assert run("images.missing", ds).empty and run("images.unreadable", ds).empty
    assert run("images.duplicate", ds).empty and run("images.leakage", ds).empty


@pytest.mark.slow
def test_bccd_images():
    root = shared_dataset("bccd", "BCCD")
    pytest.importorskip("annokit.formats.voc", reason="the VOC reader is not written yet")
    import annokit

    ds = annokit.read(root, "voc")
    for check_id in ("images.missing", "images.unreadable", "images.size_mismatch",
                     "images.exif_orientation", "images.duplicate", "images.leakage"):
        assert run(check_id, ds).empty, check_id  # all 364 files present, 640x480, distinct


@pytest.mark.slow
def test_raccoon_duplicates():
    root = shared_dataset("raccoon")
    pytest.importorskip("annokit.formats.voc", reason="the VOC reader is not written yet")
    import annokit

    ds = annokit.read(root, "voc")
    files = ds.images.set_index("id")["file_name"]

    def pairs(check_id):
        found = run(check_id, ds)
        return sorted((files[i], m.split("'")[1], v)
                      for i, m, v in zip(found["image_id"], found["message"], found["value"]))

    # found by this check and confirmed by eye: byte copies, and resized copies
    assert pairs("images.duplicate") == [
        ("raccoon-116.jpg", "raccoon-11.jpg", 0.0), ("raccoon-74.jpg", "raccoon-52.jpg", 0.0),
        ("raccoon-83.jpg", "raccoon-120.jpg", 0.0), ("raccoon-98.jpg", "raccoon-65.jpg", 0.0)]
    near = pairs("images.near_duplicate")
    assert [(a, b) for a, b, _ in near] == [("raccoon-45.jpg", "raccoon-21.jpg"),
                                            ("raccoon-52.jpg", "raccoon-50.jpg"),
                                            ("raccoon-85.jpg", "raccoon-51.jpg")]
    assert all(v <= 4 for _, _, v in near)
    assert run("images.missing", ds).empty and run("images.unreadable", ds).empty


def test_size_outlier_uses_declared_sizes_only():
    from annokit import Dataset
    from annokit.checks import Thresholds
    from annokit.checks.images import size_outlier

    sizes = [(100, 100)] * 30 + [(3024, 3024), (96, 104)]
    images = pd.DataFrame({"id": range(1, 33), "file_name": [f"{i}.jpg" for i in range(32)],
                           "width": [w for w, _ in sizes], "height": [h for _, h in sizes]})
    found = size_outlier(Dataset(images=images), Thresholds())
    assert found["image_id"].tolist() == [31]  # the 3024 px original; 96x104 is ordinary
    assert "3024x3024 px is far larger than the dataset's typical ~100x100 px" in \
        found["message"].iloc[0]
    clean = Dataset(images=images.iloc[:30])
    assert size_outlier(clean, Thresholds()).empty
    few = Dataset(images=images.iloc[25:])  # too few images to say what is typical
    assert size_outlier(few, Thresholds()).empty
