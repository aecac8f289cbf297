"""Classification folders: ``root/<class>/<image>`` or ``root/<split>/<class>/<image>``.

The layout torchvision's ``ImageFolder`` and Ultralytics' classification datasets use.
Split folders are ``train``, ``val``, ``valid``, ``validation`` and ``test``. Each class
folder's images are found at any depth below it (as torchvision does); images directly in
the root (or in a split folder) are images without a label.

In the Dataset, a class folder is an image-level annotation of kind ``'label'``;
``file_name`` is relative to the split folder (``cat/x.jpg``), which
``meta["split_roots"]`` names; without splits it is relative to the root
(``meta["image_root"]``).

Writing: single-label images go into their class folder; images with several classes
cannot, and are left out with a note (use ``crops=True`` for one image per box, or CSV
for multi-label); detection data is first turned into image-level labels.

Example:
    >>> import annokit
    >>> from annokit.formats import imagefolder
    >>> ds = imagefolder.read(Path("data/digits"), problems=Problems())     # doctest: +SKIP
    >>> ds.categories["name"].tolist()                                      # doctest: +SKIP
    ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import FormatError, Problems
from ..fileio import place_images, safe_relative
from ..labels import to_image_labels
from ..model import Dataset
from .layout import (IMAGE_DIRS, IMAGE_EXTS, SPLIT_NAMES, class_folders, header_sizes,
                     is_image, split_folders, subdirs)
from .target import WriteNotes, make_class_folders, note_empty_classes

# what another format keeps beside or instead of class folders: such a folder is not ours
FOREIGN_DIRS = {"annotations", "labels", "imagesets", "jpegimages"}
FOREIGN_FILES = {".json", ".xml", ".yaml", ".yml", ".txt", ".csv", ".data", ".names"}
DETECT_DIRS = 64  # class folders looked at by detect()
DETECT_ENTRIES = 500  # entries looked at in each


# -- detect ------------------------------------------------------------------------------

def detect(path: Path) -> bool:
    """True for a folder of class folders of images (optionally under split folders).

    Refuses folders holding another format's files: annotation files (``.json``,
    ``.xml``, ``.yaml``, ``.txt``, ``.csv``) at the root or beside the images, or an
    ``annotations/``, ``labels/``, ``ImageSets/`` or ``JPEGImages/`` folder. Looks at
    names only, and at most a few thousand of them. An ``images/`` folder beside another
    format's files, and a folder of split folders without class folders (YOLO's
    ``images/train``), are not claimed either.

    Example:
        >>> detect(Path("../shared/datasets/sign_language_digits/Dataset"))  # doctest: +SKIP
        True
    """
    path = Path(path)
    try:
        if not path.is_dir() or _foreign(path, root=True):
            return False
        if path.name.lower() in IMAGE_DIRS and _foreign(path.parent, root=True):
            return False  # the image folder of a COCO, VOC or YOLO dataset
        splits = _split_dirs(path)
        if not splits and all(d.name.lower() in SPLIT_NAMES for d in subdirs(path)):
            return False  # images/train, images/val: split folders of another format
        parts = splits or {None: path}
        classes = [d for folder in parts.values() for d in subdirs(folder)]
        if any(d.name.lower() in FOREIGN_DIRS for d in classes):
            return False
        found = False
        for folder in classes[:DETECT_DIRS]:
            if _foreign(folder, root=False):
                return False
            found = found or _has_image(folder)
        return found
    except OSError:
        return False


def _foreign(folder: Path, root: bool) -> bool:
    """Does ``folder`` hold another format's annotation files (or folders, at the root)?"""
    with os.scandir(folder) as entries:
        for n, entry in enumerate(entries):
            if n >= DETECT_ENTRIES:
                break
            name = entry.name.lower()
            if entry.is_dir():
                if root and name in FOREIGN_DIRS:
                    return True
            elif os.path.splitext(name)[1] in FOREIGN_FILES and not _is_readme(name):
                return True
    return False


def _is_readme(name: str) -> bool:
    return name.startswith(("readme", "license", "licence"))


def _has_image(folder: Path) -> bool:
    with os.scandir(folder) as entries:
        for n, entry in enumerate(entries):
            if n >= DETECT_ENTRIES:
                return False
            if is_image(entry.name) and entry.is_file():
                return True
    return False


def _split_dirs(root: Path) -> dict[str | None, Path] | None:
    """{split: folder} when every sub-folder is a split name and some hold class folders.

    A flat dataset whose classes happen to be called ``train`` or ``test`` keeps its
    images directly in those folders, so it is not mistaken for splits.
    """
    dirs = subdirs(root)
    if dirs and all(d.name.lower() in SPLIT_NAMES for d in dirs) and \
            any(subdirs(d) for d in dirs):
        return {d.name: d for d in dirs}
    return None


