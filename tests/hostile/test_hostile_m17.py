"""Writers under attack, through the real ``convert``: image names that would land outside
the output, two images with one name, an image whose size nothing can tell. Every target
leaves those records out and says so once, as ``skipped:`` (a record left out), never as a
``note:``; the conversion still succeeds, and nothing but the output changes."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from harness import annokit as run
from harness import changed_outside, snapshot, temporaries

TARGETS = ("coco", "voc", "yolo", "csv", "imagefolder", "parquet")


def hostile_coco(folder: Path) -> Path:
    """Four images, one class each: a/x.png is fine, '../escape.png' leaves any output,
    '/abs.png' is absolute, b.png has no size and no file."""
    (folder / "images" / "a").mkdir(parents=True)
    Image.new("RGB", (20, 10)).save(folder / "images" / "a" / "x.png")
    images = [{"id": 1, "file_name": "a/x.png", "width": 20, "height": 10},
              {"id": 2, "file_name": "../escape.png", "width": 20, "height": 10},
              {"id": 3, "file_name": "/abs.png", "width": 20, "height": 10},
              {"id": 4, "file_name": "b.png"}]
    anns = [{"id": i, "image_id": i, "category_id": 1, "bbox": [1, 1, 5, 5], "area": 25,
             "iscrowd": 0} for i in range(1, 5)]
    path = folder / "annotations.json"
    path.write_text(json.dumps({"images": images, "annotations": anns,
                                "categories": [{"id": 1, "name": "cat"}]}))
    return path


def said(err: str, kind: str) -> list[str]:
    return [line[len(f"  {kind}: "):] for line in err.splitlines()
            if line.startswith(f"  {kind}: ")]


@pytest.mark.parametrize("target", TARGETS)
def test_records_a_writer_leaves_out_are_said_once_as_skipped(tmp_path, target):
    source = hostile_coco(tmp_path / "in")
    before = snapshot(tmp_path)
    code, out, err = run("convert", "coco", target, source, tmp_path / "out", "--images",
                         "copy", "--image-root", tmp_path / "in" / "images", cwd=tmp_path)
    assert code == 0, err
    skipped, notes = said(err, "skipped"), said(err, "note")
    for name in ("../escape.png", "/abs.png"):  # every writer refuses to place these
        assert sum(s.startswith(f"{name}:") for s in skipped) == 1, (name, err)
        assert not any(n.startswith(f"{name}:") for n in notes), err
    assert len(set(err.splitlines())) == len(err.splitlines())  # each line once
    assert f"written to {tmp_path / 'out'}" in out
    assert not changed_outside(before, snapshot(tmp_path), ("out",))
    assert not temporaries(tmp_path)


def test_strict_stops_at_the_first_record_a_writer_would_leave_out(tmp_path):
    source = hostile_coco(tmp_path / "in")
    before = snapshot(tmp_path)
    code, out, err = run("convert", "coco", "yolo", source, tmp_path / "out", "--strict",
                         "--image-root", tmp_path / "in" / "images", cwd=tmp_path)
    assert code == 2 and err.startswith("annokit: error: ../escape.png:image id 2:"), err
    assert len(err.splitlines()) == 1
    assert not changed_outside(before, snapshot(tmp_path))  # no half-written output
    assert not temporaries(tmp_path)
