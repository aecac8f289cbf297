"""Pascal VOC XML: one ``<annotation>`` file per image, boxes as ``<object>`` elements.

Layouts read: a VOC root (``Annotations/``, ``JPEGImages/``, ``ImageSets/Main/<split>.txt``;
``annotations/`` + ``images/`` too), a bare folder of XML files, a folder of split folders
with the XML beside the images (Roboflow's export), or one XML file. Layout written: a VOC
root, one XML for every image (those without objects too).

Coordinates: by default ``xmin ymin xmax ymax`` are plain corners in COCO's continuous
space (``x = xmin``, ``w = xmax - xmin``), as CVAT, LabelImg, Roboflow and FiftyOne write
them; ``voc_one_based=True`` reads and writes the official 1-based inclusive pixel indices
(``x = xmin - 1``, ``w = xmax - xmin + 1``). Fractional values are kept, never truncated.

Untrusted input: XML is parsed by lxml without entity expansion, DTD loading or network.
"""
from __future__ import annotations

import io
import math
import os
import re
from copy import deepcopy
from pathlib import Path
from xml.sax.saxutils import escape as _sax_escape, quoteattr

import numpy as np
import pandas as pd
from lxml import etree

from .. import progress
from ..errors import AnnokitError, FormatError, Problems
from ..fileio import confined, open_regular, place_images, read_regular, safe_relative
from ..model import ANNOTATION_SCHEMA, IMAGE_SCHEMA, Dataset
from .layout import (SPLIT_NAMES, header_sizes, image_dirs, image_index, is_image, pick_root,
                     safe_split_names, sibling_image_dirs, subdirs, unknown_sizes)
from .target import Notes, coordinate_text, dropped_note, zero_size_note

# what XML 1.0 can hold: the reader refuses the rest, so the writer never writes it
_XML_BAD = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def escape(text: str) -> str:
    """``text`` escaped for an XML element; text XML cannot hold is refused (one line)."""
    if _XML_BAD.search(text):
        raise AnnokitError(f"{text[:60]!r}: holds control characters XML cannot hold; "
                           "rename it before writing VOC (nothing was written)")
    return _sax_escape(text)


MAX_COORD = 1e5  # px: a corner beyond this is garbage, not an image
ORDER_TOLERANCE = 1e-3  # px: xmin past xmax by this much is rounding noise of a 0-wide box
LABEL_FILES = ("labels.txt", "class_names.txt", "labelmap.txt")
BACKGROUND = {"background", "_background_", "__background__", "__ignore__"}
# elements the reader maps onto model columns; anything else is kept as pass-through
IMAGE_RESERVED = set(IMAGE_SCHEMA) | {"folder", "filename", "path", "source", "size",
                                      "segmented", "object", "depth"}
OBJECT_RESERVED = set(ANNOTATION_SCHEMA) | {"name", "pose", "truncated", "difficult",
                                            "occluded", "bndbox", "confidence"}
VOC_IMAGE_COLUMNS = {"folder", "path", "source", "depth", "segmented"}
VOC_OBJECT_COLUMNS = {"pose", "truncated", "difficult", "occluded", "attributes"}

# Never expand entities (billion laughs, XXE), never fetch anything, no huge documents.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False,
                          load_dtd=False, remove_comments=True, remove_pis=True,
                          remove_blank_text=True)
_VOC_HEAD = re.compile(
    rb"^(?:\xef\xbb\xbf)?\s*(?:<\?.*?\?>\s*|<!--.*?-->\s*"
    rb"|<!DOCTYPE[^\[>]*(?:\[.*?\])?\s*>\s*)*<annotation[\s>/]", re.S)
_XML_NAME = re.compile(r"(?!xml)[A-Za-z_][\w.-]*", re.I)
UNSPLIT_LIST = "default"  # the ImageSets list of data without splits (Datumaro's name)
_PER_CLASS_LIST = re.compile(r".+_(train|val|trainval|test|valid)")


# -- detect ------------------------------------------------------------------------

def detect(path: Path) -> bool:
    """True for a VOC XML file, a VOC root, a folder of VOC XML, or folders of them.

    Looks at names and at most a few files.

    Example:
        >>> detect(Path("fixtures/voc/root"))  # doctest: +SKIP
        True
    """
    path = Path(path)
    if path.is_file():
        return path.suffix.lower() == ".xml" and _is_voc_xml(path)
    if not path.is_dir():
        return False
    return (_annotations_dir(path) is not None or _has_voc_xml(path)
            or bool(_split_dirs(path, limit=8)))


def _is_voc_xml(path: str | os.PathLike) -> bool:
    try:
        with open_regular(path) as f:  # a FIFO or device named *.xml: not VOC, no hang
            head = f.read(4096)
    except (OSError, AnnokitError):
        return False
    return _VOC_HEAD.match(head) is not None


