"""The scores contract: what :func:`annokit.score` returns, and the one reader and writer
of its files. The report, FiftyOne and the CLI use this module; none re-checks or
re-reads scores on its own.

``Scores.annotations``: one row per annotation of the dataset, in its order, then one row
per overlooked candidate (``annotation_id`` NA). Columns (:data:`ANNOTATION_COLUMNS`):
annotation_id (Int64), image_id (int64), category_id (Int64), quality (float64 in
[0, 1], the probability that the annotation is right; NaN: not judged), issue (one of
:data:`ISSUES` or None), suggested_category_id (Int64), suggested_x/y/w/h (float64, COCO
xywh pixels), plus optional per-type qualities (``swap_quality`` ...) and, read from a
table a reviewer marked, ``accept`` (bool: the row was marked 1/yes/true/x/accept/ok).
``Scores.images``: image_id, quality, n_issues.

Files (:func:`write_scores`, :func:`read_scores`):

``.json``     the dataset as COCO; each of its own annotations carries ``quality`` and
              ``issue`` (null when not flagged) and the suggestion; the overlooked
              candidates are a separate top-level list ``overlooked`` (COCO annotation
              shape plus ``quality``), so loading the file as a dataset (pycocotools,
              :func:`annokit.read`) counts only the dataset's own annotations.
``.csv``      the annotations table plus ``file_name``, ``category_name``,
``.parquet``  ``suggested_category_name`` and ``image_quality``.

Example:
    >>> import annokit
    >>> from annokit.score.contract import read_scores, write_scores
    >>> result = annokit.score(ds)                       # doctest: +SKIP
    >>> write_scores(ds, result, "scores.json")           # doctest: +SKIP
    >>> read_scores("scores.json", ds).worst(3)           # doctest: +SKIP
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import orjson
import pandas as pd

from ..errors import AnnokitError
from ..model import Dataset
from ..notes import Notes

ISSUES = ("swap", "badloc", "spurious", "overlooked", "flip")
ANNOTATION_COLUMNS = ("annotation_id", "image_id", "category_id", "quality", "issue",
                      "suggested_category_id", "suggested_x", "suggested_y", "suggested_w",
                      "suggested_h")
IMAGE_COLUMNS = ("image_id", "quality", "n_issues")
ACCEPT = "accept"  # optional: the reviewer's mark in a scores table (see annokit apply)
YES = frozenset({"1", "1.0", "true", "yes", "y", "x", "accept", "accepted", "ok"})
NAME_COLUMNS = ("file_name", "category_name", "suggested_category_name", "image_quality")
OUT_SUFFIXES = (".json", ".csv", ".parquet")
SUGGESTED = ["suggested_x", "suggested_y", "suggested_w", "suggested_h"]
FORMAT = 2            # "annokit_scores.format" in the JSON: 2 has the "overlooked" list
MAX_BYTES = 2 << 30   # a scores file larger than this is not one annokit wrote for a dataset
FLAG = 0.5            # an overlooked candidate below this quality counts as an issue


@dataclass
class Scores:
    """What :func:`annokit.score` found: one row per annotation (then overlooked
    candidates), one row per image, its notes (the images it could not read, as
    "skipped" notes of source "score"), and the task.

    Example:
        >>> s = Scores(pd.DataFrame({"annotation_id": [1], "image_id": [1],
        ...     "category_id": [1], "quality": [0.1], "issue": ["swap"]}),
        ...     pd.DataFrame({"image_id": [1], "quality": [0.1], "n_issues": [1]}))
        >>> s.worst(1)["issue"].tolist()
        ['swap']
    """

    annotations: pd.DataFrame
    images: pd.DataFrame
    notes: Notes = field(default_factory=Notes)
    task: str = "detection"
    predictions: Dataset | None = None  # the out-of-fold detector boxes (cnn, --predictions)
    families: dict = field(default_factory=dict)  # which family judged which error type

    def worst(self, n: int = 10) -> pd.DataFrame:
        """The ``n`` rows with an issue and the lowest quality, worst first.

        Example:
            >>> result.worst(3)[["annotation_id", "issue", "quality"]]  # doctest: +SKIP
        """
        rows = self.annotations[flagged(self.annotations)]  # weak candidates are no flags
        return rows.sort_values("quality", kind="stable").head(n)

    @property
    def candidates(self) -> pd.DataFrame:
        """The overlooked candidates (rows without an annotation id).

        Example:
            >>> len(result.candidates)  # doctest: +SKIP
            12
        """
        return self.annotations[self.annotations["annotation_id"].isna()]


def validate(scores, source: str = "scores") -> Scores:
    """``scores`` (a :class:`Scores` or anything with its two DataFrames) checked against
    the contract: the columns, known issue names, qualities in [0, 1]. Raises one line.

    Example:
        >>> validate(object())  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        annokit.errors.AnnokitError: scores need 'annotations' and 'images' DataFrames; ...
    """
    anns, images = getattr(scores, "annotations", None), getattr(scores, "images", None)
    if not isinstance(anns, pd.DataFrame) or not isinstance(images, pd.DataFrame):
        raise AnnokitError(f"{source} need 'annotations' and 'images' DataFrames; build them "
                           "with annokit.score()")
    for table, columns, name in ((anns, ANNOTATION_COLUMNS, "annotations"),
                                 (images, IMAGE_COLUMNS, "images")):
        missing = [c for c in columns if c not in table.columns]
        if missing:
            raise AnnokitError(f"{source}.{name} lack columns {missing}; build them with "
                               "annokit.score()")
    issue = anns["issue"]
    unknown = sorted(map(str, set(issue[issue.notna() & ~issue.isin(ISSUES)])))
    if unknown:
        raise AnnokitError(f"{source} have unknown issues {unknown[:5]}; use "
                           f"{', '.join(ISSUES)}")
    for table, name in ((anns, "annotations"), (images, "images")):
        q = pd.to_numeric(table["quality"], errors="coerce").to_numpy(np.float64)
        if (table["quality"].notna().to_numpy() & np.isnan(q)).any() \
                or ((q < 0) | (q > 1)).any():
            raise AnnokitError(f"{source}.{name}: quality must be a number in [0, 1]")
    if isinstance(scores, Scores):
        return scores
    return Scores(anns, images, Notes(getattr(scores, "notes", None) or ()),
                  getattr(scores, "task", None) or "detection")


def clip_qualities(table: pd.DataFrame) -> None:
    """Every ``quality`` column clipped to [0, 1] in place (float noise gave -7.5e-08)."""
    for col in [c for c in table.columns if c == "quality" or c.endswith("_quality")]:
        table[col] = np.clip(table[col].to_numpy(np.float64), 0.0, 1.0)


# -- writing ------------------------------------------------------------------------------

def write_scores(ds: Dataset, result: Scores, path: str | os.PathLike, *,
                 overwrite: bool = True, protect: tuple = ()) -> Path:
    """Write ``result`` at ``path``: ``.json`` (COCO with the scores on every annotation and
    image, candidates in ``overlooked``), ``.csv`` or ``.parquet`` (the annotations table
    with names and ``image_quality``). Atomic; never over an input (``protect``).

    Example:
        >>> write_scores(ds, result, "scores.json", protect=("data/voc",))  # doctest: +SKIP
    """
    from ..fileio import atomic_output

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in OUT_SUFFIXES:
        raise AnnokitError(f"{path}: --out must end in {', '.join(OUT_SUFFIXES)}")
    result = validate(result)
    # a scores file is a report: replaced on a re-run, never a folder or an input
    with atomic_output(path, overwrite=overwrite, protect=protect, report=True) as tmp:
        if suffix == ".json":
            tmp.write_bytes(coco_json(ds, result))
        else:
            table = named_table(ds, result)
            if suffix == ".csv":
                table.to_csv(tmp, index=False)
            else:
                table.to_parquet(tmp, index=False)
    return path


def named_table(ds: Dataset, result: Scores) -> pd.DataFrame:
    """The annotations table with ``file_name``, ``category_name``,
    ``suggested_category_name`` and ``image_quality``: readable without the dataset.

    Example:
        >>> named_table(ds, result).columns[-4:].tolist()  # doctest: +SKIP
        ['file_name', 'category_name', 'suggested_category_name', 'image_quality']
    """
    table = result.annotations.copy()
    files = ds.images.drop_duplicates("id").set_index("id")["file_name"]
    names = ds.categories.drop_duplicates("id").set_index("id")["name"]
    table["file_name"] = table["image_id"].map(files).astype(object)
    table["category_name"] = table["category_id"].map(names).astype(object)
    table["suggested_category_name"] = table["suggested_category_id"].map(names).astype(object)
    table["image_quality"] = table["image_id"].map(
        result.images.drop_duplicates("image_id").set_index("image_id")["quality"]
    ).astype("float64")
    return table


def _boxes(table: pd.DataFrame) -> list:
    xywh = table[SUGGESTED].to_numpy(np.float64)
    ok = np.isfinite(xywh).all(axis=1) & (xywh[:, 2:] > 0).all(axis=1)
    return [b if k else None for b, k in zip(xywh.tolist(), ok.tolist())]


def _plain(values: pd.Series) -> list:
    """Column values as JSON-ready Python objects, null for NA/NaN."""
    return values.astype(object).where(values.notna(), None).tolist()


def coco_json(ds: Dataset, result: Scores) -> bytes:
    """The COCO document (bytes) of ``ds`` carrying ``result``'s scores (see the module).

    Image-level labels (classification), which COCO detection has no place for, are
    written as annotations without a ``bbox``.

    Example:
        >>> coco_json(ds, result)[:1]  # doctest: +SKIP
        b'{'
    """
    from ..formats.coco import to_dict

    table = result.annotations
    n = len(ds.annotations)
    own = table.iloc[:n]
    score = {"quality": _plain(own["quality"]), "issue": _plain(own["issue"]),
             "suggested_category_id": _plain(own["suggested_category_id"]),
             "suggested_bbox": _boxes(own)}
    anns = ds.annotations.drop(columns=[c for c in ("_row", *score) if c in ds.annotations])
    anns = anns.assign(_row=np.arange(n))
    images = ds.images.drop(columns=[c for c in ("quality",) if c in ds.images])
    images = images.assign(quality=images["id"].map(
        result.images.drop_duplicates("image_id").set_index("image_id")["quality"]))
    document = to_dict(Dataset(ds.categories, images, anns, ds.meta), [])
    labels = np.flatnonzero((anns["kind"] == "label").to_numpy())
    document["annotations"] += [
        {"id": int(anns["id"].iat[i]), "image_id": int(anns["image_id"].iat[i]),
         "category_id": int(anns["category_id"].iat[i]), "_row": int(i)} for i in labels]
    for d in document["annotations"]:
        row = d.pop("_row")
        d.update({k: v[row] for k, v in score.items()})
    start = int(document["annotations"][-1]["id"]) + 1 if document["annotations"] else 1
    start = max([start, *(int(d["id"]) + 1 for d in document["annotations"])])
    document["overlooked"] = _candidate_dicts(table.iloc[n:], start)
    document["annokit_scores"] = {"format": FORMAT, "task": result.task,
                                  "notes": result.notes.to_json()}
    if result.families:  # which family judged which error type
        document["annokit_scores"]["families"] = dict(result.families)
    return orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY, default=_default)


def _candidate_dicts(extra: pd.DataFrame, start: int) -> list[dict]:
    """Overlooked candidates as COCO annotations (fresh ids from ``start``) plus quality."""
    extra = extra[np.isfinite(extra[SUGGESTED].to_numpy(np.float64)).all(axis=1)]
    boxes = extra[SUGGESTED].to_numpy(np.float64)
    return [{"id": start + k, "image_id": int(i), "category_id": int(c), "bbox": b,
             "area": float(b[2] * b[3]), "iscrowd": 0, "quality": q, "issue": "overlooked"}
            for k, (i, c, b, q) in enumerate(zip(
                extra["image_id"].tolist(), extra["category_id"].tolist(), boxes.tolist(),
                extra["quality"].tolist()))]


def _default(value):
    if value is pd.NA:
        return None
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


# -- reading ------------------------------------------------------------------------------

def read_scores(path: str | os.PathLike, ds: Dataset | None = None) -> Scores:
    """What ``annokit score --out`` wrote (.json, .csv or .parquet) as :class:`Scores`.

    With ``ds``, images are matched by file name and classes by name onto ``ds``'s ids,
    and a scores file made for another dataset (an image, class or annotation id ``ds``
    lacks) is refused. A damaged or foreign file is one line, never a traceback.

    Example:
        >>> read_scores("scores.parquet", ds).images.columns.tolist()  # doctest: +SKIP
        ['image_id', 'quality', 'n_issues']
    """
    from ..fileio import read_regular

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in OUT_SUFFIXES:
        raise AnnokitError(f"{path}: a scores file ends in {', '.join(OUT_SUFFIXES)}")
    data = read_regular(path, limit=MAX_BYTES, what="scores file")
    if suffix == ".json":
        table, images, task, notes = _from_json(data, path)
    else:
        table = _from_table(data, path, suffix)
        images = table.drop_duplicates("image_id")[["image_id", "image_quality", "file_name"]] \
            .rename(columns={"image_quality": "quality"})
        task, notes = None, Notes()
    table, images = _typed(table, images, path)
    if ds is not None:
        from .match import check_scores_match

        # by names where the file carries them for every row (older tables lack them: by
        # id then); the rule refuses, _onto only re-keys what the rule let through
        by_file, by_name = _by_names(table, images)
        keys = ["file_name" if by_file else "image_id",
                *(("category_name", "suggested_category_name") if by_name
                  else ("category_id", "suggested_category_id"))]
        check_scores_match(ds, table[["annotation_id", *dict.fromkeys(keys)]],
                           images[["file_name" if by_file else "image_id"]], source=path)
        table, images = _onto(table, images, ds, by_file, by_name)
    images = images.assign(n_issues=_issue_counts(table, images["image_id"]))
    cols = [c for c in table.columns
            if c in ANNOTATION_COLUMNS or c.endswith("_quality") or c == ACCEPT]
    if task is None:  # tables: detection rows carry the per-type qualities
        task = "detection" if "spurious_quality" in table else "classification"
    scores = Scores(table[cols].reset_index(drop=True),
                    images[list(IMAGE_COLUMNS)].reset_index(drop=True), notes, task)
    return validate(scores, str(path))


def _not_ours(path: Path, why: str) -> AnnokitError:
    return AnnokitError(f"{path}: {why}; is this the output of annokit score --out?")


def _from_table(data: bytes, path: Path, suffix: str) -> pd.DataFrame:
    import io

    try:
        if suffix == ".csv":
            # names stay text: classes '0'..'9' are not the numbers 0.0..9.0
            table = pd.read_csv(io.BytesIO(data), low_memory=False, dtype={
                "file_name": str, "category_name": str, "suggested_category_name": str})
        else:
            table = pd.read_parquet(io.BytesIO(data))
    except Exception as e:  # the parsers' own errors (ArrowInvalid, ParserError, ...)
        # the type only: a parser's message can quote the file's content
        raise _not_ours(path, f"not a readable {suffix[1:]} table ({type(e).__name__})") \
            from None
    missing = [c for c in (*ANNOTATION_COLUMNS[:5], "image_quality") if c not in table]
    if missing:
        raise _not_ours(path, f"no {', '.join(missing)} column")
    for col in (*ANNOTATION_COLUMNS, "file_name", "category_name", "suggested_category_name"):
        if col not in table:
            table[col] = None if "name" in col else np.nan
    if ACCEPT in table:  # a reviewer's marks: anything but a yes is a no
        marks = table[ACCEPT].astype(object).where(table[ACCEPT].notna(), "")
        table[ACCEPT] = marks.astype(str).str.strip().str.lower().isin(YES).to_numpy(bool)
    return table


def _from_json(data: bytes, path: Path):
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise _not_ours(path, f"not JSON (line {getattr(e, 'lineno', '?')})") from None
    if not isinstance(doc, dict) or not all(isinstance(doc.get(k), list)
                                            for k in ("images", "annotations", "categories")):
        raise _not_ours(path, "not a COCO document with images, annotations and categories")
    for key in ("images", "annotations", "categories", "overlooked"):
        if not all(isinstance(r, dict) for r in doc.get(key) or []):
            raise _not_ours(path, f"an entry of '{key}' is not an object")
    anns = doc["annotations"]
    # 'issue' may be absent: older writers left the key out when nothing was flagged
    if anns and not all("quality" in a for a in anns):
        raise _not_ours(path, "annotations carry no 'quality'")
    names = {c.get("id"): c.get("name") for c in doc["categories"]}
    files = {i.get("id"): i.get("file_name") for i in doc["images"]}
    rows = [_json_row(a, True) for a in anns] + \
           [_json_row(a, False) for a in doc.get("overlooked") or []]
    # format 1 (before the overlooked list): candidates were annotations marked overlooked
    table = pd.DataFrame(rows, columns=[*ANNOTATION_COLUMNS]) if rows else \
        pd.DataFrame(columns=list(ANNOTATION_COLUMNS))
    old = table["issue"].eq("overlooked") & table["annotation_id"].notna()
    table.loc[old, "annotation_id"] = None
    table["file_name"] = table["image_id"].map(files)
    table["category_name"] = table["category_id"].map(names)
    table["suggested_category_name"] = table["suggested_category_id"].map(names)
    images = pd.DataFrame({"image_id": [i.get("id") for i in doc["images"]],
                           "quality": [i.get("quality") for i in doc["images"]],
                           "file_name": [i.get("file_name") for i in doc["images"]]})
    recorded = doc.get("annokit_scores")
    info: dict = recorded if isinstance(recorded, dict) else {}
    # files before the one notes channel kept the unread images as "skipped" lines
    notes = Notes.from_json(info.get("notes")) or \
        Notes.from_json(info.get("skipped"), source="score", kind="skipped")
    task = info.get("task") if info.get("task") in ("detection", "classification") else None
    return table, images, task, notes


def _json_row(a: dict, own: bool) -> list:
    # format 1 wrote candidates among the annotations, their box in bbox
    box = a.get("bbox") if not own or a.get("issue") == "overlooked" \
        else a.get("suggested_bbox")
    corners = box if isinstance(box, list) and len(box) == 4 else [None] * 4
    return [a.get("id") if own else None, a.get("image_id"), a.get("category_id"),
            a.get("quality"), a.get("issue") if own else "overlooked",  # the list says it
            a.get("suggested_category_id") if own else a.get("category_id"),
            *corners]


def _typed(table: pd.DataFrame, images: pd.DataFrame, path: Path):
    """The contract's dtypes; a value of the wrong type is one line naming the column."""
    out = table.copy()
    try:
        for col in ("annotation_id", "category_id", "suggested_category_id"):
            out[col] = _integers(out[col], col)
        out["image_id"] = _integers(out["image_id"], "image_id")
        for col in ["quality", *SUGGESTED, *(c for c in out if c.endswith("_quality"))]:
            out[col] = pd.to_numeric(out[col], errors="raise").astype("float64")
        img = images.assign(image_id=_integers(images["image_id"], "image_id"),
                            quality=pd.to_numeric(images["quality"], errors="raise")
                            .astype("float64"))
    except (ValueError, TypeError, OverflowError) as e:
        raise _not_ours(path, f"a value of the wrong type ({str(e).split(':')[0][:80]})") \
            from None
    if out["image_id"].isna().any():
        raise _not_ours(path, "a row without an image_id")
    out["issue"] = out["issue"].astype(object).where(out["issue"].notna(), None)
    return out, img


