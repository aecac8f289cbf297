"""Box geometry: hand-checked values and properties that conversions invert each other."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annokit import geometry as g


def test_hand_checked_conversions():
    box = [[10.0, 20.0, 30.0, 40.0]]
    np.testing.assert_array_equal(g.convert_boxes(box, "xywh", "xyxy"), [[10, 20, 40, 60]])
    np.testing.assert_array_equal(g.convert_boxes(box, "xywh", "cxcywh"), [[25, 40, 30, 40]])
    np.testing.assert_array_equal(g.convert_boxes([[25, 40, 30, 40]], "cxcywh", "xyxy"),
                                  [[10, 20, 40, 60]])
    # the YOLO example of docs/conventions.md: 200x100 image
    yolo = g.normalize(g.convert_boxes([[80, 30, 40, 40]], "xywh", "cxcywh"), 200, 100)
    np.testing.assert_allclose(yolo, [[0.5, 0.5, 0.2, 0.4]])


def test_unknown_format_and_bad_shape():
    with pytest.raises(ValueError, match="unknown box format"):
        g.convert_boxes([[0, 0, 1, 1]], "xywh", "ltrb")
    with pytest.raises(ValueError, match=r"shape \(N, 4\)"):
        g.convert_boxes([0, 0, 1, 1], "xywh", "xyxy")


def test_iou_hand_checked():
    a = [[0, 0, 2, 2], [0, 0, 1, 1]]
    b = [[1, 0, 2, 2], [0, 0, 1, 1], [10, 10, 1, 1], [0, 0, 0, 0]]
    m = g.iou_matrix(a, b)
    assert m.shape == (2, 4)
    np.testing.assert_allclose(m[0], [2 / 6, 1 / 4, 0, 0])
    np.testing.assert_allclose(m[1], [0, 1, 0, 0])
    np.testing.assert_allclose(g.pairwise_iou(a, b[:2]), [2 / 6, 1])


def test_clip_and_centres():
    np.testing.assert_array_equal(g.clip_boxes([[-5, 10, 20, 100], [90, -3, 20, 5]], 100, 50),
                                  [[0, 10, 15, 40], [90, 0, 10, 2]])
    np.testing.assert_array_equal(g.box_centers([[10, 20, 30, 40]]), [[25, 40]])
    np.testing.assert_array_equal(g.boxes_from_centers([[25, 40]], [30, 40]), [[10, 20, 30, 40]])
    np.testing.assert_array_equal(g.boxes_from_centers([[5, 5]], [20, 20], 100, 100),
                                  [[0, 0, 15, 15]])


def test_polygons():
    area, bbox, valid = g.polygon_stats([[0, 0, 4, 0, 4, 3]])
    assert (area, bbox, valid) == (6.0, (0.0, 0.0, 4.0, 3.0), True)
    assert g.polygon_stats([[0, 0, 4, 4, 4, 0, 0, 4]])[2] is False  # a bow tie crosses itself
    assert g.polygon_stats([[0, 0, 1, 1]])[2] is False  # two points are not a polygon
    area, bbox, valid = g.polygon_stats([[0, 0, 2, 0, 2, 2, 0, 2], [10, 10, 11, 10, 11, 11]])
    assert area == 4.5 and bbox == (0.0, 0.0, 11.0, 11.0) and valid


finite = st.floats(-1e4, 1e4, allow_nan=False)
sizes = st.one_of(st.just(0.0), st.floats(1e-3, 1e4))  # no sub-pixel-of-a-float sizes
boxes = st.lists(st.tuples(finite, finite, sizes, sizes), min_size=1, max_size=20).map(
    lambda rows: np.array(rows, dtype=np.float64))


@settings(max_examples=200, deadline=None)
@given(boxes, st.sampled_from(g.BOX_FORMATS), st.sampled_from(g.BOX_FORMATS))
def test_conversions_invert_each_other(b, src_fmt, dst_fmt):
    start = g.convert_boxes(b, "xywh", src_fmt)
    there = g.convert_boxes(start, src_fmt, dst_fmt)
    back = g.convert_boxes(there, dst_fmt, src_fmt)
    np.testing.assert_allclose(back, start, rtol=1e-9, atol=1e-6)


@settings(max_examples=200, deadline=None)
@given(boxes, st.floats(1, 1e4), st.floats(1, 1e4))
def test_normalize_inverts(b, w, h):
    np.testing.assert_allclose(g.denormalize(g.normalize(b, w, h), w, h), b, rtol=1e-9, atol=1e-6)


@settings(max_examples=100, deadline=None)
@given(boxes)
def test_iou_properties(b):
    m = g.iou_matrix(b, b)
    assert ((m >= 0) & (m <= 1 + 1e-12)).all()
    np.testing.assert_allclose(m, m.T, atol=1e-12)
    has_area = g.area(b) > 0
    np.testing.assert_allclose(np.diag(m)[has_area], 1.0)


@settings(max_examples=100, deadline=None)
@given(boxes)
def test_box_to_centre_to_box_keeps_box(b):
    back = g.boxes_from_centers(g.box_centers(b), b[:, 2:])
    np.testing.assert_allclose(back, b, atol=1e-6)
