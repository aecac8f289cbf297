"""annokit's tables laid out for FiftyOne: placed images, objects in relative coordinates,
the findings as tags and lines, worst images first. Plain pandas; no FiftyOne here."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd

from ...errors import AnnokitError
from ...fileio import safe_relative
from ...model import Dataset
from .fields import NOT_ATTRIBUTES, TAG, attribute_name, plain
from .files import special_files


def image_table(ds: Dataset) -> tuple[pd.DataFrame, list[str]]:
    """One row per image: id, absolute path, width, height; images that cannot be placed
    (a file name escaping the image root, no known root, not a regular file) are dropped
    and named."""
    if not ds.meta.get("image_root") and not ds.meta.get("split_roots"):
        raise AnnokitError("the dataset has no image folder; read it with --image-root "
                           "(image_root=...)")
    names = ds.images["file_name"].tolist()
    paths = ds.image_paths()
    safe = np.array([isinstance(n, str) and safe_relative(n) for n in names], dtype=bool)
    safe &= paths.notna().to_numpy()
    notes = [f"{n}: file name escapes the image root; image left out"
             for n, ok in zip(names, safe) if not ok]
    special = special_files(paths.where(safe))  # a FIFO would hang whoever opens it
    notes += [f"{names[k]}: {why}; image left out" for k, why in special.items()]
    safe[list(special)] = False
    sized = _sized(ds, safe)
    table = pd.DataFrame({
        "id": ds.images["id"].to_numpy(), "file_name": names,
        "split": ds.images["split"].to_numpy(),
        "filepath": [os.path.abspath(p) if ok else None for p, ok in zip(paths, safe)],
        "width": sized.images["width"].to_numpy(dtype=float, na_value=np.nan),
        "height": sized.images["height"].to_numpy(dtype=float, na_value=np.nan)})
    table = table.reset_index(names="row")  # row in ds.images: the pass-through columns
    return table[safe].reset_index(drop=True), notes


def _sized(ds: Dataset, safe: np.ndarray) -> Dataset:
    """``ds`` with the unknown sizes of images that hold objects read from their headers
    (boxes need the image size to become relative); never opens a file outside the root."""
    needs_size = ds.annotations["kind"].ne("label")
    unknown = ds.images["width"].isna() | ds.images["height"].isna()
    if not (unknown & ds.images["id"].isin(ds.annotations["image_id"][needs_size])).any():
        return ds
    from ...formats.layout import fill_unknown_sizes

    sized = ds.copy()
    sized.images.loc[~safe, "file_name"] = None
    fill_unknown_sizes(sized)
    return sized


def annotation_table(ds: Dataset, images: pd.DataFrame, findings,
                     scored: dict | None) -> tuple[pd.DataFrame, list[str]]:
    """Every annotation of a placed image with its label name, relative box, tags and
    scores, as columns (``attrs`` holds each row's attribute dict); and notes naming the
    images whose objects cannot be placed (size unknown: the image is missing)."""
    a = ds.annotations
    names = ds.categories.drop_duplicates("id").set_index("id")["name"].astype(str)
    sizes = images.drop_duplicates("id").set_index("id")[["width", "height"]]
    w = a["image_id"].map(sizes["width"]).to_numpy(float)
    h = a["image_id"].map(sizes["height"]).to_numpy(float)
    spatial = a["kind"].ne("label").to_numpy()
    on_placed = a["image_id"].isin(images["id"]).to_numpy()
    placed = on_placed & (~spatial | (w > 0) & (h > 0))
    lost = a.loc[on_placed & ~placed, "image_id"].value_counts(sort=False)
    files = images.drop_duplicates("id").set_index("id")["file_name"].to_dict()
    notes = [f"{files[i]}: image size unknown (is the image there?); its {n} objects left out"
             for i, n in lost.items()]
    table = pd.DataFrame({
        "id": a["id"].to_numpy(),
        "image_id": a["image_id"].to_numpy(), "kind": a["kind"].to_numpy(),
        "label": a["category_id"].map(names).fillna(a["category_id"].astype(str)).to_numpy(),
        "rx": a["x"].to_numpy(float) / w, "ry": a["y"].to_numpy(float) / h,
        "rw": a["w"].to_numpy(float) / w, "rh": a["h"].to_numpy(float) / h,
        "width": w, "height": h, "confidence": a["score"].to_numpy(float),
        "segmentation": a["segmentation"].to_numpy()})
    table["tags"] = _annotation_tags(a, findings, scored)
    table["findings"] = a["id"].map(messages(findings, "annotation_id")).to_numpy(object)
    for col in ("quality", "issue"):
        table[col] = scored[col] if scored is not None else None
    table["suggested_label"] = None if scored is None else pd.Series(
        scored["suggested_category_id"]).map(names).to_numpy(object)
    table["attrs"] = pd.Series(_attribute_dicts(a), index=table.index, dtype=object)
    return table[placed].reset_index(drop=True), notes


def _annotation_tags(a: pd.DataFrame, findings, scored) -> list[list[str]]:
    """Per annotation: ``annokit:<check>`` for each check that flagged it, and
    ``annokit:issue:<type>`` for the scorer's issue."""
    tags: list[list[str]] = [[] for _ in range(len(a))]
    if findings is not None and len(findings):
        flagged = findings.dropna(subset=["annotation_id"]).drop_duplicates(
            ["annotation_id", "check"])
        by_id = flagged.groupby(flagged["annotation_id"].astype("int64"))["check"].agg(list)
        for k, checks in enumerate(a["id"].map(by_id).tolist()):
            if isinstance(checks, list):
                tags[k] = [TAG + c for c in checks]
    if scored is not None:
        for k, issue in enumerate(scored["issue"]):
            if isinstance(issue, str):
                tags[k].append(f"{TAG}issue:{issue}")
    return tags


def messages(findings, key: str) -> pd.Series:
    """``key`` id -> the findings about it, as 'check-id: message' lines.

    Example:
        >>> found = pd.DataFrame({"check": ["geometry.tiny"], "message": ["2 px wide"],
        ...                       "annotation_id": [7]})
        >>> messages(found, "annotation_id").to_dict()
        {7: ['geometry.tiny: 2 px wide']}
    """
    if findings is None or not len(findings):
        return pd.Series(dtype=object)
    rows = findings.dropna(subset=[key])
    text = rows["check"].astype(str) + ": " + rows["message"].astype(str)
    return text.groupby(rows[key].astype("int64").to_numpy()).agg(list)


def _attribute_dicts(a: pd.DataFrame) -> list[dict]:
    """Per annotation: its pass-through attributes (and RLE masks) as BSON-ready values."""
    columns = [c for c in a.columns if c not in NOT_ATTRIBUTES]
    values = [[plain(v) for v in a[c].tolist()] for c in columns]
    names = [attribute_name(c) for c in columns]
    rle = [s if isinstance(s, dict) else None for s in a["segmentation"].tolist()]
    out = []
    for k in range(len(a)):
        d = {n: v[k] for n, v in zip(names, values) if v[k] is not None}
        if rle[k] is not None:
            d["annokit_rle"] = plain(rle[k])
        out.append(d)
    return out


def image_fields(images: pd.DataFrame, anns: pd.DataFrame, findings) -> pd.DataFrame:
    """Add n_findings, findings (their lines) and tags (the checks that flagged each
    image or one of its objects)."""
    images = images.copy()
    images["findings"] = None
    tags = pd.Series([[] for _ in range(len(images))], index=images["id"].to_numpy())
    counts = pd.Series(0, index=images["id"].to_numpy())
    if findings is not None and len(findings):
        f = findings.copy()
        owner = f["annotation_id"].map(anns.drop_duplicates("id").set_index("id")["image_id"])
        f["image_id"] = f["image_id"].fillna(owner.astype("Int64"))
        f = f.dropna(subset=["image_id"])
        f["image_id"] = f["image_id"].astype("int64")
        counts = f.groupby("image_id").size().reindex(counts.index, fill_value=0)
        checks = f.drop_duplicates(["image_id", "check"]).groupby("image_id")["check"].agg(list)
        tags = checks.reindex(tags.index).map(
            lambda v: [TAG + c for c in v] if isinstance(v, list) else [])
        images["findings"] = images["id"].map(messages(f, "image_id")).to_numpy(object)
    images["n_findings"] = counts.to_numpy(dtype="int64")
    images["tags"] = tags.to_list()
    images["quality"] = np.nan
    return images


def worst_first(images: pd.DataFrame) -> np.ndarray:
    """Row order: lowest image quality first (unscored last), then most findings.

    Example:
        >>> worst_first(pd.DataFrame({"id": [1, 2, 3], "quality": [0.9, float("nan"), 0.1],
        ...                           "n_findings": [0, 5, 0]})).tolist()
        [2, 0, 1]
    """
    quality = images["quality"].to_numpy(float)
    return np.lexsort((images["id"].to_numpy(), -images["n_findings"].to_numpy(),
                       np.where(np.isnan(quality), np.inf, quality)))


def prediction_table(pred: Dataset, images: pd.DataFrame, kind: str = "box") -> pd.DataFrame:
    """Predicted boxes (or labels) on the placed images, matched by file name."""
    a = pred.annotations[pred.annotations["kind"].eq(kind)]
    image_of = pred.images.drop_duplicates("id").set_index("id")["file_name"]
    placed = images.drop_duplicates("file_name").set_index("file_name")
    target = a["image_id"].map(image_of).map(placed["id"])
    a = a[target.notna()]
    target = target[target.notna()].astype("int64")
    w = target.map(placed.set_index("id")["width"]).to_numpy(float)
    h = target.map(placed.set_index("id")["height"]).to_numpy(float)
    names = pred.categories.drop_duplicates("id").set_index("id")["name"].astype(str)
    return pd.DataFrame({
        "image_id": target.to_numpy(), "label": a["category_id"].map(names).to_numpy(object),
        "rx": a["x"].to_numpy(float) / w, "ry": a["y"].to_numpy(float) / h,
        "rw": a["w"].to_numpy(float) / w, "rh": a["h"].to_numpy(float) / h,
        "confidence": a["score"].to_numpy(float), "tags": [[] for _ in range(len(a))],
        "attrs": [{} for _ in range(len(a))], "id": a["id"].to_numpy()})
