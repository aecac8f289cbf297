"""Boxes the classic detection scorer learns from, made around the annotated ones.

``jitter``     each annotated box moved and resized until its IoU with itself is below
               0.5: what a badly located box looks like;
``negatives``  boxes of annotated sizes placed where no annotated box is: background;
``candidates`` bounding boxes of Felzenszwalb segments of annotated sizes that no
               annotated box covers: places an overlooked object may be.

All take a numpy Generator so that a seed fixes them; all work on whole arrays.

Example:
    >>> rng = np.random.default_rng(0)
    >>> boxes = np.array([[10.0, 10, 20, 20]])
    >>> bool((iou_matrix(jitter(boxes, rng, 100, 100), boxes).diagonal() < 0.5).all())
    True
"""
from __future__ import annotations

import numpy as np

from ..geometry import iou_matrix, pairwise_iou  # noqa: F401 (iou_matrix: the examples)
from .overlap import max_iou

TRIES = 12  # random draws per wanted box; the first that fits is kept


def jitter(boxes_xywh: np.ndarray, rng: np.random.Generator, width: float, height: float,
           max_iou: float = 0.5) -> np.ndarray:
    """One badly located copy of each box: shifted and/or resized to IoU < ``max_iou``.

    Example:
        >>> jitter(np.zeros((0, 4)), np.random.default_rng(0), 10, 10).shape
        (0, 4)
    """
    boxes = np.asarray(boxes_xywh, np.float64).reshape(-1, 4)
    n = len(boxes)
    if not n:
        return boxes.copy()
    rep = np.repeat(boxes, TRIES, axis=0)
    cx, cy = rep[:, 0] + rep[:, 2] / 2, rep[:, 1] + rep[:, 3] / 2
    shift = rng.uniform(-1.0, 1.0, (len(rep), 2)) * rep[:, 2:]
    shift *= rng.choice([0.0, 1.0], (len(rep), 1), p=[0.25, 0.75])  # a quarter keep their place
    scale = np.exp(rng.uniform(-0.9, 0.9, (len(rep), 2)))
    w, h = rep[:, 2] * scale[:, 0], rep[:, 3] * scale[:, 1]
    out = np.stack([cx + shift[:, 0] - w / 2, cy + shift[:, 1] - h / 2, w, h], axis=1)
    out[:, 0] = np.clip(out[:, 0], -w / 2, width - w / 2)  # keep half of it in the image
    out[:, 1] = np.clip(out[:, 1], -h / 2, height - h / 2)
    ok = (pairwise_iou(out, rep) < max_iou).reshape(n, TRIES)
    first = np.where(ok.any(axis=1), ok.argmax(axis=1), 0)
    chosen = out.reshape(n, TRIES, 4)[np.arange(n), first]
    # a box with no fitting draw (tiny image) is pushed one width aside: IoU 0
    chosen[~ok.any(axis=1), 0] += boxes[~ok.any(axis=1), 2]
    return chosen


def negatives(boxes_xywh: np.ndarray, sizes_rel: np.ndarray, count: int,
              rng: np.random.Generator, width: float, height: float,
              max_overlap: float = 0.05) -> np.ndarray:
    """Up to ``count`` boxes, sizes drawn from ``sizes_rel`` (w/W, h/H), on background.

    Example:
        >>> negatives(np.zeros((0, 4)), np.array([[0.1, 0.1]]), 3, np.random.default_rng(0),
        ...           100, 100).shape
        (3, 4)
    """
    if count <= 0 or not len(sizes_rel):
        return np.zeros((0, 4))
    m = count * TRIES
    size = sizes_rel[rng.integers(0, len(sizes_rel), m)] * [width, height]
    size *= np.exp(rng.uniform(-0.2, 0.2, (m, 1)))
    size = np.minimum(size, [width, height])
    xy = rng.uniform(0, 1, (m, 2)) * ([width, height] - size)
    cand = np.hstack([xy, size])
    boxes = np.asarray(boxes_xywh, np.float64).reshape(-1, 4)
    if len(boxes):
        cand = cand[max_iou(cand, boxes) < max_overlap]
    return cand[:count]


def candidates(image: np.ndarray, boxes_xywh: np.ndarray, sizes_rel: np.ndarray,
               scale: float, limit: int = 60) -> np.ndarray:
    """Felzenszwalb segments of ``image`` (an RGB array, downscaled by ``scale``) whose
    bounding boxes have annotated sizes and are not already annotated; in source pixels.

    Example:
        >>> img = np.zeros((40, 40, 3), np.uint8); img[10:20, 10:20] = 255
        >>> [10.0, 10.0, 10.0, 10.0] in candidates(img, np.zeros((0, 4)),
        ...                                        np.array([[0.25, 0.25]]), 1.0).tolist()
        True
    """
    from skimage.segmentation import felzenszwalb

    height, width = image.shape[:2]
    if not len(sizes_rel):
        return np.zeros((0, 4))
    area = np.median(sizes_rel[:, 0] * sizes_rel[:, 1]) * width * height
    seg = felzenszwalb(image, scale=50, sigma=0.8, min_size=max(4, int(0.1 * area)))
    found = _segment_boxes(seg) / scale
    rel = found[:, 2:] / ([width / scale, height / scale])
    lo, hi = np.quantile(sizes_rel, 0.02, axis=0) * 0.6, np.quantile(sizes_rel, 0.98, axis=0) * 1.6
    found = found[((rel >= lo) & (rel <= hi)).all(axis=1)]
    boxes = np.asarray(boxes_xywh, np.float64).reshape(-1, 4)
    if len(boxes) and len(found):
        found = found[max_iou(found, boxes) < 0.3]
    return found[:limit]


def _segment_boxes(seg: np.ndarray) -> np.ndarray:
    """xywh bounding box of every label of a segmentation map, in one pass."""
    n = int(seg.max()) + 1
    ys, xs = np.indices(seg.shape)
    labels = seg.ravel()
    x0 = np.full(n, np.inf)
    y0 = np.full(n, np.inf)
    x1 = np.zeros(n)
    y1 = np.zeros(n)
    np.minimum.at(x0, labels, xs.ravel())
    np.minimum.at(y0, labels, ys.ravel())
    np.maximum.at(x1, labels, xs.ravel() + 1)
    np.maximum.at(y1, labels, ys.ravel() + 1)
    return np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)
