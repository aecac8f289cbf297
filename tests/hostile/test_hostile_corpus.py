"""Every hostile case: the right exit code, one line naming the file, nothing else touched.

The cases run once, a few at a time in their own folders (each command is its own
process), and each test then checks its case's result (tests/hostile/harness.py).
"""
from __future__ import annotations

import pytest

from corpus import CASES
from harness import check_case, run_cases


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return run_cases(CASES, tmp_path_factory.mktemp("hostile"))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_case(case, results):
    check_case(case, results[case.name])
