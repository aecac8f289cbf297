"""Box geometry in bulk: format conversions, IoU, clipping, centre points, polygons.

Arrays in, arrays out: every function takes ``(N, 4)`` (or ``(N, 2)``) numpy arrays and
works on all rows at once. Box formats:

``xywh``    left, top, width, height (COCO, and annokit's own columns)
``xyxy``    left, top, right, bottom (VOC corners)
``cxcywh``  centre x, centre y, width, height (YOLO)

Any of them may be normalised by the image size (divide x by width, y by height).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:
    from shapely.geometry import MultiPolygon, Polygon

BOX_FORMATS = ("xywh", "xyxy", "cxcywh")


def _as_boxes(boxes: ArrayLike) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4), not {boxes.shape}")
    return boxes


def convert_boxes(boxes: ArrayLike, src: str, dst: str) -> np.ndarray:
    """Convert ``(N, 4)`` boxes from format ``src`` to ``dst`` (see the module docstring).

    Example:
        >>> convert_boxes([[10, 20, 30, 40]], "xywh", "xyxy")
        array([[10., 20., 40., 60.]])
        >>> convert_boxes([[10, 20, 30, 40]], "xywh", "cxcywh")
        array([[25., 40., 30., 40.]])
    """
    for name in (src, dst):
        if name not in BOX_FORMATS:
            raise ValueError(f"unknown box format {name!r}: choose one of {BOX_FORMATS}")
    b = _as_boxes(boxes)
    x1, y1, a, c = b.T
    if src == "xyxy":
        x, y, w, h = x1, y1, a - x1, c - y1
    elif src == "cxcywh":
        x, y, w, h = x1 - a / 2, y1 - c / 2, a, c
    else:
        x, y, w, h = x1, y1, a, c
    if dst == "xyxy":
        out = (x, y, x + w, y + h)
    elif dst == "cxcywh":
        out = (x + w / 2, y + h / 2, w, h)
    else:
        out = (x, y, w, h)
    return np.stack(out, axis=1)


def normalize(boxes: ArrayLike, width: ArrayLike, height: ArrayLike) -> np.ndarray:
    """Divide x-like columns by ``width`` and y-like ones by ``height`` (per box or scalar).

    Example:
        >>> normalize([[80, 30, 40, 40]], 200, 100)
        array([[0.4, 0.3, 0.2, 0.4]])
    """
    scale = _scale(width, height)
    return _as_boxes(boxes) / scale


def denormalize(boxes: ArrayLike, width: ArrayLike, height: ArrayLike) -> np.ndarray:
    """Inverse of :func:`normalize`.

    Example:
        >>> denormalize([[0.5, 0.5, 0.2, 0.4]], 200, 100)
        array([[100.,  50.,  40.,  40.]])
    """
    return _as_boxes(boxes) * _scale(width, height)


def _scale(width: ArrayLike, height: ArrayLike) -> np.ndarray:
    w = np.asarray(width, dtype=np.float64)
    h = np.asarray(height, dtype=np.float64)
    return np.stack(np.broadcast_arrays(w, h, w, h), axis=-1)


def area(boxes_xywh: ArrayLike) -> np.ndarray:
    """Box areas; negative sizes count as zero area.

    Example:
        >>> area([[0, 0, 2, 3], [0, 0, -1, 5]])
        array([6., 0.])
    """
    b = _as_boxes(boxes_xywh)
    return np.clip(b[:, 2], 0, None) * np.clip(b[:, 3], 0, None)


def _xyxy_area(xyxy: np.ndarray) -> np.ndarray:
    # from the corners, like the intersection, so that IoU(a, a) is exactly 1
    return np.clip(xyxy[:, 2] - xyxy[:, 0], 0, None) * np.clip(xyxy[:, 3] - xyxy[:, 1], 0, None)


def iou_matrix(a_xywh: ArrayLike, b_xywh: ArrayLike) -> np.ndarray:
    """Intersection over union of every box in ``a`` with every box in ``b``: shape (N, M).

    Example:
        >>> iou_matrix([[0, 0, 2, 2]], [[1, 0, 2, 2], [5, 5, 1, 1]])
        array([[0.33333333, 0.        ]])
    """
    a = convert_boxes(a_xywh, "xywh", "xyxy")
    b = convert_boxes(b_xywh, "xywh", "xyxy")
    iw = np.clip(np.minimum(a[:, None, 2], b[None, :, 2])
                 - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, None, 3], b[None, :, 3])
                 - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    union = _xyxy_area(a)[:, None] + _xyxy_area(b)[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def pairwise_iou(a_xywh: ArrayLike, b_xywh: ArrayLike) -> np.ndarray:
    """IoU of ``a[i]`` with ``b[i]`` for each row (same length), shape (N,).

    Example:
        >>> pairwise_iou([[0, 0, 2, 2], [0, 0, 1, 1]], [[1, 0, 2, 2], [0, 0, 1, 1]])
        array([0.33333333, 1.        ])
    """
    a = convert_boxes(a_xywh, "xywh", "xyxy")
    b = convert_boxes(b_xywh, "xywh", "xyxy")
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    union = _xyxy_area(a) + _xyxy_area(b) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def clip_boxes(boxes_xywh: ArrayLike, width: ArrayLike, height: ArrayLike) -> np.ndarray:
    """Clip boxes to the image ``[0, width] x [0, height]`` (per box or scalar sizes).

    Example:
        >>> clip_boxes([[-5, 10, 20, 100]], 100, 50)
        array([[ 0., 10., 15., 40.]])
    """
    xyxy = convert_boxes(boxes_xywh, "xywh", "xyxy")
    w = np.asarray(width, dtype=np.float64)
    h = np.asarray(height, dtype=np.float64)
    xyxy[:, 0] = np.clip(xyxy[:, 0], 0, w)
    xyxy[:, 2] = np.clip(xyxy[:, 2], 0, w)
    xyxy[:, 1] = np.clip(xyxy[:, 1], 0, h)
    xyxy[:, 3] = np.clip(xyxy[:, 3], 0, h)
    return convert_boxes(xyxy, "xyxy", "xywh")


def box_centers(boxes_xywh: ArrayLike) -> np.ndarray:
    """Centre points ``(N, 2)`` of boxes.

    Example:
        >>> box_centers([[10, 20, 30, 40]])
        array([[25., 40.]])
    """
    b = _as_boxes(boxes_xywh)
    return np.stack([b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2], axis=1)


def boxes_from_centers(points: ArrayLike, sizes: ArrayLike, width: ArrayLike | None = None,
                       height: ArrayLike | None = None) -> np.ndarray:
    """Boxes of the given ``sizes`` ``(N, 2)`` or ``(2,)`` centred on ``points`` ``(N, 2)``.

    With ``width`` and ``height``, boxes are clipped to the image (the centre then moves
    only when the box would leave the image).

    Example:
        >>> boxes_from_centers([[25, 40]], [30, 40])
        array([[10., 20., 30., 40.]])
    """
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    s = np.broadcast_to(np.asarray(sizes, dtype=np.float64), p.shape)
    boxes = np.column_stack([p - s / 2, s])
    if width is not None and height is not None:
        boxes = clip_boxes(boxes, width, height)
    return boxes


def polygon_geometry(polygons: list[list[float]]) -> Polygon | MultiPolygon:
    """A shapely geometry from COCO polygons (each a flat ``[x1, y1, x2, y2, ...]`` list).

    Example:
        >>> polygon_geometry([[0, 0, 4, 0, 4, 3]]).area
        6.0
    """
    from shapely.geometry import MultiPolygon, Polygon

    parts = [Polygon(np.asarray(p, dtype=np.float64).reshape(-1, 2)) for p in polygons
             if len(p) >= 6]
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def polygon_stats(polygons: list[list[float]]
                  ) -> tuple[float, tuple[float, float, float, float], bool]:
    """Area, bounding box ``(x, y, w, h)`` and validity of a COCO polygon list.

    A polygon with fewer than 3 points, or one that crosses itself, is invalid.

    Example:
        >>> polygon_stats([[0, 0, 4, 0, 4, 3]])
        (6.0, (0.0, 0.0, 4.0, 3.0), True)
    """
    if not polygons or any(len(p) < 6 or len(p) % 2 for p in polygons):
        flat = np.concatenate([np.asarray(p, dtype=np.float64) for p in polygons]
                              or [np.zeros(0)])
        return 0.0, _points_bbox(flat[: len(flat) // 2 * 2].reshape(-1, 2)), False
    geometry = polygon_geometry(polygons)
    x1, y1, x2, y2 = geometry.bounds
    return float(geometry.area), (x1, y1, x2 - x1, y2 - y1), bool(geometry.is_valid)


def _points_bbox(points: np.ndarray) -> tuple[float, float, float, float]:
    if not len(points):
        return (np.nan, np.nan, np.nan, np.nan)
    x1, y1 = points.min(axis=0)
    x2, y2 = points.max(axis=0)
    return (float(x1), float(y1), float(x2 - x1), float(y2 - y1))
