"""YOLO text labels: Ultralytics ``data.yaml``, Roboflow and Darknet ``obj.data`` layouts.

One label file per image, one object per line, numbers normalised by the image size:

    class cx cy w h              a box
    class cx cy w h score        a box with a confidence (predictions)
    class x1 y1 x2 y2 ... xn yn  a polygon, n >= 3 (``task: segment``); + score when even
    class cx cy w h kpts...      a pose line when ``data.yaml`` has ``kpt_shape``

Labels are found by Ultralytics' rule: the image path with its last ``/images/`` replaced
by ``/labels/`` and its extension by ``.txt`` (so beside the image when there is no
``images`` folder, as in Darknet). Image sizes come from the image headers.

Class index ``k`` becomes category id ``k + 1`` (never 0), unless ``data.yaml`` carries
``annokit_category_ids`` (written by :func:`write`), which restores the original ids.

Example:
    >>> import annokit
    >>> ds = annokit.read("fixtures/yolo/ultralytics", "yolo")    # doctest: +SKIP
    >>> annokit.write(ds, "out/yolo", "yolo", images="link")      # doctest: +SKIP
"""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ..errors import AnnokitError, FormatError, Problems
from ..fileio import (load_yaml, open_regular, place_images, read_regular, safe_relative,
                      shown_text)
from ..geometry import convert_boxes, denormalize, normalize
from ..imagesize import image_size
from ..model import ANNOTATION_SCHEMA, IMAGE_SCHEMA, Dataset
from ..progress import track
from .layout import SPLIT_NAMES, safe_split_names, scan_images, subdirs
from .target import NORMALISED, Notes, dropped_note, zero_size_note
SPLIT_KEYS = ("train", "val", "test", "minival")  # the data.yaml keys Ultralytics reads
NAMES_FILES = ("obj.names", "classes.txt")
RANGE_TOLERANCE = 1e-3  # normalised values this far past 0 or 1 are rounding noise
# data.yaml keys that read() turns into the model and write() writes from it
OWN_KEYS = {"path", "names", "nc", "annokit_category_ids", "annokit_splits",
            "annokit_aliases", *SPLIT_KEYS}
NOT_YAML = {"task", "darknet"}  # meta["yolo"] entries of ours, never written to data.yaml
DECIMALS = NORMALISED  # Ultralytics' precision: round trips within 5e-7 of the image size
YOLO_QUANTUM = 0.75e-6  # the most a 6-decimal cx -/+ w/2 is off, as a share of the side
RENAMED_SPLITS = {"valid": "val"}  # Roboflow's name for the split Ultralytics calls val
BOM = b"\xef\xbb\xbf"
MAX_CLASSES = 100_000  # class indices named by their number when no names file exists


# -- detect ------------------------------------------------------------------------------

def detect(path: Path) -> bool:
    """True for a YOLO root (data.yaml, obj.data, or classes.txt beside labels) or its file.

    Example:
        >>> detect(Path("fixtures/yolo/ultralytics"))  # doctest: +SKIP
        True
    """
    path = Path(path)
    try:
        return _layout(path) is not None
    except (OSError, FormatError):
        return False


def _layout(path: Path) -> tuple[str, Path] | None:
    """('yaml' | 'darknet' | 'folder', the file that describes it), or None."""
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix in (".yaml", ".yml") and _yaml_has_names(path):
            return "yaml", path
        if suffix == ".data":
            return "darknet", path
        if path.name in NAMES_FILES:
            return "folder", path
        return None
    if not path.is_dir():
        return None
    for name in ("data.yaml", "data.yml"):
        if (path / name).is_file():
            return "yaml", path / name
    files = sorted(p for p in path.iterdir() if p.is_file())
    for p in files:
        if p.suffix.lower() in (".yaml", ".yml") and _yaml_has_names(p):
            return "yaml", p
    for p in files:
        if p.suffix.lower() == ".data":
            return "darknet", p
    for name in NAMES_FILES:
        if (path / name).is_file() and _has_labels(path, name):
            return "folder", path / name
    if _label_folder(path) is not None:
        return "folder", path
    return None


def _label_folder(root: Path) -> Path | None:
    """``labels/`` of a ``labels/`` + ``images/`` pair without data.yaml, when one of its
    first files reads as YOLO labels (a class number and at least four numbers)."""
    labels, images = root / "labels", root / "images"
    if not (labels.is_dir() and images.is_dir()):
        return None
    tries = 5
    for dirpath, dirnames, filenames in os.walk(labels):
        dirnames.sort()
        for name in sorted(filenames):
            if name.endswith(".txt") and name not in NAMES_FILES:
                if _looks_like_labels(os.path.join(dirpath, name)):
                    return labels
                tries -= 1
                if tries == 0:
                    return None
    return None


def _yaml_has_names(path: Path) -> bool:
    if path.stat().st_size > 1_000_000:  # a data.yaml is small; do not parse big files
        return False
    try:
        doc = load_yaml(path.read_text(encoding="utf-8", errors="replace"), path)
    except AnnokitError:
        return False
    return isinstance(doc, dict) and "names" in doc


def _has_labels(folder: Path, names_file: str) -> bool:
    """Any .txt besides the names file, in the folder or below it (stops at the first)."""
    for _dirpath, _, filenames in os.walk(folder):
        if any(f.endswith(".txt") and f != names_file for f in filenames):
            return True
    return False


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


# .. where the classes and the images are ...............................................

def _from_yaml(file: Path, image_root: Path | None, problems: Problems):
    """Names, where they came from, category ids, kept keys, [(split, images, roots)]."""
    doc = _load_yaml(file)
    names = _names(doc.get("names"), file)
    ids = _category_ids(doc.get("annokit_category_ids"), names, file)
    # keys annokit repeated for Ultralytics; when every key is one, the data has no split
    aliases = [k for k in doc.get("annokit_aliases") or () if doc.get(k)]
    keys = [k for k in (*SPLIT_KEYS, *(doc.get("annokit_splits") or ()))
            if doc.get(k) and k not in aliases]
    unsplit = not keys and bool(aliases)
    keys = keys or aliases[:1]
    keep = {k: v for k, v in doc.items() if k not in OWN_KEYS and k not in keys}
    if not keys:
        raise FormatError(file, "no train, val or test images named",
                          hint="add e.g. 'train: images/train'")
    here = file.parent
    base = image_root or _dataset_root(doc.get("path"), here)
    sources, seen = [], {}
    for key in keys:
        items = doc[key] if isinstance(doc[key], list) else [doc[key]]
        images, roots = [], []
        for item in items:
            found = _locate(str(item), [base, here]) or \
                _split_by_folders(key, str(item), [base, here], file, problems)
            if found is None:
                problems.skip(FormatError(file, f"{key}: {item} not found (looked under {base})",
                                          place=f"key {key}",
                                          hint="fix the path or give --image-root"))
                continue
            _add_images(found, images, roots, [base, here, Path.cwd()], problems, seen,
                        allowed=(base, here))
        sources.append((None if unsplit else key, images, roots))
    if not any(images for _, images, _ in sources) and problems.skipped:
        raise FormatError(file, "none of its image folders or lists exist",
                          hint="fix the paths in it or give --image-root")
    return names, file.name, ids, keep, sources


