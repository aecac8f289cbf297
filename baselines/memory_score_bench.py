"""Peak memory of ``annokit score`` on the hostile datasets of issue 13.3.

Builds each dataset (tests/hostile/big_score.py) in a scratch folder, runs the real
command in a fresh process and records its peak resident memory (getrusage of the child),
wall and CPU seconds and the load average beside them (the machine is shared; times are
noisy, memory is not). Target: peak < 2 GB for each.

    .venv/bin/python baselines/memory_score_bench.py            # all three, ~3 min
    .venv/bin/python baselines/memory_score_bench.py --only far  # one

Results: baselines/memory_score_results.json (a re-run replaces the cases it ran).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "hostile"))
from big_score import far_box, huge_image, tiny_boxes  # noqa: E402

CASES = {"tiny": ("10,000 1x1 boxes on one 128x96 image", lambda r: tiny_boxes(r, 10_000)),
         "far": ("3000x3000 PNG, one box reaching x = 50,000", far_box),
         "huge": ("a 9000x9000 PNG with five boxes", huge_image)}
RESULTS = HERE / "memory_score_results.json"


def measure(data: Path) -> dict:
    """Peak RSS (MB), wall and CPU seconds of ``annokit score data`` in a child process."""
    code = ("import resource, subprocess, sys, time; t = time.time(); p = subprocess.run("
            "sys.argv[1:], capture_output=True, text=True); w = time.time() - t; r = "
            "resource.getrusage(resource.RUSAGE_CHILDREN); print(r.ru_maxrss / 1024, w, "
            "r.ru_utime + r.ru_stime, p.returncode)")
    load = os.getloadavg()[0]
    done = subprocess.run([sys.executable, "-c", code, sys.executable, "-m", "annokit",
                           "score", str(data), "--top", "0", "-q"],
                          capture_output=True, text=True, timeout=3600)
    peak, wall, cpu, rc = done.stdout.split()
    return {"peak_mb": round(float(peak)), "wall_s": round(float(wall), 1),
            "cpu_s": round(float(cpu), 1), "exit": int(rc), "load_avg_1min": round(load, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=list(CASES))
    args = parser.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results.setdefault("after", {})
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.only or list(CASES):
            what, make = CASES[name]
            data = make(Path(scratch) / name)
            got = measure(data)
            got["case"] = what
            results["after"][name] = got
            print(name, got, flush=True)
    results["when"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
