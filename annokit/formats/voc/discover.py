"""Pascal VOC discovery: which layout a path is, its XML files, ImageSets lists,
and where the images are (image root, file names, sizes from headers, the labels file).
"""
from __future__ import annotations

import io
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import AnnokitError, FormatError, Problems
from ...fileio import confined, open_regular, safe_relative
from ..layout import (SPLIT_NAMES, header_sizes, image_dirs, image_index, is_image, pick_root,
                     sibling_image_dirs, subdirs, unknown_sizes)



LABEL_FILES = ("labels.txt", "class_names.txt", "labelmap.txt")
BACKGROUND = {"background", "_background_", "__background__", "__ignore__"}
_VOC_HEAD = re.compile(
    rb"^(?:\xef\xbb\xbf)?\s*(?:<\?.*?\?>\s*|<!--.*?-->\s*"
    rb"|<!DOCTYPE[^\[>]*(?:\[.*?\])?\s*>\s*)*<annotation[\s>/]", re.S)
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


def _has_voc_xml(folder: str | os.PathLike[str], tries: int = 3) -> bool:
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
        entries: list[tuple[str, str | None, str | None, tuple[Path, int] | None]] = [
            (s, f, splits.get(s), None) for s, f in files.items()]
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
    # an image kept in its first list; QC flags it (None: a repeat within an unsplit list)
    overlaps: dict[tuple[str | None, str], int] = {}
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
    overlap_rows = [{"splits": list(pair), "images": n} for pair, n in overlaps.items()]
    return split_of, list_only, {"train", "val", "trainval"} <= set(lists), overlap_rows


def _list_lines(path: Path):
    """(line number, stem) for each entry of an ImageSets list; '#' starts a comment."""
    with open_regular(path, what="image list") as raw, \
            io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if line and not line.startswith("#"):
                yield number, line


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


def _fill_sizes(images: dict, folder: str, roots: dict) -> None:
    """Width/height as numbers; a missing or zero size is read from the image header."""
    width = pd.to_numeric(pd.Series(images["width"], dtype=object), errors="coerce")
    height = pd.to_numeric(pd.Series(images["height"], dtype=object), errors="coerce")
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
