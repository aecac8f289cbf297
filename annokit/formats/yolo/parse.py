"""YOLO parsing: image sizes from headers, every label file's lines to numbers in bulk,
normalised values to absolute boxes, polygons and keypoints.
"""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import AnnokitError, FormatError, Problems
from ...fileio import read_regular, shown_text
from ...geometry import convert_boxes, denormalize
from ...imagesize import image_size
from ...model import ANNOTATION_SCHEMA, Dataset
from ...progress import track
from .discover import (MAX_CLASSES, _from_darknet, _from_folder, _from_yaml, _image_table,
                       _kpt_shape, _layout, _report_orphans, _roots)


RANGE_TOLERANCE = 1e-3  # normalised values this far past 0 or 1 are rounding noise
YOLO_QUANTUM = 0.75e-6  # the most a 6-decimal cx -/+ w/2 is off, as a share of the side
BOM = b"\xef\xbb\xbf"


# -- read --------------------------------------------------------------------------------

def read(path: Path, *, problems: Problems, image_root: Path | None = None) -> Dataset:
    """Read a YOLO dataset: Ultralytics/Roboflow ``data.yaml``, Darknet ``obj.data``, or a
    folder of images and labels with ``classes.txt`` / ``obj.names``.

    ``image_root`` overrides where images are looked for (the ``data.yaml`` ``path``, the
    Darknet root, or the folder of a bare layout).

    Example:
        >>> from annokit.errors import Problems
        >>> ds = read(Path("fixtures/yolo/ultralytics"), problems=Problems())  # doctest: +SKIP
        >>> ds.annotations.loc[0, ["x", "y", "w", "h"]].tolist()  # doctest: +SKIP
        [80.0, 30.0, 40.0, 40.0]
    """
    path = Path(os.path.abspath(path))
    found = _layout(path)
    if found is None:
        raise FormatError(path, "not a YOLO dataset: no data.yaml, obj.data or classes.txt",
                          hint="give the folder that holds data.yaml")
    kind, file = found
    if kind == "yaml":
        names, names_from, ids, keep, sources = _from_yaml(file, image_root, problems)
    elif kind == "darknet":
        names, names_from, ids, keep, sources = _from_darknet(file, image_root, problems)
    else:
        names, names_from, ids, keep, sources = _from_folder(file, image_root, problems)
    table = _image_table(sources)
    kpt = _kpt_shape(keep, file)
    images, anns, task = _read_labels(table, (names, names_from), ids, kpt, problems)
    _report_orphans(table, problems)
    meta = {**_roots(table), "yolo": dict(keep)}
    if table.attrs.get("split_overlaps"):
        meta["split_overlaps"] = table.attrs["split_overlaps"]
    if task:
        meta["yolo"]["task"] = task
    categories = pd.DataFrame({"id": ids, "name": [names[k] for k in sorted(names)],
                               "supercategory": None})
    return Dataset(categories, images, anns, meta)


# .. label files .........................................................................

def _read_labels(table: pd.DataFrame, names: tuple[dict[int, str], str], ids: list[int],
                 kpt: tuple[int, int | None] | None, problems: Problems):
    """Image sizes from headers and every label file, parsed in bulk, READ_CHUNK files
    at a time.

    ``names`` is ({class index: name}, the file they come from, for messages).
    """
    n = len(table)
    files = _Files(table["label"].tolist(), np.zeros(n, np.int64), np.zeros(n, np.int64),
                   np.zeros(n, np.int64))
    keep = np.ones(n, bool)
    scan = _Scan(kpt)
    texts: list[bytes] = []
    paths, labels = table["path"].tolist(), files.labels
    for i in track(range(n), "reading YOLO labels", total=n):
        try:
            files.widths[i], files.heights[i] = image_size(paths[i])
            data = _label_bytes(labels[i])
        except FormatError as e:
            origin: object = table["origin"].iat[i]  # "list.txt:line n" or None
            problems.skip(FormatError(e.file, e.reason, e.place, hint="image left out" + (
                f"; listed at {origin}" if origin else "")))
            keep[i], data = False, b""
        except OSError as e:
            problems.skip(FormatError(labels[i], f"cannot read: {e.strerror or e}",
                                      hint="image left out"))
            keep[i], data = False, b""
        texts.append(_normal_lines(data))
        if len(texts) == READ_CHUNK or i == n - 1:
            files.counts[i + 1 - len(texts):i + 1] = scan.add(texts)
            texts = []
    anns, task = _parse(scan, files, names, ids, problems)
    images = table.assign(width=files.widths, height=files.heights)[keep]
    images = images[["file_name", "width", "height", "split"]].reset_index()
    images["id"] = np.arange(1, len(images) + 1)
    # annotations point to the kept images' new ids
    new_id = np.zeros(n + 1, np.int64)
    new_id[images["index"].to_numpy()] = images["id"].to_numpy()
    anns["image_id"] = new_id[anns["image_id"].to_numpy()]
    return images.drop(columns="index"), anns, task