def _from_darknet(file: Path, image_root: Path | None, problems: Problems):
    """The same for a Darknet obj.data: paths relative to the Darknet root (data/'s parent)."""
    keys = _read_obj_data(file)
    bases = ([image_root] if image_root else []) + [file.parent, file.parent.parent, Path.cwd()]
    home = file.parent.parent if file.parent.name == "data" else file.parent  # Darknet's root
    allowed = (home, *([image_root] if image_root else []))
    names_file = _locate(keys["names"], bases) if keys.get("names") else None
    if names_file is not None and not _inside(str(names_file), allowed):
        raise FormatError(file, f"names = {keys['names']} is outside the dataset; refused",
                          place="key names", hint="give --image-root to allow its folder")
    names_file = names_file or next((file.parent / n for n in NAMES_FILES
                                     if (file.parent / n).is_file()), None)
    if names_file is None:
        raise FormatError(file, "no class names: 'names' is missing or its file does not exist",
                          hint="add 'names = data/obj.names'")
    names = _read_names_file(names_file)
    sources, seen = [], {}
    for key in ("train", "valid", "test"):
        if not keys.get(key):
            continue
        found = _locate(keys[key], bases)
        if found is None:
            problems.skip(FormatError(file, f"{key}: {keys[key]} not found", place=f"key {key}"))
            continue
        images, roots = [], []
        _add_images(found, images, roots, bases, problems, seen, allowed=allowed)
        sources.append(("val" if key == "valid" else key, images, roots))
    if not sources:
        raise FormatError(file, "no image list: 'train' and 'valid' are missing or absent",
                          hint="add 'train = data/train.txt'")
    ids = list(range(1, len(names) + 1))
    return names, names_file.name, ids, {"darknet": keys}, sources


def _from_folder(found: Path, image_root: Path | None, problems: Problems):
    """A folder without data.yaml: images (anywhere below it) with labels by the same rule.

    ``found`` is the names file, or the folder of a ``labels/`` + ``images/`` pair (names
    in ``classes.txt`` or ``obj.names`` beside or inside ``labels/``; without one, classes
    are named by their index, with a note). ``images/<split>/`` folders are splits.
    """
    folder = found.parent if found.is_file() else found
    if folder.name == "labels" and _label_folder(folder.parent) is not None:
        folder = folder.parent  # classes.txt inside labels/ (LabelImg)
    labels = _label_folder(folder)
    names_file = found if found.is_file() else next(
        (d / n for d in (folder, folder / "labels") for n in NAMES_FILES
         if (d / n).is_file()), None)
    if names_file is None:
        problems.note(f"{folder}: no data.yaml, classes.txt or obj.names: classes are named "
                      "by their index (add classes.txt to name them)")
    names = _read_names_file(names_file) if names_file else {}
    ids = list(range(1, len(names) + 1))
    root = image_root or (folder / "images" if labels else folder)
    splits = {d.name: d for d in subdirs(root)} if labels else {}
    if not splits or not all(s.lower() in SPLIT_NAMES for s in splits):
        splits = {None: root}
    label_base = labels or folder
    sources = []
    for split, where in splits.items():
        images = [(p, None) for p in scan_images(where)]
        if image_root:  # labels stay in the given folder, at the images' relative paths
            images = [(p, None, os.path.splitext(os.path.join(label_base,
                                                              os.path.relpath(p, root)))[0]
                       + ".txt") for p, _ in images]
        sources.append((split, images, [where]))
    return names, names_file.name if names_file else None, ids, {}, sources


def _load_yaml(file: Path) -> dict:
    try:
        doc = load_yaml(file.read_text(encoding="utf-8-sig"), file)  # no aliases, no tags
    except (OSError, UnicodeDecodeError) as e:
        raise FormatError(file, f"cannot read: {e}") from None
    if not isinstance(doc, dict):
        raise FormatError(file, "not a YOLO data.yaml (expected a mapping of keys)")
    return doc


def _names(names, file: Path) -> dict[int, str]:
    """{class index: name} from a list or a {index: name} mapping."""
    if names is None:
        raise FormatError(file, "no 'names': the class names are missing",
                          hint="add 'names: [class0, class1, ...]'")
    if isinstance(names, list):
        return {k: str(n) for k, n in enumerate(names)}
    if isinstance(names, dict):
        try:
            found = {int(k): str(n) for k, n in names.items() if not isinstance(k, bool)}
        except (TypeError, ValueError):
            found = {}
        if len(found) != len(names) or not all(0 <= k < MAX_CLASSES for k in found):
            raise FormatError(file, "'names' keys must be class indices 0, 1, ... (at most "
                              f"{MAX_CLASSES - 1}: lookups are sized by them)")
        return dict(sorted(found.items()))
    raise FormatError(file, "'names' must be a list or a mapping {index: name}")


def _category_ids(ids, names: dict[int, str], file: Path) -> list[int]:
    """Category ids aligned with the sorted class indices: k + 1, or annokit_category_ids.

    annokit_category_ids may hold any distinct integers (0 and negative ones too: a
    Roboflow COCO export has a category 0), so every id annokit writes reads back.
    """
    if ids is None:
        return [k + 1 for k in sorted(names)]
    ok = (isinstance(ids, list) and len(ids) == len(names)
          and all(isinstance(i, int) and not isinstance(i, bool) and abs(i) < 2 ** 63
                  for i in ids)
          and len(set(ids)) == len(ids))  # after the type test: a list in it is unhashable
    if not ok:  # any distinct integers: write() keeps ids 0 and below as they were
        raise FormatError(file, "annokit_category_ids must list one distinct integer id "
                          f"per name ({len(names)} names)", hint="remove the key to use k + 1")
    return list(ids)


def _dataset_root(path_key, here: Path) -> Path:
    """data.yaml's ``path``, relative to the yaml's folder; the folder when absent or gone."""
    if path_key:
        root = (here / str(path_key)).resolve()
        if root.is_dir():
            return root
    return here


def _read_obj_data(file: Path) -> dict[str, str]:
    try:
        text = file.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise FormatError(file, f"cannot read: {e.strerror or e}") from None
    keys = {}
    for line in text.splitlines():
        key, sep, value = line.split("#", 1)[0].partition("=")
        if sep:
            keys[key.strip()] = value.strip()
    return keys


def _read_names_file(file: Path) -> dict[int, str]:
    try:
        lines = file.read_text(encoding="utf-8-sig").rstrip().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise FormatError(file, f"cannot read class names: {e}") from None
    return {k: name.strip() for k, name in enumerate(lines)}


