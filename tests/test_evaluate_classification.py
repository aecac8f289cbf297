"""Classification metrics, hand-checked on small label sets."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from annokit import AnnokitError, Dataset
from annokit.evaluate import classification_metrics, evaluate

CATS = pd.DataFrame({"id": [1, 2, 3], "name": ["cat", "dog", "bird"]})
IMAGES = pd.DataFrame({"id": range(1, 7), "file_name": [f"{i}.png" for i in range(1, 7)]})


def labels(rows, cats=CATS, images=IMAGES) -> Dataset:
    """(image id, category id[, score]) labels."""
    return Dataset(cats, images, pd.DataFrame({
        "image_id": [r[0] for r in rows], "category_id": [r[1] for r in rows],
        "kind": "label", "score": [r[2] if len(r) > 2 else np.nan for r in rows]}))


# six images: true cat cat cat dog dog bird; predicted cat cat dog dog cat bird
GT = labels([(1, 1), (2, 1), (3, 1), (4, 2), (5, 2), (6, 3)])
PRED = labels([(1, 1), (2, 1), (3, 2), (4, 2), (5, 1), (6, 3)])


def test_single_label_figures_by_hand():
    m = classification_metrics(GT, PRED)
    assert m["accuracy"] == pytest.approx(4 / 6)
    per = m["per_class"]
    # cat: TP 2, FP 1 (image 5), FN 1 (image 3): P = R = F1 = 2/3
    # dog: TP 1, FP 1, FN 1: 1/2 each; bird: 1, 1, 1
    assert per["precision"].round(4).tolist() == [0.6667, 0.5, 1.0]
    assert per["recall"].round(4).tolist() == [0.6667, 0.5, 1.0]
    assert per["support"].tolist() == [3, 2, 1]
    assert m["f1_macro"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert m["f1_micro"] == pytest.approx(4 / 6)  # single label: micro F1 = accuracy
    assert m["confusion"].to_dict("index") == {
        "cat": {"cat": 2, "dog": 1, "bird": 0}, "dog": {"cat": 1, "dog": 1, "bird": 0},
        "bird": {"cat": 0, "dog": 0, "bird": 1}}
    assert np.isnan(m["roc_auc_macro"])
    assert m["notes"].texts() == ["ROC-AUC left out: the predictions carry no scores"]


def test_roc_auc_one_vs_rest_from_full_scores():
    # a probability vector per image; the top class is the prediction
    probs = {1: (.8, .1, .1), 2: (.6, .3, .1), 3: (.4, .5, .1), 4: (.2, .7, .1),
             5: (.5, .4, .1), 6: (.1, .1, .8)}
    pred = labels([(i, c + 1, p[c]) for i, p in probs.items() for c in range(3)])
    m = classification_metrics(GT, pred)
    assert m["accuracy"] == pytest.approx(4 / 6)  # the same argmax as PRED
    # cat: positives .8 .6 .4 against negatives .2 .5 .1: 8 of 9 pairs ordered right
    # dog: positives .7 .4 against .1 .3 .5 .1: 7 of 8; bird: 1.0
    assert m["per_class"]["roc_auc"].tolist() == pytest.approx([8 / 9, 7 / 8, 1.0])
    assert m["roc_auc_macro"] == pytest.approx((8 / 9 + 7 / 8 + 1) / 3)
    assert m["notes"].texts() == []


def test_partial_scores_leave_roc_out_with_a_note_and_missing_predictions_count_wrong():
    pred = labels([(1, 1, 0.9), (2, 1, 0.8), (3, 1, 0.7)])
    m = classification_metrics(GT, pred)
    assert m["accuracy"] == pytest.approx(3 / 6)
    assert m["confusion"].loc["dog", "(none)"] == 2
    assert m["notes"].texts() == [
        "3 of 6 images have no prediction: counted as wrong (predicted (none))",
        "ROC-AUC left out: it needs a score for every class on every image (15 of 18 missing)"]


def test_multilabel():
    gt = labels([(1, 1), (1, 2), (2, 2), (3, 3)], images=IMAGES.iloc[:3])
    pred = labels([(1, 1, .9), (1, 2, .4), (2, 2, .8), (3, 3, .9), (3, 1, .7)],
                  images=IMAGES.iloc[:3])
    m = classification_metrics(gt, pred)  # threshold 0.5 drops (1, dog)
    assert m["multilabel"]
    assert m["accuracy"] == pytest.approx(1 / 3)  # only image 2 is exactly right
    assert m["confusion"].to_dict("index") == {
        "cat": {"tp": 1, "fp": 1, "fn": 0, "tn": 1}, "dog": {"tp": 1, "fp": 0, "fn": 1, "tn": 1},
        "bird": {"tp": 1, "fp": 0, "fn": 0, "tn": 2}}


def test_pairing_by_name_and_errors():
    cats = pd.DataFrame({"id": [7, 8, 9], "name": ["bird", "cat", "dog"]})
    images = pd.DataFrame({"id": range(11, 17), "file_name": [f"{i}.png" for i in range(1, 7)]})
    pred = labels([(11, 8), (12, 8), (13, 9), (14, 9), (15, 8), (16, 7)], cats, images)
    assert classification_metrics(GT, pred)["accuracy"] == pytest.approx(4 / 6)
    assert evaluate(GT, pred)["task"] == "classification"
    with pytest.raises(AnnokitError, match="ground truth has no image labels"):
        classification_metrics(Dataset(CATS, IMAGES, None), pred)
    zebra = pd.DataFrame({"id": [1], "name": ["zebra"]})
    with pytest.raises(AnnokitError, match="no predicted class is a ground-truth class"):
        classification_metrics(GT, labels([(1, 1)], zebra))
