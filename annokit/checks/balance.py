"""Class balance: counts per class and split, imbalance, rare classes, split drift, co-occurrence.

Every annotation counts as an instance of its class, whatever its kind (box, point or
image-level label). Splits come from ``images.split``; images without a split take part
in the overall counts but in no split comparison. A class with no instances at all is
left to ``labels`` (a category used by no annotation) and not flagged again here.

Example:
    >>> class_counts(annokit.read("BCCD"))  # doctest: +SKIP
       category_id       name  instances  images  val  train  test
    0            1        WBC        372     358   87    214    71
    1            2        RBC       4155     349  968   2382   805
    2            3  Platelets        361     201   83    209    69
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
import pandas as pd

from ..model import Dataset
from ..stats import NO_SPLIT, class_counts, cooccurrence, pair_counts  # noqa: F401 (re-exported)
from .labels import images_holding, where_text, with_images
from .registry import Thresholds, empty_findings, findings, register

TOP_PAIRS = 10          # co-occurring class pairs reported by balance.cooccurrence


def _plural(n, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _names(ds: Dataset, ids) -> list[str]:
    """Display names ('cat', or 'id 7' for an id with no category) for category ids."""
    names = ds.categories.drop_duplicates("id").set_index("id")["name"]
    found = pd.Series(np.asarray(ids)).map(names)
    return [f"'{n}'" if n is not None and n == n else f"id {i}" for i, n in zip(ids, found)]


@register("balance.class_count", "info")
def class_count(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """One info row per class: instances (the value), share, images and split counts."""
    table = class_counts(ds)
    if not len(table):
        return empty_findings()
    total = max(int(table["instances"].sum()), 1)
    share = 100.0 * table["instances"].to_numpy() / total
    text = [f"{n}: {_plural(i, 'instance')} ({s:.1f}%) in {_plural(m, 'image')}"
            for n, i, s, m in zip(_names(ds, table["category_id"]), table["instances"], share,
                                  table["images"])]
    splits = list(table.columns[4:])
    if splits:
        per_split = ["; " + ", ".join(f"{s} {c}" for s, c in zip(splits, row))
                     for row in table[splits].itertuples(index=False)]
        text = [a + b for a, b in zip(text, per_split)]
    return findings("balance.class_count", text, category_id=table["category_id"],
                    value=table["instances"].to_numpy(dtype=float))


@register("balance.imbalance", "warning")
def imbalance(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """Largest over smallest class instance count (classes with instances) above the limit."""
    table = class_counts(ds)
    table = table[table["instances"] > 0]
    if len(table) < 2:
        return empty_findings()
    big = table.loc[table["instances"].idxmax()]
    small = table.loc[table["instances"].idxmin()]
    ratio = big["instances"] / small["instances"]
    if ratio <= t.imbalance_ratio:
        return empty_findings()
    big_name, small_name = _names(ds, [big["category_id"], small["category_id"]])
    text = (f"class imbalance {ratio:.1f}x (limit {t.imbalance_ratio:g}): largest {big_name} "
            f"has {big['instances']} instances, smallest {small_name} {small['instances']}")
    return findings("balance.imbalance", [text], category_id=[small["category_id"]],
                    value=[ratio])


@register("balance.rare_class", "warning")
def rare_class(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """Classes with some instances, but fewer than ``min_class_count``."""
    table = class_counts(ds)
    rare = table[(table["instances"] > 0) & (table["instances"] < t.min_class_count)]
    files, total = images_holding(ds, rare["category_id"])
    text = [f"rare class {n}: {_plural(i, 'instance')} (minimum {t.min_class_count})"
            + where_text(f, m)
            for n, i, f, m in zip(_names(ds, rare["category_id"]), rare["instances"], files,
                                  total)]
    found = findings("balance.rare_class", text, category_id=rare["category_id"],
                     value=rare["instances"].to_numpy(dtype=float))
    return with_images(found, files)


def _split_table(ds: Dataset) -> pd.DataFrame:
    """Instances per class (rows, category ids) and split (columns) for splits holding any."""
    table = class_counts(ds).set_index("category_id")
    splits = [s for s in table.columns[3:] if s != NO_SPLIT and table[s].sum() > 0]
    table = table[splits]
    return table[table.sum(axis=1) > 0]


@register("balance.split_missing_class", "warning")
def split_missing_class(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """A class with instances in some split but none in another split that has annotations."""
    table = _split_table(ds)
    if table.shape[1] < 2:
        return empty_findings()
    counts = table.to_numpy()
    rows, cols = np.nonzero(counts == 0)
    cat_ids = table.index.to_numpy()[rows]
    split_names = table.columns.to_numpy()[cols]
    elsewhere = counts.sum(axis=1)[rows]
    others = counts.sum(axis=0)[cols]
    text = [f"class {n} is absent from split '{s}' ({_plural(o, 'instance')} of other "
            f"classes there) but has {_plural(e, 'instance')} in other splits"
            for n, s, o, e in zip(_names(ds, cat_ids), split_names, others, elsewhere)]
    return findings("balance.split_missing_class", text, category_id=cat_ids,
                    value=np.zeros(len(rows)))


def _shares(table: pd.DataFrame) -> np.ndarray:
    counts = table.to_numpy(dtype=np.float64)
    return counts / counts.sum(axis=0, keepdims=True)


@register("balance.split_share", "warning")
def split_share(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """A class whose share of its split's instances differs between splits by more than
    ``split_share_tolerance`` (value: the largest minus the smallest share)."""
    table = _split_table(ds)
    if table.shape[1] < 2:
        return empty_findings()
    shares = _shares(table)
    spread = shares.max(axis=1) - shares.min(axis=1)
    hit = np.nonzero(spread > t.split_share_tolerance)[0]
    splits = list(table.columns)
    text = [f"share of class {n} differs by {spread[i]:.3f} between splits "
            f"(limit {t.split_share_tolerance:g}): "
            + ", ".join(f"{s} {v:.3f}" for s, v in zip(splits, shares[i]))
            for n, i in zip(_names(ds, table.index[hit]), hit)]
    return findings("balance.split_share", text, category_id=table.index.to_numpy()[hit],
                    value=spread[hit])


def _entropy_terms(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Column sums of p * log2(p / q), taking 0 * log 0 as 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log2(p / q), 0.0)
    return terms.sum(axis=0)


def js_divergence(p: ArrayLike, q: ArrayLike) -> np.ndarray:
    """Jensen-Shannon divergence (base 2, in [0, 1]) between distributions in columns.

    Example:
        >>> float(js_divergence([1.0, 0.0], [0.0, 1.0]))
        1.0
        >>> float(js_divergence([0.5, 0.5], [0.5, 0.5]))
        0.0
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    m = (p + q) / 2
    return 0.5 * _entropy_terms(p, m) + 0.5 * _entropy_terms(q, m)


