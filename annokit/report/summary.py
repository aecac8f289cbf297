"""The report's data: findings put in order, the dataset summary, class and finding counts.

Everything here is plain Python values (the JSON report is these dicts as they are); the HTML
page is drawn from the same summary, so the two never disagree.

Example:
    >>> found = prepare_findings(check(ds))  # doctest: +SKIP
    >>> summarise(ds, found)["counts"]["by_severity"]  # doctest: +SKIP
    {'error': 2, 'warning': 5, 'info': 1}
"""
from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pandas as pd

from ..checks import FINDING_COLUMNS, FINDING_EXTRAS, SEVERITIES, SEVERITY_RANK
from ..errors import AnnokitError
from ..model import NONE, Dataset
from ..stats import class_counts

SCHEMA_VERSION = 1  # raised when a field is renamed, removed or changes meaning
SCHEMA_MINOR = 2    # raised when fields are added (1: "scores", 2: "notes")
SPLIT_ORDER = ["train", "training", "val", "valid", "validation", "dev", "test", "testing"]


def prepare_findings(findings: pd.DataFrame) -> pd.DataFrame:
    """Findings with the expected columns, worst first (stable for check()'s own order).

    Example:
        >>> prepare_findings(check(ds))["severity"].iloc[0]  # doctest: +SKIP
        'error'
    """
    missing = [c for c in FINDING_COLUMNS if c not in findings.columns]
    if missing:
        raise AnnokitError(f"findings lack columns {missing}; build them with annokit.check()")
    extras = [c for c in FINDING_EXTRAS if c in findings.columns]
    found = findings[FINDING_COLUMNS + extras].reset_index(drop=True)
    rank = pd.Index(SEVERITIES).get_indexer(found["severity"])  # -1: not a severity
    if (rank < 0).any():
        unknown = sorted(map(str, set(found["severity"][rank < 0])))
        raise AnnokitError(f"findings have unknown severities {unknown}; "
                           f"use {', '.join(SEVERITIES)}")
    if (np.diff(rank) < 0).any():
        found = found.iloc[np.argsort(rank, kind="stable")].reset_index(drop=True)
    return found


def summarise(ds: Dataset, findings: pd.DataFrame) -> dict:
    """The JSON report's head: schema, tool, time, dataset, classes and finding counts.

    Example:
        >>> summarise(ds, prepare_findings(found))["dataset"]["images"]  # doctest: +SKIP
        364
    """
    from ..version import __version__

    created = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    splits = _split_codes(ds)
    return {"schema_version": SCHEMA_VERSION, "schema_minor": SCHEMA_MINOR,
            "tool": {"name": "annokit", "version": __version__},
            "created": created,
            "dataset": _dataset_summary(ds, splits),
            "classes": _class_counts(ds, splits),
            "counts": finding_counts(findings)}


def _split_codes(ds: Dataset) -> tuple[list, np.ndarray, np.ndarray]:
    """Split names (train/val/test first, then by name), and the split code of each image
    and of each annotation (-1: no split, or an image id that does not exist)."""
    split = ds.images["split"].astype(object)
    names = sorted(set(split[split.notna()]), key=lambda s: (
        SPLIT_ORDER.index(s) if s in SPLIT_ORDER else len(SPLIT_ORDER), str(s)))
    image_codes = pd.Categorical(split, categories=names).codes
    first = ~ds.images["id"].duplicated().to_numpy()  # duplicate ids: the first one counts
    where = pd.Index(ds.images["id"][first]).get_indexer(ds.annotations["image_id"])
    ann_codes = np.where(where >= 0, image_codes[first][where], -1)
    return names, image_codes, ann_codes


def _dataset_summary(ds: Dataset, splits: tuple) -> dict:
    images, anns = ds.images, ds.annotations
    names, image_codes, ann_codes = splits
    n_images = np.bincount(image_codes[image_codes >= 0], minlength=len(names))
    n_anns = np.bincount(ann_codes[ann_codes >= 0], minlength=len(names))
    skipped = ds.notes.of("skipped").texts()  # kept beside the top-level "notes" (minor 1)
    return {"source_format": ds.meta.get("source_format"),
            "image_root": _str_or_none(ds.meta.get("image_root")),
            "images": len(images),
            "annotations": len(anns),
            "categories": len(ds.categories),
            "annotations_by_kind": {str(k): int(n) for k, n in
                                    anns["kind"].value_counts(sort=False).items()},
            "images_without_annotations": int((~images["id"].isin(anns["image_id"])).sum()),
            "splits": {str(s): {"images": int(i), "annotations": int(a)}
                       for s, i, a in zip(names, n_images, n_anns)},
            "images_without_split": int((image_codes < 0).sum()),
            "skipped": {"count": len(skipped), "records": skipped}}


