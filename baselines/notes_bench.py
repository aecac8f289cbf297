"""What the one notes channel costs a reader: N skipped records through Problems.skip and
back as lines (annokit.notes), in CPU seconds, beside the load average.

    PYTHONPATH=. python baselines/notes_bench.py [N]        # prints one JSON line

Run it once against this checkout and once against a checkout before the notes channel
(PYTHONPATH=/path/to/other) to compare; results in notes_results.md.
"""
from __future__ import annotations

import json
import os
import resource
import sys
import time

import annokit
from annokit.errors import FormatError, Problems


def main(n: int) -> dict:
    errors = [FormatError("labels/a.txt", "expected 5 fields, got 4", place=f"line {i}")
              for i in range(n)]
    load = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    problems = Problems()
    for error in errors:
        problems.skip(error)
    lines = problems.messages()
    assert len(lines) == n
    return {"checkout": os.path.dirname(os.path.dirname(annokit.__file__)), "records": n,
            "cpu_s": round(time.process_time() - cpu, 3),
            "wall_s": round(time.perf_counter() - wall, 3), "load_before": round(load, 1),
            "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)))
