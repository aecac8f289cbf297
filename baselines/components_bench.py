"""split's connected components: scipy's ``connected_components`` (what annokit uses)
against the hand-written union-find it replaced (issue 17, item 6).

Graphs: N images with random near-duplicate pairs (N/2 edges: many small groups), one
chain of N images given from its far end (a union-find's worst case: many rounds), and
group-by edges (each image to the first of its group of 10). Checks that both give the
same labels, prints CPU and wall seconds with the load average, and writes
baselines/components_results.md.

    .venv/bin/python baselines/components_bench.py --n 1000000
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from annokit.split import components

HERE = Path(__file__).resolve().parent


def union_find(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The union-find split used before (annokit 0.1, annokit/split.py)."""
    parent = np.arange(n)
    while True:
        ra, rb = parent[a], parent[b]
        differ = ra != rb
        if not differ.any():
            break
        np.minimum.at(parent, np.maximum(ra, rb)[differ], np.minimum(ra, rb)[differ])
        while True:
            grand = parent[parent]
            if (grand == parent).all():
                break
            parent = grand
    return np.unique(parent, return_inverse=True)[1].reshape(-1)


def timed(func, *args):
    cpu, wall = time.process_time(), time.perf_counter()
    result = func(*args)
    return result, time.process_time() - cpu, time.perf_counter() - wall


def graphs(n: int, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return {
        "random pairs (N/2 edges)": (rng.integers(0, n, n // 2), rng.integers(0, n, n // 2)),
        "one chain, far end first": (np.arange(n - 1, 0, -1), np.arange(n - 2, -1, -1)),
        "groups of 10 (group-by)": (np.arange(n), np.arange(n) // 10 * 10),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_000_000)
    args = parser.parse_args()
    rows = []
    components(2, np.zeros(1, np.int64), np.ones(1, np.int64))  # scipy imported: not timed
    for name, (a, b) in graphs(args.n).items():
        new, new_cpu, new_wall = timed(components, args.n, a, b)
        old, old_cpu, old_wall = timed(union_find, args.n, a, b)
        assert np.array_equal(new, old), name
        rows.append(f"| {name} | {args.n:,} | {int(new.max()) + 1:,} | {new_cpu:.2f} | "
                    f"{new_wall:.2f} | {old_cpu:.2f} | {old_wall:.2f} |")
        print(rows[-1], flush=True)
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    text = "\n".join([
        "# split: connected components, scipy against the union-find it replaced", "",
        "Written by `baselines/components_bench.py`. Both give the same labels on every "
        "graph (asserted).", "",
        f"Load average after the run: {load} (2 cores shared by several engineers: wall "
        "times are noisy, CPU seconds less so).", "",
        "| graph | nodes | groups | scipy CPU s | scipy wall s | union-find CPU s | "
        "union-find wall s |",
        "|---|---|---|---|---|---|---|", *rows, ""])
    (HERE / "components_results.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
