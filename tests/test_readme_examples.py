"""Every ``annokit`` command in README.md runs as written: a README that lies fails CI.

Each bash block of the README runs, command after command, in its own copy of a folder
holding every path the commands name (built from fixtures/ by tests/readme_examples.py), as
a subprocess (``python -m annokit``, the installed console script's code). A command passes
when it exits 0 (``check`` and ``diff`` also 1, their documented answer) with
no internal error; ``browse`` and ``fiftyone-export`` are skipped with their reason (a
server and a browser).
"""
from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from readme_examples import NOT_RUN, commands, workspace

pytestmark = pytest.mark.slow  # about 25 commands; `score --model cnn` alone trains 5 folds

COMMANDS = commands()
BLOCKS = sorted({block for block, _, _ in COMMANDS})
TIMEOUT = 1800  # s; the CNN scorer trains 600 steps a fold whatever the dataset's size


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    return workspace(tmp_path_factory.mktemp("readme") / "workspace")


def test_the_readme_has_examples_of_every_command():
    run = {args[0] for _, _, args in COMMANDS}
    assert {"convert", "check", "eval", "split", "rebalance", "info", "score", "browse"} <= run


@pytest.mark.parametrize("block", BLOCKS)
def test_readme_block_runs_as_written(block, prepared, tmp_path):
    folder = tmp_path / "w"
    shutil.copytree(prepared, folder, symlinks=True)
    ran = 0
    for _, text, args in (c for c in COMMANDS if c[0] == block):
        if args[0] in NOT_RUN:
            continue
        done = subprocess.run([sys.executable, "-m", "annokit", *args], cwd=folder,
                              capture_output=True, text=True, timeout=TIMEOUT)
        # check: findings at --fail-on; diff: the datasets differ (both documented answers)
        allowed = (0, 1) if args[0] in ("check", "diff") else (0,)
        assert done.returncode in allowed and "internal error" not in done.stderr, \
            f"README: `{text}` exited {done.returncode}:\n{done.stderr[-2000:]}"
        assert done.stdout.strip(), f"README: `{text}` printed nothing"
        ran += 1
    skipped = [text for b, text, args in COMMANDS if b == block and args[0] in NOT_RUN]
    if skipped:
        reasons = "; ".join(f"`{t}`: {NOT_RUN[t.split()[1]]}" for t in skipped)
        if not ran:
            pytest.skip(f"not run: {reasons}")
        print(f"not run: {reasons}")
