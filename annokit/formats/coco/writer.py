"""COCO: write the model as COCO JSON (and place the images)."""
from __future__ import annotations

import math
import os
from itertools import compress
from pathlib import Path
from typing import AbstractSet, Any, Callable

import numpy as np
import orjson
import pandas as pd

from ...errors import AnnokitError, FormatError, Problems
from ...fileio import place_images, safe_relative
from ...geometry import polygon_geometry
from ...model import ANNOTATION_SCHEMA, CATEGORY_SCHEMA, IMAGE_SCHEMA, Dataset
from ..layout import safe_split_names
from ...notes import Note
from ..target import WriteNotes, dropped_note, stale_locations
from .discover import ROBOFLOW_FILE, ROOT_FILE
from .parse import MAX_COORD, _gc_paused, _polygon_problem, _rle

# meta["coco"] keys that are ours, not top-level keys of the file
RESERVED = ("renumbered", "by_split")


# -- write -------------------------------------------------------------------------------

def write(ds: Dataset, out: Path, *, images: str, problems: Problems, single_file: bool,
          layout: str = "standard") -> WriteNotes:
    """Write ``ds`` as COCO at ``out``; return notes on what COCO could not hold.

    ``out`` ending in ``.json`` gets one file with every image. Otherwise a folder:
    ``annotations.json`` (no splits) or ``annotations/instances_<split>.json``, and the images under
    ``images/`` or ``images/<split>/`` when ``images`` is 'copy' or 'link'.
    ``layout='roboflow'`` writes ``<split>/_annotations.coco.json`` among the images.

    Example:
        >>> notes = write(ds, Path("out/coco"), images="none", problems=Problems(),
        ...               single_file=False)  # doctest: +SKIP
    """
    if layout not in ("standard", "roboflow"):
        raise AnnokitError(f"layout must be 'standard' or 'roboflow', not {layout!r}")
    notes = WriteNotes()
    with _gc_paused():
        document = _document(ds, notes)
        splits = ds.images["split"]
        if single_file:
            if splits.notna().any():
                notes.say(f"splits ({', '.join(map(str, splits.dropna().unique()))}) are not "
                          "kept in one .json file; write to a folder to keep them")
            if images != "none":
                notes.say(f"images not placed (images={images!r}): a .json target holds "
                          "annotations only")
            _dump(out, document)
            return _counted(notes, document)
        out.mkdir(parents=True)
        splits = _split_names(ds, notes)
        _write_splits(ds, out, document, splits, layout)
    if images == "none":
        return _counted(notes, document)
    sources = ds.image_paths()
    destinations = _safe_destinations(ds, _destinations(ds, out, splits, layout), sources,
                                      problems)
    notes.say_all(place_images(sources, destinations, images))
    return _counted(notes, document)


def _counted(notes: WriteNotes, document: dict) -> WriteNotes:
    notes.wrote(images=len(document["images"]), annotations=len(document["annotations"]),
                categories=len(document["categories"]))
    return notes


def to_dict(ds: Dataset, notes: list[Note] | None = None) -> dict:
    """The whole dataset as one COCO dict (e.g. for pycocotools' ``COCO``), splits merged.

    What COCO could not hold is added to ``notes`` when given (as "write" notes).

    Example:
        >>> from pycocotools.coco import COCO
        >>> gt = COCO(); gt.dataset = to_dict(ds); gt.createIndex()  # doctest: +SKIP
    """
    with _gc_paused():
        said = WriteNotes()
        document = _document(ds, said)
        if notes is not None:
            notes.extend(said)
        return {**document["top"], "images": _image_dicts(document["images"]),
                "annotations": _annotation_dicts(document["annotations"], ds.images),
                "categories": document["categories"]}


