"""Pascal VOC: layouts, coordinates, pass-through content, bad input, writing, real data."""
from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import annokit
from annokit.formats.target import coordinate_text
from annokit.formats import voc
from conftest import FIXTURES, assert_same_content, shared_dataset

VOC = FIXTURES / "voc"
ATTRS = ["pose", "truncated", "difficult"]


def boxes(ds, file_name):
    """[(category name, x, y, w, h)] of one image, in object order."""
    image_id = ds.images.loc[ds.images["file_name"] == file_name, "id"].item()
    names = ds.categories.set_index("id")["name"]
    rows = ds.annotations[ds.annotations["image_id"] == image_id]
    return [(names[c], x, y, w, h) for c, x, y, w, h in
            rows[["category_id", "x", "y", "w", "h"]].itertuples(index=False)]


def column(ds, file_name, name):
    return ds.images.set_index("file_name")[name].astype(object)[file_name]


# -- detect -----------------------------------------------------------------------

@pytest.mark.parametrize("where", ["root", "bare", "splits", "bad", "root/Annotations/000001.xml"])
def test_detect_layouts(where):
    assert voc.detect(VOC / where)
    assert annokit.detect(VOC / where) == "voc"


def test_detect_refuses_other_things(tmp_path):
    (tmp_path / "cvat.xml").write_text("<?xml version='1.0'?>\n<annotations><version>1.1"
                                       "</version></annotations>")
    (tmp_path / "a.json").write_text("{}")
    coco = tmp_path / "coco"
    (coco / "annotations").mkdir(parents=True)
    (coco / "annotations" / "train.json").write_text("{}")
    assert not voc.detect(tmp_path / "cvat.xml")
    assert not voc.detect(tmp_path / "a.json")
    assert not voc.detect(coco)
    assert not voc.detect(tmp_path / "missing")


# -- reading the layouts ---------------------------------------------------------------

def test_root_layout_splits_and_lists():
    ds = annokit.read(VOC / "root")
    assert ds.summary_line() == "5 images, 5 annotations, 6 categories, 1 skipped"
    splits = ds.images.set_index("file_name")["split"].to_dict()
    # trainval adds nothing when train and val exist; cat_train.txt is a per-class list
    assert splits == {"000001.jpg": "train", "000002.jpg": "train", "000003.jpg": "val",
                      "straße_ü.jpg": "val", "000004.png": "test"}
    # ImageSets names 000004 with no XML: an image without objects, size from its header
    assert boxes(ds, "000004.png") == []
    assert (column(ds, "000004.png", "width"), column(ds, "000004.png", "height")) == (80, 60)
    assert boxes(ds, "000003.jpg") == []
    assert ds.notes.texts("skipped") == [
        f"{VOC / 'root/ImageSets/Main/test.txt'}:line 2: 'ghost' has no XML in "
        f"Annotations/ and no image in {VOC / 'root/JPEGImages'}"]
    assert ds.meta["image_root"] == str(VOC / "root" / "JPEGImages")
    assert ds.meta["voc"]["trainval"] is True
    assert ds.image_paths().map(lambda p: Path(p).is_file()).all()
    # ids 1..N in sorted order
    assert ds.images["id"].tolist() == [1, 2, 3, 4, 5]
    assert ds.images["file_name"].tolist() == ["000001.jpg", "000002.jpg", "000003.jpg",
                                               "000004.png", "straße_ü.jpg"]
    assert ds.annotations["id"].tolist() == [1, 2, 3, 4, 5]


def test_categories_follow_labels_file_then_first_appearance():
    ds = annokit.read(VOC / "root")
    # labels.txt: background (dropped), dog, cat, bird; then person, Fußgänger, 猫 as seen
    assert ds.categories["name"].tolist() == ["dog", "cat", "bird", "person", "Fußgänger", "猫"]
    assert ds.categories["id"].tolist() == [1, 2, 3, 4, 5, 6]
    assert ds.categories["supercategory"].isna().all()
    assert ds.meta["voc"]["labels_file"] == "labels.txt"
    bare = annokit.read(VOC / "bare")
    assert bare.categories["name"].tolist() == ["car", "truck"]  # no labels file: first seen


