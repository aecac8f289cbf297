"""Every hostile case: the right exit code, one line naming the file, nothing else touched.

The cases run once, a few at a time in their own folders (each command is its own
process), and each test then checks its case's result.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from corpus import CASES, write_case
from harness import annokit, changed_outside, one_line_error, snapshot, temporaries

PARALLEL = max(2, min(4, os.cpu_count() or 1))


def _run(case, folder: Path) -> dict:
    root = write_case(case, folder / "case")
    before = snapshot(folder)
    code, out, err = annokit(*case.args, cwd=root)
    return {"root": root, "before": before, "after": snapshot(folder), "code": code,
            "out": out, "err": err, "left": temporaries(folder)}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    with ThreadPoolExecutor(PARALLEL) as pool:
        futures = {c.name: pool.submit(_run, c, base / c.name) for c in CASES}
    return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_case(case, results):
    got = results[case.name]
    code, out, err = got["code"], got["out"], got["err"]
    assert code == case.code, f"exit {code}, expected {case.code}:\n{err}"
    assert "Traceback" not in err and "internal error" not in err, err
    if case.code == 2:
        line = one_line_error(err, case.names)
        if case.says:
            assert case.says in line, line
    elif case.says:  # lenient: the record is skipped and listed with its reason
        assert case.says in err, err
    outputs = tuple(f"case/{o}" for o in case.outputs)
    assert changed_outside(got["before"], got["after"], outputs) == []
    assert got["left"] == []
    if case.check:
        case.check(got["root"], out, err)
