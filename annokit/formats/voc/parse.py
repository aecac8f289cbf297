"""Pascal VOC parsing: every XML file once (small ones whole, large ones streamed), its
fields appended to flat column lists, the tree released; then the model's frames.
"""
from __future__ import annotations

import math
from array import array
import os
import re
from collections.abc import Iterable
from copy import deepcopy
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from lxml import etree

from ... import progress
from ...errors import AnnokitError, FormatError, Problems
from ...fileio import open_regular, read_regular
from ...model import ANNOTATION_SCHEMA, IMAGE_SCHEMA, Dataset
from .discover import (_annotation_folder, _fill_file_names, _fill_sizes,
                       _image_root_candidates, _labels_file, _layout, _pick_image_root,
                       _split_roots)


MAX_COORD = 1e5  # px: a corner beyond this is garbage, not an image
ORDER_TOLERANCE = 1e-3  # px: xmin past xmax by this much is rounding noise of a 0-wide box
# elements the reader maps onto model columns; anything else is kept as pass-through
IMAGE_RESERVED = set(IMAGE_SCHEMA) | {"folder", "filename", "path", "source", "size",
                                      "segmented", "object", "depth"}
OBJECT_RESERVED = set(ANNOTATION_SCHEMA) | {"name", "pose", "truncated", "difficult",
                                            "occluded", "bndbox", "confidence"}

# Never expand entities (billion laughs, XXE), never fetch anything, no huge documents.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False,
                          load_dtd=False, remove_comments=True, remove_pis=True,
                          remove_blank_text=True)


# -- read --------------------------------------------------------------------------

def read(path: Path, *, problems: Problems, image_root: Path | None = None,
         voc_one_based: bool = False) -> Dataset:
    """Read a VOC dataset (root, bare folder, split folders or one XML file).

    Categories get ids 1..K in the order of a ``labels.txt`` / ``class_names.txt`` /
    ``labelmap.txt`` beside the data, then in order of first appearance. Broken files
    and objects are skipped through ``problems``.

    Example:
        >>> ds = read(Path("fixtures/voc/root"), problems=Problems())  # doctest: +SKIP
        >>> ds.annotations[["x", "y", "w", "h"]].iloc[0].tolist()       # doctest: +SKIP
        [1.0, 2.0, 9.0, 8.0]
    """
    given = Path(path).absolute()
    path = _annotation_folder(given) or given  # annots/ + images/: read annots/ as a folder
    layout, entries, split_dirs, trainval, overlaps = _layout(path, problems)
    parsed = _parse_all(entries, problems)
    images, objects = parsed["images"], parsed["annotations"]
    if split_dirs:  # Roboflow: each split keeps its images beside its XML
        folder = str(image_root or path)
        roots = _split_roots(path, split_dirs, image_root, images)
    else:
        folder = _pick_image_root(_image_root_candidates(layout, path, image_root), images)
        roots = {}
    keep = _fill_file_names(images, folder, roots, problems)
    if not keep.all():
        _keep_rows(images, objects, keep)
    _fill_sizes(images, folder, roots)

    base = path.parent if layout == "file" else path
    labels_file, labels = _labels_file(base)
    if labels_file is None and given != path:  # labels.txt beside annots/ and images/
        labels_file, labels = _labels_file(given)
    categories, cat_ids = _categories(labels, objects["name"])
    image_frame, annotation_frame = _frames(images, objects, cat_ids, voc_one_based,
                                            problems)
    meta_voc = {"layout": layout, "image_attributes": parsed["image_attributes"],
                "image_elements": parsed["image_elements"],
                "object_elements": parsed["object_elements"], "trainval": trainval}
    if labels_file:
        meta_voc["labels_file"] = labels_file
    if parsed["score_tag"] != "score":
        meta_voc["score_tag"] = parsed["score_tag"]
    meta = {"image_root": folder, "voc": meta_voc}
    if roots:
        meta["split_roots"] = roots
    if overlaps:
        meta["split_overlaps"] = overlaps
    return Dataset(categories, image_frame, annotation_frame, meta)