def test_bare_folder_sizes_and_file_names():
    ds = annokit.read(VOC / "bare")
    assert ds.meta["image_root"] == str(VOC / "bare")
    sizes = {f: (w, h) for f, w, h in ds.images[["file_name", "width", "height"]]
             .astype(object).itertuples(index=False)}
    assert sizes["a.jpg"] == (80, 60)          # from <size>
    assert sizes["b.png"] == (96, 72)          # no <size>: from the PNG header
    assert sizes["c.jpg"] == (64, 48)          # <size> 0x0: from the JPEG header
    assert sizes["d.jpeg"] == (64, 48)         # no <filename>: stem + the image found
    assert pd.isna(sizes["e.jpg"][0]) and pd.isna(sizes["e.jpg"][1])  # no image: NA, not 0
    assert str(ds.images["width"].dtype) == "Int64"
    assert ds.images["split"].isna().all()


def test_split_folders_roboflow():
    ds = annokit.read(VOC / "splits")
    assert ds.summary_line() == "4 images, 4 annotations, 2 categories"
    assert ds.images.set_index("file_name")["split"].to_dict() == {
        "r1.jpg": "train", "r2.jpg": "train", "r3.jpg": "valid", "r4.jpg": "test"}
    assert ds.meta["split_roots"] == {s: str(VOC / "splits" / s)
                                      for s in ("test", "train", "valid")}
    assert ds.image_paths().map(lambda p: Path(p).is_file()).all()
    # labelmap.txt (Datumaro: name:color:parts:actions) fixes the order; background dropped
    assert ds.categories["name"].tolist() == ["helmet", "head"]
    assert boxes(ds, "r3.jpg") == []


def test_single_xml_file_finds_its_images():
    ds = annokit.read(VOC / "root" / "Annotations" / "000001.xml")
    assert ds.summary_line() == "1 images, 2 annotations, 2 categories"
    assert ds.meta["image_root"] == str(VOC / "root" / "JPEGImages")
    assert ds.categories["name"].tolist() == ["cat", "dog"]


def test_image_root_option_overrides_where_images_are():
    ds = annokit.read(VOC / "bare", image_root=VOC / "splits" / "train")
    assert ds.meta["image_root"] == str(VOC / "splits" / "train")
    # b.xml has no <size> and its image is not under that root: unknown, not 0
    b = ds.images.set_index("file_name").loc["b.png"]
    assert pd.isna(b["width"]) and pd.isna(b["height"])
    assert column(ds, "a.jpg", "width") == 80


# -- coordinates --------------------------------------------------------------------

def test_plain_corners_by_default():
    ds = annokit.read(VOC / "root")
    # <xmin>1</xmin><ymin>2</ymin><xmax>10</xmax><ymax>10</ymax>: x=1, w=9
    assert boxes(ds, "000001.jpg") == [("cat", 1.0, 2.0, 9.0, 8.0), ("dog", 20.0, 5.0, 40.0, 35.0)]


def test_one_based_convention():
    ds = annokit.read(VOC / "root", voc_one_based=True)
    # 1-based inclusive pixel indices: pixels 1..10 are 10 pixels starting at x=0
    assert boxes(ds, "000001.jpg") == [("cat", 0.0, 1.0, 10.0, 9.0), ("dog", 19.0, 4.0, 41.0, 36.0)]


def test_convert_passes_one_based_to_both_sides(tmp_path):
    ds, _ = annokit.convert(VOC / "root", tmp_path / "out", "voc", "voc", voc_one_based=True)
    assert boxes(ds, "000001.jpg")[0] == ("cat", 0.0, 1.0, 10.0, 9.0)
    text = (tmp_path / "out" / "Annotations" / "000001.xml").read_text()
    assert "<xmin>1</xmin>\n\t\t\t<ymin>2</ymin>\n\t\t\t<xmax>10</xmax>" in text


