"""FiftyOne -> annokit: a FiftyOne dataset, as edited in the App, back into the model."""
from __future__ import annotations

import json
import os
from itertools import chain

import numpy as np
import pandas as pd

from ...errors import AnnokitError
from ...model import Dataset
from ...notes import Notes
from .database import fiftyone
from .fields import DECIMALS, GT, INFO, LABELS, POINTS, REVIEWED, SEG
from .files import fill_sizes, special_files


def from_fiftyone(fo_dataset, *, label_field: str = GT) -> Dataset:
    """Read a FiftyOne dataset (edited in the App or through its API) back into annokit.

    Objects that still carry ``annokit_id`` keep their annotation id and attributes;
    new objects get fresh ids above the largest; a label name annokit has not seen
    becomes a new category. A ``reviewed`` tag comes back as a ``reviewed`` column of
    images (sample tag) and of annotations (label tag). annokit's own fields and tags
    (findings, scores) are left behind. Works on any image dataset with Detections in
    ``label_field`` (e.g. ``"detections"`` for one FiftyOne's COCO importer made);
    datasets that annokit built also restore ids, categories and meta. A sample whose
    image is a FIFO, a device or a folder is left out with its objects and named in
    ``ds.notes`` (opening it would hang).

    Example:
        >>> import fiftyone as fo                                # doctest: +SKIP
        >>> ds = annokit.from_fiftyone(fo.load_dataset("bccd"))  # doctest: +SKIP
        >>> annokit.write(ds, "out/coco", "coco")                      # doctest: +SKIP
    """
    fiftyone()
    info = dict((fo_dataset.info or {}).get(INFO) or {})
    schema = fo_dataset.get_field_schema()
    images = _read_samples(fo_dataset, schema, info)
    if label_field not in schema and label_field != GT:
        raise AnnokitError(f"FiftyOne dataset {fo_dataset.name!r} has no field "
                           f"{label_field!r}")
    parts = [_read_labels(fo_dataset, schema, label_field, "detections", "box", images, info),
             _read_labels(fo_dataset, schema, POINTS, "keypoints", "point", images, info),
             _read_labels(fo_dataset, schema, LABELS, "classifications", "label", images,
                          info)]
    anns = pd.concat([p for p in parts if p is not None] or [pd.DataFrame()],
                     ignore_index=True)
    categories, anns = _read_categories(info, anns)
    anns = _fresh_ids(anns)
    anns = _attach_polygons(fo_dataset, schema, anns, images)
    anns = _restore_columns(anns, info.get("annotation_columns", []))
    images = _restore_columns(images, info.get("image_columns", []))
    meta = json.loads(info.get("meta_json") or "{}")
    meta["image_root"] = info.get("image_root") or _common_root(images["filepath"])
    if info.get("split_roots"):
        meta["split_roots"] = info["split_roots"]
    if info.get("source_path"):
        meta["source_path"] = info["source_path"]
    meta["source_format"] = info.get("source_format") or "fiftyone"
    for stale in ("skipped", "read_notes", "notes"):  # a dataset built before the notes
        meta.pop(stale, None)                        # channel stored its reader's lines
    images, anns, left_out = _leave_out_special(images, anns)
    meta["notes"] = Notes.from_lines("fiftyone", left_out, "skipped")
    order = np.lexsort((np.arange(len(images)), images["id"].to_numpy()))
    samples = images["_sample"].to_numpy()[order]
    images = images.iloc[order].drop(columns=["filepath", "_sample", "_special"]
                                     ).reset_index(drop=True)
    if not len(anns):
        return Dataset(categories, images, meta=meta)
    sample_rank = pd.Series(np.arange(len(order)), index=samples)
    anns = anns.assign(_order=anns["_sample"].map(sample_rank)).sort_values(
        ["_order", "_k"], kind="stable").drop(columns=["_order", "_k", "_sample"])
    return Dataset(categories, images, anns, meta)


def _leave_out_special(images: pd.DataFrame, anns: pd.DataFrame):
    """Samples whose image is a FIFO, a device or a folder, and their objects, left out
    and named: exporting them would hang or fail on the file."""
    special = images["_special"].notna().to_numpy()
    notes = [f"{f}: {why}; sample left out" for f, why in
             zip(images.loc[special, "file_name"], images.loc[special, "_special"])]
    if not special.any():
        return images, anns, notes
    gone = images.loc[special, "_sample"]
    if len(anns):
        anns = anns[~anns["_sample"].isin(gone)]
    return images[~special], anns, notes


