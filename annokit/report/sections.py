"""What the page's Dataset and Findings sections show: cards, the per-check table, the
findings table with its filters. Plain values for templates/dataset.html and findings.html.

Example:
    >>> dataset_section(summarise(ds, found))["cards"][0]  # doctest: +SKIP
    ('images', 'Images', '364')
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..checks import SEVERITIES
from ..model import Dataset
from .summary import file_names, plural

MAX_TABLE_ROWS = 5000  # findings embedded in the HTML (the JSON has all)
MAX_SKIPPED_SHOWN = 200  # skipped records listed on the page


def dataset_section(summary: dict) -> dict:
    """The summary cards (key, label, text) and the records skipped while reading.

    Example:
        >>> dataset_section(summarise(ds, found))["skipped_title"]  # doctest: +SKIP
        '1 record'
    """
    d, counts = summary["dataset"], summary["counts"]
    splits = [f"{s} {v['images']:,}" for s, v in d["splits"].items()]
    if splits and d["images_without_split"]:
        splits.append(f"none {d['images_without_split']:,}")
    cards = [("images", "Images", f"{d['images']:,}"),
             ("annotations", "Annotations", f"{d['annotations']:,}"),
             ("categories", "Categories", f"{d['categories']:,}"),
             ("splits", "Splits (images)", " · ".join(splits) or "none"),
             ("empty", "Images without annotations", f"{d['images_without_annotations']:,}"),
             ("format", "Source format", d["source_format"] or "unknown"),
             ("skipped", "Skipped records", f"{d['skipped']['count']:,}"),
             ("flagged", "Images flagged", f"{counts['images_flagged']:,}")]
    cards += [(s, f"{s.capitalize()} findings", f"{counts['by_severity'][s]:,}")
              for s in SEVERITIES]
    records = d["skipped"]["records"]
    return {"cards": cards, "skipped": records[:MAX_SKIPPED_SHOWN],
            "skipped_title": plural(len(records), "record"),
            "skipped_more": max(len(records) - MAX_SKIPPED_SHOWN, 0)}


def findings_section(ds: Dataset, findings: pd.DataFrame, summary: dict) -> dict | None:
    """The per-check table, the findings table (capped, every check kept; by column:
    severity, check, image, annotation, class, message, value) and the filters' choices;
    None when there are no findings.

    Example:
        >>> len(findings_section(ds, found, summarise(ds, found))["columns"][0])  # doctest: +SKIP
        6
    """
    counts = summary["counts"]
    if not len(findings):
        return None
    first = findings.drop_duplicates(["check", "severity"]).set_index(["check", "severity"])
    groups = [{**c, "example": str(first.loc[(c["check"], c["severity"]), "message"])}
              for c in counts["by_check"]]
    shown = first_per_group(findings, "check", MAX_TABLE_ROWS)
    classes = finding_classes(ds, shown)
    # the table by column (the template zips them): no tuple per row kept alive, so building
    # the page does not set off the garbage collector's full passes over the whole heap
    columns = [_texts(shown["severity"]), _texts(shown["check"]),
               _image_texts(shown["image_id"], file_names(ds, shown["image_id"])),
               _id_texts(shown["annotation_id"]), [c or "" for c in classes],
               _texts(shown["message"]), _value_texts(shown["value"])]
    return {"counts": counts, "groups": groups, "columns": columns, "shown": len(shown),
            "severities": [s for s in SEVERITIES if counts["by_severity"][s]],
            "checks": sorted({c["check"] for c in counts["by_check"]}),
            "classes": sorted({c for c in classes if c})}


def _texts(values: pd.Series) -> list[str]:
    return [str(v) for v in values.tolist()]  # tolist: one conversion for Arrow strings


def _image_texts(image_ids: pd.Series, files: pd.Series) -> list[str]:
    """The image's file name, else 'id N', else '' (a dataset-level finding)."""
    return [f if isinstance(f, str) else "" if i is pd.NA else f"id {i}"
            for i, f in zip(image_ids.astype(object).tolist(), files.tolist())]


def _id_texts(ids: pd.Series) -> list[str]:
    return ["" if i is pd.NA else str(i) for i in ids.astype(object).tolist()]


def _value_texts(values: pd.Series) -> list[str]:
    return ["" if v != v else f"{v:.4g}" for v in values.tolist()]


def first_per_group(frame: pd.DataFrame, column: str, limit: int) -> pd.DataFrame:
    """At most ``limit`` rows in their order, each group keeping its first min(size, quota).

    Example:
        >>> len(first_per_group(pd.DataFrame({"c": ["a"] * 9 + ["b"]}), "c", 4))
        4
    """
    if len(frame) <= limit:
        return frame
    quota = quota_per_group(frame[column].value_counts().to_numpy(), limit)
    return frame[frame.groupby(column).cumcount().to_numpy() < quota]


def quota_per_group(sizes: np.ndarray, limit: int) -> int:
    """Largest q with sum(min(sizes, q)) <= limit (water-filling over groups).

    Example:
        >>> quota_per_group(np.array([1000, 10, 100]), 500)
        390
    """
    left, sizes = limit, np.sort(sizes)
    for i, size in enumerate(sizes):
        share = left // (len(sizes) - i)
        if size > share:
            return max(int(share), 1)
        left -= size
    return int(sizes[-1]) if len(sizes) else 0


def finding_classes(ds: Dataset, findings: pd.DataFrame) -> list:
    """Class name per finding: its own category, else its annotation's (None: neither).

    Example:
        >>> finding_classes(ds, found)[:2]  # doctest: +SKIP
        ['RBC', None]
    """
    keys = pd.DataFrame({"image_id": findings["image_id"].astype("float64").to_numpy(),
                         "id": findings["annotation_id"].astype("float64").to_numpy()})
    anns = ds.annotations[ds.annotations["id"].isin(keys["id"].dropna())]
    anns = anns[["image_id", "id", "category_id"]].astype("float64") \
        .drop_duplicates(["image_id", "id"])
    from_ann = keys.merge(anns, how="left", on=["image_id", "id"])["category_id"].to_numpy()
    cat = findings["category_id"].astype("float64").to_numpy()
    cat = np.where(np.isnan(cat), from_ann, cat)
    names = ds.categories.drop_duplicates("id").set_index("id")["name"]
    where = names.index.get_indexer(cat)  # one lookup for all rows (-1: undefined or none)
    known = names.to_numpy(dtype=object)
    return [None if c != c else str(known[w]) if w >= 0 else f"id {int(c)}"
            for c, w in zip(cat.tolist(), where.tolist())]
