"""What every format shares about files on disk: image files, image folders, sizes, names.

One policy each, used by every reader and writer:

- **Image files**: :data:`IMAGE_EXTS`, compared case-insensitively (``.JPG`` is an image);
  hidden files (``.x.jpg``) are not images.
- **Image folders**: where the images of an annotation file or folder are looked for.
  :func:`pick_root` takes the first candidate holding one of the first named images;
  candidates come from :func:`image_dirs` (``images/``, ``JPEGImages/``, ``jpg/``...) inside
  a root or beside an annotation folder (``annots/`` + ``images/``). A folder the user
  names (``--image-root``) is used as given.
- **Sizes**: a width or height that is unknown (NA, or 0 and below) is read from the
  image header (:func:`annokit.imagesize.image_size`), never by decoding pixels; an image
  whose header cannot be read keeps NA (the image checks say why).
- **Split and folder names** (:func:`safe_split_names`, :func:`class_folders`): a name
  written as a file or folder name keeps letters, digits, ``_``, ``-`` and ``.``; any
  other run of characters becomes one ``_`` (``val/2024`` -> ``val_2024``), leading and
  trailing dots go, an empty name becomes ``default``. Every writer applies it the same
  way and says in a note which names changed. Two different splits that end up with the
  same name (also when they differ only in case, for case-insensitive file systems) are
  refused: merging them silently would mix two splits.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import numpy as np
from numpy.typing import ArrayLike
import pandas as pd

from ..errors import AnnokitError, FormatError, Problems
from ..fileio import safe_relative
from ..imagesize import image_size
from ..notes import LayerNotes
from ..progress import track

if TYPE_CHECKING:
    from ..model import Dataset

# What Ultralytics, torchvision and Pillow open; compared in lower case.
IMAGE_EXTS = frozenset({".bmp", ".dng", ".gif", ".heic", ".jpeg", ".jpg", ".jpe", ".mpo",
                        ".pbm", ".pfm", ".pgm", ".png", ".ppm", ".tif", ".tiff", ".webp"})
# Names of image folders, most common first (compared in lower case).
IMAGE_DIRS = ("images", "jpegimages", "imgs", "img", "image", "jpg", "jpeg", "png",
              "pngimages", "pictures", "photos")
# Split folder names that readers recognise, in the order splits are listed.
SPLIT_NAMES = ("train", "val", "valid", "validation", "test")
PROBES = 3  # named images tried when looking for the image folder
MAX_SIDE = 1_000_000  # px: a width or height above this is garbage, not a size (read the
#                      header); one cap for every format (COCO's reader reports it too)
_UNSAFE = re.compile(r"[^\w.\-]+")


# -- image files and folders -------------------------------------------------------------

def is_image(name: str) -> bool:
    """True when the file ``name`` has an image extension (any case) and is not hidden.

    Example:
        >>> is_image("IMG_1.JPG"), is_image("a.txt"), is_image(".a.jpg")
        (True, False, False)
    """
    base = os.path.basename(name)
    return os.path.splitext(base)[1].lower() in IMAGE_EXTS and not base.startswith(".")


def scan_images(folder: str | os.PathLike[str]) -> list[str]:
    """Paths of the image files below ``folder``, at any depth, sorted; hidden folders skipped.

    Example:
        >>> scan_images("fixtures/yolo/ultralytics/images")  # doctest: +SKIP
        ['fixtures/yolo/ultralytics/images/train/a.png', ...]
    """
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [os.path.join(dirpath, f) for f in sorted(filenames) if is_image(f)]
    return found


def image_index(folder: str | os.PathLike[str]) -> dict[str, str]:
    """{stem: file name} for every image below ``folder`` (relative, forward slashes).

    The first file wins when two share a stem (``a.jpg`` and ``a.png``).

    Example:
        >>> image_index("fixtures/voc/root/JPEGImages")  # doctest: +SKIP
        {'a': 'a.jpg', 'sub/b': 'sub/b.png'}
    """
    out: dict[str, str] = {}
    cut = len(os.path.join(folder, ""))
    for path in scan_images(folder):
        rel = path[cut:].replace(os.sep, "/")
        out.setdefault(os.path.splitext(rel)[0], rel)
    return out


def subdirs(folder: str | os.PathLike[str]) -> list[Path]:
    """Visible sub-folders of ``folder`` sorted by name; [] when it cannot be listed."""
    try:
        with os.scandir(folder) as entries:
            return sorted((Path(e.path) for e in entries
                           if not e.name.startswith(".") and e.is_dir()), key=lambda p: p.name)
    except OSError:
        return []


def image_dirs(folder: str | os.PathLike, exclude: Iterable[str | os.PathLike] = ()
               ) -> list[Path]:
    """Sub-folders of ``folder`` named like image folders (:data:`IMAGE_DIRS`), most
    common name first; ``exclude`` leaves some out (the annotation folder itself).

    Example:
        >>> image_dirs("raccoon")  # doctest: +SKIP
        [PosixPath('raccoon/images')]
    """
    skip = {os.path.abspath(p) for p in exclude}
    found = {p.name.lower(): p for p in subdirs(folder) if os.path.abspath(p) not in skip}
    return [found[n] for n in IMAGE_DIRS if n in found]


def sibling_image_dirs(folder: str | os.PathLike) -> list[Path]:
    """Image folders beside ``folder`` (``annots/`` -> ``images/``, ``xml/`` -> ``jpg/``).

    Example:
        >>> sibling_image_dirs("raccoon/annotations")  # doctest: +SKIP
        [PosixPath('raccoon/images')]
    """
    folder = Path(os.path.abspath(folder))
    return image_dirs(folder.parent, exclude=[folder])


def pick_root(candidates: Iterable[str | os.PathLike], file_names: Iterable) -> Path | None:
    """The first candidate folder holding one of the first few named images, else None.

    Example:
        >>> pick_root(["data/images", "data"], ["a.jpg", "b.jpg"])  # doctest: +SKIP
        PosixPath('/abs/data/images')
    """
    probes = []
    for name in file_names:
        if safe_relative(name):  # never probe outside the candidate folder
            probes.append(name)
            if len(probes) == PROBES:
                break
    for folder in candidates:
        folder = Path(folder)
        if folder.is_dir() and any(_is_file(folder / f) for f in probes):
            return Path(os.path.abspath(folder))
    return None


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name too long for the file system: not there
        return False


def existing_dir(candidates: Iterable[str | os.PathLike]) -> Path | None:
    """The first candidate that is a folder (absolute), else None."""
    for folder in candidates:
        if os.path.isdir(folder):
            return Path(os.path.abspath(folder))
    return None


# -- image sizes -------------------------------------------------------------------------

def header_sizes(paths: list, problems: Problems | None = None, hint: str = "image left out"
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(widths, heights, found) of every image path from its header; NaN where unknown.

    A path of None is unknown. With ``problems``, an unreadable header is reported there
    (``hint`` says what happens to the image); without, it only stays unknown.

    Example:
        >>> header_sizes(["fixtures/images/red_64x48.png", None])  # doctest: +SKIP
        (array([64., nan]), array([48., nan]), array([ True, False]))
    """
    n = len(paths)
    widths, heights = np.full(n, np.nan), np.full(n, np.nan)
    found = np.zeros(n, bool)
    for i in track(range(n), "reading image sizes", total=n):
        if not paths[i]:
            continue
        try:
            widths[i], heights[i] = image_size(paths[i])
            found[i] = True
        except FormatError as e:
            if problems is not None:
                problems.skip(FormatError(e.file, e.reason, e.place, hint=hint))
    return widths, heights, found


