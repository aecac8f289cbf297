"""CSV tables: every layout read with hand-checked numbers, bad rows named line by line,
writes that read back to the same dataset (byte for byte for our fixtures), and the real
CSV exports of raccoon and BCCD counted and checked against their VOC sources."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import annokit
from annokit import AnnokitError, Dataset, FormatError, Problems
from annokit.formats import csv as csvfmt
from conftest import FIXTURES, assert_same_content, shared_dataset

CSV = FIXTURES / "csv"
LAYOUT_FIXTURES = {"label": "label", "label_long": "label", "multilabel": "multilabel",
                   "multilabel_space": "multilabel", "label_columns": "label_columns",
                   "onehot": "onehot", "points": "points", "points_scored": "points",
                   "boxes": "boxes", "boxes_bccd_style": "boxes"}


def read(path, strict: bool = False, **options) -> Dataset:
    """What the registry's read does: a Problems policy, skipped records in meta."""
    problems = Problems(strict)
    ds = csvfmt.read(Path(path), problems=problems, **options)
    ds.meta["notes"] = problems.notes
    return ds


def fixture(name: str, **options) -> Dataset:
    return read(CSV / f"{name}.csv", **options)


def write(ds: Dataset, out: Path, images: str = "none", single_file: bool = False,
          strict: bool = False, **options) -> list[str]:
    problems = Problems(strict)
    notes = csvfmt.write(ds, out, images=images, problems=problems, single_file=single_file,
                         **options)
    return problems.messages() + notes.texts()


def images(ds: Dataset) -> list[tuple]:
    return [tuple(r) for r in ds.images[["file_name", "width", "height", "split"]].values]


def labels(ds: Dataset) -> list[tuple[str, str]]:
    """(file name, class name) per annotation, in annotation order."""
    files = ds.images.set_index("id")["file_name"]
    names = ds.categories.set_index("id")["name"]
    anns = ds.annotations
    return list(zip(anns["image_id"].map(files), anns["category_id"].map(names)))


def skipped(ds: Dataset) -> list[str]:
    return [m.replace(str(CSV) + "/", "") for m in ds.notes.texts("skipped")]


# -- detecting the layout ------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(LAYOUT_FIXTURES))
def test_every_fixture_is_detected_with_its_layout(name):
    assert csvfmt.detect(CSV / f"{name}.csv")
    assert fixture(name).meta["csv"]["layout"] == LAYOUT_FIXTURES[name]


@pytest.mark.parametrize("path", ["bad/unknown_header.csv", "bad/empty.csv", "images/a.png",
                                  "images", "make_fixtures.py"])
def test_what_is_not_a_csv_dataset_is_not_detected(path):
    assert not csvfmt.detect(CSV / path)


def test_a_folder_with_annotations_csv_is_detected(tmp_path):
    (tmp_path / "annotations.csv").write_text("file_name,label\na.png,cat\n")
    assert csvfmt.detect(tmp_path)
    assert labels(read(tmp_path)) == [("a.png", "cat")]


