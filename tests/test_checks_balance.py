"""Balance checks: class and split counts, imbalance, rare classes, split drift, co-occurrence.

The planted dataset (hand-counted):

    image  split  annotations
    1      train  cat cat dog
    2      train  cat dog
    3      train  cat
    4      train  cat cat cat
    5      val    cat bird
    6      val    cat
    fish: a category used by no annotation

    instances: cat 9 (train 7, val 2), dog 2 (train 2), bird 1 (val 1); 12 in all
    images:    cat 6, dog 2, bird 1
    shares:    train cat 7/9 dog 2/9 bird 0;  val cat 2/3 dog 0 bird 1/3
"""
import math

import numpy as np
import pandas as pd
import pytest

from annokit import Dataset
from annokit.checks import CHECKS, Thresholds, balance

from conftest import assert_finding_columns, shared_dataset


def planted() -> Dataset:
    return Dataset(
        categories=pd.DataFrame({"id": [1, 2, 3, 4], "name": ["cat", "dog", "bird", "fish"]}),
        images=pd.DataFrame({"id": [1, 2, 3, 4, 5, 6], "file_name": list("abcdef"),
                             "split": ["train"] * 4 + ["val"] * 2}),
        annotations=pd.DataFrame({
            "image_id": [1, 1, 1, 2, 2, 3, 4, 4, 4, 5, 5, 6],
            "category_id": [1, 1, 2, 1, 2, 1, 1, 1, 1, 1, 3, 1]}))


def clean() -> Dataset:
    """30 images (20 train, 10 val), each with one 'a' and one 'b': balanced everywhere."""
    n = 30
    return Dataset(
        categories=pd.DataFrame({"id": [1, 2], "name": ["a", "b"]}),
        images=pd.DataFrame({"id": np.arange(1, n + 1), "file_name": [f"{i}.jpg" for i in range(n)],
                             "split": ["train"] * 20 + ["val"] * 10}),
        annotations=pd.DataFrame({"image_id": np.repeat(np.arange(1, n + 1), 2),
                                  "category_id": np.tile([1, 2], n)}))


def run(check_id: str, ds: Dataset, **limits) -> pd.DataFrame:
    found = CHECKS[check_id].func(ds, Thresholds(**limits))
    assert_finding_columns(found, check_id)
    assert (found["check"] == check_id).all()
    return found


def test_registered_with_severities():
    expected = {"balance.class_count": "info", "balance.imbalance": "warning",
                "balance.rare_class": "warning", "balance.split_missing_class": "warning",
                "balance.split_share": "warning", "balance.split_divergence": "info",
                "balance.cooccurrence": "info", "balance.split_overlap": "error"}
    got = {k: c.severity for k, c in CHECKS.items() if k.startswith("balance.")}
    assert got == expected
    assert not any(CHECKS[k].needs_images for k in expected)


def test_class_counts_table():
    table = balance.class_counts(planted())
    assert list(table.columns) == ["category_id", "name", "instances", "images", "train", "val"]
    assert table["category_id"].tolist() == [1, 2, 3, 4]
    assert table["name"].tolist() == ["cat", "dog", "bird", "fish"]
    assert table["instances"].tolist() == [9, 2, 1, 0]
    assert table["images"].tolist() == [6, 2, 1, 0]
    assert table["train"].tolist() == [7, 2, 0, 0]
    assert table["val"].tolist() == [2, 0, 1, 0]


def test_class_counts_orphans_and_images_without_split():
    base = planted()
    images = base.images.assign(split=["train"] * 4 + ["val", None])  # image 6 (a cat): none
    orphan = pd.DataFrame({"id": [99], "image_id": [42], "category_id": [7]})  # no image 42
    annotations = pd.concat([base.annotations[["id", "image_id", "category_id"]], orphan])
    ds = Dataset(base.categories, images, annotations)
    table = balance.class_counts(ds)
    assert table.columns[4:].tolist() == ["train", "val", "(no split)"]
    assert table["category_id"].tolist() == [1, 2, 3, 4, 7]
    assert table["name"].tolist() == ["cat", "dog", "bird", "fish", None]
    assert table["instances"].tolist() == [9, 2, 1, 0, 1]
    assert table["val"].tolist() == [1, 0, 1, 0, 0]
    assert table["(no split)"].tolist() == [1, 0, 0, 0, 0]  # image 42 is missing: no column
    # agrees with the model's own summary where both apply
    summary = planted().summary()
    assert summary.loc["cat", "annotations"] == 9 and summary.loc["dog", "images"] == 2


