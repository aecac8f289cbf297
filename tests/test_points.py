"""Centre points: box -> point -> box with given and learned sizes, hand-checked, as a
property, and on BCCD's 4,888 real boxes."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import annokit
from annokit import AnnokitError, Dataset
from annokit.geometry import box_centers, pairwise_iou
from annokit.points import boxes_to_points, learn_sizes, point_sizes, points_to_boxes
from conftest import shared_dataset

XYWH = ["x", "y", "w", "h"]


def sample() -> Dataset:
    """Image 1 is 100x80; image 2's size is unknown. Classes: cat, dog, bird (no boxes).

    cat boxes: 20x10, 30x20, 40x30 -> median 30x20; dog: one 10x10 box;
    all four boxes: widths 10, 20, 30, 40 -> median 25; heights 10, 10, 20, 30 -> 15.
    """
    return Dataset(
        pd.DataFrame({"id": [1, 2, 3], "name": ["cat", "dog", "bird"]}),
        pd.DataFrame({"id": [1, 2], "file_name": ["a.png", "b.png"], "width": [100, pd.NA],
                      "height": [80, pd.NA]}),
        pd.DataFrame({"id": [11, 12, 13, 14, 15], "image_id": [1, 1, 2, 1, 1],
                      "category_id": [1, 1, 1, 2, 3],
                      "kind": ["box", "box", "box", "box", "label"],
                      "x": [10, 50, 0, 60, np.nan], "y": [10, 40, 0, 60, np.nan],
                      "w": [20, 30, 40, 10, np.nan], "h": [10, 20, 30, 10, np.nan],
                      "score": [0.9, np.nan, 0.5, 0.7, np.nan],
                      "segmentation": [[[10, 10, 30, 10, 30, 20]], None, None, None, None],
                      "difficult": [0, 1, 0, 0, 0]}))


def points(rows: list[tuple[int, int, float, float]], base: Dataset | None = None) -> Dataset:
    """(image id, category id, x, y) points on ``sample()``'s images and classes."""
    base = base or sample()
    return Dataset(base.categories, base.images, pd.DataFrame(
        {"image_id": [r[0] for r in rows], "category_id": [r[1] for r in rows],
         "kind": "point", "x": [r[2] for r in rows], "y": [r[3] for r in rows]}))


# -- box -> point ---------------------------------------------------------------------------

def test_boxes_to_points_takes_the_centres_and_keeps_everything_else():
    ds = sample()
    pts = boxes_to_points(ds)
    anns = pts.annotations
    assert anns["kind"].tolist() == ["point"] * 4 + ["label"]
    # centres: (10+20/2, 10+10/2) = (20, 15); (65, 50); (20, 15); (65, 65)
    assert anns[["x", "y"]].values[:4].tolist() == [[20, 15], [65, 50], [20, 15], [65, 65]]
    assert anns[["w", "h"]].iloc[:4].isna().all().all()
    assert anns["id"].tolist() == [11, 12, 13, 14, 15]
    assert anns["category_id"].tolist() == [1, 1, 1, 2, 3]
    np.testing.assert_array_equal(anns["score"], [0.9, np.nan, 0.5, 0.7, np.nan])
    assert anns["difficult"].tolist() == [0, 1, 0, 0, 0]
    assert anns["segmentation"].isna().all()  # a point has no mask
    # the input is untouched
    assert ds.annotations["kind"].tolist()[:4] == ["box"] * 4
    assert ds.annotations["x"].tolist()[:4] == [10, 50, 0, 60]


# -- learning sizes -------------------------------------------------------------------------

def test_learned_sizes_are_per_class_medians_and_the_overall_median_otherwise():
    table = learn_sizes(sample())
    assert table.to_dict("list") == {"name": ["cat", "dog", "bird"], "w": [30.0, 10.0, 25.0],
                                      "h": [20.0, 10.0, 15.0], "boxes": [3, 1, 0],
                                      "source": ["class", "class", "all"]}


def test_sizes_are_learned_from_a_reference_by_class_name():
    ref = sample()
    # the same classes under other ids, in another order
    ref.categories = pd.DataFrame({"id": [7, 8, 9], "name": ["bird", "dog", "cat"],
                                   "supercategory": None})
    ref.annotations["category_id"] = [9, 9, 9, 8, 7]
    pts = points([(1, 1, 50, 40), (1, 2, 50, 40)])
    assert learn_sizes(pts, ref)[["name", "w", "h"]].values.tolist() == \
        [["cat", 30, 20], ["dog", 10, 10], ["bird", 25, 15]]


def test_boxes_without_area_teach_nothing_and_no_boxes_is_an_error():
    ds = sample()
    ds.annotations.loc[3, "w"] = 0.0  # the only dog box has no width now
    assert learn_sizes(ds).set_index("name").loc["dog", "source"] == "all"
    with pytest.raises(AnnokitError, match="no box size to learn from"):
        points_to_boxes(points([(1, 1, 5, 5)]))
    with pytest.raises(AnnokitError, match="no box size to learn from"):
        points_to_boxes(points([(1, 1, 5, 5)]), {"dog": (3, 3)})  # cat still needs one


def test_given_sizes_one_for_all_a_square_or_per_class():
    pts = points([(1, 1, 50, 40), (1, 2, 50, 40), (1, 3, 50, 40)])
    assert point_sizes(pts, (8, 6)).tolist() == [[8, 6]] * 3
    assert point_sizes(pts, 5).tolist() == [[5, 5]] * 3
    # classes left out of the dict are learned (from the reference's boxes)
    assert point_sizes(pts, {"dog": (4, 2), "bird": 3}, reference=sample()).tolist() == \
        [[30, 20], [4, 2], [3, 3]]
    for bad in [(0, 5), (-1, 2), (1, 2, 3), "big", (np.nan, 1)]:
        with pytest.raises(AnnokitError, match="must be a positive number"):
            point_sizes(pts, bad)


