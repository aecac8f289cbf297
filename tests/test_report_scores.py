"""The report's "likely annotation errors" section: a hand-built scores table (the scores
contract's columns) on the shapes fixture with a few wrong boxes; HTML order and drawings,
JSON schema, a real browser, and `annokit check --score`."""
from __future__ import annotations

import base64
import importlib.util
import io
import json
import os
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import annokit
from annokit.checks import check
from annokit.errors import AnnokitError
from annokit.score.contract import Scores
from annokit.report import (FIX_COLOUR, json_schema, report, scores_summary, to_json_dict)
from conftest import FIXTURES, ROOT, run_cli
from browser import chromium, page_text

SHAPES = FIXTURES / "shapes" / "voc"
ARTIFACTS = os.environ.get("ANNOKIT_TEST_ARTIFACTS", str(ROOT / "test-artifacts"))
RED = (230, 20, 20)


def _wrong_shapes():
    """The shapes set with four planted errors, and the scores a good scorer would give.

    shapes_000: annotation 2 (a triangle) labelled square        -> swap, quality 0.03
    shapes_001: annotation 5 (a circle) moved to (10, 10)        -> badloc, quality 0.08
    shapes_002: a box on the background (id 100)                 -> spurious, quality 0.12
    shapes_003: its first box deleted                            -> overlooked, quality 0.20
    """
    ds = annokit.read(SHAPES)
    anns = ds.annotations
    anns.loc[anns["id"] == 2, "category_id"] = 1
    true_box = anns.loc[anns["id"] == 5, ["x", "y", "w", "h"]].to_numpy()[0]
    anns.loc[anns["id"] == 5, ["x", "y"]] = [10.0, 10.0]
    deleted = anns[anns["image_id"] == 4].iloc[0]
    extra = anns.iloc[[0]].assign(id=100, image_id=3, category_id=3, x=2.0, y=80.0, w=20.0,
                                  h=20.0)
    ds.annotations = pd.concat([anns[anns["id"] != deleted["id"]], extra], ignore_index=True)
    anns = ds.annotations

    n = len(anns)
    rng = np.random.default_rng(0)
    table = pd.DataFrame({
        "annotation_id": pd.array(anns["id"], dtype="Int64"),
        "image_id": anns["image_id"].astype("int64"),
        "category_id": pd.array(anns["category_id"], dtype="Int64"),
        "quality": rng.uniform(0.85, 0.99, n), "issue": [None] * n,
        "suggested_category_id": pd.array([pd.NA] * n, dtype="Int64"),
        **{f"suggested_{k}": np.nan for k in "xywh"}})
    planted = {2: ("swap", 0.03), 5: ("badloc", 0.08), 100: ("spurious", 0.12)}
    for ann_id, (issue, quality) in planted.items():
        at = table.index[table["annotation_id"] == ann_id][0]
        table.loc[at, ["issue", "quality"]] = [issue, quality]
    table.loc[table["annotation_id"] == 2, "suggested_category_id"] = 2
    table.loc[table["annotation_id"] == 5, ["suggested_x", "suggested_y", "suggested_w",
                                            "suggested_h"]] = true_box
    overlooked = pd.DataFrame({
        "annotation_id": pd.array([pd.NA], dtype="Int64"), "image_id": [4],
        "category_id": pd.array([deleted["category_id"]], dtype="Int64"), "quality": [0.2],
        "issue": ["overlooked"], "suggested_category_id": pd.array([pd.NA], dtype="Int64"),
        "suggested_x": [deleted["x"]], "suggested_y": [deleted["y"]],
        "suggested_w": [deleted["w"]], "suggested_h": [deleted["h"]]})
    table = pd.concat([table, overlooked], ignore_index=True)
    per_image = table.groupby("image_id").agg(quality=("quality", "min"),
                                              n_issues=("issue", "count"))
    images = pd.DataFrame({"image_id": ds.images["id"].astype("int64")})
    images = images.join(per_image, on="image_id")
    images["quality"] = images["quality"].fillna(1.0)  # the image without boxes
    images["n_issues"] = images["n_issues"].fillna(0).astype("int64")
    return ds, Scores(table, images), {"true_box": true_box, "deleted": deleted}


@pytest.fixture(scope="module")
def planted():
    return _wrong_shapes()


def _pictures(page: str, file_name: str) -> list[np.ndarray]:
    figure = next(part.split("</figure>")[0] for part in
                  page.split('<figure class="thumb score">')[1:]
                  if f'alt="{file_name} as annotated"' in part)
    out = []
    for data in re.findall(r'src="data:image/jpeg;base64,([^"]+)"', figure):
        with Image.open(io.BytesIO(base64.b64decode(data))) as im:
            out.append(np.asarray(im.convert("RGB"), dtype=int))
    return out


