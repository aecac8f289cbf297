"""COCO: which files and folders are COCO, and where each file's images are."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ...errors import AnnokitError, FormatError
from ...fileio import open_regular
from ..layout import existing_dir, image_dirs, pick_root, sibling_image_dirs

ROBOFLOW_FILE = "_annotations.coco.json"
ROOT_FILE = "annotations.json"
TASK_PREFIXES = ("instances_", "person_keypoints_", "image_info_", "labels_", "captions_",
                 "stuff_", "panoptic_")  # COCO and Datumaro task names, not part of the split
_PEEK_BYTES = 1 << 20


# -- detect ------------------------------------------------------------------------------

def detect(path: Path) -> bool:
    """True for a COCO ``.json`` (or results list), or a folder in a COCO layout.

    Only the first MiB of a file is read, so detecting a huge file is cheap.

    Example:
        >>> detect(Path("fixtures/coco/basic/annotations.json"))  # doctest: +SKIP
        True
    """
    path = Path(path)
    if path.is_file():
        return path.suffix.lower() == ".json" and _looks_like_coco(path)
    if not path.is_dir():
        return False
    if any(_looks_like_coco(f) for f in _annotation_files(path / "annotations")):
        return True
    for name in (ROOT_FILE, ROBOFLOW_FILE):
        if (path / name).is_file() and _looks_like_coco(path / name):
            return True
    return bool(_roboflow_splits(path))


def _looks_like_coco(file: Path) -> bool:
    try:
        with open_regular(file) as f:  # a FIFO or device named *.json: not COCO, no hang
            head = f.read(_PEEK_BYTES).lstrip(b"\xef\xbb\xbf \t\r\n")
    except (OSError, AnnokitError):
        return False
    if head.startswith(b"["):  # a results list: empty, or records with image ids
        return head[1:].lstrip().startswith(b"]") or b'"image_id"' in head
    return head.startswith(b"{") and (b'"images"' in head or b'"annotations"' in head)


def _annotation_files(folder: Path) -> list[Path]:
    """The split files of an ``annotations/`` folder: ``instances_*`` when there are any."""
    if not folder.is_dir():
        return []
    files = sorted(f for f in folder.glob("*.json") if f.is_file())
    instances = [f for f in files if f.stem.startswith("instances_")]
    return instances or files


def _roboflow_splits(folder: Path) -> list[Path]:
    return sorted(d for d in folder.iterdir() if (d / ROBOFLOW_FILE).is_file())



def _sources(path: Path, image_root: Path | None) -> list[tuple[Path, str | None, list[Path]]]:
    """(json file, split, candidate image folders) for every file the layout at ``path`` has."""
    if path.is_file():
        return [(path, None, _file_roots(path, image_root))]
    files = _annotation_files(path / "annotations")
    if files:
        return [(f, _split_name(f), _split_roots(path, _split_name(f), image_root))
                for f in files]
    for name in (ROOT_FILE, ROBOFLOW_FILE):
        if (path / name).is_file():
            return [(path / name, None, _file_roots(path / name, image_root))]
    splits = _roboflow_splits(path)
    if splits:
        return [(d / ROBOFLOW_FILE, d.name,
                 [image_root, image_root / d.name] if image_root else [d]) for d in splits]
    raise FormatError(path, "no COCO annotation file found",
                      hint=f"expected annotations/*.json, {ROOT_FILE}, {ROBOFLOW_FILE} "
                           f"or <split>/{ROBOFLOW_FILE}")


def _split_name(file: Path) -> str:
    stem = file.stem
    for prefix in TASK_PREFIXES:
        if stem.startswith(prefix) and len(stem) > len(prefix):
            return stem[len(prefix):]
    return stem


def _file_roots(file: Path, image_root: Path | None) -> list[Path]:
    """Where one file's images may be: beside it, in an image folder inside or beside its
    folder (``annots/`` + ``images/``), COCO's ``annotations/`` + ``val2017/``."""
    if image_root is not None:
        return [image_root]
    here = file.parent
    roots = [*image_dirs(here), here]
    if here.name.lower() == "annotations":
        split = _split_name(file)
        roots += [here.parent / "images" / split, here.parent / split]
    return roots + sibling_image_dirs(here) + [here.parent]


def _split_roots(root: Path, split: str, image_root: Path | None) -> list[Path]:
    """A split file's image folder; ``image_root`` as given first, then its ``<split>/``."""
    if image_root is not None:
        return [image_root, image_root / split]
    return [root / "images" / split, root / "images", root / split]


def _pick_root(candidates: list[Path], file_names: list[Any]) -> Path | None:
    """The candidate holding the first named images, else the first that exists."""
    return pick_root(candidates, file_names) or existing_dir(candidates)
