"""Detection mAP: pycocotools against faster-coco-eval as annokit's engine, same numbers?

On a synthetic set (tests/eval_synthetic.py: id gaps, crowds, empty images, tied scores) of
``--images`` images, times for each engine:

- ``engine``: COCOeval evaluate + accumulate + summarize on COCO objects already built;
- ``annokit``: annokit.evaluate.detection_metrics from the Dataset model (building the
  COCO dicts in memory included);

and the largest difference of the twelve figures and of per-class AP between the engines.
Results go to baselines/eval_results.json (and are quoted in baselines/README.md).

    .venv/bin/python baselines/eval_bench.py --images 5000 --iou-type bbox
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from eval_synthetic import synthetic_pair  # noqa: E402

from annokit.evaluate import STATS, detection_metrics  # noqa: E402
from annokit.evaluate.detection import _evaluate  # noqa: E402
from annokit.model import Dataset  # noqa: E402


def _datasets(gt: dict, results: list) -> tuple[Dataset, Dataset]:
    import pandas as pd

    def frame(records):
        out = pd.DataFrame(records)
        box = np.array([r["bbox"] for r in records], dtype=float).reshape(-1, 4)
        out[["x", "y", "w", "h"]] = box
        return out.drop(columns="bbox")

    cats, images = pd.DataFrame(gt["categories"]), pd.DataFrame(gt["images"])
    return Dataset(cats, images, frame(gt["annotations"])), Dataset(cats, images, frame(results))


def _engine_only(gt: dict, results: list, iou_type: str, engine: str) -> tuple[float, object]:
    import copy

    gt, results = copy.deepcopy(gt), copy.deepcopy(results)
    start = time.perf_counter()
    evaluator = _evaluate(gt, results, iou_type, engine)
    return time.perf_counter() - start, evaluator


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--iou-type", default="bbox", choices=["bbox", "segm"])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--out", default=str(HERE / "eval_results.json"))
    args = parser.parse_args()

    gt, results = synthetic_pair(args.images, args.seed, masks=args.iou_type == "segm")
    truth, pred = _datasets(gt, results)
    row = {"images": args.images, "gt_boxes": len(gt["annotations"]),
           "predictions": len(results), "iou_type": args.iou_type, "seed": args.seed,
           "machine": f"{platform.machine()}, {platform.python_version()}"}
    figures = {}
    for engine in ("pycocotools", "faster-coco-eval"):
        times, full = [], []
        for _ in range(args.repeat):
            seconds, _ = _engine_only(gt, results, args.iou_type, engine)
            times.append(seconds)
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                m = detection_metrics(truth, pred, iou_type=args.iou_type, engine=engine)
            full.append(time.perf_counter() - start)
        figures[engine] = m
        row[engine] = {"engine_s": round(min(times), 2), "annokit_s": round(min(full), 2),
                       "AP": m["AP"], "AP50": m["AP50"]}
        print(engine, row[engine], flush=True)
    a, b = figures["pycocotools"], figures["faster-coco-eval"]
    row["max_abs_diff_stats"] = float(np.nanmax(np.abs(
        np.array([a[k] for k in STATS]) - np.array([b[k] for k in STATS]))))
    row["max_abs_diff_per_class_ap"] = float(np.nanmax(np.abs(
        a["per_class"]["AP"].to_numpy() - b["per_class"]["AP"].to_numpy())))
    row["speedup_engine"] = round(row["pycocotools"]["engine_s"]
                                  / row["faster-coco-eval"]["engine_s"], 1)
    row["speedup_annokit"] = round(row["pycocotools"]["annokit_s"]
                                   / row["faster-coco-eval"]["annokit_s"], 1)
    print(json.dumps(row, indent=2))
    out = Path(args.out)
    rows = json.loads(out.read_text()) if out.exists() else []
    rows = [r for r in rows if (r["images"], r["iou_type"], r["seed"]) !=
            (row["images"], row["iou_type"], row["seed"])] + [row]
    out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
