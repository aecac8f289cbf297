"""Centre points: boxes to points and back, with a size given or learned per class.

A ``point`` annotation holds its centre in ``x, y`` and no size (``w, h`` NaN), as
counting tasks and point-labelling tools (Nyckel, crowd counting) use them. Going from
box to point takes the box centre; going back needs a size:

- given: one ``(w, h)`` for every class, or ``{class name: (w, h)}``;
- learned: the median width and height of each class's boxes, in the dataset itself or in
  a ``reference`` dataset (matched by class name); a class without boxes takes the median
  over all boxes. Boxes with no area (``w <= 0`` or ``h <= 0``) teach nothing.

New boxes are clipped to the image where its size is known (the centre moves only for a
box that would leave the image). Everything is vectorised over whole columns.

Example:
    >>> import annokit
    >>> from annokit.points import boxes_to_points, points_to_boxes
    >>> ds = annokit.read("fixtures/csv/boxes.csv", "csv")   # doctest: +SKIP
    >>> back = points_to_boxes(boxes_to_points(ds))          # doctest: +SKIP
"""
from __future__ import annotations

from typing import Mapping, Union

import numpy as np
import pandas as pd

from .errors import AnnokitError
from .geometry import box_centers, boxes_from_centers
from .model import Dataset

Size = Union[float, tuple[float, float], Mapping[str, Union[float, tuple[float, float]]]]


def boxes_to_points(ds: Dataset) -> Dataset:
    """Each box becomes a ``point`` at its centre; ids, classes, images and scores are kept.

    Points and labels are kept as they are; a box's segmentation goes (a point has none).

    Example:
        >>> import pandas as pd
        >>> ds = Dataset(annotations=pd.DataFrame({"image_id": [1], "category_id": [1],
        ...     "x": [10.0], "y": [20.0], "w": [30.0], "h": [40.0]}),
        ...     images=pd.DataFrame({"id": [1], "file_name": ["a.jpg"]}),
        ...     categories=pd.DataFrame({"id": [1], "name": ["cat"]}))
        >>> boxes_to_points(ds).annotations[["kind", "x", "y", "w"]].values.tolist()
        [['point', 25.0, 40.0, nan]]
    """
    anns = ds.annotations.copy()
    box = (anns["kind"] == "box").to_numpy()
    centres = box_centers(anns.loc[box, ["x", "y", "w", "h"]].to_numpy(float))
    x, y = anns["x"].to_numpy(float, copy=True), anns["y"].to_numpy(float, copy=True)
    x[box], y[box] = centres[:, 0], centres[:, 1]
    w, h = anns["w"].to_numpy(float, copy=True), anns["h"].to_numpy(float, copy=True)
    w[box], h[box] = np.nan, np.nan
    kind = anns["kind"].to_numpy(dtype=object, copy=True)
    kind[box] = "point"
    segmentation = anns["segmentation"].to_numpy(dtype=object, copy=True)
    segmentation[box] = None
    anns = anns.assign(x=x, y=y, w=w, h=h, kind=kind, segmentation=segmentation)
    return Dataset(ds.categories.copy(), ds.images.copy(), anns, dict(ds.meta))


def learn_sizes(ds: Dataset, reference: Dataset | None = None) -> pd.DataFrame:
    """Median box width and height per class of ``ds``, learned from ``reference`` (or
    ``ds``) by class name.

    Columns: ``name``, ``w``, ``h``, ``boxes`` (how many boxes of the class taught it) and
    ``source`` ('class', or 'all' for a class without boxes, which takes the median over
    every box). Raises ``AnnokitError`` when there are no boxes to learn from.

    Example:
        >>> learn_sizes(ds)  # doctest: +SKIP
          name     w     h  boxes source
        0  cat  20.0  20.0      2  class
        1  dog  28.0  30.0      1  class
    """
    teacher = reference if reference is not None else ds
    anns = teacher.annotations
    w, h = anns["w"].to_numpy(float), anns["h"].to_numpy(float)
    usable = (anns["kind"] == "box").to_numpy() & (w > 0) & (h > 0)
    if not usable.any():
        raise AnnokitError("no box size to learn from: the dataset (and reference) has no "
                           "boxes with an area; give size=(w, h) or size={class: (w, h)}")
    names = teacher.categories.set_index("id")["name"].astype(str)
    boxes = pd.DataFrame({"name": anns["category_id"][usable].map(names).to_numpy(),
                          "w": w[usable], "h": h[usable]})
    per_class = boxes.groupby("name").agg(w=("w", "median"), h=("h", "median"),
                                          boxes=("w", "size"))
    table = pd.DataFrame({"name": ds.categories["name"].astype(str).to_numpy()})
    table = table.join(per_class, on="name")
    learned = table["boxes"].notna()
    table["w"] = table["w"].fillna(float(np.median(boxes["w"])))
    table["h"] = table["h"].fillna(float(np.median(boxes["h"])))
    table["boxes"] = table["boxes"].fillna(0).astype(np.int64)
    table["source"] = np.where(learned, "class", "all")
    return table


