"""Classification scoring: out-of-fold class probabilities, then cleanlab's label quality.

Each image's features (``features.image_features``, or the CNN's probabilities) go to a
classifier trained on the other folds; cleanlab turns the out-of-fold probabilities into
a label-quality score per image (``rank.get_label_quality_scores``, self-confidence) and
issue flags (``filter.find_label_issues``, confident learning). Multi-label data (several
labels on one image) uses cleanlab's multi-label versions; each label is then scored by
the probability that its class is present.

Example:
    >>> table = score_labels(ds, probs, classes)  # doctest: +SKIP
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import parallel
from ..model import Dataset
from . import models
from .features import image_features, read_images
from .registry import fit_out_of_fold

FEATURE_SIDE = 256  # JPEGs are drafted near this size before the features are taken


def label_table(ds: Dataset) -> tuple[pd.DataFrame, np.ndarray, bool]:
    """The image-level labels (kind 'label', or boxes' classes when there are only boxes)
    with image position and class code; the class ids; whether any image has two labels.

    Example:
        >>> labels, classes, multi = label_table(ds)  # doctest: +SKIP
    """
    anns = ds.annotations
    classes = ds.categories["id"].to_numpy()
    pos = pd.Index(ds.images["id"]).get_indexer(anns["image_id"])
    code = pd.Index(classes).get_indexer(anns["category_id"])
    ok = (pos >= 0) & (code >= 0)
    table = pd.DataFrame({"row": np.flatnonzero(ok), "pos": pos[ok], "code": code[ok]})
    multi = bool(table.drop_duplicates(["pos", "code"])["pos"].duplicated().any())
    return table, classes, multi


def featurise_images(ds: Dataset, skipped: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Image features (n, d) and a mask of the images that could be read; by partitions
    of the images (:mod:`annokit.parallel`: in-process, ``--workers`` or ``--dask``)."""
    jobs = list(zip(ds.images["file_name"].tolist(), ds.images["split"].tolist()))
    roots = {k: ds.meta.get(k) for k in ("image_root", "split_roots")}
    rows = parallel.map_partitions(_image_features_part, jobs, roots, label="features")
    ok = np.array([not isinstance(r, str) for r in rows], bool)
    skipped.extend(r for r in rows if isinstance(r, str))
    feats = [r for r in rows if not isinstance(r, str)]
    dims = feats[0].shape[0] if feats else 0
    out = np.zeros((len(ds.images), dims), np.float32)
    if feats:
        out[ok] = np.vstack(feats)
    return out, ok


def _image_features_part(jobs: list, roots: dict) -> list:
    """One partition: each image's feature vector, or the line saying why it was skipped."""
    part = Dataset(images=pd.DataFrame({"id": np.arange(1, len(jobs) + 1),
                                        "file_name": [j[0] for j in jobs],
                                        "split": [j[1] for j in jobs]}), meta=dict(roots))
    skipped: list[str] = []
    feats = {i: image_features(im)
             for i, im in read_images(part, "features", skipped, FEATURE_SIDE)}
    reasons = iter(skipped)  # in image order, like the images that failed
    return [feats[i] if i in feats else next(reasons) for i in range(len(jobs))]


def targets(labels: pd.DataFrame, n_images: int, n_classes: int) -> np.ndarray:
    """(n_images, n_classes) 0/1 matrix of which classes each image is labelled with."""
    y = np.zeros((n_images, n_classes), np.int8)
    y[labels["pos"].to_numpy(), labels["code"].to_numpy()] = 1
    return y


def classic_probabilities(features: np.ndarray, y: np.ndarray, ok: np.ndarray,
                          folds: np.ndarray, multi: bool, seed: int) -> np.ndarray:
    """Out-of-fold probabilities (n_images, n_classes); NaN rows for unread images.

    Single-label: a multinomial model (rows sum to 1); multi-label: one model per class.
    """
    x = np.zeros(features.shape, np.float32)
    if ok.any():
        x[ok] = models.reduce(features[ok], seed, components=None)
    probs = np.full(y.shape, np.nan)
    labelled = ok & (y.sum(axis=1) > 0)

    def job(_, train, judge):  # the fold's rows; its probabilities come back
        return x[train], y[train], x[judge], multi, seed

    for _, _, judge, part in fit_out_of_fold(fold_probabilities, job, folds, labelled, ok):
        probs[judge] = part
    return probs


def fold_probabilities(job: tuple) -> np.ndarray:
    """One fold, a pure function (it may run on a worker): the class probabilities of the
    held-out rows from a model fitted on the training rows.

    ``job`` is (x_train, y_train (0/1 per class), x_judge, multi, seed).

    Example:
        >>> x = np.r_[np.zeros((4, 2)), np.ones((4, 2))].astype(np.float32)
        >>> y = np.repeat(np.eye(2, dtype=np.int8), 4, axis=0)
        >>> fold_probabilities((x, y, x[[0, 7]], False, 0)).argmax(axis=1).tolist()
        [0, 1]
    """
    x_train, y_train, x_judge, multi, seed = job
    if multi:
        return _per_class(x_train, y_train, x_judge, seed)
    labels = y_train.argmax(axis=1)
    if len(np.unique(labels)) < 2:  # one class to learn from: nothing to tell apart, and
        return np.full((len(x_judge), y_train.shape[1]), np.nan)  # the fold stays unjudged
    clf = models.image_classifier(seed).fit(x_train, labels)
    part = np.zeros((len(x_judge), y_train.shape[1]))
    part[:, clf.classes_] = clf.predict_proba(x_judge)
    return part


def _per_class(x_train, y_train, x_judge, seed) -> np.ndarray:
    out = np.zeros((len(x_judge), y_train.shape[1]))
    for c in range(y_train.shape[1]):
        col = y_train[:, c]
        if col.min() == col.max():  # a class always (never) present in training
            out[:, c] = col[0]
            continue
        out[:, c] = models.image_classifier(seed).fit(x_train, col).predict_proba(x_judge)[:, 1]
    return out


def score_labels(labels: pd.DataFrame, y: np.ndarray, probs: np.ndarray, classes: np.ndarray,
                 multi: bool, n_annotations: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Per annotation row: quality, issue ('flip'), suggested class; per image: quality.

    Example:
        >>> rows, image_quality = score_labels(  # doctest: +SKIP
        ...     labels, y, probs, classes, False, 10)
    """
    rows = pd.DataFrame({"quality": np.full(n_annotations, np.nan),
                         "issue": np.full(n_annotations, None, dtype=object),
                         "suggested_category_id": pd.array([pd.NA] * n_annotations,
                                                           dtype="Int64")})
    image_quality = np.full(len(y), np.nan)
    judged = np.isfinite(probs).all(axis=1) & (y.sum(axis=1) > 0)
    if judged.sum() < 2:
        return rows, image_quality
    p, yj = np.clip(probs[judged], 1e-6, 1), y[judged]
    if multi:
        quality, flagged = _multi_label(p, yj)
    else:
        quality, flagged = _single_label(p / p.sum(axis=1, keepdims=True), yj.argmax(axis=1))
    image_quality[judged] = quality
    where = np.flatnonzero(judged)
    flag = np.zeros(len(y), bool)
    flag[where[flagged]] = True
    pos, code = labels["pos"].to_numpy(), labels["code"].to_numpy()
    row = labels["row"].to_numpy()
    own = probs[pos, code]
    rows.loc[row, "quality"] = own if multi else image_quality[pos]
    best = np.nan_to_num(probs, nan=-1).argmax(axis=1)
    wrong = flag[pos] & (best[pos] != code) if not multi else flag[pos] & (own < 0.5)
    rows.loc[row[wrong], "issue"] = "flip"
    rows.loc[row[wrong], "suggested_category_id"] = classes[best[pos[wrong]]]
    return rows, image_quality


def _single_label(p: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    quality = get_label_quality_scores(labels, p, method="self_confidence")
    try:
        flagged = find_label_issues(labels, p, filter_by="prune_by_noise_rate", n_jobs=1)
    except ValueError:  # too few examples of a class for confident learning
        flagged = p.argmax(axis=1) != labels
    return quality, flagged


def _multi_label(p: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from cleanlab.multilabel_classification.filter import find_label_issues
    from cleanlab.multilabel_classification.rank import get_label_quality_scores

    lists = [np.flatnonzero(r).tolist() for r in y]
    quality = get_label_quality_scores(lists, p)
    try:
        flagged = find_label_issues(lists, p, n_jobs=1)
    except ValueError:
        flagged = ((p >= 0.5) != y.astype(bool)).any(axis=1)
    return quality, flagged
