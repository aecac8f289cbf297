"""Bit counts on 64-bit hashes, on every numpy that pyproject allows.

``np.bitwise_count`` arrived in numpy 2.0; numpy 1.24 has no popcount. Perceptual-hash
distances (Hamming: the bits two hashes differ in) use :func:`popcount` instead.

Example:
    >>> popcount(np.array([0, 1, 0b1011, 2**64 - 1], dtype=np.uint64)).tolist()
    [0, 1, 3, 64]
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

_BYTE_COUNTS = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def popcount(values: ArrayLike) -> np.ndarray:
    """Set bits of each value as int64 (values read as uint64).

    Example:
        >>> popcount([5, 7]).tolist()
        [2, 3]
    """
    v = np.ascontiguousarray(values, dtype=np.uint64)
    if hasattr(np, "bitwise_count"):  # numpy >= 2: one instruction per value
        return np.bitwise_count(v).astype(np.int64)
    return bytewise_popcount(v)


def bytewise_popcount(values: np.ndarray) -> np.ndarray:
    """The numpy 1.x path: a 256-entry table over the eight bytes of each value.

    Example:
        >>> bytewise_popcount(np.array([255, 256], dtype=np.uint64)).tolist()
        [8, 1]
    """
    v = np.ascontiguousarray(values, dtype=np.uint64)
    counts = _BYTE_COUNTS[v.view(np.uint8)].reshape(v.shape + (8,))
    return counts.sum(axis=-1, dtype=np.int64)
