"""Score every annotation with quick models fitted K-fold on the dataset itself.

Each image is judged by a model that never saw it (folds from :func:`annokit.split.kfold`,
near-duplicate images kept in one fold so a copy never judges its twin), and every
annotation gets a ``quality`` in [0, 1] (0: surely wrong) and, when it looks wrong, an
``issue`` and a suggested fix. Likely errors come first when sorted by quality.

``model='classic'`` (default) uses HOG and colour-histogram features with scikit-learn;
``model='cnn'`` (``pip install annokit[torch]``) small CNNs trained from scratch;
``predictions=`` uses a detector's own output instead of training anything.

Example:
    >>> import annokit
    >>> ds = annokit.read("../shared/datasets/bccd/BCCD", "voc")      # doctest: +SKIP
    >>> result = annokit.score(ds, folds=5, seed=0)                    # doctest: +SKIP
    >>> result.annotations.sort_values("quality").head()              # doctest: +SKIP
"""
from __future__ import annotations

import os
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import AnnokitError
from ..model import Dataset
from . import classification, detection

MODELS = ("classic", "cnn", "pretrained")
# per task, what measured best for its error types within the time budget (baselines/)
DEFAULT_MODEL = {"detection": "classic", "classification": "pretrained"}
TASKS = ("classification", "detection")
ISSUES = ("swap", "badloc", "spurious", "overlooked", "flip")
OUT_SUFFIXES = (".json", ".csv", ".parquet")


@dataclass
class Scores:
    """What :func:`score` found: one row per annotation (then overlooked candidates), one
    row per image, the images it could not read, and the task.

    ``annotations``: annotation_id (Int64, NA for overlooked rows), image_id, category_id
    (Int64), quality (float64, 0 = surely wrong), issue ('swap', 'badloc', 'spurious',
    'overlooked', 'flip' or None), suggested_category_id (Int64), suggested_x/y/w/h
    (float64, COCO xywh pixels), plus per-type qualities for detection.
    ``images``: image_id, quality (0 = surely holds an error), n_issues.

    Example:
        >>> result.worst(5)  # doctest: +SKIP
    """

    annotations: pd.DataFrame
    images: pd.DataFrame
    skipped: list[str] = field(default_factory=list)
    task: str = "detection"
    predictions: Dataset | None = None  # the out-of-fold detector boxes (cnn, --predictions)
    families: dict = field(default_factory=dict)  # which family judged which error type

    def worst(self, n: int = 10) -> pd.DataFrame:
        """The ``n`` rows with an issue and the lowest quality, worst first.

        Example:
            >>> result.worst(3)[["annotation_id", "issue", "quality"]]  # doctest: +SKIP
        """
        flagged = self.annotations[self.annotations["issue"].notna()]
        return flagged.sort_values("quality", kind="stable").head(n)


def score(ds: Dataset, task: str | None = None, model: str | None = None,
          predictions: Dataset | str | os.PathLike | None = None, folds: int = 5,
          seed: int = 0, weights: str | os.PathLike | None = None,
          iterations: int | None = None, backbone: str | None = None) -> Scores:
    """Score every annotation of ``ds``; likely label errors get the lowest quality.

    ``task`` is 'detection' or 'classification' (default: detection when there are
    boxes). ``model`` is 'classic', 'pretrained' (classic heads on classic and pretrained
    backbone features for boxes, on pretrained embeddings for image labels; ``pip install
    annokit[torch]``) or 'cnn'; by default what measured best per task (classic for boxes,
    pretrained for image labels when installed, else classic). ``backbone``
    (with 'pretrained') is 'lite0', an ``.onnx`` feature-map model or a timm model name.
    ``predictions`` (a Dataset with scores, a
    COCO results JSON or a YOLO folder with a confidence column) replaces the training.
    ``weights`` (a torchvision/timm state dict or an ONNX file) gives the CNN classifier
    pretrained embeddings; ``iterations`` overrides the CNN's training budget per fold.
    Deterministic for a ``seed`` on CPU.

    Example:
        >>> result = score(ds, model="classic", folds=5, seed=0)  # doctest: +SKIP
        >>> result.images.sort_values("quality").head(3)         # doctest: +SKIP
    """
    task = _task(ds, task)
    model = _default_model(model, backbone, task)
    if model not in MODELS:
        raise AnnokitError(f"unknown model {model!r}: choose one of {', '.join(MODELS)}")
    if not isinstance(folds, (int, np.integer)) or folds < 2:
        raise AnnokitError(f"scoring needs at least 2 folds, not {folds!r}")
    if weights is not None and not Path(weights).is_file():
        raise AnnokitError(f"{weights}: weights file not found (pass a torchvision/timm "
                           "state dict .pt/.pth or an .onnx file)")
    if weights is not None and task == "detection":
        raise AnnokitError("--weights gives the classification scorer embeddings; detection "
                           "trains its own models (or takes --predictions)")
    skipped: list[str] = []
    used: list[Dataset] = []
    with _one_thread():
        if task == "detection":
            table = _detection(ds, model, predictions, folds, seed, skipped, iterations, used,
                               backbone)
        else:
            if predictions is not None:
                raise AnnokitError("--predictions takes a detector's boxes; classification "
                                   "scoring trains its own models")
            table = _classification(ds, model, folds, seed, skipped, weights, iterations,
                                    backbone)
    table["issue"] = table["issue"].astype(object).where(table["issue"].notna(), None)
    _clip_suggestions(ds, table)
    return Scores(table, _image_table(ds, table, task), skipped, task,
                  used[0] if used else None, _families(task, model, predictions, backbone))


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


