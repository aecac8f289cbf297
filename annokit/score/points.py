"""Centre points judged as boxes: each point becomes the box of its object's size around it.

A point says where an object is and what it is, not how big. The detection scorer judges
the box of the object's size centred on the point: a wrong class is a ``swap``, a point on
background ``spurious``, an unmarked object ``overlooked``. A point off its object's
centre is not flagged (:func:`unflag_off_centre`). The size is the one given (``size``, as
:func:`annokit.points.points_to_boxes` takes it), or else the spacing of the points
(:func:`spacing_size`): cells, cars in a car park and heads in a crowd lie side by side;
where points lie alone in their images, half the images' shorter side (a guess the note
owns up to).

Example:
    >>> boxed, how = as_boxes(ds)  # doctest: +SKIP
    >>> how                        # doctest: +SKIP
    'as squares of 96 px (the median distance between neighbouring points)'
"""
from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from ..errors import AnnokitError
from ..model import Dataset
from ..points import Size, points_to_boxes

MIN_NEIGHBOURS = 10  # points with a neighbour in their image needed to trust the spacing
MIN_SIDE = 4.0       # px: the smallest box a point is judged as
IMAGE_SHARE = 0.5    # with no spacing to measure: this share of the images' shorter side
# (an object alone in its photo is large: raccoon's median box is 0.83 of it, bccd's 0.21)


def only_points(ds: Dataset) -> bool:
    """True when ``ds`` holds points and no boxes (the boxes are then the judge's own).

    Example:
        >>> only_points(ds)  # doctest: +SKIP
        True
    """
    kind = ds.annotations["kind"]
    return bool((kind == "point").any() and not (kind == "box").any())


def spacing_size(ds: Dataset) -> float | None:
    """The median distance from each point to the nearest other point of its image: the
    side of a square that objects marked side by side fill. None when fewer than
    :data:`MIN_NEIGHBOURS` points, or fewer than half, have a neighbour (objects alone in
    their images: raccoon's 17 pairs measured 138 px where its raccoons are ~235 px).

    Example:
        >>> ds = Dataset(annotations=pd.DataFrame({"image_id": [1] * 3, "category_id": 1,
        ...     "kind": "point", "x": [0.0, 10, 30], "y": 0.0}),
        ...     images=pd.DataFrame({"id": [1], "file_name": ["a.jpg"]}),
        ...     categories=pd.DataFrame({"id": [1], "name": ["cell"]}))
        >>> spacing_size(ds) is None  # 3 points: too few to tell
        True
    """
    from scipy.spatial import cKDTree

    anns = ds.annotations[ds.annotations["kind"] == "point"]
    xy = anns[["x", "y"]].to_numpy(np.float64)
    ok = np.isfinite(xy).all(axis=1)
    xy, image = xy[ok], anns["image_id"].to_numpy()[ok]
    if len(xy) < 2:
        return None
    # one tree over all images, each image moved far from the others
    far = 4.0 * (np.abs(xy).max() + 1.0)
    code = pd.factorize(image)[0].astype(np.float64)
    distance, _ = cKDTree(np.c_[xy[:, 0] + code * far, xy[:, 1]]).query(
        np.c_[xy[:, 0] + code * far, xy[:, 1]], k=2)
    near = distance[:, 1]
    near = near[(near < far / 2) & (near > 0)]
    if len(near) < max(MIN_NEIGHBOURS, len(xy) / 2):  # mostly alone: spacing says little
        return None
    return float(max(np.median(near), MIN_SIDE))


def as_boxes(ds: Dataset, size: Size | None = None) -> tuple[Dataset, str]:
    """``ds`` with every point as the box of its object's size around it, and how the
    size was chosen (for the notes). ``size`` as :func:`annokit.points.points_to_boxes`
    takes it; classes a ``{class: (w, h)}`` leaves out take the measured size. Raises
    ``AnnokitError`` when no size can be found.

    Example:
        >>> boxed, how = as_boxes(ds, (24, 24))  # doctest: +SKIP
        >>> how                                  # doctest: +SKIP
        'as boxes of the size given'
    """
    names = ds.categories["name"].astype(str)
    if size is not None and (not isinstance(size, Mapping) or set(names) <= set(size)):
        return points_to_boxes(ds, size), "as boxes of the size given"
    side, how = _measured_side(ds)
    if size:  # the classes given, the others measured
        size = {name: size.get(name, side) for name in names}
        how = f"as boxes of the sizes given, other classes {how}"
    else:
        size, how = side, f"as {how}"
    return points_to_boxes(ds, size), f"{how}; --point-size sets it"


def _measured_side(ds: Dataset) -> tuple[float, str]:
    """The square side points are judged by without a size given, and how it was found."""
    side = spacing_size(ds)
    if side is not None:
        return side, f"squares of {side:.0f} px (the median distance between neighbouring points)"
    sides = [ds.images[c].to_numpy(float, na_value=np.nan) if c in ds.images
             else np.full(len(ds.images), np.nan) for c in ("width", "height")]
    shorter = np.fmin(*sides) if len(ds.images) else np.array([np.nan])
    if not np.isfinite(shorter).any():
        raise AnnokitError(
            "scoring points needs the size of their objects: too few points lie side by side "
            "to measure it and the image sizes are unknown; give --point-size W,H (or "
            "CLASS=W,H)")
    side = max(IMAGE_SHARE * float(np.nanmedian(shorter)), MIN_SIDE)
    return side, (f"squares of {side:.0f} px ({IMAGE_SHARE:g} of the images' shorter side: "
                  "too few points lie side by side)")


def unflag_off_centre(table: pd.DataFrame) -> None:
    """Clear the ``badloc`` issues of a points dataset's scores, in place.

    Point tools mark an object anywhere on it (counting needs no more), and the box a
    point is judged as has one size for every class, so "off its object's centre" was
    noise: of bccd's 8 worst flagged points, the 4 ``badloc`` ones were right points and
    the 2 swaps and 2 spurious points were errors. ``badloc_quality`` and ``quality``
    still rank them.

    Example:
        >>> t = pd.DataFrame({"issue": ["badloc", "swap", None]})
        >>> unflag_off_centre(t); t["issue"].tolist()
        [None, 'swap', None]
    """
    issue = table["issue"].astype(object)
    table["issue"] = issue.where(~issue.eq("badloc") & issue.notna(), None)
