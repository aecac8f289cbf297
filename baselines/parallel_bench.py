"""Image work against worker count: `annokit check` and `annokit score` in-process, with
``--workers 1`` and ``--workers 2`` (and optionally on a local Dask cluster), on bccd and on
a synthetic set of real JPEG files.

Each run is a fresh ``python -m annokit`` process. Recorded per run: wall time, the CPU
seconds of the process and its children (user + sys, from ``wait4``), and the 1-minute
load average before and after (the machine is shared: CPU seconds say how much work was
done, wall time how long it took with whatever else ran beside it).

    python baselines/parallel_bench.py --synthetic 20000 --datasets synthetic,bccd
    python baselines/parallel_bench.py --only check --workers in-process,1,2 --repeat 2

The synthetic images are written to a temporary folder (``--workdir``, default
``$TMPDIR/annokit-parallel-bench``), never into the repository. Results are merged into
``baselines/parallel_results.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BCCD = ROOT.parent / "shared" / "datasets" / "bccd" / "BCCD"
RESULTS = HERE / "parallel_results.json"


def make_synthetic(folder: Path, n: int, side: tuple[int, int] = (192, 144)) -> Path:
    """``n`` distinct JPEGs (smooth random colour fields plus noise, ~8 KB each) and a COCO
    file with one or two boxes per image; reused when already there."""
    from PIL import Image

    coco = folder / "annotations.json"
    if coco.exists() and json.loads(coco.read_text())["images"].__len__() == n:
        return coco
    images_dir = folder / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    w, h = side
    images, annotations = [], []
    for i in range(n):
        coarse = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
        im = Image.fromarray(coarse).resize((w, h), Image.Resampling.BILINEAR)
        pixels = np.asarray(im, np.int16) + rng.integers(-12, 13, (h, w, 3))
        name = f"{i:06d}.jpg"
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(
            images_dir / name, quality=85)
        images.append({"id": i + 1, "file_name": name, "width": w, "height": h})
        for k in range(1 + i % 2):
            x, y = rng.uniform(0, w / 2), rng.uniform(0, h / 2)
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1,
                                "category_id": 1 + (i + k) % 3,
                                "bbox": [round(x, 2), round(y, 2), 40.0, 30.0],
                                "area": 1200.0, "iscrowd": 0})
    categories = [{"id": c, "name": f"class{c}"} for c in (1, 2, 3)]
    coco.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": categories}))
    return coco


def timed(command: list[str]) -> dict:
    """Run ``command``; wall and CPU seconds (the process, its children and the worker
    processes under them), load around it.

    RUSAGE_CHILDREN counts the process and the children it reaped; local workers are children of
    a forkserver that nobody reaps, so their CPU time is sampled with psutil every 0.2 s
    (the last sample of each: up to 0.2 s of a worker's work can be missed)."""
    import psutil

    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    seen: dict[int, float] = {}
    watched = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            for child in watched.children(recursive=True):
                try:
                    t = child.cpu_times()
                    seen[child.pid] = t.user + t.system
                except psutil.Error:
                    pass
        except psutil.Error:
            pass
        time.sleep(0.2)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    code = proc.returncode
    total = resource.getrusage(resource.RUSAGE_CHILDREN)  # poll() reaped it: counted here
    cpu = total.ru_utime + total.ru_stime - _counted[0]
    _counted[0] = total.ru_utime + total.ru_stime
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu + sum(seen.values()), 2),
            "cpu_parent_s": round(cpu, 2), "cpu_workers_s": round(sum(seen.values()), 2),
            "peak_rss_mib_any_run": round(total.ru_maxrss / 1024, 1), "exit": code,
            "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2),
            "error": err.strip().splitlines()[-1] if code not in (0, 1) and err.strip() else None}


_counted = [0.0]  # CPU seconds of children already counted by earlier runs


def command(task: str, dataset: str, where: str, scratch: Path) -> list[str]:
    base = [sys.executable, "-m", "annokit"]
    if task == "check":
        cmd = base + ["check", dataset, "--quiet", "--json", str(scratch / "qc.json")]
    else:  # the scores kept, to compare with the in-process run's (same_as_in_process)
        cmd = base + ["score", dataset, "--quiet", "--folds", "3", "--top", "0", "--out",
                      str(scratch / f"scores-{Path(dataset).name}-{_slug(where)}.json")]
    if where.isdigit():
        cmd += ["--workers", where]
    elif where.startswith("tcp://"):
        cmd += ["--dask", where]
    return cmd


def _slug(where: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in where)


def same_scores(a: Path, b: Path) -> bool | None:
    """Whether two scores files agree: every number (qualities, suggested boxes) within
    1e-6, everything else (issues, suggested classes, ids) equal, for the annotations, the
    overlooked candidates and the images (None: one of the files is missing)."""
    if not (a.exists() and b.exists()):
        return None
    x, y = json.loads(a.read_text()), json.loads(b.read_text())
    return all(_close(x.get(k), y.get(k)) for k in ("annotations", "overlooked", "images"))


def _close(u, v) -> bool:
    if isinstance(u, dict) and isinstance(v, dict):
        return u.keys() == v.keys() and all(_close(u[k], v[k]) for k in u)
    if isinstance(u, list) and isinstance(v, list):
        return len(u) == len(v) and all(_close(p, q) for p, q in zip(u, v))
    if isinstance(u, float) and isinstance(v, (int, float)):
        return abs(u - v) <= 1e-6
    return u == v


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", type=int, default=20000, help="images in the set")
    parser.add_argument("--datasets", default="synthetic,bccd")
    parser.add_argument("--only", action="append", choices=["check", "score"])
    parser.add_argument("--workers", default="in-process,1,2",
                        help="comma list: in-process, a worker count, or a tcp:// address")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--score-synthetic", action="store_true",
                        help="also score the synthetic set (long)")
    parser.add_argument("--workdir", type=Path,
                        default=Path(tempfile.gettempdir()) / "annokit-parallel-bench")
    args = parser.parse_args()
    tasks = args.only or ["check", "score"]
    sets = {}
    for name in args.datasets.split(","):
        if name == "synthetic":
            t = time.perf_counter()
            sets[name] = str(make_synthetic(args.workdir / f"synthetic-{args.synthetic}",
                                            args.synthetic))
            print(f"synthetic set ready in {time.perf_counter() - t:.0f} s", flush=True)
        elif name == "bccd":
            sets[name] = str(BCCD)
    scratch = Path(tempfile.mkdtemp(prefix="bench-", dir=args.workdir))
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"runs": []}
    for name, path in sets.items():
        for task in tasks:
            if task == "score" and name == "synthetic" and not args.score_synthetic:
                continue
            for where in args.workers.split(","):
                for r in range(args.repeat):
                    run = timed(command(task, path, where, scratch))
                    run.update(dataset=name, task=task, workers=where, repeat=r,
                               images=args.synthetic if name == "synthetic" else 364,
                               cpus=os.cpu_count(),
                               when=time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()))
                    print(json.dumps(run), flush=True)
                    results["runs"].append(run)
                    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
            if task == "score":  # each run's scores against the in-process run's, in any order
                here = scratch / f"scores-{Path(path).name}-in-process.json"
                for run in results["runs"][-len(args.workers.split(",")) * args.repeat:]:
                    run["same_as_in_process"] = same_scores(
                        here, scratch / f"scores-{Path(path).name}-{_slug(run['workers'])}.json")
                    print(f"{run['workers']}: same as in-process: {run['same_as_in_process']}")
                RESULTS.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
