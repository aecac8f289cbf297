"""Writing the documents into a FiftyOne dataset: its schema, its samples, its views."""
from __future__ import annotations

import pandas as pd

from .documents import public
from .fields import COUNTED, GT, LABELS, POINTS, TAG, WORST_VIEW

FIELD_OF_KIND = {"box": GT, "point": POINTS, "label": LABELS}  # where each kind's labels live

_SCALARS = {"annokit_id": "IntField", "file_name": "StringField", "split": "StringField",
            "quality": "FloatField", "n_findings": "IntField"}


def add_samples(fo, fo_ds, docs: list[dict], fields: dict, *, bulk: bool,
                batch_size: int) -> None:
    """Write the sample documents into ``fo_ds`` and declare every field annokit writes.

    ``bulk``: the schema is declared through the public API and the documents inserted in
    batches (:func:`_insert_documents`); otherwise FiftyOne's public ``add_samples`` takes
    them as ``fo.Sample`` objects. tests/test_fiftyone.py checks both give the same dataset.
    """
    if bulk:
        _declare_sample_fields(fo, fo_ds, fields, docs)
        _insert_documents(fo_ds, docs, batch_size)
        # the rest of the schema (label attributes, image pass-through fields) from the data
        fo_ds.add_dynamic_sample_fields()
        _declare_image_fields(fo, fo_ds, docs)
        fo_ds.reload()
    else:
        fo_ds.add_samples([fo.Sample.from_dict(public(d)) for d in docs], dynamic=True,
                          progress=False)
    _declare_annokit_fields(fo, fo_ds, fields, docs)


def _insert_documents(fo_ds, docs: list[dict], batch_size: int) -> None:
    """Insert sample documents in FiftyOne's stored layout straight into the dataset's
    sample collection, in batches of ``batch_size``.

    The one place annokit writes through FiftyOne internals: the dataset's id
    (``_doc.id``) and sample collection (``_sample_collection``), private attributes, and
    ``fiftyone.core.odm.insert_documents``, what FiftyOne's own FiftyOneDataset importer
    writes through. No public call inserts documents. Measured on 5,000 images with 36,241
    boxes (baselines/fiftyone_write_paths.py): this path 1.0 s of CPU, 3.5 s wall; the
    public ``add_samples`` (``bulk=False``) 34 s of CPU, 91 s wall; public ``add_samples``
    without labels then ``set_values`` per label field 24 s of CPU. pyproject.toml bounds
    FiftyOne to the minor version the tests ran on; tests/test_fiftyone.py checks this path
    gives what ``add_samples`` gives.
    """
    from fiftyone.core.odm import insert_documents

    dataset_id = fo_ds._doc.id
    for doc in docs:
        doc["_dataset_id"] = dataset_id
    for start in range(0, len(docs), batch_size):
        insert_documents(docs[start:start + batch_size], fo_ds._sample_collection,
                         ordered=True, batcher=False, progress=False)


def _declare_sample_fields(fo, fo_ds, fields: dict, docs: list[dict]) -> None:
    """The label fields and annokit's own sample fields, declared before the insert."""
    fo_ds.media_type = "image"
    for name, values in fields.items():
        kind = next(iter(values.values()))["_cls"]  # Detections, Polylines...
        fo_ds.add_sample_field(name, fo.EmbeddedDocumentField,
                               embedded_doc_type=getattr(fo, kind))
    for name, ftype in _SCALARS.items():
        fo_ds.add_sample_field(name, getattr(fo, ftype))
    if any("findings" in d for d in docs):
        fo_ds.add_sample_field("findings", fo.ListField, subfield=fo.StringField)


def _declare_annokit_fields(fo, fo_ds, fields: dict, docs: list[dict]) -> None:
    """The object fields annokit writes, declared even where few objects carry them
    (FiftyOne infers dynamic fields from a sample of the documents)."""
    known = fo_ds.get_field_schema(flat=True)
    types = {"annokit_id": (fo.IntField, {}), "quality": (fo.FloatField, {}),
             "issue": (fo.StringField, {}), "suggested_label": (fo.StringField, {}),
             "findings": (fo.ListField, {"subfield": fo.StringField})}
    for name, values in fields.items():
        kind = next(iter(values.values()))
        list_name = next(k for k in kind if k != "_cls")
        present = {key for doc in values.values() for obj in doc[list_name] for key in obj}
        for attr, (ftype, options) in types.items():
            path = f"{name}.{list_name}.{attr}"
            if attr in present and path not in known:
                fo_ds.add_sample_field(path, ftype, **options)
    if "findings" not in known and any("findings" in d for d in docs):
        fo_ds.add_sample_field("findings", fo.ListField, subfield=fo.StringField)


def _declare_image_fields(fo, fo_ds, docs: list[dict]) -> None:
    """The images' pass-through fields, typed from their first value."""
    known = set(fo_ds.get_field_schema())
    types = {bool: fo.BooleanField, int: fo.IntField, float: fo.FloatField,
             str: fo.StringField, list: fo.ListField, dict: fo.DictField}
    seen: dict[str, type] = {}
    for doc in docs:
        for key, value in doc.items():
            if key not in known and not key.startswith("_") and value is not None:
                seen.setdefault(key, types.get(type(value), fo.DictField))
    for key, ftype in seen.items():
        fo_ds.add_sample_field(key, ftype)


def save_views(fo_ds, findings, anns: pd.DataFrame, scored: bool) -> None:
    """Worst images first, one view per check that fired, one per issue type."""
    from fiftyone import ViewField as F

    worst = fo_ds.sort_by("quality") if scored else fo_ds.sort_by("n_findings", reverse=True)
    fo_ds.save_view(WORST_VIEW, worst, overwrite=True)
    if findings is not None and len(findings):
        fired = findings.dropna(subset=["image_id"])["check"].unique().tolist()
        owned = findings.dropna(subset=["annotation_id"])["check"].unique().tolist()
        for check in sorted(set(fired) | set(owned)):
            fo_ds.save_view(f"check {check}", fo_ds.match_tags(TAG + check), overwrite=True)
    issues = sorted({i for i in anns["issue"] if isinstance(i, str)}) if len(anns) else []
    for issue in issues:
        kinds = anns.loc[anns["issue"].eq(issue), "kind"].unique().tolist()
        fields = [FIELD_OF_KIND[k] for k in kinds if k in FIELD_OF_KIND
                  and fo_ds.has_sample_field(FIELD_OF_KIND[k])]
        if len(fields) == 1:
            view = fo_ds.filter_labels(fields[0], F("issue") == issue)
        elif fields:  # the issue's labels in each field; the samples holding any of them
            view = fo_ds
            for field in fields:
                view = view.filter_labels(field, F("issue") == issue, only_matches=False)
            view = view.match(F.any([F(f"{field}.{COUNTED[field][0]}").length() > 0
                                     for field in fields]))
        else:
            continue
        fo_ds.save_view(f"issue {issue}", view, overwrite=True)