def test_fractional_coordinates_are_kept_not_truncated():
    ds = annokit.read(VOC / "root")
    [(name, x, y, w, h)] = boxes(ds, "000002.jpg")
    assert name == "person"
    assert x == 45.70000076293945 and y == 10.5
    assert x + w == 60.25 and y + h == 40.125


# -- pass-through content -------------------------------------------------------------

def test_object_attributes_and_unknown_children():
    ds = annokit.read(VOC / "root")
    anns = ds.annotations.set_index("id")
    assert anns.loc[1, ["pose", "truncated", "difficult", "occluded"]].tolist() == \
        ["Unspecified", 0, 0, 0]
    assert anns.loc[2, ["pose", "truncated", "difficult", "occluded"]].tolist() == \
        ["Left", 1, 1, 1]
    assert anns["truncated"].dtype == np.int64 and anns["difficult"].dtype == np.int64
    assert anns.loc[3, "part"] == {"name": "head", "bndbox": {
        "xmin": "50.5", "ymin": "11", "xmax": "55", "ymax": "16.25"}}
    assert anns.loc[3, "actions"] == {"jumping": "0", "walking": "1"}
    assert anns.loc[3, "attributes"] == {"color": "red", "parked": "true"}  # CVAT's shape
    assert anns.loc[1, "part"] is None
    assert anns["score"].isna().all() and (anns["kind"] == "box").all()
    assert (anns["iscrowd"] == 0).all()


def test_image_level_content():
    ds = annokit.read(VOC / "root")
    first = ds.images.set_index("file_name").loc["000001.jpg"]
    assert first["folder"] == "JPEGImages"
    assert first["source"] == {"database": "The VOC2007 Database",
                               "annotation": "PASCAL VOC2007", "image": "flickr"}
    assert first["owner"] == {"flickrid": "someone", "name": "Some One"}
    assert first["verified"] == "yes"
    assert first["depth"] == 3 and first["segmented"] == 0
    assert ds.meta["voc"]["image_attributes"] == {"verified": "verified"}
    assert ds.meta["voc"]["image_elements"] == {"owner": "owner"}


def test_non_ascii_names():
    ds = annokit.read(VOC / "root")
    assert boxes(ds, "straße_ü.jpg") == [("Fußgänger", 3.0, 4.0, 27.0, 36.0),
                                         ("猫", 31.0, 4.0, 29.0, 36.0)]


# -- bad input ---------------------------------------------------------------------

BAD = VOC / "bad"


def test_bad_input_is_skipped_and_named_one_line_each():
    ds = annokit.read(BAD, "voc")
    skipped = ds.notes.texts("skipped")
    expected = [
        f"{BAD / 'bad_coords.xml'}:object 'car' #1: bndbox needs numeric xmin, ymin, xmax, "
        "ymax; got xmin='abc', ymin='2', xmax='3', ymax='4'",
        f"{BAD / 'laughs.xml'}:line 14, column 25: malformed XML: Maximum entity "
        "amplification factor exceeded, see xmlCtxtSetMaxAmplification.",
        f"{BAD / 'malformed.xml'}:line 5, column 10: malformed XML: Opening and ending tag "
        "mismatch: object line 3 and objec",  # column as libxml2 2.14 counts it
        f"{BAD / 'no_bndbox.xml'}:object 'car' #2: object has no <bndbox> "
        "(VOC objects need xmin/ymin/xmax/ymax)",
        f"{BAD / 'no_name.xml'}:object 1: object has no <name>",
        f"{BAD / 'not_voc.xml'}: root element is <annotations>, not <annotation> "
        "(is this a Pascal VOC file?)",
        f"{BAD / 'xxe.xml'}:DOCTYPE: declares XML entities (xxe); refused, entities are "
        "never expanded",
        f"{BAD / 'bad_flag.xml'}:object 'car' #1: <difficult> is 'maybe', not 0 or 1; "
        "read as 0",
    ]
    assert len(skipped) == len(expected)
    for want in expected:
        if "malformed XML" in want:  # libxml2's wording and columns vary between versions
            head = want.split(", column")[0]
            assert any(s.startswith(head) and "malformed XML: " in s for s in skipped), want
        else:
            assert want in skipped
    assert all("\n" not in s for s in skipped)
    # what survived: the good objects of the files with one bad object, and good.xml
    assert ds.summary_line() == "5 images, 4 annotations, 1 categories, 8 skipped"
    assert sorted(ds.images["file_name"]) == ["bc.jpg", "bf.jpg", "good.jpg", "nb.jpg", "nn.jpg"]
    assert (ds.annotations["difficult"] == 0).all()


