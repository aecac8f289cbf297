"""Class folders: detect, read (flat and split layouts), write, round trips, image-level labels."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import annokit
from annokit.errors import FormatError, Problems
from annokit.fileio import atomic_output
from annokit.formats import coco, imagefolder, layout, voc, yolo
from annokit.labels import classes_per_image, is_single_label, to_image_labels
from conftest import FIXTURES, assert_same_content, shared_dataset


def image(path: Path, size=(64, 48), colour=(128, 128, 128)) -> Path:
    """A small image file (format from the extension)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP"}[path.suffix.lower()]
    Image.new("RGB", size, colour).save(path, format=fmt)
    return path


@pytest.fixture
def flat(tmp_path) -> Path:
    """cat/ (2 images, one nested), dog/ (1, upper-case .JPG), empty/, one unlabelled image."""
    root = tmp_path / "flat"
    image(root / "cat" / "a.png", (64, 48))
    image(root / "cat" / "deep" / "b.jpg", (80, 60))
    image(root / "dog" / "C.JPG", (100, 50))
    (root / "empty").mkdir()
    image(root / "loose.png", (70, 40))
    (root / "dog" / "notes.md").write_text("not an image")
    image(root / ".hidden" / "x.png")  # hidden folders are not classes
    image(root / "cat" / ".y.png")  # nor hidden files images
    return root


@pytest.fixture
def splits(tmp_path) -> Path:
    """train/{cat,dog}, val/{cat,bird}: bird only in val, a.png in both splits."""
    root = tmp_path / "splits"
    image(root / "train" / "cat" / "a.png", (64, 48))
    image(root / "train" / "cat" / "b.png", (64, 48))
    image(root / "train" / "dog" / "c.png", (90, 30))
    image(root / "val" / "cat" / "a.png", (32, 32))
    image(root / "val" / "bird" / "d.jpg", (50, 40))
    return root


def rows(ds) -> list[tuple]:
    """[(split, file_name, width, height, class or None)] in image order."""
    names = ds.categories.set_index("id")["name"]
    label = ds.annotations.set_index("image_id")["category_id"].map(names)
    return [(s, f, int(w), int(h), label.get(i)) for i, f, w, h, s in
            ds.images[["id", "file_name", "width", "height", "split"]].itertuples(index=False)]


def write(ds, out: Path, **options) -> list[str]:
    """imagefolder.write the way the registry calls it: atomic, into a fresh path."""
    problems = Problems(options.pop("strict", False))
    with atomic_output(out) as tmp:
        notes = imagefolder.write(ds, tmp, images=options.pop("images", "copy"),
                                  problems=problems, single_file=False, **options)
    return problems.messages() + notes.texts()


def files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def folders(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_dir())


# -- detect -----------------------------------------------------------------------

def test_detect_flat_and_split_layouts(flat, splits):
    assert imagefolder.detect(flat)
    assert imagefolder.detect(splits)
    for other in (coco, voc, yolo):  # and no other format claims them
        assert not other.detect(flat) and not other.detect(splits)


@pytest.mark.parametrize("fmt", ["coco", "voc", "yolo"])
def test_detect_refuses_every_other_fixture(fmt):
    folders_ = [p for p in (FIXTURES / fmt).rglob("*") if p.is_dir()] + [FIXTURES / fmt]
    claimed = [str(p) for p in folders_ if imagefolder.detect(p)]
    # the image folders inside them are plain folders of images; their roots are not ours
    assert not [c for c in claimed if not c.endswith(("images", "img"))], claimed
    for root in (p for p in folders_ if any(m.detect(p) for m in (coco, voc, yolo))):
        assert not imagefolder.detect(root), root


