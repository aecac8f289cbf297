"""COCO: read JSON into the model's tables, a section and a chunk of records at a time
(see the package docstring for the layouts and what survives).
"""
from __future__ import annotations

import gc
import json
import math
import mmap
import os
import re
from contextlib import contextmanager
from itertools import chain
from operator import itemgetter, methodcaller
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import msgspec
import orjson
import pandas as pd

from ...errors import AnnokitError, FormatError, Problems
from ...fileio import open_regular, read_regular
from ...model import ANNOTATION_SCHEMA, CATEGORY_SCHEMA, IMAGE_SCHEMA, Dataset
from ..layout import MAX_SIDE, fill_unknown_sizes
from .discover import _pick_root, _sources

_SECTIONS = ("images", "annotations", "categories")
# bad input must cost a bounded amount: pycocotools' memory grows with polygon coordinates
# (1e9 crashed it) and its RLE counts are uint32, so both are checked before any call
MAX_COORD = 1e5       # px: a box or polygon coordinate beyond this is garbage
_RLE_CHARS = re.compile(r"[0-o]*")  # pycocotools' compressed counts: chars 48..111


# -- read --------------------------------------------------------------------------------

def read(path: Path, *, problems: Problems, image_root: Path | None = None) -> Dataset:
    """Read a COCO file or folder (see the module docstring for layouts).

    Example:
        >>> ds = read(Path("fixtures/coco/basic"), problems=Problems())  # doctest: +SKIP
        >>> ds.annotations[["id", "image_id", "category_id", "x", "w"]].head(2)  # doctest: +SKIP
    """
    path = Path(path)
    sources = _sources(path, image_root)
    parts = []
    with _gc_paused():
        for file, split, roots in sources:
            raw, release = _map(file)
            sections = _sections(raw)
            if sections is not None:  # an object: parsed a section and a chunk at a time
                del raw  # the sections hold it until their last chunk is parsed
                release()  # msgspec's pass touched every page: let them go
                parts.append(_parse_sections(sections, file, problems, release)
                             + (split, roots))
                continue
            data = _load(file, bytes(raw))
            del raw, release
            if path.is_file() and isinstance(data, list):  # a results file
                ds = _results(data, file, problems, None)
                ds.meta["image_root"] = str(image_root) if image_root else None
                return ds
            parts.append(_parse(data, file, problems) + (split, roots))
            del data  # the parsed records go now, before the next file is read
        ds = _merge(parts)
    fill_unknown_sizes(ds)
    return ds


def read_results(path: str | os.PathLike, ground_truth: Dataset | None = None, *,
                 problems: Problems | None = None, strict: bool = False) -> Dataset:
    """Read a COCO results file (a list of detections) as predictions.

    Images and categories come from ``ground_truth`` when given (a detection whose
    image or category id it lacks is skipped); otherwise they are the distinct ids in
    the file, with ``file_name`` None and ``name`` the id as text.

    Example:
        >>> gt = annokit.read("fixtures/coco/basic")  # doctest: +SKIP
        >>> pred = read_results("fixtures/coco/results.json", gt)  # doctest: +SKIP
        >>> pred.annotations[["image_id", "category_id", "score"]]  # doctest: +SKIP
    """
    problems = problems if problems is not None else Problems(strict)
    file = Path(path)
    with _gc_paused():
        data = _load(file)
        if not isinstance(data, list):
            raise FormatError(file, f"expected a list of detections, found a JSON "
                              f"{_json_type(data)}", hint="a ground-truth file? use annokit.read")
        ds = _results(data, file, problems, ground_truth)
    ds.meta["notes"] = problems.notes
    ds.meta["source_format"] = "coco"
    return ds


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: millions of fresh dicts and lists make it rescan
    everything over and over (halves the time to parse a large file), and they hold no cycles."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _map(file: Path) -> tuple[mmap.mmap | bytes, Callable[[], None]]:
    """The file mapped read-only, and a function that drops its pages from memory (they
    come back from the page cache when read again): a 500 MB file then never sits in
    memory whole while its records are parsed. Bytes (and a no-op) where mapping fails."""
    try:
        with open_regular(file, what="COCO file") as f:
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except AnnokitError as e:
        raise FormatError(file, str(e).removeprefix(f"{file}: ")) from None
    except (OSError, ValueError):  # an empty file, a file system without mmap
        return _read_bytes(file), lambda: None
    if not hasattr(mapped, "madvise") or not hasattr(mmap, "MADV_DONTNEED"):
        return mapped, lambda: None
    return mapped, lambda: mapped.madvise(mmap.MADV_DONTNEED)


