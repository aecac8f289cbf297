"""YOLO writing: the Ultralytics layout (images/<split>/, labels/<split>/, data.yaml),
label lines made over whole columns, a chunk of files at a time.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ...errors import AnnokitError, FormatError, Problems
from ...fileio import place_images, safe_relative
from ...geometry import convert_boxes, normalize
from ...imagesize import image_size
from ...model import ANNOTATION_SCHEMA, IMAGE_SCHEMA, Dataset
from ...progress import track
from ..layout import safe_split_names, unknown_sizes
from ..target import NORMALISED, WriteNotes, dropped_note, zero_size_note
from .discover import OWN_KEYS, SPLIT_KEYS, _kpt_shape, _label_of, label_path


NOT_YAML = {"task", "darknet"}  # meta["yolo"] entries of ours, never written to data.yaml
DECIMALS = NORMALISED  # Ultralytics' precision: round trips within 5e-7 of the image size
RENAMED_SPLITS = {"valid": "val"}  # Roboflow's name for the split Ultralytics calls val


# -- write -------------------------------------------------------------------------------

def write(ds: Dataset, out: Path, *, images: str, problems: Problems, single_file: bool,
          yolo_task: str | None = None) -> WriteNotes:
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
    notes = WriteNotes()
    imgs = _plan_images(ds, problems, notes, images != "none")
    cats = ds.categories.sort_values("id", kind="stable").reset_index(drop=True)
    anns = _writable_annotations(ds, imgs, cats, task, notes)
    lines, starts, ends = _format_lines(anns, imgs, cats, task, yolo_meta, notes)
    _write_label_files(out, imgs, lines, starts, ends)
    _place(imgs, out, images, notes)
    _write_data_yaml(out, imgs, cats, yolo_meta, notes)
    _note_lost(ds, yolo_meta, notes)
    notes.wrote(images=len(imgs), annotations=len(lines), categories=len(cats))
    return notes


# .. which images, where .................................................................

def _plan_images(ds: Dataset, problems: Problems, notes: WriteNotes, placed: bool
                 ) -> pd.DataFrame:
    """Images that can be written, with their size, split folder and output paths (and
    where each image is, when ``placed`` or a size must come from its header)."""
    imgs = ds.images[["id", "file_name", "width", "height", "split"]].copy()
    unknown = unknown_sizes(imgs["width"], imgs["height"])
    imgs["source"] = ds.image_paths() if placed or unknown.any() else None
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


def _split_folders(split: pd.Series, notes: WriteNotes) -> pd.Series:
    """Split names as folder names; images without one join 'train' when others have one.

    Roboflow's ``valid`` becomes ``val`` (Ultralytics' key), unless both are present.
    """
    present = set(split.dropna().unique())
    renamed = {a: b for a, b in RENAMED_SPLITS.items() if a in present and b not in present}
    if renamed:
        split = split.replace(renamed)
        notes.say("split " + ", ".join(f"'{a}' written as '{b}'" for a, b in renamed.items())
                  + " (the key Ultralytics reads)")
    named = split.notna()
    if named.any() and not named.all():
        notes.say(f"{int((~named).sum())} images without a split were written to the "
                  "train split (YOLO keeps every image under a split when any has one)")
        split = split.where(named, "train")
    return safe_split_names(split, notes)


def _known_sizes(imgs: pd.DataFrame, problems: Problems, notes: WriteNotes) -> pd.DataFrame:
    """Fill unknown sizes from the image headers; leave out images where that fails."""
    unknown = unknown_sizes(imgs["width"], imgs["height"])  # missing, 0 or absurd
    if not unknown.any():
        return imgs
    imgs = imgs.copy()
    left_out = []
    for i, source in zip(imgs.index[unknown], imgs.loc[unknown, "source"]):
        try:
            if source is None:
                # a str already: names that are not were left out before (``safe``)
                raise FormatError(str(imgs.at[i, "file_name"]), "image not found")
            imgs.loc[i, ["width", "height"]] = image_size(source)
        except FormatError as e:
            image_id: object = imgs.at[i, "id"]
            problems.skip(FormatError(e.file, f"size unknown and {e.reason}",
                                      place=f"image id {image_id}",
                                      hint="YOLO needs it to normalise; image not written"))
            left_out.append(i)
    if left_out:
        notes.say(f"{len(left_out)} images of unknown size were left out with their labels")
    return imgs.drop(index=left_out)


# .. what goes on each line ..............................................................

WRITTEN_COLUMNS = ("image_id", "category_id", "kind", "x", "y", "w", "h", "score",
                   "segmentation", "keypoints")  # what the label lines are made from


def _writable_annotations(ds: Dataset, imgs: pd.DataFrame, cats: pd.DataFrame, task: str,
                          notes: WriteNotes) -> pd.DataFrame:
    """Box annotations of the written images with a known category, in image order."""
    anns = ds.annotations
    notes.say(dropped_note(anns["kind"], "yolo"))
    keep = (anns["kind"] == "box").to_numpy(copy=True)
    unknown = keep & ~anns["category_id"].isin(cats["id"]).to_numpy()
    if unknown.any():
        notes.say(f"{int(unknown.sum())} annotations with an unknown category id dropped")
    keep = keep & ~unknown
    missing = keep & ~anns["image_id"].isin(ds.images["id"]).to_numpy()
    if missing.any():
        notes.say(f"{int(missing.sum())} annotations point to no image: dropped")
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
            notes.say(f"{int(rle.sum())} RLE masks written as boxes "
                      "(YOLO segment holds polygons)")
    else:
        polygons = np.fromiter((isinstance(s, list) and len(s) > 0
                                for s in anns["segmentation"].tolist()),
                               bool, len(anns))
        if polygons.any():
            notes.say(f"{int(polygons.sum())} polygons not written: detect writes boxes "
                      "(use yolo_task='segment' / --yolo-task segment to keep them)")
    notes.say(zero_size_note(anns, imgs, "yolo"))
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
        notes.say(f"{rounding} box edges up to half a pixel outside their image "
                  "(rounding) were clipped to [0, 1]")
    if clipped:
        notes.say(f"{clipped} boxes extending outside their image were clipped to it "
                  "(YOLO cannot hold them)")
    if dropped:
        notes.say(f"{dropped} boxes outside their image or without "
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
        notes.say(f"{int(mixed.sum())} boxes without a polygon, in label files with "
                  "polygons, were written as rectangle polygons")
    if clipped:
        notes.say(f"{clipped} polygon coordinates outside their image were clipped to it")


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


def _place(imgs: pd.DataFrame, out: Path, mode: str, notes: WriteNotes) -> None:
    """Copy or link the images to their ``image_out`` under ``out``."""
    if mode == "none":
        return
    known = imgs["source"].notna()
    if not known.all():
        notes.say(f"{int((~known).sum())} images have no known location (no image root): "
                  f"not {mode}ed")
    destinations = imgs.loc[known, "image_out"].map(lambda p: str(out / p))
    notes.say_all(place_images(imgs.loc[known, "source"], destinations, mode))


def _write_data_yaml(out: Path, imgs: pd.DataFrame, cats: pd.DataFrame, yolo_meta: dict,
                     notes: WriteNotes) -> None:
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


def _split_keys(splits: list[str], notes: WriteNotes) -> dict:
    """The split keys of data.yaml: each split under its own name, plus ``train`` and
    ``val`` (Ultralytics needs both) naming another split's images when the data has no
    such split; those repeats are listed in ``annokit_aliases`` so they read back once.

    Example:
        >>> _split_keys(["train", "test"], WriteNotes())
        {'train': 'images/train', 'test': 'images/test', 'val': 'images/train', \
'annokit_aliases': ['val']}
        >>> keys = _split_keys(["a", "b"], WriteNotes())
        >>> {k: v for k, v in keys.items() if k in ("train", "val")}
        {'train': 'images/a', 'val': 'images/b'}
    """
    if not splits:  # both name the one set, which reads back without a split
        return {"train": "images", "val": "images", "annokit_aliases": ["train", "val"]}
    ordered = [s for s in SPLIT_KEYS if s in splits] + sorted(set(splits) - set(SPLIT_KEYS))
    doc: dict = {s: f"images/{s}" for s in ordered}
    aliases: list[str] = []
    for key, fallback in (("train", "val"), ("val", "train")):
        if key not in doc:  # the other of the pair, else a split neither names yet
            named = {doc[k] for k in aliases}
            free = [s for s in ordered if doc[s] not in named] or ordered
            source = fallback if fallback in splits else free[0]
            doc[key] = doc[source]
            aliases.append(key)
            notes.say(f"no '{key}' split: data.yaml's {key} names the '{source}' images "
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


def _note_lost(ds: Dataset, yolo_meta: dict, notes: WriteNotes) -> None:
    """Say what YOLO has no place for: crowd flags, supercategories, pass-through
    attributes."""
    anns = ds.annotations
    crowds = int((anns["iscrowd"] == 1).sum())
    if crowds:
        notes.say(f"{crowds} crowd flags (iscrowd) dropped: written as ordinary objects")
    if ds.categories["supercategory"].notna().any():
        notes.say("supercategories dropped (YOLO has class names only)")
    written = {"keypoints"} if "kpt_shape" in yolo_meta else set()
    extra = [c for c in anns.columns
             if c not in ANNOTATION_SCHEMA and c not in written and anns[c].notna().any()]
    if extra:
        notes.say(f"annotation attributes dropped (YOLO holds none): {', '.join(extra)}")
    image_extra = [c for c in ds.images.columns
                   if c not in IMAGE_SCHEMA and ds.images[c].notna().any()]
    if image_extra:
        notes.say(f"image attributes dropped (YOLO holds none): {', '.join(image_extra)}")
