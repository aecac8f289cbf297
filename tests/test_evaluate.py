"""Point metrics: every figure hand-checked on small drawings, and the vectorised greedy
matcher checked against a plain loop on random scenes."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from annokit import AnnokitError, Dataset
from annokit.evaluate import points as evaluate
from annokit.evaluate import match_points, point_metrics

CELL = pd.DataFrame({"id": [1], "name": ["cell"]})
IMAGES = pd.DataFrame({"id": [1, 2], "file_name": ["a.png", "b.png"], "width": 100,
                       "height": 100})


def boxes(rows, categories=CELL, images=IMAGES) -> Dataset:
    """Ground truth: (image id, x, y, w, h[, category id]) boxes."""
    return Dataset(categories, images, pd.DataFrame(
        {"image_id": [r[0] for r in rows], "category_id": [r[5] if len(r) > 5 else 1
                                                           for r in rows],
         "x": [r[1] for r in rows], "y": [r[2] for r in rows], "w": [r[3] for r in rows],
         "h": [r[4] for r in rows]}))


def points(rows, categories=CELL, images=IMAGES) -> Dataset:
    """Points: (image id, x, y[, score[, category id]])."""
    return Dataset(categories, images, pd.DataFrame(
        {"image_id": [r[0] for r in rows],
         "category_id": [r[4] if len(r) > 4 else 1 for r in rows], "kind": "point",
         "x": [r[1] for r in rows], "y": [r[2] for r in rows],
         "score": [r[3] if len(r) > 3 else np.nan for r in rows]}))


def figures(m: dict) -> dict:
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in m.items()
            if not isinstance(v, pd.DataFrame)}


# On a.png (100x100), three ground-truth boxes A, B, C, and four predicted points:
#
#   A [0,0,20,20]   B [50,0,20,20]        p1 (10,10) 0.9 in A     p2 (55,5) 0.8 in B
#   C [0,50,20,20]                        p3 (12,12) 0.7 in A, already taken
#                                         p4 (90,90) 0.6 in nothing
# b.png has no objects on either side.
GT = boxes([(1, 0, 0, 20, 20), (1, 50, 0, 20, 20), (1, 0, 50, 20, 20)])
PRED = points([(1, 10, 10, 0.9), (1, 55, 5, 0.8), (1, 12, 12, 0.7), (1, 90, 90, 0.6)])


def test_the_drawn_example_in_box_mode():
    m = point_metrics(PRED, GT)
    # TP 2 (p1-A, p2-B), FP 2 (p3, p4), FN 1 (C): P = 2/4, R = 2/3, F1 = 4/7
    # counts: a.png 4 predicted vs 3 -> error 1; b.png 0 vs 0; MAE 1/2, RMSE sqrt(1/2)
    assert figures(m) == {"tp": 2, "fp": 2, "fn": 1, "precision": 0.5, "recall": 0.6667,
                          "f1": 0.5714, "images": 2, "count_mae": 0.5, "count_rmse": 0.7071,
                          "count_bias": 0.5}
    matches = m["matches"]
    assert matches[["pred_id", "gt_id", "outcome"]].astype(object).where(
        matches[["pred_id", "gt_id", "outcome"]].notna(), None).values.tolist() == \
        [[1, 1, "tp"], [2, 2, "tp"], [3, None, "fp"], [4, None, "fp"], [None, 3, "fn"]]
    # p1 sits on A's centre; p2 is (5, 5) from B's centre (60, 10)
    assert matches["distance"].tolist()[:2] == [0.0, math.hypot(5, 5)]
    assert m["per_image"].to_dict("index") == {
        "a.png": {"gt": 3, "pred": 4, "tp": 2, "fp": 2, "fn": 1},
        "b.png": {"gt": 0, "pred": 0, "tp": 0, "fp": 0, "fn": 0}}


def test_per_class_breakdown_hand_checked():
    cats = pd.DataFrame({"id": [1, 2], "name": ["cat", "dog"]})
    gt = boxes([(1, 0, 0, 20, 20, 1), (1, 50, 0, 20, 20, 2), (2, 0, 0, 10, 10, 2)], cats)
    # a cat point in the cat box; a dog point in the cat box (wrong class); nothing on b.png
    pred = points([(1, 10, 10, 0.9, 1), (1, 5, 5, 0.8, 2)], cats)
    table = point_metrics(pred, gt)["per_class"]
    # cat: TP 1; counts a.png 1 vs 1, b.png 0 vs 0 -> MAE 0
    # dog: FP 1 (the dog point), FN 2; counts a.png 1 vs 1, b.png 0 vs 1 -> MAE 1/2
    assert table.loc["cat", ["gt", "pred", "tp", "fp", "fn"]].tolist() == [1, 1, 1, 0, 0]
    assert table.loc["dog", ["gt", "pred", "tp", "fp", "fn"]].tolist() == [2, 1, 0, 1, 2]
    assert table.loc["cat", ["precision", "recall", "f1", "count_mae"]].tolist() == [1, 1, 1, 0]
    assert table.loc["dog", ["precision", "recall", "f1", "count_mae", "count_bias"]].tolist() \
        == [0, 0, 0, 0.5, -0.5]


def test_greedy_takes_predictions_by_score_and_the_closest_centre():
    # G1 [0,0,40,40] centre (20,20); G2 [20,0,40,40] centre (40,20): they overlap on 20..40.
    # q_low (45,20) 0.3 lies in G2 only; q_high (38,20) 0.9 lies in both, closer to G2.
    gt = boxes([(1, 0, 0, 40, 40), (1, 20, 0, 40, 40)])
    pred = points([(1, 45, 20, 0.3), (1, 38, 20, 0.9)])  # the low score comes first
    m = point_metrics(pred, gt)
    # by score: q_high takes G2 (2 px away, not G1 at 18); q_low then has nothing left
    assert (m["tp"], m["fp"], m["fn"]) == (1, 1, 1)
    rows = m["matches"].set_index("pred_id")
    assert rows.loc[2, "gt_id"] == 2 and rows.loc[2, "distance"] == 2.0
    assert rows.loc[1, "outcome"] == "fp"
    # predictions are listed best first
    assert m["matches"]["pred_id"].tolist()[:2] == [2, 1]


def test_distance_mode_relative_to_the_object_size():
    # box [0,0,20,20]: radius 0.5 * sqrt(20*20) = 10 around (10,10); (19,10) is 9 px away.
    # box [50,50,40,10]: radius 0.5 * sqrt(40*10) = 10 around (70,55); (81,55) is 11 px
    # away: inside the box, outside the radius.
    gt = boxes([(1, 0, 0, 20, 20), (1, 50, 50, 40, 10)])
    pred = points([(1, 19, 10, 0.9), (1, 81, 55, 0.8)])
    m = point_metrics(pred, gt, mode="distance")
    assert (m["tp"], m["fp"], m["fn"]) == (1, 1, 1)
    assert point_metrics(pred, gt, mode="distance", distance=0.56)["tp"] == 2  # 11 <= 11.2
    assert point_metrics(pred, gt, mode="box")["tp"] == 2  # both points are inside


def test_distance_mode_against_ground_truth_points():
    gt = points([(1, 10, 10), (1, 30, 30)])
    pred = points([(1, 13, 14, 0.9), (1, 20, 20, 0.8)])
    with pytest.raises(AnnokitError, match="ground-truth points have no size"):
        point_metrics(pred, gt, mode="distance")
    # absolute: (13,14) is exactly 5 px from (10,10); (20,20) is 14.1 px from (30,30)
    m = point_metrics(pred, gt, mode="distance", max_distance=5)
    assert (m["tp"], m["fp"], m["fn"]) == (1, 1, 1)
    # a learned-size stand-in: 20x20 gives radius 10 (still too far), 40x40 radius 20
    assert point_metrics(pred, gt, mode="distance", size=(20, 20))["tp"] == 1
    assert point_metrics(pred, gt, mode="distance", size=(40, 40))["tp"] == 2
    # or the size learned from a reference with boxes of the class (median 40x40)
    ref = boxes([(1, 0, 0, 40, 40), (1, 0, 0, 30, 30), (1, 0, 0, 50, 50)])
    assert point_metrics(pred, gt, mode="distance", reference=ref)["tp"] == 2


def test_box_mode_against_ground_truth_points_needs_a_size():
    gt = points([(1, 10, 10)])
    pred = points([(1, 14, 14, 0.9), (1, 16, 10, 0.8)])
    with pytest.raises(AnnokitError, match="mode='box' needs ground-truth boxes"):
        point_metrics(pred, gt)
    # 10x10 around (10,10) is [5,5,10,10]: (14,14) inside, (16,10) outside
    m = point_metrics(pred, gt, size=(10, 10))
    assert (m["tp"], m["fp"], m["fn"]) == (1, 1, 0)


def test_score_threshold_drops_low_predictions_and_unscored_ones_stay():
    m = point_metrics(PRED, GT, score_threshold=0.75)
    # p1, p2 kept: TP 2, FP 0, FN 1; counts a.png 2 vs 3 -> errors -1, 0: MAE 0.5, bias -0.5
    assert figures(m) == {"tp": 2, "fp": 0, "fn": 1, "precision": 1.0, "recall": 0.6667,
                          "f1": 0.8, "images": 2, "count_mae": 0.5, "count_rmse": 0.7071,
                          "count_bias": -0.5}
    unscored = points([(1, 10, 10)])
    assert point_metrics(unscored, GT, score_threshold=0.5)["tp"] == 1


def test_classwise_or_not():
    cats = pd.DataFrame({"id": [1, 2], "name": ["cat", "dog"]})
    gt = boxes([(1, 0, 0, 20, 20, 1)], cats)
    pred = points([(1, 10, 10, 0.9, 2)], cats)  # a dog point in the cat box
    assert figures(point_metrics(pred, gt))["f1"] == 0.0
    m = point_metrics(pred, gt, classwise=False)
    assert (m["tp"], m["fp"], m["fn"]) == (1, 0, 0)
    assert m["matches"]["category"].tolist() == ["cat"]  # a match is named by its object


def test_predicted_boxes_count_by_their_centre_and_labels_are_ignored():
    pred = Dataset(CELL, IMAGES, pd.DataFrame({
        "image_id": [1, 1], "category_id": 1, "kind": ["box", "label"],
        "x": [5, np.nan], "y": [5, np.nan], "w": [10, np.nan], "h": [10, np.nan],
        "score": [0.5, 0.9]}))
    m = point_metrics(pred, GT)
    assert (m["tp"], m["fp"], m["fn"]) == (1, 0, 2)
    assert m["matches"]["distance"].iloc[0] == 0.0  # (10,10) is A's centre


def test_images_are_paired_by_file_name_and_classes_by_name():
    images = pd.DataFrame({"id": [70, 80], "file_name": ["b.png", "a.png"]})
    cats = pd.DataFrame({"id": [5], "name": ["cell"]})
    pred = points([(80, 10, 10, 0.9, 5), (70, 10, 10, 0.8, 5)], cats, images)
    m = point_metrics(pred, GT)
    # the point on a.png (id 80 here, 1 in GT) matches A; the one on b.png is a FP
    assert (m["tp"], m["fp"], m["fn"]) == (1, 1, 2)
    assert m["per_image"].loc["b.png", "fp"] == 1


def test_no_predictions_and_no_ground_truth():
    empty = points([])
    m = point_metrics(empty, GT)
    assert (m["tp"], m["fp"], m["fn"]) == (0, 0, 3)
    assert np.isnan(m["precision"]) and m["recall"] == 0 and m["f1"] == 0
    assert m["count_mae"] == 1.5  # a.png: 0 vs 3; b.png: 0 vs 0
    m = point_metrics(PRED, boxes([]))
    assert np.isnan(m["recall"]) and m["precision"] == 0 and m["fp"] == 4


def test_unknown_mode():
    with pytest.raises(AnnokitError, match="mode must be one of"):
        match_points(PRED, GT, mode="iou")


def _reference_greedy(pred: Dataset, gt: Dataset) -> list[tuple[int, int]]:
    """The matching rule written as the plain loop it is (box mode, one class)."""
    g = gt.annotations
    order = sorted(range(len(pred.annotations)),
                   key=lambda i: (-pred.annotations["score"].iloc[i], i))
    taken, out = set(), []
    for i in order:
        p = pred.annotations.iloc[i]
        best = None
        for j in range(len(g)):
            b = g.iloc[j]
            if j in taken or b["image_id"] != p["image_id"]:
                continue
            if b["x"] <= p["x"] <= b["x"] + b["w"] and b["y"] <= p["y"] <= b["y"] + b["h"]:
                d = math.hypot(p["x"] - b["x"] - b["w"] / 2, p["y"] - b["y"] - b["h"] / 2)
                if best is None or d < best[0]:
                    best = (d, j)
        if best is not None:
            taken.add(best[1])
            out.append((int(p["id"]), int(g["id"].iloc[best[1]])))
    return sorted(out)


@pytest.mark.parametrize("batch", [3, 4_000_000])
def test_matcher_agrees_with_a_plain_loop_on_random_scenes(monkeypatch, batch):
    monkeypatch.setattr(evaluate, "_PAIRS_PER_BATCH", batch)  # 3: many small batches
    rng = np.random.default_rng(7)
    for _ in range(5):
        n_gt, n_pred = 40, 50
        gt = boxes([(int(rng.integers(1, 3)), *rng.uniform(0, 80, 2).round(1),
                     *rng.uniform(5, 30, 2).round(1)) for _ in range(n_gt)])
        pred = points([(int(rng.integers(1, 3)), *rng.uniform(0, 100, 2).round(1),
                        float(rng.uniform())) for _ in range(n_pred)])
        m = match_points(pred, gt)
        tp = m[m["outcome"] == "tp"]
        assert sorted(zip(tp["pred_id"].astype(int), tp["gt_id"].astype(int))) == \
            _reference_greedy(pred, gt)
        assert (m["outcome"] == "fn").sum() == n_gt - len(tp)
