"""Hostile detector outputs for the calibrated overlooked candidates (issue 14.1, 14.5):
scores above 1, all tied, a detector that never finds the annotated objects, boxes that
only sit on or inside annotated ones. Each runs to the end (exit 0), every quality stays
in [0, 1], and no candidate lies on an annotated box."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness import annokit, temporaries

IMAGES = 6
ANNOTATED = [[10.0, 10.0, 30.0, 30.0], [60.0, 60.0, 30.0, 30.0]]


def coco(root: Path) -> Path:
    """COCO with image sizes, two boxes per image (predictions judge: no pixels needed)."""
    images = [{"id": i, "file_name": f"im{i}.png", "width": 100, "height": 100}
              for i in range(1, IMAGES + 1)]
    anns = [{"id": 2 * (i - 1) + j + 1, "image_id": i, "category_id": 1, "bbox": b,
             "area": b[2] * b[3], "iscrowd": 0}
            for i in range(1, IMAGES + 1) for j, b in enumerate(ANNOTATED)]
    path = root / "data.json"
    path.write_text(json.dumps({"images": images, "annotations": anns,
                                "categories": [{"id": 1, "name": "thing"}]}))
    return path


def _on_annotated(score: float) -> list[dict]:
    return [{"image_id": i, "category_id": 1, "bbox": b, "score": score}
            for i in range(1, IMAGES + 1) for b in ANNOTATED]


CASES = {
    "scores above one": _on_annotated(40.0) + [
        {"image_id": 1, "category_id": 1, "bbox": [60.0, 5.0, 30.0, 30.0], "score": 1e6}],
    "every score tied": _on_annotated(0.5) + [
        {"image_id": i, "category_id": 1, "bbox": [60.0, 5.0, 30.0, 30.0], "score": 0.5}
        for i in range(1, IMAGES + 1)],
    "never finds the annotated objects": [
        {"image_id": i, "category_id": 1, "bbox": [60.0, 5.0, 30.0, 30.0], "score": 0.9}
        for i in range(1, IMAGES + 1)],
    "only on or inside annotated boxes": _on_annotated(0.9) + [
        {"image_id": i, "category_id": 1, "bbox": [12.0, 12.0, 10.0, 10.0], "score": 0.99}
        for i in range(1, IMAGES + 1)] + [
        {"image_id": i, "category_id": 1, "bbox": [55.0, 55.0, 40.0, 40.0], "score": 0.99}
        for i in range(1, IMAGES + 1)],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_odd_detector_scores_give_sane_candidates(tmp_path: Path, case: str):
    data = coco(tmp_path)
    (tmp_path / "preds.json").write_text(json.dumps(CASES[case]))
    code, out, err = annokit("score", data, "--predictions", "preds.json", "--out",
                             "scores.json", "--quiet", cwd=tmp_path)
    assert code == 0, err
    doc = json.loads((tmp_path / "scores.json").read_text())
    rows = doc["annotations"] + doc["overlooked"]
    assert len(doc["annotations"]) == 2 * IMAGES
    assert all(0 <= r["quality"] <= 1 for r in rows if r.get("quality") is not None)
    for c in doc["overlooked"]:
        x, y, w, h = c["bbox"]
        assert not any(x < bx + bw and bx < x + w and y < by + bh and by < y + h
                       for bx, by, bw, bh in ANNOTATED), c  # never on an annotated box
    if case == "only on or inside annotated boxes":
        assert doc["overlooked"] == []
    assert not temporaries(tmp_path)
