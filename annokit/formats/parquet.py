"""Parquet: the internal model as three tables, for DuckDB, Polars, Spark and pandas.

A Parquet dataset is a folder::

    categories.parquet    id, name, supercategory, + pass-through columns
    images.parquet        id, file_name, width, height, split, + pass-through columns
    annotations.parquet   id, image_id, category_id, kind, x, y, w, h, iscrowd,
                          segmentation, score, + pass-through columns (VOC difficult, ...)
    meta.json             what Dataset.meta holds (COCO info/licenses, YOLO data.yaml keys,
                          VOC folder/source, ...), the pandas dtype of every column, which
                          columns hold JSON text, and where the images are
    images/               the images, when written with ``--images copy|link``

Each table is read as it is by any Parquet reader: ``SELECT * FROM
'out/annotations.parquet'`` in DuckDB, ``polars.read_parquet``, ``spark.read.parquet``.
Numbers keep their exact type (int64 ids, float64 boxes, nullable int64 sizes); text is
UTF-8 strings. A column whose values are not all text or numbers (``segmentation``:
polygon lists or RLE dicts; COCO extras holding dicts) is JSON text: Parquet has no
union type, and JSON text is what every one of those tools parses (DuckDB's ``json``
functions, Polars' ``str.json_decode``, Spark's ``from_json``). ``meta.json`` names those
columns, so annokit reads them back as the objects they were. Reading back gives the same
dataset: ids, dtypes, segmentation, attributes and meta (docs/formats/parquet.md).

Example:
    >>> import annokit
    >>> ds = annokit.read("fixtures/coco/basic/annotations.json")            # doctest: +SKIP
    >>> annokit.write(ds, "out/pq", "parquet")                               # doctest: +SKIP
    >>> annokit.read("out/pq").annotations.equals(ds.annotations)            # doctest: +SKIP
    True
"""
from __future__ import annotations

import json
import os
from typing import Any
from pathlib import Path

import numpy as np
import orjson
import pandas as pd

from ..errors import AnnokitError, FormatError, Problems
from ..fileio import PLACED, open_regular, place_images, read_regular, safe_relative
from ..model import Dataset
from .layout import safe_split_names
from .target import WriteNotes

TABLES = ("categories", "images", "annotations")
META_FILE = "meta.json"
IMAGES_DIR = "images"
SCHEMA_VERSION = 1
META_LIMIT = 256 << 20  # bytes of meta.json read at most
# Dataset.meta keys that describe this run's reading, not the data: never written
RUNTIME_META = {"notes", "source_format", "source_path", "image_root",
                "split_roots", "image_folders"}
# columns a table cannot do without (the model fills the others' defaults)
_REQUIRED = {"categories": ("id", "name"), "images": ("id", "file_name"),
             "annotations": ("image_id", "category_id")}
# what the core columns must hold, and the test of a pandas dtype for each
_KIND_TESTS = {"int": pd.api.types.is_integer_dtype, "number": pd.api.types.is_numeric_dtype,
               "text": pd.api.types.is_string_dtype}
_CORE_KINDS = {
    "categories": {"id": "int", "name": "text"},
    "images": {"id": "int", "file_name": "text", "width": "number", "height": "number"},
    "annotations": {"id": "int", "image_id": "int", "category_id": "int",
                    "x": "number", "y": "number", "w": "number", "h": "number"},
}


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # a core dependency; only a broken install lacks it
        raise AnnokitError("Parquet needs pyarrow: pip install pyarrow") from None
    return pa, pq


# -- detect ------------------------------------------------------------------------------

def detect(path: Path) -> bool:
    """True for a folder holding ``images.parquet`` and ``annotations.parquet``.

    Example:
        >>> detect(Path("out/pq"))  # doctest: +SKIP
        True
    """
    path = Path(path)
    # lexists: a table that is a FIFO or a link to a device is ours, refused when read
    return path.is_dir() and all(os.path.lexists(path / f"{t}.parquet")
                                 for t in ("images", "annotations"))


# -- write -------------------------------------------------------------------------------

