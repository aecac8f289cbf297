"""annokit.score.match.check_scores_match: scores are refused for a dataset they were not
made for (one line saying what differs), and accepted for their own, flagged or not."""
from __future__ import annotations


import pandas as pd
import pytest

import annokit
from annokit.errors import AnnokitError
from annokit.score.match import check_scores_match
from conftest import FIXTURES


@pytest.fixture(scope="module")
def shapes():
    return annokit.read(FIXTURES / "shapes" / "voc")


def _table(ds, names: bool = False) -> pd.DataFrame:
    """The contract's annotations table for ``ds``: nothing flagged, one candidate."""
    a = ds.annotations
    table = pd.DataFrame({"annotation_id": pd.array(a["id"], dtype="Int64"),
                          "image_id": a["image_id"].to_numpy(),
                          "category_id": a["category_id"].to_numpy(),
                          "quality": 0.9, "issue": None})
    candidate = pd.DataFrame({"annotation_id": pd.array([pd.NA], dtype="Int64"),
                              "image_id": [int(ds.images["id"].iloc[0])],
                              "category_id": [int(ds.categories["id"].iloc[0])],
                              "quality": [0.3], "issue": ["overlooked"]})
    table = pd.concat([table, candidate], ignore_index=True)
    if names:
        table["file_name"] = table["image_id"].map(ds.images.set_index("id")["file_name"])
        table["category_name"] = table["category_id"].map(
            ds.categories.set_index("id")["name"])
    return table


@pytest.mark.parametrize("names", [False, True])
def test_scores_of_this_dataset_pass_flagged_or_not(shapes, names):
    table = _table(shapes, names)
    check_scores_match(shapes, table, source="s.csv")
    table.loc[0, "issue"] = "swap"
    images = pd.DataFrame({"image_id": shapes.images["id"], "quality": 0.5})
    check_scores_match(shapes, table, images, source="s.csv")


def _refused(ds, table, images=None) -> str:
    with pytest.raises(AnnokitError) as caught:
        check_scores_match(ds, table, images, source="s.csv")
    line = str(caught.value)
    assert "\n" not in line
    assert line.startswith("s.csv: these scores were made for another dataset: ")
    assert line.endswith("; score this dataset again (annokit score)")
    return line


def test_each_difference_is_named(shapes):
    a = shapes.annotations
    first, second = int(a["id"].iloc[0]), int(a["id"].iloc[1])
    missing = _table(shapes).drop(index=0)
    assert f"1 annotation of the dataset has no score ({first})" in _refused(shapes, missing)

    extra = _table(shapes)
    extra.loc[0, "annotation_id"] = 10_000
    line = _refused(shapes, extra)
    assert "1 scored annotation id is not in the dataset (10000)" in line

    moved = _table(shapes)
    other = int(shapes.images["id"][shapes.images["id"] != a["image_id"].iloc[1]].iloc[0])
    moved.loc[1, "image_id"] = other
    assert (f"1 scored annotation is on another image than in the dataset (ids {second})"
            in _refused(shapes, moved))

    relabelled = _table(shapes, names=True)
    own = relabelled.loc[0, "category_name"]
    relabelled.loc[0, "category_name"] = next(n for n in shapes.categories["name"] if n != own)
    assert (f"1 scored annotation is on another class than in the dataset (ids {first})"
            in _refused(shapes, relabelled))

    foreign = _table(shapes, names=True)
    foreign["file_name"] = "elsewhere/" + foreign["file_name"]
    foreign["category_name"] = foreign["category_name"].str.upper()
    line = _refused(shapes, foreign)
    n_files = foreign["file_name"].nunique()
    assert f"{n_files} scored file names are not in the dataset ('elsewhere/" in line
    assert "scored class names are not in the dataset" in line

    unknown_image = pd.DataFrame({"image_id": [999_999], "quality": [0.1]})
    assert "1 scored image id is not in the dataset (999999)" in _refused(
        shapes, _table(shapes), unknown_image)


def test_a_dataset_without_annotations_and_empty_scores_match(shapes):
    empty = annokit.Dataset(shapes.categories, shapes.images, None, shapes.meta)
    check_scores_match(empty, pd.DataFrame({"annotation_id": pd.array([], dtype="Int64"),
                                            "image_id": [], "category_id": []}))
