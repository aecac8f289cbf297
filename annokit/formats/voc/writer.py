"""Pascal VOC writing: a VOC root with one XML file per image, ImageSets lists,
labels.txt and Datumaro's labelmap.txt.
"""
from __future__ import annotations

import os
import re
from collections.abc import Callable
from functools import partial
from pathlib import Path
from xml.sax.saxutils import escape as _sax_escape, quoteattr

import numpy as np
import pandas as pd

from ... import progress
from ...errors import AnnokitError, FormatError, Problems
from ...fileio import place_images, safe_relative
from ...model import ANNOTATION_SCHEMA, IMAGE_SCHEMA, Dataset
from ..layout import safe_split_names
from ..target import WriteNotes, coordinate_text, dropped_note, zero_size_note
from .discover import UNSPLIT_LIST


# what XML 1.0 can hold: the reader refuses the rest, so the writer never writes it
_XML_BAD = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def escape(text: str) -> str:
    """``text`` escaped for an XML element; text XML cannot hold is refused (one line)."""
    if _XML_BAD.search(text):
        raise AnnokitError(f"{text[:60]!r}: holds control characters XML cannot hold; "
                           "rename it before writing VOC (nothing was written)")
    return _sax_escape(text)


VOC_IMAGE_COLUMNS = {"folder", "path", "source", "depth", "segmented"}
VOC_OBJECT_COLUMNS = {"pose", "truncated", "difficult", "occluded", "attributes"}
_XML_NAME = re.compile(r"(?!xml)[A-Za-z_][\w.-]*", re.I)


# -- write -------------------------------------------------------------------------

def write(ds: Dataset, out: Path, *, images: str, problems: Problems, single_file: bool,
          voc_one_based: bool = False) -> WriteNotes:
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
    notes = WriteNotes()
    imgs = ds.images.reset_index(drop=True)
    imgs["split"] = safe_split_names(imgs["split"], notes)
    rel, keep = _output_names(imgs, problems, notes)
    imgs, rel = imgs[keep].reset_index(drop=True), rel[keep]
    stems = _output_stems(rel)
    rows, positions = _writable_boxes(ds, imgs, notes)
    order = np.argsort(positions, kind="stable")  # boxes in image order
    rows, positions = rows[order], positions[order]
    objects = _ObjectXml(ds, rows, meta_voc, voc_one_based, notes)
    heads = _ImageHeads(imgs, rel, meta_voc, notes)
    texts = _xml_texts(imgs, objects, heads, positions)
    _write_xml_files(out / "Annotations", stems, texts)
    _write_image_sets(out, imgs, stems, meta_voc)
    names = ds.categories.sort_values("id", kind="stable")["name"].astype(str)
    (out / "labels.txt").write_text("".join(n + "\n" for n in names), encoding="utf-8")
    _write_labelmap(out / "labelmap.txt", names.tolist(), notes)
    if ds.categories["supercategory"].notna().any():
        notes.say("VOC has no supercategory: dropped")
    if images != "none":
        sources = ds.image_paths()[keep].reset_index(drop=True)
        targets = pd.Series([str(out / "JPEGImages" / r) for r in rel])
        notes.say_all(place_images(sources, targets, images))
    notes.wrote(images=len(imgs), annotations=len(rows), categories=len(ds.categories))
    return notes


WRITE_CHUNK = 5_000  # images whose XML text is made at a time: a million boxes' text
#                       (~350 bytes each as Python strings) never exists all at once


def _xml_texts(imgs: pd.DataFrame, objects: _ObjectXml, heads: _ImageHeads,
               positions: np.ndarray):
    """Each image's whole XML text, in image order, made WRITE_CHUNK images at a time.

    ``positions`` is each writable box's image row, sorted (the boxes of ``objects``).
    """
    bounds = np.searchsorted(positions, np.arange(len(imgs) + 1)).tolist()
    for c0 in range(0, len(imgs), WRITE_CHUNK):
        c1 = min(c0 + WRITE_CHUNK, len(imgs))
        first = bounds[c0]
        body = objects.text(slice(first, bounds[c1]), imgs.iloc[positions[first:bounds[c1]]])
        for i, head in enumerate(heads.text(c0, c1), c0):
            yield f"{head}{''.join(body[bounds[i] - first:bounds[i + 1] - first])}</annotation>\n"


def _write_xml_files(ann_dir: Path, stems: list[str], texts) -> None:
    """``Annotations/<stem>.xml`` for every image, from ``texts`` in the same order."""
    ann_dir.mkdir(parents=True)
    made = {""}
    prefix = str(ann_dir) + os.sep
    for stem, text in progress.track(zip(stems, texts), "writing VOC XML", total=len(stems)):
        parent = stem.rpartition("/")[0]
        if parent not in made:
            os.makedirs(prefix + parent, exist_ok=True)
            made.add(parent)
        with open(f"{prefix}{stem}.xml", "wb") as f:
            f.write(text.encode("utf-8"))


