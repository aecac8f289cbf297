"""split --group-by: RE2 (what annokit uses) against Python's re through pandas.

Times the grouping of N file names by a benign pattern, and one catastrophic pattern on
one short name with each engine (re under a subprocess timeout). Prints CPU seconds, wall
seconds and the load average, and writes baselines/group_by_regex.md.

    .venv/bin/python baselines/group_by_bench.py --n 1000000
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from annokit.split import group_keys

HERE = Path(__file__).resolve().parent


def timed(func):
    cpu, wall = time.process_time(), time.perf_counter()
    result = func()
    return result, time.process_time() - cpu, time.perf_counter() - wall


def catastrophic_re(letters: int, limit: float) -> str:
    code = f"import re; re.search(r'^(a+)+$', 'a' * {letters} + '!')"
    start = time.perf_counter()
    try:
        subprocess.run([sys.executable, "-c", code], timeout=limit, check=True)
    except subprocess.TimeoutExpired:
        return f"> {limit:.0f} s (killed)"
    return f"{time.perf_counter() - start:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--limit", type=float, default=60)
    args = parser.parse_args()
    names = [f"video{i % 1000}_frame{i}.jpg" for i in range(args.n)]
    pattern = r"^(video\d+)_"
    re2_keys, re2_cpu, re2_wall = timed(lambda: group_keys(names, pattern))
    re_keys, re_cpu, re_wall = timed(
        lambda: pd.Series(names).str.extract(pattern, expand=True).iloc[:, 0])
    assert re2_keys.tolist() == re_keys.tolist()
    _, bad_cpu, bad_wall = timed(lambda: group_keys(["a" * 40 + "!"], "^(a+)+$"))
    load = os.getloadavg()
    rows = [
        f"| RE2 (`annokit.split.group_keys`) | {args.n:,} names | {re2_cpu:.2f} | {re2_wall:.2f} |",
        f"| `re` through pandas `str.extract` (before) | {args.n:,} names | {re_cpu:.2f} | "
        f"{re_wall:.2f} |",
        f"| RE2, `'^(a+)+$'` on 'a' x 40 + '!' | 1 name | {bad_cpu:.4f} | {bad_wall:.4f} |",
        f"| `re`, `'^(a+)+$'` on 'a' x 30 + '!' | 1 name | - | "
        f"{catastrophic_re(30, args.limit)} |",
    ]
    text = "\n".join([
        "# split --group-by: RE2 against Python's re", "",
        "Written by `baselines/group_by_bench.py`. A user's pattern is matched with RE2 "
        "(linear time); Python's `re` backtracks exponentially on nested quantifiers.", "",
        f"Load average during the run: {load[0]:.1f}, {load[1]:.1f}, {load[2]:.1f} "
        "(2 cores shared by 8 engineers: wall times are noisy, CPU seconds less so).", "",
        "| engine | input | CPU s | wall s |", "|---|---|---|---|", *rows, "",
        f"RE2 costs {re2_cpu / re_cpu:.1f}x the CPU of `re` on benign names (one call "
        "through google-re2's Python wrapper per name, on UTF-8 bytes), in exchange for a "
        "bound on every pattern.", ""])
    (HERE / "group_by_regex.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
