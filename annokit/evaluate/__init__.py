"""Scoring predictions against ground truth: detection mAP, classification, centre points.

Both sides are :class:`~annokit.model.Dataset` objects read from any format annokit reads
(predictions carry a ``score``); images and classes are paired as
:mod:`annokit.evaluate.align` says. One module per task:

- :mod:`.detection`: COCOeval's AP/AR (bbox and segm) through pycocotools' algorithm;
- :mod:`.classification`: accuracy, precision/recall/F1, ROC-AUC, confusion matrix;
- :mod:`.points`: centre points matched one-to-one (:func:`match_points`, :func:`point_metrics`).

:func:`evaluate` picks the task from the data; :func:`read_pair` reads the two sides
(a COCO results list is read on the ground truth's images and categories).

Example:
    >>> from annokit.evaluate import evaluate, read_pair
    >>> gt, pred = read_pair("data/coco/val.json", "detections.json")   # doctest: +SKIP
    >>> m = evaluate(gt, pred)                                          # doctest: +SKIP
    >>> print(format_metrics(m))                                        # doctest: +SKIP
"""
from __future__ import annotations

import os
from typing import Any
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import AnnokitError
from ..fileio import open_regular
from ..model import Dataset
from ..notes import LayerNotes, Notes
from .classification import classification_metrics
from .detection import IOU_TYPES, STATS, detection_metrics
from .points import MODES, match_points, point_metrics, unpredicted_note

TASKS = ("detection", "classification", "points")
__all__ = ["IOU_TYPES", "MODES", "STATS", "TASKS", "check_order", "classification_metrics",
           "detection_metrics", "evaluate", "format_metrics", "infer_task", "match_points",
           "point_metrics", "read_pair", "to_plain"]


def read_pair(gt: str | os.PathLike, pred: str | os.PathLike, *, format: str | None = None,
              pred_format: str | None = None, **options) -> tuple[Dataset, Dataset]:
    """Read ground truth and predictions. A COCO results list (a ``.json`` holding a list)
    takes its images and categories from the ground truth (ids as in the ground truth);
    anything else is read on its own and paired by file name and class name.

    ``options`` (``strict``, ``image_root``, ``voc_one_based``) apply to both sides.

    Example:
        >>> gt, pred = read_pair("fixtures/coco/basic",
        ...                      "fixtures/coco/results.json")  # doctest: +SKIP
    """
    from ..formats import read
    from ..formats.coco import read_results

    truth = read(gt, format, **options)
    if _is_results_list(Path(pred)) and pred_format in (None, "coco"):
        results = read_results(pred, truth, strict=options.get("strict", False))
        skipped = results.notes.of("skipped").texts()
        if skipped and not len(results.annotations):
            raise AnnokitError(f"{pred}: none of its {len(skipped)} detections is on an image "
                               f"and of a category of {gt} (first: {skipped[0]})")
        return truth, results
    predicted = read(pred, pred_format, **options)
    check_order(truth, predicted, gt, pred)
    return truth, predicted


def check_order(gt: Dataset, pred: Dataset, gt_name: str | os.PathLike = "GT",
                pred_name: str | os.PathLike = "PRED") -> None:
    """Refuse the two sides given the wrong way round: ground truth with scores against
    predictions with none (``annokit evaluate points`` once took PRED first).

    Example:
        >>> check_order(predictions, ground_truth, "pred.json", "data/voc")  # doctest: +SKIP
        AnnokitError: pred.json has scores and data/voc has none: ...
    """
    if _scored(gt) and len(pred.annotations) and not _scored(pred):
        raise AnnokitError(
            f"{gt_name} has scores and {pred_name} has none: the arguments look swapped; "
            f"give the ground truth first, then the predictions: annokit eval GT PRED "
            f"(also annokit evaluate points GT PRED)")


def _scored(ds: Dataset) -> bool:
    anns = ds.annotations
    return "score" in anns and bool(pd.to_numeric(anns["score"], errors="coerce").notna().any())


def _is_results_list(path: Path) -> bool:
    if not (path.is_file() and path.suffix.lower() == ".json"):
        return False
    with open_regular(path, what="predictions file") as f:
        return f.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"[")


