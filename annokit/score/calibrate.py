"""Calibrated box quality, flags that are expected to be real, candidates worth opening.

The classic box classifier gives, out of fold, probabilities over the categories plus
``background`` and ``badloc`` for every annotated box and for the samples it learns from
(moved copies of the boxes, background boxes). From these:

- **per-column thresholds** (confident learning): ``t[c]`` is the mean out-of-fold
  probability of column ``c`` over the samples that truly are ``c`` (boxes of that class,
  background samples, moved samples). A column is *confident* for a box when its
  probability reaches its threshold.
- **margin**: for a box annotated ``j``, ``r = (p_j / t_j) / (p_j / t_j + max_c p_c / t_c)``
  over the other columns; the column of that max names the likely issue (another class:
  ``swap``, background: ``spurious``, moved: ``badloc``).
- **a second judge**: where a detector ran, each row's ``r`` is averaged with how well
  the detector's boxes of its class sit on it (``detection.placement``) before calibration.
- **quality**: ``r`` mapped to the probability that the annotation is right by an isotonic
  fit on labelled examples out of fold: the annotated boxes (right, weighted to 1 - e) and
  the moved and background samples given a class (wrong, weighted to e), where ``e`` is the
  share of wrong boxes: where a detector ran, from how often the two judges call the same
  boxes wrong (:func:`agreement_error_rate`); otherwise confident learning's count, the
  share of boxes whose confident column is not their own (which a weak classifier
  inflates: raccoon 0.19-0.23 against 0.06-0.08 planted).
- **flag**: quality < 0.5 *and* a confident other column: each flag is expected to be an
  error more often than not, and a clean dataset gets few.

Overlooked candidates are kept only where the classifier is at least as sure of the class
as it is, in the median, of the annotated boxes of that class, and never where they
overlap an annotated box (IoU >= :data:`MAX_IOU`) or mostly lie inside or around one; at
most one per ten annotated boxes is shown (:data:`PER_BOX`), the surest first.

Example:
    >>> import numpy as np
    >>> t = thresholds(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([0, 1]))
    >>> t.round(2).tolist()
    [0.9, 0.8]
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..geometry import iou_matrix

FLAG = 0.5  # flag below this quality (with a confident other column): more likely wrong than right
MAX_IOU = 0.2     # a candidate overlapping an annotated box at least this much is not shown
MAX_INSIDE = 0.5  # ... nor one whose area (or an annotated box's) lies this much in the other
PER_BOX = 0.1     # at most this many candidates per annotated box are shown, surest first
ERROR_RATE = (0.005, 0.3)  # bounds on the estimated share of wrong boxes
PLACE_VOTE = 0.3  # the detector votes "wrong" where its boxes sit on a box below this placement
OBJECT_SHARE = (0.001, 0.5)  # bounds on the estimated share of missed objects in candidates


def thresholds(probs: np.ndarray, label: np.ndarray) -> np.ndarray:
    """Per column, the mean probability over the rows labelled with it (1 where none).

    Example:
        >>> thresholds(np.array([[0.6, 0.4]]), np.array([0])).tolist()
        [0.6, 1.0]
    """
    m = probs.shape[1]
    out = np.ones(m)
    for c in range(m):
        mine = label == c
        if mine.any():
            out[c] = max(float(probs[mine, c].mean()), 1e-6)
    return out


def margin(probs: np.ndarray, own: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Threshold-normalised margin of the own column over the best other, and that column.

    Example:
        >>> r, c = margin(np.array([[0.2, 0.8]]), np.array([0]), np.array([0.5, 0.5]))
        >>> round(float(r[0]), 2), int(c[0])
        (0.2, 1)
    """
    scaled = probs / t
    rows = np.arange(len(own))
    mine = scaled[rows, own]
    others = scaled.copy()
    others[rows, own] = -np.inf
    best = others.argmax(axis=1)
    other = others[rows, best]
    return mine / np.maximum(mine + other, 1e-12), best


