"""Detection -> classification by cropping: one image per box, in class folders.

``out/<split>/<class>/<stem>_<annotation id><ext>`` (``out/<class>/...`` without splits):
the name says which source image and which annotation each crop comes from, and the
crop keeps its source's file type. Boxes are in stored-pixel coordinates, so the stored
pixels are cropped (EXIF orientation is not applied, and the crop carries none).

Example:
    >>> import annokit
    >>> from annokit.crops import write_crops
    >>> ds = annokit.read("../shared/datasets/bccd/BCCD", "voc")            # doctest: +SKIP
    >>> crops = write_crops(ds, "out/cells", padding=0.1, min_size=4,
    ...                     problems=annokit.Problems())                     # doctest: +SKIP
    >>> crops.images[["file_name", "source_annotation_id"]].iloc[0].tolist()  # doctest: +SKIP
    ['WBC/BloodImage_00000_1.jpg', 1]
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from .errors import AnnokitError, FormatError, Problems
from .fileio import open_image, safe_relative
from .formats.layout import class_folders, split_folders
from .formats.target import make_class_folders, note_empty_classes
from .notes import LayerNotes, Notes
from .model import Dataset
from .progress import track

EDGE = 1e-6  # float noise in box edges must not add a row or column of pixels
SAVE_AS = {"MPO": "JPEG"}  # phone JPEGs open as MPO; their crops are plain JPEGs
# crops are small and often upscaled for training: keep full colour resolution (4:4:4)
JPEG_OPTIONS = {"quality": 95, "subsampling": 0}
CHUNK = 16  # images per thread-pool task: fewer futures, still fine-grained


@dataclass
class _Crops:
    """What is cropped: the boxes, each box's image row (``pos``) in ``imgs``, each crop's
    name (``<split>/<class>/<stem>_<id><ext>``) and each image's split folder prefix."""

    boxes: pd.DataFrame
    pos: np.ndarray
    imgs: pd.DataFrame
    names: np.ndarray
    prefixes: np.ndarray


def write_crops(ds: Dataset, out: str | os.PathLike, *, padding: float = 0.0,
                min_size: float = 1, problems: Problems, workers: int | None = None
                ) -> Dataset:
    """Crop every box of ``ds`` into its own image under ``out``; return the crops.

    ``padding`` widens each side by that fraction of the box's width (left, right) or
    height (top, bottom); the crop is then clipped to the image and rounded outwards to
    whole pixels. Boxes narrower or shorter than ``min_size`` pixels are not cropped (a
    note counts them). A missing or undecodable image is skipped through ``problems``.
    Each image is decoded once; images are cropped on ``workers`` threads.

    The result is a classification Dataset: one image per crop (``file_name`` relative to
    the split folder, its size, ``split``), with ``source_image_id``,
    ``source_annotation_id`` and ``source_file_name``, and one ``'label'`` annotation each
    (the box's class and score). Its ``notes`` (source "crops") say what was not cropped.
    It writes into ``out`` directly; ``annokit.write(ds, out, "imagefolder", crops=True)``
    does the same atomically.

    Example:
        >>> crops = write_crops(ds, "out/crops", padding=0.1,
        ...                     problems=Problems())  # doctest: +SKIP
        >>> crops.notes.of(source="crops").texts()    # doctest: +SKIP
        ['2 boxes smaller than 1 px not cropped']
    """
    if not np.isfinite(padding) or padding < 0:
        raise AnnokitError(f"crop padding must be a fraction >= 0 of the box size, not {padding}")
    if not np.isfinite(min_size) or min_size < 0:
        raise AnnokitError(f"crop minimum size must be >= 0 pixels, not {min_size}")
    out = Path(out)
    notes = LayerNotes("crops")
    boxes, pos = _boxes(ds, min_size, notes)
    imgs = ds.images.reset_index(drop=True)
    folders = class_folders(ds.categories, notes)
    prefixes = split_folders(imgs["split"], notes)
    names = _crop_names(boxes, imgs, pos, folders, prefixes)
    crops = _Crops(boxes, pos, imgs, names, prefixes)
    out.mkdir(parents=True, exist_ok=True)
    make_class_folders(out, names)  # only where a crop goes: ImageFolder refuses empty ones
    sizes = _crop_all(crops, ds.image_paths().reset_index(drop=True), out, padding, problems,
                      workers or min(8, os.cpu_count() or 1))
    outside = int((sizes[:, 0] == 0).sum())
    if outside:
        notes.say(f"{outside} boxes lie outside their image: not cropped")
    used = _remove_empty_folders(out, names, sizes[:, 0] > 0)
    note_empty_classes(list(folders.values()), sorted(set(prefixes.tolist())), used, notes)
    return _result(ds, crops, sizes, out, notes)


