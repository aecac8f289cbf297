"""Run the real ``annokit`` command in a subprocess and check what it left behind.

A hostile case passes when the exit code is the expected one, stderr is one line naming
the file (on errors), and nothing under the case folder changed except the declared
output: every other path keeps its type, size, mtime and content hash, and no temporary
``.annokit`` file is left anywhere.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

TIMEOUT = 60  # s; every case is small, a hang is a failure


def annokit(*args, cwd: Path, timeout: float = TIMEOUT, env: dict | None = None,
            start: bool = False):
    """Run ``python -m annokit ARGS`` in ``cwd``; the Popen when ``start``, else
    (exit code, stdout, stderr)."""
    command = [sys.executable, "-m", "annokit", *map(str, args)]
    environment = {**os.environ, **(env or {})}
    if start:
        return subprocess.Popen(command, cwd=cwd, env=environment, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    done = subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True,
                          timeout=timeout)
    return done.returncode, done.stdout, done.stderr


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path under ``root``: its kind, size, mtime and hash (links: their target)."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            if os.path.islink(path):
                found[rel] = ("link", os.readlink(path))
            elif os.path.isdir(path):
                found[rel] = ("dir",)
            else:
                found[rel] = ("file", st.st_size, st.st_mtime_ns, _hash(path))
    return found


def _hash(path: str) -> str:
    digest = hashlib.blake2b(digest_size=16)
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError as e:  # a FIFO or unreadable file: its identity is enough
        return f"unreadable: {e.errno}"
    return digest.hexdigest()


def changed_outside(before: dict, after: dict, outputs: tuple[str, ...] = ()) -> list[str]:
    """Paths that changed, appeared or went, other than under ``outputs``."""
    def allowed(rel: str) -> bool:
        return any(rel == o or rel.startswith(o.rstrip("/") + "/") for o in outputs)

    keys = set(before) | set(after)
    return sorted(k for k in keys if before.get(k) != after.get(k) and not allowed(k))


def temporaries(root: Path) -> list[str]:
    """Leftover temporary or lock files of annokit's writers under ``root``."""
    return sorted(os.path.relpath(os.path.join(d, n), root)
                  for d, dirs, files in os.walk(root) for n in dirs + files
                  if ".annokit-" in n or n.endswith(".annokit.lock"))


def one_line_error(err: str, names: str | None = None) -> str:
    """Assert stderr is a single ``annokit: error:`` line (naming ``names``); return it."""
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one line, got:\n{err}"
    assert lines[0].startswith("annokit: error: "), lines[0]
    assert "Traceback" not in err and "internal error" not in err, err
    if names is not None:
        assert names in lines[0], f"{names!r} not named in {lines[0]!r}"
    return lines[0]


# -- one runner for a list of corpus cases

def run_cases(cases, base: Path, parallel: int = max(2, min(4, os.cpu_count() or 1))) -> dict:
    """Each corpus ``Case`` built under ``base/NAME/case`` and run, ``parallel`` at a time:
    {name: root, before, after, code, out, err, left}.

    Example:
        >>> results = run_cases(CASES, tmp_path)  # doctest: +SKIP
    """
    from concurrent.futures import ThreadPoolExecutor

    from corpus import write_case

    def run(case, folder: Path) -> dict:
        root = write_case(case, folder / "case")
        before = snapshot(folder)
        code, out, err = annokit(*case.args, cwd=root)
        return {"root": root, "before": before, "after": snapshot(folder), "code": code,
                "out": out, "err": err, "left": temporaries(folder)}

    with ThreadPoolExecutor(parallel) as pool:
        futures = {c.name: pool.submit(run, c, base / c.name) for c in cases}
    return {name: future.result() for name, future in futures.items()}


def check_case(case, got: dict) -> None:
    """Assert what ``case`` promises of its run ``got`` (see the module docstring).

    Example:
        >>> check_case(case, results[case.name])  # doctest: +SKIP
    """
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


N_BIG = 20_000  # images: converting them takes seconds, long enough to interrupt


def big_coco(path: Path, n: int = N_BIG) -> Path:
    """A COCO file at ``path`` of ``n`` images (sizes given, no image files), one box each.

    Example:
        >>> big_coco(tmp_path / "big.json", 100)  # doctest: +SKIP
    """
    images = [{"id": i, "file_name": f"im{i}.jpg", "width": 100, "height": 80}
              for i in range(1, n + 1)]
    anns = [{"id": i, "image_id": i, "category_id": 1 + i % 3, "bbox": [10, 10, 20, 20],
             "area": 400, "iscrowd": 0} for i in range(1, n + 1)]
    cats = [{"id": c, "name": f"c{c}"} for c in (1, 2, 3)]
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return path
