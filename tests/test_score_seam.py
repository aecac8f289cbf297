"""The scorer's seam (issue 14.5): a registry of families with one fit_predict signature,
one out-of-fold loop, pred_probs, and predictions paired as eval pairs them."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import annokit
from annokit.evaluate.align import on_ground_truth
from annokit.score import load_predictions, score
from annokit.score.contract import clip_qualities
from annokit.score.inject import inject_detection_errors, inject_label_flips
from annokit.score.registry import FAMILIES, out_of_fold, register
from score_data import make_classes, make_shapes


@given(st.lists(st.integers(0, 4), min_size=2, max_size=40), st.integers(0, 2**31))
@settings(max_examples=50, deadline=None)
def test_out_of_fold_never_judges_what_it_trained_on(folds, seed):
    folds = np.array(folds)
    ok = np.random.default_rng(seed).random(len(folds)) < 0.8
    judged = []
    for _, train, judge in out_of_fold(folds, ok, ok):
        assert not set(folds[train]) & set(folds[judge])
        assert ok[train].all() and ok[judge].all()
        judged += judge.tolist()
    several = len(set(folds[ok])) > 1
    assert sorted(judged) == (np.flatnonzero(ok).tolist() if several else [])


def _colour_classifier(ds, train, judge, seed):
    """A user's own classifier: mean colour of each image, logistic regression."""
    from PIL import Image
    from sklearn.linear_model import LogisticRegression

    paths = ds.image_paths().to_numpy()
    x = np.array([np.asarray(Image.open(p).convert("RGB"), float).reshape(-1, 3).mean(0)
                  for p in paths])
    classes = ds.categories["id"].to_numpy()
    code = pd.Series(np.arange(len(classes)), index=classes)
    y = ds.annotations.drop_duplicates("image_id").set_index("image_id")["category_id"] \
        .map(code).reindex(ds.images["id"]).to_numpy()
    clf = LogisticRegression(max_iter=500, random_state=seed).fit(x[train], y[train])
    out = np.zeros((len(judge), len(classes)))
    out[:, clf.classes_] = clf.predict_proba(x[judge])
    return out


@pytest.fixture(scope="module")
def flips(tmp_path_factory):
    ds = make_classes(tmp_path_factory.mktemp("cls"), n=120)
    return inject_label_flips(ds, 0.1, seed=2)


def test_registered_classifier_runs_out_of_fold(flips):
    noisy, truth = flips
    register("colour", "classification", _colour_classifier)
    try:
        result = score(noisy, model="colour", folds=3)
    finally:
        FAMILIES.pop("colour")
    from sklearn.metrics import roc_auc_score

    flipped = truth["flipped"].to_numpy()
    assert roc_auc_score(flipped, -result.annotations["quality"].to_numpy()) >= 0.95
    assert (result.annotations["issue"].to_numpy()[flipped] == "flip").mean() >= 0.7


def test_pred_probs_are_scored_as_given(flips):
    noisy, truth = flips
    clean = np.eye(3)[noisy.annotations["category_id"].to_numpy() - 1]
    flipped = truth["flipped"].to_numpy()
    probs = clean * 0.9 + 0.05
    probs[flipped] = np.roll(probs[flipped], 1, axis=1)  # the model disagrees there
    result = score(noisy, pred_probs=probs)
    issue = result.annotations["issue"].to_numpy()
    assert (issue[flipped] == "flip").all() and (issue[~flipped] == None).all()  # noqa: E711
    with pytest.raises(annokit.AnnokitError, match="pred_probs has shape"):
        score(noisy, pred_probs=probs[:, :2])
    with pytest.raises(annokit.AnnokitError, match=r"probabilities in \[0, 1\]"):
        score(noisy, pred_probs=np.where(probs > 0.5, np.inf, probs))


def test_registered_detector_and_refusals(tmp_path):
    ds = make_shapes(tmp_path / "shapes", n_images=12)
    noisy, truth, _ = inject_detection_errors(ds, seed=1, swap=0, badloc=0, delete=0,
                                              spurious=0.1)

    def oracle(d, train, judge, seed):  # sees the clean boxes of the judged images only
        keep = ds.annotations["image_id"].isin(d.images["id"].to_numpy()[judge])
        return ds.annotations.loc[keep, ["image_id", "category_id", "x", "y", "w", "h"]] \
            .assign(score=0.9)

    register("oracle", "detection", oracle)
    try:
        result = score(noisy, model="oracle", folds=3)
        with pytest.raises(annokit.AnnokitError, match="judges detection"):
            score(noisy, model="oracle", task="classification")
    finally:
        FAMILIES.pop("oracle")
    n = len(noisy.annotations)
    spurious = truth["error"].to_numpy() == "spurious"
    assert spurious.any()
    assert (result.annotations["issue"].to_numpy()[:n][spurious] == "spurious").all()
    with pytest.raises(annokit.AnnokitError, match="built-in"):
        register("classic", "detection", oracle)
    with pytest.raises(annokit.AnnokitError, match="unknown model"):
        score(noisy, model="oracle")


def test_predictions_pair_as_eval_pairs_them(tmp_path):
    """A predictions dataset with its own image and class ids: paired by file name and
    class name, exactly as annokit eval (evaluate.align) pairs them."""
    ds = make_shapes(tmp_path / "shapes", n_images=6)
    images = ds.images.assign(id=ds.images["id"] + 100).iloc[::-1]
    cats = ds.categories.assign(id=ds.categories["id"] * 10)
    anns = ds.annotations.assign(id=np.arange(1, len(ds.annotations) + 1),
                                 image_id=ds.annotations["image_id"] + 100,
                                 category_id=ds.annotations["category_id"] * 10, score=0.8)
    pred = annokit.Dataset(cats, images.reset_index(drop=True), anns, {})
    mine = load_predictions(pred, ds).annotations
    theirs, _ = on_ground_truth(pred, ds)
    cols = ["image_id", "category_id", "x", "y", "w", "h"]
    pd.testing.assert_frame_equal(mine[cols].reset_index(drop=True),
                                  theirs[cols].reset_index(drop=True), check_dtype=False)
    assert (mine["image_id"].to_numpy() == ds.annotations["image_id"].to_numpy()).all()


@given(st.lists(st.one_of(st.floats(-1e-6, 1 + 1e-6), st.just(float("nan"))), min_size=1,
                max_size=30))
def test_qualities_stay_in_unit_interval(values):
    table = pd.DataFrame({"quality": values, "swap_quality": values[::-1]})
    clip_qualities(table)
    for col in table:
        q = table[col].dropna()
        assert ((q >= 0) & (q <= 1)).all()