def _read_bytes(file: Path) -> bytes:
    """The bytes of a JSON file: a regular file only (a FIFO or a device is one line)."""
    try:
        return read_regular(file, what="COCO file")
    except AnnokitError as e:
        raise FormatError(file, str(e).removeprefix(f"{file}: ")) from None
    except OSError as e:
        raise FormatError(file, f"cannot read: {e.strerror or e}") from None


def _load(file: Path, data: bytes | None = None) -> Any:
    """Parse a JSON file; malformed JSON is a FormatError naming the line and column."""
    if data is None:
        data = _read_bytes(file)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as e:
        error = e
    try:  # Python's json writes NaN and Infinity, and reads numbers too big for a double
        return json.loads(data)
    except RecursionError:
        raise FormatError(file, f"malformed JSON: {error.msg} (nested too deeply)") from None
    except ValueError:
        line, column = _line_column(data, error)
        raise FormatError(file, f"malformed JSON: {error.msg}",
                          place=f"line {line}, column {column}") from None


def _line_column(data: bytes, error: ValueError) -> tuple[int, int]:
    line, column = getattr(error, "lineno", None), getattr(error, "colno", None)
    if line and column:
        return line, column
    text = data.decode("utf-8", "replace")[: getattr(error, "pos", 0) or 0]
    return text.count("\n") + 1, len(text) - (text.rfind("\n") + 1) + 1


def _json_type(value: Any) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean",
            type(None): "null"}.get(type(value), "number")


# -- one file into tables ------------------------------------------------------------------

