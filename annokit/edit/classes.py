"""Class maps: rename classes, merge several into one, keep or drop classes by name.

A map is ``{old name: new name}``, given as ``old=new,old2=new`` or as a YAML, JSON or
CSV file. A class that survives keeps its id; classes merged into one take the id of the
class already holding the new name, else the smallest id among them. A name that matches
no class is an error that lists the classes there are.

Example:
    >>> ds2 = map_classes(ds, {"RBC": "red_blood_cell", "WBC": "cell", "Platelets": "cell"})
    ...                                                            # doctest: +SKIP
    >>> ds3 = drop_classes(ds2, ["cell"])                          # doctest: +SKIP
"""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import AnnokitError, FormatError
from ..fileio import MAX_CONFIG_BYTES, load_yaml, read_regular
from ..model import Dataset

MAP_SUFFIXES = (".yaml", ".yml", ".json", ".csv")
MAX_LISTED = 30  # class names listed in an error


def class_names_text(ds: Dataset) -> str:
    """The dataset's class names for an error line (the first few, then a count)."""
    names = [str(n) for n in ds.categories["name"].tolist()]
    more = f", ... ({len(names)} in all)" if len(names) > MAX_LISTED else ""
    return ", ".join(names[:MAX_LISTED]) + more if names else "(none)"


def _unknown(ds: Dataset, names: list[str], where: str) -> AnnokitError:
    listed = ", ".join(repr(n) for n in names[:5]) + (" ..." if len(names) > 5 else "")
    return AnnokitError(f"{where}: no class named {listed}; the classes are "
                        f"{class_names_text(ds)}")


def parse_class_map(spec: str | os.PathLike | dict) -> dict[str, str]:
    """A class map from ``old=new,old2=new`` or a .yaml/.yml/.json/.csv file.

    YAML and JSON hold one mapping ``{old: new}``; CSV holds two columns (old, new), with
    or without a header line ``old,new``.

    Example:
        >>> parse_class_map("RBC=red_blood_cell, WBC=cell")
        {'RBC': 'red_blood_cell', 'WBC': 'cell'}
    """
    if isinstance(spec, dict):
        return _checked(dict(spec), "--map-classes")
    text = os.fspath(spec)
    if Path(text).suffix.lower() in MAP_SUFFIXES or (os.path.exists(text) and "=" not in text):
        return _checked(_read_map_file(Path(text)), text)
    pairs = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        old, sep, new = part.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise AnnokitError(f"--map-classes: {part!r} is not old=new (give "
                               "'old=new,old2=new' or a .yaml/.json/.csv file)")
        if old.strip() in pairs:
            raise AnnokitError(f"--map-classes: {old.strip()!r} is mapped twice")
        pairs[old.strip()] = new.strip()
    return _checked(pairs, "--map-classes")