def calibrate(score: np.ndarray, wrong: np.ndarray, error_rate: float):
    """A map from ``score`` (rows of the dataset, ``wrong == False``, a mixture holding
    ``error_rate`` errors; and known-wrong examples) to P(right).

    An isotonic fit of "is a dataset row" on ``score``, both groups weighted equally, gives
    the density ratio of wrong examples to dataset rows; P(wrong | s) is ``error_rate``
    times that ratio (the positive-unlabelled estimate), clipped to [0, 1].

    Example:
        >>> f = calibrate(np.array([0.1, 0.2, 0.8, 0.9]), np.array([1, 1, 0, 0]), 0.5)
        >>> f(np.array([0.0, 1.0])).tolist()
        [0.0, 1.0]
    """
    from sklearn.isotonic import IsotonicRegression

    wrong = np.asarray(wrong, bool)
    w = np.where(wrong, 0.5 / max(wrong.sum(), 1), 0.5 / max((~wrong).sum(), 1))
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    iso.fit(score, (~wrong).astype(float), sample_weight=w)

    def right(s: np.ndarray) -> np.ndarray:
        g = iso.predict(s)
        return 1 - np.clip(error_rate * (1 - g) / np.maximum(g, 1e-12), 0, 1)
    return right


def judge_boxes(probs: np.ndarray, label: np.ndarray, code: np.ndarray, kind: np.ndarray,
                k: int, seed: int = 0, placed: np.ndarray | None = None
                ) -> dict[str, np.ndarray]:
    """Quality, issue and confident column of every ``kind == 'gt'`` row.

    ``probs`` (n, k + 2) out-of-fold probabilities (categories, background, badloc);
    ``label`` the column each learning row truly is; ``code`` the class of the box a gt or
    moved row stands for; ``kind`` gt/jitter/negative/candidate; ``placed`` (n, k), where
    a detector ran: how well its boxes of each class sit on each row (``detection.placement``),
    averaged with the margin before calibration (the second judge's half).
    Returns ``quality``, ``issue`` (None or the type) and ``threshold`` (per column).

    Example:
        >>> out = judge_boxes(probs, label, code, kind, k=3)  # doctest: +SKIP
    """
    learn = np.isin(kind, ("gt", "jitter", "negative"))
    t = thresholds(probs[learn], label[learn])
    gt = kind == "gt"
    r, best = margin(probs[gt], label[gt], t)
    # wrong examples: moved boxes judged as their own class, background given a class
    # drawn by class frequency (what a stray box's label looks like)
    rng = np.random.default_rng(seed)
    freq = np.bincount(label[gt], minlength=k)[:k] + 1.0
    neg = kind == "negative"
    neg_label = rng.choice(k, size=int(neg.sum()), p=freq / freq.sum())
    jit = kind == "jitter"
    claimed = np.r_[label[gt], code[jit].astype(np.int64), neg_label]
    rows = np.r_[np.flatnonzero(gt), np.flatnonzero(jit), np.flatnonzero(neg)]
    wrong = np.r_[np.zeros(gt.sum(), bool), np.ones(jit.sum() + neg.sum(), bool)]
    r_all, best_all = margin(probs[rows], claimed, t)
    votes = (r_all < 0.5) & (probs[rows, best_all] >= t[best_all])  # the classifier's
    r, best = r_all[~wrong], best_all[~wrong]
    confident = probs[gt][np.arange(gt.sum()), best] >= t[best]
    if placed is None:
        error_rate = _confident_error_rate(votes[~wrong])
    else:
        place = placed[rows, claimed]
        error_rate = agreement_error_rate(votes, place < PLACE_VOTE, wrong)
        r_all = (r_all + place) / 2
    score = r_all[:gt.sum()]
    quality = calibrate(r_all, wrong, error_rate)(score)
    quality = np.clip(quality + 1e-6 * (score - 0.5), 0, 1)  # keep the score's order in ties
    names = np.array(["swap"] * k + ["spurious", "badloc"], dtype=object)
    issue = np.where(confident & (r < 0.5) & (quality < FLAG), names[best], None)
    return {"quality": quality, "issue": issue, "threshold": t, "error_rate": error_rate,
            "margin": r, "confident": confident, "type": names[best]}