def test_strict_raises_the_first_problem():
    with pytest.raises(annokit.FormatError) as info:
        annokit.read(BAD, "voc", strict=True)
    error = info.value
    assert error.file == str(BAD / "bad_coords.xml")
    assert error.place == "object 'car' #1"
    assert "bndbox needs numeric" in error.reason


def test_malformed_file_alone(tmp_path):
    (tmp_path / "a.xml").write_text("<annotation>\n<filename>a.jpg</filename>\n<size>\n"
                                    "</annotation>\n")
    with pytest.raises(annokit.FormatError) as info:
        annokit.read(tmp_path / "a.xml", "voc", strict=True)
    assert info.value.place.startswith("line 4, column ")
    assert info.value.reason.startswith("malformed XML: Opening and ending tag mismatch")


def test_entities_are_never_expanded():
    start = time.perf_counter()
    ds = annokit.read(BAD, "voc")
    assert time.perf_counter() - start < 5
    texts = " ".join(map(str, ds.images.astype(object).to_numpy().ravel().tolist()
                         + ds.categories["name"].tolist()))
    assert "root:" not in texts and "lollol" not in texts
    assert not any(f in ds.images["file_name"].tolist() for f in ("x.jpg", "l.jpg"))


def test_missing_input_and_no_xml(tmp_path):
    with pytest.raises(annokit.AnnokitError, match="no such file"):
        annokit.read(tmp_path / "nothing", "voc")
    with pytest.raises(annokit.AnnokitError, match="no Pascal VOC XML found"):
        annokit.read(tmp_path, "voc")


# -- writing -------------------------------------------------------------------------

def roundtrip(src, tmp_path, **options):
    ds = annokit.read(src, **options)
    notes = annokit.write(ds, tmp_path / "out", "voc", **options).texts()
    return ds, annokit.read(tmp_path / "out", "voc", **options), notes


def same_frames(a, b):
    """Everything parsed is equal: every image and annotation column, by file name."""
    assert_same_content(a, b, columns=[c for c in a.annotations.columns if c not in
                                       ("id", "image_id", "category_id", "kind", "x", "y",
                                        "w", "h", "score")])
    np.testing.assert_array_equal(a.annotations["score"].to_numpy(float),
                                  b.annotations["score"].to_numpy(float))
    ia = a.images.drop(columns="id").sort_values("file_name").reset_index(drop=True)
    ib = b.images.drop(columns="id").sort_values("file_name").reset_index(drop=True)
    pd.testing.assert_frame_equal(ia.astype(object).fillna(-1), ib.astype(object).fillna(-1))
    assert a.categories["name"].tolist() == b.categories["name"].tolist()


@pytest.mark.parametrize("src", ["root", "bare", "splits", "bad"])
def test_roundtrip_keeps_everything(src, tmp_path):
    ds, back, notes = roundtrip(VOC / src, tmp_path)
    assert notes == []
    assert back.notes.texts("skipped") == []
    if src == "splits":  # written as one VOC root: the split comes back from ImageSets
        assert back.meta["voc"]["layout"] == "root"
        assert_same_content(ds, back, columns=ATTRS)
        return
    same_frames(ds, back)
    for key in ("image_attributes", "image_elements", "object_elements"):
        assert back.meta["voc"][key] == ds.meta["voc"][key]
    assert back.meta["voc"]["trainval"] == ds.meta["voc"]["trainval"]


def test_roundtrip_one_based(tmp_path):
    ds, back, _ = roundtrip(VOC / "root", tmp_path, voc_one_based=True)
    same_frames(ds, back)
    text = (tmp_path / "out" / "Annotations" / "000001.xml").read_text()
    assert "<xmin>1</xmin>\n\t\t\t<ymin>2</ymin>\n\t\t\t<xmax>10</xmax>" in text