def _families(task: str, model: str, predictions, backbone: str | None) -> dict:
    """Which family judged which error type (recorded in the output)."""
    if predictions is not None:
        family = "predictions"
    elif model == "pretrained" and task == "detection":
        family = f"pretrained ({backbone or 'lite0'}) + classic features"
    elif model == "pretrained":
        family = f"pretrained ({backbone or 'lite0'}) + classic features"
    else:
        family = model
    types = ("swap", "badloc", "spurious", "overlooked") if task == "detection" else ("flip",)
    return {t: family for t in types}


def _clip_suggestions(ds: Dataset, table: pd.DataFrame) -> None:
    """Suggested boxes stay inside their image (where its size is known): a fix that
    points off the picture is no fix."""
    cols = ["suggested_x", "suggested_y", "suggested_w", "suggested_h"]
    sizes = ds.images.set_index("id")[["width", "height"]].astype("float64")
    width = table["image_id"].map(sizes["width"]).to_numpy(np.float64)
    height = table["image_id"].map(sizes["height"]).to_numpy(np.float64)
    boxes = table[cols].to_numpy(np.float64)
    rows = np.isfinite(boxes).all(axis=1) & np.isfinite(width) & np.isfinite(height)
    if rows.any():
        from ..geometry import clip_boxes

        table.loc[rows, cols] = clip_boxes(boxes[rows], width[rows], height[rows])


def _task(ds: Dataset, task: str | None) -> str:
    if task is None:
        return "detection" if (ds.annotations["kind"] == "box").any() else "classification"
    if task not in TASKS:
        raise AnnokitError(f"unknown task {task!r}: choose one of {', '.join(TASKS)}")
    return task


