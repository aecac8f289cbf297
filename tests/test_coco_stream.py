"""COCO read a chunk at a time: the same tables and messages as the whole document."""
from __future__ import annotations

import json

import pandas as pd
import pytest

import annokit
from annokit.errors import Problems
from annokit.formats import coco
from annokit.formats.coco import parse
from conftest import FIXTURES


def _read(path, monkeypatch, *, chunk: int | None, strict: bool = False):
    """Read ``path`` in chunks of ``chunk`` records, or (None) as one parsed document."""
    with monkeypatch.context() as m:
        if chunk is None:
            m.setattr(parse, "_sections", lambda raw: None)
        else:
            m.setattr(parse, "CHUNK", chunk)
        problems = Problems(strict)
        ds = coco.read(path, problems=problems)
    return ds, problems.messages()


def _same(a, b) -> None:
    for name in ("categories", "images", "annotations"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_like=False)
    assert a.meta == b.meta


def _mixed_document() -> dict:
    """Broken records in every chunk, pass-through keys in some chunks only."""
    images = [{"id": i, "file_name": f"{i}.jpg", "width": 64, "height": 48} for i in range(1, 9)]
    images[4]["extra"] = "only here"
    images.insert(6, "not an object")
    images.append({"id": "x9", "file_name": "x.jpg"})
    anns = [{"id": k, "image_id": 1 + k % 8, "category_id": 1, "bbox": [1, 2, 3, 4]}
            for k in range(1, 15)]
    anns[2]["bbox"] = [1, 2, "w", 4]
    anns[7]["attributes"] = {"occluded": True}
    anns[9] = ["a list"]
    anns[11]["image_id"] = 999
    anns[12]["id"] = 10 ** 400  # beyond 64 bits: orjson refuses, stdlib json reads it
    anns[13]["area"] = 12.0
    return {"info": {"v": 1}, "categories": [{"id": 1, "name": "cell"}], "images": images,
            "annotations": anns, "licenses": []}


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 100])
def test_chunks_give_the_same_tables_and_messages(tmp_path, monkeypatch, chunk):
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps(_mixed_document()))
    whole, whole_msgs = _read(path, monkeypatch, chunk=None)
    parts, part_msgs = _read(path, monkeypatch, chunk=chunk)
    _same(whole, parts)
    assert part_msgs == whole_msgs
    assert len(part_msgs) == 6  # one non-object image, one image id, 4 annotations
    assert any("images[6]" in m for m in part_msgs)
    assert any("annotations[9]" in m for m in part_msgs)
    assert parts.annotations["attributes"].tolist().count(None) == len(parts.annotations) - 1


@pytest.mark.parametrize("name", ["basic", "splits", "roboflow", "no_size"])
def test_fixtures_read_alike_in_chunks(monkeypatch, name):
    path = FIXTURES / "coco" / name
    whole, whole_msgs = _read(path, monkeypatch, chunk=None)
    parts, part_msgs = _read(path, monkeypatch, chunk=2)
    _same(whole, parts)
    assert part_msgs == whole_msgs


def test_strict_stops_at_the_first_broken_record_of_a_later_chunk(tmp_path, monkeypatch):
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps(_mixed_document()))
    with pytest.raises(annokit.FormatError, match=r"images\[6\]"):
        _read(path, monkeypatch, chunk=2, strict=True)


def test_malformed_json_still_names_line_and_column(tmp_path, monkeypatch):
    path = tmp_path / "bad.json"
    path.write_text('{"images": [\n{"id": 1,}\n]}')
    with pytest.raises(annokit.FormatError, match="line 2"):
        _read(path, monkeypatch, chunk=2)


def test_sections_that_are_not_lists_are_named(tmp_path, monkeypatch):
    path = tmp_path / "bad.json"
    path.write_text('{"images": [], "annotations": {"id": 1}}')
    with pytest.raises(annokit.FormatError, match="'annotations' must be a list"):
        _read(path, monkeypatch, chunk=2)
    path.write_text('{"images": null}')
    ds, _ = _read(path, monkeypatch, chunk=2)
    assert len(ds.images) == 0


@pytest.mark.parametrize("name", ["basic", "splits", "roboflow", "no_size"])
def test_the_writer_writes_a_chunk_at_a_time_what_one_dump_would(tmp_path, monkeypatch, name):
    import orjson

    from annokit.formats.coco import writer

    ds = annokit.read(FIXTURES / "coco" / name, "coco")
    monkeypatch.setattr(writer, "WRITE_CHUNK", 2)
    coco.write(ds, tmp_path / "out.json", images="none", problems=Problems(), single_file=True)
    whole = orjson.dumps(coco.to_dict(ds), default=writer._json_default,
                         option=orjson.OPT_SERIALIZE_NUMPY)
    assert (tmp_path / "out.json").read_bytes() == whole