def _kpt_shape(keep: dict, file: Path) -> tuple[int, int | None] | None:
    """data.yaml's ``kpt_shape`` as (keypoints, values per point); without it, (k, None)
    when another pose key (``flip_idx``, ``kpt_names``) gives the number of keypoints,
    so that pose lines are recognised (and skipped) rather than read as polygons."""
    shape = keep.get("kpt_shape")
    if shape is None:
        for key in ("flip_idx", "kpt_names"):
            hint = keep.get(key)
            if isinstance(hint, (list, dict)) and hint:
                return len(hint), None
        return None
    if (isinstance(shape, list) and len(shape) == 2 and all(isinstance(v, int) for v in shape)
            and shape[0] > 0 and shape[1] in (2, 3)):
        return shape[0], shape[1]
    raise FormatError(file, f"kpt_shape must be [keypoints, 2 or 3], not {shape!r}")


# .. paths ...............................................................................

# How exports spell a split's folder: Roboflow writes valid/ (and names it in data.yaml
# as ../valid/images even when the folder is val/), others val/ or validation/.
SPELLINGS = {"train": ("train", "training"), "val": ("val", "valid", "validation"),
             "test": ("test", "testing")}
SPELLINGS.update({s: group for group in list(SPELLINGS.values()) for s in group})


def _split_by_folders(key: str, entry: str, bases: list[Path], file: Path,
                      problems: Problems) -> Path | None:
    """The split's folder under another spelling, when the one data.yaml names is absent.

    ``../valid/images`` with ``val/images`` on disk (or the other way round): each split
    word in the path is tried in its other spellings, then the key's own folders
    (``<split>/images``, ``images/<split>``); a note says which folder was read.
    """
    parts = _parts(entry)
    words = {p.lower() for p in parts} | {key.lower()}
    for word in [w for w in words if w in SPELLINGS]:
        for other in SPELLINGS[word]:
            tries = [[other if p.lower() == word else p for p in parts],
                     [other, "images"], ["images", other]]
            for attempt in tries:
                found = _locate("/".join(attempt), bases)
                if found is not None and found.is_dir():
                    problems.note(f"{file}: {key}: {entry} is not there; read {found} "
                                  "instead (the split found by its folder name)")
                    return found
    return None


def _parts(entry: str) -> list[str]:
    return [p for p in entry.strip().replace("\\", "/").split("/") if p not in ("", ".")]


def _locate(entry: str, bases: list[Path]) -> Path | None:
    """Find ``entry`` (a path from a yaml or list) under one of ``bases``.

    Paths written elsewhere are often off by a folder or two (Roboflow's ``../train/images``,
    Darknet's ``data/img/a.jpg`` relative to the folder above ``data/``, CVAT's ``data/``
    prefix, absolute paths from another machine): when the path as written is absent,
    leading folders are dropped one at a time, keeping at least a folder and a name.
    """
    found = _find(entry, bases)
    return None if found is None else Path(found[0])


def _find(entry: str, bases: list) -> tuple[str, tuple[str, int] | None] | None:
    """(path, (base, leading parts dropped)) for ``entry``; the rule is None when absolute."""
    if os.path.isabs(entry) and os.path.exists(entry):
        return os.path.normpath(entry), None
    parts = _parts(entry)
    for k in range(len(parts)):
        if len(parts) - k < 2 and any(p not in ("..", "data") for p in parts[:k]):
            break  # never shorten to a bare name, except past ../ and Darknet's data/
        for base in bases:
            candidate = os.path.normpath(os.path.join(base, *parts[k:]))
            if os.path.exists(candidate):
                return candidate, (str(base), k)
    return None


def _add_images(found: Path, images: list, roots: list, bases: list[Path],
                problems: Problems, seen: dict, allowed: tuple = ()) -> None:
    """Add the images of a folder, a list file or a single image to ``images``.

    ``seen`` remembers what each path gave, so a list named by two keys is read once.
    Nothing outside the ``allowed`` folders (the dataset, --image-root) is read.
    """
    if allowed and not _inside(str(found), allowed):
        problems.skip(FormatError(found, "is outside the dataset; not read",
                                  hint="give --image-root to allow its folder"))
        return
    if found not in seen:
        if found.is_dir():
            seen[found] = [(p, None) for p in scan_images(found)], [found]
        elif found.suffix.lower() == ".txt":
            listed = _read_list(found, bases, problems, allowed)
            seen[found] = listed, [os.path.dirname(p) for p, _ in listed]
        else:
            seen[found] = [(str(found), None)], [found.parent]
    images += seen[found][0]
    roots += seen[found][1]


def _inside(path: str, roots: tuple) -> bool:
    """``path`` lies in one of ``roots`` (compared as absolute, normalised paths)."""
    path = os.path.abspath(path)
    return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep)
               for r in (os.path.abspath(root) for root in roots))


def _read_list(file: Path, bases: list[Path], problems: Problems, allowed: tuple = ()
               ) -> list:
    """The images a .txt list names, each with where it was listed; absent ones and those
    outside the ``allowed`` folders skipped."""
    bases = [file.parent, *bases]
    rule = None  # (base, leading parts dropped) that found the last entry
    out = []
    lines = file.read_text(encoding="utf-8-sig", errors="replace").splitlines()
    for n, entry in enumerate(lines, 1):
        entry = entry.strip()
        if not entry or entry.startswith("#"):
            continue
        path = None
        if rule is not None:  # one stat per entry once the layout is known
            path = os.path.normpath(os.path.join(rule[0], *_parts(entry)[rule[1]:]))
        if path is None or not os.path.isfile(path):
            found = _find(entry, bases)
            path, rule = found if found else (None, rule)
        if path is None or not os.path.isfile(path):
            problems.skip(FormatError(file, f"lists {entry}, which does not exist",
                                      place=f"line {n}",
                                      hint="its labels cannot be placed without the image"))
            continue
        if allowed and not _inside(path, allowed):
            problems.skip(FormatError(file, f"lists {entry[:200]}, which is outside the "
                                      "dataset; not read", place=f"line {n}",
                                      hint="give --image-root to allow its folder"))
            continue
        out.append((path, f"{file}:line {n}"))
    return out


def label_path(image: str) -> str:
    """Ultralytics' rule: the last ``/images/`` becomes ``/labels/``, the extension ``.txt``.

    Example:
        >>> label_path("data/images/train/a.jpg")
        'data/labels/train/a.txt'
        >>> label_path("data/img/a.jpg")
        'data/img/a.txt'
    """
    head, sep, tail = ("/" + image.replace("\\", "/")).rpartition("/images/")
    path = (head + "/labels/" + tail if sep else head + tail)[1:]
    return os.path.splitext(path)[0] + ".txt"


def _label_of(image: str, label_dirs: dict[str, str], sep: str = os.sep) -> str:
    """label_path() with the folder part worked out once per folder."""
    folder, sep, name = image.rpartition(sep)
    if folder not in label_dirs:
        label_dirs[folder] = os.path.dirname(label_path(os.path.join(folder, "x.jpg")))
    dot = name.rfind(".")
    return label_dirs[folder] + sep + (name[:dot] if dot > 0 else name) + ".txt"