def _near(px: np.ndarray, y: int, x: int, rgb) -> bool:
    return np.abs(px[y - 1:y + 2, x - 1:x + 2] - rgb).sum(axis=2).min() < 90


def test_section_orders_worst_first_with_both_boxes(planted, tmp_path):
    ds, scores, truth = planted
    page = report(ds, check(ds), tmp_path / "qc.html", scores=scores).read_text()
    assert '<section id="likely-errors">' in page and 'href="#likely-errors"' in page
    names = re.findall(r'<figure class="thumb score"><div class="pair"><img alt="([^"]+) as '
                       r'annotated"', page)
    assert names == ["shapes_000.jpg", "shapes_001.jpg", "shapes_002.jpg", "shapes_003.jpg"]
    assert "swap</span> quality 0.03: square → triangle" in page
    assert "badloc</span> quality 0.08: circle: box to move or resize" in page
    assert "overlooked</span> quality 0.20: missing" in page
    # swap: the suspect box red as annotated, green with its new class beside it
    left, right = _pictures(page, "shapes_000.jpg")
    assert left.shape == right.shape == (120, 160, 3)  # 160x120 images, not scaled
    assert _near(left, 10, 26, RED) and _near(right, 10, 26, FIX_COLOUR)
    # badloc: red where it is (10, 10), green where it should be
    left, right = _pictures(page, "shapes_001.jpg")
    x, y, w, h = truth["true_box"]
    bottom = int(y + h - 1), int(x + w / 2)  # the true box's bottom edge, off the square
    assert _near(left, 25, 10, RED) and not _near(left, *bottom, FIX_COLOUR)
    assert _near(right, *bottom, FIX_COLOUR) and not _near(right, 25, 10, RED)
    # overlooked: dashed green on the right only; some of the edge green, some not
    left, right = _pictures(page, "shapes_003.jpg")
    d = truth["deleted"]
    rows, column = slice(int(d["y"]) + 1, int(d["y"] + d["h"]) - 1), int(d["x"]) + 1

    def greenish(px):  # JPEG blurs a thin dash: green well above red, not the exact colour
        return px[rows, column, 1] - px[rows, column, 0] > 50
    assert 0.2 < greenish(right).mean() < 0.8  # dashes and gaps
    assert not greenish(left).any()
    # the table lists the four flagged rows, worst first
    table = re.search(r'<table id="scores">.*?</table>', page, re.S).group(0)
    assert re.findall(r'class="issue (\w+)"', table) == ["swap", "badloc", "spurious",
                                                          "overlooked"]


def test_json_carries_the_scores_and_validates(planted, tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    ds, scores, truth = planted
    path = report(ds, check(ds), tmp_path / "qc.json", scores=scores)
    data = json.loads(path.read_text())
    jsonschema.validate(data, json_schema())
    s = data["scores"]
    assert data["schema_version"] == 1 and data["schema_minor"] == 2
    assert s["counts"] == {"annotations": len(ds.annotations), "overlooked_candidates": 1,
                           "flagged": 4, "images_flagged": 4,
                           "by_issue": {"swap": 1, "badloc": 1, "spurious": 1,
                                        "overlooked": 1, "flip": 0}}
    assert [a["issue"] for a in s["annotations"][:4]] == ["swap", "badloc", "spurious",
                                                          "overlooked"]
    assert [i["file_name"] for i in s["images"][:4]] == [f"shapes_00{i}.jpg" for i in range(4)]
    badloc = s["annotations"][1]
    assert badloc["annotation_id"] == 5 and badloc["suggested_bbox"] == truth["true_box"].tolist()
    assert s["annotations"][0]["suggested_category_id"] == 2
    assert s["annotations"][3]["annotation_id"] is None
    # without scores the field is null, and the schema still holds
    plain = to_json_dict(ds, check(ds))
    assert plain["scores"] is None
    jsonschema.validate(json.loads(json.dumps(plain)), json_schema())
    bad = json.loads(path.read_text())
    bad["scores"]["annotations"][0]["issue"] = "typo"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, json_schema())