def test_written_layout_and_text(tmp_path):
    ds = annokit.read(VOC / "root")
    annokit.write(ds, tmp_path / "out", "voc", images="copy")
    out = tmp_path / "out"
    # an XML for every image, the objectless ones too
    assert sorted(p.name for p in (out / "Annotations").iterdir()) == [
        "000001.xml", "000002.xml", "000003.xml", "000004.xml", "straße_ü.xml"]
    assert sorted(p.name for p in (out / "JPEGImages").iterdir()) == [
        "000001.jpg", "000002.jpg", "000003.jpg", "000004.png", "straße_ü.jpg"]
    main = out / "ImageSets" / "Main"
    assert (main / "train.txt").read_text() == "000001\n000002\n"
    assert (main / "val.txt").read_text() == "000003\nstraße_ü\n"
    assert (main / "test.txt").read_text() == "000004\n"
    assert (main / "trainval.txt").read_text() == "000001\n000002\n000003\nstraße_ü\n"
    assert (out / "labels.txt").read_text() == "dog\ncat\nbird\nperson\nFußgänger\n猫\n"
    first = (out / "Annotations" / "000001.xml").read_text()
    assert first.startswith('<annotation verified="yes">\n\t<folder>JPEGImages</folder>\n'
                            "\t<filename>000001.jpg</filename>\n\t<source>\n")
    # integers stay integers
    assert "<xmin>1</xmin>\n\t\t\t<ymin>2</ymin>\n\t\t\t<xmax>10</xmax>\n\t\t\t<ymax>10</ymax>" \
        in first
    assert "<occluded>1</occluded>" in first and "<pose>Left</pose>" in first
    second = (out / "Annotations" / "000002.xml").read_text()
    # fractions as plain decimals of at most 4 places (45.70000076293945 is float32 noise),
    # and xmax = x + w gives back the source's 60.25 exactly
    assert "<xmin>45.7</xmin>\n\t\t\t<ymin>10.5</ymin>\n\t\t\t<xmax>60.25</xmax>" \
        "\n\t\t\t<ymax>40.125</ymax>" in second
    assert "<attribute>\n\t\t\t\t<name>color</name>\n\t\t\t\t<value>red</value>" in second
    empty = (out / "Annotations" / "000004.xml").read_text()
    assert "<object>" not in empty and "<width>80</width>" in empty


def test_every_written_file_is_valid_voc(tmp_path):
    from lxml import etree

    ds = annokit.read(VOC / "root")
    annokit.write(ds, tmp_path / "out", "voc")
    for file in (tmp_path / "out" / "Annotations").iterdir():
        root = etree.parse(str(file)).getroot()
        assert root.tag == "annotation"
        for obj in root.iterfind("object"):
            assert obj.findtext("name") and obj.find("bndbox") is not None
            assert obj.findtext("difficult") in ("0", "1")


