"""Score every annotation with quick models fitted K-fold on the dataset itself.

Each image is judged by a model that never saw it (folds from :func:`annokit.split.kfold`,
near-duplicate images kept in one fold so a copy never judges its twin), and every
annotation gets a ``quality`` in [0, 1] (0: surely wrong) and, when it looks wrong, an
``issue`` and a suggested fix. Likely errors come first when sorted by quality.

``model='classic'`` (default) uses HOG and colour-histogram features with scikit-learn;
``model='cnn'`` (``pip install annokit[torch]``) small CNNs trained from scratch; any other
name is a family registered with :func:`annokit.score.registry.register` (one
``fit_predict`` function), run in the same out-of-fold loop. ``predictions=`` (a
detector's boxes) and ``pred_probs=`` (a classifier's out-of-fold probabilities) use your
own model's output instead of training anything. What comes out, and its files, is the
contract in :mod:`annokit.score.contract`.

Example:
    >>> import annokit
    >>> ds = annokit.read("../shared/datasets/bccd/BCCD", "voc")      # doctest: +SKIP
    >>> result = annokit.score(ds, folds=5, seed=0)                    # doctest: +SKIP
    >>> result.annotations.sort_values("quality").head()              # doctest: +SKIP
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import AnnokitError
from ..model import Dataset
from ..notes import Notes
from ..points import Size
from . import centres, classification, detection, points  # centres registers its family
from .contract import (ISSUES, OUT_SUFFIXES, Scores, clip_qualities, flagged, read_scores,
                       write_scores)
from .registry import one_thread, quiet_fits

MODELS = ("classic", "cnn", "pretrained")
# per task, what measured best for its error types within the time budget (baselines/)
DEFAULT_MODEL = {"detection": "classic", "classification": "pretrained"}
# with no --model, overlooked objects are found by this family when it is installed
# (baselines/README.md, "score v2"); the box types stay with DEFAULT_MODEL
DEFAULT_OVERLOOKED: str | None = centres.NAME
TASKS = ("classification", "detection")


def score(ds: Dataset, task: str | None = None, model: str | None = None,
          predictions: Dataset | str | os.PathLike | None = None, folds: int = 5,
          seed: int = 0, weights: str | os.PathLike | None = None,
          iterations: int | None = None, pred_probs: np.ndarray | None = None,
          backbone: str | None = None, point_size: Size | None = None) -> Scores:
    """Score every annotation of ``ds``; likely label errors get the lowest quality.

    ``task`` is 'detection' or 'classification' (default: detection when there are
    boxes or points). Centre points are judged as boxes of their objects' size
    (``point_size``, as :func:`annokit.points.points_to_boxes` takes it; by default the
    spacing of the points, :mod:`annokit.score.points`).
    ``model`` is 'classic', 'pretrained' (classic heads on classic and pretrained
    backbone features for boxes, on pretrained embeddings for image labels; ``pip install
    annokit[torch]``), 'cnn' or a family you registered
    (:func:`annokit.score.registry.register`); by default what measured best per task
    (classic for boxes, pretrained for image labels when installed, else classic).
    ``backbone`` (with 'pretrained') is 'lite0', an ``.onnx`` feature-map model or a timm
    model name. ``predictions`` (a Dataset with scores, a COCO results JSON or a YOLO
    folder with a confidence column) replaces the training for detection; ``pred_probs``
    (n_images, n_classes), your own classifier's out-of-fold probabilities with columns in
    ``ds.categories`` order, does so for classification.
    ``weights`` (a torchvision/timm state dict or an ONNX file) gives the CNN classifier
    pretrained embeddings; ``iterations`` overrides the CNN's training budget per fold.
    Deterministic for a ``seed`` on CPU.

    Example:
        >>> result = score(ds, model="classic", folds=5, seed=0)  # doctest: +SKIP
        >>> result.images.sort_values("quality").head(3)         # doctest: +SKIP
    """
    from .registry import FAMILIES, families

    task = _task(ds, task)
    if task == "detection" and points.only_points(ds):
        boxed, how = points.as_boxes(ds, point_size)
        result = score(boxed, task, model, predictions, folds, seed, weights, iterations,
                       pred_probs, backbone)
        result.notes.add("score", f"points judged {how}")
        points.unflag_off_centre(result.annotations)
        return result
    overlooked_by = _default_overlooked(model, backbone, task, predictions)
    model = _default_model(model, backbone, task)
    if model not in families():
        raise AnnokitError(f"unknown model {model!r}: choose one of {', '.join(families())}")
    if model in FAMILIES and FAMILIES[model].task != task:
        raise AnnokitError(f"scorer {model!r} judges {FAMILIES[model].task}, not {task}")
    if pred_probs is not None and (task != "classification" or predictions is not None):
        raise AnnokitError("pred_probs are a classifier's probabilities: classification only")
    if not isinstance(folds, (int, np.integer)) or folds < 2:
        raise AnnokitError(f"scoring needs at least 2 folds, not {folds!r}")
    if weights is not None:  # a FIFO, folder or device: one line saying what it is
        from ..fileio import open_regular

        open_regular(weights, what="weights file").close()
    if weights is not None and backbone is not None:
        raise AnnokitError("--weights and --backbone each give the image embeddings: give one")
    if weights is not None and task == "detection":
        raise AnnokitError("--weights gives the classification scorer embeddings; detection "
                           "trains its own models (or takes --predictions)")
    run = _Run(model, folds, seed, iterations, backbone, weights, overlooked_by)
    with one_thread(), quiet_fits():  # the same in every fold's worker (registry.fit_folds)
        if task == "detection":
            table = _detection(ds, run, predictions)
        else:
            if predictions is not None:
                raise AnnokitError("--predictions takes a detector's boxes; classification "
                                   "scoring trains its own models")
            table = _classification(ds, run, pred_probs)
    table["issue"] = table["issue"].astype(object).where(table["issue"].notna(), None)
    table = _clip_suggestions(ds, table)
    clip_qualities(table)
    if len(ds.annotations) and run.skipped and table["quality"].isna().all():
        raise AnnokitError(f"nothing could be scored: {len(run.skipped)} images or records "
                           f"left out, the first: {run.skipped[0]}")
    notes = Notes()
    notes.add_all("score", run.skipped, "skipped")
    return Scores(table, _image_table(ds, table, task), notes, task,
                  run.used[0] if run.used else None,
                  _families(task, model, predictions, backbone, weights, overlooked_by))


@dataclass
class _Run:
    """What one :func:`score` call asked for, and what it gathers on the way."""

    model: str
    folds: int
    seed: int
    iterations: int | None = None
    backbone: str | None = None
    weights: str | os.PathLike | None = None
    overlooked_by: str | None = None  # the family that finds overlooked objects, if not model
    skipped: list[str] = field(default_factory=list)  # images and records left out
    used: list[Dataset] = field(default_factory=list)  # a detector's boxes, when one ran

    def fold_of(self, ds: Dataset) -> np.ndarray:
        """Each image's fold."""
        return _folds(ds, self.folds, self.seed)

    def detected(self, ds: Dataset, pred: Dataset) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Keep a detector's boxes (the report shows them) and judge ``ds`` against them."""
        self.used.append(pred)
        return detection.from_predictions(ds, pred)


