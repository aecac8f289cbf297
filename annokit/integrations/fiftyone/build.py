"""annokit -> FiftyOne: one persistent FiftyOne dataset, built whole or not at all."""
from __future__ import annotations

import json
import os
import uuid

import pandas as pd

from ...model import Dataset
from ...notes import Notes
from . import documents, scores as scoring, tables
from .database import check_name, discard, fiftyone, take_name
from .fields import (BATCH, BUILDING, GT, INFO, LABELS, OVERLOOKED, POINTS, PRED, SEG,
                     attribute_columns, attribute_name, extra_image_fields, plain)
from .provenance import provenance
from .store import add_samples, save_views


def to_fiftyone(ds: Dataset, name: str, *, predictions: Dataset | None = None,
                findings: pd.DataFrame | None = None, scores=None, overwrite: bool = False,
                bulk: bool = True, batch_size: int = BATCH):
    """Build a persistent FiftyOne dataset called ``name`` from ``ds``; return it.

    ``predictions`` is an annokit Dataset of predicted boxes/labels (matched to images by
    file name; ``score`` becomes ``confidence``). ``findings`` is what
    :func:`annokit.check` returned: each check becomes a tag ``annokit:<check-id>`` on
    the image and on the flagged object. ``scores`` is an ``annokit.score`` result (or
    the path of the scorer's COCO JSON): per-object ``quality``/``issue``, per-image
    ``quality``. Samples are ordered worst first (lowest image quality, else most
    findings), and saved views hold that order, each check that fired and each issue
    type. An existing dataset of that name is refused unless ``overwrite``.

    The dataset is built under a temporary name and takes ``name`` only when whole (a
    failure or a signal leaves nothing, and the dataset ``overwrite`` replaces survives
    until then). ``info['annokit']['provenance']`` records what it was built from, as
    resolved paths, so that an export never writes over or into them. Images that are
    FIFOs, devices or folders are left out and named in ``info['annokit']['notes']``
    (``Notes.to_json()``: source "fiftyone", kind "skipped").
    ``bulk=False`` writes through FiftyOne's public ``add_samples`` only (slower; the
    same dataset).

    Example:
        >>> import annokit
        >>> ds = annokit.read("data/bccd/BCCD")                         # doctest: +SKIP
        >>> fo_ds = annokit.to_fiftyone(ds, "bccd", findings=annokit.check(ds))  # doctest: +SKIP
        >>> fo_ds.count("ground_truth.detections")                      # doctest: +SKIP
        4888
    """
    fo = fiftyone()
    check_name(name, overwrite)
    record = provenance(ds, predictions, scores)
    scores = scoring.load_scores(ds, scores)
    images, notes = tables.image_table(ds)
    anns, unplaced = tables.annotation_table(ds, images, findings,
                                             scoring.per_annotation(ds, scores))
    notes += unplaced
    images = tables.image_fields(images, anns, findings)
    if scores is not None:
        images["quality"] = images["id"].map(scoring.per_image(scores)).to_numpy(float)
    fields, paired = _label_fields(ds, images, anns, predictions, scores)
    notes += paired
    docs = documents.sample_docs(images.iloc[tables.worst_first(images)], fields, ds.images,
                                 extra_image_fields(ds))
    # built under a temporary name, not persistent: a failure, Ctrl-C or SIGTERM deletes
    # it, and FiftyOne's own clean-up removes what a `kill -9` left; an existing dataset
    # of that name is replaced only once the new one is whole
    building = f"{BUILDING}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        fo_ds = fo.Dataset(building, persistent=False)
        add_samples(fo, fo_ds, docs, fields, bulk=bulk, batch_size=batch_size)
        fo_ds.default_classes = ds.categories["name"].astype(str).tolist()
        fo_ds.info = {INFO: {**_info(ds, notes, findings), "provenance": record}}
        fo_ds.save()
        save_views(fo_ds, findings, anns, scores is not None)
        take_name(fo, fo_ds, name, overwrite)
    except BaseException:
        discard(fo, building)  # never leave half a dataset behind
        raise
    return fo_ds


def _label_fields(ds: Dataset, images: pd.DataFrame, anns: pd.DataFrame, predictions,
                  scores) -> tuple[dict, list[str]]:
    """Label field -> {image id: its document}, for the fields that hold anything; and the
    notes of pairing the predictions with the images."""
    fields = {GT: documents.detections(anns[anns["kind"].eq("box")]),
              SEG: documents.polylines(anns),
              POINTS: documents.keypoints(anns[anns["kind"].eq("point")]),
              LABELS: documents.classifications(anns[anns["kind"].eq("label")])}
    notes: list[str] = []
    if predictions is not None:  # paired as eval and score pair them (evaluate.align)
        from ...evaluate.align import onto

        predictions, notes = onto(predictions, ds, ("box", "label"))
        fields[PRED] = documents.detections(tables.prediction_table(predictions, images))
        fields["predicted_labels"] = documents.classifications(
            tables.prediction_table(predictions, images, "label"))
    if scores is not None:
        fields[OVERLOOKED] = documents.detections(
            scoring.overlooked(ds, images, scores.annotations))
    return {k: v for k, v in fields.items() if v is not None}, list(notes)


def _info(ds: Dataset, left_out: list[str], findings) -> dict:
    """What from_fiftyone needs to rebuild the annokit Dataset."""
    dataset_level = []
    if findings is not None and len(findings):
        free = findings[findings["image_id"].isna() & findings["annotation_id"].isna()]
        dataset_level = [f"{c}: {m}" for c, m in zip(free["check"], free["message"])]
    return {
        "version": 1,
        "categories": [{"id": int(i), "name": str(n), "supercategory": plain(s)}
                       for i, n, s in zip(ds.categories["id"], ds.categories["name"],
                                          ds.categories["supercategory"])],
        "annotation_columns": [[c, attribute_name(c), str(ds.annotations[c].dtype)]
                               for c in attribute_columns(ds)],
        "image_columns": [[c, f, str(ds.images[c].dtype)]
                          for c, f in extra_image_fields(ds).items()],
        "image_root": _str(ds.meta.get("image_root")),
        "split_roots": {str(k): _str(v) for k, v in (ds.meta.get("split_roots") or {}).items()},
        "source_path": _str(ds.meta.get("source_path")),
        "source_format": ds.meta.get("source_format"),
        "meta_json": json.dumps({k: v for k, v in ds.meta.items()
                                 if k not in ("image_root", "split_roots", "notes",
                                              "source_path")},
                                default=str),
        "notes": Notes.from_lines("fiftyone", left_out, "skipped").to_json(),
        "dataset_findings": dataset_level}


def _str(value) -> str | None:
    return None if value is None else os.fspath(value)
