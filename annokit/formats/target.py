"""Output-side policy shared by every writer: what a target can hold, coordinate text, notes.

One place decides (1) which annotation kinds each target format holds, so that a write
that would keep none of them is refused before anything is written, (2) how coordinates
are written as text, so that every reader parses them as plain numbers, (3) which class
folders a folder-per-class target makes (none empty: torchvision refuses them), and (4)
what a writer reports back (:class:`WriteNotes`): its notes on what the target could not
hold and the counts of what it wrote (the CLI's summary line counts what was written,
not what was read).
``layout.py`` beside it holds the read side's policy.

Example:
    >>> coordinate_text([12.0, 45.70000076293945, -0.0000075, 1e-7, 3.14159265])
    ['12', '45.7', '0', '0', '3.1416']
    >>> holds("voc")
    ('box',)
"""
from __future__ import annotations

import operator
import os
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from ..errors import AnnokitError
from ..model import Dataset
from ..notes import LayerNotes, Note

# annotation kinds each target holds; imagefolder turns boxes and points into labels
HOLDS = {
    "coco": ("box", "point"),            # a point is an annotation with one keypoint
    "voc": ("box",),
    "yolo": ("box",),
    "imagefolder": ("label", "box", "point"),
    "csv": ("box", "point", "label"),    # one kind per table (the layout)
    "parquet": ("box", "point", "label"),  # the model's own tables
}
# the kinds each holds as they are: the formats a refusal suggests
# (parquet holds every kind; a refusal names the interchange formats, not annokit's store)
AS_THEY_ARE = {**{k: v for k, v in HOLDS.items() if k != "parquet"},
               "imagefolder": ("label",)}
NAMES = {"coco": "COCO", "voc": "VOC", "yolo": "YOLO", "imagefolder": "An image folder",
         "csv": "CSV", "parquet": "Parquet"}
WHOLE_TOLERANCE = 1e-6   # px: a coordinate this close to an integer is written as one
DECIMALS = 4             # px: places kept in absolute coordinates (VOC); 1e-4 px is plenty
NORMALISED = "%.6f"      # YOLO's normalised values: Ultralytics' own precision


def holds(format: str) -> tuple[str, ...]:
    """The annotation kinds ``format`` can write.

    Example:
        >>> holds("coco")
        ('box', 'point')
    """
    return HOLDS[format]


def refuse_unholdable(ds: Dataset, format: str) -> None:
    """Raise one line when ``format`` can hold none of the dataset's annotations.

    A dataset of points written as VOC would come out as images with no objects; the
    error names the formats that can hold them instead. A dataset with no annotations, or
    with some kind the target holds, passes (what is left out is a note).

    Example:
        >>> refuse_unholdable(points_dataset, "voc")  # doctest: +SKIP
        AnnokitError: voc cannot hold any of the 35 annotations (35 points): write csv or coco
    """
    kinds = ds.annotations["kind"].value_counts()
    if not len(kinds) or set(kinds.index) & set(HOLDS[format]):
        return
    able = [f for f, held in AS_THEY_ARE.items()
            if f != format and set(kinds.index) <= set(held)]
    what = ", ".join(f"{n} {_plural(str(k), n)}" for k, n in kinds.items())
    raise AnnokitError(f"{format} cannot hold any of the {int(kinds.sum())} annotations "
                       f"({what}): nothing written; write {' or '.join(sorted(able))} instead")


def dropped_note(kinds: pd.Series, format: str) -> str | None:
    """The note for annotations of kinds ``format`` has no place for, or None.

    ``kinds`` is the ``kind`` column of the annotations being written.

    Example:
        >>> dropped_note(pd.Series(["box", "point", "point"]), "voc")
        'VOC holds boxes only: 2 points dropped'
    """
    counts = kinds.value_counts()
    lost = counts[~counts.index.isin(HOLDS[format])]
    if not len(lost):
        return None
    held = " and ".join(_plural(k, 2) for k in HOLDS[format])
    what = " and ".join(f"{n} {_plural(str(k), n)}" for k, n in lost.items())
    return f"{NAMES[format]} holds {held} only: {what} dropped"


def zero_size_note(boxes: pd.DataFrame, images: pd.DataFrame, format: str) -> str | None:
    """The note for boxes written with zero (or negative) width or height, naming a few of
    their images, or None: trainers drop them or fail on them, so the user should know.

    Example:
        >>> zero_size_note(bccd.annotations, bccd.images, "yolo")  # doctest: +SKIP
        '2 boxes of zero width or height written to YOLO as they are (BloodImage_00338.jpg, ...'
    """
    w, h = boxes["w"].to_numpy(float), boxes["h"].to_numpy(float)
    empty = (w <= 0) | (h <= 0)  # NaN compares False: boxes without coordinates are apart
    if not empty.any():
        return None
    names = images.set_index("id")["file_name"]
    names = names[~names.index.duplicated()]
    files = sorted(set(names.reindex(boxes["image_id"][empty].unique()).dropna().astype(str)))
    return (f"{int(empty.sum())} {_plural('box', int(empty.sum()))} of zero width or height "
            f"written to {NAMES[format]} as they are ({_some(files)}): most trainers drop or "
            "reject them; annokit check lists them (geometry.zero_size)")