def _values(fo_dataset, paths: list[str]) -> list[list]:
    values = fo_dataset.values(paths)
    return [values] if len(paths) == 1 else list(values)


def _read_samples(fo_dataset, schema, info) -> pd.DataFrame:
    """One row per sample: id, file_name, width, height, split, reviewed, filepath."""
    wanted = ["filepath", "tags", "metadata.width", "metadata.height"]
    extra = [f for _, f, _ in info.get("image_columns", [])]
    optional = [f for f in ("annokit_id", "file_name", "split", *extra) if f in schema]
    cols = dict(zip(wanted + optional, _values(fo_dataset, wanted + optional)))
    n = len(cols["filepath"])
    ids = _fill_ids(pd.Series(cols.get("annokit_id", [None] * n), dtype="Int64"))
    root = info.get("image_root") or _common_root(cols["filepath"])
    names = [f if isinstance(f, str) else os.path.relpath(p, root)
             for f, p in zip(cols.get("file_name", [None] * n), cols["filepath"])]
    images = pd.DataFrame({
        "id": np.asarray(ids, dtype="int64"), "file_name": names,
        "width": pd.array(cols["metadata.width"], dtype="Int64"),
        "height": pd.array(cols["metadata.height"], dtype="Int64"),
        "split": cols.get("split", [None] * n), "filepath": cols["filepath"],
        "_sample": np.arange(n)})
    for field in extra:
        images[field] = cols.get(field, [None] * n)
    special = special_files(images["filepath"])
    images["_special"] = images.index.map(special).astype(object)
    fill_sizes(images)
    reviewed = [REVIEWED in (t or []) for t in cols["tags"]]
    if any(reviewed):
        images["reviewed"] = reviewed
    return images


def _common_root(paths) -> str | None:
    folders = [os.path.dirname(p) for p in paths if isinstance(p, str)]
    return os.path.commonpath(folders) if folders else None


def _read_labels(fo_dataset, schema, field, list_name, kind, images, info):
    """The labels of one field, flattened: one row per object."""
    if field not in schema:
        return None
    base = f"{field}.{list_name}"
    attr_fields = [f for _, f, _ in info.get("annotation_columns", [])]
    sub = _label_schema(fo_dataset, base)
    geometry = {"box": ["bounding_box"], "point": ["points"], "label": []}[kind]
    wanted = ["label", "tags", *geometry]
    optional = [f for f in ("annokit_id", "confidence", "annokit_rle", *attr_fields)
                if f in sub and f not in wanted]
    paths = [f"{base}.{f}" for f in wanted + optional]
    per_sample = dict(zip(wanted + optional, _values(fo_dataset, paths)))
    counts = np.array([len(v) if v else 0 for v in per_sample["label"]], dtype=np.int64)
    if not counts.sum():
        return None
    flat = {k: list(chain.from_iterable(v or [] for v in vals))
            for k, vals in per_sample.items()}
    sample = np.repeat(np.arange(len(counts)), counts)
    w = images["width"].to_numpy(dtype=float, na_value=np.nan)[sample]
    h = images["height"].to_numpy(dtype=float, na_value=np.nan)[sample]
    table = pd.DataFrame({"_sample": sample, "_k": np.arange(len(sample)),
                          "image_id": images["id"].to_numpy()[sample], "kind": kind,
                          "label": flat["label"]})
    if kind == "box":
        xywh = np.array(flat["bounding_box"], dtype=float).reshape(-1, 4) * \
            np.column_stack([w, h, w, h])
        table[["x", "y", "w", "h"]] = np.round(xywh, DECIMALS)
    elif kind == "point":
        xy = np.array([p[0] if p else [np.nan, np.nan] for p in flat["points"]],
                      dtype=float).reshape(-1, 2) * np.column_stack([w, h])
        table[["x", "y"]] = np.round(xy, DECIMALS)
    table["annokit_id"] = pd.array(flat.get("annokit_id", [None] * len(table)),
                                   dtype="Int64")
    scores = flat.get("confidence", [None] * len(table))
    if kind == "point":  # one confidence per point
        scores = [c[0] if isinstance(c, list) and c else None for c in scores]
    table["score"] = pd.to_numeric(pd.Series(scores, dtype=object),
                                   errors="coerce").to_numpy(float)
    table["segmentation"] = flat.get("annokit_rle", [None] * len(table))
    for name in attr_fields:
        if name in flat:
            table["attr:" + name] = flat[name]
    reviewed = [REVIEWED in (t or []) for t in flat["tags"]]
    if any(reviewed):
        table["reviewed"] = reviewed
    return table