def _image_table(sources) -> pd.DataFrame:
    """One row per distinct image: split, root, file_name, path, label, origin.

    An image listed under several keys keeps the first key's split; when every key lists
    the same images (Darknet's train = valid, a yaml with val = train), split is None.
    """
    sets = [frozenset(str(i[0]) for i in images) for _, images, _ in sources]
    same = len(sources) > 1 and all(s == sets[0] for s in sets)
    overlaps = [{"splits": [a[0], b[0]], "images": len(sa & sb)}
                for i, (a, sa) in enumerate(zip(sources, sets))
                for b, sb in zip(sources[i + 1:], sets[i + 1:]) if sa & sb]
    if same:
        sources = [(None, *sources[0][1:])]
    rows, seen, label_dirs = [], set(), {}
    for split, images, roots in sources:
        root = os.path.commonpath([str(r) for r in roots]) if roots else None
        cut = len(os.path.join(root, "")) if root else 0  # images are all below root
        for image in images:
            path = image[0]
            if path in seen:
                continue
            seen.add(path)
            label = image[2] if len(image) > 2 else _label_of(path, label_dirs)
            rows.append((split, root, path[cut:].replace(os.sep, "/"), path, label, image[1]))
    table = pd.DataFrame(rows, columns=["split", "root", "file_name", "path", "label", "origin"])
    table.attrs["split_overlaps"] = overlaps  # QC flags images listed in two splits
    order = {s: n for n, (s, _, _) in enumerate(sources)}
    table["order"] = table["split"].map(lambda s: order[s])
    return table.sort_values(["order", "file_name"], kind="stable").reset_index(drop=True)


def _roots(table: pd.DataFrame) -> dict:
    """meta image_root (one folder) or split_roots (a folder per split)."""
    roots = table.drop_duplicates("split").set_index("split")["root"]
    roots = roots.dropna()
    if roots.nunique() <= 1:
        return {"image_root": roots.iloc[0] if len(roots) else None, "split_roots": {}}
    return {"image_root": os.path.commonpath(list(roots)),
            "split_roots": {s: r for s, r in roots.items() if s is not None}}


# .. label files .........................................................................

def _read_labels(table: pd.DataFrame, names: tuple[dict[int, str], str], ids: list[int],
                 kpt: tuple[int, int] | None, problems: Problems):
    """Image sizes from headers and every label file, parsed in bulk.

    ``names`` is ({class index: name}, the file they come from, for messages).
    """
    n = len(table)
    widths, heights = np.zeros(n, np.int64), np.zeros(n, np.int64)
    keep = np.ones(n, bool)
    texts: list[bytes] = []
    paths, labels = table["path"].tolist(), table["label"].tolist()
    for i in track(range(n), "reading YOLO labels", total=n):
        try:
            widths[i], heights[i] = image_size(paths[i])
            data = _label_bytes(labels[i])
        except FormatError as e:
            origin = table["origin"].iat[i]
            problems.skip(FormatError(e.file, e.reason, e.place, hint="image left out" + (
                f"; listed at {origin}" if origin else "")))
            keep[i], data = False, b""
        except OSError as e:
            problems.skip(FormatError(labels[i], f"cannot read: {e.strerror or e}",
                                      hint="image left out"))
            keep[i], data = False, b""
        texts.append(_normal_lines(data))
    anns, task = _parse(texts, widths, heights, labels, names, ids, kpt, problems)
    images = table.assign(width=widths, height=heights)[keep]
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


def _parse(texts, widths, heights, labels, names, ids, kpt, problems):
    """Every line of every file to one annotation frame, numbers parsed per field count."""
    counts = np.fromiter((t.count(b"\n") for t in texts), np.int64, count=len(texts))
    text = b"".join(texts)
    owner = np.repeat(np.arange(len(texts)), counts)
    lineno = np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts) + 1
    nf = _field_counts(text, len(owner))
    lines: list[bytes] = []  # split only when needed: several line kinds, or bad lines

    def line_list() -> list[bytes]:
        if not lines:
            lines.extend(text.split(b"\n"))
        return lines

    kinds = [f for f in np.flatnonzero(np.bincount(nf)) if f > 0] if len(nf) else []
    errors: list[tuple[int, str]] = []  # (line index, reason), reported in reading order
    blocks = []
    for fields in kinds:
        rows = np.flatnonzero(nf == fields)
        kind = _line_kind(int(fields), kpt)
        if kind is None:
            errors += [(r, f"expected 5 fields (class cx cy w h), got {fields}") for r in rows]
            continue
        values, bad = _numbers(text if len(kinds) == 1 else None, rows, int(fields), line_list)
        if kind.startswith("polygon"):  # pose and DOTA lines are no polygons: skip them
            bad = sorted(_not_polygons(int(fields), rows, values, bad, kpt, line_list))
        errors += [(rows[j], reason) for j, reason in bad]
        good = _without(len(rows), bad)
        blocks.append((kind, rows[good], values[good]))
    names, names_from = names
    if names_from is None:  # no names file: every class index in the labels is a class
        _name_by_index(names, ids, [values[:, 0] for _, _, values in blocks])
        names_from = "the labels"
    lookup = _class_lookup(names, ids)
    frames = []
    for kind, rows, values in blocks:
        category, bad = _classes(values[:, 0], lookup, f"{names_from} ({len(names)} names)")
        bad += _out_of_range(kind, values, {j for j, _ in bad})
        errors += [(rows[j], reason) for j, reason in bad]
        ok = _without(len(rows), bad)
        rows, values, category = rows[ok], values[ok], category[ok]
        w, h = widths[owner[rows]].astype(float), heights[owner[rows]].astype(float)
        frame = _to_absolute(kind, values, w, h, kpt)
        frames.append(frame.assign(row=rows, category_id=category, image_id=owner[rows]))
    for row, reason in sorted(errors, key=lambda e: e[0]):
        shown = line_list()[row].decode("utf-8", "replace").strip()
        label = labels[owner[row]]  # quoted only when it really lies in its labels folder
        shown = shown_text(shown, label, os.path.dirname(os.path.abspath(label)))
        problems.skip(FormatError(label, reason, place=f"line {lineno[row]}",
                                  hint=f"line skipped: {shown}"))
    empty = pd.DataFrame({c: pd.Series(dtype=object if d is object else d)
                          for c, d in ANNOTATION_SCHEMA.items()} | {"row": pd.Series(dtype=int)})
    anns = pd.concat(frames, ignore_index=True) if frames else empty
    if len(frames) > 1:
        anns = anns.sort_values("row", kind="stable").reset_index(drop=True)
    anns = anns.drop(columns="row")
    anns["id"] = np.arange(1, len(anns) + 1)
    task = "segment" if any(k.startswith("polygon") for k, _, _ in blocks) else None
    corners = {len(v[0]) for k, r, v in blocks if k.startswith("polygon") and len(r)}
    if corners and corners <= {9, 10}:
        problems.note("every polygon has 4 corners: oriented boxes (Ultralytics OBB) are read "
                      "as 4-point polygons, with the upright box around each")
    return anns, task


