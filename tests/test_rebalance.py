"""Rebalancing by whole images: LVIS repeat factors, oversampling, undersampling, the
before/after table and the training image list."""
from __future__ import annotations

import math
import os

import numpy as np
import pytest

from annokit import AnnokitError
from annokit.rebalance import (class_counts, format_rebalance_table, image_list, oversample,
                               rebalance, repeat_factors, resample, undersample)

import annokit
from conftest import FIXTURES, dataset, shared_dataset


def make(pairs, n_images, names="ABC", **image_columns):
    """Boxes given as (image id, class letter) pairs; images 1..n_images."""
    return dataset({"image_id": [i for i, _ in pairs],
                    "category_id": [names.index(c) + 1 for _, c in pairs],
                    "x": 0.0, "y": 0.0, "w": 4.0, "h": 4.0},
                   images=n_images, categories=list(names), size=None, file_name="im{}.jpg",
                   meta={"image_root": "/data/images"}, **image_columns)


def lvis_example():
    """8 images: A in images 1-6, B in image 1 only, C in images 6 and 7, image 8 empty."""
    pairs = [(i, "A") for i in range(1, 7)] + [(1, "B"), (6, "C"), (7, "C")]
    return make(pairs, 8)


# -- repeat factors -----------------------------------------------------------------------

def test_repeat_factors_hand_checked():
    ds = lvis_example()
    factors = repeat_factors(ds, threshold=0.5)
    # f_A = 6/8 -> r = max(1, sqrt(0.5/0.75)) = 1; f_B = 1/8 -> r = sqrt(0.5/0.125) = 2;
    # f_C = 2/8 -> r = sqrt(2); an image takes its largest; image 8 (empty) stays 1
    expected = [2.0, 1, 1, 1, 1, math.sqrt(2), math.sqrt(2), 1]
    np.testing.assert_allclose(factors.to_numpy(), expected)
    assert factors.index.tolist() == list(range(1, 9))
    assert (repeat_factors(ds, threshold=0.001) == 1).all()  # nothing that rare


def test_repeat_factors_refuse_bad_threshold():
    with pytest.raises(AnnokitError, match="threshold"):
        repeat_factors(lvis_example(), threshold=0)


def test_repeat_rebalance_copies_images_with_new_ids():
    ds = lvis_example()
    out, table = rebalance(ds, "repeat", threshold=0.5, seed=0)
    copies = out.images.groupby("source_image_id").size()
    assert copies[1] == 2  # factor 2: exactly two
    assert set(copies[[6, 7]]) <= {1, 2}  # sqrt(2): one or two, by the seeded draw
    assert (copies[[2, 3, 4, 5, 8]] == 1).all()
    again = out.images[out.images["source_image_id"] == 1]
    assert again["file_name"].tolist() == ["im1.jpg", "im1.jpg"]
    assert again["id"].iloc[0] == 1 and again["id"].iloc[1] > 8  # a new id
    assert out.images["id"].is_unique and out.annotations["id"].is_unique
    # the copy carries image 1's two boxes (A and B) under new annotation ids
    copy_boxes = out.annotations[out.annotations["image_id"] == again["id"].iloc[1]]
    assert sorted(copy_boxes["category_id"]) == [1, 2]
    assert (copy_boxes["id"] > 9).all()
    assert table.loc["B", ["instances before", "instances after"]].tolist() == [1, 2]
    assert table.loc["B", "factor"] == 2.0
    assert table.loc["A", "instances after"] == 7 + (copies[6] - 1)  # side effect on A
    assert ds.images.shape[0] == 8  # the input is untouched


