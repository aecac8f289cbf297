"""Layouts that real datasets use: annotations and images in sibling folders, Roboflow
YOLO exports whose data.yaml names a folder that is not there, label lines that are not
YOLO boxes or polygons, and --image-root used as given."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

import annokit
from conftest import FIXTURES, run_cli, shared_dataset

PEER_YOLO = ("peer_fixtures", "datumaro_cvat", "yolo_dataset")


def _raccoon_siblings(tmp_path: Path, xml: str, images: str, n: int = 4) -> Path:
    """n raccoon images as <xml>/ + <images>/ under tmp_path/data."""
    src = shared_dataset("raccoon")
    root = tmp_path / "data"
    (root / xml).mkdir(parents=True)
    (root / images).mkdir()
    for i in range(1, n + 1):
        shutil.copy(src / "annotations" / f"raccoon-{i}.xml", root / xml)
        shutil.copy(src / "images" / f"raccoon-{i}.jpg", root / images)
    return root


@pytest.mark.parametrize("xml, images", [("annots", "images"), ("xml", "jpg"),
                                         ("Annots", "JPEGImages")])
def test_voc_xml_and_images_in_sibling_folders(tmp_path, xml, images):
    root = _raccoon_siblings(tmp_path, xml, images)
    ds = annokit.read(root)
    assert ds.meta["source_format"] == "voc" and len(ds) == 4
    assert ds.images["split"].isna().all()  # the XML folder's name is not a split
    assert ds.meta["image_root"] == str(root / images) and not ds.meta.get("split_roots")
    assert all(Path(p).is_file() for p in ds.image_paths())
    assert ds.images["width"].notna().all() and ds.notes.texts("skipped") == []


def test_voc_sibling_folders_convert_from_the_cli(tmp_path):
    root = _raccoon_siblings(tmp_path, "annots", "images")
    code, _, err = run_cli("convert", "auto", "coco", root, tmp_path / "out", "--images", "copy")
    assert code == 0, err
    assert (tmp_path / "out" / "annotations.json").is_file()  # no split: one file
    assert len(list((tmp_path / "out" / "images").iterdir())) == 4


def _yolo_siblings(tmp_path: Path, names: str | None, split: str | None = None) -> Path:
    """The yolo_mark sample as labels/ + images/ without data.yaml; class names in
    ``names`` ('root', 'labels') or nowhere."""
    src = shared_dataset("yolo_mark_darknet_sample", "x64", "Release", "data")
    root = tmp_path / "yolo"
    sub = Path(split) if split else Path()
    (root / "images" / sub).mkdir(parents=True)
    (root / "labels" / sub).mkdir(parents=True)
    for image in sorted((src / "img").glob("*.jpg")):
        shutil.copy(image, root / "images" / sub)
        if image.with_suffix(".txt").is_file():
            shutil.copy(image.with_suffix(".txt"), root / "labels" / sub)
    if names:
        shutil.copy(src / "obj.names", (root if names == "root" else root / "labels")
                    / "classes.txt")
    return root


@pytest.mark.parametrize("names", ["root", "labels"])
def test_yolo_labels_and_images_without_data_yaml(tmp_path, names):
    root = _yolo_siblings(tmp_path, names)
    ds = annokit.read(root)
    assert ds.meta["source_format"] == "yolo"
    assert ds.categories["name"].tolist() == ["air", "bird"]
    assert len(ds) == 10 and len(ds.annotations) == 35
    assert ds.images["split"].isna().all() and ds.notes.texts("note") == []
    assert all(Path(p).is_file() for p in ds.image_paths())


def test_yolo_without_any_class_names_names_classes_by_index(tmp_path):
    root = _yolo_siblings(tmp_path, None, split="train")
    ds = annokit.read(root)
    assert ds.categories["name"].tolist() == ["0", "1"]
    assert ds.categories["id"].tolist() == [1, 2]
    assert ds.images["split"].unique().tolist() == ["train"]  # images/train is a split
    assert len(ds.annotations) == 35
    assert ds.notes.texts("note") == [f"{root}: no data.yaml, classes.txt or obj.names: "
                                     "classes are named by their index (add classes.txt "
                                     "to name them)"]


def test_image_root_is_used_as_given_not_with_the_split_appended(tmp_path):
    # Roboflow VOC: XML in train/, valid/, test/; the images gathered in one other folder
    data = tmp_path / "voc"
    shutil.copytree(FIXTURES / "voc" / "splits", data,
                    ignore=shutil.ignore_patterns("*.jpg"))
    images = tmp_path / "all_images"
    images.mkdir()
    for jpg in (FIXTURES / "voc" / "splits").rglob("*.jpg"):
        shutil.copy(jpg, images)
    ds = annokit.read(data, image_root=images)
    assert sorted(ds.images["split"].unique()) == ["test", "train", "valid"]
    assert set(ds.meta["split_roots"].values()) == {str(images)}
    assert all(Path(p).is_file() for p in ds.image_paths())
    # a COCO split file, images directly in --image-root
    coco = FIXTURES / "coco" / "splits"
    flat = tmp_path / "flat"
    flat.mkdir()
    for png in (coco / "images").rglob("*.png"):
        shutil.copy(png, flat)
    ds = annokit.read(coco, image_root=flat)
    assert all(Path(p).is_file() for p in ds.image_paths())
    assert ds.meta["image_root"] == str(flat)


@pytest.mark.parametrize("on_disk, in_yaml", [("val", "../valid/images"),
                                              ("valid", "../val/images"),
                                              ("validation", "../valid/images")])
def test_roboflow_yaml_naming_a_folder_that_is_not_there(tmp_path, on_disk, in_yaml):
    root = tmp_path / "rf"
    shutil.copytree(FIXTURES / "yolo" / "roboflow", root)
    (root / "valid").rename(root / on_disk)
    doc = yaml.safe_load((root / "data.yaml").read_text())
    doc["val"] = in_yaml
    (root / "data.yaml").write_text(yaml.safe_dump(doc))
    ds = annokit.read(root)
    assert sorted(ds.images["split"].unique()) == ["test", "train", "val"]
    assert (ds.images["split"] == "val").sum() == 1 and ds.notes.texts("skipped") == []
    assert ds.notes.texts("note") == [
        f"{root / 'data.yaml'}: val: {in_yaml} is not there; read {root / on_disk / 'images'} "
        "instead (the split found by its folder name)"]


def _peer_yolo(tmp_path: Path, name: str, drop: str | None = None, add: dict | None = None
               ) -> Path:
    root = tmp_path / name
    shutil.copytree(shared_dataset(*PEER_YOLO, name), root)
    doc = yaml.safe_load((root / "data.yaml").read_text())
    doc.pop(drop, None)
    doc.update(add or {})
    (root / "data.yaml").write_text(yaml.safe_dump(doc))
    return root


def test_pose_lines_without_kpt_shape_are_skipped_not_read_as_polygons(tmp_path):
    ds = annokit.read(_peer_yolo(tmp_path, "yolov8_pose", drop="kpt_shape"))
    assert len(ds.annotations) == 0
    [skip] = ds.notes.texts("skipped")
    assert "1.txt:line 1: a pose line (class cx cy w h and 3 keypoints), but data.yaml has " \
           "no kpt_shape; not read as a polygon (add kpt_shape: [3, 2 or 3])" in skip
    # with kpt_shape the same line is a box with keypoints
    ds = annokit.read(_peer_yolo(tmp_path / "with", "yolov8_pose"))
    assert len(ds.annotations) == 1 and len(ds.annotations["keypoints"].iloc[0]) == 9


def test_two_value_pose_lines_are_recognised_by_flip_idx(tmp_path):
    root = _peer_yolo(tmp_path, "yolov8_pose_two_values_per_point", drop="kpt_shape",
                      add={"flip_idx": [0, 2, 1]})
    ds = annokit.read(root)
    assert len(ds.annotations) == 0 and "a pose line" in ds.notes.texts("skipped")[0]


def test_oriented_boxes_are_four_point_polygons_with_a_note(tmp_path):
    ds = annokit.read(_peer_yolo(tmp_path, "yolov8_oriented_boxes"))
    assert len(ds.annotations) == 2
    assert all(len(s[0]) == 8 for s in ds.annotations["segmentation"])
    assert any("4 corners" in n for n in ds.notes.texts("note"))


def test_dota_label_lines_are_skipped_and_listed(tmp_path):
    root = tmp_path / "dota"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    shutil.copy(shared_dataset(*PEER_YOLO, "yolov8_pose", "images", "train", "1.jpg"),
                root / "images")
    (root / "labels" / "1.txt").write_text(
        "imagesource:GoogleEarth\ngsd:0.146\n"
        "2753 2408 2861 2385 2888 2468 2805 2502 plane 0\n"
        "27 24 28 23 28 46 20 50 0 1\n"
        "0 0.5 0.5 0.2 0.2\n")
    (root / "classes.txt").write_text("plane\nship\n")
    ds = annokit.read(root)
    assert len(ds.annotations) == 1  # only the YOLO box
    dota = [s for s in ds.notes.texts("skipped") if "DOTA/OBB labelTxt line" in s]
    assert [s.split(":line ")[1][:1] for s in dota] == ["3", "4"]
    assert len(ds.notes.texts("skipped")) == 4  # and the two header lines