def _read_map_file(path: Path) -> dict:
    data = read_regular(path, limit=MAX_CONFIG_BYTES, what="class map file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise FormatError(path, f"not UTF-8 text (byte {e.start})") from None
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _csv_map(text, path)
    if suffix == ".json":
        import orjson

        try:
            mapping = orjson.loads(text)
        except orjson.JSONDecodeError as e:
            raise FormatError(path, f"malformed JSON: {str(e).splitlines()[0]}") from None
    else:
        mapping = load_yaml(text, path)
    if not isinstance(mapping, dict):
        raise FormatError(path, "a class map is one mapping of old name to new name "
                          "(e.g. 'RBC: red_blood_cell')")
    return mapping


def _csv_map(text: str, path: Path) -> dict:
    mapping = {}
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or not "".join(row).strip():
            continue
        if len(row) != 2:
            raise FormatError(path, f"expected 2 fields (old,new), got {len(row)}",
                              place=f"line {number}")
        old, new = row[0].strip(), row[1].strip()
        if number == 1 and (old.lower(), new.lower()) in {("old", "new"), ("from", "to")}:
            continue  # a header line
        if old in mapping:
            raise FormatError(path, f"{old!r} is mapped twice", place=f"line {number}")
        mapping[old] = new
    return mapping


def _checked(mapping: dict, source: str) -> dict[str, str]:
    """Every key and value a non-empty name (numbers, as YAML reads '1: one', become text)."""
    out = {}
    for old, new in mapping.items():
        for value in (old, new):
            if isinstance(value, bool) or not isinstance(value, (str, int, float)) \
                    or not str(value).strip():
                raise AnnokitError(f"{source}: class names must be non-empty text, not "
                                   f"{value!r} (in {old!r}: {new!r})")
        out[str(old).strip()] = str(new).strip()
    if not out:
        raise AnnokitError(f"{source}: the class map is empty")
    return out


def map_classes(ds: Dataset, mapping: dict[str, str] | str) -> Dataset:
    """``ds`` with classes renamed (and several merged into one) by ``mapping``.

    Ids stay where a class survives; a class merged into an existing name takes its id,
    a new name takes the smallest id of the classes mapped to it. Annotations follow.

    Example:
        >>> out = map_classes(ds, {"RBC": "cell", "WBC": "cell"})  # doctest: +SKIP
        >>> out.categories["name"].tolist()                      # doctest: +SKIP
        ['cell', 'Platelets']
    """
    if not isinstance(mapping, dict):
        mapping = parse_class_map(mapping)
    cats = ds.categories
    names = cats["name"].astype(str)
    missing = [old for old in mapping if old not in set(names)]
    if missing:
        raise _unknown(ds, missing, "--map-classes")
    new_names = names.map(lambda n: mapping.get(n, n))
    staying = ~names.isin(list(mapping)) | (new_names == names)
    # the id each new name gets: a class already called so (and staying), else the smallest
    owner = cats["id"].where(staying).groupby(new_names).min()
    smallest = cats["id"].groupby(new_names).min()
    target = owner.fillna(smallest).astype("int64")
    new_ids = new_names.map(target).to_numpy(np.int64)
    id_map = pd.Series(new_ids, index=cats["id"].to_numpy())
    kept = cats["id"].to_numpy() == new_ids
    out_cats = cats[kept].copy()
    out_cats["name"] = new_names[kept].to_numpy()
    out = ds.copy()
    out.categories = out_cats.reset_index(drop=True)
    out.annotations["category_id"] = out.annotations["category_id"].map(id_map).fillna(
        out.annotations["category_id"]).astype("int64")
    return out


def _names(value: str | list[str] | tuple) -> list[str]:
    parts = value.split(",") if isinstance(value, str) else list(value)
    names = [str(p).strip() for p in parts if str(p).strip()]
    if not names:
        raise AnnokitError("give at least one class name")
    return names


def keep_classes(ds: Dataset, names: str | list[str]) -> Dataset:
    """``ds`` with only the classes ``names`` (and their annotations); images all stay.

    Example:
        >>> keep_classes(ds, "RBC,WBC")  # doctest: +SKIP
    """
    return _select(ds, _names(names), keep=True, option="--keep-classes")


def drop_classes(ds: Dataset, names: str | list[str]) -> Dataset:
    """``ds`` without the classes ``names`` and their annotations; images all stay.

    Example:
        >>> drop_classes(ds, ["Platelets"])  # doctest: +SKIP
    """
    return _select(ds, _names(names), keep=False, option="--drop-classes")


def _select(ds: Dataset, names: list[str], keep: bool, option: str) -> Dataset:
    known = set(ds.categories["name"].astype(str))
    missing = [n for n in names if n not in known]
    if missing:
        raise _unknown(ds, missing, option)
    chosen = ds.categories["name"].astype(str).isin(names)
    stay = chosen if keep else ~chosen
    ids = ds.categories.loc[stay, "id"]
    out = ds.copy()
    out.categories = out.categories[stay.to_numpy()].reset_index(drop=True)
    out.annotations = out.annotations[out.annotations["category_id"].isin(ids)] \
        .reset_index(drop=True)
    return out


def apply_class_options(ds: Dataset, map_classes: str | dict | None = None,
                        keep_classes: str | list | None = None,
                        drop_classes: str | list | None = None) -> Dataset:
    """The three class options in their order: map, then keep, then drop (by the names
    after the map). Options left at None do nothing.

    Example:
        >>> apply_class_options(ds, map_classes="RBC=cell", drop_classes="Platelets")
        ...                                                         # doctest: +SKIP
    """
    if map_classes:
        ds = _map(ds, map_classes)
    if keep_classes:
        ds = _keep(ds, keep_classes)
    if drop_classes:
        ds = _drop(ds, drop_classes)
    return ds


_map, _keep, _drop = map_classes, keep_classes, drop_classes  # the options shadow the names
