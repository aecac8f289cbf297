"""Merge datasets: one set of categories by name, fresh ids, shared images joined.

- Categories are unified by name (exactly, or ignoring case, spaces, ``_`` and ``-`` with
  ``fold_names``; each folding is reported). The first dataset's categories keep their ids;
  a new name keeps its own id when free, else takes the next free one.
- Images keep their split. The first dataset keeps its image and annotation ids; the others'
  are renumbered after the largest id so far, so no two collide.
- The same image in two inputs (same relative file name and the same bytes; when either
  file is missing, the same size) becomes one image holding both sets of annotations; exact
  duplicates (same class, kind and box on it) are dropped and counted. A name clash with
  different bytes is renamed (``name__<input>.ext``) with a note.
- A ``source`` column on the annotations names the input each came from (an input that has
  one already keeps its values).

Example:
    >>> merged, notes = merge([a, b], sources=["a", "b"])  # doctest: +SKIP
    >>> merged.annotations["source"].value_counts()      # doctest: +SKIP
"""
from __future__ import annotations

import hashlib
import os
import re

import numpy as np
import pandas as pd

from ..errors import AnnokitError
from ..model import Dataset
from ..notes import LayerNotes, Notes

BOX = ["x", "y", "w", "h"]


def fold(name: object) -> str:
    """The name compared with ``fold_names``: no case, spaces, underscores or hyphens.

    Example:
        >>> fold("Red Blood_cell")
        'redbloodcell'
    """
    return re.sub(r"[\s_\-]+", "", str(name)).casefold()


def merge(datasets: list[Dataset], sources: list[str] | None = None, *,
          fold_names: bool = False) -> tuple[Dataset, Notes]:
    """Merge ``datasets`` into one (see the module); return it and notes for the user.

    The notes (source "merge") are the merged dataset's ``notes`` too; the inputs' own
    notes (what their readers said) stay with the inputs.

    ``sources`` labels each input in the ``source`` column (default ``input1``, ...).

    Example:
        >>> merged, notes = merge([bccd, bccd_extra], ["bccd", "extra"])  # doctest: +SKIP
    """
    if len(datasets) < 2:
        raise AnnokitError("merge needs at least two datasets")
    sources = list(sources or [f"input{i + 1}" for i in range(len(datasets))])
    notes = LayerNotes("merge")
    merged = _first(datasets[0], sources[0])
    for ds, source in zip(datasets[1:], sources[1:]):
        merged = _add(merged, ds, source, fold_names, notes)
    merged.notes.extend(notes)
    return merged, merged.notes.of(source="merge")


def _labelled(ds: Dataset, source: str) -> pd.DataFrame:
    anns = ds.annotations.copy()
    if "source" in anns:
        anns["source"] = anns["source"].astype(object).where(anns["source"].notna(), source)
    else:
        anns["source"] = source
    return anns


def _paths(ds: Dataset, images: pd.DataFrame) -> list:
    """The image file of each row of ``images`` (rows of ``ds``'s images), None where
    unknown: only the rows asked for are resolved."""
    return Dataset(images=images.reset_index(drop=True), meta=ds.meta).image_paths().tolist()


def _roots(ds: Dataset) -> list[str]:
    return [r for r in (ds.meta.get("image_root"), *(ds.meta.get("split_roots") or {}).values())
            if r]


def _first(ds: Dataset, source: str) -> Dataset:
    """The first input as the start of the merge: its images keep their folders (meta
    image_root, split_roots); later inputs' images name their files in image_files."""
    meta = {k: v for k, v in ds.meta.items() if k != "notes"}
    meta["image_files"] = dict(ds.meta.get("image_files") or {})
    meta["image_folders"] = [*ds.meta.get("image_folders", ()), *_roots(ds)]
    return Dataset(ds.categories.copy(), ds.images.copy(), _labelled(ds, source), meta)


