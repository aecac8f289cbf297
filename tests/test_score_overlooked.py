"""Overlooked candidates a user can act on (issue 14.1, 14.3): a calibrated P(object), never
on or inside an annotated box, only as sure as a typical annotated object; the default
command records which family judged which type."""
from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

import annokit
from annokit.score import calibrate, detection, score


def test_candidate_probability_is_calibrated_and_monotone():
    """Annotated objects score high; candidates are mostly background (low) with a share of
    missed objects scoring as the annotated ones: P(object) is in [0, 1], rises with the
    score, is high where the objects are and low on background."""
    rng = np.random.default_rng(0)
    annotated = rng.beta(8, 2, 500)
    missed = rng.beta(8, 2, 50)
    background = rng.beta(2, 8, 950)
    cand = np.r_[missed, background]
    p = calibrate.object_probability(cand, annotated)
    assert ((p >= 0) & (p <= 1)).all()
    order = np.argsort(cand)
    assert (np.diff(p[order]) >= 0).all()
    assert np.median(p[:50]) > 0.5 > np.median(p[50:])
    # about as many candidates look like objects as were planted (share ~ 5%)
    assert 25 <= (p >= 0.5).sum() <= 100
    sure = p >= 0.5
    assert (np.r_[np.ones(50), np.zeros(950)][sure]).mean() >= 0.6


def test_candidate_probability_without_candidates_or_objects():
    assert calibrate.object_probability(np.zeros(0), np.ones(3)).shape == (0,)
    assert calibrate.object_probability(np.array([0.5]), np.zeros(0)).tolist() == [0.0]


def _boxes_dataset(n_images=12):
    """Two boxes of class 1 per 200 x 200 image (no pixels needed: predictions judge)."""
    images = pd.DataFrame({"id": np.arange(1, n_images + 1),
                           "file_name": [f"{i}.jpg" for i in range(n_images)],
                           "width": 200, "height": 200})
    rows = [(2 * i + j + 1, i + 1, 1, 20.0 + 100 * j, 20.0, 50.0, 50.0)
            for i in range(n_images) for j in range(2)]
    anns = pd.DataFrame(rows, columns=["id", "image_id", "category_id", "x", "y", "w", "h"])
    return annokit.Dataset(pd.DataFrame({"id": [1], "name": ["cell"]}), images, anns)


def _predictions(ds, extra):
    """The annotated boxes found at 0.9, plus ``extra`` (image_id, x, y, w, h, score)."""
    a = ds.annotations
    rows = [(r.image_id, 1, r.x, r.y, r.w, r.h, 0.9) for r in a.itertuples()]
    rows += [(i, 1, x, y, w, h, s) for i, x, y, w, h, s in extra]
    anns = pd.DataFrame(rows, columns=["image_id", "category_id", "x", "y", "w", "h", "score"])
    anns["id"] = np.arange(1, len(anns) + 1)
    return annokit.Dataset(ds.categories.copy(), ds.images.copy(), anns)


def test_detector_candidates_shown_only_when_sure_and_clear_of_annotations():
    ds = _boxes_dataset()
    extra = [(1, 60.0, 120.0, 50.0, 50.0, 0.95),   # a missed object, as sure as the rest
             (2, 60.0, 120.0, 50.0, 50.0, 0.30),   # a weak one: not as sure as a typical box
             (3, 25.0, 25.0, 20.0, 20.0, 0.99),    # inside an annotated box: a part of it
             (4, 30.0, 30.0, 50.0, 50.0, 0.99),    # on an annotated box (IoU 0.47)
             (5, 0.0, 0.0, 120.0, 90.0, 0.99)]     # around an annotated box
    result = score(ds, predictions=_predictions(ds, extra))
    cand = result.candidates
    assert cand["image_id"].tolist() == [1]
    assert cand[["suggested_x", "suggested_y"]].iloc[0].tolist() == [60.0, 120.0]
    assert cand["quality"].between(0, 1).all() and cand["quality"].iloc[0] < 0.5
    assert result.families["overlooked"] == "predictions"


def test_clean_predictions_give_no_candidates_or_flags():
    ds = _boxes_dataset()
    result = score(ds, predictions=_predictions(ds, []))
    assert len(result.candidates) == 0
    assert result.annotations["issue"].isna().all()


