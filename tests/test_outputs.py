"""What annokit writes: plain VOC numbers, data.yaml keys, ids that read back, refusals,
written counts, and no stale locations (the output side of issue 8)."""
import json
import re

import numpy as np
import pandas as pd
import pytest
import yaml
from lxml import etree

import annokit
from annokit import Dataset
from annokit.formats.target import summary_line
from conftest import assert_same_content, FIXTURES, run_cli as run, shared_dataset

SHAPES = FIXTURES / "shapes" / "voc"
ROBOFLOW_COCO = FIXTURES / "coco" / "roboflow"
COORDS = ("xmin", "ymin", "xmax", "ymax")


def voc_coordinates(root) -> list[str]:
    """Every bndbox coordinate's text in a written VOC root."""
    texts = []
    for file in sorted((root / "Annotations").rglob("*.xml")):
        tree = etree.parse(str(file))
        texts += [e.text for tag in COORDS for e in tree.iter(tag)]
    return texts


def dataset(cat_ids, kinds=("box",), splits=None, n_images=2, root=None) -> Dataset:
    """n images of 100x80 (with splits when given), one annotation of each kind per image;
    with ``root``, the images are made there (YOLO finds its labels through them)."""
    images = pd.DataFrame({"id": range(1, n_images + 1),
                           "file_name": [f"im{i}.png" for i in range(n_images)],
                           "width": 100, "height": 80, "split": splits or None})
    if root is not None:
        from PIL import Image

        root.mkdir(parents=True, exist_ok=True)
        for name in images["file_name"]:
            Image.new("RGB", (100, 80)).save(root / name)
    rows = [(i, cat_ids[(i + k) % len(cat_ids)], kind)
            for i in images["id"] for k, kind in enumerate(kinds)]
    anns = pd.DataFrame(rows, columns=["image_id", "category_id", "kind"])
    anns["id"] = range(1, len(anns) + 1)
    anns[["x", "y", "w", "h"]] = [10.0, 20.0, 30.0, 40.0]
    anns.loc[anns["kind"] != "box", ["w", "h"]] = np.nan
    cats = pd.DataFrame({"id": cat_ids, "name": [f"c{i}" for i in range(len(cat_ids))]})
    return Dataset(cats, images, anns, {"image_root": None if root is None else str(root)})


# -- 2. VOC numbers ------------------------------------------------------------------------

@pytest.mark.parametrize("src", ["shapes", "bccd"])
def test_voc_yolo_voc_gives_back_integers(src, tmp_path):
    path = SHAPES if src == "shapes" else shared_dataset("bccd", "BCCD")
    original = annokit.read(path)
    annokit.convert(path, tmp_path / "yolo", None, "yolo", images="link")
    annokit.convert(tmp_path / "yolo", tmp_path / "voc", "yolo", "voc")
    texts = voc_coordinates(tmp_path / "voc")
    assert len(texts) == 4 * len(original.annotations)
    assert all(re.fullmatch(r"\d+", t) for t in texts), [t for t in texts if "." in t][:5]
    back = annokit.read(tmp_path / "voc", "voc")
    assert_same_content(original, back, atol=0)  # exactly the source's integers


def test_voc_writes_plain_decimals_and_clips_edge_noise(tmp_path):
    ds = dataset([1])
    ds.annotations[["x", "y", "w", "h"]] = [[-0.0000075, 1e-7, 100.0000075, 12.345678],
                                             [45.70000076293945, 3.5, 1e-3, 2 / 3]]
    annokit.write(ds, tmp_path / "voc", "voc")
    assert voc_coordinates(tmp_path / "voc") == [
        "0", "0", "100", "12.3457", "45.7", "3.5", "45.701", "4.1667"]


