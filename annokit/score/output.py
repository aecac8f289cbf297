"""The scores as a COCO JSON document: the dataset, with ``quality``/``issue``/suggestions
on every annotation, ``quality`` on every image, overlooked candidates as extra
annotations (fresh ids above the largest input id). Input ids and boxes are kept.

Example:
    >>> data = orjson.loads(coco_json(ds, result))  # doctest: +SKIP
    >>> data["annotations"][0]["quality"]           # doctest: +SKIP
    0.97
"""
from __future__ import annotations

import numpy as np
import orjson
import pandas as pd

from ..formats.coco import to_dict
from ..model import Dataset

SCORE_KEYS = ("quality", "issue", "suggested_category_id", "suggested_bbox")


def _suggested_boxes(table: pd.DataFrame) -> list:
    xywh = table[["suggested_x", "suggested_y", "suggested_w", "suggested_h"]].to_numpy(
        np.float64)
    ok = np.isfinite(xywh).all(axis=1)
    return [b if k else None for b, k in zip(xywh.tolist(), ok.tolist())]


def _scored(ds: Dataset, result) -> Dataset:
    """``ds`` with the score columns on its annotations and images, candidates appended."""
    table = result.annotations
    n = len(ds.annotations)
    anns = ds.annotations.drop(columns=[c for c in SCORE_KEYS if c in ds.annotations])
    own = table.iloc[:n]
    anns["quality"] = own["quality"].to_numpy()
    anns["issue"] = own["issue"].to_numpy()
    anns["suggested_category_id"] = own["suggested_category_id"].array
    anns["suggested_bbox"] = pd.Series(_suggested_boxes(own), dtype=object).to_numpy()
    extra = table.iloc[n:]
    if len(extra):
        start = int(ds.annotations["id"].max()) + 1 if n else 1
        boxes = extra[["suggested_x", "suggested_y", "suggested_w", "suggested_h"]].to_numpy()
        added = pd.DataFrame({
            "id": np.arange(start, start + len(extra)), "image_id": extra["image_id"].to_numpy(),
            "category_id": extra["category_id"].to_numpy(np.int64), "kind": "box", "iscrowd": 0,
            "x": boxes[:, 0], "y": boxes[:, 1], "w": boxes[:, 2], "h": boxes[:, 3],
            "quality": extra["quality"].to_numpy(), "issue": extra["issue"].to_numpy()})
        anns = pd.concat([anns, added], ignore_index=True)
    images = ds.images.copy()
    images["quality"] = images["id"].map(result.images.set_index("image_id")["quality"])
    return Dataset(ds.categories, images, anns, ds.meta)


def coco_json(ds: Dataset, result) -> bytes:
    """The COCO document (bytes) of ``ds`` carrying ``result``'s scores.

    Image-level labels (classification), which COCO detection has no place for, are
    written as annotations without a ``bbox``.

    Example:
        >>> coco_json(ds, result)[:1]  # doctest: +SKIP
        b'{'
    """
    scored = _scored(ds, result)
    document = to_dict(scored, [])
    if getattr(result, "families", None):  # which family judged which error type
        document["score"] = {"families": dict(result.families)}
    labels = scored.annotations[scored.annotations["kind"] == "label"]
    if len(labels):
        cols = ["id", "image_id", "category_id", "quality", "issue", "suggested_category_id"]
        records = labels[cols].astype(object).where(labels[cols].notna(), None)
        document["annotations"] += [{k: v for k, v in r.items() if v is not None}
                                    for r in records.to_dict("records")]
    return orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY, default=_default)


def _default(value):
    if value is pd.NA:
        return None
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