def _not_polygons(fields: int, rows: np.ndarray, values: np.ndarray, bad: list, kpt,
                  line_list) -> list[tuple[int, str]]:
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
        pose = np.isin(v, (0, 1, 2)).all(axis=1)
        pose &= bool((v[pose] == 2).any())
    for j in np.flatnonzero(pose):
        k = (fields - 5) // (2 if kpt is not None and fields == 5 + 2 * kpt[0] else 3)
        reasons[j] = (f"a pose line (class cx cy w h and {k} keypoints), but data.yaml has no "
                      f"kpt_shape; not read as a polygon (add kpt_shape: [{k}, 2 or 3])")
    if fields == 10:
        for j in _dota_lines(rows, values, line_list):
            reasons[j] = ("a DOTA/OBB labelTxt line (x1 y1 ... x4 y4 class difficult), not a "
                          "YOLO box or polygon")
    return list(reasons.items())


def _dota_lines(rows: np.ndarray, values: np.ndarray, line_list) -> np.ndarray:
    """Positions in ``rows`` of DOTA lines: 8 numbers, a class, 0 or 1; the corners in
    pixels (above 1.5) or the class a word."""
    difficult = np.isin(values[:, 9], (0, 1))
    pixels = (np.nan_to_num(values[:, 1:8], nan=0.0) > 1.5).any(axis=1) & difficult
    worded = np.isnan(values[:, 8]) & ~np.isnan(values[:, :8]).any(axis=1) & difficult
    found = pixels | worded
    if np.isnan(values).any():  # a failed parse left NaN: look at the words themselves
        lines = line_list()
        for j in np.flatnonzero(np.isnan(values).any(axis=1) & ~found):
            words = lines[rows[j]].split()
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
    bad += [(j, "non-finite value (nan or inf)") for j in np.flatnonzero(~finite)
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
    columns = {"kind": "box", "iscrowd": 0, "segmentation": np.full(n, None, object),
               "score": np.nan}
    if kind.startswith("polygon"):
        points = values[:, 1:-1] if kind.endswith("score") else values[:, 1:]
        xs, ys = points[:, 0::2] * w[:, None], points[:, 1::2] * h[:, None]
        x0, y0 = xs.min(axis=1), ys.min(axis=1)
        columns.update(x=x0, y=y0, w=xs.max(axis=1) - x0, h=ys.max(axis=1) - y0)
        flat = np.empty_like(points)
        flat[:, 0::2], flat[:, 1::2] = xs, ys
        for j, polygon in enumerate(flat.tolist()):
            columns["segmentation"][j] = [polygon]
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

    Six decimals of ``cx`` and ``w`` place an edge to within 0.75e-6 of the image side
    (0.0005 px at 640 px): an integer box written as YOLO reads back as integers, so a
    VOC -> YOLO -> VOC round trip gives back the source's integers.
    """
    side = np.stack([w, h, w, h], axis=1)
    nearest = np.round(xyxy)
    return np.where(np.abs(xyxy - nearest) <= YOLO_QUANTUM * side + 1e-9, nearest, xyxy)


def _keypoints(values: np.ndarray, w: np.ndarray, h: np.ndarray, kpt) -> list:
    """COCO-style flat [x, y, v] * k in pixels; v = 0 for YOLO's unlabelled (0, 0) points."""
    k, d = kpt
    points = values.reshape(len(values), k, d)
    out = np.empty((len(values), k, 3))
    out[:, :, 0], out[:, :, 1] = points[:, :, 0] * w[:, None], points[:, :, 1] * h[:, None]
    unlabelled = (points[:, :, 0] == 0) & (points[:, :, 1] == 0)
    out[:, :, 2] = points[:, :, 2] if d == 3 else np.where(unlabelled, 0, 2)
    return out.reshape(len(values), -1).tolist()


def _report_orphans(table: pd.DataFrame, problems: Problems) -> None:
    """Label files with boxes whose image is nowhere: their boxes cannot be placed."""
    used: dict[str, set[str]] = {}
    for label in table["label"]:
        folder, _, name = label.rpartition(os.sep)
        used.setdefault(folder, set()).add(name)
    for folder in sorted(f for f in used if os.path.isdir(f)):
        image_folder = folder
        if f"{os.sep}labels{os.sep}" in folder + os.sep:
            head, _, tail = (folder + os.sep).rpartition(f"{os.sep}labels{os.sep}")
            image_folder = os.path.join(head, "images", tail)
        unused = {n for n in os.listdir(folder) if n.endswith(".txt")} - used[folder]
        if not unused:
            continue
        stems = _stems(image_folder)
        for name in sorted(unused):
            path = os.path.join(folder, name)
            if name[:-4] not in stems and name not in NAMES_FILES and _looks_like_labels(path):
                problems.skip(FormatError(path, "label file without an image",
                                          hint="its boxes cannot be placed; add the image"))


def _stems(folder: str) -> set[str]:
    try:
        return {os.path.splitext(e.name)[0] for e in os.scandir(folder)}
    except OSError:
        return set()


def _looks_like_labels(path: str) -> bool:
    """A non-empty file whose first line starts with a class number (not an image list)."""
    try:
        with open_regular(path) as f:  # a FIFO among the lists: not labels, no hang
            first = f.readline().split()
    except (OSError, AnnokitError):
        return False
    return bool(first) and first[0].isdigit() and len(first) >= 5


# -- write -------------------------------------------------------------------------------

def write(ds: Dataset, out: Path, *, images: str, problems: Problems, single_file: bool,
          yolo_task: str | None = None) -> list[str]:
    """Write ``ds`` in the Ultralytics layout: images/<split>/, labels/<split>/, data.yaml.

    ``yolo_task`` 'detect' writes boxes, 'segment' polygons where there are any (default:
    the task the dataset was read with). Class index = rank of the category id; the ids
    go into data.yaml as ``annokit_category_ids``. Returns notes on what YOLO cannot hold.

    Example:
        >>> notes = write(ds, Path("out/yolo"), images="link", problems=Problems(),
        ...               single_file=False)  # doctest: +SKIP
    """
    out = Path(out)
    yolo_meta = ds.meta.get("yolo") or {}
    task = yolo_task or yolo_meta.get("task") or "detect"
    if task not in ("detect", "segment"):
        raise AnnokitError(f"yolo_task must be 'detect' or 'segment', not {task!r}")
    notes: list[str] = []
    imgs = _plan_images(ds, problems, notes, images != "none")
    cats = ds.categories.sort_values("id", kind="stable").reset_index(drop=True)
    anns = _writable_annotations(ds, imgs, cats, task, notes)
    lines, starts, ends = _format_lines(anns, imgs, cats, task, yolo_meta, notes)
    _write_label_files(out, imgs, lines, starts, ends)
    notes += _place(ds, imgs, out, images)
    _write_data_yaml(out, imgs, cats, yolo_meta, notes)
    notes += _lost_notes(ds, yolo_meta)
    return Notes(notes, images=len(imgs), annotations=len(lines), categories=len(cats))


# .. which images, where .................................................................

def _plan_images(ds: Dataset, problems: Problems, notes: list[str], placed: bool
                 ) -> pd.DataFrame:
    """Images that can be written, with their size, split folder and output paths (and
    where each image is, when ``placed`` or a size must come from its header)."""
    imgs = ds.images[["id", "file_name", "width", "height", "split"]].copy()
    sized = (imgs["width"].fillna(0) > 0) & (imgs["height"].fillna(0) > 0)
    imgs["source"] = ds.image_paths() if placed or not sized.all() else None
    imgs["split"] = _split_folders(imgs["split"], notes)
    safe = np.fromiter((isinstance(f, str) and safe_relative(f)
                        for f in imgs["file_name"].tolist()),
                       bool, count=len(imgs))
    for row in imgs[~safe].itertuples():
        problems.skip(FormatError(str(row.file_name), "file name escapes the image root",
                                  place=f"image id {row.id}", hint="image and labels not written"))
    imgs = imgs[safe]
    imgs["image_out"] = [("images/" if pd.isna(s) else f"images/{s}/") + f.replace("\\", "/")
                         for f, s in zip(imgs["file_name"].tolist(), imgs["split"].tolist())]
    label_dirs: dict[str, str] = {}
    imgs["label_out"] = [_label_of(p, label_dirs, "/") for p in imgs["image_out"].tolist()]
    clash = pd.Series([p.lower() for p in imgs["label_out"]], index=imgs.index).duplicated()
    for row in imgs[clash].itertuples():
        problems.skip(FormatError(row.file_name, f"same label file as another image "
                                  f"({row.label_out})", place=f"image id {row.id}",
                                  hint="rename one of them; this one is not written"))
    imgs = imgs[~clash]
    return _known_sizes(imgs, problems, notes).reset_index(drop=True)


def _split_folders(split: pd.Series, notes: list[str]) -> pd.Series:
    """Split names as folder names; images without one join 'train' when others have one.

    Roboflow's ``valid`` becomes ``val`` (Ultralytics' key), unless both are present.
    """
    present = set(split.dropna().unique())
    renamed = {a: b for a, b in RENAMED_SPLITS.items() if a in present and b not in present}
    if renamed:
        split = split.replace(renamed)
        notes.append("split " + ", ".join(f"'{a}' written as '{b}'" for a, b in renamed.items())
                     + " (the key Ultralytics reads)")
    named = split.notna()
    if named.any() and not named.all():
        notes.append(f"{int((~named).sum())} images without a split were written to the "
                     "train split (YOLO keeps every image under a split when any has one)")
        split = split.where(named, "train")
    return safe_split_names(split, notes)


def _known_sizes(imgs: pd.DataFrame, problems: Problems, notes: list[str]) -> pd.DataFrame:
    """Fill unknown sizes from the image headers; leave out images where that fails."""
    unknown = imgs["width"].isna() | imgs["height"].isna() | \
        (imgs["width"].fillna(0) <= 0) | (imgs["height"].fillna(0) <= 0)
    if not unknown.any():
        return imgs
    imgs = imgs.copy()
    left_out = []
    for i, source in zip(imgs.index[unknown], imgs.loc[unknown, "source"]):
        try:
            if source is None:
                raise FormatError(imgs.at[i, "file_name"], "image not found")
            imgs.loc[i, ["width", "height"]] = image_size(source)
        except FormatError as e:
            problems.skip(FormatError(e.file, f"size unknown and {e.reason}",
                                      place=f"image id {imgs.at[i, 'id']}",
                                      hint="YOLO needs it to normalise; image not written"))
            left_out.append(i)
    if left_out:
        notes.append(f"{len(left_out)} images of unknown size were left out with their labels")
    return imgs.drop(index=left_out)


# .. what goes on each line ..............................................................

WRITTEN_COLUMNS = ("image_id", "category_id", "kind", "x", "y", "w", "h", "score",
                   "segmentation", "keypoints")  # what the label lines are made from


def _writable_annotations(ds: Dataset, imgs: pd.DataFrame, cats: pd.DataFrame, task: str,
                          notes: list[str]) -> pd.DataFrame:
    """Box annotations of the written images with a known category, in image order."""
    anns = ds.annotations
    note = dropped_note(anns["kind"], "yolo")
    if note:
        notes.append(note)
    keep = (anns["kind"] == "box").to_numpy(copy=True)
    unknown = keep & ~anns["category_id"].isin(cats["id"]).to_numpy()
    if unknown.any():
        notes.append(f"{int(unknown.sum())} annotations with an unknown category id dropped")
    keep = keep & ~unknown
    missing = keep & ~anns["image_id"].isin(ds.images["id"]).to_numpy()
    if missing.any():
        notes.append(f"{int(missing.sum())} annotations point to no image: dropped")
    position = pd.Index(imgs["id"]).get_indexer(anns["image_id"])
    rows = np.flatnonzero(keep & (position >= 0))
    if (np.diff(position[rows]) < 0).any():
        rows = rows[np.argsort(position[rows], kind="stable")]  # image order
    # at most one copy of the rows and columns written, none when every box is written
    # in image order already (a million-box table is not copied 4 times)
    anns = anns[[c for c in WRITTEN_COLUMNS if c in anns]]
    if len(rows) < len(anns) or (rows != np.arange(len(rows))).any():
        anns = anns.iloc[rows]
    anns = anns.assign(position=position[rows])
    if task == "segment":
        rle = np.fromiter((isinstance(s, dict) for s in anns["segmentation"].tolist()), bool,
                          len(anns))
        if rle.any():
            notes.append(f"{int(rle.sum())} RLE masks written as boxes "
                         "(YOLO segment holds polygons)")
    else:
        polygons = np.fromiter((isinstance(s, list) and len(s) > 0
                                for s in anns["segmentation"].tolist()),
                               bool, len(anns))
        if polygons.any():
            notes.append(f"{int(polygons.sum())} polygons not written: detect writes boxes "
                         "(use yolo_task='segment' / --yolo-task segment to keep them)")
    note = zero_size_note(anns, imgs, "yolo")
    if note:
        notes.append(note)
    return anns


def _format_lines(anns, imgs, cats, task, yolo_meta, notes):
    """All label lines as strings in image order, with each image's [start, end)."""
    n = len(anns)
    sizes = (imgs["width"].to_numpy(float), imgs["height"].to_numpy(float))
    classes = np.searchsorted(cats["id"].to_numpy(), anns["category_id"].to_numpy())
    score = anns["score"].to_numpy(float)
    boxes, keep = _normalise_boxes(anns, *sizes, notes)
    kpt = _kpt_shape(yolo_meta, Path("data.yaml")) if "kpt_shape" in yolo_meta else None
    if task != "segment" and not (kpt and "keypoints" in anns):  # boxes only: lazily
        position = anns["position"].to_numpy()
        if not keep.all():  # (no copies of a million boxes when every one is written)
            position, classes, boxes, score = (a[keep] for a in (position, classes, boxes,
                                                                 score))
        bounds = np.arange(len(imgs))
        return _BoxLines(classes, boxes, score), \
            np.searchsorted(position, bounds), np.searchsorted(position, bounds, side="right")
    width, height = (side[anns["position"].to_numpy()] for side in sizes)
    lines = np.empty(n, object)
    lines[:] = _box_lines(classes, boxes, score)
    if task == "segment":
        _polygon_lines(lines, anns, classes, boxes, width, height, score, notes)
    if kpt and "keypoints" in anns:
        _pose_lines(lines, anns, classes, boxes, width, height, kpt)
    position = anns["position"].to_numpy()[keep]
    lines = lines[keep]
    bounds = np.arange(len(imgs))
    return lines.tolist(), np.searchsorted(position, bounds), \
        np.searchsorted(position, bounds, side="right")


class _BoxLines:
    """Box label lines made on demand, a range at a time: the text of millions of boxes
    (~90 bytes a line as Python strings) never exists all at once."""

    def __init__(self, classes: np.ndarray, boxes: np.ndarray, score: np.ndarray) -> None:
        self.classes, self.boxes, self.score = classes, boxes, score

    def __len__(self) -> int:
        return len(self.classes)

    def __getitem__(self, rows: slice) -> list[str]:
        return _box_lines(self.classes[rows], self.boxes[rows], self.score[rows])


NORMALISE_CHUNK = 500_000  # boxes at a time: each step makes a few (n, 4) float arrays


def _normalise_boxes(anns, image_width, image_height, notes):
    """cx, cy, w, h in [0, 1]; boxes over the edge are clipped, boxes outside dropped.
    ``image_width``/``image_height`` are per image, ``anns['position']`` says which."""
    n = len(anns)
    position = anns["position"].to_numpy()
    boxes, keep = np.empty((n, 4)), np.empty(n, bool)
    counts = np.zeros(3, np.int64)  # rounding, clipped, dropped
    xywh = [anns[c].to_numpy(float) for c in ("x", "y", "w", "h")]
    for start in range(0, n, NORMALISE_CHUNK):
        part = slice(start, start + NORMALISE_CHUNK)
        image = position[part]
        boxes[part], keep[part], found = _normalised_part(
            np.column_stack([c[part] for c in xywh]), image_width[image], image_height[image])
        counts += found
    rounding, clipped, dropped = counts.tolist()
    if rounding:
        notes.append(f"{rounding} box edges up to half a pixel outside their image "
                     "(rounding) were clipped to [0, 1]")
    if clipped:
        notes.append(f"{clipped} boxes extending outside their image were clipped to it "
                     "(YOLO cannot hold them)")
    if dropped:
        notes.append(f"{dropped} boxes outside their image or without "
                     "coordinates were dropped")
    return boxes, keep


def _normalised_part(xywh, width, height):
    """(cxcywh boxes, kept, [edges rounded, boxes clipped, boxes dropped]) of some boxes."""
    xyxy = convert_boxes(xywh, "xywh", "xyxy")
    edges = normalize(xyxy, width, height)
    tol = np.stack([0.5 / width, 0.5 / height] * 2, axis=1)  # half a pixel
    over = np.maximum(-edges, edges - 1)
    outside = (edges[:, 0] > 1) | (edges[:, 1] > 1) | (edges[:, 2] < 0) | (edges[:, 3] < 0)
    invalid = ~np.isfinite(edges).all(axis=1)
    keep = ~(outside | invalid)
    rounding = int(((over > 0) & (over <= tol))[keep].sum())
    clipped = int(((over > tol).any(axis=1) & keep).sum())
    edges = np.clip(np.nan_to_num(edges), 0, 1)
    return convert_boxes(edges, "xyxy", "cxcywh"), keep, \
        [rounding, clipped, int((outside | invalid).sum())]


LINE_CHUNK = 100_000  # boxes formatted at a time: 5 columns of Python numbers each


def _box_lines(classes, boxes, score) -> list[str]:
    """'c cx cy w h' (+ ' score' for predictions) per box, formatted in one pass."""
    fmt = "%d " + " ".join([DECIMALS] * 4) + "\n"
    lines: list[str] = []
    for start in range(0, len(classes), LINE_CHUNK):  # Python floats for a chunk at a time
        part = slice(start, start + LINE_CHUNK)
        columns = [classes[part].tolist(), *(boxes[part, c].tolist() for c in range(4))]
        lines += [fmt % t for t in zip(*columns)]
    scored = np.flatnonzero(~np.isnan(score))
    for j, s in zip(scored.tolist(), score[scored].tolist()):
        lines[j] = lines[j][:-1] + " " + DECIMALS % s + "\n"
    return lines


def _polygon_lines(lines, anns, classes, boxes, width, height, score, notes) -> None:
    """Polygon lines for annotations with polygons; boxes sharing a file become rectangles."""
    seg = anns["segmentation"].tolist()
    has = np.fromiter((isinstance(s, list) and len(s) > 0 for s in seg), bool, len(seg))
    if not has.any():
        return
    clipped = 0
    for j in np.flatnonzero(has):
        points = _join_parts([np.asarray(p, float).reshape(-1, 2) for p in seg[j]])
        norm = points / [width[j], height[j]]
        clipped += int(((norm < -1e-9) | (norm > 1 + 1e-9)).sum())
        text = " ".join(DECIMALS % v for v in np.clip(norm, 0, 1).ravel().tolist())
        tail = "" if np.isnan(score[j]) else " " + DECIMALS % score[j]
        lines[j] = f"{classes[j]} {text}{tail}\n"
    # Ultralytics reads a file with any polygon line as all polygons: boxes become rectangles
    position = anns["position"].to_numpy()
    mixed = ~has & np.isin(position, position[has])
    for j in np.flatnonzero(mixed):
        cx, cy, w, h = boxes[j].tolist()
        x0, y0, x1, y1 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
        corners = " ".join(DECIMALS % v for v in (x0, y0, x1, y0, x1, y1, x0, y1))
        tail = "" if np.isnan(score[j]) else " " + DECIMALS % score[j]
        lines[j] = f"{classes[j]} {corners}{tail}\n"
    if mixed.any():
        notes.append(f"{int(mixed.sum())} boxes without a polygon, in label files with "
                     "polygons, were written as rectangle polygons")
    if clipped:
        notes.append(f"{clipped} polygon coordinates outside their image were clipped to it")


def _join_parts(parts: list[np.ndarray]) -> np.ndarray:
    """One polygon from several: each part is visited from its nearest point and back.

    The bridges are traversed twice, so they add no area (Ultralytics merges the same way).
    """
    parts = [p for p in parts if len(p)]
    joined = parts[0]
    for part in parts[1:]:
        d = ((joined[:, None, :] - part[None, :, :]) ** 2).sum(axis=2)
        i, j = np.unravel_index(np.argmin(d), d.shape)
        joined = np.concatenate([joined[:i + 1], np.roll(part, -j, axis=0), part[j:j + 1],
                                 joined[i:]])
    return joined


def _pose_lines(lines, anns, classes, boxes, width, height, kpt) -> None:
    """'c cx cy w h' + k keypoints (x y [v]) for annotations that hold k keypoints."""
    k, d = kpt
    for j, points in enumerate(anns["keypoints"].tolist()):
        if not isinstance(points, (list, tuple, np.ndarray)) or len(points) != 3 * k:
            continue
        p = np.asarray(points, float).reshape(k, 3)
        xy = np.stack([p[:, 0] / width[j], p[:, 1] / height[j]], axis=1)
        values = [" ".join(DECIMALS % v for v in pt[:2]) + (f" {int(v)}" if d == 3 else "")
                  for pt, v in zip(xy.tolist(), p[:, 2].tolist())]
        lines[j] = lines[j][:-1] + " " + " ".join(values) + "\n"


# .. files ...............................................................................

FILE_CHUNK = 20_000  # label files whose lines are made at a time


def _write_label_files(out: Path, imgs: pd.DataFrame, lines, starts, ends) -> None:
    """One file per image (empty when it has no objects), sliced from the lines (a list or
    ``_BoxLines``), whose text is taken FILE_CHUNK images at a time."""
    labels = imgs["label_out"].tolist()  # relative: joined to ``out`` one at a time
    for folder in sorted({os.path.dirname(p) for p in labels}):
        os.makedirs(os.path.join(out, folder), exist_ok=True)
    for label, text in track(_label_texts(labels, lines, starts.tolist(), ends.tolist()),
                             "writing YOLO labels", total=len(imgs)):
        with open(os.path.join(out, label), "w", encoding="utf-8", newline="\n") as f:
            f.write(text)


def _label_texts(labels: list[str], lines, starts: list[int], ends: list[int]):
    """(label file, its text) for every image, in order."""
    for c0 in range(0, len(labels), FILE_CHUNK):
        c1 = min(c0 + FILE_CHUNK, len(labels))
        first = starts[c0]  # the rows of these images are contiguous: sorted by image
        part = lines[first:ends[c1 - 1]]
        for k in range(c0, c1):
            yield labels[k], "".join(part[starts[k] - first:ends[k] - first])


def _place(ds: Dataset, imgs: pd.DataFrame, out: Path, mode: str) -> list[str]:
    if mode == "none":
        return []
    known = imgs["source"].notna()
    notes = [] if known.all() else [
        f"{int((~known).sum())} images have no known location (no image root): not {mode}ed"]
    destinations = imgs.loc[known, "image_out"].map(lambda p: str(out / p))
    return notes + place_images(imgs.loc[known, "source"], destinations, mode)


def _write_data_yaml(out: Path, imgs: pd.DataFrame, cats: pd.DataFrame, yolo_meta: dict,
                     notes: list[str]) -> None:
    """data.yaml without ``path``: Ultralytics then resolves splits from the yaml's folder
    (``path: .`` would mean the current directory). It always has ``train`` and ``val``."""
    doc = _split_keys(list(imgs["split"].dropna().unique()), notes)
    for folder in {v for v in doc.values() if isinstance(v, str)}:  # even when empty
        os.makedirs(out / folder, exist_ok=True)
        os.makedirs(out / os.path.dirname(label_path(folder + "/x.jpg")), exist_ok=True)
    doc["nc"] = len(cats)
    doc["names"] = {i: str(name) for i, name in enumerate(cats["name"])}
    doc["annokit_category_ids"] = [int(i) for i in cats["id"]]
    doc.update({k: v for k, v in yolo_meta.items() if k not in OWN_KEYS | NOT_YAML})
    os.makedirs(out, exist_ok=True)
    with open(out / "data.yaml", "w", encoding="utf-8") as f:
        yaml.dump(doc, f, Dumper=_YamlDumper, sort_keys=False, allow_unicode=True,
                  default_flow_style=False)


def _split_keys(splits: list[str], notes: list[str]) -> dict:
    """The split keys of data.yaml: each split under its own name, plus ``train`` and
    ``val`` (Ultralytics needs both) naming another split's images when the data has no
    such split; those repeats are listed in ``annokit_aliases`` so they read back once.

    Example:
        >>> _split_keys(["train", "test"], [])
        {'train': 'images/train', 'test': 'images/test', 'val': 'images/train', \
'annokit_aliases': ['val']}
    """
    if not splits:  # both name the one set, which reads back without a split
        return {"train": "images", "val": "images", "annokit_aliases": ["train", "val"]}
    ordered = [s for s in SPLIT_KEYS if s in splits] + sorted(set(splits) - set(SPLIT_KEYS))
    doc: dict = {s: f"images/{s}" for s in ordered}
    aliases = []
    for key, fallback in (("train", "val"), ("val", "train")):
        if key not in doc:
            source = fallback if fallback in doc else ordered[0]
            doc[key] = doc[source]
            aliases.append(key)
            notes.append(f"no '{key}' split: data.yaml's {key} names the '{source}' images "
                         "(Ultralytics needs train and val)")
    extra = [s for s in ordered if s not in SPLIT_KEYS]
    if extra:
        doc["annokit_splits"] = extra
    if aliases:
        doc["annokit_aliases"] = aliases
    return doc


class _YamlDumper(yaml.SafeDumper):
    """Safe YAML with lists on one line ([1, 3, 90]) and mappings one key per line."""


_YamlDumper.add_representer(list, lambda dumper, data: dumper.represent_sequence(
    "tag:yaml.org,2002:seq", data, flow_style=True))


def _lost_notes(ds: Dataset, yolo_meta: dict) -> list[str]:
    """What YOLO has no place for: crowd flags, supercategories, pass-through attributes."""
    notes = []
    anns = ds.annotations
    crowds = int((anns["iscrowd"] == 1).sum())
    if crowds:
        notes.append(f"{crowds} crowd flags (iscrowd) dropped: written as ordinary objects")
    if ds.categories["supercategory"].notna().any():
        notes.append("supercategories dropped (YOLO has class names only)")
    written = {"keypoints"} if "kpt_shape" in yolo_meta else set()
    extra = [c for c in anns.columns
             if c not in ANNOTATION_SCHEMA and c not in written and anns[c].notna().any()]
    if extra:
        notes.append(f"annotation attributes dropped (YOLO holds none): {', '.join(extra)}")
    image_extra = [c for c in ds.images.columns
                   if c not in IMAGE_SCHEMA and ds.images[c].notna().any()]
    if image_extra:
        notes.append(f"image attributes dropped (YOLO holds none): {', '.join(image_extra)}")
    return notes