def unknown_sizes(width: ArrayLike, height: ArrayLike) -> np.ndarray:
    """Mask of sizes that are unknown: missing, not a number, 0 and below, or absurd
    (above :data:`MAX_SIDE`, infinity)."""
    w = pd.to_numeric(pd.Series(np.asarray(width, dtype=object)), errors="coerce")
    h = pd.to_numeric(pd.Series(np.asarray(height, dtype=object)), errors="coerce")
    known = (w > 0) & (h > 0) & (w <= MAX_SIDE) & (h <= MAX_SIDE)
    return ~known.to_numpy(dtype=bool)


def fill_unknown_sizes(ds: Dataset) -> None:
    """Set each image's unknown width/height (NA, or 0 and below) from its file's header.

    Readers call this on the Dataset they build; images that are missing or unreadable
    keep NA (the image checks report them).

    Example:
        >>> fill_unknown_sizes(ds)  # doctest: +SKIP
    """
    images = ds.images
    unknown = unknown_sizes(images["width"], images["height"])
    if not unknown.any():
        return
    paths = ds.image_paths()[unknown].tolist()
    widths, heights, _ = header_sizes(paths)
    rows = np.flatnonzero(unknown)
    for side, values in (("width", widths), ("height", heights)):
        column = images[side].astype("Float64").copy()
        column.iloc[rows] = values
        images[side] = column.where(column > 0).round().astype("Int64")