def test_voc_labelmap_lists_the_classes_for_datumaro(tmp_path):
    annokit.convert(SHAPES, tmp_path / "voc", "voc", "voc")
    names = (tmp_path / "voc" / "labels.txt").read_text().split()
    lines = (tmp_path / "voc" / "labelmap.txt").read_text().splitlines()
    assert lines[0] == "# label:color_rgb:parts:actions"
    assert [line.split(":")[0] for line in lines[1:]] == names
    assert lines[1] == f"{names[0]}:128,0,0::"  # VOC's palette, background's black skipped
    assert all(re.fullmatch(r"[^:]+:\d+,\d+,\d+::", line) for line in lines[1:])


def test_unsplit_voc_lists_every_image_in_default_and_reads_back_unsplit(tmp_path):
    ds = dataset([1, 2], n_images=3)
    annokit.write(ds, tmp_path / "voc", "voc")
    main = tmp_path / "voc" / "ImageSets" / "Main"
    assert sorted(p.name for p in main.iterdir()) == ["default.txt"]  # what Datumaro needs
    assert main.joinpath("default.txt").read_text() == "im0\nim1\nim2\n"
    back = annokit.read(tmp_path / "voc", "voc")
    assert back.images["split"].isna().all() and len(back.images) == 3


def test_labelmap_is_left_out_when_a_name_cannot_be_in_it(tmp_path):
    ds = dataset([1, 2])
    ds.categories.loc[1, "name"] = "a:b"
    notes = annokit.write(ds, tmp_path / "voc", "voc").texts()
    assert not (tmp_path / "voc" / "labelmap.txt").exists()
    assert any(n.startswith("labelmap.txt not written: class names 'a:b'") for n in notes)


# -- 1. YOLO data.yaml and category ids -----------------------------------------------------

@pytest.mark.parametrize("splits, keys, aliases", [
    (None, {"train": "images", "val": "images"}, ["train", "val"]),
    (["train", "train"], {"train": "images/train", "val": "images/train"}, ["val"]),
    (["train", "valid"], {"train": "images/train", "val": "images/val"}, None),
    (["train", "test"], {"train": "images/train", "test": "images/test",
                         "val": "images/train"}, ["val"]),
    (["holdout", "holdout"], {"holdout": "images/holdout", "train": "images/holdout",
                              "val": "images/holdout"}, ["train", "val"]),
])
def test_data_yaml_always_has_train_and_val(tmp_path, splits, keys, aliases):
    ds = dataset([1, 2], splits=splits, root=tmp_path / "src")
    annokit.write(ds, tmp_path / "yolo", "yolo")
    doc = yaml.safe_load((tmp_path / "yolo" / "data.yaml").read_text())
    assert {k: doc[k] for k in keys} == keys
    assert doc.get("annokit_aliases") == aliases
    back = annokit.read(tmp_path / "yolo", "yolo")
    expected = [None if s is None else ("val" if s == "valid" else s)
                for s in (splits or [None, None])]
    assert back.images.sort_values("file_name")["split"].tolist() == expected
    assert not back.meta.get("split_overlaps")  # an alias is not a leak between splits


@pytest.mark.parametrize("ids", [[0, 1, 2], [-3, 0, 7], [5, 2, 90]])
def test_any_distinct_integer_category_ids_read_back(tmp_path, ids):
    ds = dataset(ids, n_images=3, root=tmp_path / "src")
    annokit.write(ds, tmp_path / "yolo", "yolo")
    doc = yaml.safe_load((tmp_path / "yolo" / "data.yaml").read_text())
    assert doc["annokit_category_ids"] == sorted(ids)
    assert doc["names"] == {k: f"c{ids.index(i)}" for k, i in enumerate(sorted(ids))}
    back = annokit.read(tmp_path / "yolo", "yolo")
    assert sorted(back.categories["id"]) == sorted(ids)
    assert_same_content(ds, back, atol=1e-4, splits=False, keep_ids=False)