@register("balance.split_divergence", "info")
def split_divergence(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """Per split, the Jensen-Shannon divergence of its class distribution from the whole's."""
    table = _split_table(ds)
    if table.shape[1] < 2:
        return empty_findings()
    shares = _shares(table)
    whole = table.sum(axis=1).to_numpy(dtype=np.float64)
    whole = (whole / whole.sum())[:, None]
    jsd = js_divergence(shares, np.broadcast_to(whole, shares.shape))
    text = [f"split '{s}' ({n} instances): Jensen-Shannon divergence {d:.4g} from the "
            "whole dataset's class distribution"
            for s, n, d in zip(table.columns, table.sum(axis=0), jsd)]
    return findings("balance.split_divergence", text, value=jsd)


@register("balance.cooccurrence", "info")
def cooccurrence_pairs(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """The most frequent pairs of different classes sharing an image (value: images)."""
    ids, a, b, together = pair_counts(ds)
    alone = np.zeros(len(ids), dtype=np.int64)  # images holding each class
    alone[a[a == b]] = together[a == b]
    keep = np.nonzero(a != b)[0]
    top = keep[np.argsort(-together[keep], kind="stable")[:TOP_PAIRS]]
    a, b, together = a[top], b[top], together[top]
    names_a, names_b = _names(ds, ids[a]), _names(ds, ids[b])
    da, db = alone[a], alone[b]
    text = [f"classes {na} and {nb} share {_plural(n, 'image')} ({100 * n / da:.0f}% of "
            f"the images with {na}, {100 * n / db:.0f}% of those with {nb})"
            for na, nb, n, da, db in zip(names_a, names_b, together, da, db)]
    return findings("balance.cooccurrence", text, category_id=ids[a],
                    value=together.astype(float))


@register("balance.split_overlap", "error")
def split_overlap(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """Images the source listed in two splits (Darknet's train = valid, a list repeated).

    A dataset holds each image once, so the reader records the overlap in
    ``meta['split_overlaps']``; the held-out split is then not held out.
    """
    overlaps = ds.meta.get("split_overlaps") or []
    if not overlaps:
        return empty_findings()
    text = [f"{o['images']} images are listed in both '{o['splits'][0]}' and "
            f"'{o['splits'][1]}': the held-out split is not held out" for o in overlaps]
    return findings("balance.split_overlap", text, value=[o["images"] for o in overlaps])
