"""Diff two versions of a dataset: per image, annotations added, removed, relabelled, moved.

Images are paired by file name. Annotations are paired by id when both versions carry the
same ids (``match='auto'``: ids unique on both sides, from a format that stores them, and
every shared id on the same image), else in three vectorised passes per image: the same
class and box, then the same box (relabelled), then the best box overlap at IoU >= ``iou``
regardless of class (moved, and relabelled when the class changed too).

Example:
    >>> result = diff(old, new)       # doctest: +SKIP
    >>> result.changed                # doctest: +SKIP
    True
    >>> print(format_diff(result))    # doctest: +SKIP
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import AnnokitError
from ..geometry import pairwise_iou
from ..model import Dataset

BOX = ["x", "y", "w", "h"]
COUNTS = ["added", "removed", "relabelled", "moved"]
ID_FORMATS = ("coco",)  # formats whose files carry annotation ids (the others number rows)
TOLERANCE = 1e-3  # px: a box that moved less is the same box (formats round decimals)


@dataclass
class DatasetDiff:
    """What changed: ``images`` (file_name, status 'same'|'changed'|'added'|'removed',
    and the four counts), ``classes`` (per class name, the four counts; relabelled counts
    the class an annotation left), ``pairs`` (old and new annotation ids matched, with
    relabelled/moved flags) and how annotations were matched ('id' or 'iou')."""

    images: pd.DataFrame
    classes: pd.DataFrame
    pairs: pd.DataFrame
    matched_by: str

    @property
    def changed(self) -> bool:
        return bool((self.images["status"] != "same").any())

    def totals(self) -> dict:
        """Counts over the whole dataset (JSON-ready ints)."""
        totals = {c: int(self.images[c].sum()) for c in COUNTS}
        for status in ("added", "removed", "changed"):
            totals[f"images_{status}"] = int((self.images["status"] == status).sum())
        return totals


def _codes(ds: Dataset, names: pd.Index) -> pd.Series:
    """Category id -> position of its name in ``names`` (shared by both versions)."""
    cats = ds.categories.drop_duplicates("id")
    return pd.Series(names.get_indexer(cats["name"].astype(str)), index=cats["id"].to_numpy())


def _table(ds: Dataset, image_keys: np.ndarray, class_codes: pd.Series) -> pd.DataFrame:
    """Annotations as integer codes: the image's position in the shared image list, the
    class name's in the shared name list, the kind; boxes with NaN filled so that equal
    rows compare equal."""
    anns = ds.annotations
    image_pos = pd.Series(image_keys, index=ds.images["id"].to_numpy())
    image_pos = image_pos[~image_pos.index.duplicated()]
    kinds = pd.Index(["box", "point", "label"])
    return pd.DataFrame({
        "id": anns["id"].to_numpy(),
        "image": anns["image_id"].map(image_pos).fillna(-1).astype("int64").to_numpy(),
        "cls": anns["category_id"].map(class_codes).fillna(-1).astype("int64").to_numpy(),
        "kind": kinds.get_indexer(anns["kind"].astype(str)),
        **{c: anns[c].fillna(-1.0).to_numpy("float64") for c in BOX}})


def _by_id_usable(old: Dataset, new: Dataset, a: pd.DataFrame, b: pd.DataFrame) -> bool:
    formats = (old.meta.get("source_format"), new.meta.get("source_format"))
    if not all(f in ID_FORMATS for f in formats):
        return False
    if a["id"].duplicated().any() or b["id"].duplicated().any():
        return False
    shared = a.merge(b, on="id", suffixes=("_a", "_b"))
    return bool(len(shared)) and bool((shared["image_a"] == shared["image_b"]).all())


def _pairs_by_id(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    shared = a.merge(b, on="id", suffixes=("_a", "_b"))
    return pd.DataFrame({"row_a": shared["row_a"], "row_b": shared["row_b"]})


def _exact(a: pd.DataFrame, b: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    """Pairs of rows equal on ``cols`` (the n-th copy in ``a`` with the n-th in ``b``)."""
    rounded = [c for c in cols if c in BOX]
    ka = a[cols].copy()
    kb = b[cols].copy()
    for c in rounded:  # a box written with fewer decimals is still the same box
        ka[c] = np.round(ka[c].to_numpy() / TOLERANCE).astype(np.int64)
        kb[c] = np.round(kb[c].to_numpy() / TOLERANCE).astype(np.int64)
    ka["n"] = ka.groupby(cols, sort=False).cumcount()
    kb["n"] = kb.groupby(cols, sort=False).cumcount()
    ka["row_a"] = a["row_a"].to_numpy()
    kb["row_b"] = b["row_b"].to_numpy()
    found = ka.merge(kb, on=[*cols, "n"])
    return found[["row_a", "row_b"]]


def _iou_pairs(a: pd.DataFrame, b: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Class-agnostic best-overlap pairs per image: mutual best matches at IoU >=
    ``threshold``, repeated until none is left (the greedy result, vectorised)."""
    a = a[a["kind"] == 0]  # boxes only
    b = b[b["kind"] == 0]
    found = []
    while len(a) and len(b):
        cand = a[["image", "row_a", *BOX]].merge(b[["image", "row_b", *BOX]], on="image",
                                                 suffixes=("_a", "_b"))
        if not len(cand):
            break
        iou = _iou(cand)
        cand = cand.assign(iou=iou)[iou >= threshold]
        if not len(cand):
            break
        cand = cand.sort_values(["iou", "row_a", "row_b"], ascending=[False, True, True],
                                kind="stable")
        best_a = cand.drop_duplicates("row_a")
        best_b = cand.drop_duplicates("row_b")
        mutual = best_a.merge(best_b[["row_a", "row_b"]], on=["row_a", "row_b"])
        found.append(mutual[["row_a", "row_b"]])
        a = a[~a["row_a"].isin(mutual["row_a"])]
        b = b[~b["row_b"].isin(mutual["row_b"])]
    return pd.concat(found, ignore_index=True) if found else \
        pd.DataFrame({"row_a": [], "row_b": []}, dtype="int64")


