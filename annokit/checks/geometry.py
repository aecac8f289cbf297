"""Geometry checks: boxes, points, polygons and masks that cannot be right.

Every check works on whole columns. Boxes are ``kind == 'box'`` rows; image-bound checks
skip images whose width or height is unknown (NA). Pairwise checks (duplicates, label
conflicts) compare boxes of the same image only, and only pairs that can reach the IoU
threshold: with boxes sorted by left edge, IoU >= t needs the other box's left edge within
``(1 - t) * w`` of this one's (IoU <= overlap width / the wider box's width), so a
million boxes give few candidate pairs.

Example:
    >>> from annokit.checks import check
    >>> found = check(ds, checks=["geometry"])  # doctest: +SKIP
    >>> found[["check", "annotation_id", "message"]].head(1)  # doctest: +SKIP
                    check  annotation_id                           message
    0  geometry.zero_size             17  box 3x0 px has zero height
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ..geometry import clip_boxes, pairwise_iou
from ..model import Dataset
from .registry import Thresholds, empty_findings, findings, register

# a box compared with more neighbours than this sits in a pathological pile of boxes
MAX_NEIGHBOURS = 500
# MAD / 0.6745 estimates a normal sigma (0.6745 is the normal's 75th percentile)
_MAD_SCALE = 0.6745
# the mean-absolute-deviation fallback when MAD is 0 (Iglewicz and Hoaglin)
_MEANAD_SCALE = 1.253314
# the smallest spread (in log units) an outlier z-score divides by: in a class of
# near-identical boxes a 5% difference is no outlier (z=4 then needs a ratio of e^0.4, 1.5x)
_MIN_LOG_SPREAD = 0.1


# -- shared columns ------------------------------------------------------------------

def _rows(ds: Dataset, kind: str = "box") -> pd.DataFrame:
    """Annotations of ``kind`` with their image's ``W``/``H`` (NaN when unknown)."""
    a = ds.annotations
    rows = a.loc[a["kind"].to_numpy() == kind,
                 ["id", "image_id", "category_id", "x", "y", "w", "h", "iscrowd"]]
    images = ds.images.drop_duplicates("id")
    at = pd.Index(images["id"]).get_indexer(rows["image_id"])
    for col, src in (("W", "width"), ("H", "height")):
        sizes = images[src].to_numpy(dtype=np.float64, na_value=np.nan)
        rows[col] = np.where(at >= 0, sizes[np.maximum(at, 0)] if len(sizes) else np.nan,
                             np.nan)
    return rows


def _good_boxes(ds: Dataset) -> pd.DataFrame:
    """Boxes with finite coordinates and positive width and height (the others are
    reported by ``non_finite`` and ``zero_size``)."""
    b = _rows(ds)
    xywh = b[["x", "y", "w", "h"]].to_numpy(np.float64)
    ok = np.isfinite(xywh).all(axis=1) & (xywh[:, 2] > 0) & (xywh[:, 3] > 0)
    return b[ok]


def _category_names(ds: Dataset, ids) -> list[str]:
    names = ds.categories.drop_duplicates("id").set_index("id")["name"]
    return [str(n) for n in pd.Series(np.asarray(ids)).map(names).fillna("?")]


def _n(v: float) -> str:
    """A coordinate or size for a message: integers as integers, else 6 digits."""
    return f"{v:g}"


def _box_text(x, y, w, h) -> list[str]:
    return [f"({_n(a)}, {_n(b)}, {_n(c)}, {_n(d)})" for a, b, c, d in
            zip(np.asarray(x).tolist(), np.asarray(y).tolist(),
                np.asarray(w).tolist(), np.asarray(h).tolist())]


def _size_text(w, h) -> list[str]:
    return [f"{_n(a)}x{_n(b)}" for a, b in zip(np.asarray(w).tolist(), np.asarray(h).tolist())]


# -- single boxes ----------------------------------------------------------------------

