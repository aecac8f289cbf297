"""Which way to write samples into FiftyOne: annokit's one internal against public calls.

``annokit.to_fiftyone`` on fiftyone_bench.py's synthetic COCO set (N images, ~7.3 boxes each),
in one process with FiftyOne's MongoDB already started, each path twice, alternating:

    bulk      documents in FiftyOne's stored layout inserted into the sample collection
              (``store._insert_documents``: ``_doc.id``, ``_sample_collection``,
              ``fiftyone.core.odm.insert_documents``)
    public    ``bulk=False``: ``fo.Sample.from_dict`` + ``add_samples`` (public API only)
    set       public calls with the same documents: ``add_samples`` of samples without
              labels, then ``set_values(field, documents, validate=False)`` per label field

Wall and CPU seconds of this process (MongoDB's own CPU is not in it) and the 1-minute load
go to fiftyone_results.json under ``write-paths-n<N>``.

Example:
    PYTHONPATH=. .venv/bin/python baselines/fiftyone_write_paths.py --n 5000
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from fiftyone_bench import fiftyone_env, record, synthetic  # noqa: E402

os.environ.update(fiftyone_env())
import fiftyone as fo  # noqa: E402

import annokit  # noqa: E402
from annokit.integrations.fiftyone import build, store  # noqa: E402
from annokit.integrations.fiftyone.documents import public  # noqa: E402


def set_values_path(fo, fo_ds, docs, fields, *, bulk, batch_size):
    """Samples without labels through add_samples, then each label field by set_values."""
    fo_ds.media_type = "image"
    for name, values in fields.items():
        kind = next(iter(values.values()))["_cls"]
        fo_ds.add_sample_field(name, fo.EmbeddedDocumentField,
                               embedded_doc_type=getattr(fo, kind))
    shells = [fo.Sample.from_dict(public({k: v for k, v in d.items() if k not in fields}))
              for d in docs]
    fo_ds.add_samples(shells, dynamic=True, progress=False)
    for name in fields:
        fo_ds.set_values(name, [d.get(name) for d in docs], validate=False,
                         expand_schema=False)
    fo_ds.add_dynamic_sample_fields()


def timed(ds, path: str) -> dict:
    build.add_samples = set_values_path if path == "set" else store.add_samples
    wall, cpu = time.perf_counter(), time.process_time()
    fo_ds = annokit.to_fiftyone(ds, f"paths-{path}", overwrite=True, bulk=path != "public")
    result = {"wall_s": round(time.perf_counter() - wall, 2),
              "cpu_s": round(time.process_time() - cpu, 2),
              "load_1min": round(os.getloadavg()[0], 2)}
    assert fo_ds.count("ground_truth.detections") == len(ds.annotations)
    fo_ds.delete()
    print(path, result, flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--paths", default="bulk,public,set")
    args = parser.parse_args()
    labels, images = synthetic(args.n)
    fo.list_datasets()  # MongoDB started before the timed builds
    ds = annokit.read(labels, "coco", image_root=images)
    paths = args.paths.split(",")
    runs = {p: [] for p in paths}
    for _ in range(2):
        for p in paths:
            runs[p].append(timed(ds, p))
    record(f"write-paths-n{args.n}", {p: {"runs": r, "boxes": len(ds.annotations)}
                                      for p, r in runs.items()})


if __name__ == "__main__":
    main()