def _document(ds: Dataset, notes: WriteNotes) -> dict:
    """The parts of the output: top-level keys, the category dicts, and the image and
    annotation rows to write (frames: their dicts are made a chunk at a time)."""
    anns = _writable_annotations(ds, notes)
    stale, note = stale_locations(ds, "coco")
    notes.say(note)
    images = ds.images.drop(columns=stale)
    unknown = int((images["width"].isna() | images["height"].isna()).sum())
    if unknown:
        notes.say(f"{unknown} images have no known width/height: written without them")
    return {"top": _top_out(ds.meta.get("coco")),
            "categories": _category_dicts(ds.categories),
            "images": images, "annotations": anns, "all_images": ds.images}


def _split_names(ds: Dataset, notes: WriteNotes) -> pd.Series:
    """Each image's split as a safe file name; None for all when the dataset has no splits."""
    splits = ds.images["split"]
    if splits.isna().all():
        return splits
    if splits.isna().any():
        notes.say(f"{int(splits.isna().sum())} images had no split: written to split "
                  "'default'")
    return safe_split_names(splits.fillna("default"), notes)


def _write_splits(ds: Dataset, out: Path, document: dict, splits: pd.Series, layout: str
                  ) -> None:
    """One JSON per split (or one for all when there are no splits)."""
    if splits.isna().all():
        _dump(_split_file(out, None, layout), document)
        return
    by_split = (ds.meta.get("coco") or {}).get("by_split") or {}
    image_ids = ds.images["id"].to_numpy()
    anns = document["annotations"]
    ann_image_ids = anns["image_id"].to_numpy()
    for split in splits.unique():
        mask = (splits == split).to_numpy()
        top = _top_out(by_split[split]) if split in by_split else document["top"]
        part = {**document, "top": top, "images": document["images"][mask],
                "annotations": anns[np.isin(ann_image_ids, image_ids[mask])]}
        _dump(_split_file(out, split, layout), part)


def _destinations(ds: Dataset, out: Path, splits: pd.Series, layout: str) -> pd.Series:
    """Where each image goes: ``images/[<split>/]`` (or ``<split>/`` for Roboflow)."""
    base = out if layout == "roboflow" else out / "images"
    folders = [str(base / s) if isinstance(s, str) else str(base) for s in splits]
    return pd.Series([os.path.join(d, f) for d, f in zip(folders, ds.images["file_name"])],
                     index=ds.images.index, dtype=object)


def _split_file(out: Path, split: str | None, layout: str) -> Path:
    if layout == "roboflow":
        folder = out / split if split else out
        folder.mkdir(parents=True, exist_ok=True)
        return folder / ROBOFLOW_FILE
    if split is None:
        return out / ROOT_FILE
    (out / "annotations").mkdir(exist_ok=True)
    # COCO's own naming, which Datumaro's importer needs; our reader takes the split from it
    return out / "annotations" / f"instances_{split}.json"


def _safe_destinations(ds: Dataset, destinations: pd.Series, sources: pd.Series,
                       problems: Problems) -> pd.Series:
    """Refuse image file names that would land outside the output (``../``, absolute)."""
    names = ds.images["file_name"]
    unsafe = np.array([not (isinstance(n, str) and safe_relative(n)) for n in names], bool)
    for i in np.flatnonzero(unsafe):
        problems.skip(FormatError(sources.iloc[i] or str(names.iloc[i]),
                                  f"file_name {names.iloc[i]!r} leaves the image folder; "
                                  "image not placed", place=f"image id {ds.images['id'].iloc[i]}"))
    return destinations.where(~unsafe, None)


WRITE_CHUNK = 50_000  # rows turned into dicts and JSON at a time


def _dump(file: Path, part: dict) -> None:
    """Write one COCO file, byte for byte what ``orjson.dumps`` of the whole document gives,
    while only WRITE_CHUNK records exist as dicts at any time (3.65M annotation dicts
    would be ~1.5 GB)."""
    with open(file, "wb") as f:
        f.write(b"{")
        for key, value in part["top"].items():
            f.write(_dumps(key) + b":" + _dumps(value) + b",")
        f.write(b'"images":[')
        _write_records(f, part["images"], _image_dicts)
        f.write(b'],"annotations":[')
        _write_records(f, part["annotations"],
                       lambda rows: _annotation_dicts(rows, part["all_images"]))
        f.write(b'],"categories":' + _dumps(part["categories"]) + b"}")