def test_summary_line_and_bad_scores(planted):
    ds, scores, _ = planted
    assert scores_summary(ds, scores) == (
        "likely annotation errors: 3 (swap 1, badloc 1, spurious 1), 1 candidate overlooked "
        "object on 4 images; "
        "worst shapes_000.jpg (quality 0.03)")
    with pytest.raises(AnnokitError, match=r"scores.annotations lack columns \['quality'\]"):
        to_json_dict(ds, check(ds), Scores(scores.annotations.drop(columns="quality"),
                                           scores.images))
    odd = scores.annotations.copy()
    odd.loc[0, "issue"] = "wrong"
    with pytest.raises(AnnokitError, match=r"unknown issues \['wrong'\]"):
        to_json_dict(ds, check(ds), Scores(odd, scores.images))
    with pytest.raises(AnnokitError, match="scores need 'annotations' and 'images' DataFrames"):
        to_json_dict(ds, check(ds), object())


def test_nothing_flagged(planted, tmp_path):
    ds, scores, _ = planted
    calm = Scores(scores.annotations.assign(issue=None),
                  scores.images.assign(n_issues=0))
    page = report(ds, check(ds), tmp_path / "qc.html", scores=calm).read_text()
    assert '<p id="no-likely-errors">' in page and 'class="thumb score"' not in page


@pytest.mark.slow
def test_section_renders_inchromium(planted, tmp_path):
    ds, scores, _ = planted
    page = report(ds, check(ds), tmp_path / "qc.html", scores=scores)
    dom = chromium(tmp_path, "--dump-dom", page.as_uri())
    text = page_text(dom)
    assert "Likely annotation errors" in text
    assert "4 likely errors on 4 of 12 scored images" in text
    assert dom.count('<figure class="thumb score">') == 4
    shot = tmp_path / "likely-errors.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,4000",
              page.as_uri() + "#likely-errors")
    with Image.open(shot) as im:
        assert im.size == (1280, 4000)
        colours = im.convert("RGB").getcolors(maxcolors=1 << 20)
    assert len(colours) > 1000
    os.makedirs(ARTIFACTS, exist_ok=True)  # kept for people to look at (CI uploads it)
    shutil.copy(shot, os.path.join(ARTIFACTS, "report-likely-errors.png"))


SCORER = importlib.util.find_spec("annokit.score") is not None


@pytest.mark.skipif(SCORER, reason="annokit.score is installed: check --score runs (below)")
def test_check_score_without_the_scorer_is_one_line():
    code, out, err = run_cli("check", SHAPES, "--score")
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert err.startswith("annokit: error: --score needs annokit.score")


@pytest.mark.slow
@pytest.mark.skipif(not SCORER, reason="annokit.score cannot be imported yet (the scorer "
                                       "is merged separately); check --score is tested then")
def test_check_score_runs_the_scorer(tmp_path):
    code, out, err = run_cli("check", SHAPES, "--score", "--json", tmp_path / "qc.json",
                             "--html", tmp_path / "qc.html", "--fail-on", "never")
    assert code == 0, err
    assert "likely annotation errors:" in out
    data = json.loads((tmp_path / "qc.json").read_text())
    assert data["scores"]["counts"]["annotations"] == 35
    assert len(data["scores"]["images"]) == 12
    assert '<section id="likely-errors">' in (tmp_path / "qc.html").read_text()


def test_classification_flip_is_one_picture_and_the_class_in_words(tmp_path):
    ds = annokit.read(FIXTURES / "csv" / "label.csv")  # a cat, b dog, c cat, sub/d bird
    anns = ds.annotations
    names = ds.categories.set_index("name")["id"]
    flipped = anns["image_id"] == ds.images.loc[ds.images["file_name"] == "b.png", "id"].iloc[0]
    table = pd.DataFrame({
        "annotation_id": pd.array(anns["id"], dtype="Int64"), "image_id": anns["image_id"],
        "category_id": pd.array(anns["category_id"], dtype="Int64"),
        "quality": np.where(flipped, 0.04, 0.9), "issue": np.where(flipped, "flip", None),
        "suggested_category_id": pd.array(np.where(flipped, names["cat"], pd.NA),
                                          dtype="Int64"),
        **{f"suggested_{k}": np.nan for k in "xywh"}})
    images = pd.DataFrame({"image_id": ds.images["id"],
                           "quality": np.where(ds.images["file_name"] == "b.png", 0.04, 0.9),
                           "n_issues": (ds.images["file_name"] == "b.png").astype("int64")})
    page = report(ds, check(ds), tmp_path / "qc.html",
                  scores=Scores(table, images, task="classification")).read_text()
    figure = page.split('<figure class="thumb score">')[1].split("</figure>")[0]
    assert figure.count("<img ") == 1 and 'alt="b.png as annotated"' in figure
    assert "flip</span> quality 0.04: dog → cat" in figure
    data = to_json_dict(ds, check(ds), Scores(table, images, task="classification"))
    assert data["scores"]["task"] == "classification"
    assert data["scores"]["annotations"][0]["suggested_category_id"] == int(names["cat"])