def write(ds: Dataset, out: Path, *, images: str, problems: Problems, single_file: bool
          ) -> WriteNotes:
    """Write ``ds`` as a Parquet folder at ``out``: three tables and ``meta.json``.

    With ``images`` 'copy' or 'link' the images go under ``images/`` (``images/<split>/``
    when each split has its own folder); with 'none' ``meta.json`` records where they are,
    relative to ``out``, so the folder can move together with its images.

    Example:
        >>> notes = write(ds, Path("out/pq"), images="none", problems=Problems(),
        ...               single_file=False)  # doctest: +SKIP
    """
    _, pq = _pyarrow()
    out.mkdir(parents=True)
    meta: dict[str, Any] = {"annokit_parquet": SCHEMA_VERSION, "dtypes": {}, "json_columns": {}}
    for name in TABLES:
        frame = getattr(ds, name)
        table, dtypes, json_columns = _to_arrow(frame, name)
        pq.write_table(table, out / f"{name}.parquet", compression="zstd")
        meta["dtypes"][name] = dtypes
        meta["json_columns"][name] = json_columns
    notes = WriteNotes()
    meta["images"] = _image_locations(ds, out, images, problems, notes)
    meta["meta"] = {k: v for k, v in ds.meta.items() if k not in RUNTIME_META}
    (out / META_FILE).write_bytes(_json_bytes(meta, indent=True))
    notes.wrote(images=len(ds.images), annotations=len(ds.annotations),
                categories=len(ds.categories))
    return notes


def _to_arrow(frame: pd.DataFrame, name: str):
    """The frame as an Arrow table, its pandas dtypes, and the columns stored as JSON."""
    pa, _ = _pyarrow()
    arrays, dtypes, json_columns = {}, {}, []
    for col in frame.columns:
        if not isinstance(col, str):
            raise AnnokitError(f"{name} column {col!r}: Parquet column names are text")
        values = frame[col]
        dtypes[col] = str(values.dtype)
        if values.dtype == object or isinstance(values.dtype, pd.StringDtype):
            nan_nulls = values.dtype == object and \
                (values.isna() & values.map(lambda v: v is not None)).any()
            if not nan_nulls and \
                    pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
                arrays[col] = pa.array(values.astype(object).where(values.notna(), None),
                                       type=pa.string())
                continue
            json_columns.append(col)
            arrays[col] = pa.array(_json_texts(values, name, col), type=pa.string())
        else:
            arrays[col] = pa.Array.from_pandas(values)
    return pa.table(arrays), dtypes, json_columns


def _json_texts(values: pd.Series, table: str, col: str) -> list:
    """Each value as JSON text (None stays null); a value JSON cannot hold is an error."""
    texts = []
    for value in values.tolist():
        if value is None or (isinstance(value, float) and np.isnan(value)):
            texts.append(None if value is None else "NaN")
            continue
        try:
            texts.append(_json_bytes(value).decode())
        except (TypeError, ValueError) as e:
            raise AnnokitError(f"{table} column {col!r}: a value Parquet's JSON text cannot "
                               f"hold ({type(value).__name__}: {e})") from None
    return texts


def _json_bytes(value, indent: bool = False) -> bytes:
    """JSON of ``value``: orjson (exact floats, numpy values), stdlib json past its limits
    (integers over 64 bits, non-text keys)."""
    option = orjson.OPT_SERIALIZE_NUMPY | (orjson.OPT_INDENT_2 if indent else 0)
    try:
        return orjson.dumps(value, option=option)
    except TypeError:
        return json.dumps(value, indent=2 if indent else None, default=_plain,
                          ensure_ascii=False).encode()


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _image_locations(ds: Dataset, out: Path, images: str, problems: Problems,
                     notes: WriteNotes) -> dict:
    """Place the images (copy/link) or record where they are, relative to ``out``."""
    split_roots = {k: v for k, v in (ds.meta.get("split_roots") or {}).items() if v}
    if images == "none":
        root = ds.meta.get("image_root")
        return {"image_root": _relative(root, out),
                "split_roots": {k: _relative(v, out) for k, v in split_roots.items()}}
    names = ds.images["file_name"]
    safe = names.map(lambda n: isinstance(n, str) and safe_relative(n))
    for name in names[~safe]:
        problems.skip(FormatError(str(name), "file name leaves the image folder: not "
                                  f"{PLACED[images]}", place="images"))
    by_split = bool(split_roots)
    # a split becomes a folder name: made safe as every writer does ('../x' stays inside)
    safe_names = safe_split_names(pd.Series(list(split_roots), dtype=object), notes)
    folder_of = dict(zip(split_roots, safe_names))
    folders = ds.images["split"].map(lambda s: f"{IMAGES_DIR}/{folder_of[s]}" if by_split and
                                     isinstance(s, str) and s in split_roots else IMAGES_DIR)
    destinations = pd.Series([str(out / f / n) if ok else None
                              for f, n, ok in zip(folders, names, safe)], index=names.index)
    notes.say_all(place_images(ds.image_paths(), destinations, images))
    return {"image_root": IMAGES_DIR,
            "split_roots": {s: f"{IMAGES_DIR}/{t}" for s, t in folder_of.items()}}