def _category_ids(merged: Dataset, ds: Dataset, fold_names: bool,
                  notes: LayerNotes, source: str) -> pd.Series:
    """``ds``'s category id -> merged category id; new categories appended to ``merged``."""
    key = fold if fold_names else str
    have = merged.categories.assign(key=merged.categories["name"].map(key))
    owners = have.drop_duplicates("key").set_index("key")
    mapping = {}
    new_rows = []
    used = set(merged.categories["id"].tolist())
    next_id = max(used, default=0) + 1
    for cid, name, sup in ds.categories[["id", "name", "supercategory"]].itertuples(
            index=False):  # one row per class: few
        k = key(name)
        if k in owners.index:
            mapping[cid] = int(owners.at[k, "id"])
            if fold_names and owners.at[k, "name"] != name:
                notes.say(f"{source}: class {name!r} joined with {owners.at[k, 'name']!r} "
                          "(--fold-names)")
            continue
        new_id = int(cid) if cid not in used and cid > 0 else next_id
        used.add(new_id)
        next_id = max(used) + 1
        mapping[cid] = new_id
        new_rows.append({"id": new_id, "name": name, "supercategory": sup})
        owners.loc[k] = {"id": new_id, "name": name}
    if new_rows:
        merged.categories = pd.concat([merged.categories, pd.DataFrame(new_rows)],
                                      ignore_index=True)
    return pd.Series(mapping, dtype="int64")


def _same_bytes(a: str | None, b: str | None) -> bool | None:
    """True or False when both files can be read; None when either is missing."""
    if not (isinstance(a, str) and isinstance(b, str) and os.path.isfile(a)
            and os.path.isfile(b)):
        return None
    if os.path.samefile(a, b):
        return True
    if os.path.getsize(a) != os.path.getsize(b):
        return False
    return _digest(a) == _digest(b)


def _digest(path: str) -> bytes:
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.digest()


def _same_size(mine: pd.DataFrame, theirs: pd.DataFrame) -> np.ndarray:
    """Sizes agree where both are known."""
    out = np.ones(len(mine), bool)
    for col in ("width", "height"):
        a, b = mine[col].astype("float64").to_numpy(), theirs[col].astype("float64").to_numpy()
        out &= ~(np.isfinite(a) & np.isfinite(b)) | (a == b)
    return out


def _image_ids(merged: Dataset, ds: Dataset, source: str,
               notes: LayerNotes) -> tuple[pd.Series, pd.DataFrame, dict]:
    """``ds``'s image id -> merged image id, the images to append, and their files."""
    by_name = merged.images.drop_duplicates("file_name").set_index("file_name")
    clash = ds.images["file_name"].isin(by_name.index).to_numpy()
    same = np.zeros(len(ds.images), bool)
    if clash.any():
        theirs = ds.images[clash]
        mine = by_name.loc[theirs["file_name"]]
        mine_files = _paths(merged, mine.reset_index())
        theirs_files = _paths(ds, theirs)
        verdicts = [_same_bytes(a, b) for a, b in zip(mine_files, theirs_files)]
        sizes = _same_size(mine.reset_index(), theirs.reset_index(drop=True))
        known = np.array([v is not None for v in verdicts], bool)
        equal = np.where(known, [bool(v) for v in verdicts], sizes)
        same[np.flatnonzero(clash)] = equal
        if (~known).any():
            notes.say(f"{source}: {int((~known).sum())} images with a name already merged "
                      "were compared by size only (image files not found)")
        found_late = {mine_id: theirs_file for mine_id, mine_file, theirs_file, e in
                      zip(mine["id"].tolist(), mine_files, theirs_files, equal)
                      if e and not isinstance(mine_file, str) and isinstance(theirs_file, str)}
        merged.meta["image_files"].update(found_late)  # a file only this input has
        split_a = mine["split"].astype(object).to_numpy()
        split_b = theirs["split"].astype(object).to_numpy()
        moved = equal & (pd.Series(split_a).fillna("") != pd.Series(split_b).fillna("")) \
            .to_numpy()
        if moved.any():
            notes.say(f"{source}: {int(moved.sum())} shared images are in another split "
                      "there; the first input's split is kept")
    mapping = pd.Series(np.zeros(len(ds.images), np.int64), index=ds.images["id"].to_numpy())
    if same.any():
        mapping[same] = by_name.loc[ds.images.loc[same, "file_name"], "id"].to_numpy()
    new = ds.images[~same].copy()
    new_paths = _paths(ds, new)  # before any renaming: the files keep their names
    start = int(merged.images["id"].max()) + 1 if len(merged.images) else 1
    new_ids = np.arange(start, start + len(new), dtype=np.int64)
    mapping[~same] = new_ids
    renamed = clash & ~same
    if renamed.any():
        new.loc[renamed[~same], "file_name"] = _renamed(
            new.loc[renamed[~same], "file_name"], source, merged.images["file_name"])
        notes.say(f"{source}: {int(renamed.sum())} images share a name with another "
                  f"input's but not its bytes; renamed (e.g. "
                  f"{new.loc[renamed[~same], 'file_name'].iloc[0]})")
    new_files = dict(zip(new_ids.tolist(), new_paths))  # None too: no file known
    new["id"] = new_ids
    if int(same.sum()):
        notes.say(f"{source}: {int(same.sum())} images were already there (same name, "
                  "same bytes or size); their annotations were joined")
    return mapping, new, new_files