IMAGE_FIELDS = ("filename", "folder", "path", "source", "width", "height", "depth",
                "segmented")


OBJECT_KEYS = ("image", "number", "name", "pose", "truncated", "difficult", "occluded",
               "xmin", "ymin", "xmax", "ymax", "score")
FLUSH = 50_000 * len(OBJECT_KEYS)  # the flat list is moved into the columns this often


def _object_columns() -> dict:
    """Empty object columns: numbers in typed arrays (8 bytes a value, no float objects),
    texts in lists (shared string objects)."""
    return {k: array("q") if k in ("image", "number") else
            array("d") if k in ("xmin", "ymin", "xmax", "ymax", "score") else []
            for k in OBJECT_KEYS}


def _flush(flat: list, columns: dict) -> None:
    """Move the objects of ``flat`` (their fields one after another) into ``columns``."""
    step = len(OBJECT_KEYS)
    for i, key in enumerate(OBJECT_KEYS[:-1]):
        columns[key].extend(flat[i::step])
    columns["score"].extend([math.nan if s is None else s for s in flat[step - 1::step]])
    flat.clear()


def _parse_all(entries, problems: Problems) -> dict:
    """Parse every XML once into columns: each file's tree is released once read, and the
    objects' fields go through a short flat list into typed columns (no object per box)."""
    img: dict[str, list[object]] = {k: [] for k in ("stem", "file", "split", "origin",
                                                   *IMAGE_FIELDS)}
    obj = _object_columns()
    flat: list[object] = []  # the latest objects' fields one after another, into ``obj`` often
    same: dict[str | None, str | None] = {}  # one string object per distinct name/pose

    img_extra: dict[str, dict[int, object]] = {}   # column -> {image row: value}
    obj_extra: dict[str, dict[int, object]] = {}   # column -> {object row: value}
    tags: dict[str, dict[str, str]] = {"image": {}, "attribute": {}, "object": {}}  # XML -> column
    score_tag = "score"
    add, shared = flat.extend, same.setdefault
    empty = dict.fromkeys(IMAGE_FIELDS)

    objects: Iterable[Any]  # a list of <object> elements, or a generator for a large file
    for stem, file, split, origin in progress.track(entries, "reading VOC XML"):
        fields, objects, extra, attrib = empty, (), None, None
        if file is not None and _large(file):  # objects parsed and freed one at a time
            if not _well_formed(file, problems):
                continue
            fields, objects, extra, attrib = _stream_fields(file)
        elif file is not None:
            root = _parse_file(file, problems)
            if root is None:
                continue
            fields, objects, extra = _image_fields(root)
            attrib = root.attrib
        row = len(img["stem"])
        for number, element in enumerate(objects, 1):
            name, pose, trunc, diff, occl, score, x1, y1, x2, y2, more = _object_fields(element)
            try:  # never int(): 45.7 is a valid coordinate
                x1, y1, x2, y2 = float(x1), float(y1), float(x2), float(y2)
                total = x1 + y1 + x2 + y2
                ok = name and total - total == 0 and name.strip()  # NaN/inf fail here
                ok = ok and _in_order(x1, y1, x2, y2)  # garbage is skipped, with its reason
            except (TypeError, ValueError):
                ok = False
            if not ok:
                _skip_object(file, number, element, problems)
                continue
            if score is not None:
                score_tag, text = score
                score = _number(text)
                if score is None:
                    more = _add_child(more, score_tag, text)
            name = name.strip()
            add((row, number, shared(name, name), shared(pose, pose), trunc, diff, occl,
                 x1, y1, x2, y2, score))
            if more:
                _put(obj_extra, tags["object"], more,
                     len(obj["image"]) + len(flat) // len(OBJECT_KEYS) - 1, OBJECT_RESERVED)
        if len(flat) >= FLUSH:
            _flush(flat, obj)
        if extra:
            _put(img_extra, tags["image"], extra, row,
                 IMAGE_RESERVED | set(tags["attribute"].values()))
        if attrib:
            _put(img_extra, tags["attribute"], dict(attrib), row,
                 IMAGE_RESERVED | set(tags["image"].values()))
        for key, value in (("stem", stem), ("file", file), ("split", split),
                           ("origin", origin), *fields.items()):
            img[key].append(value)

    _flush(flat, obj)
    if all(v is None for v in obj["occluded"]):
        del obj["occluded"]
    images: dict[str, object] = {**img, "extra": img_extra}
    obj["extra"] = obj_extra
    columns = {kind: {column: tag for tag, column in names.items()}
               for kind, names in tags.items()}
    return {"images": images, "annotations": obj, "score_tag": score_tag,
            "image_elements": columns["image"], "image_attributes": columns["attribute"],
            "object_elements": columns["object"]}


def _image_fields(root) -> tuple[dict, list, dict | None]:
    """The known fields of an <annotation>, its <object> elements, and other children."""
    fields = dict.fromkeys(IMAGE_FIELDS)
    objects, extra = [], None
    for child in root:
        tag = child.tag
        if tag == "object":
            objects.append(child)
        elif tag == "size":
            for e in child:
                if e.tag in ("width", "height", "depth"):
                    fields[e.tag] = e.text
        elif tag in ("filename", "segmented"):
            fields[tag] = child.text
        elif tag in ("folder", "path"):
            fields[tag] = child.text or ""   # present but empty stays ''
        elif tag == "source":
            fields["source"] = _value(child)
        elif type(tag) is str:  # not a comment or an (unexpanded) entity
            extra = _add_child(extra, tag, _value(child))
    return fields, objects, extra


def _object_fields(element):
    """Texts of an <object>: name, pose, truncated, difficult, occluded, (score tag, text),
    xmin, ymin, xmax, ymax, and a dict of any other children."""
    name = pose = trunc = diff = occl = score = extra = None
    x1 = y1 = x2 = y2 = None
    # One elif a tag, not a {tag: text} dict: this runs for every object of every file,
    # and the dict read back with .get took 12-37% more CPU on BCCD's and raccoon's
    # objects (baselines/voc_dispatch_bench.py).
    for e in element:
        t = e.tag
        if t == "bndbox":
            if x1 is not None or y1 is not None:  # a second <bndbox>: which one is meant?
                x1 = y1 = x2 = y2 = ""  # not numbers: the object is skipped with its reason
                continue
            for c in e:
                t = c.tag
                if t == "xmin":
                    x1 = c.text
                elif t == "ymin":
                    y1 = c.text
                elif t == "xmax":
                    x2 = c.text
                elif t == "ymax":
                    y2 = c.text
        elif t == "name":
            name = e.text
        elif t == "pose":
            pose = e.text
        elif t == "truncated":
            trunc = e.text
        elif t == "difficult":
            diff = e.text
        elif t == "occluded":
            occl = e.text
        elif t == "score" or t == "confidence":
            score = (t, e.text)
        elif type(t) is str:  # not a comment or an (unexpanded) entity
            extra = _add_child(extra, t, _attributes(e) if t == "attributes" else _value(e))
    return name, pose, trunc, diff, occl, score, x1, y1, x2, y2, extra


def _corners(box) -> str:
    corners = ("xmin", "ymin", "xmax", "ymax")
    return ", ".join(f"{t}={(box.findtext(t) or '')[:20]!r}" for t in corners)


def _corners_out_of_order(box) -> bool:
    try:
        x1, y1, x2, y2 = (float(box.findtext(t)) for t in ("xmin", "ymin", "xmax", "ymax"))
    except (TypeError, ValueError):
        return False
    return all(math.isfinite(v) for v in (x1, y1, x2, y2)) and not _in_order(x1, y1, x2, y2)


def _in_order(x1: float, y1: float, x2: float, y2: float) -> bool:
    """xmin <= xmax and ymin <= ymax (to rounding noise), all within MAX_COORD."""
    return (-MAX_COORD <= x1 <= x2 + ORDER_TOLERANCE and x2 <= MAX_COORD
            and -MAX_COORD <= y1 <= y2 + ORDER_TOLERANCE and y2 <= MAX_COORD)


def _skip_object(file: str, number: int, element, problems: Problems) -> None:
    """Record why an <object> cannot be read: no name, no box, or a box without numbers."""
    name = (element.findtext("name") or "").strip()
    box = element.find("bndbox")
    if not name:
        problems.skip(FormatError(file, "object has no <name>", place=f"object {number}"))
    elif box is None:
        problems.skip(FormatError(file, "object has no <bndbox>",
                                  place=f"object '{name}' #{number}",
                                  hint="VOC objects need xmin/ymin/xmax/ymax"))
    elif len(element.findall("bndbox")) > 1:
        problems.skip(FormatError(file, "object has more than one <bndbox>",
                                  place=f"object '{name}' #{number}"))
    elif _corners_out_of_order(box):
        problems.skip(FormatError(file, "bndbox corners out of order or beyond "
                                  f"{MAX_COORD:g} px: {_corners(box)}",
                                  place=f"object '{name}' #{number}",
                                  hint="VOC needs xmin <= xmax and ymin <= ymax"))
    else:
        got = _corners(box)
        problems.skip(FormatError(file, "bndbox needs numeric xmin, ymin, xmax, ymax; got "
                                  + got, place=f"object '{name}' #{number}"))


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _put(columns: dict, names: dict, values: dict, row: int, reserved: set) -> None:
    """Store pass-through ``values`` at ``row``; an XML name that clashes gets 'voc_'."""
    for tag, value in values.items():
        column = names.get(tag)
        if column is None:
            column = names[tag] = "voc_" + tag if tag in reserved else tag
        columns.setdefault(column, {})[row] = value


STREAM_BYTES = 8 << 20  # larger files are streamed: a whole lxml tree is ~10x the file


def _large(file: str) -> bool:
    try:
        return os.path.getsize(file) > STREAM_BYTES
    except OSError:
        return False


def _iterparse(file: str, events: tuple):
    return etree.iterparse(open_regular(file, what="VOC file"), events=events,
                           resolve_entities=False, no_network=True, huge_tree=False,
                           load_dtd=False, remove_comments=True, remove_pis=True,
                           remove_blank_text=True)


def _well_formed(file: str, problems: Problems) -> bool:
    """A first, constant-memory pass: the same refusals as :func:`_parse_file`."""
    try:
        context = _iterparse(file, ("end",))
        for _, element in context:
            _free(element)
    except (etree.XMLSyntaxError, OSError, AnnokitError) as e:
        _unreadable(file, e, problems)
        return False
    return _checked_root(file, context.root.getroottree(), problems) is not None


def _free(element) -> None:
    """Drop a parsed element's content and the siblings before it: streaming stays small."""
    element.clear(keep_tail=False)
    parent = element.getparent()
    while element.getprevious() is not None:
        del parent[0]


def _stream_fields(file: str):
    """Like :func:`_image_fields` for a large file: (fields, objects, extra, attrib) where
    ``objects`` parses each <object> as it is consumed and frees it after; ``fields`` and
    ``extra`` are complete once ``objects`` is exhausted."""
    fields = dict.fromkeys(IMAGE_FIELDS)
    extra: dict[str, object] = {}
    attrib: dict[str, str] = {}

    def objects():
        depth = 0
        for event, element in _iterparse(file, ("start", "end")):
            if event == "start":
                depth += 1
                if depth == 1:
                    attrib.update(element.attrib)
                continue
            depth -= 1
            if depth != 1:
                continue
            if element.tag == "object":
                yield element
            else:  # a direct child of <annotation>: the same rules as for a whole tree
                wrapper = etree.Element("annotation")
                wrapper.append(deepcopy(element))
                more, _, children = _image_fields(wrapper)
                fields.update({k: v for k, v in more.items() if v is not None})
                for tag, value in (children or {}).items():
                    _add_child(extra, tag, value)
            _free(element)

    return fields, objects(), extra, attrib


def _parse_file(file: str, problems: Problems):
    """The <annotation> root of ``file``, or None after recording why it was skipped."""
    try:  # the bytes through the one input guard: a FIFO or /dev/zero is skipped, no hang
        tree = etree.ElementTree(etree.fromstring(read_regular(file, what="VOC file"),
                                                  _PARSER))
    except (etree.XMLSyntaxError, OSError, AnnokitError) as e:
        return _unreadable(file, e, problems)
    return _checked_root(file, tree, problems)


def _unreadable(file: str, error: etree.XMLSyntaxError | OSError | AnnokitError,
                problems: Problems) -> None:
    """Record why ``file`` could not be parsed (its line and column where known)."""
    if isinstance(error, etree.XMLSyntaxError):
        line, column = error.position if error.position else (0, 0)
        message = re.sub(r",? line \d+, column \d+$", "", error.msg or str(error)).strip()
        problems.skip(FormatError(file, f"malformed XML: {message}",
                                  place=f"line {line}, column {column}"))
    elif isinstance(error, AnnokitError):  # not a regular file: say what it is
        problems.skip(FormatError(file, str(error).removeprefix(f"{file}: ")))
    else:
        problems.skip(FormatError(file, f"cannot read: {error.strerror or error}"))
    return None


def _checked_root(file: str, tree, problems: Problems):
    """The <annotation> root of a parsed ``tree``, or None: entities and other roots refused."""
    dtd = tree.docinfo.internalDTD
    names = [e.name for e in dtd.iterentities()] if dtd is not None else []
    if names:  # no VOC tool writes entities: an attack (XXE, billion laughs) or a mistake
        problems.skip(FormatError(file, f"declares XML entities ({', '.join(names[:3])}); "
                                  "refused, entities are never expanded", place="DOCTYPE"))
        return None
    root = tree.getroot()
    if root.tag != "annotation":
        problems.skip(FormatError(file, f"root element is <{root.tag}>, not <annotation>",
                                  hint="is this a Pascal VOC file?"))
        return None
    return root


def _value(element):
    """An element as plain data: its stripped text, or a dict of its children."""
    children = [c for c in element if type(c.tag) is str]
    if not children:
        return (element.text or "").strip()
    out: dict = {}
    for c in children:
        out = _add_child(out, c.tag, _value(c))
    return out


def _add_child(mapping: dict | None, tag: str, value) -> dict:
    """Add ``tag: value``; a repeated tag becomes a list of its values."""
    mapping = {} if mapping is None else mapping
    mapping[tag] = _append(mapping[tag], value) if tag in mapping else value
    return mapping


def _append(previous, value) -> list:
    return previous + [value] if isinstance(previous, list) else [previous, value]


def _attributes(element):
    """CVAT's <attributes><attribute><name/><value/></attribute>... as {name: value}."""
    out = {}
    for a in element:
        if type(a.tag) is not str:
            continue
        name, value = a.findtext("name"), a.findtext("value")
        if a.tag != "attribute" or name is None:
            return _value(element)  # not CVAT's shape: keep it as it is
        out[name] = value
    return out


def _keep_rows(images: dict, objects: dict, keep: np.ndarray) -> None:
    """Drop image rows (objectless ones only) and renumber the objects' image rows."""
    for key, values in images.items():
        if isinstance(values, list):
            images[key] = [v for v, k in zip(values, keep) if k]
        elif isinstance(values, np.ndarray):
            images[key] = values[keep]
    new_row = np.cumsum(keep) - 1
    objects["image"] = new_row[np.asarray(objects["image"], dtype=np.int64)]
    images["extra"] = {c: {int(new_row[i]): v for i, v in vals.items() if keep[i]}
                       for c, vals in images["extra"].items()}


def _categories(labels: list[str], names: list[str]):
    """Categories 1..K (labels file order, then first appearance) and each object's id."""
    codes, uniques = pd.factorize(np.asarray(names, dtype=object))
    known = set(labels)
    order = labels + [n for n in uniques if n not in known]
    ids = pd.Index(order).get_indexer(pd.Index(uniques)) + 1  # what pandas does with an array
    categories = pd.DataFrame({"id": np.arange(1, len(order) + 1), "name": order,
                               "supercategory": [None] * len(order)})
    cat_ids = ids[codes] if len(codes) else np.zeros(0, dtype=np.int64)
    return categories, cat_ids


def _frames(img: dict, obj: dict, cat_ids: np.ndarray, one_based: bool,
            problems: Problems):
    """Build the images and annotations DataFrames once, column by column."""
    n = len(img["stem"])
    images = pd.DataFrame({
        "id": np.arange(1, n + 1), "file_name": img["file_name"],
        "width": pd.array(img["width"], dtype="Float64").round().astype("Int64"),
        "height": pd.array(img["height"], dtype="Float64").round().astype("Int64"),
        "split": img["split"], "folder": img["folder"], "path": img["path"],
        "source": img["source"], "depth": _ints(img["depth"]),
        "segmented": _ints(img["segmented"])})
    for column, values in img["extra"].items():
        images[column] = _sparse(values, n)

    # pop each list once it is an array: peak memory stays near one copy of the boxes
    x1, y1 = np.asarray(obj.pop("xmin"), float), np.asarray(obj.pop("ymin"), float)
    x2, y2 = np.asarray(obj.pop("xmax"), float), np.asarray(obj.pop("ymax"), float)
    if one_based:  # 1-based inclusive pixel indices
        x, y, w, h = x1 - 1, y1 - 1, x2 - x1 + 1, y2 - y1 + 1
    else:
        x, y, w, h = x1, y1, x2 - x1, y2 - y1
    m = len(x1)
    score = np.asarray(obj.pop("score"), float)
    annotations = pd.DataFrame({
        "id": np.arange(1, m + 1), "image_id": np.asarray(obj["image"], np.int64) + 1,
        "category_id": cat_ids, "kind": "box", "x": x, "y": y, "w": w, "h": h,
        "iscrowd": 0, "segmentation": None, "score": score,
        "pose": _poses(obj.pop("pose"))})
    for flag in ("truncated", "difficult", "occluded"):
        if flag in obj:
            annotations[flag] = _flags(obj.pop(flag), flag, obj, img["file"], problems)
    for column, values in obj["extra"].items():
        annotations[column] = _sparse(values, m)
    return images, annotations


def _ints(texts: list) -> pd.arrays.IntegerArray:
    values = pd.to_numeric(pd.Series(texts, dtype=object), errors="coerce")
    values = values.where(values.abs() < 2 ** 53)  # 'inf', '1e400': not a count, NA
    return pd.array(values.round(), dtype="Int64")


def _flags(texts: list, tag: str, obj: dict, files: list, problems: Problems) -> np.ndarray:
    """0/1 flags from text ('1', '0', 'true', '', absent); absent or empty is 0.

    Text that is no flag at all reads as 0 and is reported once per distinct value.
    """
    codes, uniques = pd.factorize(np.asarray(texts, dtype=object))
    values = []
    for code, text in enumerate(uniques):
        value = _flag(text)
        if value is None:
            first = int(np.argmax(codes == code))
            more = int((codes == code).sum()) - 1
            problems.skip(FormatError(
                files[obj["image"][first]], f"<{tag}> is {text!r}, not 0 or 1; read as 0"
                + (f" (and in {more} more objects)" if more else ""),
                place=f"object '{obj['name'][first]}' #{obj['number'][first]}"))
            value = 0
        values.append(value)
    return np.array(values + [0], dtype=np.int64)[codes]  # code -1 (absent) is 0


def _flag(text: str) -> int | None:
    text = text.strip().lower()
    if text in ("", "0", "false", "no"):
        return 0
    if text in ("1", "true", "yes"):
        return 1
    try:
        return int(float(text))
    except (ValueError, OverflowError):
        return None


def _poses(texts: list) -> np.ndarray:
    """Pose text; absent or empty reads as VOC's 'Unspecified'."""
    codes, uniques = pd.factorize(np.asarray(texts, dtype=object))
    values = np.array([u.strip() or "Unspecified" for u in uniques] + ["Unspecified"],
                      dtype=object)
    return values[codes]


def _sparse(values: dict[int, object], n: int) -> np.ndarray:
    column = np.full(n, None, dtype=object)
    for i, v in values.items():
        column[i] = v
    return column
