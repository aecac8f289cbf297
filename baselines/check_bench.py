"""Time `annokit.check` on a synthetic set of 1,000,000 boxes, and the image checks on the
real datasets in ../shared/datasets. Records the figures in baselines/check_results.json and
prints a markdown table for baselines/README.md.

    .venv/bin/python baselines/check_bench.py [--boxes 1000000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd

import annokit
from annokit import Dataset

HERE = Path(__file__).parent
SHARED = HERE.parent.parent / "shared" / "datasets"


def synthetic(n_boxes: int, boxes_per_image: int = 10, n_classes: int = 80,
              seed: int = 0) -> Dataset:
    """Images of 640x480 with boxes of long-tailed classes, a few faults sprinkled in."""
    rng = np.random.default_rng(seed)
    n_images = n_boxes // boxes_per_image
    image_id = np.repeat(np.arange(1, n_images + 1), boxes_per_image)
    w = rng.uniform(8, 200, n_boxes).round(2)
    h = (w * rng.lognormal(0, 0.4, n_boxes)).clip(4, 400).round(2)
    x = rng.uniform(0, 640 - w).round(2)
    y = rng.uniform(0, 480 - np.minimum(h, 479)).round(2)
    faults = rng.random(n_boxes) < 0.001  # 0.1% zero-width boxes
    w[faults] = 0
    probs = 1 / np.arange(1, n_classes + 1)
    category = rng.choice(n_classes, n_boxes, p=probs / probs.sum()) + 1
    splits = np.where(rng.random(n_images) < 0.8, "train", "val")
    return Dataset(
        categories=pd.DataFrame({"id": np.arange(1, n_classes + 1),
                                 "name": [f"class_{i}" for i in range(n_classes)]}),
        images=pd.DataFrame({"id": np.arange(1, n_images + 1),
                             "file_name": [f"{i:09d}.jpg" for i in range(n_images)],
                             "width": 640, "height": 480, "split": splits}),
        annotations=pd.DataFrame({"id": np.arange(1, n_boxes + 1), "image_id": image_id,
                                  "category_id": category, "x": x, "y": y, "w": w, "h": h,
                                  "difficult": 0}))


def timed(func, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--boxes", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = []
    ds = synthetic(args.boxes)
    seconds, found = timed(lambda: annokit.check(ds, images=False), args.repeat)
    rows.append({"what": f"all checks but the image-file ones, {args.boxes:,} boxes, "
                         f"{len(ds):,} images", "seconds": round(seconds, 2),
                 "findings": len(found)})
    for name, parts, fmt in (("bccd", ("bccd", "BCCD"), "voc"), ("raccoon", ("raccoon",), "voc")):
        path = SHARED.joinpath(*parts)
        if not path.exists():
            continue
        real = annokit.read(path, fmt)
        seconds, found = timed(lambda real=real: annokit.check(real, checks=["images"]), 1)
        rows.append({"what": f"image checks, {name} ({len(real)} images)",
                     "seconds": round(seconds, 2), "findings": len(found),
                     "by_check": found.groupby("check").size().to_dict()})
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    record = {"date": time.strftime("%Y-%m-%d"), "python": platform.python_version(),
              "cpus": __import__("os").cpu_count(), "peak_mib": round(peak), "runs": rows}
    (HERE / "check_results.json").write_text(json.dumps(record, indent=2) + "\n")
    print("| run | seconds | findings |\n|---|---|---|")
    for row in rows:
        print(f"| {row['what']} | {row['seconds']} | {row['findings']} |")
    print(f"\npeak memory {peak:.0f} MiB")


if __name__ == "__main__":
    main()
