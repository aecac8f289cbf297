"""Image classification metrics: accuracy, precision, recall, F1, ROC-AUC, confusion matrix.

Ground truth and predictions are image-level ``label`` annotations (imagefolder, CSV, or
any format whose annotations are labels). The predicted class of an image is its
highest-scored predicted label (the first one when none has a score). ROC-AUC is one
class against the rest, from the scores, and only where the predictions score every class
on every image (a probability vector); otherwise it is left out with a note.

Multi-label ground truth (an image with several labels) is measured per class: the
predicted set of an image is every label it was given (those scored below
``threshold`` left out), accuracy is the share of images whose set is exactly right.

The figures come from scikit-learn's ``metrics``.

Example:
    >>> from annokit.evaluate import classification_metrics
    >>> m = classification_metrics(gt, pred)          # doctest: +SKIP
    >>> m["accuracy"], m["f1_macro"], m["confusion"]  # doctest: +SKIP
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import AnnokitError
from ..model import Dataset
from ..notes import Notes
from .align import on_ground_truth

NONE = "(none)"  # the predicted class of an image without a prediction


def classification_metrics(gt: Dataset, pred: Dataset, *, threshold: float = 0.5) -> dict:
    """Accuracy, precision/recall/F1 (macro, micro, per class), ROC-AUC and the confusion
    matrix of ``pred`` against ``gt`` (both with ``label`` annotations).

    Every ground-truth image with a label counts; one without a prediction counts as
    wrong (predicted ``(none)``). ``threshold`` applies to multi-label predictions only.

    Returns a dict: ``images``, ``multilabel``, ``accuracy``, ``precision_macro``,
    ``recall_macro``, ``f1_macro``, ``precision_micro``, ``recall_micro``, ``f1_micro``,
    ``roc_auc_macro`` (NaN without full scores), ``per_class`` (a DataFrame by class name:
    support, precision, recall, f1, roc_auc), ``confusion`` (a DataFrame, true classes as
    rows, predicted as columns; multi-label: per class tp, fp, fn, tn) and ``notes``.

    Example:
        >>> m = classification_metrics(gt, pred)  # doctest: +SKIP
        >>> round(m["accuracy"], 3), m["per_class"]["f1"].round(2).to_dict()  # doctest: +SKIP
        (0.75, {'cat': 0.8, 'dog': 0.67})
    """
    truth = gt.annotations[gt.annotations["kind"] == "label"]
    truth = truth[truth["category_id"].isin(gt.categories["id"])
                  & truth["image_id"].isin(gt.images["id"])]
    if not len(truth):
        raise AnnokitError("ground truth has no image labels to evaluate (classification "
                           "needs 'label' annotations; use --task detection for boxes)")
    labels, notes = on_ground_truth(pred, gt, kinds=("label",))
    classes = gt.categories.drop_duplicates("id")
    names = classes.set_index("id")["name"].astype(str)
    cat_ids = classes["id"].to_numpy()
    images = pd.unique(truth["image_id"])
    y_true = _indicator(truth, images, cat_ids)
    scores = _scores(labels, images, cat_ids)
    labels = labels[labels["image_id"].isin(images)]
    unpredicted = len(images) - labels["image_id"].nunique()
    if unpredicted:
        notes.append(f"{unpredicted} of {len(images)} images have no prediction: counted as "
                     f"wrong (predicted {NONE})")
    multilabel = bool((y_true.sum(axis=1) > 1).any())
    if multilabel:
        result = _multilabel(y_true, labels, images, cat_ids, threshold)
        result["confusion"].index = pd.Index([names[c] for c in cat_ids], name="category")
    else:
        result = _single_label(y_true, labels, images, cat_ids, names)
    auc, auc_note = _roc_auc(y_true, scores)
    if auc_note:
        notes.append(auc_note)
    per_class = result.pop("per_class")
    per_class["roc_auc"] = auc
    per_class.index = pd.Index([names[c] for c in cat_ids], name="category")
    return {"task": "classification", "images": len(images), "multilabel": multilabel,
            **result, "roc_auc_macro": float(np.nanmean(auc)) if np.isfinite(auc).any()
            else np.nan, "per_class": per_class,
            "notes": Notes.from_lines("eval", notes)}


def _indicator(labels: pd.DataFrame, images: np.ndarray, cat_ids: np.ndarray) -> np.ndarray:
    """images x classes, 1 where the image has the label."""
    out = np.zeros((len(images), len(cat_ids)), dtype=np.int64)
    row = pd.Index(images).get_indexer(labels["image_id"])
    col = pd.Index(cat_ids).get_indexer(labels["category_id"])
    ok = (row >= 0) & (col >= 0)
    out[row[ok], col[ok]] = 1
    return out


def _scores(labels: pd.DataFrame, images: np.ndarray, cat_ids: np.ndarray) -> np.ndarray:
    """images x classes of predicted scores, NaN where none was given."""
    out = np.full((len(images), len(cat_ids)), np.nan)
    row = pd.Index(images).get_indexer(labels["image_id"])
    col = pd.Index(cat_ids).get_indexer(labels["category_id"])
    ok = (row >= 0) & (col >= 0)
    out[row[ok], col[ok]] = labels["score"].to_numpy(np.float64)[ok]
    return out


def _top_label(labels: pd.DataFrame, images: np.ndarray) -> np.ndarray:
    """The predicted class id per image (its best-scored label; -1 when none)."""
    ranked = labels.assign(_s=labels["score"].fillna(-np.inf).to_numpy())
    ranked = ranked.iloc[np.lexsort((np.arange(len(ranked)), -ranked["_s"].to_numpy()))]
    best = ranked.drop_duplicates("image_id").set_index("image_id")["category_id"]
    return best.reindex(images).fillna(-1).to_numpy(np.int64)


def _single_label(y_true: np.ndarray, labels: pd.DataFrame, images: np.ndarray,
                  cat_ids: np.ndarray, names: pd.Series) -> dict:
    from sklearn import metrics

    truth = cat_ids[y_true.argmax(axis=1)]
    predicted = _top_label(labels, images)
    figures = {"accuracy": float(metrics.accuracy_score(truth, predicted))}
    for average in ("macro", "micro"):
        p, r, f, _ = metrics.precision_recall_fscore_support(
            truth, predicted, labels=cat_ids, average=average, zero_division=0)
        figures.update({f"precision_{average}": float(p), f"recall_{average}": float(r),
                        f"f1_{average}": float(f)})
    p, r, f, support = metrics.precision_recall_fscore_support(
        truth, predicted, labels=cat_ids, zero_division=0)
    columns = [*cat_ids, -1] if (predicted == -1).any() else list(cat_ids)
    matrix = metrics.confusion_matrix(truth, predicted, labels=columns)
    header = [names[c] if c != -1 else NONE for c in columns]
    confusion = pd.DataFrame(matrix, index=pd.Index(header, name="true"),
                             columns=pd.Index(header, name="predicted"))
    confusion = confusion.loc[[names[c] for c in cat_ids]]
    return {**figures, "per_class": pd.DataFrame({"support": support, "precision": p,
                                                  "recall": r, "f1": f}),
            "confusion": confusion}


def _multilabel(y_true: np.ndarray, labels: pd.DataFrame, images: np.ndarray,
                cat_ids: np.ndarray, threshold: float) -> dict:
    from sklearn import metrics

    kept = labels[~(labels["score"] < threshold)]
    y_pred = _indicator(kept, images, cat_ids)
    figures = {"accuracy": float(metrics.accuracy_score(y_true, y_pred))}
    for average in ("macro", "micro"):
        p, r, f, _ = metrics.precision_recall_fscore_support(
            y_true, y_pred, average=average, zero_division=0)
        figures.update({f"precision_{average}": float(p), f"recall_{average}": float(r),
                        f"f1_{average}": float(f)})
    p, r, f, support = metrics.precision_recall_fscore_support(y_true, y_pred, zero_division=0)
    per = metrics.multilabel_confusion_matrix(y_true, y_pred)  # K x [[tn, fp], [fn, tp]]
    confusion = pd.DataFrame({"tp": per[:, 1, 1], "fp": per[:, 0, 1], "fn": per[:, 1, 0],
                              "tn": per[:, 0, 0]})
    return {**figures, "per_class": pd.DataFrame({"support": support, "precision": p,
                                                  "recall": r, "f1": f}),
            "confusion": confusion}


def _roc_auc(y_true: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, str | None]:
    """One-vs-rest ROC-AUC per class (NaN where it cannot be measured), and a note why."""
    from sklearn import metrics

    auc = np.full(y_true.shape[1], np.nan)
    if np.isnan(scores).all():
        return auc, "ROC-AUC left out: the predictions carry no scores"
    if np.isnan(scores).any():
        return auc, ("ROC-AUC left out: it needs a score for every class on every image "
                     f"({int(np.isnan(scores).sum())} of {scores.size} missing)")
    for k in range(y_true.shape[1]):
        if 0 < y_true[:, k].sum() < len(y_true):  # both positives and negatives
            auc[k] = metrics.roc_auc_score(y_true[:, k], scores[:, k])
    return auc, None