def test_detect_refuses_other_layouts(tmp_path):
    yolo_like = tmp_path / "yolo"
    image(yolo_like / "images" / "train" / "a.jpg")
    (yolo_like / "labels" / "train").mkdir(parents=True)
    (yolo_like / "labels" / "train" / "a.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    labels_beside = tmp_path / "beside"
    image(labels_beside / "cat" / "a.jpg")
    (labels_beside / "cat" / "a.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    xml_beside = tmp_path / "xml"
    image(xml_beside / "train" / "a.jpg")
    (xml_beside / "train" / "a.xml").write_text("<annotation></annotation>")
    json_root = tmp_path / "json"
    image(json_root / "cat" / "a.jpg")
    (json_root / "annotations.json").write_text("{}")
    only_images = tmp_path / "plain"
    image(only_images / "a.jpg")
    assert not imagefolder.detect(yolo_like)
    assert not imagefolder.detect(yolo_like / "images")  # images/train: YOLO's split folder
    assert not imagefolder.detect(labels_beside)
    assert not imagefolder.detect(xml_beside)
    assert not imagefolder.detect(json_root)
    assert not imagefolder.detect(only_images)  # no class folder
    assert not imagefolder.detect(tmp_path / "missing")
    assert not imagefolder.detect(only_images / "a.jpg")


def test_detect_allows_readme_at_the_root(flat):
    (flat / "README.txt").write_text("digits")
    assert imagefolder.detect(flat)


# -- read -------------------------------------------------------------------------

def test_read_flat(flat):
    problems = Problems()
    ds = imagefolder.read(flat, problems=problems)
    assert ds.categories[["id", "name"]].values.tolist() == [[1, "cat"], [2, "dog"],
                                                            [3, "empty"]]
    assert ds.categories["supercategory"].isna().all()
    assert rows(ds) == [(None, "cat/a.png", 64, 48, "cat"),
                        (None, "cat/deep/b.jpg", 80, 60, "cat"),
                        (None, "dog/C.JPG", 100, 50, "dog"),
                        (None, "loose.png", 70, 40, None)]
    assert ds.images["id"].tolist() == [1, 2, 3, 4]
    anns = ds.annotations
    assert anns["id"].tolist() == [1, 2, 3] and (anns["kind"] == "label").all()
    assert anns[["x", "y", "w", "h"]].isna().all().all()
    assert ds.meta["image_root"] == str(flat) and ds.meta["split_roots"] == {}
    assert all(Path(p).is_file() for p in ds.image_paths())
    assert problems.messages() == []


def test_read_splits(splits):
    ds = imagefolder.read(splits, problems=Problems())
    assert ds.categories["name"].tolist() == ["bird", "cat", "dog"]  # union, sorted
    assert rows(ds) == [("train", "cat/a.png", 64, 48, "cat"),
                        ("train", "cat/b.png", 64, 48, "cat"),
                        ("train", "dog/c.png", 90, 30, "dog"),
                        ("val", "bird/d.jpg", 50, 40, "bird"),
                        ("val", "cat/a.png", 32, 32, "cat")]
    assert ds.meta["split_roots"] == {"train": str(splits / "train"), "val": str(splits / "val")}
    paths = ds.image_paths().tolist()
    assert paths[4] == str(splits / "val" / "cat" / "a.png")
    assert all(Path(p).is_file() for p in paths)


def test_classes_named_like_splits_stay_classes(tmp_path):
    """A flat dataset of trains and tests: images sit directly in those folders."""
    image(tmp_path / "d" / "train" / "a.png")
    image(tmp_path / "d" / "test" / "b.png")
    ds = imagefolder.read(tmp_path / "d", problems=Problems())
    assert [r[0] for r in rows(ds)] == [None, None]
    assert [r[4] for r in rows(ds)] == ["test", "train"]


def test_unreadable_image_is_skipped_or_stops(flat):
    (flat / "dog" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    problems = Problems()
    ds = imagefolder.read(flat, problems=problems)
    assert len(ds) == 4 and "dog/broken.jpg" not in ds.images["file_name"].tolist()
    assert len(problems) == 1
    message = problems.messages()[0]
    assert message.startswith(str(flat / "dog" / "broken.jpg") + ": unreadable image header")
    assert message.endswith("(image left out)")
    with pytest.raises(FormatError, match="broken.jpg"):
        imagefolder.read(flat, problems=Problems(strict=True))


def test_read_refuses_what_is_not_an_image_folder(tmp_path):
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    with pytest.raises(FormatError, match="no images found"):
        imagefolder.read(tmp_path / "empty", problems=Problems())
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(FormatError, match="not a folder"):
        imagefolder.read(tmp_path / "f.txt", problems=Problems())


def test_peer_fixtures_nested_and_unlabelled():
    """Datumaro's ImageNet fixture: a nested image, and one with no class folder."""
    ds = imagefolder.read(shared_dataset("peer_fixtures", "datumaro_openvino", "imagenet_dataset"),
                          problems=Problems())
    assert rows(ds) == [(None, "label_0/label_0_1.jpg", 8, 8, "label_0"),
                        (None, "label_0_2.jpg", 10, 10, None),
                        (None, "label_1/label_1_1.jpg", 8, 8, "label_1"),
                        (None, "label_1/label_1_1/label_1_1.jpg", 8, 8, "label_1")]
    ds = imagefolder.read(shared_dataset("peer_fixtures", "datumaro_cvat", "yolo_dataset",
                                         "yolov8_classification"), problems=Problems())
    assert rows(ds) == [("train", "label_0/1.jpg", 15, 10, "label_0"),
                        ("train", "label_0/2.jpg", 15, 10, "label_0"),
                        ("train", "label_1/3.jpg", 15, 10, "label_1")]


def test_sign_language_digits():
    root = shared_dataset("sign_language_digits", "Dataset")
    assert imagefolder.detect(root)
    assert not any(m.detect(root) for m in (coco, voc, yolo))
    problems = Problems()
    ds = imagefolder.read(root, problems=problems)
    assert problems.messages() == []
    assert len(ds) == 2062 and len(ds.annotations) == 2062
    assert ds.categories["name"].tolist() == [str(d) for d in range(10)]
    counts = ds.summary()["images"].tolist()
    assert counts == [205, 206, 206, 206, 207, 207, 207, 206, 208, 204]
    assert ds.images["file_name"].str.endswith(".JPG").all()
    big = ds.images[ds.images["width"] != 100]
    assert big["file_name"].tolist() == ["7/IMG_5874.JPG", "7/IMG_5935.JPG", "7/IMG_5978.JPG"]
    assert (big["height"] == 3024).all() and (big["width"] == 3024).all()
    assert (ds.images["height"][ds.images["width"] == 100] == 100).all()
    assert is_single_label(ds)


# -- write --------------------------------------------------------------------------

def test_round_trip_with_splits(splits, tmp_path):
    a = imagefolder.read(splits, problems=Problems())
    assert write(a, tmp_path / "out") == [
        "split train: 1 class with no image there get no folder: bird (tools that number "
        "classes by sorted folder name number them per split)",
        "split val: 1 class with no image there get no folder: dog (tools that number "
        "classes by sorted folder name number them per split)"]
    assert files(tmp_path / "out") == ["train/cat/a.png", "train/cat/b.png", "train/dog/c.png",
                                       "val/bird/d.jpg", "val/cat/a.png"]
    # no empty class folder: torchvision's ImageFolder refuses them
    assert folders(tmp_path / "out") == ["train", "train/cat", "train/dog",
                                         "val", "val/bird", "val/cat"]
    b = imagefolder.read(tmp_path / "out", problems=Problems())
    assert_same_content(a, b, keep_ids=True)
    assert rows(a) == rows(b)


def test_round_trip_flat_keeps_nesting_and_unlabelled_leaves_out_empty_classes(flat, tmp_path):
    a = imagefolder.read(flat, problems=Problems())
    assert write(a, tmp_path / "out", images="link") == [
        "1 class with no image left out: empty (torchvision's ImageFolder refuses an empty "
        "class folder)"]
    assert files(tmp_path / "out") == ["cat/a.png", "cat/deep/b.jpg", "dog/C.JPG", "loose.png"]
    assert not (tmp_path / "out" / "empty").exists()
    b = imagefolder.read(tmp_path / "out", problems=Problems())
    a.categories = a.categories[a.categories["name"] != "empty"].reset_index(drop=True)
    assert_same_content(a, b, keep_ids=True)
    assert rows(a) == rows(b)


def test_relabelled_image_moves_to_its_new_class(flat, tmp_path):
    ds = imagefolder.read(flat, problems=Problems())
    ds.annotations.loc[0, "category_id"] = 2  # cat/a.png is now a dog
    write(ds, tmp_path / "out")
    assert files(tmp_path / "out") == ["cat/deep/b.jpg", "dog/C.JPG", "dog/a.png", "loose.png"]


def detection() -> annokit.Dataset:
    """Four 64x48 images: cats only, cat and dog, nothing, one dog with a score."""
    return annokit.Dataset(
        pd.DataFrame({"id": [3, 7], "name": ["cat", "dog"]}),
        pd.DataFrame({"id": [1, 2, 3, 4], "file_name": ["a.png", "b.png", "c.png", "sub/d.png"],
                      "width": 64, "height": 48}),
        pd.DataFrame({"id": [10, 11, 12, 13, 14], "image_id": [1, 1, 2, 2, 4],
                      "category_id": [3, 3, 7, 3, 7], "x": [1.0, 5, 2, 3, 4], "y": 2.0,
                      "w": 10.0, "h": 8.0, "score": [np.nan, np.nan, np.nan, np.nan, 0.9]}),
        meta={"image_root": None})


def test_to_image_labels_multi_label():
    labels = to_image_labels(detection())
    got = labels.annotations[["id", "image_id", "category_id", "kind"]].values.tolist()
    assert got == [[1, 1, 3, "label"], [2, 2, 3, "label"], [3, 2, 7, "label"],
                   [4, 4, 7, "label"]]
    assert labels.annotations[["x", "y", "w", "h"]].isna().all().all()
    np.testing.assert_array_equal(labels.annotations["score"], [np.nan, np.nan, np.nan, 0.9])
    assert len(labels.images) == 4 and labels.categories["id"].tolist() == [3, 7]
    assert classes_per_image(detection()).tolist() == [1, 2, 0, 1]
    assert not is_single_label(labels) and not is_single_label(detection())


def test_label_scores_take_the_best_box():
    ds = detection()
    ds.annotations["score"] = [0.2, 0.7, 0.5, 0.1, 0.9]
    assert to_image_labels(ds).annotations["score"].tolist() == [0.7, 0.1, 0.5, 0.9]


def test_is_single_label_cases():
    ds = detection()
    assert not is_single_label(ds)
    ds.annotations = ds.annotations[ds.annotations["image_id"] != 2]
    assert is_single_label(ds)  # several cat boxes on one image: still one class
    ds.annotations = ds.annotations.iloc[:0]
    assert is_single_label(ds)


def test_detection_to_class_folders(tmp_path):
    src = tmp_path / "src"
    for name in ("a.png", "b.png", "c.png", "sub/d.png"):
        image(src / name)
    ds = detection()
    ds.meta["image_root"] = str(src)
    notes = write(ds, tmp_path / "out")
    assert notes == [
        "image folders hold image-level labels: 5 'box' annotations turned into one label "
        "per class present in each image",
        "an image folder holds one class per image: 1 images with several classes left out "
        "(e.g. b.png); use --crops for one image per box, or csv for multi-label data"]
    assert files(tmp_path / "out") == ["c.png", "cat/a.png", "dog/sub/d.png"]
    back = imagefolder.read(tmp_path / "out", problems=Problems())
    assert rows(back) == [(None, "c.png", 64, 48, None), (None, "cat/a.png", 64, 48, "cat"),
                          (None, "dog/sub/d.png", 64, 48, "dog")]


def test_write_refuses_escaping_and_clashing_names(tmp_path):
    src = tmp_path / "src"
    image(src / "a.png")
    image(src / "x" / "a.png")
    ds = annokit.Dataset(
        pd.DataFrame({"id": [1, 2], "name": ["cat", "dog"]}),
        pd.DataFrame({"id": [1, 2, 3, 4], "file_name": ["../a.png", "a.png", "cat/a.png",
                                                          "x/a.png"]}),
        pd.DataFrame({"image_id": [1, 2, 3], "category_id": [1, 1, 1], "kind": "label"}),
        meta={"image_root": str(src)})
    notes = write(ds, tmp_path / "out")
    assert notes[0] == ("../a.png:image id 1: file name escapes the image root (or is empty); "
                        "image not written")
    assert notes[1] == "cat/a.png:image id 3: another image goes to this path; not written"
    assert notes[2].startswith("1 class with no image left out: dog")
    assert len(notes) == 3
    assert files(tmp_path / "out") == ["a.png", "cat/a.png"]
    with pytest.raises(FormatError, match="escapes the image root"):
        write(ds, tmp_path / "strict", strict=True)


def test_write_notes_folder_names_splits_and_no_images(tmp_path):
    ds = annokit.Dataset(
        pd.DataFrame({"id": [1, 2], "name": ["a/b", ".hidden"]}),
        pd.DataFrame({"id": [1, 2, 3], "file_name": ["p.png", "q.png", "r.png"],
                      "split": ["train", None, "fold1"]}),
        pd.DataFrame({"image_id": [1, 2, 3], "category_id": [1, 2, 1], "kind": "label"}),
        meta={"image_root": None})
    notes = write(ds, tmp_path / "out", images="none")
    assert notes == [
        "class names made into folder names: 'a/b' -> 'a_b', '.hidden' -> '_hidden'",
        "1 images without a split written under train/",
        "split folders fold1 are not train/val/test: annokit, torchvision and Ultralytics "
        "will read them as classes",
        "split fold1: 1 class with no image there get no folder: _hidden (tools that number "
        "classes by sorted folder name number them per split)",
        "--images none: only the class folders were written (an image folder dataset is its "
        "images; use --images link or copy)"]
    assert folders(tmp_path / "out") == ["fold1", "fold1/a_b", "train", "train/_hidden",
                                         "train/a_b"]
    assert write(ds, tmp_path / "out2", images="copy")[-1] == (
        "3 images have no known location (no image root): not placed")


def test_class_folders_clash():
    cats = pd.DataFrame({"id": [1, 2, 3], "name": ["a/b", "a_b", "A_B"]})
    assert layout.class_folders(cats) == {1: "a_b", 2: "a_b_2", 3: "A_B_3"}


def test_bccd_image_level_labels(tmp_path):
    """Detection -> multi-labels on real data, hand-checked on BloodImage_00000."""
    ds = annokit.read(shared_dataset("bccd", "BCCD"), "voc")
    labels = to_image_labels(ds)
    names = labels.categories.set_index("id")["name"]
    first = labels.images.loc[labels.images["file_name"] == "BloodImage_00000.jpg", "id"].item()
    got = labels.annotations[labels.annotations["image_id"] == first]["category_id"].map(names)
    assert sorted(got) == ["RBC", "WBC"]  # 19 RBC boxes and 1 WBC in its XML
    assert len(labels.annotations) == 908
    assert classes_per_image(ds).value_counts().sort_index().tolist() == [10, 164, 190]
    notes = write(ds, tmp_path / "out", images="link")
    assert "354 images with several classes left out" in notes[1]
    back = imagefolder.read(tmp_path / "out", problems=Problems())
    assert len(back) == 10 and is_single_label(back)
    assert back.images["split"].notna().all()