def _write_records(f, frame: pd.DataFrame, dicts: Callable[[pd.DataFrame], list[dict]]
                   ) -> None:
    """The rows of ``frame`` as comma-separated JSON objects, a chunk at a time."""
    for start in range(0, len(frame), WRITE_CHUNK):
        if start:
            f.write(b",")
        f.write(_dumps(dicts(frame.iloc[start:start + WRITE_CHUNK]))[1:-1])


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_json_default, option=orjson.OPT_SERIALIZE_NUMPY)


def _json_default(value: Any) -> Any:
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (set, tuple)):
        return list(value)
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return str(value)


def _top_out(coco_meta: dict | None) -> dict:
    """info, licenses and other top-level keys to write (a stub when the source had none)."""
    if not coco_meta:
        from ...version import __version__

        return {"info": {"description": f"written by annokit {__version__}"}, "licenses": []}
    return {k: v for k, v in coco_meta.items() if k not in RESERVED}


def _writable_annotations(ds: Dataset, notes: WriteNotes) -> pd.DataFrame:
    """Annotations COCO can hold, with ids pycocotools can match (never 0, never repeated)."""
    anns = ds.annotations
    labels = (anns["kind"] == "label").to_numpy()
    notes.say(dropped_note(anns["kind"], "coco"))
    orphan = ~labels & ~anns["image_id"].isin(ds.images["id"]).to_numpy()
    no_class = ~labels & ~orphan & ~anns["category_id"].isin(ds.categories["id"]).to_numpy()
    for mask, what in ((orphan, "an image"), (no_class, "a category")):
        if mask.any():
            notes.say(f"{int(mask.sum())} annotations refer to {what} the dataset lacks: "
                      "dropped")
    drop = labels | orphan | no_class
    if drop.any():
        anns = anns[~drop].reset_index(drop=True)
    ids = anns["id"]
    if (ids <= 0).any() or ids.duplicated().any():
        notes.say(f"annotation ids renumbered 1..{len(anns)}: some were 0, negative or "
                  "repeated (pycocotools treats id 0 as 'no match')")
        anns = anns.assign(id=np.arange(1, len(anns) + 1))
    return anns


def _category_dicts(categories: pd.DataFrame) -> list[dict]:
    dicts = [{"id": i, "name": n} for i, n in zip(categories["id"].tolist(),
                                                 categories["name"].tolist())]
    _add_columns(dicts, categories, ["supercategory"] + _extra_columns(categories,
                                                                       CATEGORY_SCHEMA))
    return dicts


def _image_dicts(images: pd.DataFrame) -> list[dict]:
    dicts = [{"id": i, "file_name": f} for i, f in zip(images["id"].tolist(),
                                                       images["file_name"].tolist())]
    _add_columns(dicts, images, ["width", "height"] + _extra_columns(images, IMAGE_SCHEMA))
    return dicts


def _annotation_dicts(anns: pd.DataFrame, images: pd.DataFrame) -> list[dict]:
    boxes = np.column_stack([anns[c].to_numpy(np.float64) for c in "xywh"]).tolist()
    empty: list = []
    segs = [empty if s is None else s for s in anns["segmentation"].tolist()]
    dicts = [{"id": i, "image_id": m, "category_id": c, "segmentation": s, "area": a,
              "bbox": b, "iscrowd": z}
             for i, m, c, s, a, b, z in zip(anns["id"].tolist(), anns["image_id"].tolist(),
                                            anns["category_id"].tolist(), segs,
                                            areas(anns, images).tolist(), boxes,
                                            anns["iscrowd"].tolist())]
    extras = _extra_columns(anns, ANNOTATION_SCHEMA, {"area", "bbox"})
    _add_columns(dicts, anns, ["score"] + extras)
    for i in np.flatnonzero((anns["kind"] == "point").to_numpy()):
        d = dicts[i]  # COCO holds a point as an annotation with one keypoint and no box
        del d["bbox"]
        d["keypoints"], d["num_keypoints"] = boxes[i][:2] + [2], 1
    return dicts