# -- read --------------------------------------------------------------------------------

def read(path: Path, *, problems: Problems) -> Dataset:
    """Read a folder of class folders (with or without split folders).

    Categories are the class folder names, sorted (ids 1..K, torchvision's order; a class
    folder without images is still a category). Images get ids 1..N in path order, their
    size from the file header; one whose header cannot be read is skipped through
    ``problems``. Each image in a class folder gets one ``'label'`` annotation.

    Example:
        >>> ds = read(Path("out/digits"), problems=Problems())   # doctest: +SKIP
        >>> ds.images[["file_name", "split"]].iloc[0].tolist()   # doctest: +SKIP
        ['0/IMG_1118.JPG', 'train']
    """
    root = Path(os.path.abspath(path))
    if not root.is_dir():
        raise FormatError(root, "not a folder", hint="an image folder dataset is a folder "
                          "of class folders: root/<class>/<image>")
    splits = _split_dirs(root)
    parts = splits or {None: root}
    rows: list[tuple] = []
    classes: set[str] = set()
    for split, folder in parts.items():
        rows += _images_in(folder, split)
        classes.update(d.name for d in subdirs(folder))
    if not rows:
        raise FormatError(root, f"no images found (looked for {', '.join(sorted(IMAGE_EXTS))})",
                          hint="an image folder dataset is root/<class>/<image> or "
                          "root/<split>/<class>/<image>")
    table = pd.DataFrame(rows, columns=["order", "split", "file_name", "label", "path"])
    table = table.sort_values(["order", "file_name"], kind="stable").reset_index(drop=True)
    widths, heights, keep = header_sizes(table["path"].tolist(), problems)
    table = table.assign(width=widths, height=heights)[keep].reset_index(drop=True)
    names = sorted(classes)
    ids = np.arange(1, len(table) + 1, dtype=np.int64)
    images = pd.DataFrame({"id": ids, "file_name": table["file_name"],
                           "width": table["width"], "height": table["height"],
                           "split": table["split"]})
    labelled = table["label"].notna().to_numpy()
    cat_id = {name: k for k, name in enumerate(names, start=1)}
    anns = pd.DataFrame({"image_id": ids[labelled],
                         "category_id": table["label"][labelled].map(cat_id).to_numpy(np.int64),
                         "kind": "label"})
    categories = pd.DataFrame({"id": np.arange(1, len(names) + 1), "name": names,
                               "supercategory": None})
    meta = {"image_root": str(root),
            "split_roots": {s: str(f) for s, f in splits.items()} if splits else {}}
    return Dataset(categories, images, anns, meta)


def _images_in(folder: Path, split: str | None
               ) -> list[tuple[int, str | None, str, str | None, str]]:
    """(split order, split, file_name, class or None, path) of every image under ``folder``."""
    order = SPLIT_NAMES.index(split.lower()) if split else 0
    rows: list[tuple[int, str | None, str, str | None, str]] = []
    with os.scandir(folder) as listing:
        entries = sorted(listing, key=lambda e: e.name)
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            for dirpath, dirnames, filenames in os.walk(entry.path):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                rel = os.path.relpath(dirpath, folder).replace(os.sep, "/")
                rows += [(order, split, f"{rel}/{f}", entry.name, os.path.join(dirpath, f))
                         for f in filenames if is_image(f)]
        elif is_image(entry.name):
            rows.append((order, split, entry.name, None, entry.path))
    return rows



# -- write -------------------------------------------------------------------------------