def agreement_error_rate(vote_a: np.ndarray, vote_b: np.ndarray, wrong: np.ndarray) -> float:
    """The share of wrong rows among the dataset rows (``wrong == False``) from two judges'
    votes ("this row is wrong"), assuming they err independently given the truth.

    On the dataset, two independent judges vote together more often than chance only on
    the wrong rows: with each judge's recall ``a`` (measured on the known-wrong rows) and
    vote rate ``p`` (on the dataset), ``e = cov / ((a_A - p_A) (a_B - p_B) + cov)``, where
    ``cov = p_AB - p_A p_B`` (a two-test latent-class estimate; the false-alarm rates drop
    out). Falls back to confident learning's count (judge A's vote rate) where the votes
    do not fit that model (no known-wrong rows, a recall below the vote rate). Clipped to
    :data:`ERROR_RATE`.

    Example:
        >>> wrong = np.r_[np.zeros(100, bool), np.ones(20, bool)]  # 100 dataset rows, 20 known
        >>> a = np.zeros(120, bool); a[:10] = a[10:19] = a[100:] = True  # 10 errors, 9 alarms
        >>> b = np.zeros(120, bool); b[:10] = b[19:28] = b[100:] = True  # the same 10, 9 others
        >>> round(agreement_error_rate(a, b, wrong), 2)
        0.09
    """
    vote_a, vote_b, wrong = (np.asarray(v, bool) for v in (vote_a, vote_b, wrong))
    mine = ~wrong
    if not mine.any() or not wrong.any():
        return _confident_error_rate(vote_a[mine])
    p_a, p_b = vote_a[mine].mean(), vote_b[mine].mean()
    cov = (vote_a[mine] & vote_b[mine]).mean() - p_a * p_b
    denom = (vote_a[wrong].mean() - p_a) * (vote_b[wrong].mean() - p_b) + cov
    if vote_a[wrong].mean() <= p_a or vote_b[wrong].mean() <= p_b:
        return _confident_error_rate(vote_a[mine])
    return float(np.clip(max(cov, 0.0) / denom, *ERROR_RATE))


def _confident_error_rate(vote: np.ndarray) -> float:
    """Confident learning's count: the share of rows a judge confidently calls wrong."""
    return float(np.clip(vote.mean() if len(vote) else 0.0, *ERROR_RATE))


def typical(probs_own: np.ndarray, code: np.ndarray, k: int) -> np.ndarray:
    """Per class, the median probability of its class over its annotated boxes.

    Example:
        >>> typical(np.array([0.2, 0.4, 0.9]), np.array([0, 0, 1]), 2).round(2).tolist()
        [0.3, 0.9]
    """
    out = np.ones(k)
    for c in range(k):
        mine = code == c
        if mine.any():
            out[c] = float(np.median(probs_own[mine]))
    return out


def object_probability(cand: np.ndarray, annotated: np.ndarray) -> np.ndarray:
    """P(an object is there) for each candidate, from its out-of-fold object score.

    ``annotated``: the same score on the annotated boxes (objects); ``cand``: on the
    candidates, a mixture of background and a share ``pi`` of missed objects. An isotonic
    fit of "annotated box vs candidate" on the score, both groups weighted equally, gives
    the density ratio of objects to candidates; P(object | s) = ``pi`` times that ratio
    (the positive-unlabelled estimate, as :func:`calibrate` does for wrong boxes), clipped
    to [0, 1]. ``pi`` is counted as confident learning does: the share of candidates
    scoring at least the median annotated box. Monotone in the score.

    Example:
        >>> p = object_probability(np.array([0.1, 0.2, 0.3, 0.95]), np.array([0.9, 0.95, 0.99]))
        >>> bool(p[-1] > 0.5 > p[0]), bool((np.diff(p) >= 0).all())
        (True, True)
    """
    from sklearn.isotonic import IsotonicRegression

    cand, annotated = np.asarray(cand, np.float64), np.asarray(annotated, np.float64)
    if not len(cand) or not len(annotated):
        return np.zeros(len(cand))
    share = float(np.clip((cand >= np.median(annotated)).mean(), *OBJECT_SHARE))
    score = np.r_[annotated, cand]
    is_object = np.r_[np.ones(len(annotated)), np.zeros(len(cand))]
    w = np.where(is_object > 0, 0.5 / len(annotated), 0.5 / len(cand))
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    g = iso.fit(score, is_object, sample_weight=w).predict(cand)
    p = np.clip(share * g / np.maximum(1 - g, 1e-12), 0, 1)
    return np.clip(p + 1e-6 * (cand - 0.5), 0, 1)  # keep the score's order in ties