def test_class_counts_without_splits():
    ds = planted()
    ds.images["split"] = None
    table = balance.class_counts(ds)
    assert list(table.columns) == ["category_id", "name", "instances", "images"]


def test_cooccurrence_table():
    table = balance.cooccurrence(planted())
    assert table.index.tolist() == [1, 2, 3, 4] and table.columns.tolist() == [1, 2, 3, 4]
    np.testing.assert_array_equal(table.to_numpy(), [[6, 2, 1, 0],
                                                     [2, 2, 0, 0],
                                                     [1, 0, 1, 0],
                                                     [0, 0, 0, 0]])


def test_cooccurrence_matches_a_plain_self_join():
    rng = np.random.default_rng(3)
    n = 2000
    ds = Dataset(categories=pd.DataFrame({"id": [30, 10, 20, 40, 50], "name": list("abcde")}),
                 images=pd.DataFrame({"id": np.arange(1, 301), "file_name": "x"}),
                 annotations=pd.DataFrame({"image_id": rng.integers(1, 301, n),
                                           "category_id": rng.choice([10, 20, 30, 40, 50], n)}))
    pairs = ds.annotations[["image_id", "category_id"]].drop_duplicates()
    joined = pairs.merge(pairs, on="image_id")
    expected = pd.crosstab(joined["category_id_x"], joined["category_id_y"])
    got = balance.cooccurrence(ds)
    assert got.index.tolist() == [30, 10, 20, 40, 50]  # the categories' order
    np.testing.assert_array_equal(got.to_numpy(),
                                  expected.loc[got.index, got.columns].to_numpy())


def test_class_count_info_rows():
    found = run("balance.class_count", planted())
    assert found["category_id"].tolist() == [1, 2, 3, 4]
    assert found["value"].tolist() == [9, 2, 1, 0]
    assert (found["severity"] == "info").all()
    assert found["message"][0] == "'cat': 9 instances (75.0%) in 6 images; train 7, val 2"
    assert found["message"][2] == "'bird': 1 instance (8.3%) in 1 image; train 0, val 1"


def test_imbalance_fires_above_ratio():
    found = run("balance.imbalance", planted(), imbalance_ratio=5)
    assert len(found) == 1
    assert found["category_id"][0] == 3  # the smallest class, bird
    assert found["value"][0] == 9.0     # cat 9 / bird 1
    assert found["message"][0] == ("class imbalance 9.0x (limit 5): largest 'cat' has 9 "
                                   "instances, smallest 'bird' 1")
    assert run("balance.imbalance", planted()).empty  # 9 <= 10, the default
    assert run("balance.imbalance", clean()).empty


def test_rare_class():
    found = run("balance.rare_class", planted(), min_class_count=3)
    assert found["category_id"].tolist() == [2, 3]  # dog 2, bird 1; fish (0) is left to labels
    assert found["value"].tolist() == [2.0, 1.0]
    assert found["message"][1] == "rare class 'bird': 1 instance (minimum 3); in 1 image: e"
    assert found["images"].tolist() == [["a", "b"], ["e"]]  # the images that hold them
    assert run("balance.rare_class", planted())["category_id"].tolist() == [1, 2, 3]  # < 10
    assert run("balance.rare_class", clean()).empty


def test_split_missing_class():
    found = run("balance.split_missing_class", planted())
    assert found["category_id"].tolist() == [2, 3]
    assert found["value"].tolist() == [0.0, 0.0]
    assert found["message"].tolist() == [
        "class 'dog' is absent from split 'val' (3 instances of other classes there) but has "
        "2 instances in other splits",
        "class 'bird' is absent from split 'train' (9 instances of other classes there) but "
        "has 1 instance in other splits"]
    assert run("balance.split_missing_class", clean()).empty


def test_split_share():
    found = run("balance.split_share", planted())
    assert found["category_id"].tolist() == [1, 2, 3]
    np.testing.assert_allclose(found["value"], [7 / 9 - 2 / 3, 2 / 9, 1 / 3])
    assert found["message"][0] == ("share of class 'cat' differs by 0.111 between splits "
                                   "(limit 0.1): train 0.778, val 0.667")
    tolerant = run("balance.split_share", planted(), split_share_tolerance=0.2)
    assert tolerant["category_id"].tolist() == [2, 3]  # cat's 0.111 now passes
    assert run("balance.split_share", clean()).empty