def test_headers_are_matched_whatever_their_case_and_spacing(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text(" File Name ,CLASS-NAME\na.png,cat\n")
    ds = read(table)
    assert ds.meta["csv"]["layout"] == "label" and labels(ds) == [("a.png", "cat")]


def test_an_explicit_layout_overrides_the_guess(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("file_name,cat,dog\na.png,1,0\n")  # one-hot by its values
    assert read(table).meta["csv"]["layout"] == "onehot"
    with pytest.raises(FormatError, match="needs column"):
        read(table, csv_layout="points")
    with pytest.raises(AnnokitError, match="csv_layout must be one of"):
        read(table, csv_layout="tsv")


# -- reading every layout ------------------------------------------------------------------

def test_single_label_hand_checked():
    ds = fixture("label")
    # categories are the labels sorted by name, ids 1..K
    assert ds.categories[["id", "name"]].values.tolist() == [[1, "bird"], [2, "cat"], [3, "dog"]]
    assert ds.categories["supercategory"].isna().all()
    # images 1..N in file-name order; sizes from the image headers in images/ beside it
    assert images(ds) == [("a.png", 64, 48, None), ("b.png", 80, 60, None),
                          ("c.jpg", 96, 72, None), ("sub/d.png", 120, 90, None)]
    assert ds.annotations[["id", "image_id", "category_id"]].values.tolist() == \
        [[1, 1, 2], [2, 2, 3], [3, 3, 2], [4, 4, 1]]
    assert (ds.annotations["kind"] == "label").all()
    assert ds.annotations[["x", "y", "w", "h", "score"]].isna().all().all()
    assert ds.meta["image_root"] == str(CSV / "images") and ds.meta["split_roots"] == {}
    assert ds.notes.texts("skipped") == []


def test_single_label_in_long_form_gives_several_labels_per_image():
    ds = fixture("label_long")  # header 'Image,Class'
    assert labels(ds) == [("a.png", "cat"), ("a.png", "dog"), ("b.png", "dog")]
    assert ds.meta["csv"]["roles"] == {"file": "Image", "label": "Class"}


def test_multilabel_delimited_with_an_empty_cell_and_splits():
    ds = fixture("multilabel")
    # 'cat|dog'; '' is an image without labels; 'bird| cat ' is stripped to bird, cat
    assert labels(ds) == [("a.png", "cat"), ("a.png", "dog"), ("c.jpg", "bird"),
                          ("c.jpg", "cat"), ("sub/d.png", "dog")]
    assert images(ds) == [("a.png", 64, 48, "train"), ("b.png", 80, 60, "train"),
                          ("c.jpg", 96, 72, "val"), ("sub/d.png", 120, 90, "val")]
    assert ds.meta["csv"]["delimiter"] == "|"


def test_multilabel_space_separated_with_a_pass_through_image_column():
    ds = fixture("multilabel_space")  # Planet-Amazon style 'image_name,tags'
    assert labels(ds) == [("a.png", "cat"), ("a.png", "dog"), ("b.png", "dog")]
    assert ds.images["source"].tolist() == ["web", "camera"]
    assert ds.meta["csv"]["delimiter"] == " "


@pytest.mark.parametrize("cell, delimiter, expected", [
    ("cat;dog", None, ["cat", "dog"]), ("cat,dog", None, ["cat", "dog"]),
    ("traffic light|car", None, ["car", "traffic light"]),
    ("cat/dog", "/", ["cat", "dog"])])
def test_multilabel_delimiters(tmp_path, cell, delimiter, expected):
    table = tmp_path / "t.csv"
    table.write_text(f'file_name,labels\na.png,"{cell}"\n')
    ds = read(table, label_delimiter=delimiter)
    assert sorted(n for _, n in labels(ds)) == expected


def test_label_columns_hand_checked():
    ds = fixture("label_columns")
    assert labels(ds) == [("a.png", "cat"), ("a.png", "dog"), ("b.png", "dog")]
    assert [f for f, *_ in images(ds)] == ["a.png", "b.png", "c.jpg"]  # c.jpg: no labels


def test_onehot_keeps_every_class_column_as_a_category():
    ds = fixture("onehot")
    assert ds.categories["name"].tolist() == ["bird", "cat", "dog", "fish"]  # fish: never 1
    assert labels(ds) == [("a.png", "cat"), ("a.png", "dog"), ("b.png", "dog"),
                          ("sub/d.png", "cat"), ("sub/d.png", "bird")]


def test_points_hand_checked():
    ds = fixture("points")
    assert (ds.annotations["kind"] == "point").all()
    assert ds.annotations[["x", "y"]].values.tolist() == [[20, 15], [40.5, 30.25], [10, 10]]
    assert ds.annotations[["w", "h"]].isna().all().all()
    # c.jpg's row holds only its file name: an image with no points
    assert images(ds)[2] == ("c.jpg", 96, 72, None)
    assert labels(ds) == [("a.png", "cat"), ("a.png", "dog"), ("b.png", "cat")]


def test_points_with_sizes_and_scores():
    ds = fixture("points_scored")
    assert ds.annotations["score"].tolist() == [0.9, 0.4, 0.8]
    assert images(ds) == [("a.png", 64, 48, None), ("b.png", 80, 60, None)]


def test_points_without_a_label_column_are_objects(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("file_name,x,y\na.png,1,2\n")
    ds = read(table)
    assert labels(ds) == [("a.png", "object")]


def test_tensorflow_boxes_hand_checked():
    ds = fixture("boxes")
    # plain corners: x = xmin, w = xmax - xmin; 32.5..60 -> w 27.5; 10.25..40 -> h 29.75
    assert ds.annotations[["x", "y", "w", "h"]].values.tolist() == \
        [[10, 5, 20, 20], [32.5, 10.25, 27.5, 29.75], [0, 0, 80, 60]]
    assert labels(ds) == [("a.png", "cat"), ("a.png", "dog"), ("b.png", "cat")]
    assert images(ds) == [("a.png", 64, 48, None), ("b.png", 80, 60, None),
                          ("c.jpg", 96, 72, None)]  # c.jpg: a row with no box
    assert (ds.annotations["kind"] == "box").all() and ds.annotations["score"].isna().all()


def test_bccd_style_header_the_one_text_column_is_the_label():
    ds = fixture("boxes_bccd_style")  # filename,cell_type,xmin,xmax,ymin,ymax
    assert ds.meta["csv"]["roles"]["label"] == "cell_type"
    assert labels(ds) == [("a.png", "RBC"), ("a.png", "WBC")]
    assert ds.annotations[["x", "y", "w", "h"]].values.tolist() == [[10, 5, 20, 20],
                                                                      [32, 10, 28, 30]]
    assert images(ds) == [("a.png", 64, 48, None)]  # no size columns: the image header


def test_pass_through_columns_and_a_clashing_id(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("id,filename,class,xmin,ymin,xmax,ymax,difficult,note,score\n"
                     "7,a.png,cat,1,2,3,4,1,big,0.5\n")
    ds = read(table)
    ann = ds.annotations.iloc[0]
    assert (ann["id"], ann["csv_id"], ann["difficult"], ann["note"], ann["score"]) == \
        (1, 7, 1, "big", 0.5)


def test_file_names_are_stripped_and_use_forward_slashes(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("file_name,label\n sub\\d.png ,cat\nsub/d.png,dog\n")
    ds = read(table)
    assert [f for f, *_ in images(ds)] == ["sub/d.png"]
    assert labels(ds) == [("sub/d.png", "cat"), ("sub/d.png", "dog")]


def test_class_names_are_text_even_when_they_look_like_numbers_or_na(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("file_name,label\na.png,0\nb.png,NA\nc.png,007\n")
    assert read(table).categories["name"].tolist() == ["0", "007", "NA"]


def test_the_same_file_in_two_splits_is_two_images(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("file_name,label,split\na.png,cat,train\na.png,dog,val\n")
    assert images(read(table)) == [("a.png", pd.NA, pd.NA, "train"),
                                   ("a.png", pd.NA, pd.NA, "val")]


# -- where the images are, and their sizes -------------------------------------------------

def test_tensorflow_layout_finds_images_beside_the_data_folder(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "labels.csv").write_text("filename,class,xmin,ymin,xmax,ymax\n"
                                                  "x.png,cat,1,1,5,5\n")
    (tmp_path / "images").mkdir()
    Image.new("RGB", (50, 40)).save(tmp_path / "images" / "x.png")
    ds = read(tmp_path / "data" / "labels.csv")
    assert ds.meta["image_root"] == str(tmp_path / "images")
    assert images(ds) == [("x.png", 50, 40, None)]


def test_image_root_option_and_unknown_sizes(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("file_name,label\nred.png,cat\nmissing.png,dog\n")
    ds = read(table)  # no images anywhere: sizes unknown (NA, never 0)
    assert ds.meta["image_root"] == str(tmp_path)
    assert ds.images["width"].isna().all()
    root = FIXTURES / "coco" / "basic" / "images"
    ds = read(table, image_root=root)
    assert ds.meta["image_root"] == str(root)
    assert images(ds) == [("missing.png", pd.NA, pd.NA, None), ("red.png", 64, 48, None)]


def test_zero_size_columns_mean_unknown(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("filename,width,height,class,xmin,ymin,xmax,ymax\na.png,0,0,cat,1,1,2,2\n")
    ds = read(table)
    assert ds.images["width"].isna().all() and ds.notes.texts("skipped") == []


# -- broken input --------------------------------------------------------------------------

def test_bad_rows_are_named_line_by_line_and_the_good_ones_kept():
    ds = fixture("bad_rows")
    hint = " (fix or remove the row)"
    assert skipped(ds) == [
        "bad_rows.csv:line 3: no file name" + hint,
        "bad_rows.csv:line 4: xmin 'abc' is not a number" + hint,
        "bad_rows.csv:line 5: empty label" + hint,
        "bad_rows.csv:line 6: expected 8 fields, saw 9 (quote cells that hold a comma)",
        "bad_rows.csv:line 8: width '-80' is not a positive number" + hint,
        "bad_rows.csv:line 9: xmax is empty" + hint,
        "bad_rows.csv:line 11: width 90 differs from 96 on line 10 for the same image; "
        "96 is kept"]
    # lines 2, 10 and 11 hold good boxes (11's size disagrees; its box is kept)
    assert ds.annotations[["x", "y", "w", "h"]].values.tolist() == [[10, 5, 20, 20],
                                                                      [1, 2, 2, 2],
                                                                      [5, 6, 2, 2]]
    # the images of broken rows still exist (b.png's box rows were all broken)
    assert images(ds) == [("a.png", 64, 48, None), ("b.png", 80, 60, None),
                          ("c.jpg", 96, 72, None)]


def test_strict_stops_at_the_first_bad_line():
    with pytest.raises(FormatError) as error:
        fixture("bad_rows", strict=True)
    assert error.value.place == "line 3" and error.value.reason == "no file name"
    assert str(error.value).count("\n") == 0


@pytest.mark.parametrize("name, message", [
    ("unknown_header", "unknown_header.csv:line 1: header 'foo,bar' matches no CSV layout"),
    ("empty", "empty.csv: empty file: no header"),
    ("latin1", "latin1.csv: not UTF-8 text (byte 25) (save it as UTF-8)"),
    ("two_text_columns", "two_text_columns.csv:line 1: cannot tell which column is the "
                         "label: species, note (rename the label column to 'label')")])
def test_whole_file_problems_are_one_line(name, message):
    with pytest.raises(FormatError) as error:
        fixture(f"bad/{name}")
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_bad_one_hot_value_and_an_empty_single_label(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("file_name,cat,dog\na.png,1,2\nb.png,0,1\n")
    ds = read(table)
    assert [m.split(": ", 1)[1] for m in ds.notes.texts("skipped")] == \
        ["dog '2' is not 0 or 1 (fix or remove the row)"]
    assert labels(ds) == [("b.png", "dog")]
    table.write_text("file_name,label\na.png,\n\nb.png,cat\n")
    ds = read(table)  # line 3 is blank: not a record
    assert [m.split(":", 1)[1] for m in ds.notes.texts("skipped")] == \
        ["line 2: empty label (fix or remove the row)"]


# -- writing -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(set(LAYOUT_FIXTURES) - {"multilabel"}))
def test_round_trip_gives_back_the_same_file(tmp_path, name):
    ds = fixture(name)
    write(ds, tmp_path / "out", images="copy")
    text = (tmp_path / "out" / "annotations.csv").read_text()
    assert text == (CSV / f"{name}.csv").read_text()
    back = read(tmp_path / "out")
    assert_same_content(ds, back)
    np.testing.assert_array_equal(ds.annotations["score"], back.annotations["score"])
    assert back.meta["image_root"] == str(tmp_path / "out" / "images")


def test_multilabel_round_trip_normalises_the_cells(tmp_path):
    ds = fixture("multilabel")
    write(ds, tmp_path / "out")
    assert (tmp_path / "out" / "annotations.csv").read_text() == (
        "filename,labels,split\na.png,cat|dog,train\nb.png,,train\n"
        "c.jpg,bird|cat,val\nsub/d.png,dog,val\n")
    assert_same_content(ds, read(tmp_path / "out", image_root=CSV / "images"))


@pytest.mark.parametrize("layout", ["label", "multilabel", "label_columns", "onehot"])
def test_every_label_layout_round_trips_labels(tmp_path, layout):
    ds = fixture("label_long")
    notes = write(ds, tmp_path / "t.csv", single_file=True, csv_layout=layout)
    back = read(tmp_path / "t.csv", image_root=CSV / "images")
    assert back.meta["csv"]["layout"] == layout
    assert_same_content(ds, back)
    assert notes == []


def test_written_headers_per_layout(tmp_path):
    ds = fixture("points_scored")
    write(ds, tmp_path / "p.csv", single_file=True, csv_layout="points")
    assert (tmp_path / "p.csv").read_text().splitlines()[0] == \
        "file_name,x,y,label,width,height,score"
    boxes = fixture("boxes")
    boxes.meta.pop("csv")  # as if from another format: the canonical TF header
    write(boxes, tmp_path / "b.csv", single_file=True)
    assert (tmp_path / "b.csv").read_text().splitlines()[0] == \
        "filename,width,height,class,xmin,ymin,xmax,ymax"


def test_layout_is_chosen_from_the_data(tmp_path):
    labels_one = fixture("label")
    labels_one.meta.pop("csv")
    assert csvfmt._choose_layout(labels_one, None) == "label"
    several = fixture("label_long")
    several.meta.pop("csv")
    assert csvfmt._choose_layout(several, None) == "multilabel"
    points = fixture("points")
    points.meta.pop("csv")
    assert csvfmt._choose_layout(points, None) == "points"
    assert csvfmt._choose_layout(annokit.read(FIXTURES / "coco/basic", "coco"), None) == "boxes"


def test_coco_to_csv_keeps_what_a_cell_holds_and_notes_the_rest(tmp_path):
    coco = annokit.read(FIXTURES / "coco" / "basic", "coco")
    notes = write(coco, tmp_path / "out")
    assert notes == [
        "CSV cannot hold segmentation: 3 polygons/masks dropped, boxes kept",
        "1 images without boxes written as rows holding only the file name "
        "(empty_rows=False leaves them out)",
        "CSV layout 'boxes' cannot hold image columns (it has a row per annotation): "
        "license, coco_url, date_captured not written",
        "annotation columns a CSV cell cannot hold not written: attributes, keypoints",
        "category ids are not kept: a CSV holds names, read back as ids 1..K in name order",
        "CSV has no supercategory: not written"]
    assert (tmp_path / "out" / "annotations.csv").read_text().splitlines() == [
        "filename,width,height,class,xmin,ymin,xmax,ymax,iscrowd,area,num_keypoints",
        "red.png,64,48,person,10.5,10.25,30.5,40.75,0,620,2",
        "red.png,64,48,car,2,4,5,9,1,15,",
        "green.png,80,60,blob,0.5,1.25,13,11.11,0,123.25,",  # the huge category id's name
        "green.png,80,60,car,2,1,7,5,0,20,",
        "sub/blue.png,96,72,,,,,,,,"]
    back = read(tmp_path / "out")
    assert_same_content(coco, back, columns=["iscrowd"])


def test_computed_corners_keep_the_short_decimal(tmp_path):
    x = np.array([10.1, 0.1, 3.3])
    x2 = np.array([45.7, 0.7, 4.4])
    ds = Dataset(pd.DataFrame({"id": [1], "name": ["c"]}),
                 pd.DataFrame({"id": [1], "file_name": ["a.png"]}),
                 pd.DataFrame({"image_id": 1, "category_id": 1, "x": x, "y": x,
                               "w": x2 - x, "h": x2 - x}))
    write(ds, tmp_path / "t.csv", single_file=True)
    rows = (tmp_path / "t.csv").read_text().splitlines()[1:]
    assert [r.split(",")[4:] for r in rows] == [["10.1", "10.1", "45.7", "45.7"],
                                                ["0.1", "0.1", "0.7", "0.7"],
                                                ["3.3", "3.3", "4.4", "4.4"]]


def test_empty_rows_can_be_left_out(tmp_path):
    notes = write(fixture("boxes"), tmp_path / "t.csv", single_file=True, empty_rows=False)
    assert "1 images without boxes not written (empty_rows=False)" in notes
    assert "c.jpg" not in (tmp_path / "t.csv").read_text()


def test_single_file_target_places_no_images(tmp_path):
    notes = write(fixture("label"), tmp_path / "t.csv", images="copy", single_file=True)
    assert notes[-1].startswith("images not placed (images='copy'): a .csv target")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]


def test_other_kinds_and_unlabelled_images_are_noted(tmp_path):
    ds = fixture("boxes")  # a.png: cat and dog boxes, b.png: a cat, c.jpg: nothing
    notes = write(ds, tmp_path / "t.csv", single_file=True, csv_layout="label")
    assert notes[0] == "boxes and points written as image-level labels (every class present)"
    assert notes[1].startswith("1 images without a label are not in a single-label CSV")
    assert (tmp_path / "t.csv").read_text().splitlines()[1:] == \
        ["a.png,cat,64,48", "a.png,dog,64,48", "b.png,cat,80,60"]


def test_multilabel_avoids_a_delimiter_found_in_class_names(tmp_path):
    ds = Dataset(pd.DataFrame({"id": [1, 2], "name": ["a|b", "c"]}),
                 pd.DataFrame({"id": [1], "file_name": ["x.png"]}),
                 pd.DataFrame({"image_id": 1, "category_id": [1, 2], "kind": "label"}))
    notes = write(ds, tmp_path / "t.csv", single_file=True, csv_layout="multilabel")
    assert notes == ["class names hold '|': labels joined with ';'; read it back with "
                     "label_delimiter=';'"]
    assert (tmp_path / "t.csv").read_text() == "file_name,labels\nx.png,a|b;c\n"
    back = read(tmp_path / "t.csv", label_delimiter=";")
    assert sorted(n for _, n in labels(back)) == ["a|b", "c"]


def test_onehot_refuses_class_names_that_read_as_other_columns(tmp_path):
    ds = Dataset(pd.DataFrame({"id": [1], "name": ["width"]}),
                 pd.DataFrame({"id": [1], "file_name": ["x.png"]}),
                 pd.DataFrame({"image_id": 1, "category_id": [1], "kind": "label"}))
    with pytest.raises(AnnokitError, match="width"):
        write(ds, tmp_path / "t.csv", single_file=True, csv_layout="onehot")


def test_splits_with_their_own_folders_round_trip_with_images(tmp_path):
    yolo = annokit.read(FIXTURES / "yolo" / "ultralytics", "yolo")
    write(yolo, tmp_path / "out", images="copy")
    placed = sorted(p.relative_to(tmp_path / "out").as_posix()
                    for p in (tmp_path / "out" / "images").rglob("*") if p.is_file())
    assert placed == ["images/train/a.jpg", "images/train/b.png", "images/val/c.jpg",
                      "images/val/d.jpg"]
    back = read(tmp_path / "out")
    assert back.meta["split_roots"] == {s: str(tmp_path / "out" / "images" / s)
                                        for s in ("train", "val")}
    assert_same_content(yolo, back)


def test_unsafe_file_names_are_not_placed(tmp_path):
    ds = Dataset(pd.DataFrame({"id": [1], "name": ["c"]}),
                 pd.DataFrame({"id": [1, 2], "file_name": ["../evil.png", "ok.png"]}),
                 pd.DataFrame({"image_id": [1], "category_id": 1, "kind": "label"}),
                 {"image_root": str(tmp_path)})
    Image.new("RGB", (4, 4)).save(tmp_path / "ok.png")
    notes = write(ds, tmp_path / "out", images="copy")
    assert any("file_name '../evil.png' leaves the image folder" in n for n in notes)
    assert not (tmp_path / "evil.png").exists()
    assert (tmp_path / "out" / "images" / "ok.png").is_file()
    with pytest.raises(FormatError, match="leaves the image folder"):
        write(ds, tmp_path / "out2", images="copy", strict=True)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["cat", "dog", "a b", "x,y"]),
                          st.floats(0, 1000, allow_nan=False), st.floats(0, 1000, allow_nan=False),
                          st.floats(0, 500, allow_nan=False), st.floats(0, 500, allow_nan=False)),
                min_size=1, max_size=20))
def test_boxes_round_trip_property(tmp_path, rows):
    files = [f"img{k}.png" for k in range(4)]
    names = sorted({r[1] for r in rows})
    ds = Dataset(pd.DataFrame({"id": range(1, len(names) + 1), "name": names}),
                 pd.DataFrame({"id": range(1, 5), "file_name": files, "width": 2000,
                               "height": 1500}),
                 pd.DataFrame({"image_id": [r[0] + 1 for r in rows],
                               "category_id": [names.index(r[1]) + 1 for r in rows],
                               "x": [r[2] for r in rows], "y": [r[3] for r in rows],
                               "w": [r[4] for r in rows], "h": [r[5] for r in rows]}))
    out = tmp_path / f"t{abs(hash(str(rows)))}.csv"
    write(ds, out, single_file=True)
    back = read(out)
    # xmax = x + w is the one rounding: corners come back to within an ulp or two
    assert_same_content(ds, back, atol=1e-9)


def test_through_the_registry(tmp_path, monkeypatch):
    from annokit import formats
    if "csv" not in formats.FORMATS:  # until the registry lists it
        monkeypatch.setattr(formats, "FORMATS", (*formats.FORMATS, "csv"))
        monkeypatch.setitem(formats.DEFAULT_IMAGES, "csv", "none")
    ds = annokit.read(CSV / "boxes.csv")
    assert ds.meta["source_format"] == "csv"
    annokit.write(ds, tmp_path / "out", "csv")
    assert (tmp_path / "out" / "annotations.csv").read_text() == (CSV / "boxes.csv").read_text()


# -- the real CSV exports ------------------------------------------------------------------

def test_raccoon_tensorflow_csv_counts_and_sizes():
    data = shared_dataset("raccoon", "data")
    ds = read(data / "raccoon_labels.csv")
    assert (len(ds.images), len(ds.annotations)) == (200, 217)
    assert ds.categories["name"].tolist() == ["raccoon"] and ds.notes.texts("skipped") == []
    # TensorFlow's layout: data/*.csv with the images in images/ beside data/
    assert Path(ds.meta["image_root"]).resolve() == shared_dataset("raccoon", "images").resolve()
    first = ds.images.set_index("file_name").loc["raccoon-1.jpg"]
    assert (first["width"], first["height"]) == (650, 417)  # from the CSV's own columns
    box = ds.annotations.iloc[0]
    assert [box["x"], box["y"], box["w"], box["h"]] == [81, 88, 441, 320]  # 81,88,522,408
    train = read(data / "train_labels.csv")
    test = read(data / "test_labels.csv")
    assert (len(train.images), len(train.annotations)) == (160, 173)
    assert (len(test.images), len(test.annotations)) == (40, 44)


def test_raccoon_csv_agrees_with_its_voc_source():
    csv_ds = read(shared_dataset("raccoon", "data", "raccoon_labels.csv"))
    voc = annokit.read(shared_dataset("raccoon", "annotations"), "voc")
    assert_same_content(voc, csv_ds, splits=False)


def test_bccd_csv_counts_sizes_and_its_voc_source():
    bccd = shared_dataset("bccd")
    ds = read(bccd / "test.csv")  # no images beside it: sizes unknown
    assert (len(ds.images), len(ds.annotations)) == (364, 4888)
    counts = ds.annotations["category_id"].map(ds.categories.set_index("id")["name"])
    assert counts.value_counts().to_dict() == {"RBC": 4155, "WBC": 372, "Platelets": 361}
    assert ds.images["width"].isna().all()
    # the two zero-size RBCs (BloodImage_00338, _00343) are kept, as in the VOC files
    assert int(((ds.annotations["w"] == 0) & (ds.annotations["h"] == 0)).sum()) == 2
    ds = read(bccd / "test.csv", image_root=bccd / "BCCD" / "JPEGImages")
    assert set(zip(ds.images["width"], ds.images["height"])) == {(640, 480)}
    voc = annokit.read(bccd / "BCCD", "voc")
    assert_same_content(voc, ds, splits=False)