def keep_candidates(cand: pd.DataFrame, sure: np.ndarray, need: np.ndarray,
                    boxes: pd.DataFrame, rank: np.ndarray | None = None) -> pd.DataFrame:
    """The candidates as sure as a typical annotated object (``sure >= need``) that overlap
    no annotated box of their image (``boxes``: pos, x, y, w, h) and hold none; of those,
    the best by ``rank`` (default ``sure``), at most :data:`PER_BOX` per annotated box (a
    review budget).

    Example:
        >>> keep_candidates(cand, sure, need, boxes)  # doctest: +SKIP
    """
    ok = np.asarray(sure) >= np.asarray(need)
    free = np.ones(len(cand), bool)
    by_image = {p: g[["x", "y", "w", "h"]].to_numpy(float) for p, g in boxes.groupby("pos")}
    xywh = cand[["x", "y", "w", "h"]].to_numpy(float)
    pos = cand["pos"].to_numpy()
    for p in np.unique(pos[ok]).tolist():  # per image: a handful of candidates each
        have = by_image.get(p)
        if have is None or not len(have):
            continue
        mine = np.flatnonzero(ok & (pos == p))
        free[mine] = ~_touches(xywh[mine], have)
    keep = np.flatnonzero(ok & free)
    budget = max(1, int(PER_BOX * len(boxes)))
    rank = np.asarray(sure if rank is None else rank)
    keep = _one_per_object(keep[np.argsort(-rank[keep], kind="stable")], xywh, pos)
    return cand.iloc[np.sort(keep[:budget])].reset_index(drop=True)


def _one_per_object(order: np.ndarray, xywh: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """``order`` (best first) without the candidates that touch a better one of their image,
    by the rule that keeps them off annotated boxes: a part of an object shown beside the
    whole is the same object twice."""
    kept: list[int] = []
    by_image: dict[int, list[int]] = {}
    for i in order.tolist():  # a handful of candidates per image
        mine = by_image.setdefault(int(pos[i]), [])
        if mine and _touches(xywh[[i]], xywh[mine])[0]:
            continue
        mine.append(i)
        kept.append(i)
    return np.asarray(kept, dtype=np.int64)


def _touches(cand: np.ndarray, have: np.ndarray) -> np.ndarray:
    """Candidates overlapping an annotated box, or mostly inside or around one."""
    iou = iou_matrix(cand, have)
    x0 = np.maximum(cand[:, None, 0], have[None, :, 0])
    y0 = np.maximum(cand[:, None, 1], have[None, :, 1])
    x1 = np.minimum(cand[:, None, 0] + cand[:, None, 2], have[None, :, 0] + have[None, :, 2])
    y1 = np.minimum(cand[:, None, 1] + cand[:, None, 3], have[None, :, 1] + have[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    inside = inter / np.maximum(cand[:, None, 2] * cand[:, None, 3], 1e-12)
    around = inter / np.maximum(have[None, :, 2] * have[None, :, 3], 1e-12)
    return ((iou >= MAX_IOU) | (inside >= MAX_INSIDE) | (around >= MAX_INSIDE)).any(axis=1)
