"""Label checks: ids and names that do not add up, and attributes set inconsistently.

Category, image and annotation ids must be unique and must point at something; category
names must not repeat or nearly repeat ("Car", "car ", "cars", "carr"); an attribute
column (VOC ``difficult``, ``truncated``, ``occluded``, ``pose``, a COCO extra) that most
objects of a class carry should not be missing on a few.

Example:
    >>> from annokit.checks import check
    >>> check(ds, checks=["labels"])[["check", "message"]]  # doctest: +SKIP
                          check                                      message
    0  labels.unknown_category  category id 7 is not among the categories
"""
from __future__ import annotations

import re

import numpy as np
from numpy.typing import ArrayLike
import pandas as pd

from ..model import ANNOTATION_SCHEMA, Dataset
from .registry import Thresholds, findings, register

# names shorter than this are compared for case, spacing and plurals only: "cat" and
# "car" are one edit apart and both COCO classes (no other COCO or VOC pair is that close)
MIN_EDIT_NAME_LENGTH = 4
MAX_IMAGES = 20  # images a category-level finding names (its ``images`` column)
SHOWN_IMAGES = 3  # of which the message shows the first few


def _names(ds: Dataset, ids) -> list[str]:
    names = ds.categories.drop_duplicates("id").set_index("id")["name"]
    return [str(n) for n in pd.Series(np.asarray(ids)).map(names).fillna("?")]


def images_holding(ds: Dataset, category_ids: ArrayLike, limit: int = MAX_IMAGES
                   ) -> tuple[list[list[str]], np.ndarray]:
    """For each category id: the first ``limit`` images (file names, by image id) holding
    one of its annotations, and how many images hold one in all.

    Example:
        >>> files, total = images_holding(ds, [3])  # doctest: +SKIP
        >>> files, total                            # doctest: +SKIP
        ([['a.jpg', 'b.jpg']], array([2]))
    """
    ids = list(np.asarray(category_ids).tolist())
    a = ds.annotations[["category_id", "image_id"]]
    a = a[a["category_id"].isin(ids)].drop_duplicates().sort_values(["category_id", "image_id"])
    files = ds.images.drop_duplicates("id").set_index("id")["file_name"]
    names = a["image_id"].map(files)
    a = a.assign(file=names.where(names.notna(), "image id " + a["image_id"].astype(str)))
    total = a.groupby("category_id").size().reindex(ids, fill_value=0).to_numpy()
    lists = a.groupby("category_id").head(limit).groupby("category_id")["file"].agg(list)
    return [list(lists.get(c, [])) for c in ids], total


def where_text(files: list[str], total: int) -> str:
    """'; in 3 images: a.jpg, b.jpg, c.jpg' (with ', ...' when there are more), or ''."""
    if not total:
        return ""
    shown = ", ".join(str(f) for f in files[:SHOWN_IMAGES])
    more = ", ..." if total > SHOWN_IMAGES else ""
    return f"; in {total} image{'s' if total > 1 else ''}: {shown}{more}"


def with_images(found: pd.DataFrame, files: list[list[str]]) -> pd.DataFrame:
    """Findings with an ``images`` column: the file names that fix them (report field)."""
    found = found.copy()
    found["images"] = pd.Series(files, index=found.index, dtype=object)
    return found


# -- ids that point nowhere or repeat ---------------------------------------------------