def _boxes(ds: Dataset, min_size: float, notes: LayerNotes
           ) -> tuple[pd.DataFrame, np.ndarray]:
    """The boxes that can be cropped, and each one's image row; notes for the others."""
    anns = ds.annotations
    kinds = anns["kind"].to_numpy(object)
    for kind in ("point", "label"):
        count = int((kinds == kind).sum())
        if count:
            notes.say(f"crops are cut from boxes: {count} '{kind}' annotations ignored")
    pos = pd.Index(ds.images["id"]).get_indexer(anns["image_id"])
    known = (pos >= 0) & anns["category_id"].isin(ds.categories["id"]).to_numpy()
    is_box = kinds == "box"
    lost = int((is_box & ~known).sum())
    if lost:
        notes.say(f"{lost} boxes name an unknown image or category: not cropped")
    xywh = anns[["x", "y", "w", "h"]].to_numpy(np.float64)
    finite = np.isfinite(xywh).all(axis=1)
    bad = int((is_box & known & ~finite).sum())
    if bad:
        notes.say(f"{bad} boxes without finite coordinates: not cropped")
    ok = is_box & known & finite
    small = ok & ((xywh[:, 2] < min_size) | (xywh[:, 3] < min_size))
    if small.any():
        notes.say(f"{int(small.sum())} boxes smaller than {min_size:g} px not cropped")
    keep = ok & ~small
    return anns[keep].reset_index(drop=True), pos[keep]


def _crop_names(boxes: pd.DataFrame, imgs: pd.DataFrame, pos: np.ndarray,
                folders: dict[int, str], prefixes: np.ndarray) -> np.ndarray:
    """``<split>/<class>/<stem>_<annotation id><ext>`` per box; ``-2``... where ids repeat."""
    stems, exts = zip(*map(_stem_ext, imgs["file_name"].tolist())) if len(imgs) else ((), ())
    stems, exts = np.array(stems, dtype=object)[pos], np.array(exts, dtype=object)[pos]
    heads = np.array([f"{p}{folders[c]}/{s}_{a}" for p, c, s, a in zip(
        prefixes[pos], boxes["category_id"].tolist(), stems, boxes["id"].tolist())],
        dtype=object)
    ids = boxes["id"]
    if ids.duplicated().any():  # unique annotation ids make unique names; else number them
        repeat = pd.Series(heads).groupby(heads).cumcount().to_numpy()
        again = np.flatnonzero(repeat)
        heads[again] = [f"{heads[i]}-{repeat[i] + 1}" for i in again]
    return heads + exts


def _stem_ext(file_name) -> tuple[str, str]:
    base = str(file_name).replace("\\", "/").rsplit("/", 1)[-1]
    stem, ext = os.path.splitext(base)
    return (stem or "image"), (ext or ".png")


def _remove_empty_folders(out: Path, names: np.ndarray, cropped: np.ndarray) -> set[str]:
    """Remove class folders whose every crop failed; return the ``<split>/<class>`` kept."""
    folders = np.array([n.rsplit("/", 1)[0] if "/" in n else "" for n in names], dtype=object)
    kept = set(folders[cropped].tolist())
    for folder in set(folders.tolist()) - kept:
        try:
            (out / folder).rmdir()
        except OSError:  # not empty after all (a file was there before): leave it
            pass
    return kept


