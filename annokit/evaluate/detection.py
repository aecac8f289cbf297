"""Detection mAP with COCOeval semantics: AP, AP50, AP75, AP by size, AR, per-class AP.

Both sides are :class:`~annokit.model.Dataset` objects read from any format annokit reads;
predictions carry a ``score``. The COCO dictionaries are built in memory from the model
and handed to pycocotools' ``COCOeval`` (or faster-coco-eval's, the same algorithm in C++,
see docs/eval.md), so the numbers are COCOeval's own:

- ground-truth annotation ids are renumbered 1..N in their order (pycocotools' matcher reads
  id 0 as "no match"), images and categories keep the ground truth's ids;
- ground-truth ``area`` is the file's ``area`` where known, else the mask area (``segm``
  masks) or ``w * h``; crowds (``iscrowd``) are ignored regions, as in COCO;
- predictions go through ``loadRes`` as a results list with their ``bbox``: their area is
  the box area, as for every detector's results file.

Example:
    >>> from annokit.evaluate import detection_metrics
    >>> m = detection_metrics(gt, pred, iou_type="bbox")   # doctest: +SKIP
    >>> m["AP"], m["AP50"], m["per_class"].loc["cat", "AP"]  # doctest: +SKIP
"""
from __future__ import annotations

import contextlib
import io

import numpy as np
import pandas as pd

from ..errors import AnnokitError
from ..formats.coco import areas as coco_areas
from ..model import Dataset
from ..notes import Notes
from .align import on_ground_truth, unpredicted_note

IOU_TYPES = ("bbox", "segm")
ENGINES = ("faster-coco-eval", "pycocotools")
# COCOeval.summarize()'s twelve numbers, in its order
STATS = ("AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large",
         "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large")
PER_CLASS = ("gt", "pred", "AP", "AP50", "AP75", "AR100")


def detection_metrics(gt: Dataset, pred: Dataset, *, iou_type: str = "bbox",
                      engine: str | None = None) -> dict:
    """COCOeval's AP/AR figures of ``pred`` against ``gt``, overall and per class.

    ``iou_type`` is 'bbox' or 'segm' (both sides then need segmentations). ``engine`` is
    'faster-coco-eval' (the default when installed) or 'pycocotools' (the reference).
    Predictions are paired with the ground truth as :mod:`annokit.evaluate.align` says;
    those on unknown images or of unknown classes are left out and named in ``notes``.

    Returns a dict: the twelve ``STATS`` (NaN where COCOeval gives -1: nothing to
    measure), ``per_class`` (a DataFrame indexed by class name: ground-truth and predicted
    boxes, AP, AP50, AP75, AR100), ``images`` (ground-truth images evaluated),
    ``iou_type``, ``engine`` and ``notes``.

    Example:
        >>> m = detection_metrics(gt, pred)  # doctest: +SKIP
        >>> round(m["AP50"], 3), m["per_class"]["AP"].round(3).to_dict()  # doctest: +SKIP
        (0.917, {'circle': 0.8, 'square': 0.75})
    """
    if iou_type not in IOU_TYPES:
        raise AnnokitError(f"iou_type must be one of {', '.join(IOU_TYPES)}, not {iou_type!r}")
    engine = engine or default_engine()
    if engine not in ENGINES:
        raise AnnokitError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    truth, notes = _gt_boxes(gt)
    preds, more = _pred_boxes(pred, gt)
    gt_dict = _gt_dict(gt, truth, iou_type)
    evaluator = _evaluate(gt_dict, _results(preds, gt.images, iou_type), iou_type, engine)
    stats = [float(v) if v > -1 else np.nan for v in evaluator.stats[:len(STATS)]]
    counts = (truth["category_id"][truth["iscrowd"].to_numpy() == 0].value_counts(),
              preds["category_id"].value_counts())
    return {**dict(zip(STATS, stats)), "per_class": _per_class(evaluator, gt_dict, counts),
            "images": len(gt_dict["images"]), "iou_type": iou_type, "engine": engine,
            "notes": Notes.from_lines("eval", notes + more)}


