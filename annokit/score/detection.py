"""Detection scoring: a quality per box (swapped class, badly located, spurious), candidate
overlooked objects, and from them a quality per image.

Three sources of evidence, one output shape:

``classic``      one scikit-learn classifier over crop features (``features.py``) with a
                 class per category plus ``background`` (boxes on unannotated ground) and
                 ``badloc`` (annotated boxes moved to IoU < 0.5); trained K-fold, so each
                 box is judged by a model that never saw its image. A ridge regression
                 from the same features suggests where a badly located box should be.
                 Overlooked candidates are Felzenszwalb segments scored by it.
predictions      a detector's boxes (the user's ``--predictions``, or the out-of-fold
                 ``cnn``) matched to the annotations (:func:`from_predictions`).
both             ``classic`` with the out-of-fold boxes of the detector that looks for
                 overlooked objects as a second judge of where each box sits
                 (:func:`placement`): the default where torch is installed.

Per box: ``swap_quality`` = p(annotated class) / (p(annotated) + p(best other class)),
``spurious_quality`` = p(annotated) / (p(annotated) + p(background)),
``badloc_quality`` = p(annotated) / (p(annotated) + p(badly located) + p(background)).
For ``classic``, ``quality`` and ``issue`` are calibrated and flagged by
``calibrate.judge_boxes``; from predictions, ``quality`` is the lowest of the three and
``issue`` the type that gave it when it is below :data:`FLAG`.

Example:
    >>> boxes, candidates = classic(ds, folds, seed=0, skipped=[])  # doctest: +SKIP
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import parallel
from ..geometry import iou_matrix
from ..model import NONE, Dataset
from . import calibrate, models
from .features import crop_features, read_images
from .overlap import greedy_keep, max_iou as max_overlap, row_blocks
from .registry import fit_out_of_fold
from .samples import candidates as segment_candidates
from .samples import jitter, negatives

FLAG = 0.5          # a type quality below this names the box's issue
SEGMENT_SIDE = 160  # candidates are segmented on images downscaled to this side
MAX_CANDIDATES = 10  # overlooked candidates kept per image, best first
MIN_OBJECT = 0.1    # candidates whose object probability is lower are dropped
MAX_NEGATIVES = 64  # background samples per image: enough to learn from, bounded work
ISSUES = ("spurious", "swap", "badloc")  # ties name the first: nothing there at all is spurious


def box_table(ds: Dataset) -> tuple[pd.DataFrame, np.ndarray]:
    """The boxes that can be scored (finite, positive size, known image and class) with
    their image position ``pos`` and class code ``code``; and the class ids in code order.

    Example:
        >>> boxes, classes = box_table(ds)  # doctest: +SKIP
    """
    anns = ds.annotations
    classes = ds.categories["id"].to_numpy()
    pos = pd.Index(ds.images["id"]).get_indexer(anns["image_id"])
    code = pd.Index(classes).get_indexer(anns["category_id"])
    xywh = anns[["x", "y", "w", "h"]].to_numpy(np.float64)
    ok = ((anns["kind"] == "box").to_numpy() & (pos >= 0) & (code >= 0)
          & np.isfinite(xywh).all(axis=1) & (xywh[:, 2] > 0) & (xywh[:, 3] > 0))
    table = pd.DataFrame({"row": np.flatnonzero(ok), "pos": pos[ok], "code": code[ok],
                          "x": xywh[ok, 0], "y": xywh[ok, 1], "w": xywh[ok, 2],
                          "h": xywh[ok, 3]})
    return table, classes


def _xyxy(xywh: np.ndarray) -> np.ndarray:
    return np.hstack([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]])


def _image_samples(im, boxes: np.ndarray, sizes_rel: np.ndarray, rng, with_candidates: bool
                   ) -> dict[str, np.ndarray]:
    """Boxes to featurise in one image: annotated, jittered, background, candidates."""
    width, height = im.size
    out = {"gt": boxes, "jitter": jitter(boxes, rng, width, height),
           "negative": negatives(boxes, sizes_rel, min(max(2, len(boxes)), MAX_NEGATIVES),
                                 rng, width, height)}
    if with_candidates:
        scale = min(1.0, SEGMENT_SIDE / max(width, height))
        small = im.resize((max(1, round(width * scale)), max(1, round(height * scale))))
        out["candidate"] = segment_candidates(np.asarray(small), boxes, sizes_rel, scale)
    return out


def featurise(ds: Dataset, boxes: pd.DataFrame, seed: int, skipped: list[str],
              with_candidates: bool = True, pretrained=None) -> pd.DataFrame | None:
    """Decode each image once and compute the features of all its sample boxes.

    Returns a table with ``pos`` (image), ``kind`` (gt/jitter/negative/candidate),
    ``ref`` (the box row for gt/jitter), ``code`` (class), the box ``x y w h`` and
    ``target`` (jitter: where the true box is, relative to the jittered one), plus a
    ``features`` matrix in ``.attrs``. Unreadable images are appended to ``skipped``.
    ``pretrained`` (a function of the image and its xyxy boxes, ``backbones.box_features``)
    adds a ``pretrained`` matrix, from one pass over each image. Images are featurised by
    partitions (:mod:`annokit.parallel`: in-process, on ``--workers`` or ``--dask``; with
    ``pretrained``, in this process, where the network is); each image's samples are seeded
    by ``(seed, pos)``, so where a partition runs changes nothing.
    """
    images = ds.images
    sizes = boxes[["w", "h"]].to_numpy() / images[["width", "height"]].to_numpy(
        np.float64, na_value=np.nan)[boxes["pos"].to_numpy()]
    sizes_rel = sizes[np.isfinite(sizes).all(axis=1)]
    by_image = {p: g for p, g in boxes.groupby("pos", sort=False)}
    jobs = [(pos, name, split, by_image.get(pos)) for pos, (name, split) in
            enumerate(zip(images["file_name"].tolist(), images["split"].tolist()))]
    roots = {k: ds.meta.get(k) for k in ("image_root", "split_roots")}
    if pretrained is None:
        found = parallel.map_partitions(_featurise_images, jobs, roots, sizes_rel, seed,
                                        with_candidates, label="features")
    else:  # the network stays in this process
        found = _featurise_images(jobs, roots, sizes_rel, seed, with_candidates, pretrained)
    parts, feats, deep = [], [], []
    for row in found:
        if isinstance(row, str):
            skipped.append(row)
        else:
            parts.extend(row[0])
            feats.extend(row[1])
            deep.extend(row[2])
    if not parts:
        return None
    table = pd.concat(parts, ignore_index=True)
    table.attrs["features"] = np.vstack(feats)
    if pretrained is not None:
        table.attrs["pretrained"] = np.vstack(deep)
    return table


def _featurise_images(jobs: list, roots: dict, sizes_rel: np.ndarray, seed: int,
                      with_candidates: bool, pretrained=None) -> list:
    """One partition of :func:`featurise`: per image in order, (sample tables, features,
    pretrained features), or the line saying why it was skipped."""
    part = Dataset(images=pd.DataFrame({"id": np.arange(1, len(jobs) + 1),
                                        "file_name": [j[1] for j in jobs],
                                        "split": [j[2] for j in jobs]}), meta=dict(roots))
    out: list = []
    skipped: list[str] = []
    done = 0
    for i, im in read_images(part, "features", skipped):
        out.extend(skipped[done:])  # the images before this one that could not be read
        done = len(skipped)
        pos, group = jobs[i][0], jobs[i][3]
        out.append(_image_features(pos, im, group, sizes_rel, seed, with_candidates,
                                   pretrained))
    return out + skipped[done:]


def _image_features(pos: int, im, group: pd.DataFrame | None, sizes_rel: np.ndarray,
                    seed: int, with_candidates: bool, pretrained=None
                    ) -> tuple[list, list, list]:
    """The sample boxes of one image (annotated, jittered, background, candidates), their
    features and, with ``pretrained``, their pretrained features (one pass per image)."""
    if group is None:
        group = pd.DataFrame({c: [] for c in ("row", "code", "x", "y", "w", "h")})
    xywh = group[["x", "y", "w", "h"]].to_numpy(np.float64)
    rng = np.random.default_rng([seed, pos])
    samples = _image_samples(im, xywh, _image_sizes(sizes_rel, im), rng, with_candidates)
    parts, feats = [], []
    for kind, b in samples.items():
        if not len(b):
            continue
        part = pd.DataFrame({"pos": pos, "kind": kind, "x": b[:, 0], "y": b[:, 1],
                             "w": b[:, 2], "h": b[:, 3]})
        if kind in ("gt", "jitter"):
            part["ref"] = group["row"].to_numpy()
            part["code"] = group["code"].to_numpy()
            if kind == "jitter":
                part[["t0", "t1", "t2", "t3"]] = _offsets(b, xywh)
        parts.append(part)
        feats.append(crop_features(im, _xyxy(b)))
    deep = []
    if pretrained is not None and parts:
        every = pretrained(im, _xyxy(np.vstack([p[["x", "y", "w", "h"]].to_numpy()
                                                for p in parts])))
        deep = np.split(every, np.cumsum([len(p) for p in parts])[:-1])
    return parts, feats, deep


def _image_sizes(sizes_rel: np.ndarray, im) -> np.ndarray:
    return sizes_rel if len(sizes_rel) else np.array([[0.1, 0.1]])


def _offsets(moved: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Where ``true`` lies relative to ``moved``: centre shift in box sizes, log size ratio."""
    mc = moved[:, :2] + moved[:, 2:] / 2
    tc = true[:, :2] + true[:, 2:] / 2
    return np.hstack([(tc - mc) / moved[:, 2:], np.log(true[:, 2:] / moved[:, 2:])])