def _default_model(model: str | None, backbone: str | None, task: str) -> str:
    """No ``model``: the family that measured best for the task's error types within the
    time budget (baselines/README.md, "score v2"): classic for boxes, pretrained features
    for image labels when installed; a ``backbone`` asks for pretrained."""
    if model is not None:
        if backbone is not None and model != "pretrained":
            raise AnnokitError("--backbone goes with --model pretrained")
        return model
    if backbone is not None:
        return "pretrained"
    best = DEFAULT_MODEL[task]
    if best == "pretrained":
        from .backbones import available

        return best if available() else "classic"
    return best


def _default_overlooked(model: str | None, backbone: str | None, task: str,
                        predictions) -> str | None:
    """No ``model`` (nor backbone, predictions): the family that finds overlooked boxes
    best, :data:`DEFAULT_OVERLOOKED`, when torch is installed; None: the box family does."""
    if model is not None or backbone is not None or predictions is not None \
            or task != "detection" or DEFAULT_OVERLOOKED is None:
        return None
    try:
        import torch  # noqa: F401
    except ImportError:
        return None
    if DEFAULT_OVERLOOKED == centres.NAME:  # pretrained features: the packaged weights too
        from .backbones import available

        return DEFAULT_OVERLOOKED if available() else None
    return DEFAULT_OVERLOOKED