def _label_bytes(label: str) -> bytes:
    """A label file's bytes; b"" when there is none (an image without objects). A FIFO, a
    device or a link to one is a FormatError saying what it is, never a hang."""
    try:
        return read_regular(label, what="label file")
    except AnnokitError as e:
        if not os.path.lexists(label):
            return b""
        if isinstance(e, FormatError):
            raise
        raise FormatError(label, str(e).removeprefix(f"{label}: ")) from None


def _normal_lines(data: bytes) -> bytes:
    """Without a BOM, with \\n line ends, and a \\n after the last line."""
    if data.startswith(BOM):
        data = data[3:]
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return data + b"\n" if data and not data.endswith(b"\n") else data


@dataclass(frozen=True)
class _Files:
    """The label files, one row each: path, lines in it, and its image's width and height
    (0 where unknown)."""

    labels: list[str]
    counts: np.ndarray
    widths: np.ndarray
    heights: np.ndarray


READ_CHUNK = 20_000  # label files whose text is parsed at a time: the text of every file
#                      (and the copy joining it) never exists all at once, the numbers do


class _Scan:
    """Label text turned into numbers a chunk of files at a time: for each field count,
    the (global) line numbers and values of its lines, with the lines that are no numbers;
    lines of a field count no YOLO line has; the text of the lines that failed to parse."""

    def __init__(self, kpt) -> None:
        self.kpt, self.lines = kpt, 0
        self.blocks: dict[int, list[tuple[np.ndarray, np.ndarray, list]]] = {}
        self.errors: list[tuple[int, str]] = []  # (line, reason)
        self.words: dict[int, bytes] = {}  # line -> its text, for lines that are no numbers

    def add(self, texts: list[bytes]) -> np.ndarray:
        """Parse the lines of ``texts`` (one per file, normalised); their line counts."""
        counts = np.fromiter((t.count(b"\n") for t in texts), np.int64, count=len(texts))
        text = b"".join(texts)
        first = self.lines
        self.lines += int(counts.sum())
        nf = _field_counts(text, self.lines - first)
        lines: list[bytes] = []  # split only when needed: several line kinds, or bad lines

        def line_list() -> list[bytes]:
            if not lines:
                lines.extend(text.split(b"\n"))
            return lines

        kinds = [f for f in np.flatnonzero(np.bincount(nf)) if f > 0] if len(nf) else []
        for fields in kinds:
            rows = np.flatnonzero(nf == fields)
            if _line_kind(int(fields), self.kpt) is None:
                self.errors += [(r, f"expected 5 fields (class cx cy w h), got {fields}")
                                for r in (rows + first).tolist()]
                continue
            values, bad = _numbers(text if len(kinds) == 1 else None, rows, int(fields),
                                   line_list)
            for j, _ in bad:
                self.words[first + int(rows[j])] = line_list()[rows[j]]
            self.blocks.setdefault(int(fields), []).append((rows + first, values, bad))
        return counts

    def block(self, fields: int) -> tuple[np.ndarray, np.ndarray, list[tuple[int, str]]]:
        """All lines of ``fields`` fields: (lines, values, bad), the chunks freed as they
        are copied in (at most one chunk more than the block in memory)."""
        parts = self.blocks.pop(fields)
        if len(parts) == 1:  # one chunk: nothing to copy
            return parts[0]
        total = sum(len(p[0]) for p in parts)
        rows, values, bad = np.empty(total, np.int64), np.empty((total, fields)), []
        at = 0
        while parts:
            r, v, b = parts.pop(0)
            rows[at:at + len(r)], values[at:at + len(r)] = r, v
            bad += [(j + at, reason) for j, reason in b]
            at += len(r)
        return rows, values, bad