def _relative(folder, out: Path) -> str | None:
    """``folder`` relative to the final ``out`` (the written tree is renamed into place)."""
    if not folder:
        return None
    final = out.parent / _final_name(out)
    return os.path.relpath(os.path.abspath(folder), os.path.abspath(final))


def _final_name(tmp: Path) -> str:
    """The target's name from fileio's temporary ``.NAME.annokit-PID-XXXX.tmp``."""
    name = tmp.name
    if name.startswith(".") and ".annokit-" in name:
        return name[1:name.rindex(".annokit-")]
    return name


# -- read --------------------------------------------------------------------------------

def read(path: Path, *, problems: Problems, image_root: Path | None = None) -> Dataset:
    """Read a Parquet folder written by annokit (or any tool writing the same columns).

    Without ``meta.json`` the tables are taken as they are: ids, names, file names and
    boxes are required; other columns pass through. Rows with a missing id, a repeated
    image id or an image or category that does not exist are skipped records.

    Example:
        >>> ds = read(Path("out/pq"), problems=Problems())  # doctest: +SKIP
    """
    path = Path(path)
    if path.is_file():
        path = path.parent
    meta = _read_meta(path / META_FILE)
    frames: dict[str, pd.DataFrame | None] = {}
    for name in TABLES:
        file = path / f"{name}.parquet"
        if name == "categories" and not file.exists():
            frames[name] = None  # categories are then named by their ids
            continue
        frame = _read_table(file, name)
        frames[name] = _restore(frame, name, meta, file)
    frames = _valid_rows(frames, path, problems)
    ds = Dataset(frames["categories"], frames["images"], frames["annotations"],
                 dict(meta.get("meta") or {}))
    _locate_images(ds, path, meta.get("images") or {}, image_root)
    return ds


def _read_meta(file: Path) -> dict:
    if not file.exists():
        return {}
    data = read_regular(file, limit=META_LIMIT, what="meta file")
    try:
        meta = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise FormatError(file, f"not JSON ({e})") from None
    if not isinstance(meta, dict):
        raise FormatError(file, "expected a JSON object")
    for key in ("dtypes", "json_columns", "images", "meta"):
        if not isinstance(meta.get(key, {}), dict):
            raise FormatError(file, f"'{key}' must be an object")
    return meta


def _read_table(file: Path, name: str) -> pd.DataFrame:
    pa, pq = _pyarrow()
    with open_regular(file, what=f"{name} table") as f:
        try:
            table = pq.read_table(f)
        except (pa.ArrowException, OSError, ValueError) as e:
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise FormatError(file, f"not a readable Parquet file ({reason})") from None
    for col in _REQUIRED[name]:
        if col not in table.column_names:
            raise FormatError(file, f"no '{col}' column", hint="the columns are described in "
                              "docs/formats/parquet.md")
    try:
        return table.to_pandas(types_mapper=_nullable, self_destruct=True)
    except (pa.ArrowException, ValueError, TypeError) as e:
        raise FormatError(file, f"cannot read the table ({e})") from None


def _nullable(arrow_type):
    """Arrow integers and booleans as pandas' nullable dtypes: a null stays a null."""
    pa, _ = _pyarrow()
    if pa.types.is_integer(arrow_type):
        return pd.Int64Dtype() if arrow_type.bit_width <= 64 and \
            pa.types.is_signed_integer(arrow_type) else None
    if pa.types.is_boolean(arrow_type):
        return pd.BooleanDtype()
    return None