def _families(task: str, model: str, predictions, backbone: str | None, weights=None,
              overlooked_by: str | None = None) -> dict:
    """Which family judged which error type (recorded in the output)."""
    if predictions is not None:
        family = "predictions"
    elif weights is not None:
        family = f"embeddings ({Path(weights).name})"
    elif model == "pretrained":
        family = f"pretrained ({backbone or 'lite0'}) + classic features"
    else:
        family = model
    types = ("swap", "badloc", "spurious", "overlooked") if task == "detection" else ("flip",)
    found = {t: overlooked_by if t == "overlooked" and overlooked_by else family for t in types}
    if overlooked_by and task == "detection":  # its boxes: a second judge of placement
        found["badloc"] = found["spurious"] = f"{family} + {overlooked_by}"
    return found


def _clip_suggestions(ds: Dataset, table: pd.DataFrame) -> pd.DataFrame:
    """Suggested boxes stay inside their image (at x, y >= 0 where its size is unknown): a
    fix that points off the picture is no fix. A suggestion left with no area is dropped
    (a candidate row goes, an annotation's suggestion becomes NaN): no output holds a
    negative or empty suggested box."""
    from ..geometry import clip_boxes

    cols = ["suggested_x", "suggested_y", "suggested_w", "suggested_h"]
    sizes = ds.images.drop_duplicates("id").set_index("id")[["width", "height"]] \
        .astype("float64")
    width = table["image_id"].map(sizes["width"]).to_numpy(np.float64)
    height = table["image_id"].map(sizes["height"]).to_numpy(np.float64)
    boxes = table[cols].to_numpy(np.float64)
    rows = np.isfinite(boxes).all(axis=1)
    if rows.any():
        w = np.where(np.isfinite(width), width, np.inf)[rows]
        h = np.where(np.isfinite(height), height, np.inf)[rows]
        table.loc[rows, cols] = clip_boxes(boxes[rows], w, h)
    boxes = table[cols].to_numpy(np.float64)
    empty = np.isfinite(boxes).all(axis=1) & ~(boxes[:, 2:] > 0).all(axis=1)
    empty |= ~np.isfinite(boxes).all(axis=1) & np.isfinite(boxes).any(axis=1)
    table.loc[empty, cols] = np.nan
    candidate = table["annotation_id"].isna() & table["issue"].eq("overlooked")
    return table[~(candidate & ~np.isfinite(table[cols].to_numpy(np.float64)).all(axis=1))] \
        .reset_index(drop=True)


def _task(ds: Dataset, task: str | None) -> str:
    if task is None:
        shapes = ds.annotations["kind"].isin(("box", "point")).any()
        return "detection" if shapes else "classification"
    if task not in TASKS:
        raise AnnokitError(f"unknown task {task!r}: choose one of {', '.join(TASKS)}")
    return task


def _folds(ds: Dataset, k: int, seed: int) -> np.ndarray:
    from ..split import kfold

    k = min(k, len(ds.images))
    if k < 2:
        raise AnnokitError(f"scoring needs at least 2 images for 2 folds, found {len(ds.images)}")
    with warnings.catch_warnings():  # notes about ungrouped duplicates are not the user's
        warnings.simplefilter("ignore")
        return kfold(ds, k, seed=seed).images["fold"].to_numpy()


def _require_boxes(ds: Dataset) -> None:
    """One line when no box can be judged (all of zero size, say), before any work."""
    if not len(detection.box_table(ds)[0]):
        n = int((ds.annotations["kind"] == "box").sum())
        raise AnnokitError(f"nothing to score: none of the {n} boxes has a finite, positive "
                           "width and height on a known image and class (see annokit check)")


def _detection(ds: Dataset, run: _Run, predictions) -> pd.DataFrame:
    _require_boxes(ds)
    boxes, cand = _judged_boxes(ds, run, predictions)
    quality, issue = detection.combine(boxes)
    anns = ds.annotations
    table = pd.DataFrame({
        "annotation_id": pd.array(anns["id"].to_numpy(), dtype="Int64"),
        "image_id": anns["image_id"].to_numpy(np.int64),
        "category_id": pd.array(anns["category_id"].to_numpy(), dtype="Int64"),
        "quality": quality, "issue": issue})
    swap = issue == "swap"
    table["suggested_category_id"] = boxes["suggested_category_id"].where(swap, pd.NA) \
        .astype("Int64").array
    moved = issue == "badloc"
    for c in "xywh":
        table[f"suggested_{c}"] = np.where(moved, boxes[f"suggested_{c}"].to_numpy(), np.nan)
    for t in detection.ISSUES:
        table[f"{t}_quality"] = boxes[f"{t}_quality"].to_numpy()
    return pd.concat([table, _overlooked(ds, cand)], ignore_index=True)


