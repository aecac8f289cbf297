"""Centre-point metrics: predicted points matched one-to-one to ground-truth objects.

Both sides are :class:`~annokit.model.Dataset` objects: predictions are annotations with a
``score``. Images and classes are paired as :mod:`annokit.evaluate.align` says.

Example:
    >>> from annokit.evaluate import point_metrics
    >>> m = point_metrics(pred, gt)            # doctest: +SKIP
    >>> m["precision"], m["recall"], m["count_mae"]  # doctest: +SKIP
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
import pandas as pd

from ..errors import AnnokitError
from ..geometry import box_centers
from ..model import Dataset
from ..points import Size, point_sizes, points_to_boxes
from .align import decode as _decode, misses_note, objects as _objects, pairing as _pairing

MODES = ("box", "distance")
_PAIRS_PER_BATCH = 4_000_000  # candidate (prediction, ground truth) pairs held at once


# -- centre points -------------------------------------------------------------------------

@dataclass(frozen=True)
class PointMatching:
    """How predicted points match ground-truth objects: the options of
    :func:`match_points` (and :func:`point_metrics`), checked once.

    Example:
        >>> PointMatching(mode="distance", max_distance=5).classwise
        True
    """

    mode: str = "box"
    distance: float = 0.5
    max_distance: float | None = None
    size: Size | None = None
    reference: Dataset | None = None
    score_threshold: float | None = None
    classwise: bool = True

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise AnnokitError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")


def match_points(pred: Dataset, gt: Dataset, *, mode: str = "box", distance: float = 0.5,
                 max_distance: float | None = None, size: Size | None = None,
                 reference: Dataset | None = None, score_threshold: float | None = None,
                 classwise: bool = True) -> pd.DataFrame:
    """Match predicted points one-to-one to ground-truth objects, greedily by score.

    Predictions are ``point`` annotations (a predicted box counts by its centre), taken in
    descending ``score`` (those without a score last, in their order); each takes the
    closest-centred ground-truth object it may match that no higher-scored prediction took.

    ``mode='box'``: a prediction may match a ground-truth box that contains it (edges
    included). Ground-truth points become boxes of their class's size when ``size`` or
    ``reference`` is given (see :func:`annokit.points.points_to_boxes`).

    ``mode='distance'``: a prediction may match a ground-truth object whose centre is within
    ``distance * sqrt(w * h)`` of it, the object's size coming from its box, or for a
    point from ``size`` / ``reference``; objects with no size use ``max_distance`` pixels.

    With ``classwise`` (the default) only the same class matches. Predictions with
    ``score < score_threshold`` are dropped (those without a score are kept).

    Returns one row per prediction and one per unmatched ground-truth object: ``image``
    (file name, or image id), ``category``, ``pred_id``, ``gt_id``, ``score``, ``distance``
    (pixels from the prediction to the object's centre) and ``outcome`` ('tp', 'fp', 'fn').

    Matching is vectorised except the greedy pass itself: a Python loop over the candidate
    pairs (prediction, ground truth) that may match, found with numpy through a grid of
    cells about the median object's size, so a crowded image costs its near pairs only.

    Example:
        >>> m = match_points(pred, gt, mode="box")  # doctest: +SKIP
        >>> m["outcome"].value_counts()  # doctest: +SKIP
    """
    matching = PointMatching(mode, distance, max_distance, size, reference, score_threshold,
                             classwise)
    return _match_points(pred, gt, _pairing(pred, gt), matching)[0]


def _match_points(pred: Dataset, gt: Dataset, pairing: dict, matching: PointMatching
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The match table, and the same with image and class codes (for the metrics)."""
    preds = _predictions(pred, pairing["pred"], matching.score_threshold)
    truth = _ground_truth(gt, pairing["gt"], matching)
    matched, dist = _greedy(preds, truth, matching.mode, matching.classwise)
    coded = _match_table(preds, truth, matched, dist)
    table = coded.assign(image=_decode(pairing["images"], coded["image"]),
                         category=_decode(pairing["classes"], coded["category"]))
    return table, coded


def point_metrics(pred: Dataset, gt: Dataset, **options) -> dict:
    """Precision, recall, F1 and counting errors of predicted points; see :func:`match_points`
    for the options.

    Returns a dict: ``tp``, ``fp``, ``fn``, ``precision`` (NaN with no predictions),
    ``recall`` (NaN with no ground truth), ``f1`` (``2TP / (2TP + FP + FN)``), ``images``
    (the union of both sides' images), ``count_mae`` and ``count_rmse`` (over those images
    of ``|#pred - #gt|``), ``count_bias`` (mean ``#pred - #gt``: above 0 over-counts),
    ``per_class`` (a DataFrame indexed by class name with the same figures, counts per
    image and class), ``per_image`` (a DataFrame indexed by image: gt, pred, tp, fp, fn)
    and ``matches`` (the table from :func:`match_points`).

    Example:
        >>> m = point_metrics(pred, gt, mode="distance", max_distance=5)  # doctest: +SKIP
        >>> round(m["f1"], 3), m["count_mae"]  # doctest: +SKIP
        (0.571, 0.5)
    """
    pairing = _pairing(pred, gt)
    matches, coded = _match_points(pred, gt, pairing, PointMatching(**options))
    n_images = len(pairing["images"])
    per_image = _per_image(coded, n_images)
    totals = {k: int(per_image[k].sum()) for k in ("tp", "fp", "fn")}
    errors = (per_image["pred"] - per_image["gt"]).to_numpy(float)
    per_image.index = pd.Index(pairing["images"], name="image")
    return {**totals, **_rates(**totals), "images": n_images, **_count_errors(errors),
            "per_class": _per_class(coded, n_images, pairing["classes"]),
            "per_image": per_image, "matches": matches}


def unpredicted_note(per_image: pd.DataFrame) -> str | None:
    """A note on the images with ground truth and no prediction: all their objects missed.

    Example:
        >>> unpredicted_note(point_metrics(pred, gt)["per_image"])  # doctest: +SKIP
        '1 of 11 images with ground-truth objects has no predictions; its 4 objects count as
        misses'
    """
    held = per_image["gt"] > 0
    missed = held & (per_image["pred"] == 0)
    if not missed.any() or not (per_image["pred"] > 0).any():
        return None
    objects = int(per_image["gt"][missed].sum())
    return misses_note(int(missed.sum()), int(held.sum()), objects)


def _predictions(pred: Dataset, codes: tuple, threshold: float | None) -> pd.DataFrame:
    """Predicted points (boxes by their centre), ranked by descending score."""
    preds = _objects(pred, codes, ("point", "box"))
    box = (preds["kind"] == "box").to_numpy()
    preds.loc[box, ["x", "y"]] = box_centers(preds.loc[box, ["x", "y", "w", "h"]].to_numpy())
    if threshold is not None:
        preds = preds[~(preds["score"] < threshold)]
    score = preds["score"].to_numpy(float)
    order = np.lexsort((np.arange(len(preds)), -np.nan_to_num(score, nan=-np.inf)))
    return preds.iloc[order].reset_index(drop=True)


def _ground_truth(gt: Dataset, codes: tuple, matching: PointMatching) -> pd.DataFrame:
    """Ground-truth boxes and points with their centre ``cx, cy`` and match radius."""
    mode, size, reference = matching.mode, matching.size, matching.reference
    distance, max_distance = matching.distance, matching.max_distance
    learned = size is not None or reference is not None
    if mode == "box" and learned:
        gt = points_to_boxes(gt, size, reference=reference)
    truth = _objects(gt, codes, ("box", "point"))
    if mode == "box":
        if (truth["kind"] == "point").any():
            raise AnnokitError("mode='box' needs ground-truth boxes: the ground truth has "
                               "points; give size= or reference= to make them boxes, or use "
                               "mode='distance' (and the ground truth comes first: GT PRED)")
    else:
        point = (truth["kind"] == "point").to_numpy()
        if point.any() and learned:
            sizes = point_sizes(gt, size, reference=reference)
            at = gt.annotations.index.get_indexer(truth.index)
            truth.loc[point, ["w", "h"]] = sizes[at[point]]
    centres = box_centers(truth[["x", "y", "w", "h"]].to_numpy(float))
    is_box = (truth["kind"] == "box").to_numpy()[:, None]
    truth[["cx", "cy"]] = np.where(is_box, centres, truth[["x", "y"]].to_numpy(float))
    if mode == "distance":
        sized = (truth["w"].notna() & truth["h"].notna()).to_numpy()
        if not sized.all() and max_distance is None:
            raise AnnokitError(f"{int((~sized).sum())} ground-truth points have no size: give "
                               "max_distance (pixels), or size= / reference= to learn one")
        radius = distance * np.sqrt(np.clip(truth["w"] * truth["h"], 0, None))
        truth["radius"] = np.where(sized, radius, max_distance if max_distance else np.nan)
    return truth.reset_index(drop=True)


def _greedy(preds: pd.DataFrame, truth: pd.DataFrame, mode: str, classwise: bool
            ) -> tuple[np.ndarray, np.ndarray]:
    """For each ranked prediction, the ground-truth row it matched (-1: none), and the
    distance to that object's centre.

    Candidates come from a grid: each ground-truth object is listed in the cells its box
    (or its circle's square) covers, each prediction looks only in its own cell, so a
    crowded image costs its near pairs, not every pair.
    """
    px, py = preds["x"].to_numpy(float), preds["y"].to_numpy(float)
    t = {c: truth[c].to_numpy(float) for c in truth.columns
         if c in ("x", "y", "w", "h", "cx", "cy", "radius")}
    if mode == "box":
        x0, y0, x1, y1 = t["x"], t["y"], t["x"] + t["w"], t["y"] + t["h"]
    else:
        x0, y0 = t["cx"] - t["radius"], t["cy"] - t["radius"]
        x1, y1 = t["cx"] + t["radius"], t["cy"] + t["radius"]
    group_p, group_t = _groups(preds, truth, classwise)
    key_p, key_t, owner = _grid(group_p, px, py, group_t, (x0, y0, x1, y1))
    order = np.argsort(key_t, kind="stable")
    key_t, owner = key_t[order], owner[order]
    start = np.searchsorted(key_t, key_p, "left")
    count = np.searchsorted(key_t, key_p, "right") - start
    matched = np.full(len(preds), -1, dtype=np.int64)
    dist = np.full(len(preds), np.nan)
    taken = np.zeros(len(truth), dtype=bool)
    cut = np.cumsum(count) // _PAIRS_PER_BATCH
    for batch in np.unique(cut):  # predictions in rank order, a batch of pairs at a time
        rows = np.flatnonzero(cut == batch)
        n = count[rows]
        p = np.repeat(rows, n)
        g = owner[np.repeat(start[rows], n) + np.arange(n.sum())
                  - np.repeat(np.cumsum(n) - n, n)]
        d = np.hypot(px[p] - t["cx"][g], py[p] - t["cy"][g])
        if mode == "box":
            ok = (px[p] >= x0[g]) & (px[p] <= x1[g]) & (py[p] >= y0[g]) & (py[p] <= y1[g])
        else:
            ok = d <= t["radius"][g]
        p, g, d = p[ok], g[ok], d[ok]
        order = np.lexsort((g, d, p))  # by rank, then closest centre, then GT order
        _take(p[order].tolist(), g[order].tolist(), d[order].tolist(), matched, dist, taken)
    return matched, dist


def _grid(group_p: np.ndarray, px: np.ndarray, py: np.ndarray, group_t: np.ndarray,
          region: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cell keys: one per prediction (-1 when it has no position), and one per (object,
    covered cell) with the object's row. Cells are about the median object's size."""
    x0, y0, x1, y1 = region
    usable = np.isfinite(x0) & np.isfinite(y0) & np.isfinite(x1) & np.isfinite(y1)
    extent = np.concatenate([(x1 - x0)[usable], (y1 - y0)[usable]])
    if not len(extent):
        return np.full(len(px), -1), np.zeros(0, np.int64), np.zeros(0, np.int64)
    reach = max(x1[usable].max() - x0[usable].min(), y1[usable].max() - y0[usable].min())
    size = max(float(np.median(extent)), reach / 4096, 1e-9)  # at most 4096 cells a side
    cells = [np.floor(v / size) for v in (x0, y0, x1, y1)]
    low = min(c[usable].min() for c in cells)
    high = max(c[usable].max() for c in cells)
    seen = np.isfinite(px) & np.isfinite(py)
    span = high - low + 3  # prediction cells outside every object clip to a border cell
    cx0, cy0, cx1, cy1 = [(c - low + 1).astype(np.int64) for c in cells]
    nx, ny = (cx1 - cx0 + 1) * usable, (cy1 - cy0 + 1) * usable
    owner = np.repeat(np.arange(len(x0)), nx * ny)
    k = np.arange(len(owner)) - np.repeat(np.cumsum(nx * ny) - nx * ny, nx * ny)
    ncol = np.repeat(np.maximum(ny, 1), nx * ny)
    gx = cx0[owner] + k // ncol
    gy = cy0[owner] + k % ncol
    span = int(span)
    key_t = (group_t[owner].astype(np.int64) * span + gx) * span + gy
    qx = np.clip(np.floor(np.where(seen, px, 0) / size) - low + 1, 0, span - 1).astype(np.int64)
    qy = np.clip(np.floor(np.where(seen, py, 0) / size) - low + 1, 0, span - 1).astype(np.int64)
    key_p = np.where(seen, (group_p.astype(np.int64) * span + qx) * span + qy, -1)
    return key_p, key_t, owner


def _take(p: list, g: list, d: list, matched: np.ndarray, dist: np.ndarray,
          taken: np.ndarray) -> None:
    """The greedy pass: each prediction's first candidate not already taken."""
    done = matched >= 0
    used = taken.tolist()
    for i, j, k in zip(p, g, d):
        if not done[i] and not used[j]:
            done[i] = used[j] = True
            matched[i], dist[i] = j, k
    taken[:] = used


def _groups(preds: pd.DataFrame, truth: pd.DataFrame, classwise: bool
            ) -> tuple[np.ndarray, np.ndarray]:
    """An integer per (image, class) (or per image), shared by both sides."""
    n_classes = int(np.max(np.concatenate([preds["category"], truth["category"], [0]]))) + 2

    def group(side: pd.DataFrame) -> np.ndarray:
        image = side["image"].to_numpy(np.int64) + 1  # -1 (unknown) becomes 0
        return image * n_classes + side["category"].to_numpy(np.int64) + 1 if classwise \
            else image
    return group(preds), group(truth)


def _match_table(preds, truth, matched, dist) -> pd.DataFrame:
    """One row per prediction (tp or fp), then one per missed object (fn); image and
    category as codes. A match is named by its object's class."""
    hit = matched >= 0
    missed = np.setdiff1d(np.arange(len(truth)), matched[hit])
    at = np.maximum(matched, 0)
    t_category, t_id = truth["category"].to_numpy(np.int64), truth["id"].to_numpy()
    gt_id = pd.array(np.where(hit, t_id[at] if len(truth) else 0, 0), dtype="Int64")
    gt_id[~hit] = pd.NA
    rows = pd.DataFrame({
        "image": preds["image"].to_numpy(np.int64),
        "category": np.where(hit, t_category[at] if len(truth) else -1,
                             preds["category"].to_numpy(np.int64)),
        "pred_id": pd.array(preds["id"].to_numpy(), dtype="Int64"), "gt_id": gt_id,
        "score": preds["score"].to_numpy(float), "distance": dist,
        "outcome": np.where(hit, "tp", "fp").astype(object)})
    fn = pd.DataFrame({"image": truth["image"].to_numpy(np.int64)[missed],
                       "category": t_category[missed],
                       "pred_id": pd.array([pd.NA] * len(missed), dtype="Int64"),
                       "gt_id": pd.array(t_id[missed], dtype="Int64"),
                       "score": np.nan, "distance": np.nan, "outcome": "fn"})
    return pd.concat([rows, fn], ignore_index=True) if len(fn) else rows


def _per_image(coded: pd.DataFrame, n_images: int) -> pd.DataFrame:
    """gt, pred, tp, fp, fn per image code 0..n_images-1."""
    table = pd.DataFrame(0, index=range(n_images), columns=["tp", "fp", "fn"])
    for outcome in ("tp", "fp", "fn"):
        images = coded["image"][coded["outcome"] == outcome].to_numpy(np.int64)
        table[outcome] = np.bincount(images[images >= 0], minlength=n_images)[:n_images]
    table.insert(0, "pred", table["tp"] + table["fp"])
    table.insert(0, "gt", table["tp"] + table["fn"])
    return table


def _per_class(coded: pd.DataFrame, n_images: int, classes: np.ndarray) -> pd.DataFrame:
    """The totals and rates per class; counting errors over every image, per class."""
    rows = []
    for key, part in coded.groupby("category", sort=True):
        code = cast(int, key)  # the category column holds integer codes (-1: none)
        per_image = _per_image(part, n_images)
        totals = {k: int(per_image[k].sum()) for k in ("tp", "fp", "fn")}
        errors = (per_image["pred"] - per_image["gt"]).to_numpy(float)
        rows.append({"category": classes[code] if code >= 0 else None,
                     "gt": totals["tp"] + totals["fn"], "pred": totals["tp"] + totals["fp"],
                     **totals, **_rates(**totals), **_count_errors(errors)})
    columns = ["category", "gt", "pred", "tp", "fp", "fn", "precision", "recall", "f1",
               "count_mae", "count_rmse", "count_bias"]
    return pd.DataFrame(rows, columns=columns).set_index("category").sort_index()


def _rates(tp: int, fp: int, fn: int) -> dict:
    return {"precision": tp / (tp + fp) if tp + fp else np.nan,
            "recall": tp / (tp + fn) if tp + fn else np.nan,
            "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else np.nan}


def _count_errors(errors: np.ndarray) -> dict:
    if not len(errors):
        return {"count_mae": np.nan, "count_rmse": np.nan, "count_bias": np.nan}
    return {"count_mae": float(np.mean(np.abs(errors))),
            "count_rmse": float(np.sqrt(np.mean(errors ** 2))),
            "count_bias": float(np.mean(errors))}
