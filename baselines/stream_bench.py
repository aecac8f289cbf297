"""Memory and time of ways to read a large COCO file into columns, and of `convert coco yolo`.

Each run is a fresh process (spawned through convert_bench's small launcher, so its peak
RSS is its own); wall s, CPU s (user + sys) and peak MiB are recorded with the 1-minute
load average, in ``stream_results.json``. The input is ``make_big_coco.py``'s synthetic
file (never committed).

    python baselines/stream_bench.py decoders --n 500000
    python baselines/stream_bench.py convert --n 50000 500000 --tools floor-json,floor,annokit

``decoders``: each reader fills the same columns (image id, width, height, file name;
annotation id, image id, category id, x, y, w, h) and nothing else is kept:

- ``json`` / ``orjson``: the whole document, then a list comprehension per column;
- ``msgspec-struct``: the whole document decoded into typed Structs (no dicts), then columns;
- ``msgspec-raw+orjson``: msgspec finds each record's bytes (``list[msgspec.Raw]``) and
  orjson parses 50k records at a time into columns (what annokit's reader does);
- ``ijson``: the yajl2_c backend streaming ``images.item`` then ``annotations.item``;
- ``simdjson``: pysimdjson's lazy document, fields read per record;
- ``annokit``: ``coco.read`` itself (validation, messages, the Dataset).

ijson and pysimdjson are measured only (``pip install ijson pysimdjson``), not dependencies.

``convert``: ``floor-json`` / ``floor`` are convert_bench's COCO->YOLO floors (stdlib json /
orjson), ``annokit`` is ``annokit.convert(..., images="none")``; output to /dev/shm.

``sources``: VOC and YOLO inputs (convert_bench's ``prepare``: the floors' own outputs with
hard-linked real JPEGs, built once under ``--data``, default /tmp/annokit-stream-bench) read
or converted. Directions: ``voc2coco``, ``yolo2coco`` (convert_bench's floors exist for
these), ``voc2yolo``, ``yolo2yolo``, ``coco2voc`` (the VOC writer), and ``read-voc`` /
``read-yolo`` (``annokit.read`` alone: the reader's own peak). ``--annokit DIR`` runs
another checkout's package (a before/after comparison in one session)::

    python baselines/stream_bench.py sources --n 50000 --tools floor-json,floor,annokit \
        --directions voc2coco,yolo2coco,read-voc,read-yolo
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from convert_bench import LAUNCHER  # noqa: E402
from make_big_coco import big_coco  # noqa: E402

RESULTS = HERE / "stream_results.json"
SCRATCH = Path("/dev/shm/annokit-stream-bench")
DECODERS = ("json", "orjson", "msgspec-struct", "msgspec-raw+orjson", "ijson", "simdjson",
            "annokit")
CONVERTERS = ("floor-json", "floor", "annokit")
DIRECTIONS = ("voc2coco", "yolo2coco", "voc2yolo", "yolo2yolo", "coco2voc", "read-voc",
              "read-yolo")
SOURCE_FORMATS = {"voc2coco": ("voc", "coco"), "yolo2coco": ("yolo", "coco"),
                  "voc2yolo": ("voc", "yolo"), "yolo2yolo": ("yolo", "yolo"),
                  "coco2voc": ("coco", "voc")}
DATA = Path("/tmp/annokit-stream-bench")
CHUNK = 50_000


# -- the children ------------------------------------------------------------------------

def _columns_from_dicts(doc: dict) -> dict:
    import numpy as np

    images, anns = doc["images"], doc["annotations"]
    cols = {"image_id": np.array([r["id"] for r in images]),
            "width": np.array([r["width"] for r in images]),
            "height": np.array([r["height"] for r in images]),
            "file_name": [r["file_name"] for r in images],
            "id": np.array([r["id"] for r in anns]),
            "ann_image_id": np.array([r["image_id"] for r in anns]),
            "category_id": np.array([r["category_id"] for r in anns]),
            "bbox": np.array([r["bbox"] for r in anns], dtype=np.float64)}
    return cols


def _structs() -> dict:
    """Typed records for msgspec (module-level names: the annotations are strings here)."""
    import msgspec

    global Image, Ann, Doc

    class Image(msgspec.Struct, gc=False):
        id: int
        file_name: str
        width: int
        height: int

    class Ann(msgspec.Struct, gc=False):
        id: int
        image_id: int
        category_id: int
        bbox: list[float]

    class Doc(msgspec.Struct, gc=False):
        images: list[Image]
        annotations: list[Ann]

    return {"Doc": Doc}


def decode(how: str, path: Path) -> int:
    """Fill the columns with decoder ``how``; return the number of boxes."""
    import gc

    import numpy as np

    gc.disable()
    if how == "json":
        with open(path, "rb") as f:
            return len(_columns_from_dicts(json.loads(f.read()))["id"])
    if how == "orjson":
        import orjson
        return len(_columns_from_dicts(orjson.loads(path.read_bytes()))["id"])
    if how == "msgspec-struct":
        import msgspec

        doc = msgspec.json.decode(path.read_bytes(), type=_structs()["Doc"])
        ids = np.fromiter((a.id for a in doc.annotations), np.int64, len(doc.annotations))
        np.fromiter((a.image_id for a in doc.annotations), np.int64, len(ids))
        np.fromiter((a.category_id for a in doc.annotations), np.int64, len(ids))
        np.array([a.bbox for a in doc.annotations], dtype=np.float64)
        [i.file_name for i in doc.images]
        return len(ids)
    if how == "msgspec-raw+orjson":
        import msgspec
        import orjson

        top = msgspec.json.decode(path.read_bytes(), type=dict[str, msgspec.Raw])
        n = 0
        parts = []
        for key in ("images", "annotations"):
            items = msgspec.json.decode(top.pop(key), type=list[msgspec.Raw])
            while items:
                chunk = orjson.loads(b"[" + b",".join(items[:CHUNK]) + b"]")
                del items[:CHUNK]
                if key == "annotations":
                    parts.append((np.array([r["id"] for r in chunk]),
                                  np.array([r["bbox"] for r in chunk], dtype=np.float64)))
                    n += len(chunk)
                else:
                    parts.append(([r["file_name"] for r in chunk],))
        return n
    if how == "ijson":
        import ijson
        with open(path, "rb") as f:
            files = [r["file_name"] for r in ijson.items(f, "images.item", use_float=True)]
        with open(path, "rb") as f:
            ids, boxes = [], []
            for r in ijson.items(f, "annotations.item", use_float=True):
                ids.append(r["id"])
                boxes.append(r["bbox"])
        np.array(boxes, dtype=np.float64)
        del files
        return len(ids)
    if how == "simdjson":
        import simdjson
        doc = simdjson.Parser().parse(path.read_bytes())
        files = [r["file_name"] for r in doc["images"]]
        anns = doc["annotations"]
        ids = np.fromiter((r["id"] for r in anns), np.int64)
        np.array([r["bbox"].as_list() for r in anns], dtype=np.float64)
        del files
        return len(ids)
    if how == "annokit":
        from annokit.errors import Problems
        from annokit.formats import coco
        return len(coco.read(path, problems=Problems()).annotations)
    raise ValueError(how)


def convert(tool: str, path: Path, out: Path) -> None:
    if tool == "annokit":
        import annokit
        annokit.convert(path, out, "coco", "yolo", images="none")
        return
    import orjson

    from convert_bench import floor_coco2yolo
    floor_coco2yolo(path, out, json.loads if tool == "floor-json" else orjson.loads)


def convert_source(tool: str, direction: str, data: Path, out: Path) -> None:
    """One run of ``sources``: a floor, or annokit reading (and writing) the prepared data."""
    from convert_bench import data_paths, run_floor

    if tool in ("floor", "floor-json"):
        run_floor(direction, data, out, stdlib=tool == "floor-json")
        return
    import annokit
    paths = data_paths(data)
    if direction.startswith("read-"):
        fmt = direction[5:]
        ds = annokit.read(paths[fmt], fmt)
        print(f"read {len(ds.images)} images, {len(ds.annotations)} boxes")
        return
    src, dst = SOURCE_FORMATS[direction]
    annokit.convert(paths[src], out, src, dst, images="none")


# -- the parent ----------------------------------------------------------------------------

def timed(args: list[str], package: Path = HERE.parent) -> dict:
    stats = SCRATCH / f"rusage-{os.getpid()}.json"  # two benches at once keep theirs apart
    SCRATCH.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0]
    env = {**os.environ, "PYTHONPATH": f"{package}{os.pathsep}{HERE.parent}"}
    subprocess.run([sys.executable, "-S", "-c", LAUNCHER, str(stats), sys.executable,
                    str(Path(__file__).resolve()), "--child", *args], env=env, check=True)
    r = json.loads(stats.read_text())
    return {"wall_s": round(r["wall_s"], 2), "cpu_s": round(r["cpu_s"], 2),
            "peak_mib": round(r["maxrss_kib"] / 1024, 1), "rc": r["rc"],
            "load1": round(load, 2)}


def record(key: str, run: dict) -> None:
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results.setdefault(key, []).append({**run, "at": time.strftime("%Y-%m-%dT%H:%M")})
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")


def main() -> None:
    if sys.argv[1] == "--child":
        kind, name, path = sys.argv[2:5]
        if kind == "decode":
            decode(name, Path(path))
        elif kind == "source":
            convert_source(name, sys.argv[5], Path(path), Path(sys.argv[6]))
        else:
            convert(name, Path(path), Path(sys.argv[5]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("decoders", "convert", "sources"))
    parser.add_argument("--n", type=int, nargs="+", default=[500_000])
    parser.add_argument("--tools", default=None, help="comma-separated decoders or converters")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--directions", default=",".join(DIRECTIONS[:2]))
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--annokit", type=Path, default=HERE.parent,
                        help="the folder holding the annokit package to run")
    parser.add_argument("--label", default="", help="added to the result keys (e.g. 'before')")
    args = parser.parse_args()
    if args.what == "sources":
        sources(args)
        return
    names = args.tools.split(",") if args.tools else (
        DECODERS if args.what == "decoders" else CONVERTERS)
    for n in args.n:
        path = big_coco(n)
        mib = path.stat().st_size / 2**20
        for name in names:
            for _ in range(args.repeat):
                out = SCRATCH / "out"
                shutil.rmtree(out, ignore_errors=True)
                kind = "decode" if args.what == "decoders" else "convert"
                run = timed([kind, name, str(path), str(out)])
                shutil.rmtree(out, ignore_errors=True)
                run.update(n=n, json_mib=round(mib, 1), x_json=round(run["peak_mib"] / mib, 2))
                print(kind, name, run, flush=True)
                record(f"{kind}:{name}:n{n}", run)


def _clear(out: Path) -> None:
    """Remove a run's output: a folder, or the one file a floor writes (COCO JSON)."""
    if out.is_dir():
        shutil.rmtree(out)
    else:
        out.unlink(missing_ok=True)


def sources(args) -> None:
    """Time every tool and direction on the prepared VOC/YOLO data at each size."""
    from convert_bench import prepare

    tools = args.tools.split(",") if args.tools else list(CONVERTERS)
    for n in args.n:
        data = args.data / f"n{n}"
        info = prepare(data, n)
        for direction in args.directions.split(","):
            for tool in tools:
                if tool != "annokit" and direction not in ("voc2coco", "yolo2coco"):
                    continue  # convert_bench has floors for these two only
                for _ in range(args.repeat):
                    out = SCRATCH / f"out-{os.getpid()}"
                    _clear(out)
                    run = timed(["source", tool, str(data), direction, str(out)], args.annokit)
                    _clear(out)
                    run.update(n=n, boxes=info["n_boxes"])
                    label = f":{args.label}" if args.label else ""
                    print(direction, tool + label, run, flush=True)
                    record(f"source:{direction}:{tool}{label}:n{n}", run)


if __name__ == "__main__":
    main()
