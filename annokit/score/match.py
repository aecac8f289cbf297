"""Do these scores belong to this dataset? The one rule every consumer of a scores file uses.

Scores name what they were made for: annotation ids, the images (by file name where the
scores carry it, else by id) and the classes (by name where carried, else by id). A scores
file made for another dataset, or for an older version of this one, would paint the wrong
objects; it is refused with one line saying what differs. A scores file in which nothing
was flagged is as good as any other.

Example:
    >>> import pandas as pd
    >>> from annokit import Dataset
    >>> ds = Dataset(pd.DataFrame({"id": [1], "name": ["cat"]}),
    ...              pd.DataFrame({"id": [1], "file_name": ["a.jpg"]}),
    ...              pd.DataFrame({"id": [7], "image_id": [1], "category_id": [1]}))
    >>> check_scores_match(ds, pd.DataFrame({"annotation_id": [7], "image_id": [1],
    ...                                      "category_id": [1]}))
    >>> check_scores_match(ds, pd.DataFrame({"annotation_id": [8], "image_id": [1],
    ...                                      "category_id": [1]}), source="s.csv")
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    annokit.errors.AnnokitError: s.csv: these scores were made for another dataset: ...(8)...
"""
from __future__ import annotations

import os

import pandas as pd

from ..errors import AnnokitError
from ..model import Dataset

EXAMPLES = 3  # values quoted per difference


def check_scores_match(ds: Dataset, annotations_table: pd.DataFrame,
                       images_table: pd.DataFrame | None = None,
                       source: str | os.PathLike = "scores") -> None:
    """Raise ``AnnokitError`` (one line naming ``source``) unless the scores fit ``ds``.

    ``annotations_table`` has the contract's ``annotation_id`` (NA for candidate missing
    objects), ``image_id`` and ``category_id`` columns, in the scores' own ids, and may
    carry ``file_name`` and ``category_name``: then images and classes are matched by
    those (ids may differ between files), else by id. A ``suggested_category_id`` (or
    ``suggested_category_name``) column is checked as a class too. ``images_table`` (``image_id``,
    optional ``file_name``) adds the images the scores rate. The rule: every scored
    image and class is in ``ds``, the scored annotation ids are exactly ``ds``'s, and each
    scored annotation sits on the same image with the same class as in ``ds``.

    Example:
        >>> check_scores_match(ds, scores.annotations, scores.images,
        ...                    source="scores.json")  # doctest: +SKIP
    """
    table = annotations_table
    problems = [*_unknown_images(ds, table, images_table), *_unknown_classes(ds, table)]
    problems += _annotation_ids(ds, table)
    if problems:
        raise AnnokitError(f"{os.fspath(source)}: these scores were made for another dataset: "
                           f"{'; '.join(problems)}; score this dataset again (annokit score)")


def _examples(values) -> str:
    values = sorted(values, key=str)
    shown = ", ".join(_short(v) for v in values[:EXAMPLES])
    return shown + (", ..." if len(values) > EXAMPLES else "")


def _short(value) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _unknown_images(ds: Dataset, table: pd.DataFrame, images: pd.DataFrame | None) -> list:
    key = "file_name" if "file_name" in table or (images is not None and "file_name" in images) \
        else "image_id"
    known = set(ds.images["file_name" if key == "file_name" else "id"].dropna().tolist())
    scored = [t[key].dropna() for t in (table, images) if t is not None and key in t]
    values = set(pd.concat(scored).tolist()) if scored else set()
    if key == "image_id":
        values = {int(v) for v in values}
    unknown = values - known
    if not unknown:
        return []
    what = "file name" if key == "file_name" else "image id"
    return [f"{len(unknown)} scored {what}{'s' if len(unknown) > 1 else ''} "
            f"{'are' if len(unknown) > 1 else 'is'} not in the dataset ({_examples(unknown)})"]


def _unknown_classes(ds: Dataset, table: pd.DataFrame) -> list:
    by_name = "category_name" in table
    column = "category_name" if by_name else "category_id"
    if column not in table:
        return []
    known = set(ds.categories["name" if by_name else "id"].dropna().tolist())
    # a suggested class (relabel to) must be one of the dataset's too
    values = set(pd.concat([table[c].dropna() for c in (column, "suggested_" + column)
                            if c in table]).tolist())
    unknown = values - known if by_name else {int(v) for v in values} - known
    if not unknown:
        return []
    what = "class name" if by_name else "class id"
    return [f"{len(unknown)} scored {what}{'s' if len(unknown) > 1 else ''} "
            f"{'are' if len(unknown) > 1 else 'is'} not in the dataset ({_examples(unknown)})"]


def _annotation_ids(ds: Dataset, table: pd.DataFrame) -> list:
    """Scored ids equal the dataset's; each on the same image, with the same class."""
    own = table[table["annotation_id"].notna()]
    scored = set(own["annotation_id"].astype("int64").tolist())
    theirs = set(ds.annotations["id"].tolist())
    problems = []
    extra, missing = scored - theirs, theirs - scored
    if extra:
        problems.append(f"{len(extra)} scored annotation id{'s are' if len(extra) > 1 else ' is'}"
                        f" not in the dataset ({_examples(extra)})")
    if missing:
        problems.append(f"{len(missing)} annotation{'s' if len(missing) > 1 else ''} of the "
                        f"dataset {'have' if len(missing) > 1 else 'has'} no score "
                        f"({_examples(missing)})")
    both = own.drop_duplicates("annotation_id").assign(
        annotation_id=lambda t: t["annotation_id"].astype("int64"))
    pairs = both.merge(_dataset_side(ds), left_on="annotation_id", right_on="id",
                       suffixes=("", "_ds"))
    for what, column in (("image", "file_name" if "file_name" in table else "image_id"),
                         ("class", "category_name" if "category_name" in table
                          else "category_id")):
        if column not in pairs:
            continue
        left = pairs[column].astype(object)
        right = pairs[column + "_ds"].astype(object)
        if column.endswith("_id"):
            left = pd.to_numeric(left, errors="coerce")
            right = pd.to_numeric(right, errors="coerce")
        differ = pairs.loc[(left != right).to_numpy(), "annotation_id"].tolist()
        if differ:
            problems.append(f"{len(differ)} scored annotation{'s' if len(differ) > 1 else ''} "
                            f"{'are' if len(differ) > 1 else 'is'} on another {what} than in "
                            f"the dataset (ids {_examples(differ)})")
    return problems


def _dataset_side(ds: Dataset) -> pd.DataFrame:
    """Per dataset annotation: its id, image (id and file name) and class (id and name)."""
    a = ds.annotations.drop_duplicates("id")
    files = ds.images.drop_duplicates("id").set_index("id")["file_name"]
    names = ds.categories.drop_duplicates("id").set_index("id")["name"]
    return pd.DataFrame({"id": a["id"].to_numpy(),
                         "image_id_ds": a["image_id"].to_numpy(),
                         "file_name_ds": a["image_id"].map(files).to_numpy(object),
                         "category_id_ds": a["category_id"].to_numpy(),
                         "category_name_ds": a["category_id"].map(names).to_numpy(object)})