def _integers(values: pd.Series, name: str) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce")
    bad = values.notna() & (numbers.isna() | (numbers % 1 != 0) | (numbers.abs() >= 2 ** 63))
    if bad.any():
        raise ValueError(f"{name} is not a whole number")
    return numbers.astype("Int64")


def _by_names(table: pd.DataFrame, images: pd.DataFrame) -> tuple[bool, bool]:
    """Whether images are keyed by file name and classes by name: the file names every
    row and image (else ids), and a name for every class id it gives."""
    by_file = bool(table["file_name"].notna().all() and images["file_name"].notna().all())
    by_name = all((table[n].notna() == table[i].notna()).all() for n, i in (
        ("category_name", "category_id"), ("suggested_category_name", "suggested_category_id")))
    return by_file, by_name and bool(table["category_name"].notna().any())


def _onto(table: pd.DataFrame, images: pd.DataFrame, ds: Dataset, by_file: bool,
          by_name: bool):
    """Re-key the scores onto ``ds`` (images by file name, classes by name): ids may
    differ between files. The match rule has already refused scores of another dataset."""
    if by_file:
        ids = ds.images.drop_duplicates("file_name").set_index("file_name")["id"]
        table = table.assign(image_id=table["file_name"].map(ids).astype("Int64"))
        images = images.assign(image_id=images["file_name"].map(ids).astype("Int64"))
    if by_name:
        ids = ds.categories.drop_duplicates("name").set_index("name")["id"]
        table = table.assign(
            category_id=table["category_name"].map(ids).astype("Int64"),
            suggested_category_id=table["suggested_category_name"].map(ids).astype("Int64"))
    return table, images


def flagged(table: pd.DataFrame) -> pd.Series:
    """The rows that count as an issue: any named issue, an overlooked candidate only
    below :data:`FLAG` (weaker candidates are not flags). The one rule for counts and fixes.

    Example:
        >>> flagged(pd.DataFrame({"issue": ["swap", None, "overlooked", "overlooked"],
        ...                       "quality": [0.9, 0.1, 0.4, 0.6]})).tolist()
        [True, False, True, False]
    """
    issue = table["issue"]
    return issue.notna() & ((issue != "overlooked") | (table["quality"] < FLAG))


def _issue_counts(table: pd.DataFrame, image_ids: pd.Series) -> np.ndarray:
    n = flagged(table).groupby(table["image_id"]).sum()
    return image_ids.map(n).fillna(0).to_numpy(np.int64)
