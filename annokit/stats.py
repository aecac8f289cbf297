"""Counting classes: per class and split, and which classes share images.

Shared by ``Dataset.summary``, the balance checks, the QC report and rebalancing, so that
every place counts the same way. Every annotation counts as an instance of its class,
whatever its kind; all counting is ``np.bincount`` over integer codes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # stats reads a Dataset's columns; it never builds one
    from .model import Dataset

NO_SPLIT = "(no split)"  # class_counts column for images without a split, when others have one


def codes(ds: Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int,
                               np.ndarray, list[str]]:
    """Integer codes of every annotation, for counting with ``np.bincount``.

    Returns ``(ids, names, cat, image, n_images, split, splits)``: the category ids (the
    categories' own, then undefined ids used by annotations) and their names (None for
    undefined), each annotation's position in ``ids``, a code of its image (``0 ..
    n_images - 1``), and the code of its image's split (-1: the image has no split, -2:
    the image is missing), with the split names in order of first appearance.
    """
    anns = ds.annotations
    cats = ds.categories.drop_duplicates("id")
    ann_cat = anns["category_id"].to_numpy(dtype=np.int64)
    known = pd.Index(cats["id"].to_numpy(dtype=np.int64))
    cat = known.get_indexer(ann_cat)
    orphans = np.unique(ann_cat[cat < 0])
    ids = np.r_[known.to_numpy(), orphans]
    names = np.r_[cats["name"].to_numpy(dtype=object), np.full(len(orphans), None, object)]
    if len(orphans):
        cat = pd.Index(ids).get_indexer(pd.Index(ann_cat))
    images = ds.images.drop_duplicates("id")
    ann_image = anns["image_id"].to_numpy(dtype=np.int64)
    image = pd.Index(images["id"].to_numpy(dtype=np.int64)).get_indexer(ann_image)
    split_of_image, splits = pd.factorize(images["split"].to_numpy(dtype=object))
    split = np.where(image >= 0, split_of_image[image], -2)
    n_images = len(images)
    gone = image < 0
    if gone.any():  # annotations of missing images: codes after the real images
        image[gone] = n_images + pd.factorize(ann_image[gone])[0]
        n_images = int(image.max()) + 1
    return ids, names, cat, image, n_images, split, [str(x) for x in splits]


def distinct(keys: np.ndarray, size: int) -> np.ndarray:
    """The distinct values of ``keys`` (all in ``0 .. size - 1``), sorted."""
    if size <= 1 << 26:  # a presence mask beats sorting
        present = np.zeros(size, dtype=bool)
        present[keys] = True
        return np.flatnonzero(present)
    keys = np.sort(keys)
    return keys[np.r_[True, keys[1:] != keys[:-1]]] if len(keys) else keys


def class_counts(ds: Dataset) -> pd.DataFrame:
    """Per category: name, instances, images holding it, and instances per split.

    One row per category of ``ds.categories`` (in their order, zero counts included),
    then one per category id that annotations use but no category defines (name None).
    Split columns are named after the splits, in order of first appearance; images
    without a split get a ``"(no split)"`` column when other images have one.

    Example:
        >>> class_counts(ds)  # doctest: +SKIP
           category_id  name  instances  images  train  val
        0            1   cat          5       3      4    1
        1            2   dog          2       2      2    0
    """
    ids, names, cat, image, n_images, split, splits = codes(ds)
    k = len(ids)
    pairs = distinct(image.astype(np.int64) * k + cat, n_images * k)  # (image, class)
    table = pd.DataFrame({
        "category_id": ids,
        "name": pd.Series(names, dtype=object),
        "instances": np.bincount(cat, minlength=k),
        "images": np.bincount(pairs % k if k else pairs, minlength=k),
    })
    if splits:
        width = len(splits) + 1  # column 0: images without a split
        have = split >= -1
        by_split = np.bincount(cat[have] * width + split[have] + 1,
                               minlength=k * width).reshape(k, width)
        for i, name in enumerate(splits):
            table[name] = by_split[:, i + 1]
        if ds.images["split"].isna().any():
            table[NO_SPLIT] = by_split[:, 0]
    return table.astype({c: "int64" for c in table.columns if c != "name"})


def pair_counts(ds: Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(ids, a, b, n)``: classes ``ids[a]`` and ``ids[b]`` share ``n`` images (a <= b)."""
    ids, _, cat, image, n_images, _, _ = codes(ds)
    k = max(len(ids), 1)
    keys = distinct(image.astype(np.int64) * k + cat, n_images * k)  # sorted by image
    if not len(keys):
        return ids, *(np.zeros(0, np.int64),) * 3
    img, cls = keys // k, keys % k
    # pair each class of an image with itself and the classes after it in the same image
    starts = np.r_[0, np.nonzero(np.diff(img))[0] + 1]
    ends = np.repeat(np.r_[starts[1:], len(img)], np.diff(np.r_[starts, len(img)]))
    per_row = ends - np.arange(len(img))
    left = np.repeat(np.arange(len(img)), per_row)
    right = left + np.arange(len(left)) - np.repeat(np.cumsum(per_row) - per_row, per_row)
    pair = cls[left] * k + cls[right]  # cls rises within an image, so a <= b
    if k * k <= 1 << 24:
        n = np.bincount(pair, minlength=k * k)
        pair = np.flatnonzero(n)
        n = n[pair]
    else:
        pair = np.sort(pair)
        edge = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1], True])
        pair, n = pair[edge[:-1]], np.diff(edge)
    return ids, pair // k, pair % k, n


def cooccurrence(ds: Dataset) -> pd.DataFrame:
    """Category x category table of how many images hold both classes.

    The diagonal is the number of images holding the class. Index and columns are the
    category ids of ``ds.categories`` (plus undefined ids that annotations use).

    Example:
        >>> cooccurrence(ds)  # doctest: +SKIP
        category_id  1  2
        category_id
        1            3  1
        2            1  2
    """
    ids, a, b, n = pair_counts(ds)
    counts = np.zeros((len(ids), len(ids)), dtype=np.int64)
    counts[a, b] = n
    counts[b, a] = n
    index = pd.Index(ids, name="category_id")
    return pd.DataFrame(counts, index=index, columns=index.copy())