def test_write_from_another_format_notes_what_voc_cannot_hold(tmp_path):
    ds = annokit.Dataset(
        categories=pd.DataFrame({"id": [3, 7], "name": ["a&b", "<c>"],
                                 "supercategory": ["x", None]}),
        images=pd.DataFrame({"id": [10, 11, 12, 13], "file_name": ["sub/p.jpg", "q.png",
                                                                   "../evil.jpg", "r.jpg"],
                             "width": [100, 50, 10, None], "height": [80, 40, 10, None],
                             "license": [1, 1, 1, 1]}),
        annotations=pd.DataFrame({
            "id": [1, 2, 3, 4, 5, 6],
            "image_id": [10, 10, 11, 11, 12, 10],
            "category_id": [3, 7, 3, 3, 3, 3],
            "kind": ["box", "box", "point", "label", "box", "box"],
            "x": [0.5, 1, 2, 0, 1, 3], "y": [1, 2, 3, 0, 1, 3],
            "w": [10, 2, np.nan, np.nan, 1, 4], "h": [10, 2, np.nan, np.nan, 1, 4],
            "iscrowd": [0, 1, 0, 0, 0, 0],
            "segmentation": [[[0.5, 1, 10.5, 1, 10.5, 11]], None, None, None, None,
                             {"size": [80, 100], "counts": "abc"}],
            "score": [np.nan, 0.75, np.nan, np.nan, np.nan, np.nan],
            "area": [100.0, 4, 0, 0, 1, 16],    # derived: COCO writers recompute it
            "num_keypoints": [0, 0, 1, 0, 0, 0]}))
    notes = annokit.write(ds, tmp_path / "out", "voc").texts()
    assert notes[0].startswith("../evil.jpg:image id 12: file name escapes the image root")
    assert set(notes[1:]) == {
        "VOC holds boxes only: 1 point and 1 label dropped",
        "1 boxes of images not written (or unknown) dropped",
        "VOC cannot hold segmentation: 1 polygons and 1 RLE masks dropped, boxes kept",
        "VOC has no crowd flag: 1 crowd boxes written as ordinary boxes",
        "VOC has no score: 1 scores written as a non-standard <score> element that VOC "
        "tools ignore",
        "VOC has no element for annotation columns num_keypoints: dropped",
        "VOC has no supercategory: dropped",
    }
    out = tmp_path / "out"
    assert not (tmp_path / "evil.jpg").exists() and not (out / "evil.xml").exists()
    # the sub-folder is kept under Annotations/ so that stems stay unique
    p = (out / "Annotations" / "sub" / "p.xml").read_text()
    assert "<filename>p.jpg</filename>" in p and "<name>a&amp;b</name>" in p
    assert "<name>&lt;c&gt;</name>" in p and "<score>0.75</score>" in p
    assert "<pose>Unspecified</pose>" in p and "<segmented>0</segmented>" in p
    assert "<license>1</license>" in p  # other formats' image extras become elements
    assert "<depth>3</depth>" in p and "<xmin>0.5</xmin>" in p and "<xmax>10.5</xmax>" in p
    # no size known: no <size> (never 0), still one file per image
    r = (out / "Annotations" / "r.xml").read_text()
    assert "<size>" not in r and "<object>" not in r
    back = annokit.read(out, "voc")
    assert sorted(back.images["file_name"]) == ["q.png", "r.jpg", "sub/p.jpg"]
    assert back.categories["name"].tolist() == ["a&b", "<c>"]
    assert boxes(back, "sub/p.jpg") == [("a&b", 0.5, 1.0, 10.0, 10.0), ("<c>", 1.0, 2.0, 2.0, 2.0),
                                        ("a&b", 3.0, 3.0, 4.0, 4.0)]
    assert back.annotations["score"].tolist()[1] == 0.75


def test_write_strict_refuses_unsafe_names(tmp_path):
    ds = annokit.Dataset(images=pd.DataFrame({"id": [1], "file_name": ["/etc/x.jpg"]}),
                         categories=pd.DataFrame({"id": [1], "name": ["a"]}))
    with pytest.raises(annokit.FormatError, match="escapes the image root"):
        annokit.write(ds, tmp_path / "out", "voc", strict=True)
    assert not (tmp_path / "out").exists()


def test_write_keeps_clashing_names_apart(tmp_path):
    ds = annokit.Dataset(
        categories=pd.DataFrame({"id": [1], "name": ["a"]}),
        images=pd.DataFrame({"id": [1, 2, 3, 4], "file_name": ["x.jpg", "x.png", "y.jpg",
                                                               "y.jpg"],
                             "split": ["train", "train", "train", "val"],
                             "width": [8] * 4, "height": [8] * 4}),
        annotations=pd.DataFrame({"image_id": [1, 2, 3, 4], "category_id": [1] * 4,
                                  "x": [1.0, 2, 3, 4], "y": [0.0] * 4, "w": [1.0] * 4,
                                  "h": [1.0] * 4}))
    notes = annokit.write(ds, tmp_path / "out", "voc").texts()
    assert notes == ["file names repeat across splits: written under JPEGImages/<split>/ "
                     "and Annotations/<split>/"]
    names = sorted(str(p.relative_to(tmp_path / "out" / "Annotations"))
                   for p in (tmp_path / "out" / "Annotations").rglob("*.xml"))
    assert names == ["train/x.jpg.xml", "train/x.png.xml", "train/y.xml", "val/y.xml"]
    back = annokit.read(tmp_path / "out", "voc")
    assert back.images.set_index("file_name")["split"].to_dict() == {
        "train/x.jpg": "train", "train/x.png": "train", "train/y.jpg": "train",
        "val/y.jpg": "val"}
    assert [b[1] for b in boxes(back, "train/x.png")] == [2.0]