def test_stochastic_rounding_keeps_the_expected_factor():
    # 1 image of class B in 200 with A: r_B = sqrt(0.02 / (1/200)) = 2, and 40 images of C
    # (f = 0.2): r_C = sqrt(0.1) < 1 -> 1; with t = 0.45: r_C = 1.5 -> 1 or 2 copies
    pairs = [(i, "A") for i in range(1, 201)] + [(1, "B")] + [(i, "C") for i in range(2, 42)]
    ds = make(pairs, 200)
    out, _ = rebalance(ds, "repeat", threshold=0.45, seed=1)
    copies = out.images.groupby("source_image_id").size()
    c_copies = copies[list(range(2, 42))]
    assert set(c_copies) == {1, 2}
    assert abs(c_copies.mean() - 1.5) < 0.2
    a, _ = rebalance(ds, "repeat", threshold=0.45, seed=1)
    assert a.images["source_image_id"].tolist() == out.images["source_image_id"].tolist()


# -- oversample / undersample -------------------------------------------------------------

def over_example():
    """im1: A; im2: A + B; im3: 4 B; im4: 4 B.  A = 2, B = 9 instances."""
    pairs = [(1, "A"), (2, "A"), (2, "B")] + [(3, "B")] * 4 + [(4, "B")] * 4
    return make(pairs, 4, names="AB")


def test_oversample_hand_checked():
    out = oversample(over_example())  # target: the largest class, 9
    copies = out.images.groupby("source_image_id").size().to_dict()
    # A needs 7 more: 3 rounds over (im1, im2), then im1 (all A, so first) once more
    assert copies == {1: 5, 2: 4, 3: 1, 4: 1}
    counts = class_counts(out)
    assert counts.loc["A", "instances"] == 9
    assert counts.loc["B", "instances"] == 12  # the side effect: im2 brings a B each time


def test_oversample_to_a_target():
    out, table = rebalance(over_example(), "oversample", target=4)
    assert table.loc["A", "instances after"] == 4
    assert table.loc["B", "instances after"] >= 9
    with pytest.raises(AnnokitError, match="target"):
        rebalance(over_example(), "oversample", target=0)


def under_example():
    """im1: 6 B; im2: 2 B + 2 C; im3: A + 2 B; im4: A.  B = 10, A = 2, C = 2."""
    pairs = ([(1, "B")] * 6 + [(2, "B")] * 2 + [(2, "C")] * 2 + [(3, "A"), (3, "B"), (3, "B"),
                                                                 (4, "A")])
    return make(pairs, 4)


def test_undersample_hand_checked():
    out = undersample(under_example(), cap=5)
    assert out.images["id"].tolist() == [2, 3, 4]  # im1 (all B) goes first and suffices
    assert class_counts(out)["instances"].to_dict() == {"A": 2, "B": 4, "C": 2}


def test_undersample_protects_rare_classes_and_says_so():
    out, table = rebalance(under_example(), "undersample", cap=3)
    # im2 holds C (2 <= 3) and im3 holds A: both kept, so B stays at 4
    assert out.images["id"].tolist() == [2, 3, 4]
    assert out.notes.of(source="rebalance").texts() == [
        "B: 4 instances remain above the cap of 3: every remaining image holding it also "
        "holds a class at or below the cap"]
    out = undersample(under_example(), cap=3, protect_rare=False)
    # without protection: im1, then im3 (B is 2/3 of it) -> B = 2, A = 1
    assert out.images["id"].tolist() == [2, 4]
    assert class_counts(out)["instances"].to_dict() == {"A": 1, "B": 2, "C": 2}


def test_undersample_needs_a_cap_and_methods_are_checked():
    with pytest.raises(AnnokitError, match="cap"):
        rebalance(under_example(), "undersample")
    with pytest.raises(AnnokitError, match="unknown rebalance method"):
        rebalance(under_example(), "smote")