def _write_labelmap(file: Path, names: list[str], notes: WriteNotes) -> None:
    """Datumaro's VOC label map: ``name:r,g,b:parts:actions``, colours from VOC's palette.

    No ``background`` line is added: Datumaro then keeps exactly these classes.
    """
    bad = [n for n in names if ":" in n or "\n" in n or n.startswith("#") or not n.strip()]
    if bad:
        notes.say(f"labelmap.txt not written: class names {', '.join(map(repr, bad[:3]))} "
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


def _output_names(imgs: pd.DataFrame, problems: Problems, notes: WriteNotes):
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
        notes.say("file names repeat across splits: written under "
                  "JPEGImages/<split>/ and Annotations/<split>/")
    again = pd.Series(rel).duplicated(keep="first").to_numpy() & keep
    for i in np.flatnonzero(again).tolist():
        problems.skip(FormatError(rel[i], "another image has this file name; not written",
                                  place=f"image id {imgs['id'].iat[i]}"))
        keep[i] = False
    return rel, keep


def _output_stems(rel: np.ndarray) -> list[str]:
    """Annotation stems: the file name without extension, whole where that would clash."""
    stems = pd.Series([os.path.splitext(r)[0] for r in rel], dtype=object)
    clash = stems.duplicated(keep=False).to_numpy()
    return [r if c else s for r, s, c in zip(rel, stems, clash)]


def _writable_boxes(ds: Dataset, imgs: pd.DataFrame, notes: WriteNotes):
    """Row numbers of the annotations VOC can hold, and each one's image row; notes for
    the rest. Rows, not a copy: the boxes are taken a chunk at a time when written."""
    anns = ds.annotations
    positions = pd.Index(imgs["id"]).get_indexer(anns["image_id"])
    ok = positions >= 0
    kinds = anns["kind"].to_numpy(object)
    notes.say(dropped_note(anns["kind"][ok], "voc"))
    ok &= kinds == "box"
    finite = np.isfinite(anns[["x", "y", "w", "h"]].to_numpy(float)).all(axis=1)
    if (ok & ~finite).any():
        notes.say(f"{int((ok & ~finite).sum())} boxes without coordinates dropped")
    ok &= finite
    cat = pd.Index(ds.categories["id"]).get_indexer(anns["category_id"])
    if (ok & (cat < 0)).any():
        notes.say(f"{int((ok & (cat < 0)).sum())} boxes with a category id not in "
                  "categories dropped")
    ok &= cat >= 0
    lost = int(((positions < 0) & (kinds == "box")).sum())
    if lost:
        notes.say(f"{lost} boxes of images not written (or unknown) dropped")
    rows = np.flatnonzero(ok)
    notes.say(zero_size_note(anns[["image_id", "w", "h"]].iloc[rows], imgs, "voc"))
    seg = anns["segmentation"].to_numpy(object)[rows]
    seg = seg[~pd.isna(seg)]  # mostly None: look only at the rest
    polygons = sum(1 for s in seg if isinstance(s, list) and s)
    rles = sum(1 for s in seg if isinstance(s, dict))
    if polygons or rles:
        notes.say(f"VOC cannot hold segmentation: {polygons} polygons and {rles} RLE "
                  "masks dropped, boxes kept")
    crowd = int((anns["iscrowd"].iloc[rows] == 1).sum())
    if crowd:
        notes.say(f"VOC has no crowd flag: {crowd} crowd boxes written as ordinary "
                  "boxes")
    scored = int(anns["score"].iloc[rows].notna().sum())
    if scored:
        notes.say(f"VOC has no score: {scored} scores written as a non-standard "
                  "<score> element that VOC tools ignore")
    return rows, positions[ok]


class _ObjectXml:
    """'<object>...</object>' strings of the writable boxes, made a range at a time over
    whole columns; what VOC cannot hold is noted once, for all of them."""

    def __init__(self, ds: Dataset, rows: np.ndarray, meta_voc: dict, one_based: bool,
                 notes: WriteNotes) -> None:
        self.anns, self.rows, self.one_based = ds.annotations, rows, one_based
        self.score_tag = meta_voc.get("score_tag", "score")
        self.names = np.array([escape(str(n)) for n in ds.categories["name"]], dtype=object)
        self.category_ids = pd.Index(ds.categories["id"])
        self.elements = _tail_elements(self.anns, rows, meta_voc, notes)

    def text(self, part: slice, sizes: pd.DataFrame) -> list[str]:
        """The strings of boxes ``part`` (positions in ``rows``); ``sizes`` holds each one's
        image row (width, height): coordinates past an image edge by rounding noise are
        written as the edge."""
        boxes = self.anns.iloc[self.rows[part]]
        name = self.names[self.category_ids.get_indexer(boxes["category_id"])]
        x, y = boxes["x"].to_numpy(float), boxes["y"].to_numpy(float)
        x2, y2 = x + boxes["w"].to_numpy(float), y + boxes["h"].to_numpy(float)
        width = sizes["width"].to_numpy(float, na_value=np.nan)
        height = sizes["height"].to_numpy(float, na_value=np.nan)
        first = 1.0 if self.one_based else 0.0  # VOC's official sets count pixels from 1
        if self.one_based:
            x, y = x + 1, y + 1
        xmin = coordinate_text(x, low=first, high=width + first)
        ymin = coordinate_text(y, low=first, high=height + first)
        xmax = coordinate_text(x2, low=first, high=width)
        ymax = coordinate_text(y2, low=first, high=height)
        pose = _texts(boxes, "pose", "Unspecified")
        trunc, diff = _flag_texts(boxes, "truncated"), _flag_texts(boxes, "difficult")
        occl = ([f"\t\t<occluded>{v}</occluded>\n" for v in _flag_texts(boxes, "occluded")]
                if "occluded" in boxes else [""] * len(boxes))
        tail = _object_tails(boxes, self.elements, self.score_tag)
        return [f"\t<object>\n\t\t<name>{n}</name>\n\t\t<pose>{p}</pose>\n"
                f"\t\t<truncated>{t}</truncated>\n\t\t<difficult>{d}</difficult>\n{o}"
                f"\t\t<bndbox>\n\t\t\t<xmin>{a}</xmin>\n\t\t\t<ymin>{b}</ymin>\n"
                f"\t\t\t<xmax>{c}</xmax>\n\t\t\t<ymax>{e}</ymax>\n\t\t</bndbox>\n{z}"
                "\t</object>\n"
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


def _tail_elements(anns: pd.DataFrame, rows: np.ndarray, meta_voc: dict,
                   notes: WriteNotes) -> dict[str, str]:
    """{column: element} of the pass-through object children (parts, actions, CVAT
    attributes); a note for the annotation columns VOC has no element for."""
    elements = dict(meta_voc.get("object_elements") or {})
    if "attributes" in anns:
        elements.setdefault("attributes", "attributes")
    columns = [c for c in elements if c in anns]
    known = set(ANNOTATION_SCHEMA) | VOC_OBJECT_COLUMNS | set(columns) | {"area"}
    dropped = [c for c in anns.columns if c not in known and anns[c].iloc[rows].notna().any()]
    if dropped:
        notes.say(f"VOC has no element for annotation columns {', '.join(dropped)}: "
                  "dropped")
    return {c: elements[c] for c in columns}


def _object_tails(boxes: pd.DataFrame, elements: dict[str, str], score_tag: str) -> list[str]:
    """Pass-through object children (score, parts, actions, CVAT attributes) as XML."""
    parts = []
    score = boxes["score"].to_numpy(float)
    if (score == score).any():
        text = coordinate_text(score, decimals=None)
        parts.append([f"\t\t<{score_tag}>{t}</{score_tag}>\n" if v == v else ""
                      for t, v in zip(text, score)])
    for c, tag in elements.items():
        render: Callable[[object], str] = _cvat_attributes if tag == "attributes" else \
            partial(_element, tag, depth=2)
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


class _ImageHeads:
    """'<annotation>' up to the first object, for a range of images at a time; the image
    columns VOC cannot name an element after are noted once."""

    def __init__(self, imgs: pd.DataFrame, rel: np.ndarray, meta_voc: dict,
                 notes: WriteNotes) -> None:
        self.imgs, self.rel = imgs, rel
        self.attrs = {c: a for c, a in (meta_voc.get("image_attributes") or {}).items()
                      if c in imgs}
        elements = {c: t for c, t in (meta_voc.get("image_elements") or {}).items()
                    if c in imgs}
        known = set(IMAGE_SCHEMA) | VOC_IMAGE_COLUMNS | set(self.attrs) | set(elements)
        # other formats' image extras (license, date_captured, ...) become elements too
        others = [c for c in imgs.columns if c not in known and imgs[c].notna().any()]
        elements.update({c: c for c in others if _XML_NAME.fullmatch(str(c))})
        dropped = [str(c) for c in others if c not in elements]
        if dropped:
            notes.say(f"VOC cannot name an element after image columns "
                      f"{', '.join(dropped)}: dropped")
        self.elements = elements

    def text(self, start: int, stop: int) -> list[str]:
        """The heads of images ``start`` to ``stop`` (rows of ``imgs``)."""
        imgs, n = self.imgs.iloc[start:stop], stop - start

        def column(name: str, tag: str, default: str = "") -> list[str]:
            if name not in imgs:
                return [default] * n
            return _render(imgs[name].astype(object).to_numpy(),
                           lambda v: _element(tag, v, 1))

        def attribute(name: str, key: str) -> list[str]:
            return _render(imgs[name].astype(object).to_numpy(),
                           lambda v: "" if _missing(v) else f" {key}={quoteattr(_str(v))}")

        opening = ["<annotation>\n"] * n
        if self.attrs:
            keys = zip(*[attribute(c, a) for c, a in self.attrs.items()])
            opening = ["<annotation" + "".join(k) + ">\n" for k in keys]
        filename = [escape(r.rsplit("/", 1)[-1]) for r in self.rel[start:stop]]
        columns = [column(c, t) for c, t in self.elements.items()]
        extra = ["".join(e) for e in zip(*columns)] if columns else [""] * n
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


def _write_image_sets(out: Path, imgs: pd.DataFrame, stems: list[str], meta_voc: dict
                      ) -> None:
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
