"""Every direction among COCO, VOC and YOLO keeps what the target can hold."""
import json

import pandas as pd
import pytest

import annokit
from annokit import Dataset
from conftest import FIXTURES, assert_same_content, shared_dataset

FORMATS = ("coco", "voc", "yolo")
SHAPES = FIXTURES / "shapes" / "voc"
VOC_ATTRIBUTES = ("difficult", "truncated", "pose")


@pytest.fixture(scope="module")
def shapes_in_every_format(tmp_path_factory):
    """The shapes dataset written once in each format, read back."""
    root = tmp_path_factory.mktemp("shapes")
    original = annokit.read(SHAPES)
    paths = {"voc": SHAPES}
    for fmt in ("coco", "yolo"):
        paths[fmt] = root / fmt
        annokit.write(original, paths[fmt], fmt, images="link")
    return original, paths


def test_shapes_fixture_reads_as_drawn(shapes_in_every_format):
    original, _ = shapes_in_every_format
    assert len(original) == 12
    assert sorted(original.categories["name"]) == ["circle", "square", "triangle"]
    assert original.images["split"].value_counts().to_dict() == {"train": 8, "val": 4}
    assert (original.images[["width", "height"]] == [160, 120]).all().all()
    empty = set(original.images["id"]) - set(original.annotations["image_id"])
    assert original.images.set_index("id").loc[list(empty), "file_name"].tolist() == \
        ["shapes_005.jpg"]


@pytest.mark.parametrize("src", FORMATS)
@pytest.mark.parametrize("dst", FORMATS)
def test_every_direction_keeps_content(shapes_in_every_format, tmp_path, src, dst):
    original, paths = shapes_in_every_format
    ds, notes = annokit.convert(paths[src], tmp_path / "out", src, dst, images="link")
    notes = notes.texts()
    back = annokit.read(tmp_path / "out", dst)
    # YOLO keeps 6 decimals of a 160 px image: well under a thousandth of a pixel
    assert_same_content(original, back, atol=1e-3)
    assert back.notes.texts("skipped") == []
    if "yolo" not in (src, dst):  # YOLO holds no attributes; the others keep them
        assert_same_content(original, back, columns=VOC_ATTRIBUTES)


def test_voc_corner_conventions_hand_checked(tmp_path):
    ann = tmp_path / "voc" / "Annotations"
    ann.mkdir(parents=True)
    (ann / "a.xml").write_text(
        "<annotation><filename>a.jpg</filename><size><width>20</width><height>20</height>"
        "<depth>3</depth></size><object><name>x</name><bndbox><xmin>1</xmin><ymin>1</ymin>"
        "<xmax>10</xmax><ymax>10</ymax></bndbox></object></annotation>")
    for one_based, expected in ((False, [1, 1, 9, 9]), (True, [0, 0, 10, 10])):
        out = tmp_path / f"coco_{one_based}.json"
        annokit.convert(tmp_path / "voc", out, "voc", "coco", voc_one_based=one_based)
        coco = json.loads(out.read_text())
        assert coco["annotations"][0]["bbox"] == expected
        assert coco["categories"][0]["id"] == 1  # no background class, not 0
        # and back: the same convention gives the same corners
        voc_back = tmp_path / f"voc_{one_based}"
        annokit.convert(out, voc_back, "coco", "voc", voc_one_based=one_based)
        xml = (voc_back / "Annotations" / "a.xml").read_text()
        assert "<xmin>1</xmin>" in xml and "<xmax>10</xmax>" in xml


def coco_with_gaps() -> Dataset:
    """Two images, COCO-style non-contiguous category ids (1, 3, 90)."""
    return Dataset(
        categories=pd.DataFrame({"id": [1, 3, 90], "name": ["person", "car", "toothbrush"],
                                 "supercategory": ["human", "vehicle", "indoor"]}),
        images=pd.DataFrame({"id": [1, 2], "file_name": ["a.png", "b.png"],
                             "width": [200, 400], "height": [100, 300]}),
        annotations=pd.DataFrame({"id": [1, 2, 3], "image_id": [1, 1, 2],
                                  "category_id": [1, 90, 3], "x": [80.0, 0, 100],
                                  "y": [30.0, 0, 150], "w": [40.0, 200, 50],
                                  "h": [40.0, 100, 75]}))