@register("geometry.non_finite", "error")
def non_finite(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """Boxes (x, y, w, h) and points (x, y) with a NaN or infinite coordinate; ``value``
    is how many."""
    a = ds.annotations
    kind = a["kind"].to_numpy()
    xywh = a[["x", "y", "w", "h"]].to_numpy(np.float64)
    bad = ~np.isfinite(xywh)
    bad[kind != "box", 2:] = False  # points have no size
    bad[(kind != "box") & (kind != "point")] = False  # labels have no coordinates
    count = bad.sum(axis=1)
    hit = count > 0
    rows = a[hit]
    names = np.array(["x", "y", "w", "h"])
    message = [f"{k} has non-finite {', '.join(names[m])}" for k, m in
               zip(rows["kind"].tolist(), bad[hit])]
    return findings("geometry.non_finite", message, image_id=rows["image_id"],
                    annotation_id=rows["id"], category_id=rows["category_id"],
                    value=count[hit].astype(np.float64))


@register("geometry.zero_size", "error")
def zero_size(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """Boxes whose width or height is zero or negative; ``value`` is the smaller side."""
    b = _rows(ds)
    w, h = b["w"].to_numpy(), b["h"].to_numpy()
    hit = np.isfinite(b[["x", "y", "w", "h"]].to_numpy()).all(axis=1) & ((w <= 0) | (h <= 0))
    b, w, h = b[hit], w[hit], h[hit]

    def what(v, side):
        return np.where(v < 0, f"negative {side}", np.where(v == 0, f"zero {side}", ""))

    parts = zip(what(w, "width").tolist(), what(h, "height").tolist())
    message = [f"box {s} px has " + " and ".join(p for p in pair if p)
               for s, pair in zip(_size_text(w, h), parts)]
    return findings("geometry.zero_size", message, image_id=b["image_id"],
                    annotation_id=b["id"], category_id=b["category_id"],
                    value=np.minimum(w, h))


def _overhang(b: pd.DataFrame) -> np.ndarray:
    """Pixels each box reaches beyond the image's left, top, right and bottom edges
    (negative: inside), shape (N, 4)."""
    x, y, w, h, W, H = (b[c].to_numpy() for c in ("x", "y", "w", "h", "W", "H"))
    return np.stack([-x, -y, x + w - W, y + h - H], axis=1)


def _overlaps_image(b: pd.DataFrame) -> np.ndarray:
    """Whether each box shares a positive area with its image."""
    x, y, w, h, W, H = (b[c].to_numpy() for c in ("x", "y", "w", "h", "W", "H"))
    return ((np.minimum(x + w, W) - np.maximum(x, 0) > 0)
            & (np.minimum(y + h, H) - np.maximum(y, 0) > 0))


_SIDES = np.array(["left", "top", "right", "bottom"])


@register("geometry.partly_outside", "warning")
def partly_outside(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """Boxes reaching more than ``edge_tolerance`` px beyond an image edge but still
    overlapping the image; ``value`` is the px beyond the worst edge."""
    b = _good_boxes(ds)
    b = b[b["W"].notna() & b["H"].notna()]
    over = _overhang(b)
    worst = over.max(axis=1) if len(b) else np.zeros(0)
    hit = (worst > t.edge_tolerance) & _overlaps_image(b)
    b, over, worst = b[hit], over[hit], worst[hit]
    side = _SIDES[over.argmax(axis=1)] if len(b) else np.array([], dtype=object)
    message = [f"box {box} reaches {_n(d)} px beyond the {s} edge of the {size} image"
               for box, d, s, size in zip(_box_text(b["x"], b["y"], b["w"], b["h"]),
                                          worst.tolist(), side.tolist(),
                                          _size_text(b["W"], b["H"]))]
    return findings("geometry.partly_outside", message, image_id=b["image_id"],
                    annotation_id=b["id"], category_id=b["category_id"], value=worst)


@register("geometry.fully_outside", "error")
def fully_outside(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """Boxes that do not overlap their image at all; ``value`` is the gap in px."""
    b = _good_boxes(ds)
    b = b[b["W"].notna() & b["H"].notna()]
    x, y, w, h, W, H = (b[c].to_numpy() for c in ("x", "y", "w", "h", "W", "H"))
    gap = np.stack([x - W, y - H, -(x + w), -(y + h)], axis=1)
    hit = ~_overlaps_image(b)
    b, gap = b[hit], gap[hit].max(axis=1)
    message = [f"box {box} lies outside the {size} image" for box, size in
               zip(_box_text(b["x"], b["y"], b["w"], b["h"]), _size_text(b["W"], b["H"]))]
    return findings("geometry.fully_outside", message, image_id=b["image_id"],
                    annotation_id=b["id"], category_id=b["category_id"], value=gap)


@register("geometry.tiny", "warning")
def tiny(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """Boxes with area below ``min_box_area`` or a side below ``min_box_side``;
    ``value`` is the area when that is too small, else the short side."""
    b = _good_boxes(ds)
    w, h = b["w"].to_numpy(), b["h"].to_numpy()
    area, side = w * h, np.minimum(w, h)
    small, thin = area < t.min_box_area, side < t.min_box_side
    hit = small | thin
    b, area, side, small = b[hit], area[hit], side[hit], small[hit]
    value = np.where(small, area, side)
    message = [f"box {s} px is tiny: " + (f"area {_n(v)} px^2 < {_n(t.min_box_area)}" if sm
                                         else f"side {_n(v)} px < {_n(t.min_box_side)}")
               for s, v, sm in zip(_size_text(b["w"], b["h"]), value.tolist(), small.tolist())]
    return findings("geometry.tiny", message, image_id=b["image_id"], annotation_id=b["id"],
                    category_id=b["category_id"], value=value)


@register("geometry.aspect_ratio", "warning")
def aspect_ratio(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """Boxes with ``max(w/h, h/w)`` above ``max_aspect_ratio``; ``value`` is that ratio."""
    b = _good_boxes(ds)
    w, h = b["w"].to_numpy(), b["h"].to_numpy()
    ratio = np.maximum(w / h, h / w)
    hit = ratio > t.max_aspect_ratio
    b, ratio = b[hit], ratio[hit]
    message = [f"box {s} px has aspect ratio {r:.1f} (> {_n(t.max_aspect_ratio)})"
               for s, r in zip(_size_text(b["w"], b["h"]), ratio.tolist())]
    return findings("geometry.aspect_ratio", message, image_id=b["image_id"],
                    annotation_id=b["id"], category_id=b["category_id"], value=ratio)


@register("geometry.whole_image", "warning")
def whole_image(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """Boxes covering at least ``whole_image_fraction`` of their image (after clipping):
    often an image-level label drawn as a box; ``value`` is the share covered."""
    b = _good_boxes(ds)
    b = b[b["W"].notna() & b["H"].notna() & (b["W"] > 0) & (b["H"] > 0)]
    W, H = b["W"].to_numpy(), b["H"].to_numpy()
    clipped = clip_boxes(b[["x", "y", "w", "h"]].to_numpy(), W, H)
    share = clipped[:, 2] * clipped[:, 3] / (W * H)
    hit = share >= t.whole_image_fraction
    b, share = b[hit], share[hit]
    message = [f"box covers {s:.0%} of the {size} image" for s, size in
               zip(share.tolist(), _size_text(b["W"], b["H"]))]
    return findings("geometry.whole_image", message, image_id=b["image_id"],
                    annotation_id=b["id"], category_id=b["category_id"], value=share)


# -- pairs of boxes in one image --------------------------------------------------------

def _by_image_then_x(image: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The order sorting by image, then left edge: one float sort of ``image * span + x``
    (4x faster than ``np.lexsort``), checked, and ``lexsort`` where rounding broke it."""
    if not len(x):
        return np.zeros(0, dtype=np.int64)
    low, span = x.min(), x.max() - x.min() + 1.0
    order = np.argsort((image - image.min()) * span + (x - low))
    img, xs = image[order], x[order]
    step = img[1:] - img[:-1]
    if (step >= 0).all() and ((step > 0) | (xs[1:] >= xs[:-1])).all():
        return order
    return np.lexsort((x, image))


def _pairs(b: pd.DataFrame, min_iou: float):
    """Pairs ``(first, second)`` of row positions in ``b`` (same image, ``first`` earlier
    in the table) whose IoU may reach ``min_iou``, their IoU, and the images whose piles of
    boxes were too high to compare completely.

    IoU <= overlap width / the wider width, so IoU >= t needs left edges at most
    ``(1 - t) * w`` apart and widths within a factor ``t``; the same for tops and heights.
    Sorted by (image, left edge), the partners of box ``a`` are the boxes right after it
    whose left edge is at most ``x_a + (1 - t) * w_a``. Step ``k`` pairs every box still
    in the running with the box ``k`` places on (kept if tops and sizes also fit), and
    drops the boxes whose run has ended: the loop is over neighbour ranks (a handful),
    each step over all boxes at once.
    """
    x, w, image = b["x"].to_numpy(), b["w"].to_numpy(), b["image_id"].to_numpy()
    order = _by_image_then_x(image, x)
    xs, img = x[order], image[order]
    ys, ws, hs = b["y"].to_numpy()[order], w[order], b["h"].to_numpy()[order]
    slack = max(1.0 - min_iou, 0.0)
    reach = xs + slack * ws
    reach = reach + 1e-9 * np.maximum(np.abs(reach), 1.0)  # never miss a pair by rounding
    n = len(xs)
    active = np.arange(n)
    found_a, found_b, crowded = [], [], img[:0]
    for k in range(1, MAX_NEIGHBOURS + 2):
        partner = active + k
        inside = partner < n
        active, partner = active[inside], partner[inside]
        alive = (img[partner] == img[active]) & (xs[partner] <= reach[active])
        active, partner = active[alive], partner[alive]
        if not len(active):
            break
        if k > MAX_NEIGHBOURS:  # still running: a pathological pile of boxes
            crowded = np.unique(img[active])
            break
        # the same bound holds for heights and tops, and IoU <= smaller / larger side
        tall = np.maximum(hs[active], hs[partner])
        keep = ((np.abs(ys[partner] - ys[active]) <= slack * tall * (1 + 1e-9) + 1e-9)
                & (np.minimum(ws[active], ws[partner])
                   >= min_iou * np.maximum(ws[active], ws[partner]) * (1 - 1e-9))
                & (np.minimum(hs[active], hs[partner]) >= min_iou * tall * (1 - 1e-9)))
        found_a.append(active[keep])
        found_b.append(partner[keep])
    p = order[np.concatenate(found_a)] if found_a else np.zeros(0, dtype=np.int64)
    q = order[np.concatenate(found_b)] if found_b else np.zeros(0, dtype=np.int64)
    first, second = np.minimum(p, q), np.maximum(p, q)
    boxes = b[["x", "y", "w", "h"]].to_numpy()
    iou = pairwise_iou(boxes[first], boxes[second]) if len(first) else np.zeros(0)
    return first, second, iou, crowded


def _pair_findings(check_id: str, b: pd.DataFrame, first, second, value, text,
                   crowded) -> pd.DataFrame:
    """One finding per pair, on the later annotation, naming the earlier one."""
    later = b.iloc[second]
    text = list(text)
    if len(crowded):
        note = f" (a crowded image: only {MAX_NEIGHBOURS} neighbours per box compared)"
        text = [m + note if c else m for m, c in
                zip(text, np.isin(later["image_id"].to_numpy(), crowded).tolist())]
    return findings(check_id, text, image_id=later["image_id"], annotation_id=later["id"],
                    category_id=later["category_id"], value=value)


def _candidates(ds: Dataset, min_iou: float):
    """Good boxes and their candidate pairs; a crowd region and an ordinary box are not
    a pair (COCO draws crowds around instances on purpose)."""
    b = _good_boxes(ds)
    first, second, iou, crowded = _pairs(b, min_iou)
    crowd = b["iscrowd"].to_numpy()
    keep = crowd[first] == crowd[second]
    return b, first[keep], second[keep], iou[keep], crowded


def _same_class(b: pd.DataFrame, first, second) -> np.ndarray:
    cat = b["category_id"].to_numpy()
    return cat[first] == cat[second]


def _identical(b: pd.DataFrame, first, second) -> np.ndarray:
    boxes = b[["x", "y", "w", "h"]].to_numpy()
    return (boxes[first] == boxes[second]).all(axis=1)


@register("geometry.exact_duplicate", "error")
def exact_duplicate(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """Two boxes of the same class in one image with identical coordinates; one finding
    per pair, on the later annotation, naming the other."""
    b, first, second, iou, crowded = _candidates(ds, 1.0)
    hit = _same_class(b, first, second) & _identical(b, first, second)
    first, second = first[hit], second[hit]
    names = _category_names(ds, b["category_id"].to_numpy()[second])
    text = [f"same box as annotation {o} (class '{n}')"
            for o, n in zip(b["id"].to_numpy()[first].tolist(), names)]
    return _pair_findings("geometry.exact_duplicate", b, first, second, iou[hit], text,
                          crowded)


@register("geometry.near_duplicate", "warning")
def near_duplicate(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """Two boxes of the same class in one image with IoU >= ``duplicate_iou`` that are
    not identical; ``value`` is the IoU."""
    b, first, second, iou, crowded = _candidates(ds, t.duplicate_iou)
    hit = (_same_class(b, first, second) & ~_identical(b, first, second)
           & (iou >= t.duplicate_iou))
    first, second, iou = first[hit], second[hit], iou[hit]
    names = _category_names(ds, b["category_id"].to_numpy()[second])
    text = [f"IoU {v:.2f} with annotation {o} (same class '{n}')"
            for v, o, n in zip(iou.tolist(), b["id"].to_numpy()[first].tolist(), names)]
    return _pair_findings("geometry.near_duplicate", b, first, second, iou, text, crowded)


@register("geometry.label_conflict", "warning")
def label_conflict(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """Two boxes of different classes in one image with IoU >= ``conflict_iou``: likely
    one object labelled twice; ``value`` is the IoU."""
    b, first, second, iou, crowded = _candidates(ds, t.conflict_iou)
    hit = ~_same_class(b, first, second) & (iou >= t.conflict_iou)
    first, second, iou = first[hit], second[hit], iou[hit]
    cat = b["category_id"].to_numpy()
    theirs = _category_names(ds, cat[first])
    mine = _category_names(ds, cat[second])
    text = [f"IoU {v:.2f} with annotation {o} of class '{other}' (this one is '{this}')"
            for v, o, other, this in zip(iou.tolist(), b["id"].to_numpy()[first].tolist(),
                                         theirs, mine)]
    return _pair_findings("geometry.label_conflict", b, first, second, iou, text, crowded)


# -- boxes against their class ----------------------------------------------------------

def robust_z(values: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Modified z-score per group, 0.6745 (v - median) / MAD (Iglewicz and Hoaglin),
    with (v - median) / (1.2533 mean absolute deviation) where MAD is 0, the spread never
    below ``_MIN_LOG_SPREAD``; and the group median."""
    v = pd.Series(values)
    by = v.groupby(groups)
    median = by.transform("median").to_numpy()
    dev = pd.Series(np.abs(values - median))
    mad = dev.groupby(groups).transform("median").to_numpy()
    mean_ad = dev.groupby(groups).transform("mean").to_numpy()
    scale = np.where(mad > 0, mad / _MAD_SCALE, mean_ad * _MEANAD_SCALE)
    return (values - median) / np.maximum(scale, _MIN_LOG_SPREAD), median


def _class_outliers(ds: Dataset, t: Thresholds, check_id: str, measure) -> pd.DataFrame:
    b = _good_boxes(ds)
    # a box cut by the image border owes its size and shape to the border: leave it out
    b = b.loc[~np.any(_overhang(b) >= -t.edge_tolerance, axis=1)]
    cat = b["category_id"].to_numpy()
    counts = b.groupby("category_id")["id"].transform("size").to_numpy()
    b, cat = b[counts >= t.outlier_min_count], cat[counts >= t.outlier_min_count]
    w, h = b["w"].to_numpy(), b["h"].to_numpy()
    z, median = robust_z(measure(w, h), cat)
    hit = np.abs(z) > t.outlier_z
    b, z, median = b[hit], z[hit], median[hit]
    names = _category_names(ds, b["category_id"])
    if check_id == "geometry.size_outlier":
        text = [f"box {s} px is unusually {'large' if v > 0 else 'small'} for class '{n}': "
                f"z={v:+.1f}, typical side {np.exp(m):.0f} px"
                for s, v, n, m in zip(_size_text(b["w"], b["h"]), z.tolist(), names,
                                      median.tolist())]
    else:
        text = [f"box {s} px has an unusual shape for class '{n}': w/h {r:.3g} vs typical "
                f"{np.exp(m):.3g}, z={v:+.1f}"
                for s, r, v, n, m in zip(_size_text(b["w"], b["h"]),
                                         (b["w"] / b["h"]).tolist(), z.tolist(), names,
                                         median.tolist())]
    return findings(check_id, text, image_id=b["image_id"], annotation_id=b["id"],
                    category_id=b["category_id"], value=z)


@register("geometry.size_outlier", "warning")
def size_outlier(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """Boxes whose size, log(sqrt(area)), is more than ``outlier_z`` robust z-scores
    (median and MAD) from their class's, in classes of at least ``outlier_min_count``
    boxes (Datumaro's far-from-label-mean, made robust); ``value`` is the z-score.
    Boxes within ``edge_tolerance`` of the image border are cut by it and left out."""
    return _class_outliers(ds, t, "geometry.size_outlier", lambda w, h: 0.5 * np.log(w * h))


@register("geometry.aspect_outlier", "warning")
def aspect_outlier(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """Boxes whose aspect, log(w/h), is more than ``outlier_z`` robust z-scores from their
    class's, as for ``size_outlier``; ``value`` is the z-score."""
    return _class_outliers(ds, t, "geometry.aspect_outlier", lambda w, h: np.log(w / h))


# -- polygons, masks and points --------------------------------------------------------

def _polygon_table(ds: Dataset) -> pd.DataFrame:
    """Per annotation with polygons: its row, polygon area, bounds (px, py, pw, ph),
    validity and why not.

    The same numbers as :func:`annokit.geometry.polygon_stats` (area and bounds of all
    parts together; a part with fewer than 3 points or one that crosses itself makes the
    annotation invalid), but every part is built and measured by shapely's array
    functions at once: the Python loop only flattens the lists. Overlapping parts are not
    an error here (COCO objects split by occlusion may touch or overlap).
    """
    import shapely

    seg = ds.annotations["segmentation"]
    present = seg[seg.notna()]
    rows: list[int] = []
    reasons: dict[int, str] = {}
    owner: list[int] = []  # per part: its annotation's position in rows, its number, ...
    number: list[int] = []
    coords: list[np.ndarray] = []
    good: list[bool] = []
    for row, value in zip(present.index.tolist(), present.tolist()):
        if not isinstance(value, list) or not value:
            continue  # RLE dicts are rle_size's
        parts = value if isinstance(value[0], (list, tuple, np.ndarray)) else [value]
        k = len(rows)
        rows.append(row)
        for i, part in enumerate(parts, 1):
            try:
                flat = np.asarray(part, dtype=np.float64).ravel()
            except (TypeError, ValueError):
                reasons.setdefault(k, f"part {i} is not a list of numbers")
                continue
            short = len(flat) < 6 or len(flat) % 2
            if short:
                reasons.setdefault(k, f"part {i} has fewer than 3 points" if len(flat) < 6
                                   else f"part {i} has an odd number of coordinates")
            elif not np.isfinite(flat).all():
                reasons.setdefault(k, f"part {i} has a non-finite coordinate")
                continue
            owner.append(k)
            number.append(i)
            coords.append(flat[: len(flat) // 2 * 2].reshape(-1, 2))
            good.append(not short)  # a short part still counts for the bounds
    n = len(rows)
    area = np.zeros(n)
    low = np.full((n, 2), np.inf)
    high = np.full((n, 2), -np.inf)
    if coords:
        sizes = np.array([len(c) for c in coords])
        points = np.concatenate(coords)
        owners, goods = np.asarray(owner), np.asarray(good)
        at = np.repeat(owners, sizes)  # bounds count every point, even of a broken part
        np.minimum.at(low, at, points)
        np.maximum.at(high, at, points)
        if goods.any():
            ring = np.repeat(np.arange(goods.sum()), sizes[goods])
            geoms = shapely.polygons(shapely.linearrings(points[np.repeat(goods, sizes)],
                                                         indices=ring))
            np.add.at(area, owners[goods], shapely.area(geoms))
            numbers = np.asarray(number)[goods]
            for g in np.flatnonzero(~shapely.is_valid(geoms)).tolist():
                why = shapely.is_valid_reason(geoms[g])
                why = re.sub(r"\[(\S+) (\S+)\]", lambda m: " at ({}, {})".format(
                    _n(float(m[1])), _n(float(m[2]))), why).lower()
                reasons.setdefault(int(owners[goods][g]), f"part {numbers[g]}: {why}")
    low[~np.isfinite(low)] = np.nan
    high[~np.isfinite(high)] = np.nan
    reason = [reasons.get(k) for k in range(n)]
    return pd.DataFrame({"row": np.asarray(rows, dtype=np.int64), "polygon_area": area,
                         "px": low[:, 0], "py": low[:, 1], "pw": high[:, 0] - low[:, 0],
                         "ph": high[:, 1] - low[:, 1],
                         "valid": np.array([r is None for r in reason], dtype=bool),
                         "reason": reason})


def _with_annotations(ds: Dataset, table: pd.DataFrame) -> pd.DataFrame:
    cols = ["id", "image_id", "category_id", "kind", "x", "y", "w", "h"]
    if "area" in ds.annotations:
        cols.append("area")
    ann = ds.annotations.loc[table["row"].to_numpy(), cols].reset_index(drop=True)
    return pd.concat([ann, table.reset_index(drop=True)], axis=1)


@register("geometry.polygon_invalid", "error")
def polygon_invalid(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """Polygons with a part of fewer than 3 points or a part that crosses itself."""
    p = _polygon_table(ds)
    p = _with_annotations(ds, p[~p["valid"]])
    message = ["polygon is invalid: " + r for r in p["reason"].tolist()]
    return findings("geometry.polygon_invalid", message, image_id=p["image_id"],
                    annotation_id=p["id"], category_id=p["category_id"])


@register("geometry.polygon_outside_box", "warning")
def polygon_outside_box(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """Polygons reaching more than ``edge_tolerance`` px beyond their own box; ``value``
    is the largest overhang in px."""
    p = _with_annotations(ds, _polygon_table(ds))
    p = p[(p["kind"] == "box") & p["px"].notna()]
    x, y, w, h = (p[c].to_numpy(np.float64) for c in ("x", "y", "w", "h"))
    px, py, pw, ph = (p[c].to_numpy() for c in ("px", "py", "pw", "ph"))
    over = np.stack([x - px, y - py, px + pw - (x + w), py + ph - (y + h)], axis=1)
    worst = over.max(axis=1) if len(p) else np.zeros(0)
    hit = np.isfinite(worst) & (worst > t.edge_tolerance)
    p, over, worst = p[hit], over[hit], worst[hit]
    side = _SIDES[over.argmax(axis=1)] if len(p) else np.array([], dtype=object)
    message = [f"polygon reaches {_n(d)} px beyond the {s} side of its box {box}"
               for d, s, box in zip(worst.tolist(), side.tolist(),
                                    _box_text(p["x"], p["y"], p["w"], p["h"]))]
    return findings("geometry.polygon_outside_box", message, image_id=p["image_id"],
                    annotation_id=p["id"], category_id=p["category_id"], value=worst)


@register("geometry.polygon_area_mismatch", "warning")
def polygon_area_mismatch(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """Valid polygons whose area differs from the ``area`` column by more than
    ``polygon_area_tolerance`` of the larger of the two; ``value`` is that relative gap.
    Nothing to do when there is no ``area`` column (only COCO has one)."""
    if "area" not in ds.annotations:
        return empty_findings()
    p = _with_annotations(ds, _polygon_table(ds))
    stated = pd.to_numeric(p["area"], errors="coerce").to_numpy(np.float64)
    measured = p["polygon_area"].to_numpy()
    larger = np.maximum(stated, measured)
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = np.where(larger > 0, np.abs(stated - measured) / larger, 0.0)
    hit = p["valid"].to_numpy() & np.isfinite(stated) & (gap > t.polygon_area_tolerance)
    p, stated, measured, gap = p[hit], stated[hit], measured[hit], gap[hit]
    message = [f"polygon area {m:.6g} px^2 but area says {s:.6g} ({g:.0%} apart)"
               for m, s, g in zip(measured.tolist(), stated.tolist(), gap.tolist())]
    return findings("geometry.polygon_area_mismatch", message, image_id=p["image_id"],
                    annotation_id=p["id"], category_id=p["category_id"], value=gap)


@register("geometry.rle_size", "error")
def rle_size(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """RLE masks whose ``size`` ``[height, width]`` is not the image's (or is missing);
    images of unknown size are skipped."""
    seg = ds.annotations["segmentation"]
    present = seg[seg.notna()]
    rows: list[int] = []
    sizes: list[tuple[float, float]] = []  # the mask's (height, width), NaN when missing
    for row, value in zip(present.index.tolist(), present.tolist()):
        if isinstance(value, dict):
            size = value.get("size")
            rows.append(row)
            sizes.append((float(size[0]), float(size[1]))
                         if isinstance(size, (list, tuple)) and len(size) == 2
                         else (np.nan, np.nan))
    if not rows:
        return empty_findings()
    a = ds.annotations.loc[rows, ["id", "image_id", "category_id"]]
    images = ds.images.drop_duplicates("id").set_index("id")
    W = a["image_id"].map(images["width"]).to_numpy(np.float64, na_value=np.nan)
    H = a["image_id"].map(images["height"]).to_numpy(np.float64, na_value=np.nan)
    mask_h, mask_w = np.asarray(sizes, dtype=np.float64).reshape(-1, 2).T
    known = np.isfinite(W) & np.isfinite(H)
    hit = known & ~((mask_h == H) & (mask_w == W))
    a, mask_h, mask_w, W, H = a[hit], mask_h[hit], mask_w[hit], W[hit], H[hit]
    message = [("RLE has no [height, width] size" if np.isnan(mh) else
                f"RLE mask is {_n(mw)}x{_n(mh)} px") + f" but the image is {_n(iw)}x{_n(ih)}"
               for mh, mw, iw, ih in zip(mask_h.tolist(), mask_w.tolist(), W.tolist(),
                                         H.tolist())]
    return findings("geometry.rle_size", message, image_id=a["image_id"],
                    annotation_id=a["id"], category_id=a["category_id"])


@register("geometry.point_outside", "error")
def point_outside(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """Points (``kind == 'point'``) more than ``edge_tolerance`` px outside their image;
    ``value`` is how far outside, in px."""
    p = _rows(ds, "point")
    p = p[p["W"].notna() & p["H"].notna()]
    x, y, W, H = (p[c].to_numpy() for c in ("x", "y", "W", "H"))
    dx = np.maximum(np.maximum(-x, x - W), 0)
    dy = np.maximum(np.maximum(-y, y - H), 0)
    dist = np.hypot(dx, dy)
    hit = np.isfinite(dist) & (dist > t.edge_tolerance)
    p, dist = p[hit], dist[hit]
    message = [f"point ({_n(a)}, {_n(b)}) lies {d:.3g} px outside the {size} image"
               for a, b, d, size in zip(p["x"].tolist(), p["y"].tolist(), dist.tolist(),
                                        _size_text(p["W"], p["H"]))]
    return findings("geometry.point_outside", message, image_id=p["image_id"],
                    annotation_id=p["id"], category_id=p["category_id"], value=dist)
