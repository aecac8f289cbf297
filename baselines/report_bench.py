"""Time the QC report's rendering (HTML and JSON) on the real BCCD set and on a synthetic
20,000-box set (the findings table and the scatter at their caps), against the report of an
earlier commit run in the same process, the two interleaved call by call so that a busy
machine slows both alike. Reading the data and running the checks are not timed.

    .venv/bin/python baselines/report_bench.py --against aeda538 [--repeat 15]

--against loads that commit's annokit/report.py (the f-string report, before the templates)
from git. Each figure is the median of --repeat calls of report(...) into a temporary folder:
wall and CPU seconds and minor page faults, with the load average beside them. The first
call of each (imports, template compilation) is recorded apart, and --fresh N new processes
per report time the single report a command makes (BCCD's HTML, imports and template
compilation included). Results are appended to baselines/report_results.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import types
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


def report_at(commit: str):
    """``report`` of ``annokit/report.py`` at ``commit``, loaded beside today's package."""
    source = subprocess.run(["git", "show", f"{commit}:annokit/report.py"], cwd=HERE,
                            capture_output=True, text=True, check=True).stdout
    module = types.ModuleType(f"annokit._report_{commit}")
    module.__package__, module.__file__ = "annokit", str(HERE.parent / "annokit" / "report.py")
    exec(compile(source, f"{commit}:annokit/report.py", "exec"), module.__dict__)
    return module.report


def _figures(walls: list[float], cpus: list[float], faults: list[int], path: Path) -> dict:
    return {"first_wall_s": round(walls[0], 4), "wall_s": round(statistics.median(walls[1:]), 4),
            "cpu_s": round(statistics.median(cpus[1:]), 4),
            "cpu_min_s": round(min(cpus[1:]), 4),
            "minor_page_faults": int(statistics.median(faults[1:])),
            "bytes": path.stat().st_size}


def _faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def interleaved(reports: dict, ds, found, folder: Path, ext: str, repeat: int) -> dict:
    """Each report function called ``repeat`` + 1 times, taking turns; figures per name."""
    times = {name: ([], [], []) for name in reports}
    for _ in range(repeat + 1):
        for name, func in reports.items():
            wall, cpu, faults = time.perf_counter(), time.process_time(), _faults()
            func(ds, found, folder / f"{name}.{ext}")
            times[name][0].append(time.perf_counter() - wall)
            times[name][1].append(time.process_time() - cpu)
            times[name][2].append(_faults() - faults)
    out = {name: _figures(*times[name], folder / f"{name}.{ext}") for name in reports}
    out["load_avg"] = round(os.getloadavg()[0], 2)
    return out


def one_fresh(which: str, against: str) -> None:
    """A single HTML report of BCCD in this (fresh) process, as `annokit check --html` makes
    one: imports, template compilation and all. Prints CPU and wall seconds as JSON."""
    ds, found = bccd()
    func = report_at(against) if which == "f-strings" else annokit.report
    with tempfile.TemporaryDirectory() as tmp:
        wall, cpu = time.perf_counter(), time.process_time()
        func(ds, found, Path(tmp) / "r.html")
        print(json.dumps({"cpu_s": time.process_time() - cpu,
                          "wall_s": time.perf_counter() - wall}))


def fresh(against: str, runs: int) -> dict:
    """``runs`` fresh processes for each report, taking turns: mean CPU and wall seconds."""
    times = {"f-strings": [], "templates": []}
    for _ in range(runs):
        for which in times:
            done = subprocess.run([sys.executable, __file__, "--one", which, "--against",
                                   against], capture_output=True, text=True, check=True)
            times[which].append(json.loads(done.stdout.splitlines()[-1]))
    return {which: {k: round(statistics.mean(t[k] for t in got), 4) for k in ("cpu_s", "wall_s")}
            for which, got in times.items()} | {"runs": runs,
                                                 "load_avg": round(os.getloadavg()[0], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default="aeda538",
                        help="the commit whose annokit/report.py is timed beside today's")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--fresh", type=int, default=6,
                        help="fresh processes per report for the first-render figures")
    parser.add_argument("--raise-mmap-threshold", action="store_true",
                        help="free one 4 MB block first: glibc then serves Pillow's 1.2 MB "
                             "image buffers from the heap instead of fresh, faulting mmaps")
    parser.add_argument("--one", choices=("f-strings", "templates"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.raise_mmap_threshold:
        block = bytearray(4 << 20)  # allocated and freed: glibc's dynamic threshold rises
        del block
    if args.one:
        return one_fresh(args.one, args.against)
    reports = {f"f-strings@{args.against}": report_at(args.against),
               "templates": annokit.report}
    run = {"python": platform.python_version(), "cpus": os.cpu_count(), "repeat": args.repeat,
           "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "raise_mmap_threshold": args.raise_mmap_threshold}
    run["bccd.html first render, fresh process"] = fresh(args.against, args.fresh)
    print(f"first render: {json.dumps(run['bccd.html first render, fresh process'])}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, make in (("bccd", bccd), ("synthetic_20k", synthetic)):
            ds, found = make()
            for ext in ("html", "json"):
                figures = interleaved(reports, ds, found, Path(tmp), ext, args.repeat)
                old, new = (figures[n]["cpu_s"] for n in reports)
                figures["cpu_ratio"] = round(new / old, 3)
                run[f"{name}.{ext}"] = figures
                print(f"{name:>14} {ext:>4}: {json.dumps(figures)}")
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"runs": []}
    results["runs"].append(run)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
