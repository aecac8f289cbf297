"""Apply reviewed fixes: what ``annokit score`` suggested, written into the dataset.

``swap`` and ``flip`` relabel an annotation to its suggested class, ``badloc`` moves it to
the suggested box, ``spurious`` removes it, ``overlooked`` adds the candidate box. Only rows
the scores file names are applied, and only those chosen: by issue (``accept``), by quality
(``max_quality``), and, when the scores table has an ``accept`` column, only the rows a
reviewer marked there. Every change goes in a log (annotation, image, change, before,
after, why). Scores made for another dataset (other ids, file names or class names) are
refused.

Example:
    >>> table = read_scores_file("scores.json")                          # doctest: +SKIP
    >>> fixed, log = apply_fixes(ds, table, accept=("swap", "spurious"))  # doctest: +SKIP
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import AnnokitError, FormatError
from ..fileio import open_regular, read_regular
from ..model import Dataset

ISSUES = ("swap", "badloc", "spurious", "overlooked", "flip")
ACTIONS = {"swap": "relabel", "flip": "relabel", "badloc": "move", "spurious": "remove",
           "overlooked": "add"}
FLAG = 0.5  # the scorer's flag threshold: a weaker overlooked candidate is not a flag
SUGGESTED = ["suggested_x", "suggested_y", "suggested_w", "suggested_h"]
COLUMNS = ["annotation_id", "image_id", "category_id", "quality", "issue",
           "suggested_category_id", *SUGGESTED]
MAX_SCORES_BYTES = 4 << 30
YES = {"1", "1.0", "true", "yes", "y", "x", "accept", "accepted", "ok"}
LOG_COLUMNS = ["annotation", "image", "change", "before", "after", "why"]


@dataclass
class ScoresFile:
    """A scores file as one table (``COLUMNS`` plus ``accept`` when a reviewer marked
    rows) and the names it gives its ids (JSON only: image id -> file name, class id ->
    name)."""

    path: str
    table: pd.DataFrame
    images: pd.Series = field(default_factory=lambda: pd.Series(dtype=object))
    categories: pd.Series = field(default_factory=lambda: pd.Series(dtype=object))


def read_scores_file(path: str | os.PathLike) -> ScoresFile:
    """What ``annokit score --out`` wrote (.json, .csv or .parquet) as one table.

    Overlooked candidates are rows with ``issue == 'overlooked'`` and no annotation id,
    whether the file has them as annotations (the first layout) or in a top-level
    ``overlooked`` list (the contract's layout). The one place that knows the layouts.

    Example:
        >>> scores = read_scores_file("scores.csv")  # doctest: +SKIP
        >>> scores.table.columns.tolist()[:5]        # doctest: +SKIP
        ['annotation_id', 'image_id', 'category_id', 'quality', 'issue']
    """
    path = os.fspath(path)
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        return _from_json(path)
    if suffix not in (".csv", ".parquet"):
        raise AnnokitError(f"{path}: a scores file ends in .json, .csv or .parquet (what "
                           "annokit score --out writes)")
    with open_regular(path, limit=MAX_SCORES_BYTES, what="scores file") as f:
        try:
            table = pd.read_csv(f, low_memory=False) if suffix == ".csv" else \
                pd.read_parquet(f)
        except (ValueError, OSError, pd.errors.ParserError) as e:
            raise FormatError(path, f"not a readable {suffix[1:]} table "
                              f"({str(e).splitlines()[0][:120]})") from None
    missing = [c for c in COLUMNS[:5] if c not in table]
    if missing:
        raise FormatError(path, f"no {', '.join(missing)} column; is this the output of "
                          "annokit score --out?")
    typed = _typed(table, path)
    # the contract's tables also name each image and class: checked like the JSON's
    return ScoresFile(path, typed, _named(typed["image_id"], table.get("file_name")),
                      _named(typed["category_id"], table.get("category_name")))


def _named(ids: pd.Series, names: pd.Series | None) -> pd.Series:
    """id -> name from a table's id and name columns (empty when it has no names)."""
    if names is None:
        return pd.Series(dtype=object)
    pairs = pd.DataFrame({"id": ids, "name": names.to_numpy(object)}).dropna()
    pairs = pairs.drop_duplicates("id")
    return pd.Series(pairs["name"].to_numpy(object), index=pairs["id"].astype("int64").to_numpy())


def _typed(table: pd.DataFrame, path: str) -> pd.DataFrame:
    out = pd.DataFrame(index=table.index)
    for col in ("annotation_id", "image_id", "category_id", "suggested_category_id"):
        values = pd.to_numeric(table[col], errors="coerce") if col in table else \
            pd.Series(np.nan, index=table.index)
        bad = values.notna() & ((values != values.round()) | (values.abs() > 2**62))
        if bad.any():
            raise FormatError(path, f"{col} {table[col][bad].iloc[0]!r} is not an id",
                              place=f"row {int(np.flatnonzero(bad)[0]) + 1}")
        out[col] = values.round().astype("Int64")
    out["quality"] = pd.to_numeric(table["quality"], errors="coerce").astype("float64")
    issue = table["issue"].astype(object)
    out["issue"] = issue.where(issue.notna() & (issue.astype(str) != ""), None)
    unknown = out["issue"].notna() & ~out["issue"].isin(ISSUES)
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0]) + 1
        raise FormatError(path, f"unknown issue {out['issue'][unknown].iloc[0]!r} (issues: "
                          f"{', '.join(ISSUES)})", place=f"row {row}")
    for col in SUGGESTED:
        out[col] = pd.to_numeric(table[col], errors="coerce").astype("float64") \
            if col in table else np.nan
    overlooked = out["issue"].eq("overlooked").to_numpy()
    if "accept" in table:
        out["accept"] = table["accept"].astype(str).str.strip().str.lower().isin(YES)
    out.loc[overlooked, "annotation_id"] = pd.NA
    return out.reset_index(drop=True)