def _apply_offsets(box: np.ndarray, t: np.ndarray) -> np.ndarray:
    centre = box[:, :2] + box[:, 2:] / 2 + t[:, :2] * box[:, 2:]
    size = box[:, 2:] * np.exp(np.clip(t[:, 2:], -3, 3))
    return np.hstack([centre - size / 2, size])


def classic(ds: Dataset, folds: np.ndarray, seed: int, skipped: list[str], pretrained=None,
            with_candidates: bool = True, detected: Dataset | None = None
            ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Out-of-fold per-box type qualities and scored overlooked candidates (classic).

    ``folds`` gives each image's fold. Returns (per annotation row: the type qualities and
    suggestions, indexed by annotation position; candidates: pos, x, y, w, h, code, prob;
    none without ``with_candidates``, when another family looks for missed objects).
    ``detected``: a detector's out-of-fold boxes on ``ds``'s images, a second judge of
    where the boxes sit (:func:`placement`): it has half the say in ``badloc_quality``,
    ``spurious_quality`` and the calibrated ``quality``.
    """
    boxes, classes = box_table(ds)
    table = featurise(ds, boxes, seed, skipped, with_candidates, pretrained)
    k = len(classes)
    scores = _empty_box_scores(len(ds.annotations))
    if table is None:
        return scores, _empty_candidates()
    feats = models.reduce(table.attrs["features"], seed)
    if "pretrained" in table.attrs:  # reduced apart: neither set drowns the other
        feats = np.hstack([feats, models.reduce(table.attrs["pretrained"], seed)])
    kind = table["kind"].to_numpy()
    fold = folds[table["pos"].to_numpy()]
    label = np.where(kind == "gt", table["code"].fillna(-1).to_numpy(),
                     np.where(kind == "negative", k, k + 1)).astype(np.int64)
    learn = kind != "candidate"
    probs = np.full((len(table), k + 2), np.nan)
    offsets = np.full((len(table), 4), np.nan)
    shifts = table.reindex(columns=["t0", "t1", "t2", "t3"]).to_numpy(np.float64)

    def job(_, train, judge):  # the fold's training rows; its models come back
        return feats[train], label[train], kind[train] == "jitter", shifts[train], seed

    for _, _, judge, (clf, reg) in fit_out_of_fold(fit_box_models, job, fold, learn,
                                                   np.ones(len(fold), bool)):
        if clf is not None:
            probs[np.ix_(judge, clf.classes_)] = clf.predict_proba(feats[judge])
        if reg is not None:
            gt_judge = judge[kind[judge] == "gt"]
            offsets[gt_judge] = reg.predict(feats[gt_judge])
    probs = np.nan_to_num(probs, nan=0.0)
    gt = kind == "gt"
    placed = None if detected is None else placement_by_class(table, detected, ds, classes)
    _fill_box_scores(scores, table[gt], probs[gt], offsets[gt], classes,
                     None if placed is None else placed[gt])
    cand = kind == "candidate"
    # P(object) of a candidate: its object score against the annotated boxes' own
    chance = calibrate.object_probability(probs[cand, :k].sum(axis=1), probs[gt, :k].sum(axis=1))
    found = _candidates(table[cand], probs[cand, :k], classes, chance)
    return _calibrated(scores, table, probs, label, classes, seed, boxes, found, placed)


def fit_box_models(job: tuple) -> tuple:
    """One fold, a pure function (it may run on a worker): the box classifier and the box
    regressor fitted on the fold's training rows, or None where there is nothing to learn.

    ``job`` is (features, labels, which rows are jittered boxes, their offsets to the true
    box, seed).

    Example:
        >>> x = np.r_[np.zeros((3, 2)), np.ones((3, 2))]
        >>> clf, reg = fit_box_models((x, np.r_[0, 0, 0, 1, 1, 1], np.zeros(6, bool),
        ...                            np.zeros((6, 4)), 0))
        >>> clf.predict(x[[0, 5]]).tolist(), reg
        ([0, 1], None)
    """
    feats, label, jittered, shifts, seed = job
    if len(np.unique(label)) < 2:  # folds without a box: nothing to tell apart
        return None, None
    clf = models.box_classifier(seed).fit(feats, label)
    if jittered.sum() <= 10:
        return clf, None
    return clf, models.box_regressor(seed).fit(feats[jittered], shifts[jittered])


def _calibrated(scores, table, probs, label, classes, seed, boxes, found, placed=None):
    """Calibrated quality and flags (``calibrate.judge_boxes``) on the box rows; only the
    candidates as sure as a typical annotated object and clear of every annotated box."""
    k = len(classes)
    kind = table["kind"].to_numpy()
    code = table["code"].fillna(-1).to_numpy(np.int64)
    judged = calibrate.judge_boxes(probs, label, code, kind, k, seed, placed)
    gt = kind == "gt"
    rows = table.loc[gt, "ref"].to_numpy(np.int64)
    scores["quality"] = np.nan
    scores["issue"] = pd.Series([None] * len(scores), dtype=object)
    scores.loc[rows, "quality"] = judged["quality"]
    scores.loc[rows, "issue"] = judged["issue"]
    need = calibrate.typical(probs[gt][np.arange(gt.sum()), code[gt]], code[gt], k)
    found_need = need[pd.Index(classes).get_indexer(found["category_id"])]
    return scores, calibrate.keep_candidates(found, found["sure"].to_numpy(), found_need, boxes,
                                             found.get("chance"))


def _empty_box_scores(n: int) -> pd.DataFrame:
    return pd.DataFrame({
        "swap_quality": np.full(n, np.nan), "badloc_quality": np.full(n, np.nan),
        "spurious_quality": np.full(n, np.nan),
        "suggested_category_id": pd.array([pd.NA] * n, dtype="Int64"),
        **{f"suggested_{c}": np.full(n, np.nan) for c in "xywh"}})


def _empty_candidates() -> pd.DataFrame:
    return pd.DataFrame({"pos": np.zeros(0, np.int64), "x": [], "y": [], "w": [], "h": [],
                         "category_id": np.zeros(0, np.int64), "object": [], "sure": []})


def _fill_box_scores(scores: pd.DataFrame, gt: pd.DataFrame, probs: np.ndarray,
                     offsets: np.ndarray, classes: np.ndarray,
                     placed: np.ndarray | None = None) -> None:
    k = len(classes)
    rows = gt["ref"].to_numpy(np.int64)
    code = gt["code"].to_numpy(np.int64)
    objects = probs[:, :k]
    own = objects[np.arange(len(code)), code]
    others = objects.copy()
    others[np.arange(len(code)), code] = -1
    best_other = others.max(axis=1) if k > 1 else np.zeros(len(code))
    scores.loc[rows, "swap_quality"] = own / np.maximum(own + best_other, 1e-12)
    # background against the box's own class, not against all objects: a spurious box's
    # label is arbitrary, so its own class is unlikely there even where another is not
    background = probs[:, k]
    spurious = own / np.maximum(own + background, 1e-12)
    # a box off its object shows its object in part and background in part: the own class
    # against moved and background (raccoon AUROC 0.67 -> 0.86 over 1 - p(moved), bccd
    # 0.965 -> 0.973, seed 0, baselines/README.md)
    badloc = own / np.maximum(own + probs[:, k + 1] + background, 1e-12)
    if placed is not None:  # a detector's view has half the say (baselines/README.md v2.3)
        mine = placed[np.arange(len(code)), code]
        badloc, spurious = (badloc + mine) / 2, (spurious + mine) / 2
    scores.loc[rows, "badloc_quality"] = badloc
    scores.loc[rows, "spurious_quality"] = spurious
    suggest = classes[others.argmax(axis=1)] if k > 1 else classes[code]
    scores.loc[rows, "suggested_category_id"] = suggest
    xywh = gt[["x", "y", "w", "h"]].to_numpy()
    moved = np.where(np.isfinite(offsets).all(axis=1)[:, None],
                     _apply_offsets(xywh, np.nan_to_num(offsets)), np.nan)
    scores.loc[rows, ["suggested_x", "suggested_y", "suggested_w", "suggested_h"]] = moved


def _candidates(cand: pd.DataFrame, objects: np.ndarray, classes: np.ndarray,
                chance: np.ndarray | None = None) -> pd.DataFrame:
    """Candidates worth showing: object probability >= MIN_OBJECT, non-overlapping, the
    MAX_CANDIDATES best per image. ``chance``: the calibrated P(object) of each."""
    if not len(cand):
        return _empty_candidates()
    out = pd.DataFrame({"pos": cand["pos"].to_numpy(), "x": cand["x"].to_numpy(),
                        "y": cand["y"].to_numpy(), "w": cand["w"].to_numpy(),
                        "h": cand["h"].to_numpy(),
                        "category_id": classes[objects.argmax(axis=1)],
                        "object": objects.sum(axis=1), "sure": objects.max(axis=1)})
    if chance is not None:
        out["chance"] = chance
    return suppress(out[out["object"] >= MIN_OBJECT])


def suppress(cand: pd.DataFrame, max_iou: float = 0.5) -> pd.DataFrame:
    """Greedy non-maximum suppression per image, then the best MAX_CANDIDATES per image.

    Example:
        >>> c = pd.DataFrame({"pos": [0, 0], "x": [0.0, 1], "y": [0.0, 0], "w": [10.0, 10],
        ...                   "h": [10.0, 10], "category_id": [1, 1], "object": [0.9, 0.8]})
        >>> len(suppress(c))
        1
    """
    cand = cand.sort_values(["pos", "object"], ascending=[True, False], kind="stable")
    keep = np.zeros(len(cand), bool)
    xywh = cand[["x", "y", "w", "h"]].to_numpy()
    starts = np.flatnonzero(np.r_[True, np.diff(cand["pos"].to_numpy()) != 0]) \
        if len(cand) else np.zeros(0, int)
    ends = np.r_[starts[1:], len(cand)]
    for a, b in zip(starts.tolist(), ends.tolist()):  # per image, in bounded blocks
        keep[a:b] = greedy_keep(xywh[a:b], MAX_CANDIDATES, max_iou)
    return cand[keep].reset_index(drop=True)


def combine(scores: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``quality`` (the lowest type quality) and ``issue`` (its type, when below FLAG).

    Example:
        >>> s = pd.DataFrame({"swap_quality": [0.9, 0.2], "badloc_quality": [0.8, 0.9],
        ...                   "spurious_quality": [0.7, 0.95]})
        >>> combine(s)[1].tolist()
        [None, 'swap']
    """
    if "quality" in scores and "issue" in scores:  # calibrated already (classic)
        return scores["quality"].to_numpy(np.float64), scores["issue"].to_numpy(object)
    q = scores[[f"{t}_quality" for t in ISSUES]].to_numpy(np.float64)
    judged = np.isfinite(q).all(axis=1)
    safe = np.where(np.isfinite(q), q, 1.0)
    quality = np.where(judged, safe.min(axis=1), np.nan)
    worst = np.asarray(ISSUES, dtype=object)[safe.argmin(axis=1)]
    issue = np.where(judged & (quality < FLAG), worst, NONE)
    return quality, issue


