"""The one internal annotation model: three DataFrames and a dict.

``categories``  id, name, supercategory
``images``      id, file_name, width, height (nullable ints), split, + pass-through columns
``annotations`` id, image_id, category_id, kind ('box' | 'point' | 'label'), x, y, w, h
                (float64, absolute pixels, COCO's continuous convention), iscrowd,
                segmentation (polygons, RLE or None), score (NaN for ground truth),
                + pass-through columns (VOC ``difficult``, COCO extras, ...)
``meta``        a :class:`Meta`: the keys are declared there, each with what it holds
                (where the images are, what the reader skipped, what a format carries
                that is not an annotation, what split/rebalance/crops did).

Ids are kept as the source wrote them (formats without ids number from 1); writers
renumber annotation ids only where the target forbids them (0 or repeated in COCO).

Everything downstream works on whole columns; nothing here holds a Python object per box
except the (rare) segmentation.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict

import numpy as np
import pandas as pd

from .errors import AnnokitError
from .fileio import confined
from .notes import Notes

KINDS = ("box", "point", "label")


class Meta(TypedDict, total=False):
    """The keys ``Dataset.meta`` may hold: every one a reader, writer or command uses.

    A new key is declared here first (mypy and tests/test_model.py hold the code to this
    list), so the next reader of the code finds what each means in one place.
    """

    # what was read
    source_format: str            # the format name ('coco', 'voc', ...)
    source_path: str              # the file or folder read, absolute (FiftyOne protects it)
    notes: Notes                  # what every layer said: records skipped ("file:place: why")
    #                               and notes, each with its source (annokit.notes)
    split_overlaps: Any           # images the source listed in two splits
    # where the images are
    image_root: str | None        # the folder ``file_name`` is relative to
    split_roots: dict[str, str]   # split -> its image folder, where splits live apart
    image_files: dict[int, str]   # image id -> absolute path: images gathered from several
    #                               roots (a merge), never resolved against image_root
    image_folders: list[str]      # every folder images came from: no writer replaces them
    # what a format carries that is not an annotation (the writer of the same format
    # gives it back; each format's module documents its own dict)
    coco: dict[str, Any]          # info, licenses, the other top-level keys, per-file parts
    voc: dict[str, Any]           # per-file <folder>, <source>, <segmented>, ImageSets lists
    yolo: dict[str, Any]          # data.yaml keys, the task, Darknet obj.data
    csv: dict[str, Any]           # the layout and delimiter read
    # what a command did to this dataset
    split_info: dict[str, Any]    # ratios or folds, seed, groups (annokit split)
    rebalance_info: dict[str, Any]  # method, seed, counts before and after
    crops: dict[str, Any]         # boxes, crops written (detection -> crops)

# A missing cell of an object column is None. numpy takes this 0-d object array wherever it
# takes a bare None as a fill (``np.where(ok, names, NONE)``, ``np.append(names, NONE)[codes]``
# so that code -1 gives None), and numpy's type stubs accept it where they refuse None.
NONE = np.array(None, dtype=object)

# column -> dtype; the order is the order columns are kept in
CATEGORY_SCHEMA: dict[str, str | type] = {"id": "int64", "name": object, "supercategory": object}
IMAGE_SCHEMA: dict[str, str | type] = {"id": "int64", "file_name": object, "width": "Int64",
                                      "height": "Int64", "split": object}
ANNOTATION_SCHEMA: dict[str, str | type] = {
    "id": "int64", "image_id": "int64", "category_id": "int64", "kind": object, "x": "float64",
    "y": "float64", "w": "float64", "h": "float64", "iscrowd": "int64", "segmentation": object,
    "score": "float64"}
_DEFAULTS = {"supercategory": None, "split": None, "width": pd.NA, "height": pd.NA,
             "kind": "box", "iscrowd": 0, "segmentation": None, "score": np.nan,
             "x": np.nan, "y": np.nan, "w": np.nan, "h": np.nan}


def _conform(frame: pd.DataFrame | None, schema: dict, name: str) -> pd.DataFrame:
    """Give ``frame`` every core column of ``schema`` with its dtype, core columns first."""
    if frame is None:  # an empty table still has every core column
        frame = pd.DataFrame({col: [] for col in schema})
    frame = frame.reset_index(drop=True)
    out = {}
    for col, dtype in schema.items():
        if col in frame:
            values = frame[col]
        elif col == "id":
            values = pd.Series(np.arange(1, len(frame) + 1))
        elif col in _DEFAULTS:
            values = pd.Series([_DEFAULTS[col]] * len(frame), dtype=object)
        else:
            raise ValueError(f"{name} needs a '{col}' column")
        if dtype is object:
            values = _none_for_missing(values)
        elif dtype == "Int64":
            values = pd.to_numeric(values, errors="coerce").round().astype("Int64")
        else:
            values = values.astype(dtype)
        if dtype == "Int64":
            out[col] = values.array
        elif values.dtype == dtype:  # no copy: pandas 3 copies an ndarray given to Series
            out[col] = values.reset_index(drop=True)
        else:
            out[col] = pd.Series(values.to_numpy(), dtype=dtype)  # object: None, not NaN
    extras = [c for c in frame.columns if c not in schema]
    out.update((col, frame[col]) for col in extras)
    # no copy: a million-box table would be held twice; copy-on-write keeps the frame
    # given and this one apart
    return pd.DataFrame(out, index=pd.RangeIndex(len(frame)), copy=False)


def _none_for_missing(values: pd.Series) -> pd.Series:
    """``values`` as objects with None for every missing value; untouched (no copy of a
    million-row column) when it already is."""
    if values.dtype == object:
        missing = values.isna().to_numpy()
        if not missing.any() or (values.to_numpy()[missing] == None).all():  # noqa: E711
            return values
    return values.astype(object).where(values.notna(), None)


def surrogate_reason(text: str) -> str:
    r"""Why ``text``, holding an unpaired surrogate, is refused: the model's one rule.

    JSON's ``"\udc80"`` or YAML's ``"\udc80"`` reads as a lone surrogate, and a folder name
    that is not UTF-8 decodes to one; UTF-8, so every writer, report and terminal, cannot
    hold it. Escaping it would rename a class behind the user's back, so it is refused.

    Example:
        >>> print(surrogate_reason("cat" + chr(0xDC80)))  # doctest: +ELLIPSIS
        the name 'cat\udc80' holds an unpaired surrogate, ...; rename it
    """
    shown = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if len(shown) > 60:
        shown = shown[:60] + "..."
    return (f"the name '{shown}' holds an unpaired surrogate, which is not text any file "
            "can hold (a \\udc.. escape in JSON or YAML, or a folder name that is not "
            "UTF-8); rename it")


class UnpairedSurrogate(AnnokitError):
    """A category name no file can hold; ``reason`` without the place, for a reader to
    name its file (``annokit.formats.read`` does)."""

    def __init__(self, place: str, reason: str):
        self.reason = reason
        super().__init__(f"{place}: {reason}")


def _refuse_surrogates(categories: pd.DataFrame) -> None:
    for column in ("name", "supercategory"):
        bad = categories[column].map(_unencodable).to_numpy(bool)
        if bad.any():
            i, text = categories["id"][bad].iloc[0], categories[column][bad].iloc[0]
            raise UnpairedSurrogate(f"category id {i}: {column}", surrogate_reason(text))


def _unencodable(text) -> bool:
    if not isinstance(text, str):
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


@dataclass(repr=False, init=False)
class Dataset:
    """An image dataset: categories, images and annotations as DataFrames, plus meta.

    Example:
        >>> import pandas as pd
        >>> ds = Dataset(
        ...     categories=pd.DataFrame({"id": [1], "name": ["cat"]}),
        ...     images=pd.DataFrame({"id": [1], "file_name": ["a.jpg"],
        ...                          "width": [640], "height": [480]}),
        ...     annotations=pd.DataFrame({"image_id": [1], "category_id": [1],
        ...                               "x": [10.0], "y": [20.0], "w": [30.0], "h": [40.0]}))
        >>> ds
        Dataset(images=1, annotations=1 (box 1), categories=1 [cat])
        >>> len(ds)
        1
    """

    categories: pd.DataFrame
    images: pd.DataFrame
    annotations: pd.DataFrame
    meta: Meta

    def __init__(self, categories: pd.DataFrame | None = None,
                 images: pd.DataFrame | None = None,
                 annotations: pd.DataFrame | None = None, meta: Meta | dict | None = None) -> None:
        # a table may be None or lack columns: each field holds the conformed DataFrame
        self.categories = _conform(categories, CATEGORY_SCHEMA, "categories")
        _refuse_surrogates(self.categories)
        self.images = _conform(images, IMAGE_SCHEMA, "images")
        self.annotations = _conform(annotations, ANNOTATION_SCHEMA, "annotations")
        # a reader may hand a plain dict: its keys are checked where they are written
        self.meta = Meta() if meta is None else meta  # type: ignore[assignment]

    # -- looking at it -------------------------------------------------------
    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        kinds = self.annotations["kind"].value_counts()
        kinds_text = ", ".join(f"{k} {n}" for k, n in kinds.items())
        names = list(self.categories["name"][:8])
        more = ", ..." if len(self.categories) > 8 else ""
        text = (f"Dataset(images={len(self.images)}, annotations={len(self.annotations)}"
                + (f" ({kinds_text})" if kinds_text else "")
                + f", categories={len(self.categories)} [{', '.join(map(str, names))}{more}]")
        splits = self.images["split"].value_counts()
        if len(splits):
            text += ", splits=" + "/".join(f"{s} {n}" for s, n in splits.items())
        skipped = self._skipped()
        return text + (f", skipped={skipped}" if skipped else "") + ")"

    def summary(self) -> pd.DataFrame:
        """Per category: annotations, images holding it, and annotations per split.

        Example:
            >>> ds.summary()  # doctest: +SKIP
                     id  annotations  images  train  val
            name
            cat       1           12       9      10    2
        """
        from .stats import class_counts

        table = class_counts(self).rename(columns={"category_id": "id",
                                                   "instances": "annotations"})
        return table.set_index("name")

    def summary_line(self) -> str:
        """One line for logs: images, annotations, categories, skipped records."""
        skipped = self._skipped()
        line = (f"{len(self.images)} images, {len(self.annotations)} annotations, "
                f"{len(self.categories)} categories")
        return line + (f", {skipped} skipped" if skipped else "")

    def _skipped(self) -> int:
        """Records left out, counted without making ``meta['notes']`` (a repr changes
        nothing)."""
        return sum(n.kind == "skipped" for n in self.meta.get("notes") or ())

    @property
    def notes(self) -> Notes:
        """What every layer said about this dataset (``meta['notes']``, made when absent):
        append to it, never replace it, so the notes of earlier layers stay.

        Example:
            >>> ds = Dataset()
            >>> ds.notes.add("split", "no group column: images split one by one")
            >>> ds.notes.texts()
            ['no group column: images split one by one']
        """
        notes = self.meta.get("notes")
        if not isinstance(notes, Notes):  # absent, or a plain list from a stored meta
            notes = self.meta["notes"] = Notes(notes or ())
        return notes

    # -- where the images are -------------------------------------------------
    def image_paths(self) -> pd.Series:
        """Absolute path of every image (index aligned with ``images``), or None where unknown.

        Images live under ``meta['image_root']``; a split may have its own folder in
        ``meta['split_roots']``. A file name that leaves its folder (``../``, absolute)
        gets None: such files are never read (``annokit.fileio.confined``).
        """
        root = self.meta.get("image_root")
        split_roots = self.meta.get("split_roots") or {}
        splits = self.images["split"].tolist() if split_roots else [None] * len(self.images)
        confined_paths = [confined(split_roots.get(split, root) if isinstance(split, str)
                                   else root, name)
                          for split, name in zip(splits, self.images["file_name"].tolist())]
        paths = pd.Series(confined_paths, index=self.images.index, dtype=object)
        files = self.meta.get("image_files")  # image id -> path (or None): images that
        if files:                             # came from other roots (annokit.edit.merge)
            ids = self.images["id"]
            given = ids.isin(list(files)).to_numpy()
            found = ids[given].map(files)
            paths[given] = found.astype(object).where(found.notna(), None).to_numpy(object)
        return paths

    def copy(self) -> "Dataset":
        import copy

        return Dataset(self.categories.copy(), self.images.copy(), self.annotations.copy(),
                       copy.deepcopy(self.meta))
