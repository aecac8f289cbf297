"""The one notes channel (annokit.notes): every layer appends, the CLI prints each note
once, the JSON report carries them; a new layer's note needs no CLI change."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

import annokit
from annokit import edit
from annokit.errors import FormatError, Problems
from annokit.evaluate import evaluate
from annokit.formats import FORMATS
from annokit.notes import Note, Notes
from annokit.rebalance import rebalance
from annokit.score.contract import ANNOTATION_COLUMNS, Scores, read_scores, write_scores
from annokit.split import split
from conftest import run_cli as run

BROKEN = "bbox [1, 2, 3] is not 4 finite numbers"


def coco_file(folder: Path, n: int = 12) -> Path:
    """A COCO file of ``n`` images (their files absent) with supercategories and one broken
    annotation: the reader skips it, split notes the absent images, VOC drops the
    supercategories."""
    images = [{"id": i, "file_name": f"img{i:02d}.jpg", "width": 64, "height": 48}
              for i in range(1, n + 1)]
    anns = [{"id": i, "image_id": i, "category_id": 1 + i % 2, "bbox": [1, 2, 10, 12],
             "area": 120, "iscrowd": 0} for i in range(1, n + 1)]
    anns.append({"id": n + 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3],
                 "area": 1, "iscrowd": 0})
    cats = [{"id": 1, "name": "cat", "supercategory": "animal"},
            {"id": 2, "name": "dog", "supercategory": "animal"}]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "annotations.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return path


def noted(err: str, kind: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith(f"  {kind}: ")]


# -- the type ------------------------------------------------------------------------------

def test_notes_keep_order_filter_and_round_trip_through_json():
    notes = Notes()
    notes.add("read", "a.json:annotation id 3: bbox has 3 numbers", "skipped")
    notes.add("split", "2 image files absent")
    notes.extend_unique([Note("split", "2 image files absent"), Note("write", "w")])
    assert [n.source for n in notes] == ["read", "split", "write"]
    assert notes.texts("skipped") == ["a.json:annotation id 3: bbox has 3 numbers"]
    assert notes.of(source="split").texts() == ["2 image files absent"]
    assert Notes.from_json(json.loads(json.dumps(notes.to_json()))) == notes
    with pytest.raises(ValueError, match="kind"):
        notes.add("read", "x", "warning")  # type: ignore[arg-type]


def test_problems_write_into_one_notes_and_strict_stops():
    problems = Problems()
    problems.note("no data.yaml: classes named by number")
    problems.skip(FormatError("a.txt", "expected 5 fields, got 4", place="line 3"))
    assert problems.notes == [Note("read", "no data.yaml: classes named by number"),
                              Note("read", "a.txt:line 3: expected 5 fields, got 4", "skipped")]
    assert problems.messages() == ["a.txt:line 3: expected 5 fields, got 4"] and len(problems) == 1
    with pytest.raises(FormatError):
        Problems(strict=True).skip(FormatError("a.txt", "bad"))


# -- every layer appends; a new dataset keeps its input's notes ---------------------------

def test_each_layer_appends_to_the_notes_it_was_given(tmp_path):
    ds = annokit.read(coco_file(tmp_path / "in"))
    assert [(n.source, n.kind) for n in ds.notes] == [("read", "skipped")]
    assert BROKEN in ds.notes[0].text and "1 skipped" in ds.summary_line()
    out = split(ds, (0.5, 0.5), names=("train", "val"))
    assert out.notes[0] == ds.notes[0]  # the reader's note stays
    assert [n.source for n in out.notes[1:]] == ["split"] and "absent" in out.notes[1].text
    assert len(ds.notes) == 1  # the input is not changed
    balanced, _ = rebalance(out, "repeat", threshold=0.001)  # repeats nothing: a note
    assert balanced.notes[:2] == out.notes[:2]
    assert balanced.notes.of(source="rebalance") and len(out.notes) == 2
    copied = copy.deepcopy(ds)
    copied.notes.add("edit", "x")
    assert len(ds.notes) == 1


def test_results_that_are_not_datasets_carry_notes(tmp_path):
    ds = annokit.read(coco_file(tmp_path / "in"))
    written = annokit.write(ds, tmp_path / "voc", "voc")
    assert isinstance(written, Notes) and written.written["images"] == 12
    assert Note("write", "VOC has no supercategory: dropped") in written
    merged, notes = edit.merge([ds, annokit.read(coco_file(tmp_path / "b"))], ["a", "b"])
    assert isinstance(notes, Notes) and all(n.source == "merge" for n in notes)
    pred = ds.copy()
    pred.annotations["score"] = 0.9
    metrics = evaluate(ds, pred)
    assert isinstance(metrics["notes"], Notes) and all(n.source == "eval"
                                                       for n in metrics["notes"])


@pytest.mark.parametrize("target", FORMATS)
def test_every_writer_says_write_notes_and_skips_what_it_leaves_out(tmp_path, target):
    """A record a writer leaves out is a "skipped" write note naming it; what the target
    cannot hold is a "note"; all of source "write", with the counts of what went out."""
    source = coco_file(tmp_path / "in", n=3)
    doc = json.loads(source.read_text())
    doc["images"][0]["file_name"] = "../escape.jpg"  # lands outside any output: left out
    source.write_text(json.dumps(doc))
    ds = annokit.read(source)
    notes = annokit.write(ds, tmp_path / "out", target, images="copy")
    assert isinstance(notes, Notes) and {n.source for n in notes} == {"write"}
    [skipped] = notes.of("skipped")
    assert skipped.text.startswith("../escape.jpg:")  # the file, then the place
    assert notes.of("note")  # at least: the absent image files were not copied
    assert set(notes.written) == {"images", "annotations", "categories"}


def test_scores_files_keep_notes_and_old_files_load(tmp_path):
    import pandas as pd

    ds = annokit.read(coco_file(tmp_path / "in", n=2))
    anns = pd.DataFrame({"annotation_id": [1, 2], "image_id": [1, 2], "category_id": [2, 1],
                         "quality": [0.9, 0.2], "issue": [None, "swap"],
                         "suggested_category_id": [None, 1]})
    for column in ANNOTATION_COLUMNS:
        if column not in anns:
            anns[column] = float("nan")
    images = pd.DataFrame({"image_id": [1, 2], "quality": [0.9, 0.2], "n_issues": [0, 1]})
    skipped = Notes.from_lines("score", ["img02.jpg: cannot decode"], "skipped")
    write_scores(ds, Scores(anns, images, skipped, "detection"), tmp_path / "s.json")
    assert read_scores(tmp_path / "s.json", ds).notes == skipped
    doc = json.loads((tmp_path / "s.json").read_text())
    info = doc["annokit_scores"]
    del info["notes"]
    info["skipped"] = ["img02.jpg: cannot decode"]  # a file written before the notes
    (tmp_path / "old.json").write_text(json.dumps(doc))
    assert read_scores(tmp_path / "old.json", ds).notes == skipped


# -- the CLI prints each layer's note once ------------------------------------------------

def test_split_prints_every_layers_note_exactly_once(tmp_path):
    source = coco_file(tmp_path / "in")
    code, out, err = run("split", source, tmp_path / "out", "--ratios", "0.5,0.5",
                         "--names", "train,val", "--to", "voc")
    assert code == 0, err
    skipped, notes = noted(err, "skipped"), noted(err, "note")
    assert len(skipped) == 1 and BROKEN in skipped[0]  # read
    assert sum("image files absent" in n for n in notes) == 1  # split
    assert notes.count("  note: VOC has no supercategory: dropped") == 1  # write
    assert len(set(err.splitlines())) == len(err.splitlines())


def test_kfold_says_a_note_every_fold_shares_once(tmp_path):
    code, out, err = run("split", coco_file(tmp_path / "in"), tmp_path / "folds",
                         "--folds", "3", "--to", "voc")
    assert code == 0, err
    assert noted(err, "note").count("  note: VOC has no supercategory: dropped") == 1
    assert len(noted(err, "skipped")) == 1


def test_quiet_prints_no_note(tmp_path):
    code, out, err = run("split", coco_file(tmp_path / "in"), tmp_path / "out", "--to", "voc",
                         "--quiet")
    assert code == 0 and not noted(err, "note") and not noted(err, "skipped"), err


def _new_layer_saying(monkeypatch, text: str) -> None:
    """The real class map, wrapped into a new layer that appends ``text`` as its note."""
    real = edit.apply_class_options

    def new_layer(ds, **options):
        out = real(ds, **options)
        out.notes.add("new-layer", text)
        return out

    monkeypatch.setattr(edit, "apply_class_options", new_layer)


def test_a_new_layers_note_reaches_the_cli_with_no_cli_change(tmp_path, monkeypatch):
    # a layer between reading and writing that appends a note of its own: the CLI prints
    # it though it has never heard of the layer
    _new_layer_saying(monkeypatch, "a new layer said this")
    source = coco_file(tmp_path / "in")
    for command in (["edit", source, tmp_path / "edited"],
                    ["convert", "coco", "voc", source, tmp_path / "converted"],
                    ["split", source, tmp_path / "split"]):
        code, out, err = run(*command, "--map-classes", "dog=cat")
        assert code == 0, err
        assert noted(err, "note").count("  note: a new layer said this") == 1, command


def test_check_json_carries_the_notes_and_the_skipped_block(tmp_path):
    source = coco_file(tmp_path / "in")
    code, out, err = run("check", source, "--json", "-", "--no-images", "--fail-on", "never")
    assert code == 0, err
    report = json.loads(out)
    assert report["schema_minor"] == 2
    [note] = report["notes"]
    assert note["source"] == "read" and note["kind"] == "skipped" and BROKEN in note["text"]
    assert report["dataset"]["skipped"] == {"count": 1, "records": [note["text"]]}


def test_a_note_is_one_line_whatever_it_holds(tmp_path, monkeypatch):
    _new_layer_saying(monkeypatch, "a\nb.jpg: left out\r")
    code, out, err = run("edit", coco_file(tmp_path / "in"), tmp_path / "out",
                         "--map-classes", "dog=cat")
    assert code == 0, err
    assert "  note: a\\nb.jpg: left out\\r" in err.splitlines()