def _label_schema(fo_dataset, base: str) -> set[str]:
    schema = fo_dataset.get_field_schema(flat=True)
    prefix = base + "."
    return {k[len(prefix):] for k in schema if k.startswith(prefix)}


def _read_categories(info, anns: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Categories as annokit had them, plus new label names with fresh ids."""
    known = pd.DataFrame(info.get("categories") or [], columns=["id", "name", "supercategory"])
    labels = anns["label"].dropna().astype(str).unique().tolist() if len(anns) else []
    new = [n for n in labels if n not in set(known["name"])]
    start = int(known["id"].max()) + 1 if len(known) else 1
    known = pd.concat([known, pd.DataFrame({"id": np.arange(start, start + len(new)),
                                            "name": new, "supercategory": None})],
                      ignore_index=True)
    by_name = known.drop_duplicates("name").set_index("name")["id"]
    if len(anns):
        anns = anns.assign(category_id=anns["label"].astype(str).map(by_name).astype("int64"))
        anns = anns.drop(columns=["label"])
    return known, anns


def _fill_ids(ids: pd.Series) -> np.ndarray:
    """Keep annokit ids; number what was added in FiftyOne after the largest, from 1."""
    ids = ids.astype("Int64").copy()
    missing = ids.isna().to_numpy()
    start = int(ids.max()) + 1 if (~missing).any() else 1
    ids[missing] = np.arange(start, start + missing.sum())
    return ids.to_numpy(dtype="int64")


def _fresh_ids(anns: pd.DataFrame) -> pd.DataFrame:
    if not len(anns):
        return anns
    return anns.assign(id=_fill_ids(anns["annokit_id"])).drop(columns=["annokit_id"])


def _attach_polygons(fo_dataset, schema, anns: pd.DataFrame, images) -> pd.DataFrame:
    """COCO polygons back from the Polylines that share an object's annokit id."""
    if SEG not in schema or not len(anns):
        return anns
    base = f"{SEG}.polylines"
    ids, points = _values(fo_dataset, [f"{base}.annokit_id", f"{base}.points"])
    w = images["width"].to_numpy(dtype=float, na_value=np.nan)
    h = images["height"].to_numpy(dtype=float, na_value=np.nan)
    polygons = {}
    for k, (sample_ids, sample_points) in enumerate(zip(ids, points)):
        for pid, shapes in zip(sample_ids or [], sample_points or []):
            if pid is not None:
                polygons[int(pid)] = [np.round(np.asarray(s, dtype=float).reshape(-1, 2)
                                               * [w[k], h[k]], DECIMALS).ravel().tolist()
                                      for s in shapes]
    seg = anns["id"].map(polygons)
    anns = anns.copy()
    has = seg.notna().to_numpy()
    anns.loc[has, "segmentation"] = seg[has]
    return anns


def _restore_columns(frame: pd.DataFrame, columns: list) -> pd.DataFrame:
    """Pass-through columns back under their own names and dtypes."""
    frame = frame.copy()
    for column, field, dtype in columns:
        source = "attr:" + field if "attr:" + field in frame else field
        if source not in frame:
            continue
        values = pd.Series(frame.pop(source).tolist(), index=frame.index, dtype=object)
        if column == "iscrowd":  # objects added in FiftyOne are not crowds
            values = values.fillna(0)
        elif dtype.startswith("int") and values.isna().any():
            dtype = "Int64"  # an attribute new objects lack: unknown, not 0
        try:
            frame[column] = values.astype(dtype) if dtype != "object" else values
        except (TypeError, ValueError):
            frame[column] = values
    return frame.drop(columns=[c for c in frame.columns if str(c).startswith("attr:")])