def _renamed(names: pd.Series, source: str, taken: pd.Series) -> list[str]:
    tag = re.sub(r"[^A-Za-z0-9]+", "_", os.path.basename(os.path.normpath(source))) or "input"
    used = set(taken.tolist()) | set(names.tolist())
    out = []
    for name in names.tolist():
        stem, ext = os.path.splitext(name)
        candidate, n = f"{stem}__{tag}{ext}", 1
        while candidate in used:
            n += 1
            candidate = f"{stem}__{tag}{n}{ext}"
        used.add(candidate)
        out.append(candidate)
    return out


def _add(merged: Dataset, ds: Dataset, source: str, fold_names: bool,
         notes: LayerNotes) -> Dataset:
    cat_map = _category_ids(merged, ds, fold_names, notes, source)
    image_map, new_images, new_files = _image_ids(merged, ds, source, notes)
    anns = _labelled(ds, source)
    anns["category_id"] = anns["category_id"].map(cat_map).fillna(anns["category_id"]) \
        .astype("int64")
    anns["image_id"] = anns["image_id"].map(image_map).fillna(-1).astype("int64")
    start = int(merged.annotations["id"].max()) + 1 if len(merged.annotations) else 1
    anns["id"] = np.arange(start, start + len(anns), dtype=np.int64)
    both = pd.concat([merged.annotations, anns], ignore_index=True)
    both, dropped = _drop_duplicates(both, len(merged.annotations))
    if dropped:
        notes.say(f"{source}: {dropped} annotations duplicated ones already there on the "
                  "same image (same class, kind and box); dropped")
    meta = dict(merged.meta)
    meta["image_files"] = {**merged.meta["image_files"], **new_files}
    meta["image_folders"] = [*merged.meta["image_folders"], *_roots(ds)]
    images = pd.concat([merged.images, new_images], ignore_index=True)
    return Dataset(merged.categories, images, both, meta)


def _drop_duplicates(anns: pd.DataFrame, first_new: int) -> tuple[pd.DataFrame, int]:
    """Drop new rows (index >= ``first_new``) that repeat an earlier input's row: the
    same image, class, kind and box, counted occurrence by occurrence."""
    key = pd.DataFrame({"image_id": anns["image_id"], "category_id": anns["category_id"],
                        "kind": anns["kind"].astype(str)})
    for c in BOX:
        key[c] = anns[c].fillna(-1e300)
    cols = list(key.columns)
    new = np.arange(len(anns)) >= first_new
    key["occurrence"] = key.assign(new=new).groupby([*cols, "new"], sort=False).cumcount()
    repeated = key.duplicated([*cols, "occurrence"]).to_numpy() & new
    return anns[~repeated].reset_index(drop=True), int(repeated.sum())