def points_to_boxes(ds: Dataset, size: Size | None = None, *,
                    reference: Dataset | None = None) -> Dataset:
    """Each ``point`` becomes a box of its class's size centred on it, clipped to the image.

    ``size``: None (learn every class's median box size from ``ds``, or from
    ``reference``), one ``(w, h)`` (or one number for a square) for every class, or
    ``{class name: (w, h)}`` (classes it leaves out are learned). Boxes and labels are
    kept; ids, classes, images and scores too.

    Example:
        >>> pts = boxes_to_points(ds)  # doctest: +SKIP
        >>> points_to_boxes(pts, (30, 40)).annotations[["x", "y", "w", "h"]]  # doctest: +SKIP
    """
    anns = ds.annotations
    point = (anns["kind"] == "point").to_numpy()
    sizes = point_sizes(ds, size, reference=reference)[point]
    images = ds.images.set_index("id")
    at = images.index.get_indexer(anns["image_id"][point])
    width = _image_side(images["width"], at)
    height = _image_side(images["height"], at)
    centres = anns.loc[point, ["x", "y"]].to_numpy(float)
    boxes = boxes_from_centers(centres, sizes)
    known = ~np.isnan(width) & ~np.isnan(height)  # clip only where the image size is known
    boxes[known] = boxes_from_centers(centres[known], sizes[known], width[known],
                                      height[known])
    out = anns.copy()
    for k, col in enumerate(("x", "y", "w", "h")):
        values = out[col].to_numpy(float, copy=True)
        values[point] = boxes[:, k]
        out[col] = values
    kind = out["kind"].to_numpy(dtype=object, copy=True)
    kind[point] = "box"
    out["kind"] = kind
    return Dataset(ds.categories.copy(), ds.images.copy(), out, dict(ds.meta))


def point_sizes(ds: Dataset, size: Size | None = None, *,
                reference: Dataset | None = None) -> np.ndarray:
    """The ``(w, h)`` each annotation of ``ds`` would have as a box of its class: shape (N, 2).

    Rules as for :func:`points_to_boxes`; only the classes of ``point`` annotations must
    have a size (others may be NaN). Used by point evaluation for object sizes.

    Example:
        >>> point_sizes(ds, {"cat": (10, 20), "dog": 8})  # doctest: +SKIP
        array([[10., 20.], [ 8.,  8.]])
    """
    names = ds.categories["name"].astype(str).tolist()
    at = pd.Index(ds.categories["id"]).get_indexer(ds.annotations["category_id"])
    needed = np.zeros(len(names), dtype=bool)  # classes of the points: the others need none
    needed[at[(at >= 0) & (ds.annotations["kind"] == "point").to_numpy()]] = True
    if size is not None and not isinstance(size, Mapping):
        table = np.broadcast_to(_pair(size, "size"), (len(names), 2)).copy()
    else:
        given = {str(k): _pair(v, f"size of {k!r}") for k, v in (size or {}).items()}
        table = np.full((len(names), 2), np.nan)
        for i, name in enumerate(names):
            if name in given:
                table[i] = given[name]
        missing = np.isnan(table[:, 0]) & needed
        if missing.any():
            learned = learn_sizes(ds, reference)
            table[missing] = learned[["w", "h"]].to_numpy(float)[missing]
    out = np.full((len(at), 2), np.nan)
    out[at >= 0] = table[at[at >= 0]]
    return out


def _pair(value, what: str) -> np.ndarray:
    try:
        pair = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        pair = np.array([])
    if pair.ndim == 0:
        pair = np.array([pair, pair])
    if pair.shape != (2,) or not np.all(np.isfinite(pair)) or np.any(pair <= 0):
        raise AnnokitError(f"{what} must be a positive number or (width, height), "
                           f"not {value!r}")
    return pair


def _image_side(values: pd.Series, at: np.ndarray) -> np.ndarray:
    side = values.to_numpy(dtype=float, na_value=np.nan)
    out = np.full(len(at), np.nan)
    out[at >= 0] = side[at[at >= 0]]
    return out
