"""Box overlaps in bounded memory: IoU tables built a block of rows at a time.

A full IoU table of N boxes against M is N x M float64s (and several temporaries of that
size): 10,000 1x1 boxes on one image once asked for 9 GB. Every overlap the scorer takes
goes through here, in blocks of at most :data:`CELLS` cells.

Example:
    >>> import numpy as np
    >>> max_iou(np.array([[0.0, 0, 2, 2]]), np.array([[1.0, 0, 2, 2], [5, 5, 1, 1]]))
    array([0.33333333])
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..geometry import iou_matrix

CELLS = 1 << 20  # IoU cells per block: ~50 MB with iou_matrix's temporaries


def row_blocks(n: int, m: int, cells: int = CELLS) -> Iterator[slice]:
    """Slices of ``n`` rows such that each block against ``m`` columns has at most
    ``cells`` cells (at least one row a block).

    Example:
        >>> list(row_blocks(5, 2, cells=4))
        [slice(0, 2, None), slice(2, 4, None), slice(4, 5, None)]
    """
    step = max(1, cells // max(m, 1))
    for start in range(0, n, step):
        yield slice(start, min(n, start + step))


def max_iou(a_xywh: np.ndarray, b_xywh: np.ndarray) -> np.ndarray:
    """For each box of ``a``, its largest IoU with any box of ``b`` (0 when ``b`` is empty).

    Example:
        >>> max_iou(np.zeros((2, 4)), np.zeros((0, 4))).tolist()
        [0.0, 0.0]
    """
    a = np.asarray(a_xywh, np.float64).reshape(-1, 4)
    b = np.asarray(b_xywh, np.float64).reshape(-1, 4)
    out = np.zeros(len(a))
    if not len(a) or not len(b):
        return out
    for rows in row_blocks(len(a), len(b)):
        out[rows] = iou_matrix(a[rows], b).max(axis=1)
    return out


def greedy_keep(xywh: np.ndarray, limit: int, max_overlap: float = 0.5,
                block: int = 512) -> np.ndarray:
    """Greedy non-maximum suppression of boxes already sorted best first: a mask of the
    first ``limit`` boxes that overlap no better kept box by more than ``max_overlap``.

    Works a block of candidates at a time and stops once ``limit`` are kept, so thousands
    of boxes on one image cost a few small tables, never N x N.

    Example:
        >>> greedy_keep(np.array([[0.0, 0, 10, 10], [1, 0, 10, 10], [50, 50, 5, 5]]), 5)
        array([ True, False,  True])
    """
    boxes = np.asarray(xywh, np.float64).reshape(-1, 4)
    keep = np.zeros(len(boxes), bool)
    kept = np.zeros((0, 4))
    for start in range(0, len(boxes), block):
        if len(kept) >= limit:
            break
        part = boxes[start:start + block]
        alive = max_iou(part, kept) <= max_overlap
        overlap = iou_matrix(part, part) > max_overlap
        for i in range(len(part)):  # within a block: at most `block` steps
            if alive[i]:
                alive[i + 1:] &= ~overlap[i, i + 1:]
        chosen = np.flatnonzero(alive)[:limit - len(kept)]
        keep[start + chosen] = True
        kept = np.vstack([kept, part[chosen]])
    return keep