def _iou(cand: pd.DataFrame) -> np.ndarray:
    return pairwise_iou(cand[[f"{c}_a" for c in BOX]].to_numpy(),
                        cand[[f"{c}_b" for c in BOX]].to_numpy())


def _pairs(a: pd.DataFrame, b: pd.DataFrame, iou: float) -> pd.DataFrame:
    found = []
    for cols in (["image", "kind", "cls", *BOX], ["image", "kind", *BOX]):
        pairs = _exact(a, b, cols)
        found.append(pairs)
        a = a[~a["row_a"].isin(pairs["row_a"])]
        b = b[~b["row_b"].isin(pairs["row_b"])]
    found.append(_iou_pairs(a, b, iou))
    return pd.concat(found, ignore_index=True)


def diff(old: Dataset, new: Dataset, *, match: str = "auto", iou: float = 0.5
         ) -> DatasetDiff:
    """Compare ``old`` with ``new`` (see the module); ``match`` is 'auto', 'id' or 'iou'.

    Example:
        >>> d = diff(annokit.read("v1.json"), annokit.read("v2.json"))  # doctest: +SKIP
        >>> d.totals()["relabelled"]                                   # doctest: +SKIP
        3
    """
    if match not in ("auto", "id", "iou"):
        raise AnnokitError(f"unknown match {match!r}: choose auto, id or iou")
    if not 0 < iou <= 1:
        raise AnnokitError(f"--iou must lie in (0, 1], not {iou!r}")
    files_a = old.images["file_name"].astype(str).to_numpy(object)
    files_b = new.images["file_name"].astype(str).to_numpy(object)
    all_files = pd.Index(pd.unique(np.concatenate([files_a, files_b])))
    keys_a, keys_b = all_files.get_indexer(files_a), all_files.get_indexer(files_b)
    names = pd.Index(pd.unique(np.concatenate([
        old.categories["name"].astype(str).to_numpy(object),
        new.categories["name"].astype(str).to_numpy(object), np.array(["?"], object)])))
    a = _table(old, keys_a, _codes(old, names)).assign(row_a=np.arange(len(old.annotations)))
    b = _table(new, keys_b, _codes(new, names)).assign(row_b=np.arange(len(new.annotations)))
    a.loc[a["cls"] < 0, "cls"] = names.get_loc("?")  # a class id with no category
    b.loc[b["cls"] < 0, "cls"] = names.get_loc("?")
    by_id = match == "id" or (match == "auto" and _by_id_usable(old, new, a, b))
    if match == "id" and (a["id"].duplicated().any() or b["id"].duplicated().any()):
        raise AnnokitError("--match id needs unique annotation ids on both sides")
    pairs = _pairs_by_id(a, b) if by_id else _pairs(a, b, iou)
    pa = a.iloc[pairs["row_a"].to_numpy(np.int64)].reset_index(drop=True)
    pb = b.iloc[pairs["row_b"].to_numpy(np.int64)].reset_index(drop=True)
    relabelled = pa["cls"].to_numpy() != pb["cls"].to_numpy()
    moved = (np.abs(pa[BOX].to_numpy() - pb[BOX].to_numpy()) > TOLERANCE).any(axis=1)
    paired = pd.DataFrame({"image": pa["image"], "old_id": pa["id"], "new_id": pb["id"],
                           "old_class": pa["cls"], "new_class": pb["cls"],
                           "relabelled": relabelled, "moved": moved})
    removed = a[~a["row_a"].isin(pairs["row_a"])]
    added = b[~b["row_b"].isin(pairs["row_b"])]
    images = _image_table(all_files, keys_a, keys_b, added, removed, paired)
    classes = _class_table(added, removed, paired, names)
    paired["old_class"] = names[paired["old_class"].to_numpy()]
    paired["new_class"] = names[paired["new_class"].to_numpy()]
    paired["file_name"] = all_files[paired["image"].to_numpy()]
    return DatasetDiff(images, classes, paired.drop(columns="image"), "id" if by_id else "iou")