def _extra_columns(frame: pd.DataFrame, schema: dict, handled: AbstractSet[str] = frozenset()
                   ) -> list[str]:
    return [c for c in frame.columns if c not in schema and c not in handled and c != "split"]


def _add_columns(dicts: list[dict], frame: pd.DataFrame, columns: list[str]) -> None:
    """Set ``column: value`` on each dict where the value is not null (NaN, NA, None)."""
    for col in columns:
        values = frame[col]
        present = values.notna().to_numpy()
        if not present.any():
            continue
        cells = values.astype(object).tolist() if values.dtype.kind not in "iufb" \
            else values.tolist()
        if present.all():
            for d, v in zip(dicts, cells):
                d[col] = v
        else:
            for d, v in zip(compress(dicts, present), compress(cells, present)):
                d[col] = v


def areas(anns: pd.DataFrame, images: pd.DataFrame) -> np.ndarray:
    """The ``area`` column where known; else the mask area (pycocotools) or w*h.

    Example:
        >>> anns = pd.DataFrame({"w": [4.0, 2.0], "h": [5.0, 2.0], "area": [None, 3.0],
        ...                      "segmentation": [None, None], "image_id": [1, 1],
        ...                      "kind": ["box", "box"]})
        >>> areas(anns, pd.DataFrame({"id": [1], "width": [10], "height": [10]})).tolist()
        [20.0, 3.0]
    """
    n = len(anns)
    area = (np.array(pd.to_numeric(anns["area"], errors="coerce"), dtype=np.float64)
            if "area" in anns else np.full(n, np.nan))  # a copy: the dataset stays as it was
    unknown = np.isnan(area)
    if not unknown.any():
        return area
    w, h = anns["w"].to_numpy(np.float64), anns["h"].to_numpy(np.float64)
    segs = anns["segmentation"].to_numpy()
    has_seg = np.array([s is not None for s in segs], dtype=bool)
    boxes = unknown & ~has_seg
    area[boxes] = w[boxes] * h[boxes]
    rows = np.flatnonzero(unknown & has_seg)
    if len(rows):
        sizes = images.set_index("id")[["width", "height"]]
        ids = anns["image_id"].to_numpy()[rows]
        width = sizes["width"].reindex(ids).to_numpy(np.float64, na_value=np.nan)
        height = sizes["height"].reindex(ids).to_numpy(np.float64, na_value=np.nan)
        area[rows] = [_mask_area(segs[r], wd, ht) for r, wd, ht in zip(rows, width, height)]
    area[(anns["kind"] == "point").to_numpy() & unknown] = 0.0
    return area


def _mask_area(seg: Any, width: float, height: float) -> float:
    """Pixel area of polygons or an RLE, as COCO computes it (pycocotools)."""
    from pycocotools import mask

    if isinstance(seg, dict):
        rle = _rle(seg)
        return np.nan if rle is None else float(mask.area(rle))
    if _polygon_problem(seg):
        return np.nan
    polygons = [p for p in seg if len(p) >= 6]  # fewer than 3 points enclose nothing
    if not polygons:
        return 0.0
    if not (width > 0 and height > 0):  # unknown image size: big enough for the polygon
        width = math.ceil(max(max(p[0::2]) for p in polygons)) + 1
        height = math.ceil(max(max(p[1::2]) for p in polygons)) + 1
    if max(width, height) > MAX_COORD or width * height >= 2 ** 31:
        return float(polygon_geometry(polygons).area)  # beyond pycocotools' uint32 area
    return float(mask.area(mask.merge(mask.frPyObjects(polygons, int(height), int(width)))))