def from_predictions(ds: Dataset, pred: Dataset, *, min_score: float = 0.05
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-box type qualities and overlooked candidates from a detector's boxes.

    For an annotated box of class k, the predictions overlapping it (IoU >= 0.5) give
    s_own (best score of class k) and s_other (best of another class):
    ``swap_quality = s_own / (s_own + s_other)``; ``spurious_quality`` is the best score of
    any prediction with IoU >= 0.1 (nothing there: an empty spot); ``badloc_quality`` the
    confidence-weighted mean IoU of the predictions of class k that overlap it (IoU >=
    0.1): a confident object that only half-overlaps the box scores low. A prediction with score >=
    ``min_score`` that overlaps no annotation (IoU < 0.3) is an overlooked candidate,
    ``quality = 1 - score``.

    Example:
        >>> boxes, candidates = from_predictions(ds, predictions)  # doctest: +SKIP
    """
    boxes, classes = box_table(ds)
    scores = _empty_box_scores(len(ds.annotations))
    p = pred.annotations
    p = p[(p["kind"] == "box") & (p["score"].fillna(0) >= min_score)]
    p_pos = pd.Index(ds.images["id"]).get_indexer(p["image_id"])
    p = p.assign(pos=p_pos)[p_pos >= 0]
    p_by = {k: g for k, g in p.groupby("pos", sort=False)}
    cands, parts = [], []
    for pos, group in boxes.groupby("pos", sort=False):  # per image: matrices, not loops
        mine = p_by.get(pos)
        m = 0 if mine is None else len(mine)
        parts += [_image_prediction_scores(group.iloc[rows], mine, classes)
                  for rows in row_blocks(len(group), m)]
    have_by = {k: g[["x", "y", "w", "h"]].to_numpy() for k, g in boxes.groupby("pos", sort=False)}
    for pos, mine in p_by.items():
        have = have_by.get(pos, np.zeros((0, 4)))
        pb = mine[["x", "y", "w", "h"]].to_numpy()
        free = max_overlap(pb, have) < 0.3
        if free.any():
            cands.append(pd.DataFrame({"pos": pos, "x": pb[free, 0], "y": pb[free, 1],
                                       "w": pb[free, 2], "h": pb[free, 3],
                                       "category_id": mine["category_id"].to_numpy()[free],
                                       "object": mine["score"].to_numpy()[free]}))
    detected = np.zeros(len(scores))  # the detector's score of each annotated object
    if parts:
        table = pd.concat(parts)
        rows = table.index.to_numpy()
        detected[rows] = table.pop("detected").to_numpy()
        for col in table.columns:
            scores.loc[rows, col] = table[col].to_numpy()
    cand = suppress(pd.concat(cands, ignore_index=True)) if cands else _empty_candidates()
    _calibrate_predictions(ds, scores, boxes, p_by, classes)
    return scores, _sure_candidates(cand, detected[boxes["row"].to_numpy()], boxes, classes)


def _calibrate_predictions(ds: Dataset, scores: pd.DataFrame, boxes: pd.DataFrame,
                           p_by: dict, classes: np.ndarray, seed: int = 0) -> None:
    """``quality`` = P(the annotation is right) and ``issue`` for the boxes judged against
    a detector's boxes, calibrated as the classic family's are (``calibrate.calibrate``):
    the lowest type quality of the dataset's boxes against known-wrong examples judged the
    same way (each box moved, ``samples.jitter``; background boxes given a class by class
    frequency), ``e`` the share of boxes below :data:`FLAG`. A box is flagged when its
    lowest type quality is below FLAG and its quality below ``calibrate.FLAG``. Without
    image sizes (no examples can be placed) the uncalibrated rule stays."""
    cols = [f"{t}_quality" for t in ISSUES]
    rows = boxes["row"].to_numpy()
    q = scores.loc[rows, cols].to_numpy(np.float64)
    judged = np.isfinite(q).all(axis=1)
    wrong = _wrong_examples(ds, boxes, p_by, classes, seed)
    if not len(wrong) or not judged.any():
        return
    raw = q[judged].min(axis=1)
    e = float(np.clip((raw < FLAG).mean(), *calibrate.ERROR_RATE))
    right = calibrate.calibrate(np.r_[raw, wrong], np.r_[np.zeros(len(raw), bool),
                                                        np.ones(len(wrong), bool)], e)
    quality = np.clip(right(raw) + 1e-6 * (raw - 0.5), 0, 1)  # the raw order in ties
    worst = np.asarray(ISSUES, dtype=object)[q[judged].argmin(axis=1)]
    scores["quality"] = np.nan
    scores["issue"] = pd.Series([None] * len(scores), dtype=object)
    at = rows[judged]
    scores.loc[at, "quality"] = quality
    scores.loc[at, "issue"] = np.where((raw < FLAG) & (quality < calibrate.FLAG), worst, NONE)


def _wrong_examples(ds: Dataset, boxes: pd.DataFrame, p_by: dict, classes: np.ndarray,
                    seed: int) -> np.ndarray:
    """The lowest type quality of known-wrong boxes against the predictions: each
    annotated box moved to IoU < 0.5, and as many background boxes given a class drawn by
    class frequency, on the images whose size is known."""
    size = ds.images[["width", "height"]].to_numpy(np.float64, na_value=np.nan)
    rng = np.random.default_rng(seed)
    freq = np.bincount(boxes["code"].to_numpy(np.int64), minlength=len(classes)) + 1.0
    rel = boxes[["w", "h"]].to_numpy() / size[boxes["pos"].to_numpy()]
    rel = rel[np.isfinite(rel).all(axis=1)]
    out = []
    for pos, group in boxes.groupby("pos", sort=False):
        width, height = size[pos]
        if not (np.isfinite([width, height]).all() and width > 0 and height > 0):
            continue
        xywh = group[["x", "y", "w", "h"]].to_numpy(np.float64)
        moved = jitter(xywh, rng, width, height)
        empty = negatives(xywh, rel, len(xywh), rng, width, height)
        code = np.r_[group["code"].to_numpy(np.int64),
                     rng.choice(len(classes), len(empty), p=freq / freq.sum())]
        fake = pd.DataFrame(np.vstack([moved, empty]), columns=["x", "y", "w", "h"])
        fake = fake.assign(code=code, row=np.arange(len(fake)))
        judged = _image_prediction_scores(fake, p_by.get(pos), classes)
        out.append(judged[[f"{t}_quality" for t in ISSUES]].to_numpy(np.float64).min(axis=1))
    return np.concatenate(out) if out else np.zeros(0)


def _sure_candidates(cand: pd.DataFrame, detected: np.ndarray, boxes: pd.DataFrame,
                     classes: np.ndarray) -> pd.DataFrame:
    """A detector's candidates with a calibrated P(object) (``chance``: its score against
    its scores of the annotated objects, ``detected``), shown as the classic ones are: as
    sure as it is of a typical annotated object of the class, clear of annotated boxes,
    within the review budget."""
    if not len(cand):
        return cand
    cand = cand.assign(chance=calibrate.object_probability(cand["object"].to_numpy(), detected))
    need = calibrate.typical(detected, boxes["code"].to_numpy(np.int64), len(classes))
    code = pd.Index(classes).get_indexer(cand["category_id"])
    return calibrate.keep_candidates(cand, cand["object"].to_numpy(), need[code], boxes,
                                     cand["chance"].to_numpy())


def placement(iou: np.ndarray, score: np.ndarray, same: np.ndarray) -> np.ndarray:
    """How well a detector's boxes sit on each box: the IoU of the detector's boxes of its
    class that overlap it (IoU >= 0.1), weighted by their confidence; 0 where none does.
    ``iou`` (boxes x detections), ``score`` (1 x detections), ``same`` (class matches).

    Example:
        >>> placement(np.array([[0.9, 0.3]]), np.array([[0.8, 0.8]]),
        ...           np.array([[True, True]])).round(2).tolist()
        [0.6]
    """
    weight = np.where(same & (iou >= 0.1), score, 0)
    return (weight * iou).sum(axis=1) / np.maximum(weight.sum(axis=1), 1e-12)


def placement_by_class(table: pd.DataFrame, detected: Dataset, ds: Dataset,
                       classes: np.ndarray) -> np.ndarray:
    """:func:`placement` of every sample box (``table``: pos, x, y, w, h) against a
    detector's boxes on its image, as if it were of each class: (rows, classes).

    Example:
        >>> placed = placement_by_class(table, predictions, ds, classes)  # doctest: +SKIP
    """
    pred = detected.annotations
    pred = pred[(pred["kind"] == "box") & pred["score"].notna()]
    pos = pd.Index(ds.images["id"]).get_indexer(pred["image_id"])
    order = np.argsort(pos, kind="stable")
    pos = pos[order]
    pxywh = pred[["x", "y", "w", "h"]].to_numpy(np.float64)[order]
    score = pred["score"].to_numpy(np.float64)[order][None, :]
    pclass = pred["category_id"].to_numpy()[order]
    xywh = table[["x", "y", "w", "h"]].to_numpy(np.float64)
    out = np.zeros((len(table), len(classes)))
    for p, rows in table.groupby("pos", sort=False).indices.items():  # per image: matrices
        lo, hi = np.searchsorted(pos, [int(p), int(p) + 1])  # type: ignore[call-overload]
        if hi == lo:
            continue
        for block in row_blocks(len(rows), hi - lo):
            at = rows[block]
            iou = iou_matrix(xywh[at], pxywh[lo:hi])
            for c, name in enumerate(classes.tolist()):
                out[at, c] = placement(iou, score[:, lo:hi], (pclass[lo:hi] == name)[None, :])
    return out


def _image_prediction_scores(group: pd.DataFrame, mine: pd.DataFrame | None,
                             classes: np.ndarray) -> pd.DataFrame:
    """The type qualities of one image's boxes against that image's predictions."""
    n = len(group)
    cls = classes[group["code"].to_numpy()]
    out = pd.DataFrame({"swap_quality": np.full(n, 0.5), "badloc_quality": np.zeros(n),
                        "spurious_quality": np.zeros(n),
                        "suggested_category_id": pd.array([pd.NA] * n, dtype="Int64"),
                        "detected": np.zeros(n)}, index=group["row"].to_numpy())
    if mine is None or not len(mine):
        return out
    iou = iou_matrix(group[["x", "y", "w", "h"]].to_numpy(), mine[["x", "y", "w", "h"]].to_numpy())
    score = mine["score"].to_numpy(np.float64)[None, :]
    same = cls[:, None] == mine["category_id"].to_numpy()[None, :]
    close = iou >= 0.5
    s_own = np.where(close & same, score, 0).max(axis=1)
    out["detected"] = s_own
    other = np.where(close & ~same, score, 0)
    s_other = other.max(axis=1)
    out["swap_quality"] = np.where(s_own + s_other > 0,
                                   s_own / np.maximum(s_own + s_other, 1e-12), 0.5)
    out["spurious_quality"] = np.where(iou >= 0.1, score, 0).max(axis=1)
    out["badloc_quality"] = placement(iou, score, same)
    best = other.argmax(axis=1)
    suggest = mine["category_id"].to_numpy()[best]
    out["suggested_category_id"] = pd.array(np.where(s_other > s_own, suggest, cls),
                                            dtype="Int64")
    pick = np.where(same & (iou >= 0.1), iou * score, -1).argmax(axis=1)
    has = (np.where(same & (iou >= 0.1), 1, 0).sum(axis=1) > 0)
    pb = mine[["x", "y", "w", "h"]].to_numpy()[pick]
    for j, c in enumerate("xywh"):
        out[f"suggested_{c}"] = np.where(has, pb[:, j], np.nan)
    return out