def _from_json(path: str) -> ScoresFile:
    import orjson

    try:
        doc = orjson.loads(read_regular(path, limit=MAX_SCORES_BYTES, what="scores file"))
    except orjson.JSONDecodeError as e:
        raise FormatError(path, f"malformed JSON: {str(e).splitlines()[0]}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("annotations"), list):
        raise FormatError(path, "no 'annotations' list; is this the output of annokit score "
                          "--out?")
    anns = _records(doc["annotations"], path, "annotations")
    if len(anns) and "quality" not in anns:
        raise FormatError(path, "annotations carry no 'quality'; is this the output of "
                          "annokit score --out?")
    rows = [_json_rows(anns, own=True)]
    if isinstance(doc.get("overlooked"), list):  # the contract's layout: candidates apart
        rows.append(_json_rows(_records(doc["overlooked"], path, "overlooked"), own=False))
    table = _typed(pd.concat(rows, ignore_index=True), path)
    images = _records(doc.get("images") or [], path, "images")
    cats = _records(doc.get("categories") or [], path, "categories")
    return ScoresFile(path, table,
                      _names(images, "file_name"), _names(cats, "name"))


def _records(items: list, path: str, key: str) -> pd.DataFrame:
    if not all(isinstance(i, dict) for i in items):
        raise FormatError(path, f"'{key}' holds something that is not an object")
    return pd.DataFrame.from_records(items) if items else pd.DataFrame()


def _names(frame: pd.DataFrame, column: str) -> pd.Series:
    if not len(frame) or "id" not in frame or column not in frame:
        return pd.Series(dtype=object)
    return pd.Series(frame[column].to_numpy(object), index=frame["id"].to_numpy())


def _boxes(values: pd.Series) -> np.ndarray:
    """[x, y, w, h] lists as an (n, 4) array, NaN where a row has none (or a bad one)."""
    out = np.full((len(values), 4), np.nan)
    given = values.notna().to_numpy()
    try:  # the usual case: every given box is 4 numbers
        boxes = np.array(values[given].tolist(), dtype=np.float64)
        if boxes.shape == (int(given.sum()), 4):
            out[given] = boxes
            return out
    except (TypeError, ValueError):
        pass
    for i in np.flatnonzero(given):  # ragged or odd entries: one by one
        box = values.iat[i]
        if isinstance(box, list) and len(box) == 4 and \
                all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box):
            out[i] = box
    return out


def _json_rows(frame: pd.DataFrame, own: bool) -> pd.DataFrame:
    """Rows of the table from scored annotations (``own``) or from overlooked candidates."""
    n = len(frame)
    col = lambda name: frame[name] if name in frame else pd.Series([None] * n)  # noqa: E731
    issue = col("issue") if own else pd.Series(["overlooked"] * n, dtype=object)
    box = _boxes(col("suggested_bbox"))
    own_box = _boxes(col("bbox"))
    candidate = issue.eq("overlooked").to_numpy() & np.isnan(box).any(axis=1)
    box[candidate] = own_box[candidate]  # a candidate's box is its suggestion
    suggested = col("suggested_category_id")
    suggested = suggested.where(suggested.notna(), col("category_id")) if not own else \
        suggested.where(suggested.notna() | ~issue.eq("overlooked"), col("category_id"))
    return pd.DataFrame({
        "annotation_id": col("id") if own else [None] * n, "image_id": col("image_id"),
        "category_id": col("category_id"), "quality": col("quality"), "issue": issue,
        "suggested_category_id": suggested,
        **{c: box[:, i] for i, c in enumerate(SUGGESTED)}})


