"""Every hostile case: the right exit code, one line naming the file, nothing else touched."""
from __future__ import annotations

import pytest

from corpus import CASES, write_case
from harness import annokit, changed_outside, one_line_error, snapshot, temporaries


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_case(case, tmp_path):
    root = write_case(case, tmp_path / "case")
    before = snapshot(tmp_path)
    code, out, err = annokit(*case.args, cwd=root)
    assert code == case.code, f"exit {code}, expected {case.code}:\n{err}"
    assert "Traceback" not in err and "internal error" not in err, err
    if case.code == 2:
        line = one_line_error(err, case.names)
        if case.says:
            assert case.says in line, line
    elif case.says:  # lenient: the record is skipped and listed with its reason
        assert case.says in err, err
    outputs = tuple(f"case/{o}" for o in case.outputs)
    assert changed_outside(before, snapshot(tmp_path), outputs) == []
    assert temporaries(tmp_path) == []
    if case.check:
        case.check(root, out, err)