def test_classic_candidates_have_calibrated_quality():
    """The classic family's candidates: quality = 1 - P(object), in [0, 1], in the same
    order as the object score that ranks them."""
    rng = np.random.default_rng(0)
    n = 40
    cand = pd.DataFrame({"pos": np.arange(n) % 4, "x": rng.uniform(0, 100, n),
                         "y": rng.uniform(0, 100, n), "w": 10.0, "h": 10.0})
    objects = rng.dirichlet(np.ones(3), n)[:, :2]
    chance = calibrate.object_probability(objects.sum(axis=1), rng.beta(8, 2, 100))
    found = detection._candidates(cand, objects, np.array([1, 2]), chance)
    assert {"chance", "object"} <= set(found.columns)
    order = np.argsort(found["object"].to_numpy())
    assert (np.diff(found["chance"].to_numpy()[order]) >= 0).all()


def test_default_family_per_type_is_recorded(tmp_path):
    """No --model: each type goes to the family chosen for it (classic for the box types;
    centres for overlooked objects where torch and the Lite0 weights are installed, else
    classic: baselines/README.md), recorded in ``families``; --model forces one."""
    from annokit.score.backbones import available
    from score_data import make_shapes

    chosen = sys.modules["annokit.score"].DEFAULT_OVERLOOKED  # annokit.score: the function
    ds = make_shapes(tmp_path / "shapes", n_images=12)
    result = score(ds, folds=3)
    detector = chosen if chosen is not None and available() else None
    judged = f"classic + {detector}" if detector else "classic"
    assert result.families == {"swap": "classic", "spurious": judged, "badloc": judged,
                               "overlooked": detector or "classic"}


@pytest.mark.slow
def test_default_can_give_overlooked_to_the_detector(tmp_path, monkeypatch):
    """With a detector chosen for overlooked objects (DEFAULT_OVERLOOKED), the default runs
    classic for the box types and the detector for candidates, and says so."""
    pytest.importorskip("torch")
    from score_data import make_shapes

    monkeypatch.setattr(sys.modules["annokit.score"], "DEFAULT_OVERLOOKED", "cnn")
    ds = make_shapes(tmp_path / "shapes", n_images=12)
    result = score(ds, folds=3, iterations=20)
    assert result.families == {"swap": "classic", "badloc": "classic + cnn",
                               "spurious": "classic + cnn", "overlooked": "cnn"}
    assert result.predictions is not None and len(result.predictions.annotations)
    forced = score(ds, folds=3, model="classic")
    assert set(forced.families.values()) == {"classic"}
    n = len(ds.annotations)
    badloc = result.annotations.iloc[:n]["badloc_quality"]
    assert badloc.between(0, 1).all()  # half the classifier's, half the detector's view


def test_predictions_quality_is_calibrated_and_flags_the_empty_box():
    """From a detector's boxes, quality = P(right) calibrated against moved and background
    boxes judged the same way: the boxes the detector confirms are near 1 and unflagged, a
    box with nothing under it is flagged spurious, quality follows the lowest type quality."""
    ds = _boxes_dataset()
    pred = _predictions(ds, [])
    empty = pred.annotations["id"] == 1  # the detector finds nothing at annotation 1
    pred = annokit.Dataset(pred.categories, pred.images, pred.annotations[~empty])
    result = score(ds, predictions=pred)
    n = len(ds.annotations)
    table = result.annotations.iloc[:n]
    assert table["quality"].between(0, 1).all()
    assert table["issue"].iloc[0] == "spurious" and table["quality"].iloc[0] < 0.5
    assert table["issue"].iloc[1:].isna().all() and (table["quality"].iloc[1:] > 0.9).all()
    raw = table[["swap_quality", "badloc_quality", "spurious_quality"]].min(axis=1)
    order = np.argsort(raw.to_numpy(), kind="stable")
    assert (np.diff(table["quality"].to_numpy()[order]) >= 0).all()


def test_default_and_classic_run_without_torch(tmp_path):
    """``--model classic`` and the default never need torch (an import hook makes every
    ``import torch`` fail, as on an install without it)."""
    import subprocess
    from pathlib import Path

    code = (
        "import builtins, sys\n"
        "real = builtins.__import__\n"
        "def no_torch(name, *a, **k):\n"
        "    if name.split('.')[0] == 'torch':\n"
        "        raise ImportError('No module named torch')\n"
        "    return real(name, *a, **k)\n"
        "builtins.__import__ = no_torch\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from pathlib import Path\n"
        "from score_data import make_shapes\n"
        "from annokit.score import score\n"
        f"ds = make_shapes(Path({str(tmp_path)!r}) / 's', n_images=12)\n"
        "for model in ('classic', None):\n"
        "    r = score(ds, folds=3, model=model)\n"
        "    print(sorted(set(r.families.values())))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[:2] == ["['classic']", "['classic']"]