def _jsd(p, q):
    m = [(a + b) / 2 for a, b in zip(p, q)]
    kl = lambda x, y: sum(a * math.log2(a / b) for a, b in zip(x, y) if a > 0)  # noqa: E731
    return kl(p, m) / 2 + kl(q, m) / 2


def test_split_divergence():
    found = run("balance.split_divergence", planted())
    whole = [9 / 12, 2 / 12, 1 / 12]
    expected = [_jsd([7 / 9, 2 / 9, 0], whole), _jsd([2 / 3, 0, 1 / 3], whole)]
    np.testing.assert_allclose(found["value"], expected)
    assert found["image_id"].isna().all() and found["category_id"].isna().all()
    assert found["message"][1].startswith("split 'val' (3 instances): Jensen-Shannon "
                                          f"divergence {expected[1]:.4g} ")
    clean_found = run("balance.split_divergence", clean())
    assert clean_found["value"].tolist() == [0.0, 0.0]


def test_js_divergence_bounds():
    assert balance.js_divergence([1, 0], [0, 1]) == pytest.approx(1.0)
    assert balance.js_divergence([0.5, 0.5], [0.5, 0.5]) == 0.0
    assert balance.js_divergence([0.75, 0.25], [0.25, 0.75]) == pytest.approx(
        _jsd([0.75, 0.25], [0.25, 0.75]))


def test_cooccurrence_pairs():
    found = run("balance.cooccurrence", planted())
    assert found["category_id"].tolist() == [1, 1]
    assert found["value"].tolist() == [2.0, 1.0]
    assert found["message"].tolist() == [
        "classes 'cat' and 'dog' share 2 images (33% of the images with 'cat', 100% of those "
        "with 'dog')",
        "classes 'cat' and 'bird' share 1 image (17% of the images with 'cat', 100% of those "
        "with 'bird')"]
    one_class = planted()
    one_class.annotations["category_id"] = 1
    assert run("balance.cooccurrence", one_class).empty


def test_no_splits_no_split_findings():
    ds = planted()
    ds.images["split"] = None
    for check_id in ("balance.split_missing_class", "balance.split_share",
                     "balance.split_divergence"):
        assert run(check_id, ds).empty


def test_empty_dataset():
    ds = Dataset()
    for check_id in CHECKS:
        if check_id.startswith("balance."):
            assert run(check_id, ds).empty
    assert balance.class_counts(ds).empty
    assert balance.cooccurrence(ds).shape == (0, 0)


def test_clean_dataset_has_no_warnings():
    for check_id in CHECKS:
        if check_id.startswith("balance."):
            found = run(check_id, clean())
            assert (found["severity"] == "info").all(), check_id


def test_checks_do_not_mutate():
    ds = planted()
    before = (ds.categories.copy(), ds.images.copy(), ds.annotations.copy())
    for check_id in CHECKS:
        if check_id.startswith("balance."):
            run(check_id, ds, imbalance_ratio=2, min_class_count=3)
    for frame, old in zip((ds.categories, ds.images, ds.annotations), before):
        pd.testing.assert_frame_equal(frame, old)


def test_bccd_class_balance():
    root = shared_dataset("bccd", "BCCD")
    pytest.importorskip("annokit.formats.voc", reason="the VOC reader is not written yet")
    import annokit

    ds = annokit.read(root, "voc")
    table = balance.class_counts(ds).set_index("name")
    assert table.loc["RBC", "instances"] == 4155
    assert table.loc["WBC", "instances"] == 372
    assert table.loc["Platelets", "instances"] == 361
    found = run("balance.imbalance", ds)
    assert found["value"][0] == pytest.approx(4155 / 361)  # 11.5x: over the default 10
    counts = run("balance.class_count", ds).set_index("category_id")["message"]
    assert any("'RBC': 4155 instances (85.0%)" in m for m in counts)


def test_split_overlap_from_reader_meta():
    from annokit.checks.balance import split_overlap

    ds = Dataset(images=pd.DataFrame({"id": [1], "file_name": ["a.jpg"]}),
                 meta={"split_overlaps": [{"splits": ["train", "val"], "images": 10}]})
    found = split_overlap(ds, Thresholds())
    assert found["message"].tolist() == [
        "10 images are listed in both 'train' and 'val': the held-out split is not held out"]
    assert found["severity"].tolist() == ["error"] and found["value"].tolist() == [10.0]
    assert split_overlap(Dataset(images=ds.images), Thresholds()).empty