def test_roboflow_coco_with_category_0_round_trips_through_yolo(tmp_path):
    coco = annokit.read(ROBOFLOW_COCO)
    assert 0 in coco.categories["id"].tolist()
    annokit.convert(ROBOFLOW_COCO, tmp_path / "yolo", "coco", "yolo")
    back = annokit.read(tmp_path / "yolo", "yolo")
    pd.testing.assert_frame_equal(
        coco.categories[["id", "name"]].reset_index(drop=True),
        back.categories[["id", "name"]].reset_index(drop=True))
    assert set(back.images["split"]) == {"train", "val"}  # Roboflow's valid is val


# -- 9. what the target cannot hold ---------------------------------------------------------

@pytest.mark.parametrize("fmt", ["voc", "yolo"])
def test_points_into_a_box_format_are_refused_before_writing(tmp_path, fmt):
    ds = dataset([1], kinds=("point",))
    with pytest.raises(annokit.AnnokitError, match=rf"^{fmt} cannot hold any of the 2 "
                       r"annotations \(2 points\): nothing written; write coco or csv "
                       "instead$"):
        annokit.write(ds, tmp_path / "out", fmt)
    assert not (tmp_path / "out").exists() and list(tmp_path.iterdir()) == []


def test_labels_into_coco_name_csv_and_imagefolder(tmp_path):
    ds = dataset([1], kinds=("label",))
    with pytest.raises(annokit.AnnokitError, match="write csv or imagefolder instead"):
        annokit.write(ds, tmp_path / "out", "coco")


def test_cli_refusal_is_one_line_and_writes_nothing(tmp_path):
    csv = tmp_path / "points.csv"
    csv.write_text("file,x,y,label\na.jpg,1,2,cell\na.jpg,5,6,cell\n")
    code, out, err = run("convert", "csv", "voc", csv, tmp_path / "voc")
    assert code == 2 and out == ""
    assert err.strip() == ("annokit: error: voc cannot hold any of the 2 annotations "
                           "(2 points): nothing written; write coco or csv instead")
    assert not (tmp_path / "voc").exists()


def test_summary_line_counts_what_was_written(tmp_path):
    csv = tmp_path / "mixed.csv"
    pd.DataFrame({"file": ["a.jpg", "a.jpg", "b.jpg"], "x": [1, 5, 9], "y": [2, 6, 9],
                  "label": ["cell", "cell", "dot"], "width": 50, "height": 40}
                 ).to_csv(csv, index=False)
    ds = annokit.read(csv, "csv")
    box = ds.annotations.iloc[[0]].assign(id=99, kind="box", w=3.0, h=4.0)
    ds.annotations = pd.concat([ds.annotations, box], ignore_index=True)
    notes = annokit.write(ds, tmp_path / "voc", "voc")
    assert notes.written == {"images": 2, "annotations": 1, "categories": 2}
    assert summary_line(ds, notes) == "2 images, 1 of 4 annotations, 2 categories"
    code, out, err = run("convert", "voc", "yolo", tmp_path / "voc", tmp_path / "yolo",
                         "--images", "none")
    assert code == 0, err
    assert out.startswith("voc -> yolo: 2 images, 1 annotations, 2 categories written")


# -- 4. COCO and VOC's stale <path> ---------------------------------------------------------

def test_coco_does_not_write_vocs_stale_path(tmp_path):
    raccoon = shared_dataset("raccoon")
    ds = annokit.read(raccoon / "annotations", "voc", image_root=raccoon / "images")
    assert ds.images["path"].str.startswith("/Users/").all()
    notes = annokit.write(ds, tmp_path / "coco.json", "coco").texts()
    doc = json.loads((tmp_path / "coco.json").read_text())
    assert not any("path" in image for image in doc["images"])
    assert any(n.startswith("VOC's <path> (where the annotator kept each image, e.g. /Users/")
               for n in notes)
    # VOC to VOC keeps it, as the element it was
    annokit.write(ds, tmp_path / "voc", "voc")
    assert "<path>/Users/" in next((tmp_path / "voc" / "Annotations").iterdir()).read_text()
