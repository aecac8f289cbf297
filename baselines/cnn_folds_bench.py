"""Should the cnn family's folds train in worker processes, or with more torch threads?

Trains the centre-point detector of ``annokit score --model cnn`` (annokit/score/cnn.py) on
bccd for two folds of ``--iterations`` steps each, three ways, and records wall and CPU
seconds (this process and its children) and the 1-minute load average around each:

- ``serial-1thread``: the two folds one after another, one torch thread (today's default);
- ``serial-2threads``: the same with two torch threads per fit;
- ``2-processes``: the two folds at once in two processes, one thread each.

    python baselines/cnn_folds_bench.py --iterations 60

Results are appended to ``baselines/cnn_folds_results.json``.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
BCCD = HERE.parent.parent / "shared" / "datasets" / "bccd" / "BCCD"
RESULTS = HERE / "cnn_folds_results.json"


def _data():
    import annokit
    from annokit.score import cnn
    from annokit.score.detection import box_table

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = annokit.read(BCCD, "voc")
    boxes, classes = box_table(ds)
    images, scale, ok = cnn._load(ds, cnn._side(ds), [], letterbox=True)
    targets = cnn._targets(boxes[ok[boxes["pos"].to_numpy()]], len(images), len(classes),
                           images.shape[1] // cnn.STRIDE, scale)
    folds = np.arange(len(images)) % 5
    return images, targets, len(classes), folds


def _fit(args) -> float:
    images, targets, classes, train, seed, iterations, threads = args
    from annokit.score import cnn
    from annokit.score.backend import require_torch

    torch = require_torch()
    seed_once = cnn._seed

    def seeded(torch_, s):  # today's seeding, then the thread count asked for
        seed_once(torch_, s)
        torch_.set_num_threads(threads)
    cnn._seed = seeded
    start = time.perf_counter()
    cnn._train_detector(torch, images, targets, train, classes,
                        cnn.Training(seed, iterations, torch.device("cpu"), "bench"))
    return time.perf_counter() - start


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=60)
    args = parser.parse_args()
    images, targets, classes, folds = _data()
    jobs = [(images, targets, classes, np.flatnonzero(folds != k), k, args.iterations)
            for k in (0, 1)]
    rows = []
    for how in ("serial-1thread", "serial-2threads", "2-processes", "serial-1thread"):
        load, cpu, start = os.getloadavg()[0], _cpu(), time.perf_counter()
        if how == "2-processes":
            with multiprocessing.get_context("spawn").Pool(2) as pool:
                pool.map(_fit, [(*j, 1) for j in jobs])
        else:
            for j in jobs:
                _fit((*j, 2 if how == "serial-2threads" else 1))
        rows.append({"how": how, "iterations_per_fold": args.iterations, "folds": 2,
                     "wall_s": round(time.perf_counter() - start, 2),
                     "cpu_s": round(_cpu() - cpu, 2),
                     "load_before": round(load, 2), "load_after": round(os.getloadavg()[0], 2),
                     "cores": os.cpu_count(), "when": time.strftime("%Y-%m-%d %H:%M:%S")})
        print(json.dumps(rows[-1]))
    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    RESULTS.write_text(json.dumps(old + rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
