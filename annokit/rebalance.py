"""Rebalance classes by resampling whole images: repeat, oversample, undersample.

A detection image carries all its boxes, so repeating it for a rare class also repeats the
other classes in it, and dropping it for a frequent class drops the rare ones too. Every
method here works on images and reports those side effects in a before/after table.

``repeat``       LVIS repeat-factor sampling (Gupta et al. 2019): a class in a fraction
                 ``f_c`` of the images gets ``r_c = max(1, sqrt(t / f_c))``; an image is
                 repeated ``max r_c`` over its classes (stochastic rounding, seeded).
``oversample``   repeat images of each class below ``target`` instances until it has
                 at least that many (images where the class dominates first).
``undersample``  drop images of each class above ``cap`` instances until it has at most
                 that many (images where it dominates first; images holding a class at or
                 below the cap are kept).

The result is a dataset with the repeated images under new image and annotation ids
(same ``file_name``, a ``source_image_id`` column naming the original), or an image list
with repeats (:func:`image_list`) for Ultralytics / Detectron2 style training lists.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
import pandas as pd

from .errors import AnnokitError
from . import stats
from .model import Dataset
from .notes import LayerNotes, Notes

METHODS = ("repeat", "oversample", "undersample")
MAX_IMAGES = 10_000_000  # a resampled dataset larger than this is a mistake, not a plan


# -- per-image class counts ---------------------------------------------------------------

def _entries(ds: Dataset):
    """(image position, class index, instances) per image and class present, and the
    category id of each class index."""
    anns = ds.annotations
    pos = pd.Index(ds.images["id"]).get_indexer(anns["image_id"])
    ok = pos >= 0
    classes, category_ids = pd.factorize(anns["category_id"][ok])
    n_classes = max(len(category_ids), 1)
    key, count = np.unique(pos[ok].astype(np.int64) * n_classes + classes, return_counts=True)
    image, cls = np.divmod(key, n_classes)
    return image, cls, count.astype(np.int64), np.asarray(category_ids)


def _class_totals(cls, cnt, weights, n_classes) -> np.ndarray:
    return np.bincount(cls, weights=cnt * weights, minlength=n_classes)


# -- the three methods, as copies per image -----------------------------------------------

def repeat_factors(ds: Dataset, threshold: float = 0.001) -> pd.Series:
    """LVIS repeat factor of every image (indexed by image id; 1.0 for images without
    annotations).

    ``f_c`` is the fraction of all images that contain class ``c``; ``r_c = max(1,
    sqrt(threshold / f_c))``; an image's factor is the largest ``r_c`` of its classes.

    Example:
        >>> # class 2 is in 1 of 8 images: f = 0.125, r = sqrt(0.5 / 0.125) = 2
        >>> repeat_factors(ds, threshold=0.5).max()  # doctest: +SKIP
        2.0
    """
    if threshold <= 0:
        raise AnnokitError(f"repeat-factor threshold must be > 0, not {threshold}")
    image, cls, _, category_ids = _entries(ds)
    n_images = len(ds.images)
    freq = np.bincount(cls, minlength=len(category_ids)) / max(n_images, 1)
    with np.errstate(divide="ignore"):
        per_class = np.maximum(1.0, np.sqrt(threshold / freq))
    factors = np.ones(n_images)
    np.maximum.at(factors, image, per_class[cls])
    return pd.Series(factors, index=pd.Index(ds.images["id"].to_numpy(), name="image_id"),
                     name="repeat_factor")


def _repeat_copies(ds: Dataset, threshold: float, rng) -> np.ndarray:
    """Copies per image: the repeat factor rounded stochastically (its expectation)."""
    factors = repeat_factors(ds, threshold).to_numpy()
    whole = np.floor(factors)
    return (whole + (rng.random(len(factors)) < factors - whole)).astype(np.int64)


def _repeat_note(ds: Dataset, threshold: float, copies: np.ndarray) -> str | None:
    """Why repeat-factor sampling repeated nothing, and what to try, when it did not."""
    if (copies > 1).any():
        return None
    _, cls, _, category_ids = _entries(ds)
    if not len(cls):
        return "nothing repeated: no image holds an annotation"
    freq = np.bincount(cls, minlength=len(category_ids)) / max(len(ds.images), 1)
    rarest = int(np.argmin(freq))
    names = ds.categories.drop_duplicates("id").set_index("id")["name"]
    name = names.get(category_ids[rarest], category_ids[rarest])
    share = float(freq[rarest])
    if share < threshold:  # factors above 1, all rounded down by chance
        return (f"nothing repeated: the largest repeat factor ({name}: "
                f"{np.sqrt(threshold / share):.2f}) was rounded down to one copy for every "
                "image (seeded); raise --threshold or try another --seed")
    return (f"nothing repeated: the rarest class, {name}, is in {share:.1%} of the images, "
            f"and repeat-factor sampling repeats only classes in fewer than the threshold "
            f"({threshold:g}) of them; raise --threshold above {share:.2f} (e.g. "
            f"{(share + 1) / 2:.2f}) or use --method oversample")


def _order(rng, purity: np.ndarray) -> np.ndarray:
    """Candidate images, the most dominated by the class first, ties in random order."""
    shuffle = rng.permutation(len(purity))
    return shuffle[np.argsort(-purity[shuffle], kind="stable")]


def _oversample_copies(ds: Dataset, target: int | None, rng) -> np.ndarray:
    image, cls, cnt, category_ids = _entries(ds)
    copies = np.ones(len(ds.images), dtype=np.int64)
    if not len(cls):
        return copies
    n_classes = len(category_ids)
    counts = _class_totals(cls, cnt, 1, n_classes)
    target = int(counts.max()) if target is None else int(target)
    per_image = np.bincount(image, weights=cnt, minlength=len(copies))
    purity = cnt / per_image[image]
    for c in np.argsort(counts, kind="stable"):  # rarest first: later ones may be done
        deficit = target - counts[c]
        if deficit <= 0:
            continue
        rows = np.flatnonzero(cls == c)
        rows = rows[_order(rng, purity[rows])]
        have = cnt[rows].astype(np.float64)
        # whole rounds over every image of the class, then the first few once more
        rounds = int(deficit // have.sum())
        extra = np.full(len(rows), rounds, dtype=np.int64)
        rest = deficit - rounds * have.sum()
        if rest > 0:
            extra[: int(np.searchsorted(np.cumsum(have), rest)) + 1] += 1
        added = np.zeros(len(copies), dtype=np.int64)
        added[image[rows]] = extra
        copies += added
        counts += _class_totals(cls, cnt, added[image], n_classes)
    return copies


def _undersample_copies(ds: Dataset, cap: int, rng, protect_rare: bool, notes: LayerNotes
                        ) -> np.ndarray:
    image, cls, cnt, category_ids = _entries(ds)
    copies = np.ones(len(ds.images), dtype=np.int64)
    n_classes = len(category_ids)
    if not len(cls):
        return copies
    counts = _class_totals(cls, cnt, 1, n_classes)
    per_image = np.bincount(image, weights=cnt, minlength=len(copies))
    purity = cnt / per_image[image]
    names = ds.categories.set_index("id")["name"]
    names = names[~names.index.duplicated()]
    for c in np.argsort(-counts, kind="stable"):  # most frequent first
        excess = counts[c] - cap
        if excess <= 0:
            continue
        rows = np.flatnonzero((cls == c) & (copies[image] > 0))
        if protect_rare:  # never drop an image holding a class already at or below the cap
            low = counts[cls] <= cap
            held = np.zeros(len(copies), dtype=bool)
            held[image[low & (copies[image] > 0)]] = True
            rows = rows[~held[image[rows]]]
        rows = rows[_order(rng, purity[rows])]
        have = np.cumsum(cnt[rows])
        take = min(int(np.searchsorted(have, excess)) + 1, len(rows))
        dropped = np.zeros(len(copies), dtype=np.int64)
        dropped[image[rows[:take]]] = 1
        copies -= dropped
        counts -= _class_totals(cls, cnt, dropped[image], n_classes)
        if counts[c] > cap:
            name = names.get(category_ids[c], category_ids[c])
            notes.say(f"{name}: {int(counts[c])} instances remain above the cap of {cap}: "
                      "every remaining image holding it also holds a class at or below the "
                      "cap")
    return copies


# -- applying copies ----------------------------------------------------------------------

def resample(ds: Dataset, copies: ArrayLike) -> Dataset:
    """A dataset with image ``i`` present ``copies[i]`` times (0 drops it).

    The first copy keeps its image and annotation ids; further copies get new ids after
    the largest ones, the same ``file_name``, and every image a ``source_image_id``.

    Example:
        >>> out = resample(ds, [2, 1, 0])  # doctest: +SKIP
        >>> out.images[["id", "file_name", "source_image_id"]]  # doctest: +SKIP
           id file_name  source_image_id
        0   1     a.jpg                1
        1   4     a.jpg                1
        2   2     b.jpg                2
    """
    copies = np.asarray(copies, dtype=np.int64)
    images, anns = ds.images, ds.annotations
    if copies.shape != (len(images),) or (copies < 0).any():
        raise AnnokitError("copies must give a count >= 0 for every image")
    start = np.cumsum(copies) - copies  # first row of each image's copies
    rows = np.repeat(np.arange(len(images)), copies)
    nth = np.arange(len(rows)) - start[rows]  # 0 for the first copy
    old_ids = images["id"].to_numpy()
    new_ids = _new_ids(old_ids[rows], nth, old_ids.max(initial=0))
    out_images = images.iloc[rows].reset_index(drop=True)
    out_images["id"] = new_ids
    out_images["source_image_id"] = old_ids[rows]
    # annotations follow their image: copy n of an image's boxes go to its copy n
    pos = pd.Index(old_ids).get_indexer(anns["image_id"])
    ann_copies = np.where(pos >= 0, copies[pos.clip(0)], 1)  # orphans stay as they are
    ann_rows = np.repeat(np.arange(len(anns)), ann_copies)
    ann_nth = np.arange(len(ann_rows)) - (np.cumsum(ann_copies) - ann_copies)[ann_rows]
    out_anns = anns.iloc[ann_rows].reset_index(drop=True)
    ann_pos = pos[ann_rows]
    image_ids = out_anns["image_id"].to_numpy(dtype=np.int64).copy()
    ok = ann_pos >= 0
    image_ids[ok] = new_ids[start[ann_pos[ok]] + ann_nth[ok]]
    out_anns["image_id"] = image_ids
    ann_ids = anns["id"].to_numpy()
    out_anns["id"] = _new_ids(ann_ids[ann_rows], ann_nth, ann_ids.max(initial=0))
    meta = {**ds.meta, "notes": Notes(ds.notes)}  # a new list: notes added later stay here
    return Dataset(ds.categories.copy(), out_images, out_anns, meta)


def _new_ids(ids: np.ndarray, nth: np.ndarray, largest: int) -> np.ndarray:
    """Keep ids of first copies; number later copies from ``largest + 1`` on."""
    later = nth > 0
    return np.where(later, largest + np.cumsum(later), ids).astype(np.int64)


def _subset_copies(ds: Dataset, only_split: str | None, make) -> np.ndarray:
    """Copies from ``make(sub_dataset)`` for the images of ``only_split`` (1 for others)."""
    if only_split is None:
        return make(ds)
    inside = (ds.images["split"] == only_split).to_numpy(dtype=bool)
    if not inside.any():
        found = sorted(ds.images["split"].dropna().unique().tolist(), key=str)
        raise AnnokitError(f"no images in split {only_split!r} (splits: "
                           f"{', '.join(map(str, found)) or 'none'})")
    sub = Dataset(ds.categories, ds.images[inside],
                  ds.annotations[ds.annotations["image_id"].isin(ds.images["id"][inside])],
                  ds.meta)
    copies = np.ones(len(ds.images), dtype=np.int64)
    copies[inside] = make(sub)
    return copies


def oversample(ds: Dataset, target: int | None = None, *, seed: int = 0) -> Dataset:
    """Repeat images until every class has at least ``target`` instances (default: as
    many as the largest class).

    Classes are raised rarest first, each by repeating the images where it makes up the
    largest share of the boxes (so other classes grow as little as possible), cycling
    through them as often as needed.

    Example:
        >>> out = oversample(ds, target=500)  # doctest: +SKIP
        >>> out.summary()["annotations"].min() >= 500  # doctest: +SKIP
        True
    """
    return rebalance(ds, "oversample", target=target, seed=seed)[0]


def undersample(ds: Dataset, cap: int, *, seed: int = 0, protect_rare: bool = True) -> Dataset:
    """Drop images until every class has at most ``cap`` instances, where it can.

    Classes are lowered most frequent first, each by dropping the images where it makes
    up the largest share of the boxes. With ``protect_rare``, an image holding a class that
    is at or below the cap is never dropped, so a class may stay above the cap (noted in
    ``notes``, source "rebalance"). Images without annotations are kept.

    Example:
        >>> out = undersample(ds, cap=1000)  # doctest: +SKIP
    """
    return rebalance(ds, "undersample", cap=cap, seed=seed, protect_rare=protect_rare)[0]


def rebalance(ds: Dataset, method: str = "repeat", *, seed: int = 0,
              threshold: float = 0.001, target: int | None = None, cap: int | None = None,
              protect_rare: bool = True, only_split: str | None = None
              ) -> tuple[Dataset, pd.DataFrame]:
    """Resample ``ds`` by ``method`` and return it with a before/after table per class.

    ``repeat`` uses ``threshold`` (LVIS ``t``), ``oversample`` ``target`` and
    ``undersample`` ``cap`` (instances). ``only_split`` (e.g. 'train') resamples that
    split alone and leaves the others as they are. Deterministic for a ``seed``.

    Example:
        >>> out, table = rebalance(ds, "repeat", threshold=0.3)  # doctest: +SKIP
        >>> print(format_rebalance_table(table))  # doctest: +SKIP
    """
    rng = np.random.default_rng(seed)
    notes = LayerNotes("rebalance")
    if method == "repeat":
        def make(part):
            copies = _repeat_copies(part, threshold, rng)
            notes.say(_repeat_note(part, threshold, copies))
            return copies
    elif method == "oversample":
        if target is not None and target < 1:
            raise AnnokitError(f"oversample target must be >= 1 instance, not {target}")
        make = lambda part: _oversample_copies(part, target, rng)  # noqa: E731
    elif method == "undersample":
        if cap is None or cap < 1:
            raise AnnokitError("undersample needs a cap >= 1 (instances per class)")
        make = lambda part: _undersample_copies(part, int(cap), rng, protect_rare,  # noqa: E731
                                                notes)
    else:
        raise AnnokitError(f"unknown rebalance method {method!r}: choose one of "
                           f"{', '.join(METHODS)}")
    copies = _subset_copies(ds, only_split, make)
    total = int(copies.sum())
    if total > MAX_IMAGES:  # refused before the copies are made: a bounded cost
        raise AnnokitError(f"rebalancing would make {total:,} images (at most {MAX_IMAGES:,}); "
                           "lower the target or raise the threshold")
    out = resample(ds, copies)
    out.meta["rebalance_info"] = {"method": method, "seed": seed, "only_split": only_split,
                                  "threshold": threshold if method == "repeat" else None,
                                  "target": target, "cap": cap}
    out.notes.extend(notes)
    return out, rebalance_table(ds, out, only_split=only_split)


# -- reporting ----------------------------------------------------------------------------

def counted(ds: Dataset, split: str | None = None) -> tuple[int, int]:
    """Images and annotations of ``ds``, or of its ``split`` alone: what a rebalanced image
    list of that split holds.

    Example:
        >>> counted(ds, "train")  # doctest: +SKIP
        (205, 2805)
    """
    if split is None:
        return len(ds.images), len(ds.annotations)
    inside = ds.images["id"][(ds.images["split"] == split).to_numpy(dtype=bool)]
    return len(inside), int(ds.annotations["image_id"].isin(inside).sum())


def class_counts(ds: Dataset) -> pd.DataFrame:
    """Per class (by name): ``instances``, ``images`` holding it and instance ``share``.

    Example:
        >>> class_counts(ds).loc["WBC"].tolist()  # doctest: +SKIP
        [372, 359, 0.076]
    """
    counts = stats.class_counts(ds)
    counts = counts[counts["name"].notna()].drop_duplicates("category_id")
    table = counts.set_index(counts["name"].astype(str).to_numpy())[["instances", "images"]]
    table.index.name = "class"
    total = table["instances"].sum()
    table["share"] = table["instances"] / total if total else np.nan
    return table


def rebalance_table(before: Dataset, after: Dataset, only_split: str | None = None
                    ) -> pd.DataFrame:
    """Per class: instances, images and share before and after, and the instance factor;
    a last row ``all`` sums instances and counts images. With ``only_split``, counts are
    of that split alone.

    Example:
        >>> table = rebalance_table(ds, out)  # doctest: +SKIP
        >>> table.loc["WBC", ["instances before", "instances after"]]  # doctest: +SKIP
    """
    parts = []
    for ds in (before, after):
        if only_split is not None:
            inside = (ds.images["split"] == only_split).to_numpy(dtype=bool)
            kept = ds.annotations["image_id"].isin(ds.images["id"][inside]).to_numpy()
            ds = Dataset(ds.categories, ds.images[inside], ds.annotations[kept], ds.meta)
        counts = class_counts(ds)
        counts.loc["all"] = [counts["instances"].sum(), len(ds.images),
                             1.0 if counts["instances"].sum() else np.nan]
        parts.append(counts)
    b, a = parts
    table = pd.DataFrame({
        "instances before": b["instances"].astype(np.int64),
        "instances after": a["instances"].astype(np.int64),
        "factor": a["instances"] / b["instances"].where(b["instances"] > 0),
        "images before": b["images"].astype(np.int64),
        "images after": a["images"].astype(np.int64),
        "share before": b["share"], "share after": a["share"],
    })
    table.index.name = "class"
    return table


def format_rebalance_table(table: pd.DataFrame) -> str:
    """The :func:`rebalance_table` as aligned text for a terminal.

    Example:
        >>> print(format_rebalance_table(table))  # doctest: +SKIP
        class      instances before  after  factor  images before  after  share before   after
        WBC                     372    434   1.17x            358    417          7.6%    7.7%
    """
    head = ["class", "instances before", "after", "factor", "images before", "after",
            "share before", "after"]
    rows = [head]
    for name, row in zip(table.index, table.to_dict("records")):
        factor = row["factor"]
        rows.append([str(name), str(int(row["instances before"])),
                     str(int(row["instances after"])),
                     f"{factor:.2f}x" if factor == factor else "-",
                     str(int(row["images before"])), str(int(row["images after"])),
                     _pct(row["share before"]), _pct(row["share after"])])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                               for i, (cell, w) in enumerate(zip(r, widths))).rstrip()
                     for r in rows)


def _pct(value: float) -> str:
    return "-" if value != value else f"{value:.1%}"


def image_list(ds: Dataset, *, absolute: bool = True, split: str | None = None) -> list[str]:
    """Every image's path in order, repeats included: a training list for Ultralytics
    (``train: train.txt``) or Detectron2. Absolute paths where the image folder is known
    (``absolute``), else the ``file_name``. ``split`` lists that split's images only (the
    list for ``rebalance(..., only_split=split)``).

    Example:
        >>> out, _ = rebalance(ds, "repeat", threshold=0.3)  # doctest: +SKIP
        >>> Path("train.txt").write_text("\\n".join(image_list(out)) + "\\n")  # doctest: +SKIP
    """
    keep = np.ones(len(ds.images), bool) if split is None else \
        (ds.images["split"] == split).to_numpy(dtype=bool)
    names = ds.images["file_name"].astype(str)[keep].tolist()
    if not absolute:
        return names
    paths = ds.image_paths()[keep].tolist()
    return [p if p is not None else f for p, f in zip(paths, names)]