def test_yolo_numbers_and_class_indices(tmp_path):
    annokit.write(coco_with_gaps(), tmp_path / "yolo", "yolo", images="none")
    labels = {p.name: p.read_text().split("\n") for p in (tmp_path / "yolo").rglob("*.txt")}
    assert labels["a.txt"][:2] == ["0 0.500000 0.500000 0.200000 0.400000",
                                   "2 0.500000 0.500000 1.000000 1.000000"]
    assert labels["b.txt"][0] == "1 0.312500 0.625000 0.125000 0.250000"


def test_coco_ids_survive_yolo_round_trip(tmp_path):
    from PIL import Image

    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (200, 100)).save(images / "a.png")
    Image.new("RGB", (400, 300)).save(images / "b.png")
    ds = coco_with_gaps()
    ds.meta["image_root"] = str(images)
    annokit.write(ds, tmp_path / "yolo", "yolo")
    back = annokit.read(tmp_path / "yolo", "yolo")
    assert back.categories[["id", "name"]].values.tolist() == \
        [[1, "person"], [3, "car"], [90, "toothbrush"]]
    assert_same_content(ds, back, atol=1e-4, splits=False)


def test_single_coco_file_target(tmp_path):
    out = tmp_path / "deep" / "missing" / "instances.json"  # parents are made
    annokit.convert(SHAPES, out, "voc", "coco")
    coco = json.loads(out.read_text())
    assert len(coco["images"]) == 12 and {c["name"] for c in coco["categories"]} == \
        {"circle", "square", "triangle"}


# -- the real datasets in ../shared/datasets -----------------------------------------------

REAL = {
    "bccd": (("bccd", "BCCD"), "voc", 364, 4888, 3),
    "raccoon": (("raccoon",), "voc", 200, 217, 1),
    "yolo_mark": (("yolo_mark_darknet_sample", "x64", "Release", "data"), "yolo", 10, 35, 2),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REAL))
def test_real_datasets_convert_every_direction(tmp_path, name):
    parts, fmt, n_images, n_boxes, n_classes = REAL[name]
    source = annokit.read(shared_dataset(*parts), fmt)
    assert len(source) == n_images and len(source.categories) == n_classes
    if n_boxes is not None:
        assert len(source.annotations) == n_boxes
    written = {fmt: shared_dataset(*parts)}
    for dst in FORMATS:
        if dst != fmt:
            written[dst] = tmp_path / dst
            annokit.convert(written[fmt], written[dst], fmt, dst, images="link")
    for src in FORMATS:
        for dst in FORMATS:
            out = tmp_path / f"{src}_to_{dst}"
            annokit.convert(written[src], out, src, dst, images="link")
            back = annokit.read(out, dst)
            assert (len(back), len(back.annotations), len(back.categories)) == \
                (len(source), len(source.annotations), len(source.categories)), (src, dst)
            assert_same_content(source, back, atol=0.01)


@pytest.mark.slow
def test_bccd_image_level_labels_read_back_as_classification(tmp_path):
    bccd = shared_dataset("bccd", "BCCD")
    out = tmp_path / "labels.csv"
    annokit.convert(bccd, out, "voc", "csv", csv_layout="multilabel")
    labels = annokit.read(out)
    assert len(labels) == 364 and set(labels.annotations["kind"]) == {"label"}
    source = annokit.read(bccd, "voc")
    pairs = source.annotations.drop_duplicates(["image_id", "category_id"])
    assert len(labels.annotations) == len(pairs) == 908  # one label per (image, class)
    per_class = labels.summary()["annotations"].to_dict()
    assert per_class == {"Platelets": 201, "RBC": 349, "WBC": 358}  # images holding each
