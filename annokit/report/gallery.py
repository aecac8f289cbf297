"""The page's two picture sections: the worst images by findings, and the likely annotation
errors from the scores (each beside its suggested fix). Plain values for
templates/worst.html and scores.html; the pictures are base64 JPEGs (annokit.report.thumbnails).

Example:
    >>> worst_images(ds, found, 12)["figures"][0]["file_name"]  # doctest: +SKIP
    'BloodImage_00338.jpg'
"""
from __future__ import annotations

import base64

import numpy as np
import pandas as pd

from ..checks import SEVERITIES
from ..fileio import safe_relative
from ..model import Dataset
from .scores import ScoreTables, class_name, quality_text, suggested_boxes, worst_first
from .summary import file_names, severity_count
from .thumbnails import score_pictures, thumbnail

MAX_NOTES = 5           # images that could not be shown, named one by one
MAX_MESSAGES = 3        # findings listed under a worst image
MAX_ISSUES = 6          # flagged rows listed under a likely-error image
MAX_SCORE_ROWS = 500    # suspect annotations listed in the HTML table (the JSON has all)


def _data_uri(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def _not_shown(notes: list[str]) -> dict:
    more = f"; and {len(notes) - MAX_NOTES} more" if len(notes) > MAX_NOTES else ""
    return {"notes": [str(n) for n in notes[:MAX_NOTES]], "more": more}


def _image_table(ds: Dataset) -> pd.DataFrame:
    """Images by id (the first of duplicates) with the path of each file."""
    return ds.images.drop_duplicates("id").assign(path=ds.image_paths()).set_index("id")


def worst_images(ds: Dataset, findings: pd.DataFrame, limit: int) -> dict | None:
    """The ``limit`` images with the most errors, then warnings, then infos, each drawn with
    its flagged boxes; None when there are none to show.

    Example:
        >>> len(worst_images(ds, found, 2)["figures"])  # doctest: +SKIP
        2
    """
    per_image = findings[findings["image_id"].notna()]
    if limit <= 0 or not len(per_image):
        return None
    # errors, then warnings, then infos per image; ties keep the findings' order
    image, ids = pd.factorize(per_image["image_id"])
    sev = pd.Index(SEVERITIES).get_indexer(per_image["severity"])
    table = np.bincount(image * len(SEVERITIES) + sev, minlength=len(ids) * len(SEVERITIES))
    table = table.reshape(len(ids), len(SEVERITIES))
    order = np.lexsort([-table[:, i] for i in reversed(range(len(SEVERITIES)))])[:limit]
    worst = pd.DataFrame(table[order], index=np.asarray(ids)[order], columns=list(SEVERITIES))
    images = _image_table(ds)
    anns = ds.annotations[ds.annotations["image_id"].isin(worst.index)]
    figures, notes = [], []
    for image_id in worst.index:  # a dozen images, not per box
        if image_id not in images.index:
            notes.append(f"image id {image_id}: not in the dataset")
            continue
        info = images.loc[image_id]
        flags = per_image[per_image["image_id"] == image_id]
        picture = thumbnail(info["path"], anns[anns["image_id"] == image_id], flags)
        if info["path"] is None and not safe_relative(info["file_name"]):
            picture = "file name leaves the image folder: never read"
        if isinstance(picture, str):
            notes.append(f"{info['file_name']}: {picture}")
            continue
        figures.append(_worst_figure(info["file_name"], worst.loc[image_id], picture,
                                     flags["message"]))
    return {"figures": figures, **_not_shown(notes)}


def _worst_figure(file_name, counts: pd.Series, picture: bytes, messages: pd.Series) -> dict:
    return {"file_name": str(file_name), "src": _data_uri(picture),
            "tally": ", ".join(severity_count(n, str(s)) for s, n in counts.items() if n),
            "messages": [str(m) for m in messages[:MAX_MESSAGES]],
            "more": max(len(messages) - MAX_MESSAGES, 0)}


def likely_errors(ds: Dataset, scores: ScoreTables, limit: int) -> dict:
    """The ``limit`` worst-scored flagged images (as annotated, and the suggested fix) and
    the table of the lowest-quality flagged annotations.

    Example:
        >>> likely_errors(ds, prepare_scores(scores), 12)["suspect"]  # doctest: +SKIP
        4
    """
    images = scores.images.iloc[worst_first(scores.images["quality"])]
    flagged = images[images["n_issues"].to_numpy() > 0]
    suspect = scores.annotations[scores.annotations["issue"].notna()]
    section = {"scored": len(images), "flagged": len(flagged), "suspect": len(suspect)}
    if not len(flagged) and not len(suspect):
        return section
    names = ds.categories.drop_duplicates("id").set_index("id")["name"].astype(str)
    paths = _image_table(ds)
    figures, notes = [], []
    shown = flagged.iloc[:max(limit, 0)]
    for image_id, quality in zip(shown["image_id"], shown["quality"]):  # a dozen images
        rows = suspect[suspect["image_id"] == image_id]
        if image_id not in paths.index:
            notes.append(f"image id {image_id}: not in the dataset")
            continue
        info = paths.loc[image_id]
        image_anns = ds.annotations[ds.annotations["image_id"] == image_id]
        pictures = score_pictures(info, image_anns, rows, names)
        if isinstance(pictures, str):
            notes.append(f"{info['file_name']}: {pictures}")
            continue
        figures.append(_score_figure(info["file_name"], quality, rows, names, pictures))
    return {**section, "figures": figures, **_not_shown(notes),
            "table": _scores_table(ds, suspect, names)}


def issue_text(row: pd.Series, names: pd.Series) -> str:
    """What a flagged row suggests, in words: 'RBC → WBC', 'move the box', ...

    Example:
        >>> issue_text(pd.Series({"issue": "swap", "category_id": 1,
        ...                       "suggested_category_id": 2}), pd.Series({1: "RBC", 2: "WBC"}))
        'RBC → WBC'
    """
    own = class_name(names, row["category_id"])
    suggested = class_name(names, row["suggested_category_id"])
    issue = row["issue"]
    if issue in ("swap", "flip"):
        return f"{own} → {suggested}" if suggested else own
    if issue == "badloc":
        return f"{own}: box to move or resize"
    if issue == "spurious":
        return f"{own}: no object here, remove?"
    return f"missing {suggested or own} box"


def _score_figure(file_name, quality, rows: pd.DataFrame, names: pd.Series,
                  pictures: tuple[bytes, ...]) -> dict:
    rows = rows.iloc[worst_first(rows["quality"])]
    issues = [{"issue": str(r["issue"]), "quality": quality_text(r["quality"]),
               "text": issue_text(r, names)}
              for _, r in rows.head(MAX_ISSUES).iterrows()]  # a few rows per image
    shown = [{"label": label, "src": _data_uri(p)}
             for p, label in zip(pictures, ("as annotated", "suggested fix"))]
    return {"file_name": str(file_name), "quality": quality_text(quality), "issues": issues,
            "more": max(len(rows) - MAX_ISSUES, 0), "pictures": shown}


def _scores_table(ds: Dataset, suspect: pd.DataFrame, names: pd.Series) -> dict:
    shown = suspect.iloc[worst_first(suspect["quality"])][:MAX_SCORE_ROWS]
    files = file_names(ds, shown["image_id"]).tolist()
    rows = [(quality_text(r["quality"]), str(r["issue"]), f if isinstance(f, str) else "",
             "" if r["annotation_id"] is pd.NA else str(r["annotation_id"]),
             class_name(names, r["category_id"]), class_name(names, r["suggested_category_id"]),
             "" if b is None else ", ".join(f"{v:.1f}" for v in b))
            for (_, r), f, b in zip(shown.iterrows(), files,
                                    suggested_boxes(shown))]  # at most 500 rows
    return {"rows": rows, "shown": len(shown), "total": len(suspect)}