def _has_voc_xml(folder: str | os.PathLike, tries: int = 3) -> bool:
    """True when one of the first few XML files directly in ``folder`` is VOC."""
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.lower().endswith(".xml") and entry.is_file():
                    if _is_voc_xml(entry.path):
                        return True
                    tries -= 1
                    if tries == 0:
                        return False
    except OSError:
        return False
    return False


def _annotations_dir(root: Path) -> Path | None:
    """The ``Annotations/`` (any case) folder of a VOC root, when it holds VOC XML."""
    try:
        with os.scandir(root) as entries:
            for entry in entries:
                if entry.name.lower() == "annotations" and entry.is_dir():
                    folder = Path(entry.path)
                    if _has_voc_xml(folder) or any(_has_voc_xml(d) for d in
                                                   subdirs(folder)[:4]):
                        return folder
    except OSError:
        return None
    return None


def _split_dirs(root: Path, limit: int | None = None) -> list[Path]:
    """Sub-folders holding VOC XML beside their images (one per split)."""
    dirs = subdirs(root)
    return [d for d in dirs[:limit] if _has_voc_xml(d)]


def _annotation_folder(root: Path) -> Path | None:
    """The XML folder of ``annots/`` + ``images/`` (``xml/`` + ``jpg/``): the one sub-folder
    of VOC XML that holds no image and is not named like a split, beside an image folder.

    Its name is never a split: Roboflow's split folders keep their images beside the XML.
    """
    if not root.is_dir() or _annotations_dir(root) is not None or _has_voc_xml(root):
        return None
    xml_dirs = [d for d in _split_dirs(root) if d.name.lower() not in SPLIT_NAMES
                and not _has_image(d)]
    if len(xml_dirs) == 1 and image_dirs(root, exclude=xml_dirs):
        return xml_dirs[0]
    return None


def _has_image(folder: Path, tries: int = 200) -> bool:
    """Any image among the first entries of ``folder``."""
    with os.scandir(folder) as entries:
        for n, entry in enumerate(entries):
            if n >= tries:
                return False
            if is_image(entry.name):
                return True
    return False


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


def _layout(path: Path, problems: Problems):
    """Which layout ``path`` is, and what to read: (layout, entries, split dirs, trainval).

    Each entry is (stem, XML file, split, origin): stem is the XML path relative to its
    folder without '.xml'; an image named only by an ImageSets list has no XML file and
    its origin is (list file, line number).
    """
    if path.is_file():
        return "file", [(path.stem, str(path), None, None)], [], False, []
    ann = _annotations_dir(path)
    if ann is not None:
        files = _xml_files(ann, recursive=True)
        splits, list_only, trainval, overlaps = _image_sets(path, set(files))
        entries = [(s, f, splits.get(s), None) for s, f in files.items()]
        entries += [(s, None, split, origin) for s, (split, origin) in list_only.items()]
        entries.sort(key=lambda e: e[0])
        return "root", entries, [], trainval, overlaps
    if _has_voc_xml(path):
        files = _xml_files(path, recursive=False)
        return "folder", [(s, f, None, None) for s, f in files.items()], [], False, []
    split_dirs = _split_dirs(path)
    if split_dirs:
        entries = [(s, f, d.name, None) for d in split_dirs
                   for s, f in _xml_files(d, recursive=False).items()]
        return "splits", entries, [d.name for d in split_dirs], False, []
    raise AnnokitError(f"{path}: no Pascal VOC XML found (expected Annotations/*.xml, "
                       "*.xml with an <annotation> root, or split folders holding them)")


def _xml_files(folder: Path, recursive: bool) -> dict[str, str]:
    """{stem: file} for the XML files under ``folder``, sorted by stem.

    The stem is the path relative to ``folder`` without '.xml' (forward slashes).
    """
    files = {}
    pending = [("", str(folder))]
    while pending:
        prefix, current = pending.pop()
        with os.scandir(current) as entries:
            for e in entries:
                if e.name.startswith("."):
                    continue
                if e.name.lower().endswith(".xml") and not e.is_dir():
                    files[prefix + e.name[:-4]] = e.path  # a FIFO or device: skipped, named
                elif recursive and e.is_dir():
                    pending.append((prefix + e.name + "/", e.path))
    return dict(sorted(files.items()))