def test_write_links_images_and_refuses_clobbering(tmp_path):
    ds = annokit.read(VOC / "splits")
    annokit.write(ds, tmp_path / "out", "voc", images="link")
    linked = sorted(p.name for p in (tmp_path / "out" / "JPEGImages").iterdir())
    assert linked == ["r1.jpg", "r2.jpg", "r3.jpg", "r4.jpg"]
    with pytest.raises(annokit.AnnokitError, match="exists and is not empty"):
        annokit.write(ds, tmp_path / "out", "voc")
    with pytest.raises(annokit.AnnokitError, match="refusing to write over or into the input"):
        annokit.convert(VOC / "splits", VOC / "splits", "voc", "voc")


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 10**9), st.integers(0, 10**9), st.integers(0, 4), st.integers(0, 4))
def test_short_decimals_survive_x_plus_w(a, b, da, db):
    """xmax is written from x + w; a source's decimal of <= 4 places comes back digit for
    digit, an integer as an integer."""
    lo, hi = sorted((a / 10**da, b / 10**db))
    x, w = float(repr(lo)), float(repr(hi)) - float(repr(lo))
    [written] = coordinate_text(np.array([x + w]))
    assert float(written) == hi
    assert written == (str(int(hi)) if hi == int(hi) else repr(hi))


@settings(max_examples=500, deadline=None)
@given(st.floats(-1e6, 1e6, allow_nan=False), st.integers(1, 5000))
def test_coordinates_are_plain_numbers(value, size):
    """Never scientific notation or '-0'; within 5e-5 px (clipped to the edge for noise)."""
    [text] = coordinate_text([value], low=0, high=size)
    assert "e" not in text.lower() and text not in ("-0", "") and not text.startswith("-0.0000")
    assert re.fullmatch(r"-?\d+(\.\d{1,4})?", text)
    near = 0 if -5e-5 <= value < 0 else size if size < value <= size + 5e-5 else value
    assert abs(float(text) - near) <= 5e-5 + 1e-9 * abs(value)
    if abs(value - round(value)) <= 1e-6:
        assert text == str(int(round(near)))


# -- real datasets and peers' fixtures -------------------------------------------------

def test_bccd_counts():
    ds = annokit.read(shared_dataset("bccd", "BCCD"))
    assert ds.summary_line() == "364 images, 4888 annotations, 3 categories"
    names = ds.categories.set_index("id")["name"]
    counts = ds.annotations["category_id"].map(names).value_counts().to_dict()
    assert counts == {"RBC": 4155, "WBC": 372, "Platelets": 361}
    assert ds.images["split"].value_counts().to_dict() == {"train": 205, "val": 87, "test": 72}
    assert (ds.images["width"] == 640).all() and (ds.images["height"] == 480).all()
    # the two known zero-size boxes are read as they are (checks report them)
    zero = ds.annotations[(ds.annotations["w"] == 0) & (ds.annotations["h"] == 0)]
    files = ds.images.set_index("id").loc[zero["image_id"], "file_name"].tolist()
    assert files == ["BloodImage_00338.jpg", "BloodImage_00343.jpg"]
    assert ds.image_paths().map(lambda p: Path(p).is_file()).all()


def test_bccd_roundtrip(tmp_path):
    ds, back, notes = roundtrip(shared_dataset("bccd", "BCCD"), tmp_path)
    assert notes == ["2 boxes of zero width or height written to VOC as they are "
                     "(BloodImage_00338.jpg, BloodImage_00343.jpg): most trainers drop or "
                     "reject them; annokit check lists them (geometry.zero_size)"]
    same_frames(ds, back)