def infer_task(gt: Dataset, pred: Dataset) -> str:
    """'classification' when the ground truth holds labels and no boxes, 'points' when
    either side holds points (and the predictions no boxes), else 'detection'.

    Example:
        >>> infer_task(gt, pred)  # doctest: +SKIP
        'detection'
    """
    truth = set(gt.annotations["kind"])
    predicted = set(pred.annotations["kind"])
    if "label" in truth and "box" not in truth and "point" not in truth:
        return "classification"
    if "point" in truth or ("point" in predicted and "box" not in predicted):
        return "points"
    return "detection"


def evaluate(gt: Dataset, pred: Dataset, task: str | None = None, *,
             iou_type: str = "bbox", engine: str | None = None, threshold: float = 0.5,
             **point_options) -> dict:
    """The metrics of ``pred`` against ``gt`` for ``task`` (inferred when None).

    detection: :func:`detection_metrics` (``iou_type``, ``engine``); classification:
    :func:`classification_metrics` (``threshold``); points: :func:`point_metrics`
    (``point_options``). The dict gains ``task``; its ``notes`` are a
    :class:`~annokit.notes.Notes` (source "eval").

    Example:
        >>> evaluate(gt, pred)["AP"]  # doctest: +SKIP
        0.5124
    """
    task = task or infer_task(gt, pred)
    if task == "detection":
        out = detection_metrics(gt, pred, iou_type=iou_type, engine=engine)
    elif task == "classification":
        out = classification_metrics(gt, pred, threshold=threshold)
    elif task == "points":
        out = point_metrics(pred, gt, **point_options)
        out["notes"] = notes = LayerNotes("eval")
        notes.say(unpredicted_note(out["per_image"]))
    else:
        raise AnnokitError(f"task must be one of {', '.join(TASKS)}, not {task!r}")
    return {"task": task, **out}


# -- for people and pipelines -------------------------------------------------------

def format_metrics(m: dict) -> str:
    """The metrics as a text table for the terminal: overall figures, then per class.

    Example:
        >>> print(format_metrics(evaluate(gt, pred)))  # doctest: +SKIP
        detection (bbox): 12 images, engine pycocotools
        AP 0.512  AP50 0.801  AP75 0.550  AP_small -  AP_medium 0.5  AP_large 0.6
    """
    number = _number
    per_class = m["per_class"].to_string(float_format=number, na_rep="-") \
        if len(m["per_class"]) else "(no classes)"
    if m["task"] == "detection":
        head = f"detection ({m['iou_type']}): {m['images']:,} images, engine {m['engine']}"
        lines = [head, _pairs(m, STATS[:6]), _pairs(m, STATS[6:]), "", per_class]
    elif m["task"] == "classification":
        head = (f"classification{' (multi-label)' if m['multilabel'] else ''}: "
                f"{m['images']:,} images")
        lines = [head, _pairs(m, ("accuracy", "precision_macro", "recall_macro", "f1_macro")),
                 _pairs(m, ("precision_micro", "recall_micro", "f1_micro", "roc_auc_macro")),
                 "", per_class, "", "confusion matrix (rows: true class)",
                 m["confusion"].to_string()]
    else:
        lines = [per_class,
                 f"precision {number(m['precision'])}  recall {number(m['recall'])}  "
                 f"F1 {number(m['f1'])}  (TP {m['tp']}, FP {m['fp']}, FN {m['fn']})  "
                 f"count MAE {number(m['count_mae'])} over {m['images']} images"]
    return "\n".join(lines)


def _number(value) -> str:
    return "-" if value is None or value != value else f"{value:.3f}"


def _pairs(m: dict, keys) -> str:
    return "  ".join(f"{k} {_number(m[k])}" for k in keys)


def to_plain(m: dict) -> dict:
    """The metrics as JSON-ready values: tables become records keyed by class, NaN None;
    the points match table and per-image table are left out (too long for a summary).

    Example:
        >>> to_plain({"task": "points", "tp": np.int64(3), "precision": float("nan")})
        {'task': 'points', 'tp': 3, 'precision': None}
    """
    out: dict[str, Any] = {}
    for key, value in m.items():
        if key in ("matches", "per_image"):
            continue
        if isinstance(value, Notes):
            out[key] = value.to_json()
        elif isinstance(value, pd.DataFrame):
            table = value.astype(object).where(value.notna(), None)
            out[key] = {str(k): {str(c): _scalar(v) for c, v in row.items()}
                        for k, row in table.iterrows()}  # one row per class: few
        else:
            out[key] = _scalar(value)
    return out


def _scalar(value):
    if isinstance(value, (list, tuple)):
        return [_scalar(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    return value