def _image_sets(root: Path, stems: set[str]):
    """Split of each stem from ImageSets/Main/<split>.txt, and listed stems with no XML.

    Per-class lists (``cat_train.txt``) are not splits. ``trainval`` is the union of
    train and val: it only names a split for stems that neither holds. A lone
    ``default.txt`` (Datumaro's and annokit's list for data without splits) names none.
    """
    main = root / "ImageSets" / "Main"
    if not main.is_dir():
        return {}, {}, False, []
    lists = {p.stem: p for p in main.glob("*.txt")}
    names = [n for n in lists if not (_PER_CLASS_LIST.fullmatch(n) or any(
        n.endswith("_" + other) for other in lists if other != n))]
    rank = {s: i for i, s in enumerate(SPLIT_NAMES)}
    names.sort(key=lambda n: (n == "trainval", rank.get(n, len(rank)), n))
    unsplit = names == [UNSPLIT_LIST]
    split_of: dict[str, str | None] = {}
    list_only: dict = {}
    overlaps: dict[tuple[str, str], int] = {}  # an image kept in its first list; QC flags it
    for name in names:
        for number, stem in _list_lines(lists[name]):
            if stem in split_of:
                if name != "trainval" and split_of[stem] != name:
                    pair = (split_of[stem], name)
                    overlaps[pair] = overlaps.get(pair, 0) + 1
                continue
            split_of[stem] = None if unsplit else name
            if stem not in stems:
                list_only[stem] = (split_of[stem], (lists[name], number))
    overlaps = [{"splits": list(pair), "images": n} for pair, n in overlaps.items()]
    return split_of, list_only, {"train", "val", "trainval"} <= set(lists), overlaps


def _list_lines(path: Path):
    """(line number, stem) for each entry of an ImageSets list; '#' starts a comment."""
    with open_regular(path, what="image list") as raw, \
            io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if line and not line.startswith("#"):
                yield number, line


IMAGE_FIELDS = ("filename", "folder", "path", "source", "width", "height", "depth",
                "segmented")