def _count(keys: pd.Series, size: int) -> np.ndarray:
    return np.bincount(keys[keys >= 0].to_numpy(np.int64), minlength=size)[:size]


def _image_table(all_files, keys_a, keys_b, added, removed, paired) -> pd.DataFrame:
    n = len(all_files)
    table = pd.DataFrame({
        "file_name": all_files.to_numpy(object),
        "added": _count(added["image"], n), "removed": _count(removed["image"], n),
        "relabelled": _count(paired.loc[paired["relabelled"], "image"], n),
        "moved": _count(paired.loc[paired["moved"], "image"], n)})
    in_a, in_b = np.zeros(n, bool), np.zeros(n, bool)
    in_a[keys_a] = True
    in_b[keys_b] = True
    changed = table[COUNTS].to_numpy().sum(axis=1) > 0
    table["status"] = np.select([~in_a, ~in_b, changed], ["added", "removed", "changed"],
                                "same")
    return table[["file_name", "status", *COUNTS]]


def _class_table(added, removed, paired, names: pd.Index) -> pd.DataFrame:
    parts = {"added": added["cls"], "removed": removed["cls"],
             "relabelled": paired.loc[paired["relabelled"], "old_class"],
             "relabelled_to": paired.loc[paired["relabelled"], "new_class"],
             "moved": paired.loc[paired["moved"], "new_class"]}
    counts = pd.DataFrame({k: np.bincount(v.to_numpy(np.int64), minlength=len(names))
                           for k, v in parts.items()})
    counts.insert(0, "class", names.to_numpy(object))
    counts = counts[counts[list(parts)].to_numpy().sum(axis=1) > 0]
    return counts.sort_values("class", kind="stable").reset_index(drop=True)


def format_diff(result: DatasetDiff, top: int = 20) -> str:
    """The diff for a terminal: one summary line, the changed images, totals per class.

    Example:
        >>> print(format_diff(diff(old, new)))  # doctest: +SKIP
    """
    t = result.totals()
    if not result.changed:
        return f"no differences ({len(result.images)} images; matched by {result.matched_by})"
    head = (f"{t['added']} added, {t['removed']} removed, {t['relabelled']} relabelled, "
            f"{t['moved']} moved; images: {t['images_changed']} changed, "
            f"{t['images_added']} added, {t['images_removed']} removed "
            f"(matched by {result.matched_by})")
    changed = result.images[result.images["status"] != "same"]
    parts = [head, changed.head(top).to_string(index=False)]
    if len(changed) > top:
        parts.append(f"... and {len(changed) - top} more images")
    if len(result.classes):
        parts.append("per class:\n" + result.classes.to_string(index=False))
    return "\n".join(parts)


def to_json(result: DatasetDiff) -> dict:
    """The diff as plain data: totals, changed images, per-class counts.

    Example:
        >>> to_json(diff(old, old))["changed"]  # doctest: +SKIP
        False
    """
    changed = result.images[result.images["status"] != "same"]
    return {"changed": result.changed, "matched_by": result.matched_by,
            "totals": result.totals(),
            "images": changed.to_dict("records"),
            "classes": result.classes.to_dict("records")}