# -- point -> box ---------------------------------------------------------------------------

def test_points_to_boxes_hand_checked_with_clipping_only_where_the_size_is_known():
    pts = points([(1, 1, 50, 40),   # cat 30x20 -> [35, 30, 30, 20], inside 100x80
                  (1, 1, 95, 75),   # cat near the corner: [80, 65, 30, 20] clipped to
                                    # x 80..100, y 65..80 -> [80, 65, 20, 15]
                  (2, 1, 5, 5),     # image 2 has no known size: [-10, -5, 30, 20] as is
                  (1, 3, 10, 10)])  # bird: the median of all boxes, 25x15 -> [-2.5, 2.5]
    boxes = points_to_boxes(pts, reference=sample())
    assert boxes.annotations[XYWH].values.tolist() == [
        [35, 30, 30, 20], [80, 65, 20, 15], [-10, -5, 30, 20], [0, 2.5, 22.5, 15]]
    assert (boxes.annotations["kind"] == "box").all()


def test_points_to_boxes_keeps_other_kinds_ids_and_scores():
    ds = boxes_to_points(sample())
    boxes = points_to_boxes(ds, {"cat": (2, 2), "dog": (4, 4)})
    anns = boxes.annotations
    assert anns["kind"].tolist() == ["box"] * 4 + ["label"]
    assert anns[XYWH].values[:4].tolist() == [[19, 14, 2, 2], [64, 49, 2, 2], [19, 14, 2, 2],
                                               [63, 63, 4, 4]]
    assert anns["id"].tolist() == [11, 12, 13, 14, 15]
    np.testing.assert_array_equal(anns["score"], [0.9, np.nan, 0.5, 0.7, np.nan])


def test_box_point_box_round_trip_on_the_sample():
    ds = sample()
    with pytest.raises(AnnokitError):
        points_to_boxes(boxes_to_points(ds))  # the points alone teach no size
    back = points_to_boxes(boxes_to_points(ds), reference=ds)
    b = back.annotations[XYWH].to_numpy(float)[:4]
    # centres kept exactly; each box gets its class's median size (cat 30x20, dog 10x10)
    assert box_centers(b).tolist() == [[20, 15], [65, 50], [20, 15], [65, 65]]
    assert b.tolist() == [[5, 5, 30, 20], [50, 40, 30, 20], [5, 5, 30, 20], [60, 60, 10, 10]]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.floats(0, 2000, allow_nan=False),
                          st.floats(0, 2000, allow_nan=False)), min_size=1, max_size=30),
       st.lists(st.tuples(st.floats(0.5, 300), st.floats(0.5, 300)), min_size=3, max_size=3))
def test_property_box_point_box_is_the_identity_when_each_class_has_one_size(rows, sizes):
    names = ["a", "b", "c"]
    ds = Dataset(pd.DataFrame({"id": [1, 2, 3], "name": names}),
                 pd.DataFrame({"id": [1], "file_name": ["x.png"]}),  # size unknown: no clip
                 pd.DataFrame({"image_id": 1, "category_id": [r[0] + 1 for r in rows],
                               "x": [r[1] for r in rows], "y": [r[2] for r in rows],
                               "w": [sizes[r[0]][0] for r in rows],
                               "h": [sizes[r[0]][1] for r in rows]}))
    exact = dict(zip(names, sizes))
    back = points_to_boxes(boxes_to_points(ds), exact)
    np.testing.assert_allclose(back.annotations[XYWH].to_numpy(float),
                               ds.annotations[XYWH].to_numpy(float), rtol=0, atol=1e-9)
    # learned from the boxes themselves, the one size per class is the median too
    learned = points_to_boxes(boxes_to_points(ds), reference=ds)
    np.testing.assert_allclose(learned.annotations[XYWH].to_numpy(float),
                               ds.annotations[XYWH].to_numpy(float), rtol=0, atol=1e-9)


def test_bccd_box_point_box_keeps_centres_and_recovers_typical_boxes():
    ds = annokit.read(shared_dataset("bccd", "BCCD"), "voc")
    sizes = learn_sizes(ds).set_index("name")
    # medians of the real boxes (the two zero-size RBCs are left out: 4,153 of 4,155)
    assert sizes.loc[["RBC", "WBC", "Platelets"], ["w", "h", "boxes"]].values.tolist() == \
        [[105, 101, 4153], [201, 181, 372], [39, 39, 361]]
    back = points_to_boxes(boxes_to_points(ds), reference=ds)
    a = ds.annotations[XYWH].to_numpy(float)
    b = back.annotations[XYWH].to_numpy(float)
    unclipped = (b[:, 0] > 0) & (b[:, 1] > 0) & (b[:, 0] + b[:, 2] < 640) & \
        (b[:, 1] + b[:, 3] < 480)
    assert int(unclipped.sum()) == 3892  # of 4,888: the rest touch the 640x480 border
    np.testing.assert_array_equal(box_centers(a)[unclipped], box_centers(b)[unclipped])
    assert (b[:, 0] >= 0).all() and (b[:, 0] + b[:, 2] <= 640).all()
    iou = pairwise_iou(a, b)
    names = ds.annotations["category_id"].map(ds.categories.set_index("id")["name"])
    share = {n: float(np.mean(iou[(names == n).to_numpy()] >= 0.5))
             for n in ("RBC", "WBC", "Platelets")}
    # the typical box comes back: IoU >= 0.5 for 99.6% of RBCs, 87.9% WBC, 93.6% platelets
    assert share["RBC"] > 0.99 and share["WBC"] > 0.85 and share["Platelets"] > 0.9