def write(ds: Dataset, out: Path, *, images: str, problems: Problems, single_file: bool,
          crops: bool = False, crop_padding: float = 0.0, crop_min_size: float = 1
          ) -> WriteNotes:
    """Write ``ds`` as class folders at ``out``; return notes on what could not be held.

    ``out/<class>/<image>``, or ``out/<split>/<class>/<image>`` when the dataset has
    splits. A class with no image (in a split) gets no folder there, with a note:
    torchvision's ``ImageFolder`` refuses empty class folders (tools that number classes
    by sorted folder name then number them per split). Images without a label go
    directly into ``out`` (or the split folder), where training tools ignore them.
    Images with several classes are left out with a note. ``images`` is 'copy' or 'link'
    ('none' writes the folders only). With ``crops=True`` every box becomes its own image
    instead (see :func:`annokit.crops.write_crops`).

    Example:
        >>> notes = write(ds, Path("out/cls"), images="link", problems=Problems(),
        ...               single_file=False)  # doctest: +SKIP
    """
    out = Path(out)
    notes = WriteNotes()
    if crops:
        from ..crops import write_crops

        made = write_crops(ds, out, padding=crop_padding, min_size=crop_min_size,
                           problems=problems)
        for note in made.notes.of(source="crops"):  # what the crops said, as this write's
            notes.say(note.text, note.kind)
        notes.wrote(images=len(made.images), annotations=len(made.annotations),
                    categories=made.annotations["category_id"].nunique())
        return notes
    imgs = ds.images.reset_index(drop=True)
    label, count = _single_labels(ds, imgs, notes)
    folders = class_folders(ds.categories, notes)
    prefixes = split_folders(imgs["split"], notes)
    rel, keep = _destinations(imgs, label, count, folders, prefixes, problems)
    out.mkdir(parents=True, exist_ok=True)
    labelled = keep & (count == 1)
    make_class_folders(out, rel[labelled])
    used = {f"{p}{folders[c]}" for p, c in zip(prefixes[labelled], label[labelled].tolist())}
    note_empty_classes(list(folders.values()), sorted(set(prefixes.tolist())), used, notes)
    notes.wrote(images=int(keep.sum()), annotations=int(labelled.sum()),
                categories=len(set(label[labelled].tolist())))
    if images == "none":
        notes.say("--images none: only the class folders were written (an image folder "
                  "dataset is its images; use --images link or copy)")
        return notes
    sources = ds.image_paths().reset_index(drop=True)[keep]
    unknown = int(sources.isna().sum())
    if unknown:
        notes.say(f"{unknown} images have no known location (no image root): not placed")
    targets = pd.Series([str(out / r) for r in rel[keep]], index=sources.index)
    notes.say_all(place_images(sources, targets, images))
    return notes


def _single_labels(ds: Dataset, imgs: pd.DataFrame, notes: WriteNotes
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Each image's category id and how many classes it has (0, 1, or more: left out)."""
    anns = ds.annotations
    kinds = anns["kind"].to_numpy(object)
    if (kinds != "label").any():
        counts = pd.Series(kinds[kinds != "label"]).value_counts()
        what = ", ".join(f"{n} '{k}'" for k, n in counts.items())
        notes.say(f"image folders hold image-level labels: {what} annotations turned into "
                  "one label per class present in each image")
        anns = to_image_labels(ds).annotations
    known = anns["category_id"].isin(ds.categories["id"]).to_numpy()
    pos = pd.Index(imgs["id"]).get_indexer(anns["image_id"])
    lost = int((~known | (pos < 0)).sum())
    if lost:
        notes.say(f"{lost} labels name an unknown image or category: dropped")
    pairs = pd.DataFrame({"pos": pos, "cat": anns["category_id"].to_numpy()})[known & (pos >= 0)]
    pairs = pairs.drop_duplicates()
    label = np.zeros(len(imgs), np.int64)  # any id, 0 included: ``count`` says which hold one
    label[pairs["pos"].to_numpy()] = pairs["cat"].to_numpy()
    count = np.bincount(pairs["pos"].to_numpy(), minlength=len(imgs))
    several = np.flatnonzero(count > 1)
    if len(several):
        shown = ", ".join(str(imgs["file_name"].iat[i]) for i in several[:3])
        notes.say(f"an image folder holds one class per image: {len(several)} images with "
                  f"several classes left out (e.g. {shown}); use --crops for one image "
                  "per box, or csv for multi-label data")
    return label, count


def _destinations(imgs: pd.DataFrame, label: np.ndarray, count: np.ndarray,
                  folders: dict[int, str], prefixes: np.ndarray, problems: Problems
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Each image's path under the output, and whether it is written.

    A labelled image keeps its relative path under its class folder, less a leading class
    folder (``cat/x.jpg`` labelled dog goes to ``dog/x.jpg``); an unlabelled one keeps
    its base name, directly in the split folder.
    """
    names = imgs["file_name"].astype(object).tolist()
    folder_set = set(folders.values())
    rel = np.empty(len(names), dtype=object)
    keep = count <= 1
    for i, (name, cat, n, prefix) in enumerate(zip(names, label.tolist(), count.tolist(),
                                                   prefixes)):
        if not keep[i]:
            continue
        if not isinstance(name, str) or not safe_relative(name):
            problems.skip(FormatError(str(name), "file name escapes the image root (or is "
                                      "empty); image not written",
                                      place=f"image id {imgs['id'].iat[i]}"))
            keep[i] = False
            continue
        parts = name.replace("\\", "/").split("/")
        if n == 0:
            tail = parts[-1]
        else:
            tail = "/".join(parts[1:] if len(parts) > 1 and parts[0] in folder_set else parts)
            tail = f"{folders[cat]}/{tail}"
        rel[i] = prefix + tail
    again = pd.Series(rel).duplicated().to_numpy() & keep
    for i in np.flatnonzero(again).tolist():
        problems.skip(FormatError(rel[i], "another image goes to this path; not written",
                                  place=f"image id {imgs['id'].iat[i]}"))
        keep[i] = False
    return rel, keep