def _judged_boxes(ds: Dataset, run: _Run, predictions) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(every annotated box judged, overlooked candidates) by the family ``run`` names:
    a detector's --predictions, classic or pretrained features (with another family for
    overlooked objects), a registered detector, or the cnn."""
    if predictions is not None:
        return run.detected(ds, load_predictions(predictions, ds, run.skipped))
    if run.model in ("classic", "pretrained"):
        extra = None
        if run.model == "pretrained":
            from .backbones import extractor

            extra = extractor(run.backbone)
        pred = _overlooked_detector(ds, run)
        boxes, cand = detection.classic(ds, run.fold_of(ds), run.seed, run.skipped, extra,
                                        with_candidates=pred is None, detected=pred)
        if pred is not None:  # its out-of-fold boxes find missed objects
            cand = run.detected(ds, pred)[1]
        return boxes, cand
    if run.model not in MODELS:  # a registered detector, through the one out-of-fold loop
        from .registry import FAMILIES, run_family

        found = run_family(FAMILIES[run.model], ds, run.fold_of(ds), run.seed,
                           np.ones(len(ds.images), bool))
        if not len(found):  # nothing to judge the boxes against: say so, not "a file"
            raise AnnokitError(f"--model {run.model}: the detector found no object on any "
                               "image (it learns from the boxes of the other folds: too "
                               "few?); try --model classic")
        pred = Dataset(ds.categories.copy(), ds.images.copy(), found.assign(kind="box"), {})
        return run.detected(ds, load_predictions(pred, ds, run.skipped))
    from . import cnn

    return run.detected(ds, cnn.detect_out_of_fold(ds, run.fold_of(ds), run.seed,
                                                   run.skipped, run.iterations))


def _overlooked_detector(ds: Dataset, run: _Run) -> Dataset | None:
    """The out-of-fold boxes of the family that looks for overlooked objects, if one does:
    the cnn, or linear heads on frozen Lite0 feature maps (``centres``). The classic family
    also takes them as a second judge of where the boxes sit."""
    if run.overlooked_by == "cnn":
        from . import cnn

        return cnn.detect_out_of_fold(ds, run.fold_of(ds), run.seed, [], run.iterations)
    if run.overlooked_by == centres.NAME:
        return centres.detect_out_of_fold(ds, run.fold_of(ds), run.seed, [])
    return None


def _overlooked(ds: Dataset, cand: pd.DataFrame) -> pd.DataFrame:
    n = len(cand)
    return pd.DataFrame({
        "annotation_id": pd.array([pd.NA] * n, dtype="Int64"),
        "image_id": ds.images["id"].to_numpy(np.int64)[cand["pos"].to_numpy(np.int64)],
        "category_id": pd.array(cand["category_id"].to_numpy(), dtype="Int64"),
        "quality": np.clip(1 - cand["chance" if "chance" in cand else "object"]
                           .to_numpy(np.float64), 0, 1),
        "issue": np.full(n, "overlooked", dtype=object),
        "suggested_category_id": pd.array(cand["category_id"].to_numpy(), dtype="Int64"),
        **{f"suggested_{c}": cand[c].to_numpy(np.float64) for c in "xywh"}})


def _classification(ds: Dataset, run: _Run, pred_probs=None) -> pd.DataFrame:
    labels, classes, multi = classification.label_table(ds)
    y = classification.targets(labels, len(ds.images), len(classes))
    probs = _checked_probs(pred_probs, y.shape) if pred_probs is not None else \
        _class_probabilities(ds, run, y, multi)
    rows, _ = classification.score_labels(labels, y, probs, classes, multi,
                                          len(ds.annotations))
    anns = ds.annotations
    nan = np.full(len(anns), np.nan)
    return pd.DataFrame({
        "annotation_id": pd.array(anns["id"].to_numpy(), dtype="Int64"),
        "image_id": anns["image_id"].to_numpy(np.int64),
        "category_id": pd.array(anns["category_id"].to_numpy(), dtype="Int64"),
        "quality": rows["quality"].to_numpy(np.float64), "issue": rows["issue"].to_numpy(),
        "suggested_category_id": rows["suggested_category_id"].array,
        "suggested_x": nan, "suggested_y": nan, "suggested_w": nan, "suggested_h": nan})


def _class_probabilities(ds: Dataset, run: _Run, y: np.ndarray, multi: bool) -> np.ndarray:
    """Out-of-fold class probabilities (n_images, n_classes) by the family ``run`` names."""
    if run.model not in MODELS:  # a registered classifier, through the one out-of-fold loop
        from .registry import FAMILIES, run_family

        return run_family(FAMILIES[run.model], ds, run.fold_of(ds), run.seed,
                          np.ones(len(ds.images), bool))
    if run.model == "cnn" and run.weights is None:
        from . import cnn

        return cnn.classify_out_of_fold(ds, y, run.fold_of(ds), multi, run.seed, run.skipped,
                                        iterations=run.iterations)
    if run.weights is not None:  # features, then the one classic head
        from .embeddings import embed

        feats, ok = embed(ds, run.weights, run.skipped)
    else:
        feats, ok = classification.featurise_images(ds, run.skipped)
    if run.model == "pretrained" and run.weights is None:
        from .backbones import image_embeddings

        # both feature sets: HOG sees the shape, the embeddings what it is (sld flips
        # AUROC 0.990 classic, 0.994 embeddings alone, 0.996 both: baselines/README.md)
        deep, deep_ok = image_embeddings(ds, [], run.backbone)
        feats, ok = np.hstack([feats, deep]), ok & deep_ok
    return classification.classic_probabilities(feats, y, ok, run.fold_of(ds), multi, run.seed)


def _checked_probs(pred_probs, shape: tuple[int, int]) -> np.ndarray:
    """The user's out-of-fold probabilities as float64, one row per image (NaN rows: not
    judged), one column per class; one line on anything else."""
    try:
        probs = np.asarray(pred_probs, np.float64)
    except (TypeError, ValueError):
        raise AnnokitError("pred_probs must be a numeric array (n_images, n_classes)") from None
    if probs.shape != shape:
        raise AnnokitError(f"pred_probs has shape {probs.shape}; the dataset needs {shape} "
                           "(one row per image, one column per category, in their order)")
    judged = ~np.isnan(probs).all(axis=1)
    rows = probs[judged]
    if not np.isfinite(rows).all() or (rows < 0).any() or (rows > 1).any():
        raise AnnokitError("pred_probs must be probabilities in [0, 1] (a row of NaN: an image "
                           "not judged)")
    return probs


def _image_table(ds: Dataset, table: pd.DataFrame, task: str) -> pd.DataFrame:
    """Per image: the lowest quality among its rows (1 when it has none, NaN when it
    could not be judged) and how many rows name an issue (overlooked: quality < FLAG)."""
    ids = ds.images["id"].to_numpy(np.int64)
    n_issues = flagged(table).groupby(table["image_id"]).sum().reindex(ids, fill_value=0)
    low = table.groupby("image_id")["quality"].min().reindex(ids)
    has_rows = table.groupby("image_id").size().reindex(ids, fill_value=0).to_numpy() > 0
    quality = np.where(has_rows, low.to_numpy(np.float64), 1.0)
    return pd.DataFrame({"image_id": ids, "quality": quality,
                         "n_issues": n_issues.to_numpy(np.int64)})


def load_predictions(predictions, ds: Dataset, skipped: list[str] | None = None) -> Dataset:
    """A detector's output as a Dataset on ``ds``'s image and class ids.

    Paired as ``annokit eval`` pairs them (:mod:`annokit.evaluate.align`): a COCO results
    list (``.json``) takes ``ds``'s ids; any other dataset (a Dataset, or a path read with
    :func:`annokit.read`) is paired by file name (by id when names repeat) and class name.
    A bare folder of YOLO label files whose lines end with a confidence (Ultralytics
    ``--save-txt --save-conf``, no ``data.yaml``) is placed on ``ds``'s images by file stem.
    Boxes with NaN, infinite or negative size and scores that are not finite or are
    negative are skipped, each group counted in ``skipped``.

    Example:
        >>> pred = load_predictions("results.json", ds)  # doctest: +SKIP
    """
    from ..evaluate.align import onto
    from ..fileio import open_regular
    from ..formats import read
    from ..formats.coco import read_results

    notes = skipped if skipped is not None else []
    if isinstance(predictions, Dataset):
        source, pred = "predictions", predictions
    else:
        path, source = Path(predictions), str(predictions)
        if not path.is_dir():  # a FIFO, device or missing file: one line saying what it is
            open_regular(path, what="predictions file").close()
        if path.is_dir() and not (path / "data.yaml").is_file() and _yolo_folder(path):
            pred = _yolo_lines(path, ds)
        elif path.suffix.lower() == ".json" and _results_list(path):
            pred = read_results(path, ds)
            notes += [f"predictions: {m}" for m in pred.notes.of("skipped").texts()]
        else:
            pred = read(path)
    pred, paired = onto(pred, ds)
    notes += [f"predictions: {m}" for m in paired]
    return _valid_predictions(pred, source, notes)


def _yolo_folder(path: Path) -> bool:
    return any(path.rglob("*.txt"))


def _results_list(path: Path) -> bool:
    """A COCO results file is a JSON list (a dataset is an object)."""
    from ..fileio import open_regular

    with open_regular(path, what="predictions file") as f:
        return f.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"[")


def _valid_predictions(pred: Dataset, source: str, notes: list[str]) -> Dataset:
    """``pred`` without the boxes a score cannot rest on, each reason counted in ``notes``;
    one line when no usable prediction is left, saying why."""
    anns = pred.annotations
    anns = anns[anns["kind"] == "box"] if len(anns) else anns
    xywh = anns[["x", "y", "w", "h"]].to_numpy(np.float64)
    score = pd.to_numeric(anns["score"], errors="coerce").to_numpy(np.float64)
    reasons = {
        "a NaN or infinite coordinate": ~np.isfinite(xywh).all(axis=1),
        "a zero or negative width or height": np.isfinite(xywh).all(axis=1)
        & ~(xywh[:, 2:] > 0).all(axis=1),
        "no score, or a NaN, infinite or negative one": ~(np.isfinite(score) & (score >= 0))}
    bad = np.zeros(len(anns), bool)
    found = []
    for why, mask in reasons.items():
        mask = mask & ~bad
        if mask.any():
            found.append(f"{int(mask.sum())} with {why}")
            bad |= mask
    if found:
        notes.append(f"predictions: {', '.join(found)}: skipped")
    if not len(anns) or bad.all():
        why = "; ".join([n.removeprefix("predictions: ") for n in notes]) or "the file holds none"
        raise AnnokitError(f"{source}: no usable prediction ({why}); predictions need a box "
                           "and a confidence each (COCO results 'score', or a sixth column in "
                           "YOLO label lines)")
    return Dataset(pred.categories, pred.images, anns[~bad].reset_index(drop=True), pred.meta)


def _stems(files: pd.Series) -> pd.Series:
    return files.astype(str).str.replace("\\", "/").str.rsplit("/", n=1).str[-1] \
        .str.rsplit(".", n=1).str[0]


MAX_LABEL_BYTES = 64 << 20  # one YOLO label file: a few KB; far larger is not one


def _yolo_lines(folder: Path, ds: Dataset) -> Dataset:
    """A folder of YOLO ``class cx cy w h confidence`` files (Ultralytics ``predict
    --save-txt --save-conf``), placed on ``ds``'s images by file stem and sizes; class
    index i is ``ds``'s i-th category (by id). Errors never quote a file's content."""
    from ..errors import FormatError
    from ..fileio import read_regular

    sizes = ds.images.assign(stem=_stems(ds.images["file_name"])).drop_duplicates("stem") \
        .set_index("stem")
    classes = np.sort(ds.categories["id"].to_numpy())
    parts = []
    for file in sorted(folder.rglob("*.txt")):
        if file.stem not in sizes.index:
            continue
        text = read_regular(file, limit=MAX_LABEL_BYTES, what="label file")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # an empty file: no rows, said below
                values = np.loadtxt(text.decode("utf-8").splitlines(), ndmin=2)
        except (ValueError, UnicodeDecodeError):
            raise FormatError(file, "not YOLO label lines (class cx cy w h confidence, "
                              "numbers only)") from None
        if not values.size:
            continue
        if values.shape[1] != 6:
            raise FormatError(file, f"{values.shape[1]} columns; predictions need 6 "
                              "(class cx cy w h confidence)")
        image = sizes.loc[file.stem]
        wh = np.array([image["width"], image["height"]], np.float64)
        cls = values[:, 0]
        ok = np.isfinite(cls) & (cls >= 0) & (cls < len(classes)) & (cls % 1 == 0)
        box = values[ok, 1:5] * np.r_[wh, wh]
        parts.append(pd.DataFrame({"image_id": image["id"],
                                   "category_id": classes[cls[ok].astype(np.int64)],
                                   "x": box[:, 0] - box[:, 2] / 2, "y": box[:, 1] - box[:, 3] / 2,
                                   "w": box[:, 2], "h": box[:, 3], "score": values[ok, 5]}))
    anns = pd.concat(parts, ignore_index=True) if parts else None
    return Dataset(ds.categories.copy(), ds.images.copy(), anns, {})


def format_worst(ds: Dataset, result: Scores, n: int = 15) -> str:
    """A count line, then text tables of the ``n`` worst flagged annotations and of the
    likeliest overlooked objects (candidates are counted apart: they are not annotations).

    Example:
        >>> print(format_worst(ds, result, 5))  # doctest: +SKIP
    """
    rows = result.annotations
    candidate = rows["annotation_id"].isna() & rows["issue"].eq("overlooked")
    flagged = rows[~candidate & rows["issue"].notna()]
    by_issue = ", ".join(f"{k} {v}" for k, v in flagged["issue"].value_counts().items())
    head = (f"{result.task}: {len(ds.annotations)} annotations scored, {len(flagged)} flagged"
            f"{f' ({by_issue})' if by_issue else ''}")
    if candidate.any():
        head += f"; {int(candidate.sum())} candidate overlooked objects"
    head += f"; {len(result.notes.of('skipped'))} images skipped"
    judges: dict[str, list[str]] = {}  # family -> the types it judged, in type order
    for kind, family in (getattr(result, "families", None) or {}).items():
        judges.setdefault(family, []).append(kind)
    if len(judges) == 1:
        head += f"; judged by {next(iter(judges))}"
    elif judges:
        head += "; judged by " + "; ".join(f"{', '.join(kinds)}: {family}"
                                            for family, kinds in judges.items())
    worst = flagged.sort_values("quality", kind="stable").head(n)
    overlooked = rows[candidate].sort_values("quality", kind="stable").head(max(n // 3, 1))
    parts = [head]
    if len(worst):
        parts.append(_worst_table(ds, worst))
    if n and len(overlooked):
        parts.append("likely overlooked objects (candidates, best first):\n"
                     + _worst_table(ds, overlooked))
    return "\n".join(parts)


def _worst_table(ds: Dataset, worst: pd.DataFrame) -> str:
    files = ds.images.set_index("id")["file_name"]
    names = ds.categories.set_index("id")["name"]
    suggested = worst["suggested_category_id"].map(names).astype(object)
    box = worst[["suggested_x", "suggested_y", "suggested_w", "suggested_h"]].to_numpy(float)
    if points.only_points(ds):  # a point's suggestion is the centre of its judged box
        where = [f"point {x + w / 2:.0f},{y + h / 2:.0f}" if np.isfinite([x, y, w, h]).all()
                 else "" for x, y, w, h in box.tolist()]
    else:
        where = [f"box {x:.0f},{y:.0f},{w:.0f},{h:.0f}" if np.isfinite([x, y, w, h]).all()
                 else "" for x, y, w, h in box.tolist()]
    table = pd.DataFrame({
        "quality": worst["quality"].map(lambda v: f"{v:.3f}"),
        "issue": worst["issue"],
        "image": worst["image_id"].map(files).astype(str).str.slice(-40),
        "annotation": worst["annotation_id"].astype(object).where(
            worst["annotation_id"].notna(), "-"),
        "class": worst["category_id"].map(names).astype(object),
        "suggestion": [s if isinstance(s, str) and i in ("swap", "flip") else w
                       for s, i, w in zip(suggested.where(suggested.notna(), "").tolist(),
                                          worst["issue"].tolist(), where)]})
    return table.to_string(index=False)


__all__ = ["ISSUES", "OUT_SUFFIXES", "Scores", "format_worst", "load_predictions", "read_scores",
           "score", "write_scores"]