# -- names written as files and folders ---------------------------------------------------

def safe_name(name: object) -> str:
    """``name`` as one file or folder name: see the module's policy.

    Example:
        >>> safe_name("val/2024"), safe_name("..") , safe_name("train")
        ('val_2024', 'default', 'train')
    """
    return _UNSAFE.sub("_", str(name)).strip(".") or "default"


def safe_split_names(splits: pd.Series, notes: LayerNotes | None = None) -> pd.Series:
    """Each split as a safe file or folder name (None stays None); a note names changes.

    Raises ``AnnokitError`` when two different splits would get the same name.

    Example:
        >>> safe_split_names(pd.Series(["train", "val/2024", None])).tolist()
        ['train', 'val_2024', None]
    """
    splits = splits.astype(object).where(splits.notna(), None)
    names = [s for s in pd.unique(splits) if s is not None]
    safe = {s: safe_name(s) for s in names}
    by_folded: dict[str, object] = {}
    for split, name in safe.items():
        other = by_folded.setdefault(name.lower(), split)
        if other != split:
            raise AnnokitError(f"splits {other!r} and {split!r} would both be written as "
                               f"'{name}' (file names keep letters, digits, _ - and .); "
                               "rename one of them")
    changed = [f"{s!r} -> '{n}'" for s, n in safe.items() if n != s]
    if changed and notes is not None:
        notes.say("split names made into file names: " + _first(changed))
    return pd.Series([None if s is None else safe[s] for s in splits.tolist()],
                     index=splits.index, dtype=object)


def split_folders(splits: pd.Series, notes: LayerNotes | None = None) -> np.ndarray:
    """Each image's split folder prefix (``'train/'``), or ``''`` when nothing has a split.

    When only some images have a split, the others go to ``train/`` (with a note). Split
    names pass :func:`safe_split_names`; names other than train, val, valid, validation
    and test are written with a note that they will not read back as splits.

    Example:
        >>> split_folders(pd.Series(["train", "val", None])).tolist()
        ['train/', 'val/', 'train/']
    """
    safe = safe_split_names(splits, notes)
    values = safe.tolist()
    if all(v is None for v in values):
        return np.array([""] * len(values), dtype=object)
    missing = sum(v is None for v in values)
    if missing and notes is not None:
        notes.say(f"{missing} images without a split written under train/")
    odd = sorted({v for v in values if v is not None and v.lower() not in SPLIT_NAMES})
    if odd and notes is not None:
        notes.say(f"split folders {', '.join(odd)} are not train/val/test: annokit, "
                  "torchvision and Ultralytics will read them as classes")
    return np.array([f"{v}/" if v is not None else "train/" for v in values], dtype=object)


def class_folders(categories: pd.DataFrame, notes: LayerNotes | None = None
                  ) -> dict[int, str]:
    """{category id: folder name}: the name, made safe as one visible folder name.

    ``/``, ``\\`` and NUL become ``_``, a leading dot becomes ``_``, and a name that clashes
    with another after that (ignoring case) gets ``_<id>``; ``notes`` says which changed.
    Class names keep spaces and other characters that folders can hold: they are what
    torchvision and Ultralytics show as the class name.

    Example:
        >>> class_folders(pd.DataFrame({"id": [1, 2], "name": ["cat", "a/b"]}))
        {1: 'cat', 2: 'a_b'}
    """
    folders, changed = {}, []
    taken: set[str] = set()
    for cid, name in zip(categories["id"].tolist(), categories["name"].tolist()):
        folder = re.sub(r"[/\\\x00]", "_", str(name)).strip()
        folder = re.sub(r"^\.", "_", folder) or "_"
        if folder.lower() in taken:  # clashes on case-insensitive filesystems too
            folder = f"{folder}_{cid}"
        taken.add(folder.lower())
        folders[cid] = folder
        if folder != name:
            changed.append(f"{name!r} -> {folder!r}")
    if changed and notes is not None:
        notes.say("class names made into folder names: " + _first(changed))
    return folders


def _first(items: list[str], n: int = 5) -> str:
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")
