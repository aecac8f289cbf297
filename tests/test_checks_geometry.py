"""Geometry checks: each fires on a small hand-made dataset with hand-checked numbers, and
stays quiet on a clean one; pairs match a brute-force IoU; real data finds its known faults."""
import functools
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annokit import geometry as g
from annokit.checks import Thresholds
from annokit.checks import geometry as gc
from annokit.model import Dataset

from conftest import (assert_finding_columns, assert_no_findings, checks_of, dataset,
                      shared_dataset)

T = Thresholds()


# boxes of class car in image 1 (100x50) unless told otherwise; image 2's size is unknown
make = functools.partial(dataset, images={"id": [1, 2], "file_name": ["a.jpg", "b.jpg"],
                                          "width": [100, None], "height": [50, None]})


def ids(found: pd.DataFrame) -> list[int]:
    return found["annotation_id"].astype(int).tolist()


def clean() -> Dataset:
    """Ordinary, well-separated boxes, points and polygons: no geometry check fires."""
    sides = [20, 22, 24, 26, 28] * 5  # 25 boxes per class, sizes close together
    xs = [(i % 5) * 120.0 + 5 for i in range(25)]
    ys = [(i // 5) * 90.0 + 5 for i in range(25)]
    n = 50
    return Dataset(
        pd.DataFrame({"id": [1, 2], "name": ["car", "person"]}),
        pd.DataFrame({"id": [1, 2], "file_name": ["a.jpg", "b.jpg"],
                      "width": [640, 640], "height": [480, 480]}),
        pd.DataFrame({
            "id": range(1, n + 3), "image_id": [1] * 25 + [2] * 25 + [1, 2],
            "category_id": [1] * 25 + [2] * 25 + [1, 2],
            "kind": ["box"] * n + ["point", "label"],
            "x": xs + xs + [320.0, np.nan], "y": ys + ys + [240.0, np.nan],
            "w": sides + [s * 0.5 for s in sides] + [np.nan, np.nan],
            "h": sides + sides + [np.nan, np.nan],
            "segmentation": [[[5.0, 5.0, 25.0, 5.0, 25.0, 25.0, 5.0, 25.0]]]
            + [None] * (n + 1),
            "area": [400.0] + [np.nan] * (n + 1)}))


def test_clean_dataset_gives_no_geometry_findings():
    assert_no_findings(clean(), "geometry")


def gc_checks():
    return checks_of("geometry")


def test_every_geometry_check_is_registered_with_its_severity():
    severities = {k: c.severity for k, c in gc_checks()}
    assert severities == {
        "geometry.non_finite": "error", "geometry.zero_size": "error",
        "geometry.partly_outside": "warning", "geometry.fully_outside": "error",
        "geometry.tiny": "warning", "geometry.aspect_ratio": "warning",
        "geometry.whole_image": "warning", "geometry.exact_duplicate": "error",
        "geometry.near_duplicate": "warning", "geometry.label_conflict": "warning",
        "geometry.size_outlier": "warning", "geometry.aspect_outlier": "warning",
        "geometry.polygon_invalid": "error", "geometry.polygon_outside_box": "warning",
        "geometry.polygon_area_mismatch": "warning", "geometry.rle_size": "error",
        "geometry.point_outside": "error"}


def test_empty_dataset():
    assert_no_findings(Dataset(), "geometry")


# -- single boxes ----------------------------------------------------------------------

def test_non_finite():
    ds = make({"kind": ["box", "box", "point", "label", "box", "point"],
               "x": [np.nan, 1, 5, np.nan, 1, 5], "y": [1, 1, np.inf, np.nan, 1, 5],
               "w": [5, np.inf, np.nan, np.nan, 5, np.nan],
               "h": [np.nan, -np.inf, np.nan, np.nan, 5, np.nan]})
    found = gc.non_finite(ds, T)
    assert ids(found) == [1, 2, 3]  # not the label (no coordinates), not the good rows
    assert found["value"].tolist() == [2.0, 2.0, 1.0]
    assert found["message"].tolist() == ["box has non-finite x, h", "box has non-finite w, h",
                                         "point has non-finite y"]
    assert found["severity"].unique().tolist() == ["error"]


def test_zero_size():
    ds = make({"x": [1, 1, 1, 1, 1], "y": [1, 1, 1, 1, np.nan],
               "w": [3, 5, 0, 4, 0], "h": [0, -2, 0, 4, 0]})
    found = gc.zero_size(ds, T)
    assert ids(found) == [1, 2, 3]  # not 4 (fine) nor 5 (non-finite: another check)
    assert found["message"].tolist() == ["box 3x0 px has zero height",
                                         "box 5x-2 px has negative height",
                                         "box 0x0 px has zero width and zero height"]
    assert found["value"].tolist() == [0.0, -2.0, 0.0]
    assert found["image_id"].tolist() == [1, 1, 1]
    assert found["category_id"].tolist() == [1, 1, 1]


def test_partly_and_fully_outside():
    # image 1 is 100x50; image 2 has no known size and is skipped
    ds = make({"image_id": [1, 1, 1, 1, 1, 1, 2, 1],
               "x": [-5, 90, 10, 120, 100, -30, -50, -4],
               "y": [10, 10, 45, 10, 10, 10, 10, -4],
               "w": [20, 11, 10, 10, 5, 20, 10, 108],
               "h": [10, 10, 8, 10, 5, 10, 10, 58]})
    partly = gc.partly_outside(ds, T)
    assert ids(partly) == [1, 3, 8]  # box 2 spills 1 px (<= 2), boxes 4-6 are fully out
    assert partly["value"].tolist() == [5.0, 3.0, 4.0]
    assert partly["message"].tolist()[:2] == [
        "box (-5, 10, 20, 10) reaches 5 px beyond the left edge of the 100x50 image",
        "box (10, 45, 10, 8) reaches 3 px beyond the bottom edge of the 100x50 image"]
    fully = gc.fully_outside(ds, T)
    assert ids(fully) == [4, 5, 6]  # box 5 starts exactly at the right edge: no overlap
    assert fully["value"].tolist() == [20.0, 0.0, 10.0]
    assert fully["message"].iloc[0] == "box (120, 10, 10, 10) lies outside the 100x50 image"
    assert gc.partly_outside(ds, Thresholds(edge_tolerance=0))["annotation_id"].tolist() \
        == [1, 2, 3, 8]


def test_tiny():
    ds = make({"x": [1] * 5, "y": [1] * 5, "w": [3, 1, 4, 1.5, 10], "h": [4, 40, 4, 8, 10]})
    found = gc.tiny(ds, T)
    assert ids(found) == [1, 2, 4]  # 4x4 = 16 is not below 16
    assert found["value"].tolist() == [12.0, 1.0, 12.0]
    assert found["message"].tolist() == ["box 3x4 px is tiny: area 12 px^2 < 16",
                                         "box 1x40 px is tiny: side 1 px < 2",
                                         "box 1.5x8 px is tiny: area 12 px^2 < 16"]
    assert ids(gc.tiny(ds, Thresholds(min_box_area=0, min_box_side=0))) == []


def test_aspect_ratio():
    ds = make({"x": [0] * 4, "y": [0] * 4, "w": [300, 10, 150, 10], "h": [10, 160, 10, 10]})
    found = gc.aspect_ratio(ds, T)
    assert ids(found) == [1, 2]  # 15 is not above 15
    assert found["value"].tolist() == [30.0, 16.0]
    assert found["message"].iloc[0] == "box 300x10 px has aspect ratio 30.0 (> 15)"


def test_whole_image():
    ds = make({"image_id": [1, 1, 1, 1, 2], "x": [0, -10, 0, 0, 0], "y": [0, -10, 0, 0, 0],
               "w": [100, 120, 96, 90, 100], "h": [50, 70, 50, 50, 50]})
    found = gc.whole_image(ds, T)
    assert ids(found) == [1, 2, 3]  # 90% is below 95%; image 2's size is unknown
    np.testing.assert_allclose(found["value"], [1.0, 1.0, 0.96])
    assert found["message"].iloc[2] == "box covers 96% of the 100x50 image"


# -- pairs -------------------------------------------------------------------------------

def test_exact_duplicates_one_finding_per_pair():
    ds = make({"image_id": [1, 1, 1, 1, 2, 1],
               "category_id": [1, 1, 1, 2, 1, 1],
               "x": [10, 10, 10, 10, 10, 10.5], "y": [5] * 6, "w": [20] * 6, "h": [20] * 6})
    found = gc.exact_duplicate(ds, T)
    # 1, 2, 3 are the same car: pairs (1,2), (1,3), (2,3), each on the later annotation;
    # 4 is a person (a conflict, not a duplicate), 5 is in another image, 6 is shifted
    pairs = sorted(zip(ids(found), found["message"]))
    assert pairs == [(2, "same box as annotation 1 (class 'car')"),
                     (3, "same box as annotation 1 (class 'car')"),
                     (3, "same box as annotation 2 (class 'car')")]
    assert found["value"].tolist() == [1.0, 1.0, 1.0]
    assert found["severity"].unique().tolist() == ["error"]


def test_near_duplicates():
    ds = make({"image_id": [1, 1, 1, 1, 1],
               "category_id": [1, 1, 1, 1, 2],
               "x": [0, 0, 5, 0, 0], "y": [0, 0, 0, 0, 0],
               "w": [100, 100, 100, 100, 100], "h": [100, 95, 100, 100, 100]})
    found = gc.near_duplicate(ds, T).sort_values(["annotation_id", "message"])
    # IoU(1,2) = 9500/10000 = 0.95; IoU(1,3) = 9500/10500 = 0.905; IoU(2,3) = 9025/10475
    # = 0.862 (below 0.9); 4 is identical to 1 (exact_duplicate's), 5 is another class
    assert list(zip(ids(found), found["message"])) == [
        (2, "IoU 0.95 with annotation 1 (same class 'car')"),
        (3, "IoU 0.90 with annotation 1 (same class 'car')"),
        (4, "IoU 0.90 with annotation 3 (same class 'car')"),
        (4, "IoU 0.95 with annotation 2 (same class 'car')")]
    np.testing.assert_allclose(found["value"], [0.95, 9500 / 10500, 9500 / 10500, 0.95])
    assert ids(gc.near_duplicate(ds, Thresholds(duplicate_iou=0.96))) == []


def test_label_conflict_and_crowds():
    ds = make({"category_id": [1, 2, 2, 2, 1], "iscrowd": [0, 0, 0, 1, 0],
               "x": [0, 0, 50, 0, 300], "y": [0, 0, 0, 0, 0],
               "w": [100, 100, 100, 100, 10], "h": [100, 90, 100, 100, 10]})
    found = gc.label_conflict(ds, T)
    # 2 (person) covers 90% of car 1; 3 overlaps a third; 4 is a crowd region, and a crowd
    # around an instance is COCO's convention, not a conflict
    assert ids(found) == [2]
    assert found["value"].tolist() == [0.9]
    assert found["category_id"].tolist() == [2]
    assert found["message"].iloc[0] == \
        "IoU 0.90 with annotation 1 of class 'car' (this one is 'person')"


def brute_force_pairs(b: np.ndarray, image: np.ndarray, t: float) -> set:
    found = set()
    for img in np.unique(image):
        at = np.flatnonzero(image == img)
        m = g.iou_matrix(b[at], b[at])
        for i, j in zip(*np.nonzero(m >= t)):
            if i < j:
                found.add((int(at[i]), int(at[j])))
    return found


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([0.3, 0.5, 0.8, 0.9, 1.0]))
def test_candidate_pairs_miss_nothing(seed, t):
    """The left-edge window never drops a pair that brute force finds at IoU >= t."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 60))
    base = rng.integers(0, 40, size=(n, 4)).astype(float)
    base[:, 2:] += 1
    # copies with small jitter make high-IoU pairs common, some exact
    copies = base[rng.integers(0, n, size=n // 2)] + rng.choice([0, 0, 0.5, 1], (n // 2, 4))
    boxes = np.vstack([base, copies]) * rng.choice([1.0, 0.37, 3.1])  # also non-integers
    image = rng.integers(1, 4, size=len(boxes))
    frame = pd.DataFrame({"image_id": image, "x": boxes[:, 0], "y": boxes[:, 1],
                          "w": boxes[:, 2], "h": boxes[:, 3]})
    first, second, iou, crowded = gc._pairs(frame, t)
    got = {(int(a), int(b)) for a, b, v in zip(first, second, iou) if v >= t}
    assert got == brute_force_pairs(boxes, image, t)
    assert len(crowded) == 0


def test_crowded_image_is_capped_and_says_so():
    n = gc.MAX_NEIGHBOURS + 2  # identical boxes: every box is every other's duplicate
    ds = make({"x": [1.0] * n, "y": [1.0] * n, "w": [10.0] * n, "h": [10.0] * n})
    found = gc.exact_duplicate(ds, T)
    # the first box has n - 1 = 501 partners but is compared with 500 only
    assert len(found) == n * (n - 1) // 2 - 1
    assert found["message"].str.endswith(
        f"(a crowded image: only {gc.MAX_NEIGHBOURS} neighbours per box compared)").all()


# -- boxes against their class ----------------------------------------------------------

def test_size_outlier_hand_checked():
    # log side: 12 x ln20, 6 x ln10, 6 x ln40 and one 2000 px box: median ln20, MAD ln2,
    # so z(2000) = 0.6745 * ln(100) / ln(2) = 4.4818 and z(10) = -0.6745
    sides = [20] * 12 + [10] * 6 + [40] * 6 + [2000]
    n = len(sides)
    ds = make({"image_id": [2] * n, "x": [10.0] * n, "y": [10.0] * n, "w": sides, "h": sides})
    found = gc.size_outlier(ds, T)
    assert ids(found) == [25]
    assert found["value"].iloc[0] == pytest.approx(0.6745 * math.log(100) / math.log(2))
    assert found["message"].iloc[0] == \
        "box 2000x2000 px is unusually large for class 'car': z=+4.5, typical side 20 px"
    # a class with fewer than outlier_min_count boxes is not tested
    assert ids(gc.size_outlier(ds, Thresholds(outlier_min_count=26))) == []
    # and aspect is 1 everywhere: no aspect outlier
    assert ids(gc.aspect_outlier(ds, T)) == []
    # boxes on the image border are cut by it: not tested (image 2's right and bottom
    # are unknown, but its left edge is at 0)
    ds.annotations["x"] = 0.0
    assert ids(gc.size_outlier(ds, T)) == []


def test_size_outlier_when_mad_is_zero():
    # 20 boxes of side 20 and one of 40: MAD is 0, the mean absolute deviation is
    # ln2 / 21, and the spread is floored at 0.1, so z = ln 2 / 0.1 = 6.93
    sides = [20] * 20 + [40]
    ds = make({"image_id": [2] * 21, "x": [10.0] * 21, "y": [10.0] * 21, "w": sides, "h": sides})
    found = gc.size_outlier(ds, T)
    assert ids(found) == [21]
    assert found["value"].iloc[0] == pytest.approx(math.log(2) / 0.1)
    # a box 5% larger is no outlier among identical ones
    sides = [20] * 20 + [21]
    ds = make({"image_id": [2] * 21, "x": [10.0] * 21, "y": [10.0] * 21, "w": sides, "h": sides})
    assert ids(gc.size_outlier(ds, T)) == []


def test_aspect_outlier_per_class():
    # class 1: w/h 2 (x12), 1 (x6), 4 (x6) and one 100x1 box: median ln2, MAD ln2,
    # z = 0.6745 * (ln100 - ln2) / ln2 = 0.6745 * log2(50) = 3.807 (< 4), so use 400x1:
    # z = 0.6745 * log2(200) = 5.156. Class 2 (person) has 3 boxes only: not tested.
    w = [20] * 12 + [10] * 6 + [40] * 6 + [400] + [400, 10, 10]
    h = [10] * 24 + [1] + [1, 10, 10]
    ds = make({"image_id": [2] * 28, "category_id": [1] * 25 + [2] * 3,
               "x": [10.0] * 28, "y": [10.0] * 28, "w": w, "h": h})
    found = gc.aspect_outlier(ds, T)
    assert ids(found) == [25]
    assert found["value"].iloc[0] == pytest.approx(0.6745 * math.log2(200))
    assert found["message"].iloc[0] == ("box 400x1 px has an unusual shape for class 'car': "
                                        "w/h 400 vs typical 2, z=+5.2")


# -- polygons, masks, points ------------------------------------------------------------

SQUARE = [0.0, 0.0, 10.0, 0.0, 10.0, 10.0, 0.0, 10.0]
BOWTIE = [0.0, 0.0, 10.0, 10.0, 10.0, 0.0, 0.0, 10.0]


def polygons_dataset(segmentations, boxes=None, area=None) -> Dataset:
    n = len(segmentations)
    boxes = boxes or [(0.0, 0.0, 10.0, 10.0)] * n
    columns = {"x": [b[0] for b in boxes], "y": [b[1] for b in boxes],
               "w": [b[2] for b in boxes], "h": [b[3] for b in boxes],
               "segmentation": segmentations}
    if area is not None:
        columns["area"] = area
    return make(columns)


def test_polygon_invalid():
    ds = polygons_dataset([
        [SQUARE],                              # 1 fine
        [BOWTIE],                              # 2 crosses itself at (5, 5)
        [[0.0, 0.0, 1.0, 1.0]],                # 3 two points
        [SQUARE, [0, 0, 1, 1, 2, 2, 3]],       # 4 second part odd
        [SQUARE, [5.0, 5.0, 15, 5, 15, 15]],   # 5 two overlapping parts: allowed
        {"size": [50, 100], "counts": "PP"},   # 6 RLE: not a polygon
        None,                                  # 7 no segmentation
        SQUARE,                                # 8 a flat list: one polygon, fine
    ])
    found = gc.polygon_invalid(ds, T)
    assert ids(found) == [2, 3, 4]
    assert found["message"].tolist() == [
        "polygon is invalid: part 1: self-intersection at (5, 5)",
        "polygon is invalid: part 1 has fewer than 3 points",
        "polygon is invalid: part 2 has an odd number of coordinates"]


def test_polygon_table_agrees_with_polygon_stats():
    cases = [[SQUARE], [BOWTIE], [[0.0, 0.0, 1.0, 1.0]], [SQUARE, [20, 20, 30, 20, 30, 25]],
             [[0.5, 0.5, 4.5, 0.5, 2.5, 3.5]], [[0, 0, 4, 0, 4, 3, 1, 1, 0, 3]]]
    table = gc._polygon_table(polygons_dataset(cases))
    for case, row in zip(cases, table.itertuples()):
        area, bounds, valid = g.polygon_stats(case)
        assert row.valid == valid, case
        assert row.polygon_area == pytest.approx(area), case
        np.testing.assert_allclose([row.px, row.py, row.pw, row.ph], bounds)


def test_polygon_outside_box():
    ds = polygons_dataset([[SQUARE], [[0.0, 0.0, 15.0, 0.0, 15.0, 10.0, 0.0, 10.0]],
                           [[0.0, -1.5, 11.0, 0.0, 11.0, 10.0, 0.0, 10.0]], [SQUARE]],
                          boxes=[(0, 0, 10, 10)] * 3 + [(4, 0, 10, 10)])
    found = gc.polygon_outside_box(ds, T)
    assert ids(found) == [2, 4]  # 3 spills 1.5 px up and 1 px right: within 2 px
    assert found["value"].tolist() == [5.0, 4.0]
    assert found["message"].tolist() == [
        "polygon reaches 5 px beyond the right side of its box (0, 0, 10, 10)",
        "polygon reaches 4 px beyond the left side of its box (4, 0, 10, 10)"]


def test_polygon_area_mismatch():
    ds = polygons_dataset([[SQUARE]] * 4 + [[BOWTIE]], area=[100.0, 90.0, 50.0, np.nan, 1.0])
    found = gc.polygon_area_mismatch(ds, T)
    assert ids(found) == [3]  # 10% apart is within 20%; NaN area and invalid bowtie skipped
    assert found["value"].tolist() == [0.5]
    assert found["message"].iloc[0] == "polygon area 100 px^2 but area says 50 (50% apart)"
    assert len(gc.polygon_area_mismatch(polygons_dataset([[SQUARE]]), T)) == 0  # no column


def test_rle_size():
    ds = make({"image_id": [1, 1, 2, 1, 1], "x": [0.0] * 5, "y": [0.0] * 5,
               "w": [5.0] * 5, "h": [5.0] * 5,
               "segmentation": [{"size": [50, 100], "counts": "x"},
                                {"size": [100, 50], "counts": "x"},
                                {"size": [1, 1], "counts": "x"},  # image 2: size unknown
                                {"counts": [3, 4]}, [SQUARE]]})
    found = gc.rle_size(ds, T)
    assert ids(found) == [2, 4]
    assert found["message"].tolist() == [
        "RLE mask is 50x100 px but the image is 100x50",
        "RLE has no [height, width] size but the image is 100x50"]


def test_point_outside():
    ds = make({"kind": ["point", "point", "point", "box", "point", "point"],
               "image_id": [1, 1, 1, 1, 2, 1],
               "x": [110, 101, -3, 500, 500, 50], "y": [10, 10, -4, 10, 10, 25],
               "w": [np.nan, np.nan, np.nan, 5, np.nan, np.nan],
               "h": [np.nan, np.nan, np.nan, 5, np.nan, np.nan]})
    found = gc.point_outside(ds, T)
    assert ids(found) == [1, 3]  # 1 px out is within tolerance; box 4 and image 2 skipped
    assert found["value"].tolist() == [10.0, 5.0]
    assert found["message"].iloc[0] == "point (110, 10) lies 10 px outside the 100x50 image"


# -- scale and real data -----------------------------------------------------------------

def synthetic(n_boxes: int, per_image: int = 20, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    n_images = n_boxes // per_image
    xy = rng.uniform(0, 600, size=(n_boxes, 2))
    wh = rng.uniform(8, 120, size=(n_boxes, 2))
    return Dataset(
        pd.DataFrame({"id": range(1, 11), "name": [f"c{i}" for i in range(10)]}),
        pd.DataFrame({"id": np.arange(1, n_images + 1), "file_name": "x.jpg",
                      "width": 640, "height": 640}),
        pd.DataFrame({"image_id": np.repeat(np.arange(1, n_images + 1), per_image),
                      "category_id": rng.integers(1, 11, n_boxes),
                      "x": xy[:, 0], "y": xy[:, 1], "w": wh[:, 0], "h": wh[:, 1]}))


def test_pairwise_checks_find_planted_pairs_among_100k_boxes():
    # scale without a clock (timings: baselines/check_bench.py): pairs found among 100k
    ds = synthetic(100_000)
    boxes = ds.annotations
    twins = boxes.iloc[[10, 5000, 99_990]].assign(id=[200_001, 200_002, 200_003])
    ds = Dataset(ds.categories, ds.images, pd.concat([boxes, twins], ignore_index=True))
    found = gc.exact_duplicate(ds, T)
    assert_finding_columns(found, "exact_duplicate")
    assert {200_001, 200_002, 200_003} <= set(found["annotation_id"])
    for c in (gc.near_duplicate, gc.label_conflict):
        assert_finding_columns(c(ds, T), c.__name__)


@pytest.mark.slow
def test_all_geometry_checks_run_on_a_million_boxes():
    ds = synthetic(1_000_000)
    for check_id, c in gc_checks():
        assert_finding_columns(c.func(ds, T), check_id)


def test_bccd_known_faults():
    root = shared_dataset("bccd", "BCCD")
    from annokit.formats import read

    ds = read(root, "voc")
    files = ds.images.set_index("id")["file_name"]

    def where(found):
        return sorted(files[found["image_id"]].str.replace(".jpg", ""))

    # the README's two zero-size RBCs
    zero = gc.zero_size(ds, T)
    assert where(zero) == ["BloodImage_00338", "BloodImage_00343"]
    assert zero["value"].tolist() == [0.0, 0.0]
    # overlapping duplicate boxes (seen by eye: two RBC boxes on one cell, IoU 0.92-0.93)
    near = gc.near_duplicate(ds, T)
    assert where(near) == ["BloodImage_00020", "BloodImage_00100", "BloodImage_00104",
                           "BloodImage_00251", "BloodImage_00284", "BloodImage_00331",
                           "BloodImage_00403"]
    assert near["value"].between(0.9, 0.94).all()
    assert len(gc.exact_duplicate(ds, T)) == 0
    # a 31x27 "WBC" (WBCs are ~190 px): a platelet given the wrong class, seen by eye
    size = gc.size_outlier(ds, T)
    wbc = size[size["message"].str.contains("31x27 px")]
    assert where(wbc) == ["BloodImage_00113"] and wbc["value"].iloc[0] < -7
    # all 640x480, nothing outside the images, no polygons
    for c in (gc.partly_outside, gc.fully_outside, gc.non_finite, gc.polygon_invalid):
        assert len(c(ds, T)) == 0


def test_runner_finds_every_planted_fault():
    """One dataset with one of each fault: check() reports every geometry id, and a
    severity override and a threshold reach the checks. Among the 32 cars tested, the 300x10 one
    is also an aspect outlier and the 3x3 one a size outlier."""
    from annokit.checks import check

    sides = [20.0] * 24 + [400.0]           # 25 cars in image 2: the last a size outlier
    boxes = [  # (image, class, kind, x, y, w, h, segmentation, area)
        (1, 1, "box", np.nan, 1, 5, 5, None, np.nan),               # non_finite
        (1, 1, "box", 10, 10, 0, 5, None, np.nan),                  # zero_size
        (1, 1, "box", -10, 10, 30, 20, None, np.nan),               # partly_outside
        (1, 1, "box", 700, 10, 30, 20, None, np.nan),               # fully_outside
        (1, 1, "box", 100, 100, 3, 3, None, np.nan),                # tiny
        (1, 1, "box", 100, 200, 300, 10, None, np.nan),             # aspect_ratio
        (3, 1, "box", 0, 0, 100, 50, None, np.nan),                 # whole_image
        (1, 1, "box", 300, 300, 40, 40, None, np.nan),              # exact_duplicate
        (1, 1, "box", 300, 300, 40, 40, None, np.nan),
        (1, 1, "box", 400, 300, 40, 40, None, np.nan),              # near_duplicate
        (1, 1, "box", 401, 300, 40, 40, None, np.nan),
        (1, 1, "box", 500, 300, 40, 40, None, np.nan),              # label_conflict
        (1, 2, "box", 500, 301, 40, 40, None, np.nan),
        (1, 2, "box", 50, 400, 10, 10, [BOWTIE], np.nan),           # polygon_invalid
        (1, 2, "box", 80, 400, 10, 10, [[80, 400, 99, 400, 99, 410, 80, 410]], 190),
        (1, 2, "box", 120, 400, 10, 10, [[120, 400, 130, 400, 130, 410, 120, 410]], 40),
        (1, 2, "box", 150, 400, 10, 10, {"size": [10, 10], "counts": "x"}, np.nan),
        (1, 2, "point", 900, 10, np.nan, np.nan, None, np.nan),     # point_outside
    ] + [(2, 1, "box", 30.0 * i + 10, 10.0, s, s, None, np.nan) for i, s in enumerate(sides)]
    image, cat, kind, x, y, w, h, seg, area = zip(*boxes)
    ds = Dataset(pd.DataFrame({"id": [1, 2], "name": ["car", "person"]}),
                 pd.DataFrame({"id": [1, 2, 3], "file_name": ["a.jpg", "b.jpg", "c.jpg"],
                               "width": [640, None, 100], "height": [480, None, 50]}),
                 pd.DataFrame({"image_id": image, "category_id": cat, "kind": kind, "x": x,
                               "y": y, "w": w, "h": h, "segmentation": seg, "area": area}))
    found = check(ds, checks=["geometry"], severity={"geometry.tiny": "error"})
    assert set(found["check"]) == {k for k, _ in gc_checks()}
    outliers = found[found["check"].str.endswith("_outlier")]
    assert sorted(zip(outliers["check"], outliers["message"].str.extract(r"box (\S+) px")[0])) \
        == [("geometry.aspect_outlier", "300x10"), ("geometry.size_outlier", "3x3"),
            ("geometry.size_outlier", "400x400")]
    assert found.loc[found["check"] == "geometry.tiny", "severity"].tolist() == ["error"]
    assert found["severity"].iloc[0] == "error"  # worst first
    raised = check(ds, checks=["geometry"], outlier_z=50)
    assert not raised["check"].str.endswith("_outlier").any()