def _one_thread():
    """One BLAS/OpenMP thread: on a busy two-core machine threads fight and run 10x slower,
    and a fixed thread count keeps CPU results the same run to run."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return nullcontext()
    return threadpool_limits(1)


def _folds(ds: Dataset, k: int, seed: int) -> np.ndarray:
    from ..split import kfold

    k = min(k, len(ds.images))
    if k < 2:
        raise AnnokitError(f"scoring needs at least 2 images for 2 folds, found {len(ds.images)}")
    with warnings.catch_warnings():  # notes about ungrouped duplicates are not the user's
        warnings.simplefilter("ignore")
        return kfold(ds, k, seed=seed).images["fold"].to_numpy()


def _detection(ds, model, predictions, folds, seed, skipped, iterations, used,
               backbone=None) -> pd.DataFrame:
    if predictions is not None:
        pred = load_predictions(predictions, ds)
        used.append(pred)
        boxes, cand = detection.from_predictions(ds, pred)
    elif model in ("classic", "pretrained"):
        extra = None
        if model == "pretrained":
            from .backbones import extractor

            extra = extractor(backbone)
        boxes, cand = detection.classic(ds, _folds(ds, folds, seed), seed, skipped, extra)
    else:
        from . import cnn

        pred = cnn.detect_out_of_fold(ds, _folds(ds, folds, seed), seed, skipped, iterations)
        used.append(pred)
        boxes, cand = detection.from_predictions(ds, pred)
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


def _overlooked(ds: Dataset, cand: pd.DataFrame) -> pd.DataFrame:
    n = len(cand)
    return pd.DataFrame({
        "annotation_id": pd.array([pd.NA] * n, dtype="Int64"),
        "image_id": ds.images["id"].to_numpy(np.int64)[cand["pos"].to_numpy(np.int64)],
        "category_id": pd.array(cand["category_id"].to_numpy(), dtype="Int64"),
        "quality": np.clip(1 - cand["object"].to_numpy(np.float64), 0, 1),
        "issue": np.full(n, "overlooked", dtype=object),
        "suggested_category_id": pd.array(cand["category_id"].to_numpy(), dtype="Int64"),
        **{f"suggested_{c}": cand[c].to_numpy(np.float64) for c in "xywh"}})


def _classification(ds, model, folds, seed, skipped, weights, iterations,
                    backbone=None) -> pd.DataFrame:
    labels, classes, multi = classification.label_table(ds)
    fold = _folds(ds, folds, seed)
    y = classification.targets(labels, len(ds.images), len(classes))
    if model == "pretrained" and weights is None:
        from .backbones import image_embeddings

        # both feature sets: HOG sees the shape, the embeddings what it is (sld flips
        # AUROC 0.990 classic, 0.994 embeddings alone, 0.996 both: baselines/README.md)
        classic_feats, ok = classification.featurise_images(ds, skipped)
        deep, deep_ok = image_embeddings(ds, [], backbone)
        feats, ok = np.hstack([classic_feats, deep]), ok & deep_ok
        probs = classification.classic_probabilities(feats, y, ok, fold, multi, seed)
    elif model == "classic" and weights is None:
        feats, ok = classification.featurise_images(ds, skipped)
        probs = classification.classic_probabilities(feats, y, ok, fold, multi, seed)
    else:
        from . import cnn

        probs = cnn.classify_out_of_fold(ds, y, fold, multi, seed, skipped, weights, iterations)
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


def _image_table(ds: Dataset, table: pd.DataFrame, task: str) -> pd.DataFrame:
    """Per image: the lowest quality among its rows (1 when it has none, NaN when it
    could not be judged) and how many rows name an issue (overlooked: quality < FLAG)."""
    ids = ds.images["id"].to_numpy(np.int64)
    counted = table["issue"].notna() & ((table["issue"] != "overlooked")
                                        | (table["quality"] < detection.FLAG))
    n_issues = counted.groupby(table["image_id"]).sum().reindex(ids, fill_value=0)
    low = table.groupby("image_id")["quality"].min().reindex(ids)
    has_rows = table.groupby("image_id").size().reindex(ids, fill_value=0).to_numpy() > 0
    quality = np.where(has_rows, low.to_numpy(np.float64), 1.0)
    return pd.DataFrame({"image_id": ids, "quality": quality,
                         "n_issues": n_issues.to_numpy(np.int64)})


def load_predictions(predictions, ds: Dataset) -> Dataset:
    """A detector's output as a Dataset aligned with ``ds``'s image ids.

    A Dataset is used as it is; a ``.json`` is read as a COCO results list against ``ds``;
    a folder of YOLO label files whose lines end with a confidence (Ultralytics
    ``--save-txt --save-conf``) is placed on ``ds``'s images by file stem; any other
    dataset is read with :func:`annokit.read` and matched by file stem and class name.

    Example:
        >>> pred = load_predictions("results.json", ds)  # doctest: +SKIP
    """
    from ..formats import read
    from ..formats.coco import read_results

    if isinstance(predictions, Dataset):
        pred = predictions
    elif str(predictions).lower().endswith(".json"):
        pred = read_results(predictions, ds)
        return _require_scores(pred, predictions)
    elif Path(predictions).is_dir() and not (Path(predictions) / "data.yaml").is_file():
        pred = _yolo_lines(Path(predictions), ds)
    else:
        pred = read(predictions)
        pred = _align(pred, ds, predictions)
    return _require_scores(pred, predictions if not isinstance(predictions, Dataset)
                           else "predictions")


def _require_scores(pred: Dataset, source) -> Dataset:
    if not len(pred.annotations) or pred.annotations["score"].isna().all():
        raise AnnokitError(f"{source}: predictions need a confidence per box (COCO results "
                           "'score', or a sixth column in YOLO label lines)")
    return pred


def _stems(files: pd.Series) -> pd.Series:
    return files.astype(str).str.replace("\\", "/").str.rsplit("/", n=1).str[-1] \
        .str.rsplit(".", n=1).str[0]


def _yolo_lines(folder: Path, ds: Dataset) -> Dataset:
    """A folder of YOLO ``class cx cy w h confidence`` files (Ultralytics ``predict
    --save-txt --save-conf``), placed on ``ds``'s images by file stem and sizes; class
    index i is ``ds``'s i-th category (by id)."""
    from ..errors import FormatError

    sizes = ds.images.assign(stem=_stems(ds.images["file_name"])).drop_duplicates("stem") \
        .set_index("stem")
    classes = np.sort(ds.categories["id"].to_numpy())
    parts = []
    for file in sorted(folder.rglob("*.txt")):
        if file.stem not in sizes.index:
            continue
        try:
            values = np.loadtxt(file, ndmin=2)
        except ValueError as e:
            raise FormatError(file, f"not YOLO label lines ({e})") from None
        if not values.size:
            continue
        if values.shape[1] != 6:
            raise FormatError(file, f"{values.shape[1]} columns; predictions need 6 "
                              "(class cx cy w h confidence)")
        image = sizes.loc[file.stem]
        wh = np.array([image["width"], image["height"]], np.float64)
        cls = values[:, 0].astype(np.int64)
        ok = (cls >= 0) & (cls < len(classes))
        box = values[ok, 1:5] * np.r_[wh, wh]
        parts.append(pd.DataFrame({"image_id": image["id"], "category_id": classes[cls[ok]],
                                   "x": box[:, 0] - box[:, 2] / 2, "y": box[:, 1] - box[:, 3] / 2,
                                   "w": box[:, 2], "h": box[:, 3], "score": values[ok, 5]}))
    anns = pd.concat(parts, ignore_index=True) if parts else None
    return Dataset(ds.categories.copy(), ds.images.copy(), anns, {})