def default_engine() -> str:
    """'faster-coco-eval' when it is installed, else 'pycocotools'."""
    try:
        import faster_coco_eval  # noqa: F401
    except ImportError:
        return "pycocotools"
    return "faster-coco-eval"


def ground_truth_dict(gt: Dataset, iou_type: str = "bbox") -> tuple[dict, list[str]]:
    """The ground truth as a COCO dict (boxes only; ids 1..N), and notes on what was left out.

    Example:
        >>> d, notes = ground_truth_dict(gt)  # doctest: +SKIP
        >>> d["annotations"][0]["id"]  # doctest: +SKIP
        1
    """
    anns, notes = _gt_boxes(gt)
    return _gt_dict(gt, anns, iou_type), notes


def _gt_boxes(gt: Dataset) -> tuple[pd.DataFrame, list[str]]:
    """The ground-truth boxes COCOeval sees (on known images, of known categories), notes."""
    images = gt.images
    if images["id"].duplicated().any():
        twice = images["id"][images["id"].duplicated()].iloc[0]
        raise AnnokitError(f"ground truth: image id {twice} is used twice; COCOeval needs "
                           "unique image ids")
    anns = gt.annotations
    boxes = (anns["kind"] == "box").to_numpy()
    notes = [f"{int((~boxes).sum())} ground-truth annotations that are not boxes left out"] \
        if (~boxes).any() else []
    anns = anns[boxes & anns["image_id"].isin(images["id"]).to_numpy()
                & anns["category_id"].isin(gt.categories["id"]).to_numpy()]
    if boxes.sum() > len(anns):
        notes.append(f"{int(boxes.sum()) - len(anns)} ground-truth boxes on unknown images or "
                     "of unknown categories left out")
    return anns, notes


def _gt_dict(gt: Dataset, anns: pd.DataFrame, iou_type: str) -> dict:
    images = gt.images
    records = {"id": np.arange(1, len(anns) + 1).tolist(),  # never 0: see the module text
               "image_id": anns["image_id"].tolist(), "category_id": anns["category_id"].tolist(),
               "bbox": _boxes(anns), "area": coco_areas(anns, images).tolist(),
               "iscrowd": anns["iscrowd"].tolist()}
    if iou_type == "segm":
        records["segmentation"] = _masks(anns, images, "ground truth")
    return {"images": _image_dicts(images, iou_type),
            "categories": [{"id": i, "name": str(n)} for i, n in
                           zip(gt.categories["id"].tolist(), gt.categories["name"].tolist())],
            "annotations": _rows(records)}


def results_list(pred: Dataset, gt: Dataset, iou_type: str = "bbox"
                 ) -> tuple[list[dict], list[str]]:
    """The predictions as a COCO results list on the ground truth's ids, and notes.

    Example:
        >>> results, notes = results_list(pred, gt)  # doctest: +SKIP
        >>> results[0]  # doctest: +SKIP
        {'image_id': 3, 'category_id': 1, 'bbox': [10.0, 10.0, 20.0, 30.0], 'score': 0.9}
    """
    anns, notes = _pred_boxes(pred, gt)
    return _results(anns, gt.images, iou_type), notes


def _pred_boxes(pred: Dataset, gt: Dataset) -> tuple[pd.DataFrame, list[str]]:
    """The predicted boxes on the ground truth's ids, checked; and notes."""
    anns, notes = on_ground_truth(pred, gt)
    note = unpredicted_note(gt, anns["image_id"], "box") if len(anns) else \
        "no predictions to evaluate: every AP and AR is 0"
    if note:
        notes.append(note)
    score = anns["score"].to_numpy(np.float64)
    if np.isnan(score).any():
        raise AnnokitError(f"predictions: {int(np.isnan(score).sum())} boxes have no score; "
                           "mAP ranks predictions by score (a results file, YOLO txt with a "
                           "confidence column, or COCO annotations with 'score')")
    bad = ~np.isfinite(anns[["x", "y", "w", "h"]].to_numpy(np.float64)).all(axis=1)
    if bad.any():
        raise AnnokitError(f"predictions: {int(bad.sum())} boxes have no finite x, y, w, h")
    return anns, notes