@register("labels.unknown_category", "error")
def unknown_category(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """Annotations whose ``category_id`` is not a category; ``value`` is that id."""
    a, message = _dangling(ds, "category_id", ds.categories, "category id {} is not among "
                           "the categories")
    return findings("labels.unknown_category", message, image_id=a["image_id"],
                    annotation_id=a["id"], category_id=a["category_id"],
                    value=a["category_id"].to_numpy(np.float64))


@register("labels.unused_category", "warning")
def unused_category(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """Categories that no annotation uses."""
    c = ds.categories
    c = c[~c["id"].isin(ds.annotations["category_id"])]
    message = [f"category '{n}' (id {i}) has no annotations"
               for n, i in zip(c["name"].tolist(), c["id"].tolist())]
    return findings("labels.unused_category", message, category_id=c["id"], value=0.0)


@register("labels.missing_image", "error")
def missing_image(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """Annotations whose ``image_id`` is not an image."""
    a, message = _dangling(ds, "image_id", ds.images, "image id {} is not among the images")
    return findings("labels.missing_image", message, image_id=a["image_id"],
                    annotation_id=a["id"], category_id=a["category_id"])


def _dangling(ds: Dataset, column: str, table: pd.DataFrame, message: str
              ) -> tuple[pd.DataFrame, list[str]]:
    """The annotations whose ``column`` is no id of ``table``, and ``message`` formatted
    with each one's value."""
    a = ds.annotations
    a = a[~a[column].isin(table["id"])]
    return a, [message.format(v) for v in a[column].tolist()]


def _repeats(table: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows whose ``id`` an earlier row already has, and how often each id is used."""
    uses = table.groupby("id")["id"].transform("size").to_numpy()
    again = table["id"].duplicated().to_numpy()
    return table[again], uses[again]


@register("labels.duplicate_annotation_id", "error")
def duplicate_annotation_id(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """Annotation ids used more than once: one finding per repeat after the first;
    ``value`` is how many annotations share the id."""
    a, uses = _repeats(ds.annotations)
    message = [f"annotation id {i} is used by {n} annotations" for i, n in
               zip(a["id"].tolist(), uses.tolist())]
    return findings("labels.duplicate_annotation_id", message, image_id=a["image_id"],
                    annotation_id=a["id"], category_id=a["category_id"], value=uses)


@register("labels.duplicate_image_id", "error")
def duplicate_image_id(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """Image ids used by more than one image: one finding per repeat after the first;
    ``value`` is how many images share the id."""
    images, uses = _repeats(ds.images)
    first = ds.images.drop_duplicates("id").set_index("id")["file_name"]
    message = [f"image id {i} of '{f}' is also the id of '{first[i]}' ({n} images share it)"
               for i, f, n in zip(images["id"].tolist(), images["file_name"].tolist(),
                                  uses.tolist())]
    return findings("labels.duplicate_image_id", message, image_id=images["id"], value=uses)


# Shaped like duplicate_image_id (both name an id's first holder), but a repeat means
# another thing: a repeated image id is two files; a repeated category id, two names for
# the same boxes. Each message says its own.
@register("labels.duplicate_category_id", "error")
def duplicate_category_id(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """Category ids used by more than one category (which name do its boxes have?);
    ``value`` is how many categories share the id."""
    cats, uses = _repeats(ds.categories)
    first = ds.categories.drop_duplicates("id").set_index("id")["name"]
    message = [f"category id {i} is both '{first[i]}' and '{n}'"
               for i, n in zip(cats["id"].tolist(), cats["name"].tolist())]
    return findings("labels.duplicate_category_id", message, category_id=cats["id"],
                    value=uses)


@register("labels.empty_image", "info")
def empty_image(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """Images with no annotation of any kind (background images, or forgotten ones)."""
    images = ds.images[~ds.images["id"].isin(ds.annotations["image_id"])]
    message = [f"image '{f}' has no annotations" for f in images["file_name"].tolist()]
    return findings("labels.empty_image", message, image_id=images["id"], value=0.0)


# -- category names ----------------------------------------------------------------------

@register("labels.duplicate_category_name", "error")
def duplicate_category_name(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """Categories with exactly the same name as an earlier one (boxes of one class split
    over two ids); ``value`` is how many categories have the name."""
    c = ds.categories.assign(name=ds.categories["name"].astype(str))
    uses = c.groupby("name")["name"].transform("size").to_numpy()
    again = c["name"].duplicated().to_numpy()
    first = c.drop_duplicates("name").set_index("name")["id"]
    c, uses = c[again], uses[again]
    message = [f"category id {i} has the same name '{n}' as category id {first[n]}"
               for i, n in zip(c["id"].tolist(), c["name"].tolist())]
    return findings("labels.duplicate_category_name", message, category_id=c["id"],
                    value=uses)


def normalize_name(name: object) -> str:
    """A category name in lower case without spaces, ``_`` or ``-``.

    Example:
        >>> normalize_name(" Traffic_Light "), normalize_name("potted plant")
        ('trafficlight', 'pottedplant')
    """
    return re.sub(r"[\s_\-]+", "", str(name).lower())


def _singulars(name: str) -> set[str]:
    """The name and what it would be without an English plural ending."""
    forms = {name}
    if name.endswith("ies") and len(name) > 3:
        forms.add(name[:-3] + "y")
    if name.endswith("es") and len(name) > 2:
        forms.add(name[:-2])
    if name.endswith("s") and len(name) > 1:
        forms.add(name[:-1])
    return forms


def _deletions(word: str, k: int) -> set[str]:
    """Every string made from ``word`` by deleting at most ``k`` characters."""
    found, frontier = {word}, {word}
    for _ in range(k):
        frontier = {w[:i] + w[i + 1:] for w in frontier for i in range(len(w))}
        found |= frontier
    return found


def edit_distance(a: str, b: str, limit: int | None = None) -> int:
    """Levenshtein distance; stops early and returns ``limit + 1`` once it is beyond ``limit``.

    Example:
        >>> edit_distance("carr", "car"), edit_distance("kitten", "sitting")
        (1, 3)
    """
    if len(a) < len(b):
        a, b = b, a
    if limit is not None and len(a) - len(b) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (ca != cb)))
        if limit is not None and min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


def _similar_pairs(names: list[str], k: int) -> set[tuple[int, int]]:
    """Index pairs ``(i, j)``, ``i < j``, of normalised names that may be alike: sharing a
    singular form, or (long enough) a deletion variant within ``k`` edits (a necessary
    condition for edit distance <= k), so not every pair is compared."""
    buckets: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        keys = set(_singulars(name))
        if len(name) >= MIN_EDIT_NAME_LENGTH and k > 0:
            keys |= {"\0" + d for d in _deletions(name, min(k, len(name)))}
        for key in keys:
            buckets.setdefault(key, []).append(i)
    pairs: set[tuple[int, int]] = set()
    for members in buckets.values():
        pairs.update((a, b) for n, a in enumerate(members) for b in members[n + 1:])
    return pairs


@register("labels.similar_category_name", "warning")
def similar_category_name(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """Pairs of categories whose names differ only in case, spacing or ``_``/``-``, by a
    plural ending, or by at most ``name_edit_distance`` edits (names of at least 4
    characters); ``value`` is the edit distance between the normalised names."""
    c = ds.categories
    raw = [str(n) for n in c["name"].tolist()]
    norm = [normalize_name(n) for n in raw]
    k = int(t.name_edit_distance)
    first, second, value, why = [], [], [], []
    for i, j in sorted(_similar_pairs(norm, k)):
        if raw[i] == raw[j]:
            continue  # duplicate_category_name's
        a, b = norm[i], norm[j]
        d = edit_distance(a, b)
        if a == b:
            reason = "differs only in case or spacing"
        elif _singulars(a) & _singulars(b):
            reason = "a plural of it"
        elif d <= k and min(len(a), len(b)) >= MIN_EDIT_NAME_LENGTH:
            reason = f"{d} edit{'s' if d > 1 else ''} away"
        else:
            continue
        first.append(i)
        second.append(j)
        value.append(d)
        why.append(reason)
    ids = c["id"].to_numpy()
    # the variant with fewer annotations is the one to fix: name it and its images
    used = ds.annotations["category_id"].value_counts().reindex(ids, fill_value=0).to_numpy()
    minor = [(j, i) if used[j] <= used[i] else (i, j) for i, j in zip(first, second)]
    files, total = images_holding(ds, [ids[j] for j, _ in minor])
    message = [f"category '{raw[j]}' (id {ids[j]}) looks like '{raw[i]}' (id {ids[i]}): {r}"
               + where_text(f, n) for (j, i), r, f, n in zip(minor, why, files, total)]
    found = findings("labels.similar_category_name", message,
                     category_id=np.array([ids[j] for j, _ in minor], dtype=np.int64),
                     value=np.asarray(value, dtype=np.float64))
    return with_images(found, files)


# -- attributes ------------------------------------------------------------------------

_PLURAL = {"box": "boxes"}


def attribute_columns(ds: Dataset) -> list[str]:
    """Annotation columns beyond the core model: the pass-through attributes.

    Example:
        >>> attribute_columns(ds)  # doctest: +SKIP
        ['difficult', 'truncated', 'pose']
    """
    return [c for c in ds.annotations.columns if c not in ANNOTATION_SCHEMA]


@register("labels.missing_attribute", "warning")
def missing_attribute(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """Objects without an attribute that at least ``attribute_majority`` (but not all) of
    their class's objects of the same kind have (NA, None and "" count as missing);
    ``value`` is the share of the class that has it."""
    a = ds.annotations
    groups = [a["category_id"].to_numpy(), a["kind"].to_numpy()]
    parts = []
    for column in attribute_columns(ds):
        values = a[column]
        present = values.notna().to_numpy()
        if values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
            present = present & (values.astype(object).to_numpy() != "")
        share = pd.Series(present).groupby(groups).transform("mean").to_numpy()
        count = pd.Series(present).groupby(groups).transform("size").to_numpy()
        hit = ~present & (share >= t.attribute_majority)
        rows, share, count = a[hit], share[hit], count[hit]
        names = _names(ds, rows["category_id"])
        message = [f"no '{column}', though {s:.0%} of class '{n}' {_PLURAL.get(k, k + 's')} "
                   f"({round(s * m)} of {m}) have one"
                   for s, n, k, m in zip(share.tolist(), names, rows["kind"].tolist(),
                                         count.tolist())]
        parts.append(findings("labels.missing_attribute", message, image_id=rows["image_id"],
                              annotation_id=rows["id"], category_id=rows["category_id"],
                              value=share))
    if not parts:
        return findings("labels.missing_attribute", [])
    return pd.concat(parts, ignore_index=True)
