"""YOLO discovery: which layout a path is (data.yaml, obj.data, a bare folder), the
class names, the images of each split and each image's label file (Ultralytics' rule).
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ...errors import AnnokitError, FormatError, Problems
from ...fileio import load_yaml, open_regular
from ..layout import SPLIT_NAMES, scan_images, subdirs



SPLIT_KEYS = ("train", "val", "test", "minival")  # the data.yaml keys Ultralytics reads
NAMES_FILES = ("obj.names", "classes.txt")
# data.yaml keys that read() turns into the model and write() writes from it
OWN_KEYS = {"path", "names", "nc", "annokit_category_ids", "annokit_splits",
            "annokit_aliases", *SPLIT_KEYS}
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
    sources = []
    seen: dict[Path, tuple[list, list]] = {}  # what each folder or list gave
    for key in keys:
        items = doc[key] if isinstance(doc[key], list) else [doc[key]]
        images: list[tuple] = []  # (path, origin)
        roots: list[Path | str] = []
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
    sources = []
    seen: dict[Path, tuple[list, list]] = {}  # what each folder or list gave
    for key in ("train", "valid", "test"):
        if not keys.get(key):
            continue
        found = _locate(keys[key], bases)
        if found is None:
            problems.skip(FormatError(file, f"{key}: {keys[key]} not found", place=f"key {key}"))
            continue
        images: list[tuple] = []  # (path, origin)
        roots: list[Path | str] = []
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
    named = {d.name: d for d in subdirs(root)} if labels else {}
    splits: dict[str | None, Path] = {name: d for name, d in named.items()}
    if not named or not all(s.lower() in SPLIT_NAMES for s in named):
        splits = {None: root}
    label_base = labels or folder
    sources = []
    for split, where in splits.items():
        paths = scan_images(where)
        images: list[tuple[str, None] | tuple[str, None, str]]
        if image_root:  # labels stay in the given folder, at the images' relative paths
            images = [(p, None, os.path.splitext(os.path.join(label_base,
                                                              os.path.relpath(p, root)))[0]
                       + ".txt") for p in paths]
        else:
            images = [(p, None) for p in paths]
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
    rows, seen = [], set()
    label_dirs: dict[str, str] = {}  # image folder -> its label folder
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