def _parse(scan: _Scan, files: _Files, named: tuple[dict[int, str], str | None],
           ids: list[int], problems: Problems) -> tuple[pd.DataFrame, str | None]:
    """Every line of every file to one annotation frame, numbers parsed per field count.

    ``named`` is ({class index: name}, where they come from; None: no names file, every
    class index in the labels is a class, named and added to ``ids`` here).
    """
    owner = np.repeat(np.arange(len(files.counts)), files.counts)
    starts = np.cumsum(files.counts) - files.counts
    line_of = _line_texts(scan.words, files.labels, owner, starts)
    errors = list(scan.errors)  # (line index, reason), reported in reading order
    kpt = scan.kpt
    blocks = []
    for fields in sorted(scan.blocks):
        kind = _line_kind(fields, kpt)
        assert kind is not None  # _Scan.add keeps only the lines of a known kind in blocks
        rows, values, bad = scan.block(fields)
        if kind.startswith("polygon"):  # pose and DOTA lines are no polygons: skip them
            bad = sorted(_not_polygons(fields, rows, values, bad, kpt, line_of))
        errors += [(rows[j], reason) for j, reason in bad]
        if bad:
            good = _without(len(rows), bad)
            rows, values = rows[good], values[good]
        blocks.append((kind, rows, values))
    names, names_from = named
    if names_from is None:  # no names file: every class index in the labels is a class
        _name_by_index(names, ids, [values[:, 0] for _, _, values in blocks])
        names_from = "the labels"
    lookup = _class_lookup(names, ids)
    frames = []
    for kind, rows, values in blocks:
        category, bad = _classes(values[:, 0], lookup, f"{names_from} ({len(names)} names)")
        bad += _out_of_range(kind, values, {j for j, _ in bad})
        errors += [(rows[j], reason) for j, reason in bad]
        if bad:
            ok = _without(len(rows), bad)
            rows, values, category = rows[ok], values[ok], category[ok]
        w = files.widths[owner[rows]].astype(float)
        h = files.heights[owner[rows]].astype(float)
        frame = _to_absolute(kind, values, w, h, kpt)
        frame["row"], frame["category_id"], frame["image_id"] = rows, category, owner[rows]
        frames.append(frame)  # columns set in place: no copy of a million-row frame
    for row, reason in sorted(errors, key=lambda e: e[0]):
        shown = line_of(int(row)).decode("utf-8", "replace").strip()
        label = files.labels[owner[row]]  # quoted only when it lies in its labels folder
        shown = shown_text(shown, label, os.path.dirname(os.path.abspath(label)))
        problems.skip(FormatError(label, reason, place=f"line {row - starts[owner[row]] + 1}",
                                  hint=f"line skipped: {shown}"))
    anns = _in_line_order(frames)
    task = "segment" if any(k.startswith("polygon") for k, _, _ in blocks) else None
    corners = {len(v[0]) for k, r, v in blocks if k.startswith("polygon") and len(r)}
    if corners and corners <= {9, 10}:
        problems.note("every polygon has 4 corners: oriented boxes (Ultralytics OBB) are read "
                      "as 4-point polygons, with the upright box around each")
    return anns, task