@pytest.mark.parametrize("where", [("raccoon",), ("raccoon", "annotations")])
def test_raccoon_counts_without_trusting_path(where):
    ds = annokit.read(shared_dataset(*where))
    assert ds.summary_line() == "200 images, 217 annotations, 1 categories"
    # <path> is an absolute path from the author's machine: images come from images/
    assert ds.meta["image_root"] == str(shared_dataset("raccoon", "images"))
    assert ds.image_paths().map(lambda p: Path(p).is_file()).all()
    assert ds.images["path"].str.startswith("/Users/datitran/").all()
    assert ds.images["verified"].value_counts().to_dict() == {"yes": 199, "no": 1}


def test_datumaro_voc_fixtures():
    root = shared_dataset("peer_fixtures", "datumaro_openvino", "voc_dataset")
    ds = annokit.read(root / "voc_dataset1")
    assert ds.notes.texts("skipped") == []
    assert ds.images.set_index("file_name")["split"].to_dict() == {
        "2007_000001.jpg": "train", "2007_000002.jpg": "test"}   # per-class lists ignored
    assert boxes(ds, "2007_000001.jpg") == [("cat", 1.0, 2.0, 2.0, 2.0),
                                            ("person", 4.0, 5.0, 2.0, 2.0)]
    assert boxes(ds, "2007_000002.jpg") == []
    person = ds.annotations.set_index("id").loc[2]
    assert person["part"]["name"] == "head" and person["actions"]["walking"] == "1"
    ds3 = annokit.read(root / "voc_dataset3")   # a '#' comment line in train.txt
    assert ds3.summary_line() == "1 images, 1 annotations, 1 categories"


def test_labelme_voc_output():
    root = shared_dataset("labelme_examples", "examples", "bbox_detection", "data_dataset_voc")
    ds = annokit.read(root)
    # class_names.txt starts with _background_ and __ignore__ lines: neither is a class
    assert ds.categories["name"].tolist()[:2] == ["aeroplane", "bicycle"]
    assert len(ds.categories) == 20 and ds.categories["id"].min() == 1
    [first, _] = boxes(ds, "2011_000003.jpg")
    assert first == ("person", 191.0, 107.36900369003689, 122.0,
                     329.36900369003695 - 107.36900369003689)


def test_image_in_two_image_sets_is_recorded_for_qc(tmp_path):
    root = tmp_path / "voc"
    (root / "Annotations").mkdir(parents=True)
    (root / "ImageSets" / "Main").mkdir(parents=True)
    for stem in ("a", "b", "c"):
        (root / "Annotations" / f"{stem}.xml").write_text(
            f"<annotation><filename>{stem}.jpg</filename><size><width>10</width>"
            "<height>10</height></size><object><name>x</name><bndbox><xmin>1</xmin>"
            "<ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object></annotation>")
    (root / "ImageSets" / "Main" / "train.txt").write_text("a\nb\n")
    (root / "ImageSets" / "Main" / "val.txt").write_text("b\nc\n")
    ds = annokit.read(root, "voc")
    assert ds.images.set_index("file_name")["split"].to_dict() == \
        {"a.jpg": "train", "b.jpg": "train", "c.jpg": "val"}  # kept in its first list
    assert ds.meta["split_overlaps"] == [{"splits": ["train", "val"], "images": 1}]
    found = annokit.check(ds, images=False)
    assert found[found["check"] == "balance.split_overlap"]["message"].tolist() == [
        "1 images are listed in both 'train' and 'val': the held-out split is not held out"]


def test_counts_that_are_not_numbers_are_na_never_an_internal_error(tmp_path):
    root = tmp_path / "voc"
    shutil.copytree(FIXTURES / "voc" / "root", root)
    xml = root / "Annotations" / "000001.xml"
    text = xml.read_text()
    assert "<depth>" in text
    xml.write_text(re.sub(r"<depth>[^<]*</depth>", "<depth>inf</depth>", text))
    ds = annokit.read(root, "voc")
    assert ds.images.set_index("file_name")["depth"].isna().any()