def _str_or_none(value) -> str | None:
    return None if value is None else str(value)


def _class_counts(ds: Dataset, splits: tuple) -> list[dict]:
    """One record per category, plus any category id that annotations use but nobody defines."""
    table = class_counts(ds)
    supers = ds.categories.drop_duplicates("id").set_index("id")["supercategory"]
    split_names = [str(name) for name in splits[0]]
    return [{"id": int(row["category_id"]), "name": _str_or_none(row["name"]),
             "supercategory": _str_or_none(supers.get(row["category_id"])),
             "annotations": int(row["instances"]), "images": int(row["images"]),
             "splits": {name: int(row[name]) if name in table else 0 for name in split_names}}
            for _, row in table.iterrows()]  # one row per class: few


def finding_counts(findings: pd.DataFrame) -> dict:
    """Findings and flagged images, per severity and per (check, severity), worst first.

    Example:
        >>> finding_counts(prepare_findings(found))["images_flagged"]  # doctest: +SKIP
        3
    """
    by_sev = findings["severity"].value_counts()
    groups = findings.groupby(["check", "severity"], sort=False).agg(
        count=("message", "size"), images=("image_id", "nunique"))
    groups = groups.reset_index()
    groups["_rank"] = groups["severity"].map(SEVERITY_RANK)
    groups = groups.sort_values(["_rank", "count", "check"], ascending=[True, False, True])
    return {"findings": len(findings),
            "images_flagged": int(findings["image_id"].nunique()),
            "by_severity": {s: int(by_sev.get(s, 0)) for s in SEVERITIES},
            "by_check": [{"check": str(c), "severity": str(s), "count": int(n), "images": int(m)}
                         for c, s, n, m in zip(groups["check"], groups["severity"],
                                               groups["count"], groups["images"])]}


def plain(values: pd.Series) -> list:
    """Python values for JSON: ints stay ints, NA/NaN/inf become None.

    Example:
        >>> plain(pd.Series([1.0, float("nan"), float("inf")]))
        [1.0, None, None]
    """
    if values.dtype.kind == "f":
        arr = values.to_numpy(np.float64)
        return np.where(np.isfinite(arr), arr, NONE).tolist()
    if values.dtype.kind in "iu":  # numpy or nullable ints: no per-value pandas work
        missing = values.isna().to_numpy()
        return np.where(missing, NONE, values.to_numpy(np.int64, na_value=0)).tolist()
    return values.astype(object).where(values.notna(), None).tolist()


def file_names(ds: Dataset, image_ids: pd.Series) -> pd.Series:
    """The file name of each image id (NaN where the dataset has no such image).

    Example:
        >>> file_names(ds, found["image_id"]).iloc[0]  # doctest: +SKIP
        'BloodImage_00338.jpg'
    """
    files = ds.images.drop_duplicates("id").set_index("id")["file_name"]
    return image_ids.map(files).astype(object)


def finding_records(ds: Dataset, findings: pd.DataFrame) -> list[dict]:
    """Every finding as a JSON record, with its image's file name (and a category-level
    finding's ``images``).

    Example:
        >>> finding_records(ds, prepare_findings(found))[0]["file_name"]  # doctest: +SKIP
        'BloodImage_00338.jpg'
    """
    keys = [*FINDING_COLUMNS, "file_name"]
    columns = [plain(findings[c]) for c in FINDING_COLUMNS]
    columns.append(plain(file_names(ds, findings["image_id"])))
    records = [dict(zip(keys, row)) for row in zip(*columns)]
    if "images" in findings:  # set by category-level findings only
        for record, images in zip(records, findings["images"].tolist()):
            if isinstance(images, list):
                record["images"] = [str(f) for f in images]
    return records


def plural(n: int, word: str) -> str:
    """'1 error', '2,000 errors'.

    Example:
        >>> plural(2000, "error")
        '2,000 errors'
    """
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def severity_count(n: int, severity: str) -> str:
    """'3 errors', but '3 info' (no plural).

    Example:
        >>> severity_count(3, "info")
        '3 info'
    """
    return f"{n:,} info" if severity == "info" else plural(n, severity)
