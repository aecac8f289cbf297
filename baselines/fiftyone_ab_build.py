"""A/B: ``to_fiftyone`` on BCCD, three builds in one process, for the annokit on PYTHONPATH.

Run it once per checkout, alternating, with FiftyOne's database settings in the environment
(``FIFTYONE_DATABASE_DIR``, ``FIFTYONE_DATABASE_NAME``), e.g.

    for p in ../main .; do PYTHONPATH=$p .venv/bin/python baselines/fiftyone_ab_build.py; done

Prints the checkout, (wall s, CPU s of this process) per build, and the 1-minute load.
"""
import os
import time
from pathlib import Path

import fiftyone as fo

import annokit

BCCD = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "bccd" / "BCCD"


def main() -> None:
    fo.list_datasets()  # MongoDB started before the timed builds
    ds = annokit.read(BCCD)
    found = annokit.check(ds, images=False)
    times = []
    for _ in range(3):
        wall, cpu = time.perf_counter(), time.process_time()
        annokit.to_fiftyone(ds, "ab-build", findings=found, overwrite=True)
        times.append((round(time.perf_counter() - wall, 2), round(time.process_time() - cpu, 2)))
    checkout = Path(annokit.__file__).parents[1].name
    print(f"{checkout}: (wall s, cpu s) per build {times}; load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