def test_only_split_leaves_the_others_alone():
    ds = make([(1, "A"), (2, "B"), (3, "B"), (4, "A")], 4, names="AB",
              split=["train", "train", "train", "val"])
    out, table = rebalance(ds, "oversample", only_split="train")
    copies = out.images.groupby("source_image_id").size().to_dict()
    assert copies == {1: 2, 2: 1, 3: 1, 4: 1}  # train: A 1 -> 2 = B; val untouched
    assert table.loc["A", ["instances before", "instances after"]].tolist() == [1, 2]
    assert table.loc["all", ["images before", "images after"]].tolist() == [3, 4]
    with pytest.raises(AnnokitError, match="no images in split 'test'"):
        rebalance(ds, "repeat", only_split="test")


# -- resampling mechanics and outputs -----------------------------------------------------

def test_resample_ids_hand_checked():
    ds = make([(1, "A"), (1, "B"), (2, "A"), (3, "C")], 3)
    out = resample(ds, [2, 1, 0])
    assert out.images[["id", "file_name", "source_image_id"]].values.tolist() == [
        [1, "im1.jpg", 1], [4, "im1.jpg", 1], [2, "im2.jpg", 2]]
    assert out.annotations[["id", "image_id", "category_id"]].values.tolist() == [
        [1, 1, 1], [5, 4, 1], [2, 1, 2], [6, 4, 2], [3, 2, 1]]
    with pytest.raises(AnnokitError):
        resample(ds, [1, 1])


def test_image_list_with_repeats():
    out = resample(make([(1, "A"), (2, "B")], 2), [3, 1])
    assert image_list(out) == ["/data/images/im1.jpg"] * 3 + ["/data/images/im2.jpg"]
    assert image_list(out, absolute=False) == ["im1.jpg"] * 3 + ["im2.jpg"]


def test_rebalance_table_and_text():
    out, table = rebalance(over_example(), "oversample")
    assert list(table.columns) == ["instances before", "instances after", "factor",
                                   "images before", "images after", "share before",
                                   "share after"]
    assert table.loc["A"].tolist()[:5] == [2, 9, 4.5, 2, 9]
    assert table.loc["all", ["instances before", "instances after", "images before",
                             "images after"]].tolist() == [11, 21, 4, 11]
    assert table.loc["A", "share before"] == pytest.approx(2 / 11)
    lines = format_rebalance_table(table).splitlines()
    assert lines[1].split() == ["A", "2", "9", "4.50x", "2", "9", "18.2%", "42.9%"]
    assert lines[-1].split()[0] == "all"


# -- a real dataset -----------------------------------------------------------------------

def test_bccd_oversample_and_repeat():
    path = shared_dataset("bccd", "BCCD")
    try:
        import annokit.formats.voc  # noqa: F401
    except ImportError:
        pytest.skip("the VOC reader is not there yet")
    import annokit

    ds = annokit.read(path, "voc")
    counts = class_counts(ds)
    assert counts.loc[["RBC", "WBC", "Platelets"], "instances"].tolist() == [4155, 372, 361]
    out, table = rebalance(ds, "oversample", target=1000)
    assert (table.drop(index="all")["instances after"] >= 1000).all()
    assert table.loc["RBC", "factor"] > 2  # the side effect: RBC is in nearly every image
    factors = repeat_factors(ds, threshold=0.99)
    f_platelets = counts.loc["Platelets", "images"] / len(ds.images)
    assert factors.max() == pytest.approx(math.sqrt(0.99 / f_platelets))


def test_absurd_targets_are_refused_before_any_copy():
    ds = annokit.read(FIXTURES / "shapes" / "voc")
    with pytest.raises(AnnokitError, match=r"would make [\d,]+ images \(at most 10,000,000\)"):
        rebalance(ds, "oversample", target=10 ** 9)


def test_only_split_list_names_that_split_alone():
    ds = annokit.read(FIXTURES / "shapes" / "voc")
    out, _ = rebalance(ds, "repeat", threshold=0.5, only_split="train")
    listed = image_list(out, split="train")
    train = set(ds.images.loc[ds.images["split"] == "train", "file_name"])
    assert listed and {os.path.basename(p) for p in listed} <= train
    assert len(listed) == int((out.images["split"] == "train").sum())
