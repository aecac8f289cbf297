"""Dataset-level conversions to image-level labels (classification data).

An image-level label is an annotation of kind ``'label'`` with no geometry (``x, y, w, h``
NaN), one row per (image, class); a multi-label image has several such rows.

Example:
    >>> import annokit
    >>> from annokit.labels import to_image_labels, is_single_label
    >>> ds = annokit.read("fixtures/voc/root")                  # doctest: +SKIP
    >>> labels = to_image_labels(ds)                            # doctest: +SKIP
    >>> is_single_label(labels)                                 # doctest: +SKIP
    False
"""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd

from .model import Dataset


def to_image_labels(ds: Dataset) -> Dataset:
    """Every class present in an image (boxes, points or labels) becomes one 'label'.

    Images and categories are kept as they are; images without annotations keep no
    labels. A label's ``score`` is the highest score of its class in the image (NaN for
    ground truth). Labels are numbered 1..M in (image id, category id) order.

    Example:
        >>> import pandas as pd
        >>> ds = Dataset(pd.DataFrame({"id": [1, 2], "name": ["cat", "dog"]}),
        ...              pd.DataFrame({"id": [1, 2], "file_name": ["a.jpg", "b.jpg"]}),
        ...              pd.DataFrame({"image_id": [1, 1, 1], "category_id": [2, 1, 2],
        ...                            "x": [0.0, 5, 9], "y": 0.0, "w": 1.0, "h": 1.0}))
        >>> to_image_labels(ds).annotations[["id", "image_id", "category_id", "kind"]]
           id  image_id  category_id   kind
        0   1         1            1  label
        1   2         1            2  label
    """
    anns = ds.annotations
    pairs = (anns.groupby(["image_id", "category_id"], sort=True)["score"]
             .max().reset_index())  # max skips NaN: ground truth stays NaN
    labels = pd.DataFrame({
        "id": np.arange(1, len(pairs) + 1, dtype=np.int64),
        "image_id": pairs["image_id"].to_numpy(np.int64),
        "category_id": pairs["category_id"].to_numpy(np.int64),
        "kind": "label",
        "score": pairs["score"].to_numpy(np.float64),
    })
    return Dataset(ds.categories.copy(), ds.images.copy(), labels, copy.deepcopy(ds.meta))


def classes_per_image(ds: Dataset) -> pd.Series:
    """Number of distinct classes annotated on each image, indexed by image id (0 for none).

    Example:
        >>> classes_per_image(ds).tolist()  # doctest: +SKIP
        [2, 0]
    """
    anns = ds.annotations
    counts = anns.drop_duplicates(["image_id", "category_id"])["image_id"].value_counts()
    ids = ds.images["id"]
    return pd.Series(ids.map(counts).fillna(0).astype(np.int64).to_numpy(),
                     index=pd.Index(ids.to_numpy(), name="image_id"), name="classes")


def is_single_label(ds: Dataset) -> bool:
    """True when no image carries more than one class (over all annotation kinds).

    A detection dataset whose images each show one class counts as single-label; images
    with no annotation at all do not break it.

    Example:
        >>> is_single_label(to_image_labels(ds))  # doctest: +SKIP
        False
    """
    anns = ds.annotations
    if anns.empty:
        return True
    return not anns.drop_duplicates(["image_id", "category_id"])["image_id"].duplicated().any()