def _in_line_order(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The frames of each line kind as one, in reading order (``row``), numbered 1..n."""
    empty = pd.DataFrame({c: pd.Series(dtype=object if d is object else d)
                          for c, d in ANNOTATION_SCHEMA.items()} | {"row": pd.Series(dtype=int)})
    anns = frames[0] if len(frames) == 1 else \
        pd.concat(frames, ignore_index=True) if frames else empty
    if len(frames) > 1:
        anns = anns.sort_values("row", kind="stable").reset_index(drop=True)
    del anns["row"]
    anns["id"] = np.arange(1, len(anns) + 1)
    return anns


def _line_texts(words: dict[int, bytes], labels: list[str], owner: np.ndarray,
                starts: np.ndarray):
    """``line_of(row)``: the text of line ``row``, for messages. Lines that failed to parse
    were kept; any other (a class without a name, a value out of range: few) is read again
    from its file, the last file's lines cached."""
    cache: dict[int, list[bytes]] = {}

    def line_of(row: int) -> bytes:
        if row in words:
            return words[row]
        image = int(owner[row])
        if image not in cache:
            cache.clear()
            try:
                cache[image] = _normal_lines(_label_bytes(labels[image])).split(b"\n")
            except (AnnokitError, OSError):
                cache[image] = []
        lines = cache[image]
        number = int(row - starts[image])
        return lines[number] if number < len(lines) else b""

    return line_of


def _not_polygons(fields: int, rows: np.ndarray, values: np.ndarray, bad: list, kpt,
                  line_of) -> list[tuple[int, str]]:
    """``bad`` plus the lines of a polygon-sized block that are something else.

    - pose lines without ``kpt_shape``: ``class cx cy w h`` + k keypoints ``x y v``, every
      ``v`` 0, 1 or 2 and some 2 in the block (a normalised polygon coordinate is never 2),
      or any 5 + 2k / 5 + 3k line when data.yaml has ``flip_idx`` or ``kpt_names``;
    - DOTA ``labelTxt`` lines: ``x1 y1 ... x4 y4 class difficult`` (pixel corners, a class
      name or number, then 0 or 1).
    """
    reasons = dict(bad)
    pose = np.zeros(len(rows), bool)
    if kpt is not None and kpt[1] is None:
        pose[:] = fields in (5 + 2 * kpt[0], 5 + 3 * kpt[0])
    elif (fields - 5) % 3 == 0:
        v = values[:, 7::3]
        pose = np.asarray(np.isin(v, (0, 1, 2)).all(axis=1))
        pose &= bool((v[pose] == 2).any())
    for j in np.flatnonzero(pose):
        k = (fields - 5) // (2 if kpt is not None and fields == 5 + 2 * kpt[0] else 3)
        reasons[j] = (f"a pose line (class cx cy w h and {k} keypoints), but data.yaml has no "
                      f"kpt_shape; not read as a polygon (add kpt_shape: [{k}, 2 or 3])")
    if fields == 10:
        for j in _dota_lines(rows, values, line_of):
            reasons[j] = ("a DOTA/OBB labelTxt line (x1 y1 ... x4 y4 class difficult), not a "
                          "YOLO box or polygon")
    return list(reasons.items())


def _dota_lines(rows: np.ndarray, values: np.ndarray, line_of) -> np.ndarray:
    """Positions in ``rows`` of DOTA lines: 8 numbers, a class, 0 or 1; the corners in
    pixels (above 1.5) or the class a word."""
    difficult = np.isin(values[:, 9], (0, 1))
    pixels = (np.nan_to_num(values[:, 1:8], nan=0.0) > 1.5).any(axis=1) & difficult
    worded = np.isnan(values[:, 8]) & ~np.isnan(values[:, :8]).any(axis=1) & difficult
    found = pixels | worded
    if np.isnan(values).any():  # a failed parse left NaN: look at the words themselves
        for j in np.flatnonzero(np.isnan(values).any(axis=1) & ~found):
            words = line_of(int(rows[j])).split()
            found[j] = (all(_is_float(w) for w in words[:8]) and not _is_float(words[8])
                        and words[9] in (b"0", b"1"))
    return np.flatnonzero(found)


def _field_counts(text: bytes, n_lines: int) -> np.ndarray:
    """Whitespace-separated fields on each line of ``text``, counted with numpy."""
    buf = np.frombuffer(text, np.uint8)
    space = buf <= 32  # blanks, tabs, line ends and other control characters
    starts = np.flatnonzero(~space & np.concatenate(([True], space[:-1])))
    ends = np.flatnonzero(buf == 10)
    return np.bincount(np.searchsorted(ends, starts), minlength=n_lines)[:n_lines]


def _out_of_range(kind: str, values: np.ndarray, already: set) -> list[tuple[int, str]]:
    """Lines whose normalised values leave [0, 1] (negative sizes included): Ultralytics
    refuses them, and they would become negative or absurd boxes."""
    low: float
    high: float
    if kind.startswith("polygon"):  # corners a little outside the image occur (OBB): kept
        coords = values[:, 1:-1] if kind.endswith("score") else values[:, 1:]
        low, high, what = -1, 2, "polygon coordinates must lie in [-1, 2] (normalised)"
    else:  # cx cy w h; keypoint visibility may be 2
        coords = values[:, 1:5]
        low, high = -RANGE_TOLERANCE, 1 + RANGE_TOLERANCE
        what = "cx, cy, w, h must lie in [0, 1] (normalised)"
    outside = ((coords < low) | (coords > high)).any(axis=1)
    return [(int(j), what) for j in np.flatnonzero(outside) if int(j) not in already]


def _without(n: int, bad: list[tuple[int, str]]) -> np.ndarray:
    """Mask of the ``n`` rows that are not in ``bad``."""
    mask = np.ones(n, bool)
    mask[[j for j, _ in bad]] = False
    return mask


def _line_kind(fields: int, kpt: tuple[int, int | None] | None) -> str | None:
    if kpt and kpt[1] and fields == 5 + kpt[0] * kpt[1]:
        return "pose"
    if fields in (5, 6):
        return "box" if fields == 5 else "box+score"
    if fields >= 7:
        return "polygon" if fields % 2 else "polygon+score"
    return None  # fewer than 5 fields


def _numbers(text: bytes | None, rows: np.ndarray, fields: int, line_list):
    """Parse the lines ``rows`` (all of ``text`` when given) as numbers at C speed.

    The lines are looked at one by one only when that fails, to name the bad ones.
    """
    if text is None:
        lines = line_list()
        text = b"\n".join([lines[r] for r in rows])
    try:
        frame = pd.read_csv(io.BytesIO(text), sep=r"\s+", header=None, names=range(fields),
                            dtype=np.float64, na_filter=False, index_col=False,
                            quoting=csv.QUOTE_NONE, engine="c")
        values = frame.to_numpy()
        if values.shape != (len(rows), fields):
            raise ValueError("line count")
    except (ValueError, pd.errors.ParserError):
        lines = line_list()
        values, bad = np.full((len(rows), fields), np.nan), []
        for j, r in enumerate(rows):
            try:
                values[j] = [float(v) for v in lines[r].split()]
            except ValueError:
                word = next(v for v in lines[r].split() if not _is_float(v))
                bad.append((j, f"not a number: {word.decode('utf-8', 'replace')!r}"))
        bad_rows = {j for j, _ in bad}
    else:
        bad, bad_rows = [], set()
    finite = np.isfinite(values).all(axis=1)
    bad += [(int(j), "non-finite value (nan or inf)") for j in np.flatnonzero(~finite)
            if j not in bad_rows]
    return values, sorted(bad)


def _is_float(word: bytes) -> bool:
    try:
        float(word)
        return True
    except ValueError:
        return False


NO_NAME = np.iinfo(np.int64).min  # in the lookup: an index without a name (ids may be 0)


def _name_by_index(names: dict[int, str], ids: list[int], classes: list[np.ndarray]) -> None:
    """Fill ``names`` and ``ids`` in place: class k is named 'k', id k + 1, for every class
    index used (up to MAX_CLASSES; a larger index is a bad line)."""
    values = np.concatenate(classes) if classes else np.zeros(0)
    values = np.unique(values[(values >= 0) & (values == np.floor(values))
                              & (values < MAX_CLASSES)]).astype(np.int64)
    names.update({int(k): str(int(k)) for k in values})
    ids[:] = [k + 1 for k in sorted(names)]


NO_NAME = np.iinfo(np.int64).min  # in the lookup: an index without a name (ids may be 0)


def _class_lookup(names: dict[int, str], ids: list[int]) -> np.ndarray:
    """Array: class index -> category id, NO_NAME where the index has no name."""
    lookup = np.full(max(names, default=0) + 1, NO_NAME, np.int64)  # never empty
    lookup[sorted(names)] = ids
    return lookup


def _classes(values: np.ndarray, lookup: np.ndarray, names_from: str):
    """Category ids of the class column, and the lines whose class is not a named index."""
    named = (values == np.floor(values)) & (values >= 0) & (values < len(lookup))
    category = np.where(named, lookup[np.where(named, values, 0).astype(np.int64)], NO_NAME)
    bad = [(j, f"class {_show(values[j])} has no name in {names_from}")
           for j in np.flatnonzero(category == NO_NAME)]
    return category, bad


def _show(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(float(value))


def _to_absolute(kind: str, values: np.ndarray, w: np.ndarray, h: np.ndarray, kpt) -> pd.DataFrame:
    """Normalised line values to absolute boxes (and polygons, keypoints, scores)."""
    n = len(values)
    segmentation = np.full(n, None, object)
    columns = {"kind": "box", "iscrowd": 0, "segmentation": segmentation, "score": np.nan}
    if kind.startswith("polygon"):
        points = values[:, 1:-1] if kind.endswith("score") else values[:, 1:]
        xs, ys = points[:, 0::2] * w[:, None], points[:, 1::2] * h[:, None]
        x0, y0 = xs.min(axis=1), ys.min(axis=1)
        columns.update(x=x0, y=y0, w=xs.max(axis=1) - x0, h=ys.max(axis=1) - y0)
        flat = np.empty_like(points)
        flat[:, 0::2], flat[:, 1::2] = xs, ys
        for j, polygon in enumerate(flat.tolist()):
            segmentation[j] = [polygon]
    else:
        xyxy = denormalize(convert_boxes(values[:, 1:5], "cxcywh", "xyxy"), w, h)
        boxes = convert_boxes(_whole_edges(xyxy, w, h), "xyxy", "xywh")
        columns.update(x=boxes[:, 0], y=boxes[:, 1], w=boxes[:, 2], h=boxes[:, 3])
    if kind.endswith("score"):
        columns["score"] = values[:, -1]
    if kind == "pose":
        columns["keypoints"] = _keypoints(values[:, 5:], w, h, kpt)
    return pd.DataFrame(columns, index=pd.RangeIndex(n))


def _whole_edges(xyxy: np.ndarray, w: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Box edges within YOLO's rounding of a whole pixel become that pixel.

    ``xyxy`` (a temporary of the caller's) is changed in place and returned. Six decimals
    of ``cx`` and ``w`` place an edge to within 0.75e-6 of the image side
    (0.0005 px at 640 px): an integer box written as YOLO reads back as integers, so a
    VOC -> YOLO -> VOC round trip gives back the source's integers.
    """
    for column, side in enumerate((w, h, w, h)):  # in place, an edge column at a time:
        edge = xyxy[:, column]                     # no (n, 4) temporaries for a million boxes
        nearest = np.round(edge)
        snap = np.abs(edge - nearest) <= YOLO_QUANTUM * side + 1e-9
        edge[snap] = nearest[snap]
    return xyxy


def _keypoints(values: np.ndarray, w: np.ndarray, h: np.ndarray, kpt) -> list:
    """COCO-style flat [x, y, v] * k in pixels; v = 0 for YOLO's unlabelled (0, 0) points."""
    k, d = kpt
    points = values.reshape(len(values), k, d)
    out = np.empty((len(values), k, 3))
    out[:, :, 0], out[:, :, 1] = points[:, :, 0] * w[:, None], points[:, :, 1] * h[:, None]
    unlabelled = (points[:, :, 0] == 0) & (points[:, :, 1] == 0)
    out[:, :, 2] = points[:, :, 2] if d == 3 else np.where(unlabelled, 0, 2)
    return out.reshape(len(values), -1).tolist()