def _parse_all(entries, problems: Problems) -> dict:
    """Parse every XML once into flat lists (one per field); columns are built later."""
    img = {k: [] for k in ("stem", "file", "split", "origin", *IMAGE_FIELDS)}
    flat = []  # the objects' fields one after another, sliced into columns at the end
    same = {}  # one string object per distinct name/pose: no copy per box

    img_extra: dict[str, dict[int, object]] = {}   # column -> {image row: value}
    obj_extra: dict[str, dict[int, object]] = {}   # column -> {object row: value}
    tags = {"image": {}, "attribute": {}, "object": {}}  # XML name -> column name
    score_tag = "score"
    add, shared = flat.extend, same.setdefault
    empty = dict.fromkeys(IMAGE_FIELDS)

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
                _put(obj_extra, tags["object"], more, len(flat) // 12 - 1, OBJECT_RESERVED)
        if extra:
            _put(img_extra, tags["image"], extra, row,
                 IMAGE_RESERVED | set(tags["attribute"].values()))
        if attrib:
            _put(img_extra, tags["attribute"], dict(attrib), row,
                 IMAGE_RESERVED | set(tags["image"].values()))
        for key, value in (("stem", stem), ("file", file), ("split", split),
                           ("origin", origin), *fields.items()):
            img[key].append(value)

    keys = ("image", "number", "name", "pose", "truncated", "difficult", "occluded", "xmin",
            "ymin", "xmax", "ymax", "score")
    obj = {k: flat[i::len(keys)] for i, k in enumerate(keys)}
    del flat
    if all(v is None for v in obj["occluded"]):
        del obj["occluded"]
    img["extra"], obj["extra"] = img_extra, obj_extra
    columns = {kind: {column: tag for tag, column in names.items()}
               for kind, names in tags.items()}
    return {"images": img, "annotations": obj, "score_tag": score_tag,
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
    fields, extra, attrib = dict.fromkeys(IMAGE_FIELDS), {}, {}

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


def _unreadable(file: str, error: Exception, problems: Problems) -> None:
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


# -- read: images, sizes, categories -------------------------------------------------

def _image_root_candidates(layout: str, path: Path, image_root: Path | None) -> list[Path]:
    """Folders that may hold the images, most likely first (``image_root`` as given)."""
    if image_root is not None:
        return [Path(image_root)]
    if layout == "root":
        return image_dirs(path) + [path]
    folder = path.parent if layout == "file" else path
    return [folder] + sibling_image_dirs(folder)


def _split_roots(path: Path, split_dirs: list[str], image_root: Path | None,
                 images: dict) -> dict[str, str]:
    """Each split folder's image folder: its own, or under ``image_root``, which is used as
    given, its ``<split>/`` tried only when the split's images are not directly in it."""
    if image_root is None:
        return {s: str(path / s) for s in split_dirs}
    roots = {}
    for split in split_dirs:
        mine = [i for i, s in enumerate(images["split"]) if s == split][:5]
        names = [_normal_name(images["filename"][i], images["stem"][i]) for i in mine
                 if images["filename"][i] and images["filename"][i].strip()]
        roots[split] = str(pick_root([image_root, image_root / split], names) or image_root)
    return roots


def _pick_image_root(candidates: list[Path], images: dict) -> str:
    """The first candidate holding one of the first few named images (else the first).

    A ``<folder>`` element next to the first candidate is tried too (raccoon's
    ``annotations/`` names ``images``); ``<path>`` is never trusted.
    """
    names = [_normal_name(f, s) for f, s in zip(images["filename"][:5], images["stem"][:5])
             if f and f.strip()]
    folders = [f for f in images["folder"][:1] if f and safe_relative(f)]
    found = pick_root(candidates + [candidates[0].parent / f for f in folders], names)
    return str(found or candidates[0])


def _normal_name(filename: str, stem: str) -> str:
    """``filename`` relative to the image root: XML sub-folder kept, foreign paths dropped."""
    name = filename.strip().replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:/", name):
        name = name.rsplit("/", 1)[-1]   # an absolute path from another machine
    prefix = stem.rsplit("/", 1)[0] + "/" if "/" in stem else ""
    return name if "/" in name else prefix + name


def _fill_file_names(images: dict, folder: str, roots: dict, problems: Problems) -> np.ndarray:
    """file_name from <filename>; when absent, the stem plus an image's extension.

    Returns which rows to keep: an image named only by an ImageSets list is kept when the
    image file exists (an image without objects), else skipped.
    """
    index: dict[str, dict[str, str]] = {}
    names, keep = [], np.ones(len(images["stem"]), dtype=bool)
    rows = zip(images["filename"], images["stem"], images["split"], images["origin"])
    for i, (filename, stem, split, origin) in enumerate(rows):
        if filename and filename.strip():
            names.append(_normal_name(filename, stem))
            continue
        where = roots.get(split, folder)
        if where not in index:
            index[where] = image_index(where)
        name = index[where].get(stem)
        if name is None and origin is not None:
            problems.skip(FormatError(origin[0], f"'{stem}' has no XML in Annotations/ "
                                      f"and no image in {where}", place=f"line {origin[1]}"))
            keep[i] = False
        names.append(name or stem + ".jpg")
    images["file_name"] = names
    return keep


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


def _fill_sizes(images: dict, folder: str, roots: dict) -> None:
    """Width/height as numbers; a missing or zero size is read from the image header."""
    width = pd.to_numeric(pd.Series(images["width"], dtype=object), errors="coerce")
    height = pd.to_numeric(pd.Series(images["height"], dtype=object), errors="coerce")
    width, height = width.where(width <= 1e6), height.where(height <= 1e6)  # 1e308: unknown
    missing = np.flatnonzero(unknown_sizes(width, height))
    width, height = np.array(width, dtype=float), np.array(height, dtype=float)
    # a name outside the image folder is never opened (confined gives None)
    paths = [confined(roots.get(images["split"][i], folder), images["file_name"][i])
             for i in missing]
    width[missing], height[missing], _ = header_sizes(paths)  # unknown: NA, never 0
    images["width"], images["height"] = width, height


def _labels_file(folder: Path) -> tuple[str | None, list[str]]:
    """Class names, in order, from a labels file in ``folder`` (background names dropped)."""
    for name in LABEL_FILES:
        file = folder / name
        if file.is_file():
            labels: dict[str, None] = {}  # ordered and a set: 100k names stay linear
            for line in file.read_text(encoding="utf-8-sig", errors="replace").splitlines():
                line = line.strip()
                if name == "labelmap.txt":  # Datumaro/CVAT: name:color:parts:actions
                    line = line.split(":", 1)[0].strip()
                if line and not line.startswith("#") and line.lower() not in BACKGROUND:
                    labels.setdefault(line)
            return name, list(labels)
    return None, []


def _categories(labels: list[str], names: list[str]):
    """Categories 1..K (labels file order, then first appearance) and each object's id."""
    codes, uniques = pd.factorize(np.asarray(names, dtype=object))
    known = set(labels)
    order = labels + [n for n in uniques if n not in known]
    ids = pd.Index(order).get_indexer(uniques) + 1
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
    scores = obj.pop("score")
    score = np.array([np.nan if s is None else s for s in scores], dtype=float) \
        if any(s is not None for s in scores) else np.full(m, np.nan)
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


# -- write -------------------------------------------------------------------------

def write(ds: Dataset, out: Path, *, images: str, problems: Problems, single_file: bool,
          voc_one_based: bool = False) -> list[str]:
    """Write ``ds`` as a VOC root at ``out``; return notes on what VOC cannot hold.

    ``Annotations/<stem>.xml`` for every image (objectless ones too), images under
    ``JPEGImages/`` unless ``images='none'``, ``ImageSets/Main/<split>.txt`` per split,
    ``labels.txt`` with the class order and ``labelmap.txt`` (the same classes in
    Datumaro's label map format, so its VOC importer knows them). Coordinates are
    integers where integral, else plain decimals of at most 4 places.

    Example:
        >>> notes = write(ds, Path("out/voc"), images="none", problems=Problems(),
        ...               single_file=False)  # doctest: +SKIP
    """
    out = Path(out)
    meta_voc = ds.meta.get("voc") or {}
    notes: list[str] = []
    imgs = ds.images.reset_index(drop=True)
    imgs["split"] = safe_split_names(imgs["split"], notes)
    rel, keep = _output_names(imgs, problems, notes)
    imgs, rel = imgs[keep].reset_index(drop=True), rel[keep]
    stems = _output_stems(rel)
    boxes, positions = _writable_boxes(ds, imgs, notes)
    objects = _object_xml(ds, boxes, imgs.iloc[positions], meta_voc, voc_one_based, notes)
    order = np.argsort(positions, kind="stable")
    bounds = np.searchsorted(positions[order], np.arange(len(imgs) + 1))
    objects = [objects[i] for i in order.tolist()]
    heads = _image_heads(imgs, rel, meta_voc, notes)

    ann_dir = out / "Annotations"
    ann_dir.mkdir(parents=True)
    made = {""}
    prefix = str(ann_dir) + os.sep
    for i in progress.track(range(len(imgs)), "writing VOC XML", total=len(imgs)):
        stem = stems[i]
        parent = stem.rpartition("/")[0]
        if parent not in made:
            os.makedirs(prefix + parent, exist_ok=True)
            made.add(parent)
        body = "".join(objects[bounds[i]:bounds[i + 1]])
        with open(f"{prefix}{stem}.xml", "wb") as f:
            f.write(f"{heads[i]}{body}</annotation>\n".encode("utf-8"))
    _write_image_sets(out, imgs, stems, meta_voc, notes)
    names = ds.categories.sort_values("id", kind="stable")["name"].astype(str)
    (out / "labels.txt").write_text("".join(n + "\n" for n in names), encoding="utf-8")
    _write_labelmap(out / "labelmap.txt", names.tolist(), notes)
    if ds.categories["supercategory"].notna().any():
        notes.append("VOC has no supercategory: dropped")
    if images != "none":
        sources = ds.image_paths()[keep].reset_index(drop=True)
        targets = pd.Series([str(out / "JPEGImages" / r) for r in rel])
        notes += place_images(sources, targets, images)
    return Notes(notes, images=len(imgs), annotations=len(boxes),
                 categories=len(ds.categories))


def _write_labelmap(file: Path, names: list[str], notes: list[str]) -> None:
    """Datumaro's VOC label map: ``name:r,g,b:parts:actions``, colours from VOC's palette.

    No ``background`` line is added: Datumaro then keeps exactly these classes.
    """
    bad = [n for n in names if ":" in n or "\n" in n or n.startswith("#") or not n.strip()]
    if bad:
        notes.append(f"labelmap.txt not written: class names {', '.join(map(repr, bad[:3]))} "
                     "cannot be in it (':', '#' or empty); labels.txt has every class")
        return
    lines = [f"{n}:{','.join(map(str, _palette(i + 1)))}::\n" for i, n in enumerate(names)]
    file.write_text("# label:color_rgb:parts:actions\n" + "".join(lines), encoding="utf-8")


def _palette(index: int) -> tuple[int, int, int]:
    """Pascal VOC's colour for class ``index`` (0 is the background's black)."""
    rgb = [0, 0, 0]
    for bit in range(8):
        for channel in range(3):
            rgb[channel] |= ((index >> (3 * bit + channel)) & 1) << (7 - bit)
    return rgb[0], rgb[1], rgb[2]


def _output_names(imgs: pd.DataFrame, problems: Problems, notes: list[str]):
    """Each image's path under JPEGImages/ and whether it can be written at all."""
    rel = imgs["file_name"].astype(object).to_numpy()
    keep = np.ones(len(imgs), dtype=bool)
    for i, name in enumerate(rel):
        if not isinstance(name, str) or not safe_relative(name) or _XML_BAD.search(name) \
                or "\n" in name or "\r" in name:  # ImageSets lists are one name a line
            problems.skip(FormatError(repr(name)[1:-1], "file name escapes the image root "
                                      "(or is empty, or holds a line break or control "
                                      "character); image not written", place=f"image id "
                                      f"{imgs['id'].iat[i]}"))
            keep[i] = False
    rel = np.array([n.replace("\\", "/") if k else n for n, k in zip(rel, keep)],
                   dtype=object)
    dup = pd.Series(rel).duplicated(keep=False).to_numpy() & keep
    if dup.any() and imgs["split"].notna().any():
        # the same name in two split folders: keep them apart by split
        split = imgs["split"].astype(object).to_numpy()
        rel = np.array([f"{s}/{r}" if isinstance(s, str) and k else r
                        for r, s, k in zip(rel, split, keep)], dtype=object)
        notes.append("file names repeat across splits: written under "
                     "JPEGImages/<split>/ and Annotations/<split>/")
    again = pd.Series(rel).duplicated(keep="first").to_numpy() & keep
    for i in np.flatnonzero(again):
        problems.skip(FormatError(rel[i], "another image has this file name; not written",
                                  place=f"image id {imgs['id'].iat[i]}"))
        keep[i] = False
    return rel, keep


def _output_stems(rel: np.ndarray) -> list[str]:
    """Annotation stems: the file name without extension, whole where that would clash."""
    stems = pd.Series([os.path.splitext(r)[0] for r in rel], dtype=object)
    clash = stems.duplicated(keep=False).to_numpy()
    return [r if c else s for r, s, c in zip(rel, stems, clash)]


def _writable_boxes(ds: Dataset, imgs: pd.DataFrame, notes: list[str]):
    """The annotations VOC can hold, and each one's image row; notes for the rest."""
    anns = ds.annotations
    positions = pd.Index(imgs["id"]).get_indexer(anns["image_id"])
    ok = positions >= 0
    kinds = anns["kind"].to_numpy(object)
    note = dropped_note(anns["kind"][ok], "voc")
    if note:
        notes.append(note)
    ok &= kinds == "box"
    finite = np.isfinite(anns[["x", "y", "w", "h"]].to_numpy(float)).all(axis=1)
    if (ok & ~finite).any():
        notes.append(f"{int((ok & ~finite).sum())} boxes without coordinates dropped")
    ok &= finite
    cat = pd.Index(ds.categories["id"]).get_indexer(anns["category_id"])
    if (ok & (cat < 0)).any():
        notes.append(f"{int((ok & (cat < 0)).sum())} boxes with a category id not in "
                     "categories dropped")
    ok &= cat >= 0
    lost = int(((positions < 0) & (kinds == "box")).sum())
    if lost:
        notes.append(f"{lost} boxes of images not written (or unknown) dropped")
    boxes = anns[ok]
    note = zero_size_note(boxes, imgs, "voc")
    if note:
        notes.append(note)
    seg = boxes["segmentation"].to_numpy(object)
    seg = seg[~pd.isna(seg)]  # mostly None: look only at the rest
    polygons = sum(1 for s in seg if isinstance(s, list) and s)
    rles = sum(1 for s in seg if isinstance(s, dict))
    if polygons or rles:
        notes.append(f"VOC cannot hold segmentation: {polygons} polygons and {rles} RLE "
                     "masks dropped, boxes kept")
    crowd = int((boxes["iscrowd"] == 1).sum())
    if crowd:
        notes.append(f"VOC has no crowd flag: {crowd} crowd boxes written as ordinary "
                     "boxes")
    scored = int(boxes["score"].notna().sum())
    if scored:
        notes.append(f"VOC has no score: {scored} scores written as a non-standard "
                     "<score> element that VOC tools ignore")
    return boxes, positions[ok]


def _object_xml(ds: Dataset, boxes: pd.DataFrame, sizes: pd.DataFrame, meta_voc: dict,
                one_based: bool, notes: list[str]) -> list[str]:
    """One '<object>...</object>' string per box, built over whole columns.

    ``sizes`` holds each box's image row (width, height): coordinates past an image edge
    by rounding noise are written as the edge.
    """
    names = np.array([escape(str(n)) for n in ds.categories["name"]], dtype=object)
    name = names[pd.Index(ds.categories["id"]).get_indexer(boxes["category_id"])]
    x, y = boxes["x"].to_numpy(float), boxes["y"].to_numpy(float)
    x2, y2 = x + boxes["w"].to_numpy(float), y + boxes["h"].to_numpy(float)
    width = sizes["width"].to_numpy(float, na_value=np.nan)
    height = sizes["height"].to_numpy(float, na_value=np.nan)
    first = 1.0 if one_based else 0.0  # VOC's official sets count pixels from 1
    if one_based:
        x, y = x + 1, y + 1
    xmin = coordinate_text(x, low=first, high=width + first)
    ymin = coordinate_text(y, low=first, high=height + first)
    xmax = coordinate_text(x2, low=first, high=width)
    ymax = coordinate_text(y2, low=first, high=height)
    pose = _texts(boxes, "pose", "Unspecified")
    trunc, diff = _flag_texts(boxes, "truncated"), _flag_texts(boxes, "difficult")
    occl = ([f"\t\t<occluded>{v}</occluded>\n" for v in _flag_texts(boxes, "occluded")]
            if "occluded" in boxes else [""] * len(boxes))
    tail = _object_tails(boxes, meta_voc, notes)
    return [f"\t<object>\n\t\t<name>{n}</name>\n\t\t<pose>{p}</pose>\n"
            f"\t\t<truncated>{t}</truncated>\n\t\t<difficult>{d}</difficult>\n{o}"
            f"\t\t<bndbox>\n\t\t\t<xmin>{a}</xmin>\n\t\t\t<ymin>{b}</ymin>\n"
            f"\t\t\t<xmax>{c}</xmax>\n\t\t\t<ymax>{e}</ymax>\n\t\t</bndbox>\n{z}\t</object>\n"
            for n, p, t, d, o, a, b, c, e, z in zip(name, pose, trunc, diff, occl, xmin,
                                                    ymin, xmax, ymax, tail)]


def _texts(frame: pd.DataFrame, column: str, default: str) -> np.ndarray:
    if column not in frame:
        return np.full(len(frame), default, dtype=object)
    codes, uniques = pd.factorize(frame[column].astype(object).to_numpy(), sort=False)
    values = np.array([escape(str(u)) for u in uniques] + [default], dtype=object)
    return values[codes]


def _flag_texts(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame:
        return np.full(len(frame), "0", dtype=object)
    values = pd.to_numeric(frame[column], errors="coerce").fillna(0).to_numpy(float)
    return np.array(list(map(str, values.astype(np.int64).tolist())), dtype=object)


def _object_tails(boxes: pd.DataFrame, meta_voc: dict, notes: list[str]) -> list[str]:
    """Pass-through object children (score, parts, actions, CVAT attributes) as XML."""
    elements = dict(meta_voc.get("object_elements") or {})
    if "attributes" in boxes:
        elements.setdefault("attributes", "attributes")
    columns = [c for c in elements if c in boxes]
    known = set(ANNOTATION_SCHEMA) | VOC_OBJECT_COLUMNS | set(columns) | {"area"}
    dropped = [c for c in boxes.columns if c not in known and boxes[c].notna().any()]
    if dropped:
        notes.append(f"VOC has no element for annotation columns {', '.join(dropped)}: "
                     "dropped")
    parts = []
    score = boxes["score"].to_numpy(float)
    if (score == score).any():
        tag = meta_voc.get("score_tag", "score")
        text = coordinate_text(score, decimals=None)
        parts.append([f"\t\t<{tag}>{t}</{tag}>\n" if v == v else ""
                      for t, v in zip(text, score)])
    for c in columns:
        tag = elements[c]
        render = _cvat_attributes if tag == "attributes" else \
            (lambda v, tag=tag: _element(tag, v, 2))
        parts.append(_render(boxes[c].to_numpy(object), render))
    if not parts:
        return [""] * len(boxes)
    return ["".join(p) for p in zip(*parts)]


def _render(values, render) -> list[str]:
    """``render(value)`` for each value, computed once per distinct value."""
    cache: dict[str, str] = {}
    out = []
    for v in values:
        key = repr(v)  # dicts are not hashable; columns repeat few distinct values
        text = cache.get(key)
        if text is None:
            text = cache[key] = render(v)
        out.append(text)
    return out


def _cvat_attributes(values) -> str:
    """CVAT's <attributes> from a flat {name: value} dict; anything else as it is."""
    if not isinstance(values, dict) or any(isinstance(v, (dict, list))
                                           for v in values.values()):
        return _element("attributes", values, 2)
    inner = "".join(f"\t\t\t<attribute>\n\t\t\t\t<name>{escape(str(k))}</name>\n"
                    f"\t\t\t\t<value>{escape(_str(v))}</value>\n\t\t\t</attribute>\n"
                    for k, v in values.items())
    return f"\t\t<attributes>\n{inner}\t\t</attributes>\n"


def _missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def _str(value) -> str:
    """Text for an element: booleans as true/false, whole floats without '.0'."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _element(tag: str, value, depth: int) -> str:
    """``value`` (text, dict of children, list for a repeated tag) as indented XML."""
    if _missing(value):
        return ""
    if isinstance(value, list):
        return "".join(_element(tag, v, depth) for v in value)
    indent = "\t" * depth
    if not _XML_NAME.fullmatch(tag):
        raise AnnokitError(f"{tag[:60]!r}: not a valid XML element name, so VOC cannot hold "
                           "this field; rename or drop it (nothing was written)")
    if isinstance(value, dict):
        inner = "".join(_element(str(k), v, depth + 1) for k, v in value.items())
        return f"{indent}<{tag}>\n{inner}{indent}</{tag}>\n"
    return f"{indent}<{tag}>{escape(_str(value))}</{tag}>\n"


def _image_heads(imgs: pd.DataFrame, rel: np.ndarray, meta_voc: dict,
                 notes: list[str]) -> list[str]:
    """'<annotation>' up to the first object, for every image."""
    n = len(imgs)
    attrs = {c: a for c, a in (meta_voc.get("image_attributes") or {}).items() if c in imgs}
    elements = {c: t for c, t in (meta_voc.get("image_elements") or {}).items()
                if c in imgs}
    known = set(IMAGE_SCHEMA) | VOC_IMAGE_COLUMNS | set(attrs) | set(elements)
    # other formats' image extras (license, date_captured, ...) become elements too
    others = [c for c in imgs.columns if c not in known and imgs[c].notna().any()]
    elements.update({c: c for c in others if _XML_NAME.fullmatch(str(c))})
    dropped = [str(c) for c in others if c not in elements]
    if dropped:
        notes.append(f"VOC cannot name an element after image columns {', '.join(dropped)}: "
                     "dropped")

    def column(name: str, tag: str, default: str = "") -> list[str]:
        if name not in imgs:
            return [default] * n
        return _render(imgs[name].astype(object).to_numpy(), lambda v: _element(tag, v, 1))

    def attribute(name: str, key: str) -> list[str]:
        return _render(imgs[name].astype(object).to_numpy(),
                       lambda v: "" if _missing(v) else f" {key}={quoteattr(_str(v))}")

    opening = ["<annotation>\n"] * n
    if attrs:
        keys = zip(*[attribute(c, a) for c, a in attrs.items()])
        opening = ["<annotation" + "".join(k) + ">\n" for k in keys]
    filename = [escape(r.rsplit("/", 1)[-1]) for r in rel]
    extra = [column(c, t) for c, t in elements.items()]
    extra = ["".join(e) for e in zip(*extra)] if extra else [""] * n
    return [f"{o}{fo}\t<filename>{f}</filename>\n{p}{so}{e}{si}{se}"
            for o, fo, f, p, so, e, si, se in zip(
                opening, column("folder", "folder"), filename, column("path", "path"),
                column("source", "source"), extra, _size_xml(imgs),
                column("segmented", "segmented", "\t<segmented>0</segmented>\n"))]


def _size_xml(imgs: pd.DataFrame) -> list[str]:
    """<size> where width and height are known; depth from the column, else 3."""
    w = imgs["width"].to_numpy(dtype=float, na_value=np.nan)
    h = imgs["height"].to_numpy(dtype=float, na_value=np.nan)
    known = np.isfinite(w) & np.isfinite(h)
    ws = map(str, np.where(known, w, 0).astype(np.int64).tolist())
    hs = map(str, np.where(known, h, 0).astype(np.int64).tolist())
    if "depth" in imgs:
        d = imgs["depth"].to_numpy(dtype=float, na_value=np.nan)
        ds = [f"\t\t<depth>{int(v)}</depth>\n" if v == v else "" for v in d.tolist()]
    else:
        ds = ["\t\t<depth>3</depth>\n"] * len(imgs)
    return [f"\t<size>\n\t\t<width>{a}</width>\n\t\t<height>{b}</height>\n{c}\t</size>\n"
            if k else "" for k, a, b, c in zip(known.tolist(), ws, hs, ds)]


def _write_image_sets(out: Path, imgs: pd.DataFrame, stems: list[str], meta_voc: dict,
                      notes: list[str]) -> None:
    """ImageSets/Main/<split>.txt (stems in image order); trainval.txt when the input had it.

    Without splits, ``default.txt`` lists every image: Datumaro's VOC importer needs a
    list to find the images, and ``default`` is its name for data without subsets.
    """
    split = imgs["split"].astype(object).to_numpy()
    present = [s for s in pd.unique(split) if isinstance(s, str) and s]
    main = out / "ImageSets" / "Main"
    main.mkdir(parents=True)
    stems_arr = np.asarray(stems, dtype=object)
    if not present:
        (main / f"{UNSPLIT_LIST}.txt").write_text("".join(t + "\n" for t in stems_arr),
                                                  encoding="utf-8")
        return
    for s in present:  # names made safe by safe_split_names
        (main / f"{s}.txt").write_text("".join(t + "\n" for t in stems_arr[split == s]),
                                       encoding="utf-8")
    if meta_voc.get("trainval") and "train" in present and "val" in present:
        both = stems_arr[(split == "train") | (split == "val")]
        (main / "trainval.txt").write_text("".join(t + "\n" for t in both), encoding="utf-8")