def _crop_all(crops: _Crops, paths: pd.Series, out: Path, padding: float, problems: Problems,
              workers: int) -> np.ndarray:
    """Crop every box, one task per image; (width, height) per crop, (-1, -1) if failed."""
    boxes, pos, imgs, names = crops.boxes, crops.pos, crops.imgs, crops.names
    x, y, w, h = (boxes[c].to_numpy(np.float64) for c in ("x", "y", "w", "h"))
    # padded and rounded outwards to whole pixels; clipped to the image in the worker
    edges = np.stack([np.floor(x - padding * w + EDGE), np.floor(y - padding * h + EDGE),
                      np.ceil(x + w + padding * w - EDGE), np.ceil(y + h + padding * h - EDGE)],
                     axis=1).astype(np.int64)
    order = np.argsort(pos, kind="stable")
    starts = np.flatnonzero(np.r_[True, pos[order][1:] != pos[order][:-1]])
    groups = np.split(order, starts[1:]) if len(pos) else []
    prefix = str(out) + os.sep
    files, ids = imgs["file_name"].tolist(), imgs["id"].tolist()
    image_paths: list[str | None] = paths.tolist()
    firsts = [int(pos[g[0]]) for g in groups]
    tasks = [(image_paths[i], edges[g], [prefix + n for n in names[g]])
             for i, g in zip(firsts, groups)]
    sizes = np.full((len(boxes), 2), -1, np.int64)
    chunks = [tasks[k:k + CHUNK] for k in range(0, len(tasks), CHUNK)]
    pool = ThreadPoolExecutor(max_workers=max(1, workers))
    try:
        results = (r for chunk in pool.map(_crop_images, chunks) for r in chunk)
        for g, i, (got, error) in track(zip(groups, firsts, results), "cropping boxes",
                                        total=len(groups)):
            if error and image_paths[i] is None and not safe_relative(files[i]):
                error = "file name leaves the image folder: never read"
            if error:
                problems.skip(FormatError(image_paths[i] or str(files[i]), error,
                                          place=f"image id {ids[i]}",
                                          hint=f"{int((got[:, 0] < 0).sum())} boxes not "
                                          "cropped"))
            sizes[g] = got
    except BaseException:  # Ctrl-C or SIGTERM: never wait for a worker still reading
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return sizes


def _crop_images(tasks: list[tuple]) -> list[tuple[np.ndarray, str | None]]:
    return [_crop_image(task) for task in tasks]


def _crop_image(task: tuple[str | None, np.ndarray, list[str]]) -> tuple[np.ndarray, str | None]:
    """Decode one image, cut and save each of its boxes; ((w, h) per box, error or None).

    Runs on a worker thread: Pillow releases the GIL while decoding and encoding.
    """
    path, edges, targets = task
    sizes = np.full((len(targets), 2), -1, np.int64)
    if path is None:
        return sizes, "image location unknown (no image root)"
    try:
        with open_image(path) as im:  # a FIFO or /dev/zero: refused, never read
            im.load()
            fmt = SAVE_AS.get(im.format or "", im.format)  # None: Pillow goes by the name
            width, height = im.size
            for k, (left, top, right, bottom) in enumerate(edges.tolist()):
                left, top = max(left, 0), max(top, 0)
                right, bottom = min(right, width), min(bottom, height)
                if right <= left or bottom <= top:
                    sizes[k] = 0  # outside the image: nothing to crop
                    continue
                crop = im.crop((left, top, right, bottom))
                options = JPEG_OPTIONS if fmt == "JPEG" else {}
                crop.save(targets[k], format=fmt, **options)
                sizes[k] = right - left, bottom - top
    except FormatError as e:
        return sizes, "image file not found" if e.reason == "no such image" else e.reason
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        return sizes, f"cannot crop image ({type(e).__name__}: {e})"
    return sizes, None


def _result(ds: Dataset, crops: _Crops, sizes: np.ndarray, out: Path,
            notes: LayerNotes) -> Dataset:
    """The crops as a classification Dataset (one image and one label per crop)."""
    boxes, pos, imgs, names = crops.boxes, crops.pos, crops.imgs, crops.names
    done = sizes[:, 0] > 0
    n = int(done.sum())
    ids = np.arange(1, n + 1, dtype=np.int64)
    split_prefix = crops.prefixes[pos[done]]
    # the split folder each crop went to ("train/" for images without a split among others)
    split = np.array([p[:-1] or None for p in split_prefix], dtype=object)
    file_names = [name[len(p):] for name, p in zip(names[done], split_prefix)]
    images = pd.DataFrame({
        "id": ids, "file_name": file_names, "width": sizes[done, 0], "height": sizes[done, 1],
        "split": split,
        "source_image_id": imgs["id"].to_numpy()[pos[done]],
        "source_annotation_id": boxes["id"].to_numpy()[done],
        "source_file_name": imgs["file_name"].astype(object).to_numpy()[pos[done]]})
    anns = pd.DataFrame({"image_id": ids, "category_id": boxes["category_id"].to_numpy()[done],
                         "kind": "label", "score": boxes["score"].to_numpy()[done]})
    roots = {s: str(out / s) for s in set(split) if s is not None}
    said = Notes([*ds.notes, *notes])  # the input's notes stay; the crops' follow
    meta = {"image_root": str(out), "split_roots": roots,
            "crops": {"boxes": len(boxes), "written": n}, "notes": said}
    return Dataset(ds.categories.copy(), images, anns, meta)
