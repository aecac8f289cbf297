"""annokit.edit at scale: merge two 500k-image COCO files, diff two versions of 1M boxes.

Synthetic data (fixed seed, written under baselines/_work/edit):

- merge: A and B, ``--images`` images each (file names ``%012d.jpg``, COCO's common sizes),
  Poisson(2) boxes per image. B shares A's first half of file names (same sizes: the same
  images, no files on disk, so they are compared by size), half of B's boxes on a shared
  image repeat A's exactly (exact duplicates to drop); B's class names are A's in another
  case for half of them (joined with ``--fold-names``) plus 10 of its own, ids shifted.
- diff: ``--diff-boxes`` boxes over images of 8 boxes each; the new version has 1% of the
  boxes relabelled, 1% moved by a few pixels, 1% removed, 1% added, and every annotation
  id renumbered (so the IoU matching runs; ``--match id`` is timed on the old ids too).

Each CLI run is a fresh process (wall time, CPU time and peak RSS of that process from
``os.wait4``), with the 1-minute load average at its start: this 2-core machine is shared.
The library calls (``merge``, ``diff``) are also timed in-process, apart from reading.

    .venv/bin/python baselines/edit_bench.py                       # 500k images, 1M boxes
    .venv/bin/python baselines/edit_bench.py --images 20000 --diff-boxes 50000   # quick
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import orjson

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PYTHON = sys.executable
SIZES = [(640, 480), (640, 427), (480, 640), (500, 375), (427, 640), (1280, 720)]
SIZE_P = [0.4, 0.25, 0.1, 0.1, 0.05, 0.1]

LAUNCHER = """
import json, os, sys, time
t0 = time.perf_counter()
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, ru = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    json.dump({"wall_s": time.perf_counter() - t0, "maxrss_kib": ru.ru_maxrss,
               "cpu_s": ru.ru_utime + ru.ru_stime, "rc": os.waitstatus_to_exitcode(status)}, f)
