"""Cut a dataset into splits (or k folds) that keep every class represented.

Methods (``method=``):

``random``      shuffle the images and cut them at the ratios (exact sizes, like
                scikit-learn's ``train_test_split``).
``stratified``  single-label data: every class's images are cut at the ratios.
``multilabel``  detection (multi-label) data: iterative stratification (Sechidis et al.
                2011) on instance counts, rarest class first, so that each class's share of
                boxes in each split stays close to the target ratio.
``auto``        multilabel for detection data, stratified for single-label data (one class
                per image), random when there are no annotations.

Images that must stay together form *groups*: a ``group_by`` column or file-name pattern
(a video, a patient), and near-duplicate images (same bytes, or perceptual hashes within
``phash_distance`` bits). Every method splits whole groups, so no group spans two splits.

The result is a copy of the dataset with the images' ``split`` column set (``split``) or
a ``fold`` column (``kfold``); :func:`split_table` shows the per-class counts and shares.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator, NamedTuple, Sequence

import numpy as np
import pandas as pd

from .errors import AnnokitError
from .model import Dataset
from .notes import LayerNotes

METHODS = ("auto", "random", "stratified", "multilabel")
SPLIT_NAMES = ("train", "val", "test")


@dataclass(frozen=True)
class Grouping:
    """What keeps images together in one split: ``group_by`` (an image column, a file-name
    pattern or a Series of keys) and, with ``near_duplicates``, images of equal bytes or
    perceptual hashes within ``phash_distance`` bits (see :func:`split`).

    Example:
        >>> Grouping("patient_id", near_duplicates=False)
        Grouping(group_by='patient_id', near_duplicates=False, phash_distance=4)
    """

    group_by: str | pd.Series | None = None
    near_duplicates: bool = True
    phash_distance: int = 4


class _ClassCounts(NamedTuple):
    """Units x classes instance counts in CSR form: unit ``u``'s classes are
    ``cls[indptr[u]:indptr[u + 1]]`` with counts ``cnt[...]``; ``n_classes`` in all."""

    indptr: np.ndarray
    cls: np.ndarray
    cnt: np.ndarray
    n_classes: int


# -- public API ---------------------------------------------------------------------------

def split(ds: Dataset, ratios: Sequence[float] = (0.8, 0.1, 0.1), *,
          names: Sequence[str] = SPLIT_NAMES, method: str = "auto", seed: int = 0,
          group_by: str | pd.Series | None = None, near_duplicates: bool = True,
          phash_distance: int = 4, keep_existing: bool = False) -> Dataset:
    """Return a copy of ``ds`` whose images' ``split`` column is set by ``ratios``.

    ``group_by`` is a column of ``ds.images`` or a regular expression on ``file_name``
    whose first group (or whole match) names the group; images of one group, and
    near-duplicate images (``near_duplicates``, needs the image files), always land in
    the same split. ``keep_existing`` keeps the images' current splits and assigns only
    images whose split is None, so that the final per-class shares approach the targets.
    Deterministic for a ``seed``. What was chosen is in ``result.meta['split_info']``;
    what the split could not honour fully (images absent for near-duplicates, images
    without a group) is in ``result.notes`` (source "split").

    Example:
        >>> out = split(ds, (0.8, 0.1, 0.1), group_by=r"^(video\\d+)_")  # doctest: +SKIP
        >>> out.images["split"].value_counts()  # doctest: +SKIP
        train    291
        val       37
        test      36
        >>> print(format_split_table(split_table(out)))  # doctest: +SKIP
    """
    ratios, names = _check_ratios(ratios, names)
    existing = ds.images["split"].to_numpy(dtype=object) if keep_existing else None
    grouping = Grouping(group_by, near_duplicates, phash_distance)
    chosen, all_names, info, notes = _plan(ds, ratios, names, method, seed, grouping,
                                           existing)
    out = ds.copy()
    _set_splits(out, np.asarray(all_names, dtype=object)[chosen], notes)
    out.meta["split_info"] = {"ratios": dict(zip(names, ratios)), **info}
    out.notes.extend(notes)
    return out


def kfold(ds: Dataset, k: int = 5, *, seed: int = 0, group_by: str | pd.Series | None = None,
          near_duplicates: bool = True, phash_distance: int = 4,
          method: str = "auto") -> Dataset:
    """Return a copy of ``ds`` with a ``fold`` column (0..k-1) on the images.

    Folds are equal parts made with the same guarantees as :func:`split` (stratified,
    groups and near-duplicates never in two folds). Use :func:`fold_splits` for each
    fold's train/val datasets.

    Example:
        >>> folded = kfold(ds, 5, seed=1)  # doctest: +SKIP
        >>> folded.images["fold"].value_counts().sort_index().tolist()  # doctest: +SKIP
        [73, 73, 73, 73, 72]
    """
    if not isinstance(k, (int, np.integer)) or k < 2:
        raise AnnokitError(f"k-fold needs k >= 2 folds, not {k!r}")
    if k > len(ds.images):
        raise AnnokitError(f"cannot make {k} folds of {len(ds.images)} images")
    chosen, _, info, notes = _plan(ds, [1 / k] * k, [str(i) for i in range(k)], method, seed,
                                   Grouping(group_by, near_duplicates, phash_distance), None)
    made = len(np.unique(chosen))
    if made < k:  # fewer groups than folds: some folds would be empty
        raise AnnokitError(f"cannot make {k} folds: the images form only {made} "
                           f"group{'s' * (made != 1)} that must stay together (--group-by, "
                           "near-duplicates)")
    out = ds.copy()
    out.images["fold"] = chosen.astype(np.int64)
    out.notes.extend(notes)
    out.meta["split_info"] = {"folds": int(k), **info}
    return out


def fold_splits(ds: Dataset, k: int | None = None, *, names: tuple[str, str] = ("train", "val"),
                **kfold_options) -> Iterator[Dataset]:
    """Yield one dataset per fold: that fold's images in ``val``, all others in ``train``.

    ``ds`` should carry a ``fold`` column (from :func:`kfold`); without one, folds are made
    first with ``kfold(ds, k or 5, **kfold_options)``.

    Example:
        >>> for i, part in enumerate(fold_splits(kfold(ds, 5))):  # doctest: +SKIP
        ...     annokit.write(part, f"out/fold_{i}", "yolo")
    """
    if "fold" not in ds.images:
        ds = kfold(ds, k or 5, **kfold_options)
    folds = ds.images["fold"].to_numpy()
    k = len(np.unique(folds))
    for f in np.unique(folds):
        part, notes = ds.copy(), LayerNotes("split")
        _set_splits(part, np.where(folds == f, names[1], names[0]).astype(object), notes)
        part.notes.extend(notes)  # each part says it (the CLI prints a repeated note once)
        part.meta["split_info"] = {**ds.meta.get("split_info", {}), "fold": int(f),
                                   "ratios": {names[0]: (k - 1) / k, names[1]: 1 / k}}
        yield part


def fold_table(ds: Dataset) -> pd.DataFrame:
    """The :func:`split_table` of a :func:`kfold` result with one column per fold (``fold
    <i>``, the images each fold holds out as ``val``), each against a target of ``1/k``.

    Example:
        >>> print(format_split_table(fold_table(kfold(ds, 5))))  # doctest: +SKIP
        class     total       fold 0 (20%)   fold 1 (20%) ...   max gap
    """
    folds = ds.images["fold"].to_numpy()
    names = np.array([f"fold {f}" for f in range(int(folds.max()) + 1)], dtype=object)
    view = Dataset(ds.categories, ds.images.assign(split=names[folds]), ds.annotations, {})
    return split_table(view, {name: 1 / len(names) for name in names})


def split_table(ds: Dataset, targets: dict[str, float] | None = None) -> pd.DataFrame:
    """Per class: instances in each split and each split's share of them, against targets.

    Rows: one per category (by name), then ``all instances`` and ``images``. Columns:
    ``total``; per split ``<split>`` (count) and ``<split> share`` (0..1); ``max gap`` (the
    largest distance in percentage points between a share and its target). ``targets``
    defaults to the ratios recorded by :func:`split`; images without a split form a
    ``(none)`` column.

    Example:
        >>> t = split_table(split(ds))  # doctest: +SKIP
        >>> t.loc["WBC", ["train", "val", "test"]].tolist()  # doctest: +SKIP
        [298, 37, 37]
    """
    targets = targets if targets is not None else \
        ds.meta.get("split_info", {}).get("ratios")
    image_split = ds.images["split"].astype(object).where(ds.images["split"].notna(), "(none)")
    order = _split_order(image_split, targets)
    anns = ds.annotations
    ann_split = anns["image_id"].map(pd.Series(image_split.to_numpy(),
                                               index=ds.images["id"].to_numpy()))
    known = ann_split.notna().to_numpy()
    names = ds.categories.set_index("id")["name"].astype(str)
    names = names[~names.index.duplicated()]
    counts = pd.crosstab(anns["category_id"][known], ann_split[known]) \
        .reindex(index=names.index, columns=order, fill_value=0)
    counts.index = names.to_numpy()
    counts.loc["all instances"] = counts.sum()
    counts.loc["images"] = image_split.value_counts().reindex(order, fill_value=0)
    total = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = counts.div(total.where(total > 0), axis=0)
    table = pd.DataFrame({"total": total.astype(np.int64)}, index=counts.index)
    for s in order:
        table[s] = counts[s].astype(np.int64)
        table[f"{s} share"] = shares[s].astype(np.float64)
    gaps = pd.Series(np.nan, index=table.index)
    if targets:
        diff = pd.concat([(shares[s] - targets.get(s, 0.0)).abs() for s in order], axis=1)
        gaps = diff.max(axis=1).where(total > 0) * 100
    table["max gap"] = gaps
    table.index.name = "class"
    table.attrs["targets"] = dict(targets or {})
    return table


def format_split_table(table: pd.DataFrame) -> str:
    """The :func:`split_table` as aligned text for a terminal.

    Example:
        >>> print(format_split_table(split_table(out)))  # doctest: +SKIP
        class            total       train (80%)     val (10%)    test (10%)   max gap
        RBC               4155     3324  80.0%     416  10.0%     415  10.0%    0.0 pp
        ...
    """
    targets = table.attrs.get("targets") or {}
    splits = [c for c in table.columns if c not in ("total", "max gap")
              and not c.endswith(" share")]
    width = max([len("class"), *map(len, map(str, table.index))])
    heads = [f"{s} ({targets[s]:.0%})" if s in targets else s for s in splits]
    cell = max(14, *map(len, heads))
    lines = [f"{'class':<{width}} {'total':>8} " + " ".join(h.rjust(cell) for h in heads)
             + ("   max gap" if targets else "")]
    for name, row in zip(table.index, table.to_dict("records")):  # a handful of rows
        cells = [f"{int(row[s]):>{cell - 8}d} " + (f"{row[s + ' share']:6.1%}"
                                                   if row["total"] else "     -")
                 for s in splits]
        gap = row["max gap"]
        tail = f"   {gap:4.1f} pp" if targets and gap == gap else ""
        lines.append(f"{str(name):<{width}} {int(row['total']):>8d} " + " ".join(cells)
                     + tail)
    return "\n".join(lines)


def _plan(ds: Dataset, ratios, names, method: str, seed: int, grouping: Grouping, existing):
    """Split index per image, the split names indexed, what was done, and the notes."""
    notes = LayerNotes("split")
    units, info = _units(ds, grouping, notes)
    method = _choose_method(ds, method)
    chosen, all_names = _split_units(ds, units, ratios, method, seed, existing, names, notes)
    return chosen, all_names, {"method": method, "seed": seed, **info}, notes


# -- what is split: units of images that stay together ------------------------------------

def _check_ratios(ratios, names) -> tuple[list[float], list[str]]:
    ratios = [float(r) for r in ratios]
    names = [str(n) for n in names]
    if len(ratios) < 2:
        raise AnnokitError(f"give at least two ratios, not {ratios}")
    if len(names) > len(ratios) and tuple(names) == SPLIT_NAMES:
        names = names[:len(ratios)]
    if len(names) != len(ratios):
        raise AnnokitError(f"{len(ratios)} ratios need {len(ratios)} split names, "
                           f"got {names}")
    if len(set(names)) != len(names):
        raise AnnokitError(f"split names must differ: {names}")
    if any(r < 0 or r != r for r in ratios) or abs(sum(ratios) - 1) > 1e-6:
        raise AnnokitError(f"ratios must be >= 0 and sum to 1, got "
                           f"{','.join(f'{r:g}' for r in ratios)}")
    return ratios, names


def _units(ds: Dataset, grouping: Grouping, notes: LayerNotes) -> tuple[np.ndarray, dict]:
    """Label each image with its unit (0..U-1): images of one unit share a split."""
    group_by = grouping.group_by
    n = len(ds.images)
    a_parts, b_parts = [], []
    info: dict = {"group_by": None if group_by is None or isinstance(group_by, pd.Series)
                  else group_by}
    if group_by is not None:
        codes = _group_codes(ds, group_by, notes)
        a_parts.append(np.arange(n))
        b_parts.append(_first_of_code(codes))
    if grouping.near_duplicates:
        a, b = _near_duplicate_pairs(ds, grouping.phash_distance, notes)
        a_parts.append(a)
        b_parts.append(b)
    if not a_parts:
        return np.arange(n), {**info, "units": n, "grouped_images": 0}
    units = components(n, np.concatenate(a_parts), np.concatenate(b_parts))
    sizes = np.bincount(units)
    info.update(units=len(sizes), grouped_images=int((sizes[units] > 1).sum()))
    return units, info


def _group_codes(ds: Dataset, group_by, notes: LayerNotes) -> np.ndarray:
    """A group code per image; -1 where the image belongs to no named group."""
    images = ds.images
    if isinstance(group_by, pd.Series):
        keys = group_by.reset_index(drop=True)
    elif group_by in images.columns:
        keys = images[group_by]
    else:
        files = images["file_name"].astype(str)
        keys = group_keys(files.tolist(), group_by, columns=images.columns)
        if len(files) and keys.isna().all():
            raise AnnokitError(f"--group-by pattern {_shown(group_by)} matches no file name "
                               f"(e.g. {files.iloc[0]!r})")
    codes, _ = pd.factorize(keys, use_na_sentinel=True)
    alone = int((codes < 0).sum())
    if alone:
        notes.say(f"{alone} images have no group ({group_by!r} found nothing): "
                  "each is a group of its own")
    return codes


def _shown(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def group_keys(names: list[str], pattern: str, columns: Sequence[str] | pd.Index = ()
               ) -> pd.Series:
    r"""The group of each name: the first group of ``pattern`` (or its whole match), NA where
    it does not match.

    Patterns are matched with RE2, in time linear in the name's length: Python's ``re``
    backtracks, and ``'^(a+)+$'`` on a 30-letter name runs for minutes. RE2 has no
    backreferences or lookarounds; such a pattern is refused with one line.

    Example:
        >>> group_keys(["video1_a.jpg", "video1_b.jpg", "x.jpg"], r"^(video\d+)_").tolist()
        ['video1', 'video1', None]
    """
    import re2

    options = re2.Options()
    options.log_errors = False  # the error is our one line, not absl's log on stderr
    try:
        compiled = re2.compile(pattern, options)
    except (re2.error, TypeError) as e:
        reason = e.args[0].decode("utf-8", "replace") if e.args and isinstance(
            e.args[0], bytes) else str(e)
        shown = f"an image column ({', '.join(map(str, columns))}) nor " if len(columns) else ""
        raise AnnokitError(f"--group-by {_shown(pattern)} is neither {shown}a valid regular "
                           f"expression (RE2 syntax, matched in linear time; no backreferences "
                           f"or lookarounds): {reason}") from None
    group = 1 if compiled.groups else 0
    found = []
    for name in names:  # one C call per name; RE2 never backtracks
        match = compiled.search(_utf8(name))  # bytes: twice as fast as str in google-re2
        key = match.group(group) if match else None
        found.append(None if key is None else key.decode("utf-8"))
    return pd.Series(found, dtype=object)


def _utf8(name: str) -> bytes:
    """``name`` as UTF-8 for RE2; bytes the OS could not decode become U+FFFD."""
    try:
        return name.encode("utf-8")
    except UnicodeEncodeError:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace").encode()


def _first_of_code(codes: np.ndarray) -> np.ndarray:
    """For each image, the first image with the same code (itself when code is -1)."""
    first = pd.Series(np.arange(len(codes))).groupby(codes).transform("first").to_numpy()
    return np.where(codes < 0, np.arange(len(codes)), first)


def _near_duplicate_pairs(ds: Dataset, distance: int, notes: LayerNotes):
    """Image position pairs that are exact (same bytes) or near duplicates (phash)."""
    none = (np.zeros(0, np.int64), np.zeros(0, np.int64))
    if not len(ds.images):
        return none
    absent = "near-duplicates not grouped; split on the annotations alone"
    if ds.image_paths().isna().all():
        notes.say(f"no image folder known: {absent}")
        return none
    from .images import image_hashes, near_pairs
    hashes = image_hashes(ds)
    sha, phash = hashes["sha"], hashes["phash"]
    found = sha.notna().to_numpy()
    if not found.any():
        notes.say(f"image files absent: {absent}")
        return none
    if not found.all():
        notes.say(f"{int((~found).sum())} of {len(found)} image files absent or "
                  "unreadable: near-duplicates among them not grouped")
    a_parts, b_parts = [], []
    for key in (sha, phash):  # equal bytes, equal perceptual hash
        codes = pd.factorize(key)[0]
        a_parts.append(np.flatnonzero(codes >= 0))
        b_parts.append(_first_of_code(codes)[codes >= 0])
    has = phash.notna().to_numpy()
    known = np.flatnonzero(has)
    if len(known) and distance > 0:  # close perceptual hashes, compared once per value
        values, inverse = np.unique(phash[has].to_numpy(dtype=np.uint64),
                                    return_inverse=True)
        holder = known[np.unique(inverse, return_index=True)[1]]
        i, j, _ = near_pairs(values, distance)
        a_parts.append(holder[i])
        b_parts.append(holder[j])
    return np.concatenate(a_parts), np.concatenate(b_parts)


def components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected components of ``n`` nodes joined by edges ``a[i] - b[i]``, labelled 0..G-1
    in the order of each component's first node.

    scipy's ``connected_components`` on the edges as a sparse graph (a breadth-first search
    in C, from node 0 upwards: the labels come in first-node order).

    Example:
        >>> components(5, np.array([0, 3]), np.array([1, 4])).tolist()
        [0, 0, 1, 2, 2]
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    # bool weights: a repeated edge sums to True, never to a zero that would drop it
    graph = coo_matrix((np.ones(len(a), dtype=bool), (a, b)), shape=(n, n)).tocsr()
    return connected_components(graph, directed=False)[1].astype(np.int64)


# -- choosing and running the method ------------------------------------------------------

def _class_counts(ds: Dataset, units: np.ndarray) -> _ClassCounts:
    """Units x classes instance counts."""
    anns = ds.annotations
    pos = pd.Index(ds.images["id"]).get_indexer(anns["image_id"])
    ok = pos >= 0
    classes, _ = pd.factorize(anns["category_id"][ok])
    n_classes = int(classes.max()) + 1 if len(classes) else 0
    key = units[pos[ok]].astype(np.int64) * max(n_classes, 1) + classes
    key, count = np.unique(key, return_counts=True)
    unit, cls = np.divmod(key, max(n_classes, 1))
    indptr = np.concatenate([[0], np.cumsum(np.bincount(unit, minlength=units.max() + 1
                                                        if len(units) else 0))])
    return _ClassCounts(indptr, cls, count.astype(np.float64), n_classes)


def _choose_method(ds: Dataset, method: str) -> str:
    if method not in METHODS:
        raise AnnokitError(f"unknown split method {method!r}: choose one of "
                           f"{', '.join(METHODS)}")
    if method != "auto":
        return method
    anns = ds.annotations
    if not len(anns):
        return "random"
    per_image = anns.groupby("image_id")["category_id"].nunique()
    return "stratified" if (per_image <= 1).all() else "multilabel"


def _split_units(ds: Dataset, units: np.ndarray, ratios, method: str, seed: int,
                 existing: np.ndarray | None, names, notes: LayerNotes):
    """Each image's split as an index into ``all_names``, and ``all_names``: ``names``,
    then the names of kept splits outside them."""
    rng = np.random.default_rng(seed)
    n_units = int(units.max()) + 1 if len(units) else 0
    sizes = np.bincount(units, minlength=n_units).astype(np.float64)
    ratios = np.asarray(ratios, dtype=np.float64)
    k = len(ratios)
    locked, kept, all_names = _locked_units(units, n_units, existing, names, notes)
    counts = _class_counts(ds, units)
    if method == "stratified":
        counts = _strata(counts, sizes)
    elif method == "random":
        counts = _ClassCounts(np.zeros(n_units + 1, np.int64), counts.cls[:0], counts.cnt[:0], 0)
    indptr, cls, cnt, n_classes = counts
    # targets count every image except those kept in splits outside ``names``
    pool = locked < k
    unit_of = np.repeat(np.arange(n_units), np.diff(indptr))
    in_pool = pool[unit_of]
    totals = np.bincount(cls[in_pool], weights=cnt[in_pool], minlength=n_classes)
    desired = ratios[:, None] * totals[None, :]
    held = (locked >= 0) & pool
    entry_held = held[unit_of]
    np.subtract.at(desired, (locked[unit_of[entry_held]], cls[entry_held]), cnt[entry_held])
    desired_images = ratios * sizes[pool].sum()
    np.subtract.at(desired_images, locked[held], sizes[held])
    chosen = locked.copy()
    _stratify(counts, sizes, desired, desired_images, chosen, rng, ratios)
    empty = np.flatnonzero(chosen == -1)
    chosen[empty] = _fill(sizes[empty], desired_images, rng)
    result = chosen[units]
    if kept is not None:  # images that had a split keep it exactly
        result = np.where(kept >= 0, kept, result)
    return result, all_names


def _locked_units(units, n_units, existing, names, notes):
    """Units fixed by existing splits (index into ``all_names``; -1 where free), each
    image's own kept split (-1 where none) and ``all_names``: ``names`` then other splits
    found in ``existing``."""
    locked = np.full(n_units, -1)
    if existing is None:
        return locked, None, list(names)
    has = pd.notna(existing)
    others = sorted({str(v) for v in existing[has]} - set(names))
    all_names = [*names, *others]
    index = {name: i for i, name in enumerate(all_names)}
    kept = np.array([index[str(v)] if h else -1 for v, h in zip(existing, has)], np.int64)
    if not has.any():
        return locked, kept, all_names
    # a unit joins the most common split among its images that already have one
    table = pd.crosstab(units[has], kept[has])
    locked[table.index.to_numpy()] = table.columns.to_numpy()[table.to_numpy().argmax(axis=1)]
    spans = int(((table > 0).sum(axis=1) > 1).sum())
    if spans:
        notes.say(f"{spans} groups already span two splits; their images keep their "
                  "splits and new images join the group's main split")
    return locked, kept, all_names


def _strata(counts: _ClassCounts, sizes: np.ndarray) -> _ClassCounts:
    """One stratum per unit (its rarest class; no annotations: a stratum of its own),
    counted in images, for single-label stratification."""
    indptr, cls = counts.indptr, counts.cls
    n_units = len(sizes)
    if not len(cls):
        return _ClassCounts(np.arange(n_units + 1), np.zeros(n_units, np.int64), sizes, 1)
    freq = np.bincount(cls, minlength=cls.max() + 1)
    unit_of = np.repeat(np.arange(n_units), np.diff(indptr))
    rarity = pd.Series(freq[cls] * (cls.max() + 1) + cls).groupby(unit_of).min()
    stratum = np.full(n_units, cls.max() + 1)  # units without annotations
    stratum[rarity.index.to_numpy()] = rarity.to_numpy() % (cls.max() + 1)
    return _ClassCounts(np.arange(n_units + 1), stratum, sizes.copy(), int(cls.max()) + 2)


def _stratify(counts: _ClassCounts, sizes: np.ndarray, desired: np.ndarray,
              desired_images: np.ndarray, chosen: np.ndarray, rng: np.random.Generator,
              ratios: np.ndarray) -> None:
    """Iterative stratification (Sechidis et al. 2011) on instance counts, in place.

    Repeatedly take the class held by the fewest unassigned units and place each of those
    units (most instances first, ties in random order). Sechidis gives a unit to the split
    that still wants most of that class; with instance counts a unit brings several
    classes at once, so we give it to the split where it most reduces the squared gap
    between every class's share and its target (the rarest class still goes first, and
    a class weighs by 1/total^2 so rare classes count as much as frequent ones). Ties go
    to the split wanting the most images, then at random.
    """
    indptr, cls, cnt, _ = counts
    n_units, n_classes = len(sizes), desired.shape[1]
    if not n_classes:
        return
    unit_of = np.repeat(np.arange(n_units), np.diff(indptr))
    free = chosen[unit_of] == -1
    remaining = np.bincount(cls[free], minlength=n_classes)
    totals = desired.sum(axis=0) + np.bincount(cls[~free], weights=cnt[~free],
                                               minlength=n_classes)
    # entries grouped by class, largest count first, ties in random order
    shuffle = rng.permutation(len(cls))
    order = shuffle[np.lexsort((-cnt[shuffle], cls[shuffle]))]
    starts = np.searchsorted(cls[order], np.arange(n_classes + 1)).tolist()
    # the loop below is plain Python on lists: a few classes per unit and a few splits,
    # where numpy's per-call overhead would cost more than the arithmetic
    weight = (1.0 / np.maximum(totals, 1) ** 2).tolist()
    w_images = 1.0 / max(sizes.sum(), 1) ** 2
    k = len(ratios)
    scale = [1.0 / r if r > 0 else 0.0 for r in ratios.tolist()]
    closed = [0.0 if r > 0 else -np.inf for r in ratios.tolist()]  # ratio 0: nothing
    want = desired.tolist()
    want_images = desired_images.tolist()
    cls_l, cnt_l, size_l = cls.tolist(), cnt.tolist(), sizes.tolist()
    indptr_l, chosen_l, order_units = indptr.tolist(), chosen.tolist(), unit_of[order].tolist()
    remaining = remaining.tolist()
    while True:
        left = np.array(remaining)
        live = np.flatnonzero(left > 0)
        if not len(live):
            break
        label = int(live[np.argmin(left[live])])
        for u in order_units[starts[label]:starts[label + 1]]:
            if chosen_l[u] != -1:
                continue
            s, e = indptr_l[u], indptr_l[u + 1]
            cs, ns, size = cls_l[s:e], cnt_l[s:e], size_l[u]
            wn = [weight[c] * n for c, n in zip(cs, ns)]
            fixed = sum(x * n for x, n in zip(wn, ns)) + w_images * size * size
            # loss drop of putting the unit in split j:
            #   (sum_c w_c n_c (2 d_jc - n_c) + w_img s (2 d_j - s)) / r_j
            gain = [scale[j] * (2 * (sum(x * want[j][c] for x, c in zip(wn, cs))
                                     + w_images * size * want_images[j]) - fixed)
                    + closed[j] for j in range(k)]
            top = max(gain)
            best = [j for j in range(k) if gain[j] >= top - 1e-12 * abs(top)]
            if len(best) > 1:
                most = max(want_images[j] for j in best)
                best = [j for j in best if want_images[j] == most]
            j = best[0] if len(best) == 1 else best[int(rng.integers(len(best)))]
            chosen_l[u] = j
            row = want[j]
            for c, n in zip(cs, ns):
                row[c] -= n
                remaining[c] -= 1
            want_images[j] -= size
    chosen[:] = chosen_l
    desired[:] = want
    desired_images[:] = want_images


def _fill(sizes: np.ndarray, desired_images: np.ndarray, rng) -> np.ndarray:
    """Split index for units without annotations: shuffled, cut where each split's
    remaining image wants end (a want below zero counts as zero)."""
    if not len(sizes):
        return np.zeros(0, np.int64)
    want = np.clip(desired_images, 0, None)
    if want.sum() <= 0:
        want = np.ones_like(want)
    order = rng.permutation(len(sizes))
    middle = np.cumsum(sizes[order]) - sizes[order] / 2
    edges = np.cumsum(want) / want.sum() * sizes.sum()
    out = np.empty(len(sizes), np.int64)
    out[order] = np.minimum(np.searchsorted(edges, middle, side="right"), len(want) - 1)
    np.add.at(desired_images, out, -sizes)
    return out


def _set_splits(ds: Dataset, values: np.ndarray, notes: LayerNotes) -> None:
    """Set the images' split; if splits had their own image folders, keep paths valid."""
    roots = ds.meta.get("split_roots") or {}
    if roots:
        before = ds.image_paths()
        ds.images["split"] = values
        after = ds.image_paths()
        if not before.equals(after):
            _flatten_roots(ds, before)
            notes.say("images moved between split folders: file names are now relative "
                      f"to {ds.meta['image_root']}")
    else:
        ds.images["split"] = values


def _flatten_roots(ds: Dataset, paths: pd.Series) -> None:
    """Make every file_name relative to one image root (the common folder)."""
    known = paths.dropna()
    if not len(known):
        ds.meta["split_roots"] = {}
        return
    common = os.path.commonpath([os.path.dirname(p) for p in known])
    rel = [None if p is None else os.path.relpath(p, common).replace(os.sep, "/")
           for p in paths]
    ds.images["file_name"] = np.where(paths.notna(), np.array(rel, dtype=object),
                                      ds.images["file_name"].to_numpy(dtype=object))
    ds.meta["image_root"] = common
    ds.meta["split_roots"] = {}


def _split_order(image_split: pd.Series, targets) -> list[str]:
    present = list(pd.unique(image_split))
    first = [s for s in (list(targets or {}) or list(SPLIT_NAMES)) if s in present]
    if targets:
        first = list(targets)  # show the targets' splits even when empty
    rest = sorted((s for s in present if s not in first and s != "(none)"), key=str)
    return first + rest + (["(none)"] if "(none)" in present else [])
