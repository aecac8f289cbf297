"""VOC at scale (issue 15): the reader moves objects into typed columns as it parses, the
writer makes XML a chunk of images at a time; neither changes a byte or a message."""
from __future__ import annotations

import hashlib
import os

import pytest

import annokit
from annokit.formats.voc import parse, writer
from conftest import FIXTURES

SOURCES = [FIXTURES / "voc" / "root", FIXTURES / "voc" / "splits", FIXTURES / "voc" / "bad",
           FIXTURES / "shapes" / "voc"]


def _tree(root) -> dict[str, str]:
    """Each file under ``root`` and the hash of its bytes."""
    found = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            found[os.path.relpath(path, root)] = hashlib.sha1(open(path, "rb").read()).hexdigest()
    return found


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_objects_flushed_one_at_a_time_read_the_same(monkeypatch, source):
    whole = annokit.read(source, "voc")
    monkeypatch.setattr(parse, "FLUSH", len(parse.OBJECT_KEYS))  # after every object
    flushed = annokit.read(source, "voc")
    assert flushed.meta == whole.meta
    for name in ("images", "annotations", "categories"):
        left, right = getattr(whole, name), getattr(flushed, name)
        assert left.columns.tolist() == right.columns.tolist()
        assert left.astype(str).equals(right.astype(str)), name


@pytest.mark.parametrize("chunk", [1, 2, 3])
def test_any_write_chunk_writes_the_same_bytes_and_notes(tmp_path, monkeypatch, chunk):
    """Objectless images, split folders, pass-through elements and attributes, scores and
    a COCO source with columns VOC cannot hold: every file and note as in one chunk."""
    sources = [annokit.read(s, "voc") for s in SOURCES]
    sources.append(annokit.read(FIXTURES / "coco" / "basic", "coco"))
    for k, ds in enumerate(sources):
        notes = annokit.write(ds, tmp_path / f"whole{k}", "voc", voc_one_based=k % 2 == 1).texts()
        monkeypatch.setattr(writer, "WRITE_CHUNK", chunk)
        again = annokit.write(ds, tmp_path / f"chunk{k}", "voc", voc_one_based=k % 2 == 1).texts()
        monkeypatch.undo()
        assert list(again) == list(notes)
        whole = _tree(tmp_path / f"whole{k}")
        assert len(whole) > 3 and _tree(tmp_path / f"chunk{k}") == whole
