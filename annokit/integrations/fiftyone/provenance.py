"""What a FiftyOne dataset was built from, so that an export never writes over or into it."""
from __future__ import annotations

import os

from ...model import Dataset
from .fields import INFO


def provenance(ds: Dataset, predictions: Dataset | None, scores) -> dict:
    """What the FiftyOne dataset is built from, as resolved paths: the annotation files or
    folders, the image folders, the predictions and the scores file. fiftyone-export
    never writes over or into any of them.

    Example:
        >>> from annokit import Dataset
        >>> record = provenance(Dataset(meta={"image_root": "/data/img"}), None, None)
        >>> record["image_roots"] == [os.path.realpath("/data/img")], record["scores"]
        (True, None)
    """
    def real(path) -> str | None:
        return None if path is None else os.path.realpath(os.fspath(path))

    roots = [ds.meta.get("image_root"), *(ds.meta.get("split_roots") or {}).values()]
    source = ds.meta.get("source_path")  # a str; a list from older code is taken too
    sources = list(source) if isinstance(source, (list, tuple)) else [source]
    return {"annotations": [real(p) for p in sources if p],
            "image_roots": sorted({real(p) for p in roots if p}),
            "predictions": real(predictions.meta.get("source_path"))
            if predictions is not None else None,
            "scores": real(scores) if isinstance(scores, (str, os.PathLike)) else None}


def protected_paths(fo_dataset) -> tuple[str, ...]:
    """The paths an export of ``fo_dataset`` must never write over or into: what annokit
    recorded it was built from (``info['annokit']['provenance']``, the image root) and,
    whatever built it, the folders of its samples' images.

    Example:
        >>> protected_paths(fo.load_dataset("annokit-BCCD"))  # doctest: +SKIP
        ('/data/BCCD', '/data/BCCD/JPEGImages')
    """
    info = dict((fo_dataset.info or {}).get(INFO) or {})
    record = info.get("provenance") or {}
    paths = [*(record.get("annotations") or []), *(record.get("image_roots") or []),
             record.get("predictions"), record.get("scores"), info.get("source_path"),
             info.get("image_root"), *(info.get("split_roots") or {}).values()]
    folders = {os.path.dirname(p) for p in fo_dataset.distinct("filepath")
               if isinstance(p, str) and p}
    found = {os.path.realpath(p) for p in paths if isinstance(p, str) and p}
    return tuple(sorted(found | {os.path.realpath(f) for f in folders if f}))
