"""Time the QC report's rendering (HTML and JSON) on the real BCCD set and on a synthetic
20,000-box set (the findings table and the scatter at their caps), and record the figures in
baselines/report_results.json under a label (e.g. "f-strings" before the Jinja2 templates,
"templates" after). Reading the data and running the checks are not timed.

    .venv/bin/python baselines/report_bench.py --label templates [--repeat 7]

Each figure is the median of --repeat runs of `annokit.report(...)` into a temporary folder,
wall and CPU seconds, with the load average beside them (the machine is shared).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import annokit
from annokit.checks import check, findings as make_findings

HERE = Path(__file__).parent
SHARED = HERE.parent.parent / "shared" / "datasets"
RESULTS = HERE / "report_results.json"


def bccd() -> tuple[annokit.Dataset, pd.DataFrame]:
    """BCCD (364 images, 4,888 boxes) and its findings; the HTML draws 12 real thumbnails."""
    ds = annokit.read(SHARED / "bccd" / "BCCD", "voc")
    return ds, check(ds)


def synthetic(n_images: int = 2000, n_boxes: int = 20000) -> tuple[annokit.Dataset,
                                                                    pd.DataFrame]:
    """No image files (no thumbnails): the table (5,000 rows) and charts (5,000 dots) dominate."""
    rng = np.random.default_rng(0)
    ds = annokit.Dataset(
        pd.DataFrame({"id": [1, 2, 3], "name": ["big", "mid <b>", "small & co"]}),
        pd.DataFrame({"id": np.arange(1, n_images + 1),
                      "file_name": [f"{i}.jpg" for i in range(n_images)]}),
        pd.DataFrame({"image_id": rng.integers(1, n_images + 1, n_boxes),
                      "category_id": np.repeat([1, 2, 3], [18000, 1990, 10]),
                      "x": 1.0, "y": 1.0, "w": rng.uniform(2, 90, n_boxes),
                      "h": rng.uniform(2, 90, n_boxes)}))
    anns = ds.annotations
    found = pd.concat([
        make_findings("geometry.tiny", "tiny <box>", image_id=anns["image_id"][:9000],
                      annotation_id=np.arange(1, 9001), severity="warning"),
        make_findings("labels.x", "x", image_id=anns["image_id"][:2990], severity="info")],
        ignore_index=True)
    return ds, found


def timed(ds, found, path: Path, repeat: int) -> dict:
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        annokit.report(ds, found, path)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return {"wall_s": round(statistics.median(walls), 4),
            "cpu_s": round(statistics.median(cpus), 4),
            "wall_min_s": round(min(walls), 4), "bytes": path.stat().st_size,
            "load_avg": round(os.getloadavg()[0], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", required=True, help="name of this run in the results")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    run = {"annokit": str(Path(annokit.__file__).parent), "python": platform.python_version(),
           "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        for name, make in (("bccd", bccd), ("synthetic_20k", synthetic)):
            ds, found = make()
            for ext in ("html", "json"):
                figures = timed(ds, found, Path(tmp) / f"r.{ext}", args.repeat)
                run[f"{name}.{ext}"] = figures
                print(f"{args.label:>12} {name:>14} {ext:>4}: {figures}")
    results[args.label] = run
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
