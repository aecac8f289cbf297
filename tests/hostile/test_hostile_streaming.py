"""Reader-side hostile inputs (issue 13): numbers beyond a double, and FIFOs or devices
inside a dataset folder. Each runs the real command; a hang fails on the harness timeout."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from corpus import png, write
from harness import annokit, changed_outside, one_line_error, snapshot, temporaries

HUGE = 10 ** 400 - 1  # 400 digits: no double holds it (OverflowError in float())
HUGE_TEXT = str(HUGE)


def _coco_text(image: dict, annotation: dict) -> str:
    """A COCO file with a good image and annotation beside the given ones; the 400-digit
    integer is spliced in as text (json.dumps would write it the same, this is explicit)."""
    doc = {"images": [{"id": 1, "file_name": "a.png", "width": 8, "height": 6}, image],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 3]},
                           annotation],
           "categories": [{"id": 1, "name": "cat"}]}
    return json.dumps(doc).replace('"HUGE"', HUGE_TEXT)


def _snapshot(root: Path) -> dict:
    """harness.snapshot, except that a FIFO is never opened (hashing it would block)."""
    fifos = {p for p in root.rglob("*") if p.is_fifo()}
    aside = root.parent / f"{root.name}-fifos"
    aside.mkdir(exist_ok=True)
    moved = {p: aside / str(k) for k, p in enumerate(sorted(fifos))}
    for path, place in moved.items():  # out of the walk's way while it hashes the rest
        path.rename(place)
    try:
        found = snapshot(root)
    finally:
        for path, place in moved.items():
            place.rename(path)
    return {**found, **{str(p.relative_to(root)): ("fifo",) for p in fifos}}


def _run(root: Path, *args):
    before = _snapshot(root)
    code, out, err = annokit(*args, cwd=root)
    assert "Traceback" not in err and "internal error" not in err, err
    assert changed_outside(before, _snapshot(root)) == []
    assert temporaries(root) == []
    return code, out, err


GOOD_IMAGE = {"id": 2, "file_name": "b.png", "width": 8, "height": 6}
GOOD_ANN = {"id": 2, "image_id": 2, "category_id": 1, "bbox": [1, 1, 2, 2]}


@pytest.mark.parametrize("image, annotation, says", [
    ({**GOOD_IMAGE, "width": "HUGE"}, GOOD_ANN, "width 9999"),
    ({**GOOD_IMAGE, "height": "HUGE"}, GOOD_ANN, "height 9999"),
    (GOOD_IMAGE, {**GOOD_ANN, "bbox": ["HUGE", 1, 2, 2]}, "is not 4 finite numbers"),
    (GOOD_IMAGE, {**GOOD_ANN, "bbox": [1, 1, "HUGE", 2]}, "is not 4 finite numbers"),
    (GOOD_IMAGE, {**GOOD_ANN, "iscrowd": "HUGE"}, "is not 0 or 1"),
    (GOOD_IMAGE, {**GOOD_ANN, "image_id": "HUGE"}, "is not an integer"),
    (GOOD_IMAGE, {**GOOD_ANN, "bbox": None, "segmentation": [[1, 1, "HUGE", 1, 2, 2]]},
     "not a finite number"),
], ids=["width", "height", "bbox-x", "bbox-w", "iscrowd", "image_id", "polygon"])
def test_a_400_digit_integer_skips_its_record(tmp_path, image, annotation, says):
    write(tmp_path, {"c.json": _coco_text(image, annotation), "a.png": png(), "b.png": png()})
    code, out, err = _run(tmp_path, "info", "c.json")
    assert code == 0, err
    assert says in err and "c.json" in err, err
    assert "9" * 41 not in err, "the number is shortened in the message"


@pytest.mark.parametrize("field", ["area", "score"])
def test_a_400_digit_number_where_any_number_goes_is_read(tmp_path, field):
    write(tmp_path, {"c.json": _coco_text(GOOD_IMAGE, {**GOOD_ANN, field: "HUGE"}),
                     "a.png": png(), "b.png": png()})
    code, out, err = _run(tmp_path, "info", "c.json")
    assert code == 0, err
    assert "skipped" not in err, err  # the annotation is read, its big number kept
    write(tmp_path, {"plain.json": _coco_text(GOOD_IMAGE, {**GOOD_ANN, field: 1})})
    assert out == _run(tmp_path, "info", "plain.json")[1]  # as many as with a plain number


def test_a_400_digit_width_on_the_only_image_is_one_line(tmp_path):
    text = json.dumps({"images": [{"id": 1, "file_name": "a.png", "width": "HUGE",
                                   "height": 6}], "annotations": [],
                       "categories": [{"id": 1, "name": "cat"}]}).replace('"HUGE"', HUGE_TEXT)
    write(tmp_path, {"c.json": text, "a.png": png()})
    code, _, err = _run(tmp_path, "info", "c.json")
    assert code == 2
    assert "out of range" in one_line_error(err, "c.json")


# -- FIFOs and devices inside dataset folders ----------------------------------------

def _yolo(root: Path) -> Path:
    data = root / "data"
    write(data, {"data.yaml": "names: [cat]\ntrain: images/train\nval: images/train\n",
                 "images/train/a.png": png(), "images/train/b.png": png(),
                 "images/train/c.png": png(),
                 "labels/train/a.txt": "0 0.5 0.5 0.25 0.25\n"})
    return data


def _voc(root: Path) -> Path:
    data = root / "voc"
    xml = ("<annotation><filename>a.png</filename><size><width>8</width><height>6</height>"
           "<depth>3</depth></size><object><name>cat</name><bndbox><xmin>1</xmin>"
           "<ymin>1</ymin><xmax>4</xmax><ymax>3</ymax></bndbox></object></annotation>")
    write(data, {"Annotations/a.xml": xml, "JPEGImages/a.png": png(),
                 "JPEGImages/b.png": png(), "JPEGImages/c.png": png()})
    return data


def test_yolo_label_files_that_are_a_fifo_or_dev_zero_are_skipped(tmp_path):
    data = _yolo(tmp_path)
    os.mkfifo(data / "labels/train/b.txt")
    os.symlink("/dev/zero", data / "labels/train/c.txt")
    code, out, err = _run(tmp_path, "info", "data", "--format", "yolo")
    assert code == 0, err
    assert "b.txt" in err and "FIFO" in err, err
    assert "c.txt" in err and "character device" in err, err
    assert "images=1" in out, out


def test_voc_files_that_are_a_fifo_or_dev_zero_are_skipped(tmp_path):
    data = _voc(tmp_path)
    os.mkfifo(data / "Annotations/b.xml")
    os.symlink("/dev/zero", data / "Annotations/c.xml")
    code, out, err = _run(tmp_path, "info", "voc", "--format", "voc")
    assert code == 0, err
    assert "b.xml" in err and "FIFO" in err, err
    assert "c.xml" in err and "character device" in err, err
    assert "annotations=1" in out, out


def test_voc_image_list_that_is_a_fifo_is_one_line(tmp_path):
    data = _voc(tmp_path)
    (data / "ImageSets/Main").mkdir(parents=True)
    os.mkfifo(data / "ImageSets/Main/train.txt")
    code, _, err = _run(tmp_path, "info", "voc", "--format", "voc")
    assert code in (0, 2), err
    if code == 2:
        one_line_error(err, "train.txt")


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_a_coco_file_that_is_a_fifo_or_dev_zero_is_one_line(tmp_path, kind):
    folder = tmp_path / "annotations"
    folder.mkdir()
    target = folder / "train.json"
    if kind == "fifo":
        os.mkfifo(target)
    else:
        os.symlink("/dev/zero", target)
    code, _, err = _run(tmp_path, "info", "annotations/train.json", "--format", "coco")
    assert code == 2
    one_line_error(err, "train.json")


def test_a_yolo_image_that_is_a_fifo_is_skipped(tmp_path):
    data = _yolo(tmp_path)
    (data / "images/train/b.png").unlink()
    os.mkfifo(data / "images/train/b.png")
    code, out, err = _run(tmp_path, "info", "data", "--format", "yolo")
    assert code == 0, err
    assert "b.png" in err and "FIFO" in err, err
