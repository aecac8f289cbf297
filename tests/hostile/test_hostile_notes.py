"""The notes channel under attack: a scores file whose notes are not what annokit writes
(a number, items that are not notes, a kind that is no kind, a huge list) is still read,
its usable notes kept and the rest left out; never an internal error. Each through the
real command, nothing left behind but the declared outputs."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import annokit
from annokit.notes import Notes
from annokit.score.contract import ANNOTATION_COLUMNS, Scores, read_scores, write_scores
from harness import annokit as run
from harness import changed_outside, snapshot, temporaries


def scored(folder: Path) -> tuple[Path, Path]:
    """A two-image COCO dataset and a scores file for it (one swap flagged)."""
    folder.mkdir()
    doc = {"images": [{"id": i, "file_name": f"{i}.jpg", "width": 32, "height": 32}
                      for i in (1, 2)],
           "annotations": [{"id": i, "image_id": i, "category_id": i, "bbox": [1, 1, 8, 8],
                            "area": 64, "iscrowd": 0} for i in (1, 2)],
           "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]}
    data = folder / "data.json"
    data.write_text(json.dumps(doc))
    ds = annokit.read(data)
    anns = pd.DataFrame({"annotation_id": [1, 2], "image_id": [1, 2], "category_id": [1, 2],
                         "quality": [0.9, 0.05], "issue": [None, "swap"],
                         "suggested_category_id": [np.nan, 1.0]})
    for column in ANNOTATION_COLUMNS:
        if column not in anns:
            anns[column] = np.nan
    images = pd.DataFrame({"image_id": [1, 2], "quality": [0.9, 0.05], "n_issues": [0, 1]})
    scores = folder / "scores.json"
    write_scores(ds, Scores(anns, images, Notes(), "detection"), scores)
    return data, scores


HOSTILE_NOTES = {
    "a number": 5,
    "a string": "skipped everything",
    "items that are not notes": [1, None, ["x"], {"kind": "skipped"}, {"text": 3}],
    "a kind that is no kind": [{"source": "score", "kind": "fatal", "text": "a.jpg: odd"}],
    "a huge list": [{"source": "score", "kind": "skipped", "text": f"{i}.jpg: unreadable"}
                    for i in range(50_000)],
}


@pytest.mark.parametrize("case", list(HOSTILE_NOTES))
def test_a_scores_file_with_hostile_notes_is_read_and_applied(tmp_path, case):
    data, scores = scored(tmp_path / "in")
    doc = json.loads(scores.read_text())
    doc["annokit_scores"]["notes"] = HOSTILE_NOTES[case]
    scores.write_text(json.dumps(doc))
    kept = read_scores(scores, annokit.read(data)).notes
    assert all(n.kind in ("note", "skipped") and isinstance(n.text, str) for n in kept)
    before = snapshot(tmp_path)
    code, out, err = run("apply", data, scores, tmp_path / "out", "--accept", "swap",
                         "--to", "coco", cwd=tmp_path)
    assert code == 0, err
    assert "1 fixes applied (1 relabel" in out
    assert not changed_outside(before, snapshot(tmp_path), ("out", "out.changes.csv"))
    assert not temporaries(tmp_path)