"""


def timed_cli(args: list[str], log: Path) -> dict:
    """``annokit ARGS`` in a fresh process: wall s, CPU s, peak RSS MiB, exit code."""
    stats = log.with_suffix(".rusage.json")
    stats.unlink(missing_ok=True)  # never read a previous run's figures
    load = os.getloadavg()[0]
    with open(log, "wb") as out:
        subprocess.run([PYTHON, "-S", "-c", LAUNCHER, str(stats), PYTHON, "-m", "annokit",
                        *args], stdout=out, stderr=subprocess.STDOUT, cwd=REPO, check=False)
    r = json.loads(stats.read_text())
    return {"wall_s": round(r["wall_s"], 2), "cpu_s": round(r["cpu_s"], 2),
            "peak_mib": round(r["maxrss_kib"] / 1024), "rc": r["rc"], "load1": round(load, 2)}


def timed(func, *args, **kwargs):
    load = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    out = func(*args, **kwargs)
    return out, {"wall_s": round(time.perf_counter() - wall, 2),
                 "cpu_s": round(time.process_time() - cpu, 2), "load1": round(load, 2)}


# -- data --------------------------------------------------------------------------------

def boxes(rng, n_per_image: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """x, y, w, h inside each image (two decimals), one row per box."""
    wh = np.repeat(sizes, n_per_image, axis=0).astype(float)
    side = np.exp(rng.uniform(np.log(0.02), np.log(0.8), (len(wh), 2))) * wh
    xy = rng.uniform(0, 1, (len(wh), 2)) * (wh - side)
    return np.round(np.hstack([xy, side]), 2)


def coco_text(images: dict, anns: dict, cats: list[dict]) -> bytes:
    """The COCO document, built as text column by column (orjson for the small parts)."""
    image_lines = [f'{{"id":{i},"file_name":"{f}","width":{w},"height":{h}}}'
                   for i, f, w, h in zip(images["id"].tolist(), images["file_name"],
                                         images["width"].tolist(), images["height"].tolist())]
    b = anns["bbox"].tolist()
    ann_lines = [f'{{"id":{i},"image_id":{m},"category_id":{c},"bbox":[{x},{y},{w},{h}],'
                 f'"area":{round(w * h, 2)},"iscrowd":0}}'
                 for i, m, c, (x, y, w, h) in zip(anns["id"].tolist(), anns["image_id"].tolist(),
                                                  anns["category_id"].tolist(), b)]
    return (b'{"images":[' + ",".join(image_lines).encode() + b'],"annotations":['
            + ",".join(ann_lines).encode() + b'],"categories":' + orjson.dumps(cats) + b"}")


def merge_inputs(n: int, work: Path, seed: int = 0) -> tuple[Path, Path, dict]:
    rng = np.random.default_rng(seed)
    names = [f"class_{i:02d}" for i in range(80)]
    cats_a = [{"id": i + 1, "name": n_, "supercategory": "thing"} for i, n_ in enumerate(names)]
    cats_b = [{"id": i + 11, "name": n_.upper() if i % 2 else n_, "supercategory": "thing"}
              for i, n_ in enumerate(names)] + \
        [{"id": 100 + i, "name": f"extra_{i}", "supercategory": "thing"} for i in range(10)]
    size_a = np.array(SIZES)[rng.choice(len(SIZES), n, p=SIZE_P)]
    files_a = [f"{i:012d}.jpg" for i in range(n)]
    half = n // 2
    files_b = files_a[:half] + [f"{i:012d}.jpg" for i in range(n, n + n - half)]
    size_b = np.vstack([size_a[:half], np.array(SIZES)[rng.choice(len(SIZES), n - half,
                                                                   p=SIZE_P)]])
    count_a = rng.poisson(2, n)
    box_a = boxes(rng, count_a, size_a)
    cls_a = rng.integers(1, 81, len(box_a))
    count_b = rng.poisson(2, n)
    box_b = boxes(rng, count_b, size_b)
    cls_b = rng.integers(0, 90, len(box_b))
    cls_b = np.array([c["id"] for c in cats_b])[cls_b]
    # on shared images, half of B's boxes repeat one of A's on the same image
    img_a = np.repeat(np.arange(n), count_a)
    img_b = np.repeat(np.arange(n), count_b)
    first_a = np.concatenate([[0], np.cumsum(count_a)[:-1]])
    first_b = np.concatenate([[0], np.cumsum(count_b)[:-1]])
    rank = np.arange(len(box_b)) - first_b[img_b]  # the k-th box of B repeats A's k-th
    repeat = (img_b < half) & (rank < count_a[img_b]) & (rng.random(len(box_b)) < 0.5)
    src = first_a[img_b[repeat]] + rank[repeat]
    box_b[repeat] = box_a[src]
    cls_b[repeat] = cls_a[src] + 10  # the same class: B's ids are A's + 10
    a = work / "merge_a.json"
    b = work / "merge_b.json"
    a.write_bytes(coco_text(
        {"id": np.arange(1, n + 1), "file_name": files_a, "width": size_a[:, 0],
         "height": size_a[:, 1]},
        {"id": np.arange(1, len(box_a) + 1), "image_id": img_a + 1, "category_id": cls_a,
         "bbox": box_a}, cats_a))
    b.write_bytes(coco_text(
        {"id": np.arange(1, n + 1), "file_name": files_b, "width": size_b[:, 0],
         "height": size_b[:, 1]},
        {"id": np.arange(1, len(box_b) + 1), "image_id": img_b + 1, "category_id": cls_b,
         "bbox": box_b}, cats_b))
    return a, b, {"images_each": n, "boxes_a": int(len(box_a)), "boxes_b": int(len(box_b)),
                  "shared_images": half, "repeated_boxes": int(repeat.sum()),
                  "mb_a": round(a.stat().st_size / 2**20, 1),
                  "mb_b": round(b.stat().st_size / 2**20, 1)}


def diff_inputs(n_boxes: int, work: Path, seed: int = 1) -> tuple[Path, Path, dict]:
    rng = np.random.default_rng(seed)
    n_images = max(1, n_boxes // 8)
    sizes = np.array(SIZES)[rng.choice(len(SIZES), n_images, p=SIZE_P)]
    count = np.full(n_images, 8)
    count[-1] += n_boxes - count.sum()
    box = boxes(rng, count, sizes)
    cls = rng.integers(1, 81, len(box))
    img = np.repeat(np.arange(1, n_images + 1), count)
    k = len(box) // 100
    pick = rng.permutation(len(box))
    relabel, move, remove = pick[:k], pick[k:2 * k], pick[2 * k:3 * k]
    new_box, new_cls = box.copy(), cls.copy()
    new_cls[relabel] = (cls[relabel] % 80) + 1
    new_box[move, :2] += np.maximum(1.0, 0.05 * new_box[move, 2:])  # IoU stays above 0.5
    keep = np.ones(len(box), bool)
    keep[remove] = False
    # added boxes go to images where nothing was removed or moved: a new box that happened
    # to overlap a removed one at IoU >= 0.5 would rightly count as that box, moved
    touched = np.zeros(n_images + 1, bool)
    touched[img[np.concatenate([move, remove])]] = True
    add_img = rng.choice(np.flatnonzero(~touched[1:]) + 1, k)
    add_box = boxes(rng, np.ones(k, int), sizes[add_img - 1])
    new_box = np.vstack([new_box[keep], add_box])
    new_cls = np.concatenate([new_cls[keep], rng.integers(1, 81, k)])
    new_img = np.concatenate([img[keep], add_img])
    cats = [{"id": i, "name": f"class_{i:02d}"} for i in range(1, 81)]
    images = {"id": np.arange(1, n_images + 1),
              "file_name": [f"{i:012d}.jpg" for i in range(1, n_images + 1)],
              "width": sizes[:, 0], "height": sizes[:, 1]}
    old, new = work / "diff_old.json", work / "diff_new.json"
    old.write_bytes(coco_text(images, {"id": np.arange(1, len(box) + 1), "image_id": img,
                                       "category_id": cls, "bbox": box}, cats))
    new.write_bytes(coco_text(images, {"id": np.arange(1, len(new_box) + 1) + 10**7,
                                       "image_id": new_img, "category_id": new_cls,
                                       "bbox": new_box}, cats))
    return old, new, {"boxes_old": int(len(box)), "boxes_new": int(len(new_box)),
                      "images": n_images, "relabelled": k, "moved": k, "removed": k,
                      "added": k}


# -- runs ---------------------------------------------------------------------------------

def bench_merge(args, work: Path) -> dict:
    import annokit
    from annokit.edit import merge

    (a, b, data), made = timed(merge_inputs, args.images, work)
    row = {"data": data, "generate": made}
    out = work / "merged.json"
    row["cli"] = timed_cli(["merge", str(a), str(b), str(out), "--fold-names", "--overwrite",
                            "-q"], work / "merge.log")
    row["cli_log"] = (work / "merge.log").read_text()[-400:]
    ds_a, row["read_a"] = timed(annokit.read, a)
    ds_b, row["read_b"] = timed(annokit.read, b)
    (merged, notes), row["merge_call"] = timed(merge, [ds_a, ds_b], ["a", "b"],
                                                fold_names=True)
    row["result"] = {"images": len(merged.images), "annotations": len(merged.annotations),
                     "categories": len(merged.categories), "notes": notes[-3:]}
    expected = data["boxes_a"] + data["boxes_b"] - data["repeated_boxes"]
    assert len(merged.annotations) == expected, (len(merged.annotations), expected)
    assert len(merged.images) == 2 * args.images - data["shared_images"]
    return row


def bench_diff(args, work: Path) -> dict:
    import annokit
    from annokit.edit import diff

    (old_p, new_p, data), made = timed(diff_inputs, args.diff_boxes, work)
    row = {"data": data, "generate": made}
    row["cli"] = timed_cli(["diff", str(old_p), str(new_p), "--json", "-q"],
                           work / "diff.log")
    totals = json.loads((work / "diff.log").read_text())["totals"]
    row["cli_totals"] = totals
    old, row["read_old"] = timed(annokit.read, old_p)
    new, row["read_new"] = timed(annokit.read, new_p)
    result, row["diff_iou_call"] = timed(diff, old, new, match="iou")
    t = result.totals()
    row["diff_iou_totals"] = t
    assert (t["relabelled"], t["removed"], t["added"]) == (data["relabelled"], data["removed"],
                                                           data["added"]), t
    _, row["diff_id_call"] = timed(diff, old, old.copy(), match="id")  # same ids: by id
    _, row["diff_equal_iou_call"] = timed(diff, old, old.copy(), match="iou")
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=500_000)
    parser.add_argument("--diff-boxes", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["merge", "diff"], default=None)
    parser.add_argument("--workdir", default=str(HERE / "_work" / "edit"))
    parser.add_argument("--out", default=str(HERE / "edit_results.json"))
    args = parser.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    results = json.loads(Path(args.out).read_text()) if Path(args.out).exists() else {}
    key = f"images={args.images},diff_boxes={args.diff_boxes}"
    entry = results.setdefault(key, {})
    entry["machine"] = (f"{platform.machine()}, {os.cpu_count()} cores, Python "
                        f"{platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M')}")
    if args.only in (None, "merge"):
        entry["merge"] = bench_merge(args, work)
        print(json.dumps(entry["merge"], indent=1), flush=True)
    if args.only in (None, "diff"):
        entry["diff"] = bench_diff(args, work)
        print(json.dumps(entry["diff"], indent=1), flush=True)
    entry["bench_peak_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
