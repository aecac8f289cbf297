"""The scorer's result, read and laid onto the dataset: per object, per image, and the
candidate missing objects."""
from __future__ import annotations

import os

import pandas as pd

from ...model import Dataset
from ...score.match import check_scores_match
from .fields import TAG


def load_scores(ds: Dataset, scores):
    """``scores`` as the contract's :class:`annokit.score.Scores`: an ``annokit.score``
    result as it is, or the path of what ``annokit score --out`` wrote, read (and matched
    onto ``ds``) by :func:`annokit.score.contract.read_scores`.

    Example:
        >>> scores = load_scores(ds, "scores.json")  # doctest: +SKIP
        >>> scores.images.columns.tolist()           # doctest: +SKIP
        ['image_id', 'quality', 'n_issues']
    """
    if scores is None:
        return None
    if not isinstance(scores, (str, os.PathLike)):  # checked as a file's would be
        from ...score.contract import validate

        scores = validate(scores)
        check_scores_match(ds, scores.annotations, scores.images, source="scores")
        return scores
    from ...score.contract import read_scores

    return read_scores(scores, ds)


def per_annotation(ds: Dataset, scores) -> dict | None:
    """The scorer's per-annotation columns aligned with ``ds.annotations``."""
    if scores is None:
        return None
    table = scores.annotations
    inputs = table[table["annotation_id"].notna()]
    ids = ds.annotations["id"]
    if len(inputs) == len(ids) and (inputs["annotation_id"].to_numpy(dtype="int64")
                                    == ids.to_numpy()).all():
        aligned = inputs.reset_index(drop=True)  # the contract: same order as the input
    else:
        aligned = inputs.drop_duplicates("annotation_id").set_index(
            inputs["annotation_id"].drop_duplicates().astype("int64").to_numpy()
        ).reindex(ids.to_numpy()).reset_index(drop=True)
    return {"quality": aligned["quality"].to_numpy(float),
            "issue": aligned["issue"].astype(object).where(aligned["issue"].notna(),
                                                           None).to_numpy(object),
            "suggested_category_id": aligned["suggested_category_id"].astype("Int64").array}


def per_image(scores) -> pd.Series:
    """image id -> the scorer's image quality."""
    images = scores.images.dropna(subset=["image_id"]).drop_duplicates("image_id")
    return images.set_index(images["image_id"].astype("int64"))["quality"]


def overlooked(ds: Dataset, images: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame | None:
    """The scorer's candidate missing objects as relative boxes (label = the predicted
    class) on the placed ``images``."""
    rows = table[table["annotation_id"].isna() & table["image_id"].isin(images["id"])]
    if not len(rows):
        return None
    names = ds.categories.drop_duplicates("id").set_index("id")["name"].astype(str)
    sizes = images.drop_duplicates("id").set_index("id")
    w = rows["image_id"].map(sizes["width"]).to_numpy(float)
    h = rows["image_id"].map(sizes["height"]).to_numpy(float)
    return pd.DataFrame({
        "image_id": rows["image_id"].astype("int64").to_numpy(),
        "label": rows["category_id"].map(names).astype(object).to_numpy(),
        "rx": rows["suggested_x"].to_numpy(float) / w,
        "ry": rows["suggested_y"].to_numpy(float) / h,
        "rw": rows["suggested_w"].to_numpy(float) / w,
        "rh": rows["suggested_h"].to_numpy(float) / h,
        "quality": rows["quality"].to_numpy(float), "issue": "overlooked",
        "tags": [[TAG + "issue:overlooked"] for _ in range(len(rows))],
        "attrs": [{} for _ in range(len(rows))], "id": pd.NA})

