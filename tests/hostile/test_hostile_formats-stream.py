"""Hostile input met by the chunked VOC writer and YOLO reader (issue 15): a refusal in a
later chunk still leaves nothing written, and a label file that changes between being
parsed and being quoted in a message is no crash."""
from __future__ import annotations

import pandas as pd
import pytest
from PIL import Image

import annokit
from annokit import AnnokitError, Dataset
from annokit.formats.voc import writer
from annokit.formats.yolo import parse
from harness import annokit as run, one_line_error


def _boxes_dataset(n: int, pose_of_last: str) -> Dataset:
    return Dataset(
        categories=pd.DataFrame({"id": [1], "name": ["cat"]}),
        images=pd.DataFrame({"id": range(1, n + 1), "file_name": [f"{i}.jpg" for i in range(n)],
                             "width": 64, "height": 48}),
        annotations=pd.DataFrame({"image_id": range(1, n + 1), "category_id": 1,
                                  "x": 1.0, "y": 2.0, "w": 10.0, "h": 8.0,
                                  "pose": ["Left"] * (n - 1) + [pose_of_last]}))


def test_a_refusal_in_the_last_write_chunk_leaves_nothing(tmp_path, monkeypatch):
    """Text XML cannot hold is found only when its chunk is made: the files of the chunks
    before are already written, yet the target never appears (written aside, renamed)."""
    monkeypatch.setattr(writer, "WRITE_CHUNK", 2)
    ds = _boxes_dataset(7, "Left\x01")
    with pytest.raises(AnnokitError, match="control characters XML cannot hold"):
        annokit.write(ds, tmp_path / "out", "voc")
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_the_cli_refuses_a_control_character_in_one_line(tmp_path):
    ds = _boxes_dataset(3, "Left\x01")
    annokit.write(ds, tmp_path / "src.json", "coco")
    code, _, err = run("convert", "coco", "voc", "src.json", "out", cwd=tmp_path)
    assert code == 2
    one_line_error(err)
    assert not (tmp_path / "out").exists()


def test_a_label_file_emptied_before_its_message_is_quoted(tmp_path, monkeypatch):
    """The line of a late-found error is read again from its file; when the file has
    changed since, the message quotes what is there now (here nothing), never crashes."""
    root = tmp_path / "yolo"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for stem, text in (("a", "0 0.5 0.5 0.2 0.2\n"), ("b", "9 0.5 0.5 0.2 0.2\n")):
        Image.new("RGB", (64, 48)).save(root / "images" / f"{stem}.png")
        (root / "labels" / f"{stem}.txt").write_text(text)
    (root / "data.yaml").write_text("train: images\nval: images\nnames: [cat]\n")
    parsed = parse._parse

    def parse_then_empty(scan, *args):  # the real parse, after b.txt lost its line
        (root / "labels" / "b.txt").write_text("")
        return parsed(scan, *args)

    monkeypatch.setattr(parse, "READ_CHUNK", 1)
    monkeypatch.setattr(parse, "_parse", parse_then_empty)
    ds = annokit.read(root, "yolo")
    assert len(ds.annotations) == 1
    assert ds.notes.texts("skipped") == [f"{root}/labels/b.txt:line 1: class 9 has no name in "
                                  "data.yaml (1 names) (line skipped: '')"]
