"""Splitting: random, stratified, iterative (multi-label) stratification, groups,
near-duplicates, kept splits, k-fold, and the per-class table."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from annokit import AnnokitError, Dataset
from annokit.notes import LayerNotes
from annokit.split import (components, fold_splits, format_split_table, kfold,
                           split, split_table)

import annokit
from conftest import FIXTURES, dataset, shared_dataset


def split_notes(ds) -> list[str]:
    """What the split said (annokit.notes: source "split")."""
    return ds.notes.of(source="split").texts()


def make(image_ids, labels, *, kind="box", file_names=None, n_images=None, **image_columns):
    """A dataset with one annotation per (image id, category id) pair given."""
    n = n_images or max(image_ids)
    cats = sorted(set(labels))
    images = {"id": np.arange(1, n + 1), "file_name": file_names} if file_names else n
    return dataset({"image_id": image_ids, "category_id": labels, "kind": kind}, images=images,
                   categories={"id": cats, "name": [f"c{c}" for c in cats]}, size=None,
                   **image_columns)


def multilabel(n_images=2000, seed=7) -> Dataset:
    """Detection-like data: 12 classes with Zipf frequencies (1..9 boxes an image), plus
    four rare classes of 10, 12, 15 and 25 boxes, one per image, riding on random images."""
    rng = np.random.default_rng(seed)
    p = 1 / np.arange(1, 13) ** 1.2
    boxes = rng.integers(1, 10, n_images)
    image_ids = np.repeat(np.arange(1, n_images + 1), boxes)
    labels = rng.choice(12, size=len(image_ids), p=p / p.sum()) + 1
    rare_ids, rare_labels = [], []
    for cls, count in zip((13, 14, 15, 16), (10, 12, 15, 25)):
        rare_ids += rng.choice(n_images, count, replace=False).tolist()
        rare_labels += [cls] * count
    return make(np.r_[image_ids, np.array(rare_ids) + 1], np.r_[labels, rare_labels],
                n_images=n_images)


def shares_ok(table, targets, tolerance=0.05, min_count=10):
    """Every class with >= min_count instances is in every split within tolerance."""
    classes = table.drop(index=["all instances", "images"])
    classes = classes[classes["total"] >= min_count]
    for s, target in targets.items():
        assert (classes[s] > 0).all(), classes[s]
        gap = (classes[f"{s} share"] - target).abs()
        assert (gap <= tolerance).all(), gap[gap > tolerance]
    return classes


# -- ratios, methods, determinism --------------------------------------------------------

def test_random_split_has_exact_sizes_and_auto_picks_random():
    ds = Dataset(images=pd.DataFrame({"id": range(1, 101),
                                      "file_name": [f"{i}.jpg" for i in range(100)]}))
    out = split(ds, (0.7, 0.2, 0.1), near_duplicates=False)
    assert out.meta["split_info"]["method"] == "random"
    assert out.images["split"].value_counts().to_dict() == {"train": 70, "val": 20, "test": 10}
    assert ds.images["split"].isna().all()  # the input is not touched


def test_two_ratios_use_train_and_val():
    ds = make(list(range(1, 11)), [1] * 10)
    out = split(ds, (0.8, 0.2), near_duplicates=False)
    assert out.images["split"].value_counts().to_dict() == {"train": 8, "val": 2}


@pytest.mark.parametrize("ratios, names, message", [
    ((0.8, 0.1), ("a", "b", "c"), "2 ratios need 2 split names"),
    ((0.8, 0.3), ("train", "val"), "sum to 1"),
    ((1.1, -0.1), ("train", "val"), ">= 0"),
    ((1.0,), ("train",), "at least two"),
    ((0.5, 0.5), ("a", "a"), "must differ"),
])
def test_bad_ratios_are_refused(ratios, names, message):
    with pytest.raises(AnnokitError, match=message):
        split(make([1], [1]), ratios, names=names, near_duplicates=False)


def test_unknown_method_is_refused():
    with pytest.raises(AnnokitError, match="unknown split method"):
        split(make([1], [1]), method="magic", near_duplicates=False)


def test_stratified_single_label_hand_checked():
    # 50 / 30 / 20 images of classes a, b, c: 80/10/10 of each class exactly
    labels = [1] * 50 + [2] * 30 + [3] * 20
    ds = make(list(range(1, 101)), labels, kind="label")
    out = split(ds, near_duplicates=False)
    assert out.meta["split_info"]["method"] == "stratified"
    table = split_table(out)
    assert table.loc["c1", ["train", "val", "test"]].tolist() == [40, 5, 5]
    assert table.loc["c2", ["train", "val", "test"]].tolist() == [24, 3, 3]
    assert table.loc["c3", ["train", "val", "test"]].tolist() == [16, 2, 2]
    assert table.loc["images", ["train", "val", "test"]].tolist() == [80, 10, 10]


def test_stratified_keeps_background_images_in_proportion():
    # 40 labelled images of one class and 10 without annotations
    ds = make(list(range(1, 41)), [1] * 40, n_images=50)
    out = split(ds, near_duplicates=False, method="stratified")
    empty = out.images["id"] > 40
    assert out.images["split"][empty].value_counts().to_dict() == {"train": 8, "val": 1,
                                                                    "test": 1}


def test_multilabel_iterative_stratification_keeps_every_class_in_every_split():
    ds = multilabel()
    out = split(ds, near_duplicates=False, seed=3)
    assert out.meta["split_info"]["method"] == "multilabel"
    table = split_table(out)
    classes = shares_ok(table, {"train": 0.8, "val": 0.1, "test": 0.1})
    assert len(classes) == 16  # the rare classes (10..25 boxes) are all there
    # the rarest class: 10 boxes, one an image, so exactly 8 / 1 / 1
    assert table.loc["c13", ["train", "val", "test"]].tolist() == [8, 1, 1]
    assert table["max gap"].drop(index="images").max() < 5
    # the table agrees with a direct count
    split_of = out.images.set_index("id")["split"]
    direct = out.annotations["image_id"].map(split_of).value_counts()
    assert table.loc["all instances", ["train", "val", "test"]].tolist() == \
        [direct["train"], direct["val"], direct["test"]]
    assert abs(table.loc["images", "train share"] - 0.8) < 0.02


def test_plain_random_split_is_worse_on_rare_classes():
    """Why stratification: a random split loses or skews the rare classes."""
    ds = multilabel()
    table = split_table(split(ds, near_duplicates=False, method="random", seed=3))
    rare = table.loc[["c13", "c14", "c15", "c16"]]
    assert (rare["max gap"] > 5).any()


def test_deterministic_for_a_seed():
    ds = multilabel(500)
    a = split(ds, near_duplicates=False, seed=11).images["split"]
    b = split(ds, near_duplicates=False, seed=11).images["split"]
    c = split(ds, near_duplicates=False, seed=12).images["split"]
    assert a.tolist() == b.tolist()
    assert a.tolist() != c.tolist()


def test_zero_ratio_split_gets_nothing():
    out = split(multilabel(300), (0.9, 0.1, 0.0), near_duplicates=False)
    assert set(out.images["split"]) == {"train", "val"}


def test_large_split_runs(benchmark_size=20000):
    """20,000 images and ~100,000 boxes: plain numbers, no timing assertion."""
    ds = multilabel(benchmark_size)
    out = split(ds, near_duplicates=False)
    shares_ok(split_table(out), {"train": 0.8, "val": 0.1, "test": 0.1}, tolerance=0.01,
              min_count=1000)


# -- groups -------------------------------------------------------------------------------

def video_dataset(n_videos=60, frames=8, seed=0):
    """Frames of videos (``video012_f3.jpg``) with a few classes per frame."""
    rng = np.random.default_rng(seed)
    names = [f"video{v:03d}_f{f}.jpg" for v in range(n_videos) for f in range(frames)]
    n = len(names)
    boxes = rng.integers(1, 5, n)
    ids = np.repeat(np.arange(1, n + 1), boxes)
    labels = rng.choice(5, size=len(ids), p=[0.5, 0.2, 0.15, 0.1, 0.05]) + 1
    return make(ids, labels, file_names=names, n_images=n,
                patient=[f"p{v // 2}" for v in range(n_videos) for _ in range(frames)])


def groups_in_one_split(out, keys):
    per_group = pd.Series(out.images["split"].to_numpy()).groupby(np.asarray(keys)).nunique()
    return (per_group == 1).all()


def test_group_by_regex_first_group():
    ds = video_dataset()
    out = split(ds, group_by=r"^(video\d+)_", near_duplicates=False)
    videos = ds.images["file_name"].str.slice(0, 8)
    assert groups_in_one_split(out, videos)
    assert out.meta["split_info"]["units"] == 60
    counts = out.images["split"].value_counts()
    assert counts.sum() == 480 and set(counts.index) == {"train", "val", "test"}
    # whole videos of 8 frames, about 48 / 6 / 6 of them (class balance comes first)
    assert (counts % 8 == 0).all()
    for s, target in {"train": 384, "val": 48, "test": 48}.items():
        assert abs(counts[s] - target) <= 16


def test_group_by_regex_whole_match_and_column():
    ds = video_dataset()
    out = split(ds, group_by=r"video\d+", near_duplicates=False)
    assert groups_in_one_split(out, ds.images["file_name"].str.slice(0, 8))
    out = split(ds, group_by="patient", near_duplicates=False)
    assert groups_in_one_split(out, ds.images["patient"])
    assert out.meta["split_info"]["units"] == 30


def test_group_by_pattern_that_matches_nothing_is_refused():
    with pytest.raises(AnnokitError, match="matches no file name"):
        split(video_dataset(4), group_by=r"patient_(\d+)", near_duplicates=False)
    with pytest.raises(AnnokitError, match="neither an image column"):
        split(video_dataset(4), group_by="(unclosed", near_duplicates=False)


def test_images_outside_every_group_are_groups_of_their_own():
    ds = video_dataset(10)
    names = ds.images["file_name"].tolist()
    ds.images["file_name"] = ["a.jpg", "b.jpg", "c.jpg", "d.jpg"] + names[4:]
    out = split(ds, group_by=r"^(video\d+)_", near_duplicates=False)
    assert any("4 images have no group" in t for t in split_notes(out))
    assert out.meta["split_info"]["units"] == 4 + 10 - 1 + 1  # video000 lost half its frames


def test_grouped_multilabel_keeps_shares_close():
    ds = video_dataset(200, 5, seed=4)
    out = split(ds, group_by=r"^(video\d+)_", near_duplicates=False, seed=1)
    assert groups_in_one_split(out, ds.images["file_name"].str.slice(0, 8))
    shares_ok(split_table(out), {"train": 0.8, "val": 0.1, "test": 0.1})


def test_components():
    assert components(6, np.array([0, 2, 4]), np.array([1, 3, 2])).tolist() == \
        [0, 0, 1, 1, 1, 2]
    assert components(3, np.zeros(0, int), np.zeros(0, int)).tolist() == [0, 1, 2]
    assert components(0, np.zeros(0, int), np.zeros(0, int)).tolist() == []
    # self loops and an edge given many times (bool weights never sum to a dropped zero)
    assert components(3, np.array([1] * 300 + [2]), np.array([1] * 300 + [2])).tolist() == \
        [0, 1, 2]
    assert components(2, np.zeros(256, int), np.ones(256, int)).tolist() == [0, 0]
    # a long chain, joined from its far end
    n = 1000
    labels = components(n, np.arange(1, n), np.arange(n - 1))
    assert (labels == 0).all()


def union_find_components(n, a, b):
    """The hand-written union-find that split used before scipy's connected_components:
    the reference the labels (values and order) must still equal."""
    parent = np.arange(n)
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    while True:
        ra, rb = parent[a], parent[b]
        differ = ra != rb
        if not differ.any():
            break
        np.minimum.at(parent, np.maximum(ra, rb)[differ], np.minimum(ra, rb)[differ])
        while True:
            grand = parent[parent]
            if (grand == parent).all():
                break
            parent = grand
    return np.unique(parent, return_inverse=True)[1].reshape(-1)


@pytest.mark.parametrize("seed", range(20))
def test_components_equal_the_old_union_find_on_random_graphs(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    edges = int(rng.integers(0, 2 * n))
    a, b = rng.integers(0, n, edges), rng.integers(0, n, edges)
    assert components(n, a, b).tolist() == union_find_components(n, a, b).tolist()


@pytest.mark.parametrize("name, path, pattern", [
    ("bccd", ("bccd", "BCCD"), r"^BloodImage_000(\d)"),
    ("raccoon", ("raccoon",), r"^(raccoon-\d\d)"),
])
def test_components_equal_the_old_groups_on_real_datasets(name, path, pattern):
    """The groups split forms on a real dataset (a file-name pattern and near-duplicate
    images, here within 12 bits of perceptual hash) are those the union-find formed."""
    from annokit.split import Grouping, _first_of_code, _group_codes, _near_duplicate_pairs, _units

    ds = annokit.read(shared_dataset(*path), "voc")
    n, notes = len(ds.images), LayerNotes("split")
    near_a, near_b = _near_duplicate_pairs(ds, 12, notes)
    assert notes == [] and len(near_a) >= n  # every image found: its own sha and phash
    a = np.concatenate([np.arange(n), near_a])
    b = np.concatenate([_first_of_code(_group_codes(ds, pattern, notes)), near_b])
    old = union_find_components(n, a, b)
    assert 1 < old.max() + 1 < n  # groups formed, and more than one
    assert components(n, a, b).tolist() == old.tolist()
    units, info = _units(ds, Grouping(pattern, True, 12), LayerNotes("split"))
    assert units.tolist() == old.tolist() and info["units"] == old.max() + 1


# -- near-duplicates ----------------------------------------------------------------------

def picture_dataset(tmp_path, n=24, copies=6):
    """n smooth random pictures (PNG, 64x48) and, for the first ``copies`` of them, a
    resized (96x72) JPEG re-encode: near-duplicates with other bytes."""
    rng = np.random.default_rng(5)
    names = []
    for i in range(n):
        small = (rng.random((6, 8, 3)) * 255).astype(np.uint8)
        image = Image.fromarray(small).resize((64, 48), Image.Resampling.BICUBIC)
        image.save(tmp_path / f"pic{i:02d}.png")
        names.append(f"pic{i:02d}.png")
        if i < copies:
            image.resize((96, 72), Image.Resampling.BILINEAR).save(
                tmp_path / f"pic{i:02d}_copy.jpg", quality=80)
            names.append(f"pic{i:02d}_copy.jpg")
    ids = list(range(1, len(names) + 1))
    ds = make(ids, [1 + i % 2 for i in range(len(names))], file_names=names)
    ds.meta["image_root"] = str(tmp_path)
    return ds


def test_near_duplicates_never_cross_splits(tmp_path):
    ds = picture_dataset(tmp_path)
    stem = ds.images["file_name"].str.slice(0, 5)
    for seed in range(8):  # with 1/3 of the images in pairs, some seed would split one
        out = split(ds, (0.5, 0.25, 0.25), seed=seed)
        assert groups_in_one_split(out, stem)
    assert out.meta["split_info"]["grouped_images"] == 12
    assert out.meta["split_info"]["units"] == 24


def test_without_near_duplicate_grouping_pairs_can_split(tmp_path):
    ds = picture_dataset(tmp_path)
    stem = ds.images["file_name"].str.slice(0, 5)
    crossed = [not groups_in_one_split(split(ds, (0.5, 0.25, 0.25), seed=s,
                                             near_duplicates=False), stem)
               for s in range(8)]
    assert any(crossed)


def test_exact_duplicates_are_grouped(tmp_path):
    ds = picture_dataset(tmp_path, n=10, copies=0)
    (tmp_path / "pic03.png").write_bytes((tmp_path / "pic07.png").read_bytes())
    for seed in range(6):
        out = split(ds, (0.5, 0.5), seed=seed)
        s = out.images.set_index("file_name")["split"]
        assert s["pic03.png"] == s["pic07.png"]


def test_absent_images_are_noted_once_and_split_on_annotations(tmp_path):
    ds = multilabel(200)
    ds.meta["image_root"] = str(tmp_path)  # an empty folder
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a note, never a warning
        out = split(ds)
    notes = split_notes(out)
    assert len(notes) == 1 and "absent" in notes[0]
    assert "notes" not in out.meta["split_info"] and not ds.notes  # the input keeps its own
    assert out.images["split"].notna().all()
    assert any("no image folder known" in t for t in split_notes(split(multilabel(50))))


def test_some_absent_images_are_named_in_a_count(tmp_path):
    ds = picture_dataset(tmp_path, n=6, copies=2)
    (tmp_path / "pic05.png").unlink()
    out = split(ds, (0.5, 0.5))
    assert any("1 of 8 image files absent" in t for t in split_notes(out))
    assert out.meta["split_info"]["grouped_images"] == 4


# -- keeping existing splits --------------------------------------------------------------

def test_keep_existing_assigns_only_new_images_towards_targets():
    ds = make(list(range(1, 101)), [1] * 100)
    ds.images.loc[:19, "split"] = "train"   # 20 already in train
    ds.images.loc[20:24, "split"] = "val"   # 5 already in val
    out = split(ds, keep_existing=True, near_duplicates=False)
    assert (out.images["split"][:20] == "train").all()
    assert (out.images["split"][20:25] == "val").all()
    # 75 new images fill the targets exactly: 60 train, 5 val, 10 test
    assert out.images["split"].value_counts().to_dict() == {"train": 80, "val": 10, "test": 10}


def test_keep_existing_keeps_foreign_split_names_out_of_the_targets():
    ds = make(list(range(1, 61)), [1] * 60)
    ds.images.loc[:9, "split"] = "holdout"
    out = split(ds, (0.8, 0.2), keep_existing=True, near_duplicates=False)
    counts = out.images["split"].value_counts().to_dict()
    assert counts == {"holdout": 10, "train": 40, "val": 10}


def test_keep_existing_pulls_new_group_members_into_the_groups_split():
    ds = video_dataset(20, 4)
    ds.images.loc[0, "split"] = "test"  # video000 frame 0 is already in test
    out = split(ds, keep_existing=True, group_by=r"^(video\d+)_", near_duplicates=False)
    assert (out.images["split"][:4] == "test").all()
    assert groups_in_one_split(out, ds.images["file_name"].str.slice(0, 8))


def test_keep_existing_multilabel_approaches_targets():
    ds = multilabel(1000)
    first = split(ds, near_duplicates=False, seed=1)
    half = first.copy()
    forget = np.arange(len(half.images)) % 2 == 0  # forget every other image's split
    half.images["split"] = np.where(forget, None, half.images["split"].to_numpy(object))
    out = split(half, keep_existing=True, near_duplicates=False, seed=2)
    kept = half.images["split"].notna()
    assert (out.images["split"][kept] == first.images["split"][kept]).all()
    shares_ok(split_table(out), {"train": 0.8, "val": 0.1, "test": 0.1})


def test_moving_images_between_split_folders_keeps_paths(tmp_path):
    # three images live in images/train and one in images/val; a 2 / 2 split moves some
    images = pd.DataFrame({"id": [1, 2, 3, 4], "file_name": ["a.jpg", "b.jpg", "c.jpg", "d.jpg"],
                           "split": ["train", "train", "train", "val"]})
    roots = {"train": str(tmp_path / "images" / "train"), "val": str(tmp_path / "images" / "val")}
    ds = Dataset(images=images, meta={"image_root": None, "split_roots": roots})
    before = dict(zip(ds.images["id"], ds.image_paths()))
    out = split(ds, (0.5, 0.5), names=("train", "val"), near_duplicates=False)
    assert any("images moved between split folders" in t for t in split_notes(out))
    assert out.images["split"].value_counts().to_dict() == {"train": 2, "val": 2}
    assert dict(zip(out.images["id"], out.image_paths())) == before  # same files
    assert out.meta["image_root"] == str(tmp_path / "images")
    assert out.meta["split_roots"] == {}
    assert out.images["file_name"].tolist() == ["train/a.jpg", "train/b.jpg", "train/c.jpg",
                                                "val/d.jpg"]


def test_fold_parts_say_when_images_move_between_split_folders(tmp_path):
    """fold_splits moves images out of their split folders as split does: each part says so."""
    images = pd.DataFrame({"id": [1, 2, 3, 4], "file_name": ["a.jpg", "b.jpg", "c.jpg", "d.jpg"],
                           "split": ["train", "train", "val", "val"]})
    roots = {s: str(tmp_path / "images" / s) for s in ("train", "val")}
    ds = Dataset(images=images, meta={"image_root": None, "split_roots": roots})
    ds.images["fold"] = [0, 1, 0, 1]
    before = dict(zip(ds.images["id"], ds.image_paths()))
    for part in fold_splits(ds):
        assert any("images moved between split folders" in t for t in split_notes(part))
        assert dict(zip(part.images["id"], part.image_paths())) == before  # same files


# -- k-fold -------------------------------------------------------------------------------

def test_kfold_each_image_in_exactly_one_validation_fold():
    ds = multilabel(500)
    folded = kfold(ds, 5, near_duplicates=False)
    sizes = folded.images["fold"].value_counts().sort_index()
    assert sizes.index.tolist() == [0, 1, 2, 3, 4]
    assert (abs(sizes - 100) <= 3).all()  # class balance first, then image counts
    parts = list(fold_splits(folded))
    assert len(parts) == 5
    val = np.stack([(p.images["split"] == "val").to_numpy() for p in parts])
    assert (val.sum(axis=0) == 1).all()
    assert all(set(p.images["split"]) == {"train", "val"} for p in parts)
    # stratified: every class's share of each fold near 1/5
    table = split_table(Dataset(folded.categories,
                                folded.images.assign(split=folded.images["fold"].astype(str)),
                                folded.annotations),
                        targets={str(f): 0.2 for f in range(5)})
    shares_ok(table, {str(f): 0.2 for f in range(5)})


def test_kfold_keeps_groups_together_and_fold_splits_makes_folds():
    ds = video_dataset(30, 4)
    parts = list(fold_splits(ds, 3, group_by=r"^(video\d+)_", near_duplicates=False))
    videos = ds.images["file_name"].str.slice(0, 8)
    for p in parts:
        assert groups_in_one_split(p, videos)
    val = np.stack([(p.images["split"] == "val").to_numpy() for p in parts])
    assert (val.sum(axis=0) == 1).all()
    assert val.sum(axis=1).tolist() == [40, 40, 40]


def test_kfold_refuses_too_few():
    with pytest.raises(AnnokitError, match="k >= 2"):
        kfold(make([1, 2], [1, 1]), 1, near_duplicates=False)
    with pytest.raises(AnnokitError, match="cannot make 5 folds of 2 images"):
        kfold(make([1, 2], [1, 1]), 5, near_duplicates=False)


# -- the table ----------------------------------------------------------------------------

def test_split_table_hand_checked():
    # 4 images: 1, 2 train; 3 val; 4 test. c1: 3 boxes in train, 1 in val; c2: 1 in test
    ds = make([1, 1, 2, 3, 4], [1, 1, 1, 1, 2],
              split=["train", "train", "val", "test"])
    table = split_table(ds, {"train": 0.5, "val": 0.25, "test": 0.25})
    assert table.loc["c1", ["total", "train", "val", "test"]].tolist() == [4, 3, 1, 0]
    assert table.loc["c1", "train share"] == 0.75
    assert table.loc["c1", "max gap"] == pytest.approx(25.0)  # test: 0% against 25%
    assert table.loc["c2", ["total", "train", "val", "test"]].tolist() == [1, 0, 0, 1]
    assert table.loc["all instances", ["train", "val", "test"]].tolist() == [3, 1, 1]
    assert table.loc["images", ["train", "val", "test"]].tolist() == [2, 1, 1]
    text = format_split_table(table)
    lines = text.splitlines()
    assert lines[0].split() == ["class", "total", "train", "(50%)", "val", "(25%)", "test",
                                "(25%)", "max", "gap"]
    assert lines[1].split() == ["c1", "4", "3", "75.0%", "1", "25.0%", "0", "0.0%", "25.0",
                                "pp"]
    assert lines[-1].split()[:3] == ["images", "4", "2"]


def test_split_table_without_targets_and_with_unsplit_images():
    ds = make([1, 2, 3], [1, 1, 1], split=["train", None, "val"])
    table = split_table(ds)
    assert list(table.columns) == ["total", "train", "train share", "val", "val share",
                                   "(none)", "(none) share", "max gap"]
    assert table.loc["c1", ["train", "val", "(none)"]].tolist() == [1, 1, 1]
    assert "max gap" not in format_split_table(table)


# -- a real dataset -----------------------------------------------------------------------

def read_bccd():
    path = shared_dataset("bccd", "BCCD")
    try:
        import annokit.formats.voc  # noqa: F401
    except ImportError:
        pytest.skip("the VOC reader is not there yet")
    import annokit

    return annokit.read(path, "voc")


def test_bccd_multilabel_split_80_10_10():
    ds = read_bccd()
    out = split(ds, (0.8, 0.1, 0.1), seed=0)  # near-duplicates grouped from the images
    info = out.meta["split_info"]
    assert info["method"] == "multilabel" and split_notes(out) == []
    table = split_table(out)
    classes = shares_ok(table, {"train": 0.8, "val": 0.1, "test": 0.1})
    assert set(classes.index) == {"RBC", "WBC", "Platelets"}
    assert table["total"].loc[["RBC", "WBC", "Platelets"]].tolist() == [4155, 372, 361]
    assert table["max gap"].max() < 1  # recorded in docs/split.md


def test_kfold_with_fewer_groups_than_folds_is_an_error():
    ds = annokit.read(FIXTURES / "shapes" / "voc")
    groups = ds.images["file_name"].str.slice(0, 9)  # shapes_00 and shapes_01: 2 groups
    with pytest.raises(AnnokitError, match="cannot make 3 folds: the images form only 2 groups"):
        kfold(ds, 3, group_by=groups, near_duplicates=False)
    assert kfold(ds, 2, group_by=groups, near_duplicates=False).images["fold"].nunique() == 2