def _restore(frame: pd.DataFrame, name: str, meta: dict, file: Path) -> pd.DataFrame:
    """JSON columns decoded, recorded dtypes put back, core columns checked."""
    for col, kind in _CORE_KINDS[name].items():
        if col in frame and frame[col].notna().any() and \
                not _KIND_TESTS[kind](frame[col].dtype):
            raise FormatError(file, f"column '{col}' holds {frame[col].dtype}, not "
                              f"{'integers' if kind == 'int' else kind}")
    json_columns = (meta.get("json_columns") or {}).get(name) or []
    for col in json_columns:
        if col in frame:
            frame[col] = _decode_json(frame[col], file, col)
    dtypes = (meta.get("dtypes") or {}).get(name) or {}
    for col, dtype in dtypes.items():
        if col in frame and col not in json_columns:
            frame[col] = _as_dtype(frame[col], dtype)
    for col in frame.columns:  # text read back by pandas 3 as "str": the model's object
        if isinstance(frame[col].dtype, pd.StringDtype) and col not in dtypes:
            frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    return frame


def _decode_json(values: pd.Series, file: Path, col: str) -> pd.Series:
    out: list[object] = []
    for row, text in enumerate(values.tolist()):
        if not isinstance(text, str):  # a null, read back as None, NA or NaN
            out.append(None)
            continue
        try:
            out.append(orjson.loads(text) if text != "NaN" else np.nan)
        except orjson.JSONDecodeError:
            try:
                out.append(json.loads(text))  # integers over 64 bits
            except ValueError as e:
                raise FormatError(file, f"column '{col}' is not JSON text ({e})",
                                  place=f"row {row + 1}") from None
    return pd.Series(out, index=values.index, dtype=object)


def _as_dtype(values: pd.Series, dtype: str) -> pd.Series:
    """``values`` as the pandas dtype recorded at writing; as they are if that fails."""
    if dtype == "object":
        return values.astype(object).where(values.notna(), None)
    try:
        if dtype in ("int64", "int32", "bool") and values.isna().any():
            return values  # a null where the writer had none: keep the nullable dtype
        return values.astype(pd.api.types.pandas_dtype(dtype))
    except (TypeError, ValueError):
        return values


def _valid_rows(frames: dict, path: Path, problems: Problems) -> dict:
    """Skip rows a dataset cannot hold: missing ids, repeated image ids, dangling links."""
    images = frames["images"]
    bad = images["id"].isna()
    bad |= images["id"].duplicated(keep="first") & ~bad
    _skip_rows(images, bad, path / "images.parquet", "no id, or a repeated id", problems)
    images = images[~bad.to_numpy()]
    anns = frames["annotations"]
    known = pd.Index(images["id"])
    bad = anns["image_id"].isna() | anns["category_id"].isna() | \
        ~anns["image_id"].isin(known)
    if "id" in anns:
        bad |= anns["id"].isna()
    cats = frames["categories"]
    if cats is not None:
        cbad = cats["id"].isna() | cats["id"].duplicated(keep="first")
        _skip_rows(cats, cbad, path / "categories.parquet", "no id, or a repeated id",
                   problems)
        cats = cats[~cbad.to_numpy()]
        bad |= ~anns["category_id"].isin(pd.Index(cats["id"]))
    else:
        ids = np.sort(anns["category_id"].dropna().unique())
        cats = pd.DataFrame({"id": ids, "name": [str(i) for i in ids]})
    _skip_rows(anns, bad, path / "annotations.parquet",
               "no id, or an image or category that is not in the dataset", problems)
    anns = anns[~bad.to_numpy()]
    return {"categories": cats, "images": images, "annotations": anns}


def _skip_rows(frame: pd.DataFrame, bad: pd.Series, file: Path, reason: str,
               problems: Problems) -> None:
    for row in np.flatnonzero(bad.to_numpy(dtype=bool)):
        problems.skip(FormatError(file, reason, place=f"row {row + 1}"))


def _locate_images(ds: Dataset, path: Path, where: dict, image_root: Path | None) -> None:
    """``meta['image_root']``/``split_roots``: ``--image-root``, else the recorded folders
    (relative to the dataset folder) that exist, else ``images/`` beside the tables."""
    if image_root is not None:
        ds.meta["image_root"] = str(image_root)
        return
    recorded = where.get("image_root")
    folder = (path / recorded) if isinstance(recorded, str) else path / IMAGES_DIR
    ds.meta["image_root"] = str(folder.absolute()) if folder.is_dir() else None
    splits = where.get("split_roots") or {}
    roots = {k: str((path / v).absolute()) for k, v in splits.items()
             if isinstance(k, str) and isinstance(v, str) and (path / v).is_dir()}
    if roots:
        ds.meta["split_roots"] = roots