def check_match(ds: Dataset, scores: ScoresFile) -> None:
    """Refuse ``scores`` when they name images, classes or annotations that ``ds`` has not
    (or has under another name, class or image): they were made for another dataset.

    Example:
        >>> check_match(ds, read_scores_file("other.json"))  # doctest: +SKIP
        Traceback (most recent call last):
        annokit.errors.AnnokitError: other.json: ... made for another dataset ...
    """
    def refuse(what: str) -> AnnokitError:
        return AnnokitError(f"{scores.path}: {what}: these scores were made for another "
                            "dataset (or another version of it); score this one again")

    _same_names(scores.images, ds.images.set_index("id")["file_name"], "image", refuse)
    _same_names(scores.categories, ds.categories.set_index("id")["name"], "class", refuse)
    table = scores.table
    images = set(ds.images["id"].tolist())
    bad = table["image_id"].isna() | ~table["image_id"].isin(images)
    if bad.any():
        raise refuse(f"image id {table['image_id'][bad].iloc[0]} is not in the dataset")
    classes = ds.categories["id"]
    for col in ("category_id", "suggested_category_id"):
        bad = table[col].notna() & ~table[col].isin(classes)
        if bad.any():
            raise refuse(f"class id {table[col][bad].iloc[0]} is not in the dataset")
    own = table[table["annotation_id"].notna()]
    anns = ds.annotations.drop_duplicates("id").set_index("id")
    found = own["annotation_id"].isin(anns.index)
    if not found.all():
        raise refuse(f"annotation {own['annotation_id'][~found].iloc[0]} is not in the dataset")
    ids = own["annotation_id"].astype("int64").to_numpy()
    for col in ("image_id", "category_id"):
        there = anns[col].reindex(ids).to_numpy()
        differs = own[col].to_numpy("float64", na_value=np.nan) != there
        if differs.any():
            i = int(np.flatnonzero(differs)[0])
            raise refuse(f"annotation {ids[i]} has {col} {own[col].iloc[i]} there but "
                         f"{there[i]} in the dataset")


def _same_names(named: pd.Series, ours: pd.Series, what: str, refuse) -> None:
    if not len(named):
        return
    ours = ours[~ours.index.duplicated()]
    there = ours.reindex(named.index)
    differs = there.isna().to_numpy() | (there.astype(str).to_numpy()
                                         != named.astype(str).to_numpy())
    if differs.any():
        i = int(np.flatnonzero(differs)[0])
        now = "absent" if pd.isna(there.iloc[i]) else repr(there.iloc[i])
        raise refuse(f"{what} {named.index[i]} is {named.iloc[i]!r} there but {now} in the "
                     "dataset")


def chosen_rows(table: pd.DataFrame, accept=ISSUES, max_quality: float | None = None
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
        pick &= ~table["issue"].eq("overlooked") | (table["quality"] < FLAG)
    if "accept" in table:
        pick &= table["accept"]
    rows = table[pick.to_numpy(bool)]
    own = rows["annotation_id"].notna()
    dup = own & rows["annotation_id"].duplicated()
    return rows[~dup.to_numpy()]


def apply_fixes(ds: Dataset, scores: ScoresFile | pd.DataFrame, accept=ISSUES,
                max_quality: float | None = None) -> tuple[Dataset, pd.DataFrame]:
    """``ds`` with the chosen fixes applied, and the change log (``LOG_COLUMNS``).

    Example:
        >>> fixed, log = apply_fixes(ds, read_scores_file("scores.json"))  # doctest: +SKIP
        >>> log["change"].value_counts()                                   # doctest: +SKIP
    """
    if isinstance(scores, ScoresFile):
        check_match(ds, scores)
        table = scores.table
    else:
        table = scores
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
    col = anns.columns.get_loc("category_id")
    anns.iloc[at, col] = relabel["suggested_category_id"].astype("int64").to_numpy()
    move = rows[rows["action"] == "move"]
    at_move = position.reindex(move["annotation_id"].astype("int64")).to_numpy()
    for c, s in zip("xywh", SUGGESTED):
        anns.iloc[at_move, anns.columns.get_loc(c)] = move[s].to_numpy()
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
    start = int(ds.annotations["id"].max()) + 1 if len(ds.annotations) else 1
    n = len(rows)
    return pd.DataFrame({
        "id": np.arange(start, start + n, dtype=np.int64),
        "image_id": rows["image_id"].astype("int64").to_numpy(),
        "category_id": rows["suggested_category_id"].fillna(rows["category_id"])
        .astype("int64").to_numpy(),
        "kind": ["box"] * n, "x": rows["suggested_x"].to_numpy(),
        "y": rows["suggested_y"].to_numpy(), "w": rows["suggested_w"].to_numpy(),
        "h": rows["suggested_h"].to_numpy(), "iscrowd": np.zeros(n, np.int64)})


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