def _results(anns: pd.DataFrame, images: pd.DataFrame, iou_type: str) -> list[dict]:
    records = {"image_id": anns["image_id"].tolist(), "category_id": anns["category_id"].tolist(),
               "bbox": _boxes(anns), "score": anns["score"].to_numpy(np.float64).tolist()}
    if iou_type == "segm":
        records["segmentation"] = _masks(anns, images, "predictions")
    return _rows(records)


def _boxes(anns: pd.DataFrame) -> list:
    return anns[["x", "y", "w", "h"]].to_numpy(np.float64).tolist()


def _rows(columns: dict) -> list[dict]:
    keys = list(columns)
    return [dict(zip(keys, row)) for row in zip(*columns.values())]


def _masks(anns: pd.DataFrame, images: pd.DataFrame, side: str) -> list:
    segs = anns["segmentation"].tolist()
    missing = sum(s is None for s in segs)
    if missing:
        raise AnnokitError(f"{side}: {missing} of {len(segs)} boxes have no segmentation; "
                           "--iou-type segm needs masks (use bbox)")
    return segs


def _image_dicts(images: pd.DataFrame, iou_type: str) -> list[dict]:
    width = images["width"].to_numpy(np.float64, na_value=np.nan)
    height = images["height"].to_numpy(np.float64, na_value=np.nan)
    if iou_type == "segm":
        unknown = np.isnan(width) | np.isnan(height)
        if unknown.any():  # polygons become masks of the image's size
            name = images["file_name"][unknown].iloc[0]
            raise AnnokitError(f"ground truth: {int(unknown.sum())} images have no known "
                               f"width/height (e.g. {name}); segm evaluation needs them")
    return [{"id": i, "width": 0 if w != w else int(w), "height": 0 if h != h else int(h)}
            for i, w, h in zip(images["id"].tolist(), width.tolist(), height.tolist())]


def _evaluate(gt_dict: dict, results: list[dict], iou_type: str, engine: str):
    """COCOeval run on the dicts, its printing swallowed; the evaluator after summarize()."""
    if engine == "pycocotools":
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval as Evaluator
    else:
        from faster_coco_eval import COCO
        from faster_coco_eval import COCOeval_faster as Evaluator
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt_dict
        coco.createIndex()
        if results:
            dt = coco.loadRes(results)
        else:  # loadRes cannot take an empty list: an empty results set on the same images
            dt = COCO()
            dt.dataset = {"images": gt_dict["images"], "categories": gt_dict["categories"],
                          "annotations": []}
            dt.createIndex()
        evaluator = Evaluator(coco, dt, iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return evaluator


def _per_class(evaluator, gt_dict: dict, counts: tuple[pd.Series, pd.Series]) -> pd.DataFrame:
    """AP (IoU .50:.95), AP50, AP75 and AR100 per category, all areas, 100 detections."""
    params = evaluator.params
    precision = np.asarray(evaluator.eval["precision"])[:, :, :, 0, -1]  # T, R, K
    recall = np.asarray(evaluator.eval["recall"])[:, :, 0, -1]  # T, K
    t50 = int(np.argmin(np.abs(np.asarray(params.iouThrs) - 0.5)))
    t75 = int(np.argmin(np.abs(np.asarray(params.iouThrs) - 0.75)))
    names = {c["id"]: c["name"] for c in gt_dict["categories"]}
    cats = list(params.catIds)
    gt_count, pred_count = counts  # non-crowd ground-truth boxes, predictions, per class
    table = pd.DataFrame({
        "category_id": cats, "category": [names[c] for c in cats],
        "gt": gt_count.reindex(cats, fill_value=0).to_numpy(),
        "pred": pred_count.reindex(cats, fill_value=0).to_numpy(),
        "AP": [_mean(precision[:, :, k]) for k in range(len(cats))],
        "AP50": [_mean(precision[t50, :, k]) for k in range(len(cats))],
        "AP75": [_mean(precision[t75, :, k]) for k in range(len(cats))],
        "AR100": [_mean(recall[:, k]) for k in range(len(cats))]})
    return table.set_index("category")


def _mean(values: np.ndarray) -> float:
    """COCOeval's mean: over the entries that are not -1 (no ground truth), else NaN."""
    kept = values[values > -1]
    return float(np.mean(kept)) if kept.size else np.nan