def stale_locations(ds: Dataset, format: str) -> tuple[list[str], str | None]:
    """Image columns that say where an image once was, not where it is, and their note.

    VOC's ``<path>`` is the annotator's own absolute path (``/Users/.../raccoon-1.jpg``);
    written into another format as ``path`` it reads as the image's location (FiftyOne
    and others take COCO's ``path`` as one). Only VOC keeps it, as the element it was.

    Example:
        >>> stale_locations(voc_dataset, "coco")  # doctest: +SKIP
        (['path'], "VOC's <path> (the annotator's own location of each image) not written: ...")
    """
    if format == "voc" or "voc" not in ds.meta or "path" not in ds.images:
        return [], None
    if not ds.images["path"].notna().any():
        return ["path"], None
    return ["path"], (f"VOC's <path> (where the annotator kept each image, e.g. "
                      f"{ds.images['path'].dropna().iloc[0]}) not written: it is not where "
                      "the images are; file_name is")


def _plural(kind: str, n: int) -> str:
    if n == 1:
        return kind
    return "boxes" if kind == "box" else f"{kind}s"


def coordinate_text(values: Iterable[float], decimals: int | None = DECIMALS,
                    low: np.ndarray | float | None = None,
                    high: np.ndarray | float | None = None) -> list[str]:
    """Numbers as text every reader parses: never scientific notation, never ``-0``.

    Values within ``WHOLE_TOLERANCE`` of an integer are written as that integer; others
    as plain decimals with at most ``decimals`` places (trailing zeros dropped). With
    ``decimals=None`` nothing is rounded: integers are exact ones, and other values the
    shortest decimal that reads back as the same float (values
    computed as ``x + w`` that sit an ulp or two off a short decimal are snapped to it).
    With ``low``/``high`` (the image edges), a value past an edge by less than half the
    last place is rounding noise and is written as the edge. NaN becomes ``''``.

    Example:
        >>> coordinate_text([640.0000004, -0.3, 2.5e-5], low=0, high=640)
        ['640', '-0.3', '0']
        >>> coordinate_text([10.1 + (45.7 - 10.1), 1e-7], decimals=None)
        ['45.7', '0.0000001']
    """
    v = np.array(values, dtype=np.float64, copy=True).reshape(-1)
    noise = 0.5 * 10.0 ** -(decimals if decimals is not None else 6)
    if low is not None:
        v = np.where((v < low) & (v >= np.asarray(low) - noise), low, v)
    if high is not None:
        v = np.where((v > high) & (v <= np.asarray(high) + noise), high, v)
    if decimals is not None:
        return _fixed(v, decimals)
    whole = (v == np.round(v)) & (np.abs(v) < 2**53)  # exact: keep every digit
    text = np.empty(len(v), dtype=object)
    text[whole] = list(map(str, v[whole].astype(np.int64).tolist()))
    rest = np.flatnonzero(~whole)
    if len(rest):
        text[rest] = _shortest(v[rest])
    return text.tolist()


@lru_cache(maxsize=4)
def _fractions(decimals: int) -> np.ndarray:
    """'.5', '.25', ... for every fraction of ``decimals`` places ('' for none)."""
    return np.array([""] + [f".{f:0{decimals}d}".rstrip("0") for f in range(1, 10**decimals)],
                    dtype=object)


def _fixed(values: np.ndarray, decimals: int) -> list[str]:
    """Whole units and a looked-up fraction, joined in C: no per-value formatting.

    Rounding to ``decimals`` places makes anything within half the last place of an
    integer that integer (so within ``WHOLE_TOLERANCE``); '-0' cannot occur.
    """
    finite = np.isfinite(values) & (np.abs(values) < 1e14)
    units = np.round(np.abs(np.where(finite, values, 0)) * 10**decimals).astype(np.int64)
    whole, fraction = np.divmod(units, 10**decimals)
    text = list(map(operator.add, map(str, whole.tolist()),
                    _fractions(decimals)[fraction].tolist()))
    for i in np.flatnonzero((values < 0) & (units > 0)).tolist():
        text[i] = "-" + text[i]
    for i in np.flatnonzero(~finite).tolist():
        text[i] = ("" if not np.isfinite(values[i])
                   else np.format_float_positional(values[i], trim="-"))
    return text


