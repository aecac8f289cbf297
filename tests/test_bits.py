"""popcount on every numpy pyproject allows: the numpy 1.x table path agrees with numpy 2's."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from annokit.bits import bytewise_popcount, popcount


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 2**64 - 1), min_size=0, max_size=50))
def test_both_paths_count_set_bits(values):
    array = np.array(values, dtype=np.uint64)
    expected = [bin(v).count("1") for v in values]
    assert bytewise_popcount(array).tolist() == expected
    assert popcount(array).tolist() == expected
    assert popcount(array).dtype == np.int64


def test_shapes_and_views():
    grid = np.arange(12, dtype=np.uint64).reshape(3, 4)[:, ::2]  # not contiguous
    assert bytewise_popcount(grid).tolist() == [[0, 1], [1, 2], [1, 2]]
    assert popcount(grid).shape == (3, 2)
