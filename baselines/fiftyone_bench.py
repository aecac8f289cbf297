"""FiftyOne benchmark: building a FiftyOne dataset with annokit against FiftyOne's own importer.

Two measurements, each in a fresh subprocess (wall time, peak RSS via ``os.wait4``), with
FiftyOne's database in a private folder under baselines/_work/ (its MongoDB is started
once, before the timed runs, so every run pays a warm connection only):

    bccd        the real BCCD set (364 images, 4,888 boxes): ``annokit.read`` +
                ``annokit.check`` (no image decoding) + ``annokit.to_fiftyone``, the work of
                ``annokit browse --no-launch``; and ``to_fiftyone`` alone
    synthetic   convert_bench.py's synthetic COCO set (N images, ~7.3 boxes each, COCO's 80
                classes), images hard-linked:
                annokit    ``annokit.read(coco json)`` + ``annokit.to_fiftyone(ds, name)``
                annokit-public  the same with ``bulk=False``: ``fo.Sample.from_dict`` +
                           ``add_samples``, FiftyOne's public API only
                fiftyone   ``fo.Dataset.from_dir(dataset_type=fo.types.COCODetectionDataset,
                           data_path=images, labels_path=json)``

The machine is shared: the load average before and after each run is recorded beside
its time. Results go to baselines/fiftyone_results.json (merged by key).

Example:
    .venv/bin/python baselines/fiftyone_bench.py --bccd
    nohup .venv/bin/python baselines/fiftyone_bench.py --n 50000 > baselines/_work/fo.log 2>&1 &
    .venv/bin/python baselines/fiftyone_bench.py --n 5000 --tools annokit,annokit-public
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / "_work"
RESULTS = HERE / "fiftyone_results.json"
BCCD = REPO.parent / "shared" / "datasets" / "bccd" / "BCCD"


def fiftyone_env() -> dict:
    """FiftyOne settings for every run: private database, no tracking, no old-db warning."""
    env = dict(os.environ)
    env.update(FIFTYONE_DATABASE_DIR=str(WORK / "fiftyone-db"), FIFTYONE_DO_NOT_TRACK="true",
               FIFTYONE_DATABASE_VALIDATION="false", FIFTYONE_SHOW_PROGRESS_BARS="false")
    return env


def synthetic(n: int) -> tuple[Path, Path]:
    """The synthetic COCO json and image folder for ``n`` images (made once)."""
    sys.path.insert(0, str(HERE))
    from convert_bench import link_images, make_coco  # the conversion benchmark's data

    import orjson

    data = WORK / f"fiftyone-n{n}"
    labels, images = data / "instances_train.json", data / "images"
    if not (data / "READY").exists():
        coco = make_coco(n)
        data.mkdir(parents=True, exist_ok=True)
        labels.write_bytes(orjson.dumps(coco))
        link_images([im["file_name"] for im in coco["images"]],
                    [(im["width"], im["height"]) for im in coco["images"]], images,
                    data / "_jpeg")
        (data / "READY").write_text("")
    return labels, images


CHILD = {
    "bccd-browse": """
import annokit
ds = annokit.read({bccd!r})
found = annokit.check(ds, images=False)
fo_ds = annokit.to_fiftyone(ds, "bench-bccd", findings=found, overwrite=True)
assert fo_ds.count("ground_truth.detections") == 4888, fo_ds.count("ground_truth.detections")
""",
    "bccd-build": """
import time, annokit, fiftyone as fo
ds = annokit.read({bccd!r})
t = time.perf_counter()
fo.list_datasets()  # the process's first database connection, timed apart
print("CONNECT", time.perf_counter() - t)
t = time.perf_counter()
fo_ds = annokit.to_fiftyone(ds, "bench-bccd", overwrite=True)
print("BUILD", time.perf_counter() - t)
""",
    "annokit": """
import time, annokit
ds = annokit.read({labels!r}, "coco", image_root={images!r})
t = time.perf_counter()
fo_ds = annokit.to_fiftyone(ds, "bench-annokit", overwrite=True)
print("BUILD", time.perf_counter() - t)
assert len(fo_ds) == {n} and fo_ds.count("ground_truth.detections") == len(ds.annotations)
fo_ds.delete()
""",
    "annokit-public": """
import time, annokit
ds = annokit.read({labels!r}, "coco", image_root={images!r})
t = time.perf_counter()
fo_ds = annokit.to_fiftyone(ds, "bench-annokit-public", overwrite=True, bulk=False)
print("BUILD", time.perf_counter() - t)
assert len(fo_ds) == {n} and fo_ds.count("ground_truth.detections") == len(ds.annotations)
fo_ds.delete()
""",
    "fiftyone": """
import fiftyone as fo
fo_ds = fo.Dataset.from_dir(dataset_type=fo.types.COCODetectionDataset, data_path={images!r},
                            labels_path={labels!r}, name="bench-fiftyone", overwrite=True)
assert len(fo_ds) == {n}
print("BOXES", fo_ds.count("detections.detections"))
fo_ds.delete()
""",
}


def run(tool: str, **values) -> dict:
    """Time one child in a fresh interpreter; return wall, peak RSS and machine load."""
    code = CHILD[tool].format(**values)
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code], env=fiftyone_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    out, err = proc.stdout.read(), proc.stderr.read()
    if status != 0:
        raise SystemExit(f"{tool} failed:\n{err[-3000:]}")
    extra = dict(line.split(" ", 1) for line in out.splitlines()
                 if line.startswith(("BUILD", "BOXES", "CONNECT")))
    result = {"wall_s": round(wall, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
              "peak_rss_mb": round(usage.ru_maxrss / 1024),
              "load_before": [round(v, 2) for v in load_before],
              "load_after": [round(v, 2) for v in os.getloadavg()]}
    if "BUILD" in extra:
        result["build_s"] = round(float(extra["BUILD"]), 2)
    if "CONNECT" in extra:
        result["connect_s"] = round(float(extra["CONNECT"]), 2)
    if "BOXES" in extra:
        result["boxes"] = int(extra["BOXES"])
    print(f"{tool}: {result}", flush=True)
    return result


def warm_database() -> None:
    """Start FiftyOne's MongoDB once so that no timed run pays its start."""
    subprocess.run([sys.executable, "-c", "import fiftyone as fo; fo.list_datasets()"],
                   env=fiftyone_env(), check=True)


def record(key: str, runs: dict) -> None:
    """Merge ``runs`` (tool -> result) into the results under ``key``."""
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    stamp = {"cpus": os.cpu_count(), "python": platform.python_version(),
             "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    merged = results.get(key, {})
    merged.update({tool: {**result, "machine": stamp} for tool, result in runs.items()})
    if "annokit" in merged and "fiftyone" in merged:
        merged["speedup"] = round(merged["fiftyone"]["wall_s"] / merged["annokit"]["wall_s"], 2)
    results[key] = merged
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bccd", action="store_true", help="time the BCCD build")
    parser.add_argument("--n", type=int, default=None, help="synthetic images (e.g. 50000)")
    parser.add_argument("--tools", default="annokit,fiftyone")
    args = parser.parse_args(argv)
    WORK.mkdir(exist_ok=True)
    warm_database()
    if args.bccd:
        record("bccd", {name: run(name, bccd=str(BCCD)) for name in ("bccd-browse", "bccd-build")})
    if args.n:
        labels, images = synthetic(args.n)
        record(f"synthetic-n{args.n}", {
            tool: run(tool, labels=str(labels), images=str(images), n=args.n)
            for tool in args.tools.split(",")})


if __name__ == "__main__":
    main()
