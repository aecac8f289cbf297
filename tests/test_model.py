"""The Dataset model: core columns and dtypes, repr, summary, image paths."""
import re

import numpy as np
import pandas as pd
import pytest

import annokit
from annokit import Dataset
from annokit.split import split as split_dataset
from conftest import ROOT


def small():
    return Dataset(
        categories=pd.DataFrame({"id": [1, 7], "name": ["cat", "dog"]}),
        images=pd.DataFrame({"id": [10, 11, 12], "file_name": ["a.jpg", "b.jpg", "c.jpg"],
                             "width": [640, None, 320], "height": [480, None, 240],
                             "split": ["train", "train", "val"]}),
        annotations=pd.DataFrame({"image_id": [10, 10, 12], "category_id": [1, 7, 7],
                                  "x": [1, 2, 3], "y": [1, 2, 3], "w": [5, 6, 7],
                                  "h": [5, 6, 7], "difficult": [0, 1, 0]}),
        meta={"image_root": "/data/images", "split_roots": {"val": "/data/val"}})


def test_core_columns_filled_with_defaults_and_dtypes():
    ds = small()
    anns = ds.annotations
    assert list(anns["id"]) == [1, 2, 3]  # ids from 1, never 0
    assert list(anns["kind"]) == ["box"] * 3 and list(anns["iscrowd"]) == [0] * 3
    assert anns["score"].isna().all() and anns["x"].dtype == np.float64
    assert "difficult" in anns  # pass-through columns are kept, after the core ones
    assert str(ds.images["width"].dtype) == "Int64"
    assert ds.images["width"].isna().tolist() == [False, True, False]  # unknown is NA, not 0
    assert ds.categories["supercategory"].isna().all()


def test_missing_required_column_is_an_error():
    with pytest.raises(ValueError, match="annotations needs a 'image_id' column"):
        Dataset(annotations=pd.DataFrame({"category_id": [1]}))


def test_repr_len_and_summary():
    ds = small()
    assert len(ds) == 3
    assert repr(ds) == ("Dataset(images=3, annotations=3 (box 3), categories=2 [cat, dog], "
                        "splits=train 2/val 1)")
    table = ds.summary()
    assert table.loc["dog", "annotations"] == 2 and table.loc["dog", "images"] == 2
    assert table.loc["cat", "train"] == 1 and table.loc["dog", "val"] == 1
    assert ds.summary_line() == "3 images, 3 annotations, 2 categories"


def test_empty_dataset():
    ds = Dataset()
    assert len(ds) == 0 and repr(ds).startswith("Dataset(images=0, annotations=0")


def test_image_paths_use_split_roots():
    paths = small().image_paths()
    assert list(paths) == ["/data/images/a.jpg", "/data/images/b.jpg", "/data/val/c.jpg"]


def test_copy_is_independent():
    ds = small()
    other = ds.copy()
    other.annotations.loc[0, "x"] = 99
    other.meta["image_root"] = "/elsewhere"
    assert ds.annotations.loc[0, "x"] == 1 and ds.meta["image_root"] == "/data/images"


def test_frames_are_writable():
    ds = small()
    ds.images.loc[0, "split"] = "test"
    ds.images.loc[1, "file_name"] = "renamed.jpg"
    ds.annotations.loc[0, "x"] = 5.0
    ds.categories.loc[0, "name"] = "kitten"
    assert ds.images["split"].tolist()[:2] == ["test", "train"]
    assert ds.annotations["x"].iloc[0] == 5.0 and ds.categories["name"].iloc[0] == "kitten"


# -- meta: every key declared in model.Meta ----------------------------------------------

META_ACCESS = re.compile(r"""\.meta(?:\[|\.get\(|\.setdefault\(|\.pop\()\s*["'](\w+)["']""")


def test_every_meta_key_the_code_names_is_declared():
    from annokit.model import Meta

    named = {m.group(1): path.name for path in (ROOT / "annokit").rglob("*.py")
             for m in META_ACCESS.finditer(path.read_text())}
    assert named, "the pattern found no meta access at all"
    undeclared = {k: f for k, f in named.items() if k not in Meta.__annotations__}
    assert not undeclared, f"declare these in annokit.model.Meta: {undeclared}"


@pytest.mark.filterwarnings("ignore:images moved between split folders")
@pytest.mark.parametrize("source", ["coco/basic/annotations.json", "coco/splits", "shapes/voc",
                                    "voc/splits", "csv/label.csv", "csv/points.csv"])
def test_every_meta_key_a_reader_sets_is_declared(source):
    from annokit.model import Meta

    ds = annokit.read(ROOT / "fixtures" / source)
    split = split_dataset(ds, ratios=(0.5, 0.5), names=("a", "b"), seed=0)
    for made in (ds, split):
        assert set(made.meta) <= set(Meta.__annotations__), set(made.meta) - set(
            Meta.__annotations__)