def _shortest(values: np.ndarray) -> list[str]:
    """The shortest decimal reading back as each value (or as its 12-digit neighbour).

    ``repr`` (in C) for most; only values it writes in scientific notation, or with 17
    digits (``x + w`` an ulp off a short decimal), take the slower path.
    """
    text = list(map(repr, values.tolist()))
    odd = [i for i, t in enumerate(text) if len(t) >= 17 or "e" in t or "n" in t]
    for i in odd:
        text[i] = _plain_decimal(float(values[i]))
    return text


def _plain_decimal(value: float) -> str:
    """``value`` without exponent, snapped to a decimal of 12 significant digits within
    2 ulp of it; '' for NaN and infinities."""
    if value != value or value in (np.inf, -np.inf):
        return ""
    places = int(np.clip(11 - np.floor(np.log10(abs(value))), 0, 300)) if value else 0
    short = round(value, places)
    if abs(short - value) <= 2 * np.spacing(abs(value)):
        value = short
    return np.format_float_positional(value, trim="-")


def make_class_folders(out: Path, paths: Iterable[str]) -> None:
    """Make the folders that hold ``paths`` (relative to ``out``), and no others.

    torchvision's ``ImageFolder`` refuses a class folder with no image in it, so a class
    gets a folder only where an image goes.
    """
    for folder in sorted({os.path.dirname(str(p)) for p in paths}):
        (out / folder).mkdir(parents=True, exist_ok=True)


def note_empty_classes(names: list[str], prefixes: list[str], used: set[str],
                       notes: LayerNotes) -> None:
    """Say which class folders were left out: classes with no image at all, and classes
    with no image in one split (``used`` holds the ``<prefix><class>`` folders written).

    Example:
        >>> notes = LayerNotes("write")
        >>> note_empty_classes(["cat", "dog"], ["train/", "val/"], {"train/cat", "val/cat"},
        ...                    notes)
        >>> notes.texts()
        ["1 class with no image left out: dog (torchvision's ImageFolder refuses an empty \
class folder)"]
    """
    nowhere = [n for n in names if not any(f"{p}{n}" in used for p in prefixes)]
    if nowhere:
        notes.say(f"{_classes(nowhere)} with no image left out: {_some(nowhere)} "
                  "(torchvision's ImageFolder refuses an empty class folder)")
    for prefix in prefixes:
        absent = [n for n in names if n not in nowhere and f"{prefix}{n}" not in used]
        if prefix and absent:
            notes.say(f"split {prefix[:-1]}: {_classes(absent)} with no image there "
                      f"get no folder: {_some(absent)} (tools that number classes by "
                      "sorted folder name number them per split)")


def _classes(names: list) -> str:
    return f"{len(names)} class{'es' if len(names) > 1 else ''}"


def _some(names: list) -> str:
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


class WriteNotes(LayerNotes):
    """The notes of one write (source "write") with the counts of what it wrote.

    A writer's helpers :meth:`~annokit.notes.LayerNotes.say` what the target could not
    hold; ``written`` holds ``images``, ``annotations`` and ``categories`` as written to
    the target, or is empty when the writer did not count them.

    Example:
        >>> notes = WriteNotes()
        >>> notes.say("VOC has no supercategory: dropped")
        >>> notes.wrote(images=2, annotations=5, categories=1)
        >>> notes[0], notes.written["annotations"]
        (Note(source='write', text='VOC has no supercategory: dropped', kind='note'), 5)
    """

    def __init__(self, notes: Iterable[Note] = (), **written: int) -> None:
        super().__init__("write", notes)
        self.written: dict[str, int] = {}
        self.wrote(**written)

    def wrote(self, **written: int) -> None:
        """Record how many images, annotations and categories went out."""
        self.written.update({k: int(v) for k, v in written.items()})


def summary_line(ds: Dataset, notes: WriteNotes) -> str:
    """What a write put out, for the CLI: '12 images, 20 of 35 annotations, 3 categories'.

    Counts come from the writer (``WriteNotes.written``); a count lower than the dataset's
    is shown as 'N of M'. Records skipped while reading are added as in
    ``Dataset.summary_line``.

    Example:
        >>> summary_line(ds, WriteNotes(images=12, annotations=20, categories=3))  # doctest: +SKIP
        '12 images, 20 of 35 annotations, 3 categories'
    """
    written = notes.written
    if not written:
        return ds.summary_line()
    read = {"images": len(ds.images), "annotations": len(ds.annotations),
            "categories": len(ds.categories)}
    parts = []
    for key, total in read.items():
        n = written.get(key, total)
        parts.append(f"{n} of {total} {key}" if n < total else f"{n} {key}")
    skipped = ds.notes.of("skipped")
    return ", ".join(parts) + (f", {len(skipped)} skipped" if skipped else "")