def _parse(data: Any, file: Path, problems: Problems
           ) -> tuple[Path, pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """(file, categories, images, annotations, top-level extras) of one COCO dict."""
    if not isinstance(data, dict):
        hint = "a results list is read on its own, not in a folder" if isinstance(data, list) \
            else None
        raise FormatError(file, f"expected a COCO object at the top level, found a JSON "
                          f"{_json_type(data)}", hint=hint)
    if "images" not in data:
        raise FormatError(file, "no 'images' list",
                          hint="a COCO file needs 'images' for its annotations to refer to")
    categories = _categories(*_records(data.get("categories"), "categories", file),
                             file, problems)
    images = _images(*_records(data["images"], "images", file), file, problems)
    _refuse_duplicate_images(images["id"].to_numpy(), file)
    annotations = _annotations(*_records(data.get("annotations"), "annotations", file),
                               file, problems, images["id"].to_numpy(),
                               categories["id"].to_numpy())
    top = {k: v for k, v in data.items() if k not in _SECTIONS}
    return file, categories, images, annotations, top


# -- one file, a section and a chunk at a time ------------------------------------------------
# The parsed document of a 500 MB file is ~4 GB of dicts: instead msgspec checks the JSON and
# hands back each top-level value, then each record of a big list, as raw bytes (no Python
# objects per key); CHUNK records at a time are parsed (orjson) and turned into columns, and
# their dicts go before the next chunk is parsed. The tables and every message are the same
# as for the whole document (``_parse``), which stays the path for anything else.

CHUNK = 50_000  # records parsed at a time: ~30 MB of dicts at COCO's size


def _sections(raw: bytes | mmap.mmap) -> dict[str, msgspec.Raw] | None:
    """The top-level values of a JSON object, unparsed; None when ``raw`` is not a valid JSON
    object (a results list, NaN, malformed JSON: the whole-document path names the problem)."""
    try:
        return msgspec.json.decode(raw, type=dict[str, msgspec.Raw])
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def _parse_sections(sections: dict[str, msgspec.Raw], file: Path, problems: Problems,
                    release: Callable[[], None] = lambda: None
                    ) -> tuple[Path, pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """What ``_parse`` returns, from the raw sections of one COCO object.

    ``sections`` is emptied: the file's bytes go with the last chunk, before the chunks'
    tables are joined. ``release`` drops the pages of a mapped file after each chunk.
    """
    if "images" not in sections:
        raise FormatError(file, "no 'images' list",
                          hint="a COCO file needs 'images' for its annotations to refer to")
    top = {k: _loads(v, file) for k, v in sections.items() if k not in _SECTIONS}
    categories = _categories(*_records(_loads(sections.get("categories", b"null"), file),
                                       "categories", file), file, problems)
    image_raw, ann_raw = sections["images"], sections.get("annotations", b"null")
    sections.clear()
    images = _stacked([(records[:1], _images(records, reasons, file, problems, offset))
                       for offset, records, reasons in _chunks(image_raw, "images", file,
                                                               release)],
                      set(IMAGE_SCHEMA) - {"split"})
    del image_raw
    _refuse_duplicate_images(images["id"].to_numpy(), file)
    # sorted once: each chunk looks its references up in them (np.isin would sort the
    # 500k image ids again for every chunk)
    image_ids, category_ids = np.unique(images["id"]), np.unique(categories["id"])
    chunks = _chunks(ann_raw, "annotations", file, release)
    del ann_raw  # only the generator holds the bytes now
    annotations = _stacked([
        (records[:1], _annotations(records, reasons, file, problems, image_ids, category_ids,
                                   offset=offset))
        for offset, records, reasons in chunks], set(ANNOTATION_SCHEMA) | {"bbox"})
    return file, categories, images, annotations, top


def _chunks(raw: msgspec.Raw | bytes, section: str, file: Path,
            release: Callable[[], None] = lambda: None
            ) -> Iterator[tuple[int, list[dict], dict[int, str]]]:
    """(offset of the first record, records, reasons) for each chunk of a section's list."""
    try:
        items = msgspec.json.decode(raw, type=list[msgspec.Raw])
    except msgspec.ValidationError:  # null, or not a list: _records says what it is
        yield 0, *_records(_loads(raw, file), section, file)
        return
    if not items:
        yield 0, [], {}
        return
    offset = 0
    while items:
        chunk = _loads(b"[" + b",".join(items[:CHUNK]) + b"]", file)
        del items[:CHUNK]  # each raw record goes once parsed
        release()
        yield offset, *_records(chunk, section, file)
        offset += len(chunk)
        del chunk


def _loads(raw: msgspec.Raw | bytes, file: Path) -> Any:
    """One JSON value msgspec already found well-formed; stdlib json takes the integers
    beyond 64 bits that orjson refuses."""
    try:
        return orjson.loads(memoryview(raw))
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(bytes(raw))
    except (ValueError, RecursionError) as e:
        raise FormatError(file, f"malformed JSON: {e}") from None


def _stacked(chunks: list[tuple[list[dict], pd.DataFrame]], known: set[str]) -> pd.DataFrame:
    """The frames of (first record, frame) chunks as one, with the columns, order and dtypes
    one parsed document would get: a column whose chunks disagree (a pass-through key some
    lack, text beside None) is rebuilt from its values as objects, absent ones None."""
    frames = [frame for _, frame in chunks]
    if len(frames) == 1:
        return frames[0]
    columns = _extras_order([f.columns for f in frames], chunks[0][0][:1], known)
    data: dict[str, np.ndarray | pd.Series] = {}
    for c in columns:
        parts = [f[c] for f in frames if c in f]
        if len({p.dtype for p in parts}) == 1 and parts[0].dtype == np.float64:
            data[c] = np.concatenate([f[c].to_numpy() if c in f else np.full(len(f), np.nan)
                                      for f in frames])  # absent numbers ('area') are NaN
        elif len(parts) == len(frames) and len({p.dtype for p in parts}) == 1 \
                and parts[0].dtype != object:
            data[c] = pd.concat(parts, ignore_index=True)
        else:
            data[c] = np.concatenate([_as_objects(f[c]) if c in f else _objects([None] * len(f))
                                      for f in frames])
        for f in frames:  # each chunk's column goes as soon as it is joined
            if c in f:
                del f[c]
    return pd.DataFrame(data, copy=False)  # no second copy of the joined columns


def _extras_order(columns: list[pd.Index], first: list[dict], known: set[str]) -> list[str]:
    """Every chunk's columns in ``_extras``' order: the model's, then the pass-through keys
    of the file's first record, then the others sorted."""
    every = list(dict.fromkeys(c for cols in columns for c in cols))
    extra = [c for c in every if c not in known]
    head = [k for k in (first[0] if first else {}) if k in extra]
    return [c for c in every if c in known] + head + sorted(set(extra) - set(head))


def _as_objects(values: pd.Series) -> np.ndarray:
    if values.dtype == object:
        return values.to_numpy()
    # na_value=None (nulls become None) is documented pandas; pandas-stubs type it as a scalar
    return values.to_numpy(dtype=object, na_value=None)  # type: ignore[call-overload]


def _records(value: Any, section: str, file: Path) -> tuple[list[dict], dict[int, str]]:
    """The list under ``section``, and why each entry that is not an object will be skipped.

    Such entries become empty dicts so that every row keeps its place in the file.
    """
    if value is None:
        return [], {}
    if not isinstance(value, list):
        raise FormatError(file, f"'{section}' must be a list, found a JSON {_json_type(value)}")
    if set(map(type, value)) <= {dict}:
        return value, {}
    reasons = {i: f"expected an object, found a JSON {_json_type(r)}"
               for i, r in enumerate(value) if type(r) is not dict}
    return [r if type(r) is dict else {} for r in value], reasons


def _skip(reasons: dict[int, str], n: int, place: Callable[[int], str], file: Path,
          problems: Problems) -> np.ndarray:
    """Skip every flagged row, in file order, each with its place; return the rows kept."""
    for i in sorted(reasons):
        problems.skip(FormatError(file, reasons[i], place=place(i)))
    keep = np.ones(n, bool)
    keep[list(reasons)] = False
    return keep


def _flagger(reasons: dict[int, str]) -> Callable:
    """``flag(rows, reason)`` records the first reason each row is broken."""
    def flag(rows: Iterable[int], reason: Callable[[int], str]) -> None:
        for i in rows:
            reasons.setdefault(int(i), reason(int(i)))
    return flag


def _column(records: list[dict], key: str) -> list:
    """The value of ``key`` in every record, None where absent."""
    try:
        return list(map(itemgetter(key), records))  # C speed when every record has it
    except KeyError:
        return list(map(methodcaller("get", key), records))  # still no Python-level loop


def _objects(values: list) -> np.ndarray:
    """A 1-d object array (``np.array`` would turn equal-length lists into a 2-d array)."""
    return np.fromiter(values, dtype=object, count=len(values))


def _extras(records: list[dict], known: set[str]) -> dict[str, np.ndarray]:
    """Pass-through columns for every key not in ``known``, in a stable order."""
    keys = set().union(*records) - known if records else set()
    first = [k for k in records[0] if k in keys] if records else []
    order = first + sorted(keys - set(first))
    return {k: _objects(_column(records, k)) for k in order}


def _ints(values: list) -> tuple[np.ndarray, np.ndarray]:
    """``values`` as int64 and a mask of those that are not integers (absent ones included)."""
    try:
        arr = np.array(values) if values else np.zeros(0, np.int64)
    except (TypeError, ValueError, OverflowError):  # lists among the ids: look one by one
        arr = np.zeros(0, object)
    if arr.ndim == 1 and arr.dtype.kind == "i":
        return arr.astype(np.int64, copy=False), np.zeros(len(values), bool)
    ok = np.array([_is_int(v) for v in values], dtype=bool)
    out = np.array([int(v) if good else 0 for v, good in zip(values, ok)], dtype=np.int64)
    return out, ~ok


def _is_int(value: Any) -> bool:
    if type(value) is int:
        return -(1 << 63) <= value < (1 << 63)
    return type(value) is float and value.is_integer() and abs(value) < 2 ** 63


def _floats(values: list) -> tuple[np.ndarray, np.ndarray]:
    """``values`` as float64 (absent = NaN) and a mask of the present ones that are not numbers."""
    fine = np.zeros(len(values), bool)
    if values.count(None) == len(values):  # an optional key no record has
        return np.full(len(values), np.nan), fine
    try:
        arr = np.array(values)
        if arr.ndim == 1 and arr.dtype.kind in "iuf":
            return arr.astype(np.float64, copy=False), fine
    except (TypeError, ValueError, OverflowError):
        pass
    ok = np.array([v is None or _is_number(v) for v in values], dtype=bool)
    arr = np.array([_to_float(v) if v is not None and good else np.nan
                    for v, good in zip(values, ok)], dtype=np.float64)
    return arr, ~ok


def _to_float(value: int | float) -> float:
    """``float(value)``; an integer beyond a double's range (a 400-digit width) is +-inf,
    so that the range checks catch it instead of an OverflowError."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _is_finite(value: Any) -> bool:
    """A JSON number that is finite as a double (a 400-digit integer is not)."""
    return _is_number(value) and math.isfinite(_to_float(value))


def _is_number(value: Any) -> bool:
    return type(value) in (int, float)


def _why_not_int(key: str, value: Any) -> str:
    return f"no '{key}'" if value is None else f"{key} {_short(value)} is not an integer"


def _short(value: Any, limit: int = 40) -> str:
    """repr of ``value``, cut: a 400-digit id or a huge list stays a short message."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _categories(records: list[dict], reasons: dict[int, str], file: Path,
                problems: Problems) -> pd.DataFrame:
    flag = _flagger(reasons)
    raw_ids = _column(records, "id")
    ids, bad = _ints(raw_ids)
    names = _column(records, "name")
    flag(np.flatnonzero(bad), lambda i: _why_not_int("id", raw_ids[i]))
    flag([i for i, n in enumerate(names) if n is None], lambda i: "no 'name'")
    keep = _skip(reasons, len(records), lambda i: f"category id {ids[i]}" if not bad[i]
                 else f"categories[{i}]", file, problems)
    frame = pd.DataFrame({
        "id": ids, "name": _objects([n if n is None or isinstance(n, str) else str(n)
                                     for n in names]),
        "supercategory": _objects(_column(records, "supercategory")),
        **_extras(records, set(CATEGORY_SCHEMA)),
    })[keep]
    return _unique_categories(frame, file)


def _unique_categories(frame: pd.DataFrame, file: Path, other: str | None = None
                       ) -> pd.DataFrame:
    """Drop repeated category ids; the same id with two names is a FormatError."""
    names = frame.groupby("id", sort=False)["name"].unique()
    clash = names[names.map(len) > 1]
    if len(clash):
        cid, pair = clash.index[0], clash.iloc[0]
        where = f"in {other}" if other else "earlier in this file"
        raise FormatError(file, f"category id {cid} is named {pair[1]!r} here but {pair[0]!r} "
                          f"{where}", place=f"category id {cid}",
                          hint="the same id must mean the same class in every file")
    return frame.drop_duplicates("id").reset_index(drop=True)


def _images(records: list[dict], reasons: dict[int, str], file: Path,
            problems: Problems, offset: int = 0) -> pd.DataFrame:
    """Images of one file (or of one chunk of it, its first record ``offset``)."""
    flag = _flagger(reasons)
    raw_ids = _column(records, "id")
    ids, bad = _ints(raw_ids)
    names = _column(records, "file_name")
    flag(np.flatnonzero(bad), lambda i: _why_not_int("id", raw_ids[i]))
    flag([i for i, n in enumerate(names) if not (isinstance(n, str) and n)],
         lambda i: "no 'file_name'")
    flag([i for i, n in enumerate(names) if isinstance(n, str) and not _clean_text(n)],
         lambda i: f"file_name {_short(names[i])} holds a NUL or an unpaired surrogate, or "
                   "a part longer than 255 bytes")
    for key in ("width", "height"):
        sizes, _ = _floats(_column(records, key))
        flag(np.flatnonzero(np.abs(sizes) > MAX_SIDE),
             lambda i, key=key: f"{key} {_short(records[i][key])} is out of range "
                                f"(at most {MAX_SIDE:g} px)")
    keep = _skip(reasons, len(records), lambda i: f"image id {ids[i]}" if not bad[i]
                 else f"images[{offset + i}]", file, problems)
    frame = pd.DataFrame({
        "id": ids,
        # skipped rows' names never reach pandas: a lone surrogate breaks Arrow strings
        "file_name": _objects([n.replace("\\", "/") if isinstance(n, str) and k else None
                               for n, k in zip(names, keep)]),
        "width": _sizes(_column(records, "width")),
        "height": _sizes(_column(records, "height")),
        **_extras(records, set(IMAGE_SCHEMA) - {"split"}),  # a 'split' key is the split
    })
    return frame[keep].reset_index(drop=True)


def _clean_text(text: str) -> bool:
    """False for a file name no file system or XML file can hold (NUL, lone surrogates,
    a part over 255 bytes)."""
    if "\x00" in text:
        return False
    try:
        parts = text.encode("utf-8").split(b"/")
    except UnicodeEncodeError:
        return False
    return max(map(len, parts)) <= 255  # no file system holds a longer name


def _refuse_duplicate_images(ids: np.ndarray, file: Path) -> None:
    unique, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        dup = int(unique[counts > 1][0])
        raise FormatError(file, f"image id {dup} is used by {int(counts[unique == dup][0])} "
                          "images", place=f"image id {dup}",
                          hint="image ids must be unique; annotations cannot tell them apart")


def _sizes(values: list) -> pd.arrays.IntegerArray:
    """Widths or heights as nullable ints: absent, zero, negative, absurd (MAX_SIDE and
    above) or not a number is NA, so that the image header is read instead."""
    arr, _ = _floats(values)
    arr[~((arr > 0) & (arr <= MAX_SIDE))] = np.nan  # 0 in the file means unknown, never 0 px
    return pd.array(np.round(arr), dtype="Int64")


def _annotations(records: list[dict], reasons: dict[int, str], file: Path,
                 problems: Problems, image_ids: np.ndarray | None,
                 category_ids: np.ndarray | None, results: bool = False, offset: int = 0
                 ) -> pd.DataFrame:
    """Annotations of one file; broken ones are skipped in file order, each with its place.

    ``image_ids``/``category_ids`` None accept any id (a results file without ground truth);
    ``results`` numbers annotations 1..M as pycocotools does; ``offset`` is the place of
    the first record when ``records`` is one chunk of the file.
    """
    n = len(records)
    flag = _flagger(reasons)
    if results:
        ids, raw_ids = np.arange(1, n + 1, dtype=np.int64), None
    else:
        raw_ids = _column(records, "id")
        ids, bad = _ints(raw_ids)
        flag(np.flatnonzero(bad), lambda i: _why_not_int("id", raw_ids[i]))
    image_id = _reference(records, "image_id", image_ids, "image", flag)
    category_id = _reference(records, "category_id", category_ids, "category", flag)
    segmentation = _segmentations(_column(records, "segmentation"), flag)
    x, y, w, h, kind = _geometry(records, segmentation, flag)
    iscrowd = _iscrowd(_column(records, "iscrowd"), flag)
    score, bad_score = _floats(_column(records, "score"))
    flag(np.flatnonzero(bad_score),
         lambda i: f"score {_short(records[i].get('score'))} is not a number")
    extras = _extras(records, set(ANNOTATION_SCHEMA) | {"bbox"})
    if "area" in extras:  # numbers, unless some are not
        area, bad_area = _floats(extras["area"].tolist())
        extras["area"] = extras["area"] if bad_area.any() else area
    points = np.flatnonzero(kind == "point")
    for key in ("keypoints", "num_keypoints"):  # a point's one keypoint *is* its x, y
        if len(points) and key in extras:
            extras[key][points] = None

    section = "results" if results else "annotations"
    keep = _skip(reasons, n, lambda i: f"annotation id {ids[i]}" if raw_ids is not None
                 and _is_int(raw_ids[i]) else f"{section}[{offset + i}]", file, problems)
    frame = pd.DataFrame({"id": ids, "image_id": image_id, "category_id": category_id,
                          "kind": kind, "x": x, "y": y, "w": w, "h": h, "iscrowd": iscrowd,
                          "segmentation": segmentation, "score": score, **extras})
    return frame[keep].reset_index(drop=True) if len(reasons) else frame


def _reference(records: list[dict], key: str, known: np.ndarray | None, what: str,
               flag: Callable) -> np.ndarray:
    raw = _column(records, key)
    values, bad = _ints(raw)
    flag(np.flatnonzero(bad), lambda i: _why_not_int(key, raw[i]))
    if known is not None:
        flag(np.flatnonzero(~bad & ~_among(values, known)),
             lambda i: f"{key} {values[i]} has no {what}")
    return values


def _among(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """``np.isin(values, known)`` by binary search: no sort when ``known`` is sorted."""
    if not len(known):
        return np.zeros(len(values), bool)
    if len(known) > 1 and (known[1:] < known[:-1]).any():
        known = np.sort(known)
    at = np.minimum(np.searchsorted(known, values), len(known) - 1)
    return known[at] == values


def _segmentations(raw: list, flag: Callable) -> np.ndarray:
    """Polygons and RLE as given; empty means None; a bare flat polygon gets wrapped.

    A malformed one is flagged (its annotation is skipped) and set to None here, so that
    nothing downstream (a box taken from it, pycocotools) ever sees it.
    """
    if raw.count(None) == len(raw):  # a detection set: no segmentation anywhere
        return _objects(raw)
    segs = _objects([s if s else None for s in raw])
    for i in [i for i, s in enumerate(segs) if s is not None]:
        s = segs[i]
        if type(s) is list and s and all(_is_number(v) for v in s):
            s = segs[i] = [s]  # one polygon written without the outer list
        if type(s) is dict:
            why = _rle_problem(s)
        elif type(s) is list:
            why = _polygon_problem(s)
        else:
            why = f"segmentation is neither polygons nor RLE (a JSON {_json_type(s)})"
        if why:
            flag([i], lambda _, why=why: why)
            segs[i] = None  # the record is skipped; nothing is computed from it
    return segs


def _polygon_problem(polygons: Any) -> str | None:
    """Why a list of polygons is unusable, or None: each a list of an even number of
    finite numbers (at least 2 points) within MAX_COORD (pycocotools' memory grows with
    the coordinates: 1e9 crashed it)."""
    if type(polygons) is not list:
        return f"segmentation is neither polygons nor RLE (a JSON {_json_type(polygons)})"
    for p in polygons:
        if type(p) is not list or not all(map(_is_finite, p)):
            return "segmentation polygon holds something that is not a finite number"
        if len(p) % 2 or len(p) < 4:
            return f"segmentation polygon has {len(p)} coordinates (needs x, y pairs, >= 2)"
        if p and max(map(abs, p)) > MAX_COORD:
            return f"segmentation polygon coordinates must lie within {MAX_COORD:g} px"
    return None


def _rle_problem(rle: dict) -> str | None:
    """Why an RLE is unusable, or None: 'size' [height, width] within MAX_SIDE and 'counts'
    COCO's compressed string or non-negative integers adding up to height x width (checked
    here, before pycocotools reads it: its counts and areas are uint32)."""
    if "size" not in rle or "counts" not in rle:
        return f"segmentation is RLE without {'size' if 'size' not in rle else 'counts'}"
    size, counts = rle["size"], rle["counts"]
    if not (type(size) is list and len(size) == 2
            and all(_is_int(v) and 0 <= v <= MAX_SIDE for v in size)
            and size[0] * size[1] < 1 << 32):
        return f"segmentation RLE size {_short(size)} is not [height, width]"
    if type(counts) is str:
        if not _RLE_CHARS.fullmatch(counts):
            return "segmentation RLE counts string holds characters outside COCO's encoding"
        return None
    if type(counts) is list and all(type(c) is int and 0 <= c < 1 << 31 for c in counts):
        if sum(counts) != size[0] * size[1]:
            return (f"segmentation RLE counts sum to {sum(counts)}, not height x width "
                    f"= {size[0] * size[1]}")
        return None
    return "segmentation RLE counts is neither a string nor a list of non-negative integers"


def _geometry(records: list[dict], segmentation: np.ndarray, flag: Callable
              ) -> tuple[np.ndarray, ...]:
    """x, y, w, h and kind. A missing bbox comes from the segmentation; an annotation with
    neither but one keypoint is a point."""
    raw = _column(records, "bbox")
    n = len(raw)
    boxes = _box_array(raw)
    kind = np.full(n, "box", dtype=object)
    missing = (np.zeros(n, bool) if None not in raw
               else np.array([b is None for b in raw], dtype=bool))
    flag(np.flatnonzero(~missing & ~np.isfinite(boxes).all(axis=1)),
         lambda i: f"bbox {_short(raw[i])} is not 4 finite numbers")
    with np.errstate(invalid="ignore"):
        flag(np.flatnonzero((np.abs(boxes) > MAX_COORD).any(axis=1)),
             lambda i: f"bbox {_short(raw[i])} is beyond {MAX_COORD:g} px")
        flag(np.flatnonzero((boxes[:, 2] < 0) | (boxes[:, 3] < 0)),
             lambda i: f"bbox {_short(raw[i])} has a negative width or height")
    for i in np.flatnonzero(missing):
        if segmentation[i] is not None:  # checked by _segmentations
            boxes[i] = _segmentation_box(segmentation[i])
        elif _one_keypoint(records[i].get("keypoints")):
            boxes[i, :2] = records[i]["keypoints"][:2]
            kind[i] = "point"
        else:
            flag([i], lambda _: "no 'bbox' (nor a segmentation to take it from)")
    x, y, w, h = (np.ascontiguousarray(boxes[:, k]) for k in range(4))
    return x, y, w, h, kind


def _box_array(raw: list) -> np.ndarray:
    """(n, 4) float64 boxes; a missing or malformed box is a row of NaN."""
    try:
        if set(map(len, raw)) <= {4}:  # every box has 4 values: read them in one go
            flat = list(chain.from_iterable(raw))
            if set(map(type, flat)) <= {int, float}:  # never strings or booleans
                return np.array(flat, dtype=np.float64).reshape(-1, 4)
    except (TypeError, ValueError, OverflowError):  # a missing box, a huge int
        pass
    return np.array([list(map(_to_float, b)) if isinstance(b, list) and len(b) == 4
                     and all(map(_is_number, b)) else (np.nan,) * 4 for b in raw],
                    dtype=np.float64).reshape(-1, 4)


def _one_keypoint(kp: Any) -> bool:
    return isinstance(kp, list) and len(kp) == 3 and all(map(_is_finite, kp))


def _segmentation_box(seg: Any) -> tuple[float, float, float, float]:
    """The bounding box of polygons (their coordinates) or an RLE (pycocotools)."""
    if isinstance(seg, list):
        xs = [v for p in seg for v in p[0::2]]
        ys = [v for p in seg for v in p[1::2]]
        if not xs:
            return (np.nan,) * 4
        return min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)
    from pycocotools import mask

    rle = _rle(seg)
    if rle is None:
        return (np.nan,) * 4
    x, y, w, h = (float(v) for v in mask.toBbox(rle))
    return x, y, w, h


def _rle(seg: dict) -> dict | None:
    """A compressed RLE for pycocotools from either RLE form; None for one it could crash
    on or misread (checked first: a Dataset may be built by hand)."""
    from pycocotools import mask

    if _rle_problem(seg):
        return None
    if isinstance(seg["counts"], list):
        h, w = (int(v) for v in seg["size"])
        return mask.frPyObjects(seg, h, w)
    if _string_counts_total(seg["counts"]) != seg["size"][0] * seg["size"][1]:
        return None
    return seg


def _string_counts_total(text: str) -> int | None:
    """Sum of the run lengths in COCO's compressed counts (pycocotools' rleFrString)."""
    counts: list[int] = []
    p, n = 0, len(text)
    while p < n:
        x, k, more = 0, 0, True
        while more:
            if p >= n:
                return None
            c = ord(text[p]) - 48
            x |= (c & 0x1F) << 5 * k
            more = bool(c & 0x20)
            p, k = p + 1, k + 1
            if not more and c & 0x10:
                x |= -1 << 5 * k
        if len(counts) > 2:
            x += counts[-2]
        if x < 0:
            return None
        counts.append(x)
    return sum(counts)


def _iscrowd(raw: list, flag: Callable) -> np.ndarray:
    values, bad = _ints([0 if v is None else v for v in raw])
    flag(np.flatnonzero(bad), lambda i: f"iscrowd {_short(raw[i])} is not 0 or 1")
    return (values != 0).astype(np.int64)


# -- several files into one dataset -------------------------------------------------------

def _merge(parts: list[tuple]) -> Dataset:
    """One Dataset from (file, categories, images, annotations, top, split, roots) parts."""
    renumbered: list[str] = []
    categories = parts[0][1]
    for k, (file, cats, *_) in enumerate(parts[1:], start=1):
        earlier = ", ".join(p[0].name for p in parts[:k])
        categories = _unique_categories(pd.concat([categories, cats], ignore_index=True),
                                        file, other=earlier)
    image_frames, ann_frames = [], []
    for _, _, images, annotations, _, split, _ in parts:
        keep_own = split is None and "split" in images  # a single file whose images name one
        image_frames.append(images if keep_own else images.assign(split=split))
        ann_frames.append(annotations)
    if len(parts) > 1 and _collide([f["id"] for f in image_frames]):
        _renumber_images(image_frames, ann_frames)
        renumbered.append("image ids repeat across files: renumbered 1..N in file order")
    if len(parts) > 1 and _collide([f["id"] for f in ann_frames]):
        offset = 0
        for frame in ann_frames:
            frame["id"] = np.arange(offset + 1, offset + len(frame) + 1)
            offset += len(frame)
        renumbered.append("annotation ids repeat across files: renumbered 1..M in file order")
    images = _concat(image_frames)
    annotations = _concat(ann_frames)
    meta = {"coco": _top_meta(parts), **_roots(parts)}
    if renumbered:
        meta["coco"]["renumbered"] = renumbered
    return Dataset(categories, images, annotations, meta)


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def _collide(id_columns: list[pd.Series]) -> bool:
    """True when an id appears in two files (repeats inside one file are left for QC)."""
    ids = np.concatenate([np.unique(c.to_numpy()) for c in id_columns])
    return len(np.unique(ids)) < len(ids)


def _renumber_images(image_frames: list[pd.DataFrame], ann_frames: list[pd.DataFrame]) -> None:
    offset = 0
    for images, annotations in zip(image_frames, ann_frames):
        old = pd.Index(images["id"])
        annotations["image_id"] = old.get_indexer(annotations["image_id"]) + offset + 1
        images["id"] = np.arange(offset + 1, offset + len(images) + 1)
        offset += len(images)


def _top_meta(parts: list[tuple]) -> dict:
    """Top-level keys (info, licenses, ...) of the first file; per split when files differ."""
    tops = [p[4] for p in parts]
    meta = dict(tops[0])
    if any(t != tops[0] for t in tops[1:]):
        meta["by_split"] = {p[5]: p[4] for p in parts}
    return meta


def _roots(parts: list[tuple]) -> dict:
    """meta image_root / split_roots: the folder each file's images are in, where it exists."""
    found = {p[5]: _pick_root(p[6], list(p[2]["file_name"][:50])) for p in parts}
    roots = set(found.values())
    if len(roots) == 1:
        root = roots.pop()
        return {"image_root": None if root is None else str(root), "split_roots": {}}
    return {"image_root": None,
            "split_roots": {s: str(r) for s, r in found.items() if r is not None}}


def _results(records: list, file: Path, problems: Problems,
             ground_truth: Dataset | None) -> Dataset:
    """Predictions from a results list; images and categories from ``ground_truth``."""
    records, reasons = _records(records, "results", file)
    if ground_truth is None:
        anns = _annotations(records, reasons, file, problems, None, None, results=True)
        image_ids = np.unique(anns["image_id"])
        cat_ids = np.unique(anns["category_id"])
        return Dataset(pd.DataFrame({"id": cat_ids, "name": [str(c) for c in cat_ids]}),
                       pd.DataFrame({"id": image_ids, "file_name": [None] * len(image_ids)}),
                       anns, {"coco": {}})
    anns = _annotations(records, reasons, file, problems, ground_truth.images["id"].to_numpy(),
                        ground_truth.categories["id"].to_numpy(), results=True)
    meta = {k: ground_truth.meta.get(k) for k in ("image_root", "split_roots")}
    return Dataset(ground_truth.categories.copy(), ground_truth.images.copy(), anns,
                   {**meta, "coco": {}})
