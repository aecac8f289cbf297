"""The YOLO reader parses label text a chunk of files at a time (issue 15): any chunk size
gives the same Dataset and the same messages, in the same order, as one chunk."""
from __future__ import annotations

import pytest
from PIL import Image

import annokit
from annokit.formats.yolo import parse
from conftest import FIXTURES

# every kind of line, spread over files so that chunks of 1, 2 and 3 files cut between
# them: boxes, scores, a polygon, a pose-like block (a 2 among the visibilities), a DOTA
# line, words, nan, a class without a name, values out of range, too few fields, a BOM
LABELS = {
    "a": "0 0.5 0.5 0.2 0.2\n1 0.5 0.5 0.1 0.1 0.9\n",
    "b": "\ufeff0 0.1 0.1 0.9 0.1 0.9 0.9 0.1 0.9\n0 0.5 abc 0.1 0.1\n",
    "c": "7 0.5 0.5 0.1 0.1\n0 1.5 0.5 0.1 0.1\n1 0.5\n",
    "d": "0 0.5 0.5 0.2 0.2 0.1 0.1 2 0.2 0.2 1\n",
    "e": "0 0.5 0.5 0.2 0.2 0.1 0.1 0 0.2 0.2 1\n0 nan 0.5 0.1 0.1\n",
    "f": "10 10 50 10 50 50 10 50 plane 0\n1 0.25 0.25 0.1 0.1",
    "g": "",
}


def _dataset(root):
    (root / "images" / "train").mkdir(parents=True, exist_ok=True)
    (root / "labels" / "train").mkdir(parents=True, exist_ok=True)
    for stem, text in LABELS.items():
        Image.new("RGB", (64, 48)).save(root / "images" / "train" / f"{stem}.png")
        (root / "labels" / "train" / f"{stem}.txt").write_text(text, encoding="utf-8")
    (root / "data.yaml").write_text("train: images/train\nval: images/train\n"
                                    "names: [cat, dog]\n")
    return root


@pytest.mark.parametrize("chunk", [1, 2, 3])
def test_any_chunk_size_reads_the_same_dataset_and_messages(tmp_path, monkeypatch, chunk):
    root = _dataset(tmp_path / "yolo")
    whole = annokit.read(root, "yolo")
    assert len(whole.notes.texts("skipped")) >= 7  # the bad lines are there to be compared
    monkeypatch.setattr(parse, "READ_CHUNK", chunk)
    chunked = annokit.read(root, "yolo")
    assert chunked.notes.texts("skipped") == whole.notes.texts("skipped")
    assert chunked.meta.get("notes") == whole.meta.get("notes")
    for name in ("images", "annotations", "categories"):
        left, right = getattr(whole, name), getattr(chunked, name)
        assert left.columns.tolist() == right.columns.tolist()
        assert left.astype(str).equals(right.astype(str)), name


@pytest.mark.parametrize("name", ["ultralytics", "segment", "predictions", "bad_lines",
                                  "roboflow", "darknet/data/obj.data"])
def test_fixtures_read_the_same_one_file_at_a_time(monkeypatch, name):
    whole = annokit.read(FIXTURES / "yolo" / name, "yolo")
    monkeypatch.setattr(parse, "READ_CHUNK", 1)
    chunked = annokit.read(FIXTURES / "yolo" / name, "yolo")
    assert chunked.notes.texts("skipped") == whole.notes.texts("skipped")
    assert chunked.annotations.astype(str).equals(whole.annotations.astype(str))
    assert chunked.images.astype(str).equals(whole.images.astype(str))


def test_a_message_names_the_line_read_again_from_its_file(tmp_path, monkeypatch):
    """A class without a name is found after every chunk is parsed: its line is read again
    from its file for the message, and says the same as when the text was at hand."""
    root = _dataset(tmp_path / "yolo")
    monkeypatch.setattr(parse, "READ_CHUNK", 1)
    ds = annokit.read(root, "yolo")
    line = [m for m in ds.notes.texts("skipped") if "class 7 has no name" in m]
    assert len(line) == 1 and line[0].endswith("(line skipped: '7 0.5 0.5 0.1 0.1')")
    assert "c.txt:line 1:" in line[0]
