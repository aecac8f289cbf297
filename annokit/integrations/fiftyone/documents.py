"""Samples and labels as plain dicts in FiftyOne's stored layout (``_cls``, ``_id``...).

Building them as dicts costs a fraction of ``fo.Sample``/``fo.Detection`` objects (~150 us a
box, baselines/fiftyone_results.md); ``fo.Sample.from_dict`` reads the same dicts (see
:func:`public`), which is how the public path and the tests use them.
"""
from __future__ import annotations

import random
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from .fields import plain


def _oid():
    from bson import ObjectId

    return ObjectId()


def _common_label(label, tags, extra: dict, attrs: dict, *, legacy_attributes=True) -> dict:
    doc = {"_id": _oid(), "_cls": None, "tags": tags, "label": label}
    if legacy_attributes:
        doc["attributes"] = {}
    doc.update(attrs)
    doc.update((k, v) for k, v in extra.items() if v is not None)
    return doc


def _opt(value):
    """float NaN -> None, numpy -> Python."""
    return None if value is None or value != value else float(value)


def _text(value) -> str | None:
    return value if isinstance(value, str) else None


def _group(table: pd.DataFrame, docs: list[dict], kind: str, list_name: str) -> dict:
    """image id -> the field's document ({'_cls': kind, list_name: [...]})."""
    groups: dict[int, list] = {}
    for image_id, doc in zip(table["image_id"].tolist(), docs):
        groups.setdefault(image_id, []).append(doc)
    return {i: {"_cls": kind, list_name: d} for i, d in groups.items()}


def _rows(table: pd.DataFrame):
    """Each row as a dict of the columns label documents use."""
    cols = [c for c in ("label", "tags", "attrs", "id", "confidence", "quality", "issue",
                        "suggested_label", "findings") if c in table]
    return (dict(zip(cols, values)) for values in zip(*(table[c].tolist() for c in cols)))


def _label_extra(row: dict) -> dict:
    return {"annokit_id": None if pd.isna(row.get("id")) else int(row["id"]),
            "confidence": _opt(row.get("confidence")), "quality": _opt(row.get("quality")),
            "issue": _text(row.get("issue")), "suggested_label": _text(row.get("suggested_label")),
            "findings": row.get("findings") if isinstance(row.get("findings"), list) else None}


def detections(table: pd.DataFrame | None) -> dict | None:
    """image id -> its Detections document, from relative boxes (rx, ry, rw, rh)."""
    if table is None or not len(table):
        return None
    boxes = np.column_stack([table[c].to_numpy(float) for c in ("rx", "ry", "rw", "rh")])
    docs = []
    for box, row in zip(boxes.tolist(), _rows(table)):
        doc = _common_label(row["label"], row["tags"], _label_extra(row), row["attrs"])
        doc["_cls"] = "Detection"
        doc["bounding_box"] = box
        docs.append(doc)
    return _group(table, docs, "Detections", "detections")


def polylines(anns: pd.DataFrame) -> dict | None:
    """image id -> its Polylines document, from the COCO polygons among ``anns``."""
    polygons = anns[anns["segmentation"].map(lambda s: isinstance(s, list) and len(s) > 0)]
    if not len(polygons):
        return None
    docs = []
    for label, ann_id, seg, w, h in zip(polygons["label"], polygons["id"],
                                        polygons["segmentation"], polygons["width"],
                                        polygons["height"]):
        doc = _common_label(label, [], {"annokit_id": int(ann_id)}, {})
        doc.update(_cls="Polyline", closed=True, filled=True,
                   points=[_relative_points(p, w, h) for p in seg])
        docs.append(doc)
    return _group(polygons, docs, "Polylines", "polylines")


def _relative_points(flat, w: float, h: float) -> list[list[float]]:
    xy = np.asarray(flat, dtype=float).reshape(-1, 2) / [w, h]
    return xy.tolist()


def keypoints(table: pd.DataFrame) -> dict | None:
    """image id -> its Keypoints document, one Keypoint per centre point."""
    if not len(table):
        return None
    docs = []
    for row, x, y in zip(_rows(table), table["rx"], table["ry"]):
        doc = _common_label(row["label"], row["tags"], _label_extra(row), row["attrs"])
        doc.update(_cls="Keypoint", points=[[float(x), float(y)]])
        score = doc.get("confidence")  # a Keypoint holds one confidence per point
        doc["confidence"] = None if score is None else [score]
        docs.append(doc)
    return _group(table, docs, "Keypoints", "keypoints")


def classifications(table: pd.DataFrame | None) -> dict | None:
    """image id -> its Classifications document (image-level labels)."""
    if table is None or not len(table):
        return None
    docs = []
    for row in _rows(table):
        doc = _common_label(row["label"], row["tags"], _label_extra(row), row["attrs"],
                            legacy_attributes=False)
        doc["_cls"] = "Classification"
        docs.append(doc)
    return _group(table, docs, "Classifications", "classifications")


def sample_docs(images: pd.DataFrame, fields: dict, source: pd.DataFrame,
                extra: dict) -> list[dict]:
    """One sample document per placed image, in the order of ``images``; ``source`` is
    ``ds.images`` (its pass-through columns ``extra`` become sample fields)."""
    ids = images["id"].tolist()
    per_field = {name: [values.get(i) for i in ids] for name, values in fields.items()}
    now = datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
    rows = images["row"].to_numpy()
    columns = {field: [plain(v) for v in source[column].to_numpy(object)[rows].tolist()]
               for column, field in extra.items()}
    docs = []
    for k, (image_id, path, name, split, w, h, tags, n, quality) in enumerate(zip(
            ids, images["filepath"], images["file_name"], images["split"], images["width"],
            images["height"], images["tags"], images["n_findings"], images["quality"])):
        lines = images["findings"].iat[k]
        doc = {"_id": _oid(), "filepath": path, "tags": list(tags), "_media_type": "image",
               "_rand": random.random() * 0.001 + 0.999, "created_at": now,
               "last_modified_at": now, "annokit_id": int(image_id), "file_name": name,
               "n_findings": int(n)}
        if w == w and h == h:
            doc["metadata"] = {"_cls": "ImageMetadata", "width": int(w), "height": int(h)}
        if isinstance(split, str):
            doc["split"] = split
        if quality == quality:
            doc["quality"] = float(quality)
        if isinstance(lines, list):
            doc["findings"] = lines
        for field, values in columns.items():
            if values[k] is not None:
                doc[field] = values[k]
        for field, values in per_field.items():
            if isinstance(values[k], dict):
                doc[field] = values[k]
        docs.append(doc)
    return docs


def public(doc: dict) -> dict:
    """A sample document as ``fo.Sample.from_dict`` takes it (no database-only keys).

    Example:
        >>> public({"_id": 1, "_rand": 0.5, "filepath": "/a.jpg", "tags": []})
        {'filepath': '/a.jpg', 'tags': []}
    """
    return {k: v for k, v in doc.items() if k not in ("_id", "_media_type", "_rand",
                                                        "created_at", "last_modified_at")}
