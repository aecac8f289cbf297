"""Time and peak memory of annokit on the large hostile inputs of issue 7.12.

    .venv/bin/python baselines/hostile_bench.py            # writes baselines/hostile_results.json

A 100 MB VOC file (926k objects) must stay within a few times its size; a labels.txt of
100,000 names must be read in linear time; each absurd-number case of the hostile corpus
(points 7.9-7.11) must end in about the start-up time and memory. Each run is a fresh
``annokit`` process.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "hostile"))
from big import huge_voc, many_labels  # noqa: E402
from corpus import CASES, write_case  # noqa: E402


def measure(*args: str, cwd: Path) -> dict:
    """Wall time and peak RSS (MB) of one ``annokit`` run in a fresh process."""
    code = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
            "p = subprocess.run(sys.argv[1:], capture_output=True); "
            "print(time.perf_counter() - t, "
            "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, p.returncode)")
    out = subprocess.run([sys.executable, "-c", code, sys.executable, "-m", "annokit", *args],
                         cwd=cwd, capture_output=True, text=True, check=True).stdout.split()
    return {"seconds": round(float(out[0]), 2), "peak_mb": round(float(out[1]), 1),
            "exit": int(out[2])}


def main() -> None:
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        results["startup (annokit --version)"] = measure("--version", cwd=tmp)
        huge_voc(tmp / "voc100", megabytes=100)
        size = (tmp / "voc100" / "Annotations" / "a.xml").stat().st_size / (1 << 20)
        results[f"info on one {size:.0f} MB VOC file"] = measure("info", "voc100", "-q", cwd=tmp)
        many_labels(tmp / "labels")
        results["info on VOC with 100,000 names in labels.txt"] = measure(
            "info", "labels", "-q", cwd=tmp)
        for case in [c for c in CASES if c.point in ("7.9", "7.10", "7.11")]:
            root = write_case(case, tmp / "cases" / case.name)
            results[f"{case.point} {case.name}"] = measure(*map(str, case.args), cwd=root)
    (HERE / "hostile_results.json").write_text(json.dumps(results, indent=2) + "\n")
    for name, figures in results.items():
        print(f"{name}: {figures['seconds']} s, {figures['peak_mb']} MB peak, "
              f"exit {figures['exit']}")


if __name__ == "__main__":
    main()