def _align(pred: Dataset, ds: Dataset, source) -> Dataset:
    """Re-key ``pred``'s images and categories onto ``ds``'s (by file stem, by name)."""
    image_map = pd.Series(ds.images["id"].to_numpy(), index=_stems(ds.images["file_name"]))
    image_map = image_map[~image_map.index.duplicated()]
    pred_ids = pd.Series(_stems(pred.images["file_name"]).map(image_map).to_numpy(),
                         index=pred.images["id"].to_numpy())
    cat_map = pd.Series(ds.categories["id"].to_numpy(), index=ds.categories["name"].astype(str))
    pred_cats = pd.Series(pred.categories["name"].astype(str).map(cat_map).to_numpy(),
                          index=pred.categories["id"].to_numpy())
    anns = pred.annotations.copy()
    anns["image_id"] = anns["image_id"].map(pred_ids)
    anns["category_id"] = anns["category_id"].map(pred_cats)
    anns = anns.dropna(subset=["image_id", "category_id"])
    if not len(anns) and len(pred.annotations):
        raise AnnokitError(f"{source}: no prediction matches an image and class of the dataset "
                           "(images are matched by file name stem, classes by name)")
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
    head += f"; {len(result.skipped)} images skipped"
    families = sorted(set((getattr(result, "families", None) or {}).values()))
    if families:
        head += f"; judged by {', '.join(families)}"
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
    box = worst[["suggested_x", "suggested_y", "suggested_w", "suggested_h"]].round(0)
    where = [f"box {int(x)},{int(y)},{int(w)},{int(h)}" if np.isfinite([x, y, w, h]).all()
             else "" for x, y, w, h in box.to_numpy().tolist()]
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


def write_scores(ds: Dataset, result: Scores, path: str | os.PathLike, *,
                 overwrite: bool = True, protect: tuple = ()) -> Path:
    """Write ``result`` at ``path``: ``.json`` (COCO with the scores on every annotation
    and image), ``.csv`` or ``.parquet`` (the annotations table plus ``image_quality``).

    Example:
        >>> write_scores(ds, result, "scores.json", protect=("data/voc",))  # doctest: +SKIP
    """
    from ..fileio import atomic_output

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in OUT_SUFFIXES:
        raise AnnokitError(f"{path}: --out must end in {', '.join(OUT_SUFFIXES)}")
    # a scores file is a report: replaced on a re-run, never a folder or an input
    with atomic_output(path, overwrite=overwrite, protect=protect, report=True) as tmp:
        if suffix == ".json":
            from .output import coco_json

            tmp.write_bytes(coco_json(ds, result))
        else:
            table = result.annotations.copy()
            table["image_quality"] = table["image_id"].map(
                result.images.set_index("image_id")["quality"]).astype("float64")
            if suffix == ".csv":
                table.to_csv(tmp, index=False)
            else:
                try:
                    table.to_parquet(tmp, index=False)
                except ImportError:
                    raise AnnokitError("writing .parquet needs pyarrow: pip install pyarrow") \
                        from None
    return path


__all__ = ["Scores", "format_worst", "load_predictions", "score", "write_scores"]
