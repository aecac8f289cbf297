"""Apply reviewed fixes: what ``annokit score`` suggested, written into the dataset.

``swap`` and ``flip`` relabel an annotation to its suggested class, ``badloc`` moves it to
the suggested box, ``spurious`` removes it, ``overlooked`` adds the candidate box. Only rows
the scores file names are applied, and only those chosen: by issue (``accept``), by quality
(``max_quality``), and, when the scores table has an ``accept`` column, only the rows a
reviewer marked there. Every change goes in a log (annotation, image, change, before,
after, why). The scores file is read by the contract (:func:`annokit.score.contract.
read_scores`), which refuses scores made for another dataset by the one matching rule
(:func:`annokit.score.match.check_scores_match`).

Example:
    >>> scores = read_scores("scores.json", ds)                            # doctest: +SKIP
    >>> fixed, log = apply_fixes(ds, scores, accept=("swap", "spurious"))  # doctest: +SKIP
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import AnnokitError
from ..model import Dataset
from ..score.contract import ACCEPT, ISSUES, SUGGESTED, Scores, flagged, read_scores
from ..score.match import check_scores_match
from ..score.points import only_points

ACTIONS = {"swap": "relabel", "flip": "relabel", "badloc": "move", "spurious": "remove",
           "overlooked": "add"}
LOG_COLUMNS = ["annotation", "image", "change", "before", "after", "why"]


def chosen_rows(table: pd.DataFrame, accept: Sequence[str] = ISSUES,
                max_quality: float | None = None
                ) -> pd.DataFrame:
    """The rows to apply: an accepted issue, quality at most ``max_quality`` (overlooked
    candidates: below the scorer's flag threshold unless a quality is given), and the
    reviewer's ``accept`` mark where the table has that column.

    Example:
        >>> chosen_rows(scores.table, accept=("swap",), max_quality=0.2)  # doctest: +SKIP
    """
    unknown = [a for a in accept if a not in ISSUES]
    if unknown:
        raise AnnokitError(f"--accept: unknown issue {unknown[0]!r}; issues: "
                           f"{', '.join(ISSUES)}")
    pick = table["issue"].isin(list(accept))
    if max_quality is not None:
        pick &= table["quality"] <= max_quality
    else:
        pick &= flagged(table)
    if ACCEPT in table:
        pick &= table[ACCEPT].astype(bool)
    rows = table[pick.to_numpy(bool)]
    own = rows["annotation_id"].notna()
    dup = own & rows["annotation_id"].duplicated()
    return rows[~dup.to_numpy()]


def apply_fixes(ds: Dataset, scores: Scores | pd.DataFrame | str | os.PathLike,
                accept: Sequence[str] = ISSUES, max_quality: float | None = None
                ) -> tuple[Dataset, pd.DataFrame]:
    """``ds`` with the chosen fixes applied, and the change log (``LOG_COLUMNS``).

    ``scores``: a scores file (read with :func:`read_scores` onto ``ds``), a
    :class:`Scores` or its annotations table; scores made for another dataset are refused.

    Example:
        >>> fixed, log = apply_fixes(ds, "scores.json")  # doctest: +SKIP
        >>> log["change"].value_counts()                 # doctest: +SKIP
    """
    if isinstance(scores, (str, os.PathLike)):
        scores = read_scores(scores, ds)  # re-keyed onto ds, the match rule applied there
    elif isinstance(scores, Scores):
        check_scores_match(ds, scores.annotations, scores.images)
    else:
        check_scores_match(ds, scores)
    table = scores.annotations if isinstance(scores, Scores) else scores
    rows = chosen_rows(table, accept, max_quality)
    rows = rows.assign(action=rows["issue"].map(ACTIONS))
    has_box = np.isfinite(rows[SUGGESTED].to_numpy("float64")).all(axis=1) \
        & (rows[["suggested_w", "suggested_h"]].to_numpy("float64") > 0).all(axis=1)
    usable = np.where(rows["action"].isin(["move", "add"]), has_box,
                      np.where(rows["action"].eq("relabel"),
                               rows["suggested_category_id"].notna(), True))
    rows = rows[usable]
    out = ds.copy()
    anns = out.annotations
    before = _describe(out, anns)
    position = pd.Series(np.arange(len(anns)), index=anns["id"].to_numpy())
    position = position[~position.index.duplicated()]
    log = []
    relabel = rows[rows["action"] == "relabel"]
    at = position.reindex(relabel["annotation_id"].astype("int64")).to_numpy()
    _set_at(anns, "category_id", at, relabel["suggested_category_id"].astype("int64").to_numpy())
    move = rows[rows["action"] == "move"]
    at_move = position.reindex(move["annotation_id"].astype("int64")).to_numpy()
    box = move[SUGGESTED].to_numpy("float64")
    is_point = (anns["kind"].to_numpy(object)[at_move] == "point")[:, None]
    # a point moves to the centre of the box it was judged as, and stays a point
    centre = box[:, :2] + box[:, 2:] / 2
    wh = np.c_[anns["w"].to_numpy(float)[at_move], anns["h"].to_numpy(float)[at_move]]
    box = np.where(is_point, np.c_[centre, wh], box)
    for k, c in enumerate("xywh"):
        _set_at(anns, c, at_move, box[:, k])
    after = _describe(out, anns)
    for part, at_rows in ((relabel, at), (move, at_move)):
        log.append(_log(part, anns["id"].to_numpy()[at_rows], before[at_rows],
                        after[at_rows], out, part["image_id"]))
    remove = rows[rows["action"] == "remove"]
    at_remove = position.reindex(remove["annotation_id"].astype("int64")).to_numpy()
    log.append(_log(remove, anns["id"].to_numpy()[at_remove], after[at_remove],
                    np.full(len(remove), ""), out, remove["image_id"]))
    keep = np.ones(len(anns), bool)
    keep[at_remove] = False
    added = _added(out, rows[rows["action"] == "add"])
    out.annotations = pd.concat([anns[keep], added], ignore_index=True) if len(added) \
        else anns[keep].reset_index(drop=True)
    add_rows = rows[rows["action"] == "add"]
    log.append(_log(add_rows, added["id"].to_numpy(), np.full(len(added), ""),
                    _describe(out, added), out, add_rows["image_id"]))
    out = Dataset(out.categories, out.images, out.annotations, out.meta)
    return out, pd.concat(log, ignore_index=True)


def _added(ds: Dataset, rows: pd.DataFrame) -> pd.DataFrame:
    """The candidates accepted as new annotations: boxes, or points at the boxes' centres
    where the dataset marks its objects with points."""
    start = int(ds.annotations["id"].max()) + 1 if len(ds.annotations) else 1
    n = len(rows)
    if only_points(ds):
        box = rows[SUGGESTED].to_numpy("float64").reshape(-1, 4)
        return pd.DataFrame({
            "id": np.arange(start, start + n, dtype=np.int64),
            "image_id": rows["image_id"].astype("int64").to_numpy(),
            "category_id": rows["suggested_category_id"].fillna(rows["category_id"])
            .astype("int64").to_numpy(),
            "kind": ["point"] * n, "x": box[:, 0] + box[:, 2] / 2,
            "y": box[:, 1] + box[:, 3] / 2, "w": np.nan, "h": np.nan,
            "iscrowd": np.zeros(n, np.int64)})
    return pd.DataFrame({
        "id": np.arange(start, start + n, dtype=np.int64),
        "image_id": rows["image_id"].astype("int64").to_numpy(),
        "category_id": rows["suggested_category_id"].fillna(rows["category_id"])
        .astype("int64").to_numpy(),
        "kind": ["box"] * n, "x": rows["suggested_x"].to_numpy(),
        "y": rows["suggested_y"].to_numpy(), "w": rows["suggested_w"].to_numpy(),
        "h": rows["suggested_h"].to_numpy(), "iscrowd": np.zeros(n, np.int64)})


def _set_at(frame: pd.DataFrame, column: str, positions: np.ndarray, values: np.ndarray) -> None:
    """Write ``values`` into ``frame[column]`` at the row ``positions``, in place."""
    column_values = frame[column].to_numpy(copy=True)
    column_values[positions] = values
    frame[column] = column_values


def _describe(ds: Dataset, anns: pd.DataFrame) -> np.ndarray:
    """'class x,y,w,h' per annotation (class alone for image-level labels)."""
    names = anns["category_id"].map(ds.categories.drop_duplicates("id")
                                    .set_index("id")["name"]).astype(str)
    box = anns[["x", "y", "w", "h"]].round(2).astype(str)
    text = names + " " + box["x"] + "," + box["y"] + "," + box["w"] + "," + box["h"]
    return text.where(anns["kind"].eq("box").to_numpy(), names).to_numpy(object)


def _log(rows: pd.DataFrame, ids, before, after, ds: Dataset, image_ids) -> pd.DataFrame:
    files = ds.images.drop_duplicates("id").set_index("id")["file_name"]
    why = rows["issue"].astype(str) + " (quality " + rows["quality"].round(3).astype(str) + ")"
    if "accept" in rows:
        why = why + ", accepted by the reviewer"
    return pd.DataFrame({"annotation": np.asarray(ids, np.int64),
                         "image": image_ids.astype("int64").map(files).to_numpy(object),
                         "change": rows["action"].to_numpy(object), "before": before,
                         "after": after, "why": why.to_numpy(object)}, columns=LOG_COLUMNS)
