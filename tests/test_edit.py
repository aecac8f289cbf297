"""annokit.edit: class maps, --where filters, samples, merge, apply reviewed fixes, diff;
the library on small built datasets and the CLI on the real datasets."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import annokit
from annokit import AnnokitError, Dataset
from annokit.edit import (apply_fixes, diff, drop_classes, drop_empty_images, keep_classes,
                          map_classes, merge, parse_class_map,
                          sample_images, where)
from annokit.edit.where import WhereError, parse
from annokit.score import Scores, write_scores
from annokit.score.contract import read_scores
from conftest import assert_same_content, dataset, run_cli as run, shared_dataset


def make(boxes, names=("car", "bus", "bike"), n_images=3, **image_columns):
    """Boxes as (image id, class name, x, y, w, h); images 1..n_images, 100x80."""
    cats = {"id": [1, 2, 5][:len(names)], "name": list(names)}
    ids = dict(zip(cats["name"], cats["id"]))
    columns = {"image_id": [b[0] for b in boxes], "category_id": [ids[b[1]] for b in boxes],
               **{k: [float(b[i]) for b in boxes] for i, k in enumerate("xywh", 2)}}
    return dataset(columns, images=n_images, categories=cats, file_name="im{}.jpg",
                   meta={"source_format": "coco"}, **image_columns)


BOXES = [(1, "car", 0, 0, 10, 10), (1, "bus", 20, 20, 4, 4), (2, "bike", 5, 5, 30, 30),
         (2, "car", 50, 50, 2, 3)]


# -- class maps ---------------------------------------------------------------------------

def test_parse_class_map_text_and_files(tmp_path):
    assert parse_class_map("car=vehicle, bus=vehicle") == {"car": "vehicle", "bus": "vehicle"}
    (tmp_path / "m.yaml").write_text("car: vehicle\nbus: vehicle\n")
    (tmp_path / "m.json").write_text('{"car": "vehicle"}')
    (tmp_path / "m.csv").write_text("old,new\ncar,vehicle\nbike,cycle\n")
    assert parse_class_map(tmp_path / "m.yaml") == {"car": "vehicle", "bus": "vehicle"}
    assert parse_class_map(tmp_path / "m.json") == {"car": "vehicle"}
    assert parse_class_map(tmp_path / "m.csv") == {"car": "vehicle", "bike": "cycle"}


@pytest.mark.parametrize("spec, says", [
    ("car", "is not old=new"), ("car=a,car=b", "mapped twice"), ("=x", "is not old=new"),
    ("", "empty")])
def test_parse_class_map_refuses(spec, says):
    with pytest.raises(AnnokitError, match=says):
        parse_class_map(spec)


def test_map_classes_renames_and_merges_keeping_ids():
    ds = make(BOXES)
    out = map_classes(ds, {"car": "vehicle", "bus": "vehicle"})
    assert out.categories[["id", "name"]].values.tolist() == [[1, "vehicle"], [5, "bike"]]
    assert out.annotations["category_id"].tolist() == [1, 1, 5, 1]
    # into an existing class: it keeps its id
    out = map_classes(ds, {"car": "bike"})
    assert out.categories[["id", "name"]].values.tolist() == [[2, "bus"], [5, "bike"]]
    assert out.annotations["category_id"].tolist() == [5, 2, 5, 5]
    # a swap of two names is two renames; the input is untouched
    out = map_classes(ds, {"car": "bus", "bus": "car"})
    assert out.categories["name"].tolist() == ["bus", "car", "bike"]
    assert ds.categories["name"].tolist() == ["car", "bus", "bike"]


def test_unknown_class_lists_the_classes():
    ds = make(BOXES)
    for call in (lambda: map_classes(ds, {"truck": "x"}), lambda: keep_classes(ds, "truck"),
                 lambda: drop_classes(ds, ["truck"])):
        with pytest.raises(AnnokitError, match="no class named 'truck'; the classes are "
                                               "car, bus, bike"):
            call()


def test_keep_and_drop_classes_keep_images():
    ds = make(BOXES)
    kept = keep_classes(ds, "car")
    assert kept.categories["name"].tolist() == ["car"]
    assert len(kept.annotations) == 2 and len(kept.images) == 3
    dropped = drop_classes(ds, "car,bus")
    assert dropped.categories["name"].tolist() == ["bike"]
    assert dropped.annotations["id"].tolist() == [3]


# -- filters ------------------------------------------------------------------------------

def test_where_on_annotations_and_images():
    ds = make(BOXES, split=["train", "val", "train"], n_images=3)
    assert where(ds, "w * h >= 36").annotations["id"].tolist() == [1, 3]
    assert where(ds, 'category == "car"').annotations["id"].tolist() == [1, 4]
    assert where(ds, 'category in ["bus", "bike"] and not x > 10').annotations["id"] \
        .tolist() == [3]
    assert where(ds, "0 < w < 10").annotations["id"].tolist() == [2, 4]
    assert where(ds, "area > 50 or h == 3").annotations["id"].tolist() == [1, 3, 4]
    train = where(ds, 'split == "train"')  # image columns only: whole images
    assert train.images["id"].tolist() == [1, 3]
    assert train.annotations["id"].tolist() == [1, 2]
    assert len(where(ds, "width >= 640").images) == 0
    # an image column beside an annotation column: annotations, images kept
    mixed = where(ds, 'split == "val" and w > 5')
    assert mixed.annotations["id"].tolist() == [3] and len(mixed.images) == 3


@pytest.mark.parametrize("expr, says", [
    ("foo > 1", "unknown column 'foo'; the columns are id, image_id"),
    ("w >", "bad syntax"),
    ("__import__('os').system('true')", "a function call is not allowed"),
    ("w.real > 1", "an attribute"),
    ("w ** 99 > 1", "'**' is not allowed"),
    ("[x for x in w]", "is not allowed"),
    ("(lambda: 1)()", "is not allowed"),
    ("'a' * 10 == 'aa'", "arithmetic takes numbers"),
    ("w", "is not a condition"),
    ("w > 1 and 3", "'and', 'or' and 'not' join conditions"),
    ("category in 'car'", "'in' takes a list"),
    ("category > 3", "cannot be evaluated"),
    ("", "needs an expression")])
def test_where_refuses_unsafe_or_bad_expressions(expr, says):
    ds = make(BOXES)
    with pytest.raises(WhereError, match=None) as info:
        where(ds, expr)
    assert says in str(info.value), str(info.value)
    assert "\n" not in str(info.value)


def test_where_position_is_named():
    with pytest.raises(WhereError, match="at column 10: unknown column 'nope'"):
        where(make(BOXES), "h > 1 or nope == 2")
    with pytest.raises(WhereError, match="at column 11: a function call"):
        parse("w > 1 and open('x')")


def test_drop_empty_and_sample():
    ds = make(BOXES, n_images=5)
    assert drop_empty_images(ds).images["id"].tolist() == [1, 2]
    a = sample_images(ds, 3, seed=4)
    b = sample_images(ds, 0.6, seed=4)
    assert a.images["id"].tolist() == b.images["id"].tolist() and len(a.images) == 3
    assert set(a.annotations["image_id"]) <= set(a.images["id"])
    assert sample_images(ds, 100).images["id"].tolist() == [1, 2, 3, 4, 5]
    with pytest.raises(AnnokitError, match="whole number"):
        sample_images(ds, 2.5)


# -- merge --------------------------------------------------------------------------------

def test_merge_unifies_classes_and_renumbers():
    a = make(BOXES)
    b = make([(1, "Car", 1, 1, 5, 5), (2, "truck", 0, 0, 8, 8)], names=("Car", "truck"),
             n_images=2)
    b.images["file_name"] = ["b1.jpg", "b2.jpg"]
    merged, notes = merge([a, b], ["a", "b"])
    notes = notes.texts()
    assert merged.categories["name"].tolist() == ["car", "bus", "bike", "Car", "truck"]
    assert merged.categories["id"].is_unique and merged.annotations["id"].is_unique
    assert merged.images["id"].is_unique and len(merged.images) == 5
    folded, notes = merge([a, b], ["a", "b"], fold_names=True)
    notes = notes.texts()
    assert folded.categories["name"].tolist() == ["car", "bus", "bike", "truck"]
    assert any("'Car' joined with 'car'" in n for n in notes)
    car = folded.annotations[folded.annotations["source"] == "b"]
    assert car["category_id"].tolist()[0] == 1  # b's Car is a's car
    assert folded.annotations["source"].tolist() == ["a"] * 4 + ["b"] * 2


def test_merge_joins_shared_images_and_renames_clashes(tmp_path):
    for folder, data in (("a", {"im1.jpg": b"one", "im2.jpg": b"two"}),
                         ("b", {"im1.jpg": b"one", "im2.jpg": b"TWO"})):
        (tmp_path / folder).mkdir()
        for name, content in data.items():
            (tmp_path / folder / name).write_bytes(content)
    a = make(BOXES, n_images=2)
    a.meta["image_root"] = str(tmp_path / "a")
    b = make([(1, "car", 0, 0, 10, 10), (1, "car", 60, 60, 5, 5), (2, "bus", 1, 1, 2, 2)],
             n_images=2)
    b.meta["image_root"] = str(tmp_path / "b")
    merged, notes = merge([a, b], ["a", "b"])
    notes = notes.texts()
    assert merged.images["file_name"].tolist() == ["im1.jpg", "im2.jpg", "im2__b.jpg"]
    # im1: same bytes -> one image; b's first box repeats a's and is dropped
    on_im1 = merged.annotations[merged.annotations["image_id"] == 1]
    assert len(on_im1) == 3 and on_im1["source"].tolist() == ["a", "a", "b"]
    assert any("1 annotations duplicated" in n for n in notes)
    assert any("renamed (e.g. im2__b.jpg)" in n for n in notes)
    paths = merged.image_paths().tolist()  # every image still points at its own file
    assert paths == [str(tmp_path / "a" / "im1.jpg"), str(tmp_path / "a" / "im2.jpg"),
                     str(tmp_path / "b" / "im2.jpg")]


def test_merge_three_and_a_merge_again_keeps_sources():
    a, b = make(BOXES), make(BOXES[:2])
    c = make([(1, "van", 0, 0, 5, 5), (2, "car", 3, 3, 4, 4)], names=("car", "bus", "van"))
    for ds, prefix in ((b, "b"), (c, "c")):
        ds.images["file_name"] = [f"{prefix}{i}.jpg" for i in range(1, 4)]
    ab, _ = merge([a, b], ["a", "b"])
    abc, _ = merge([ab, c], ["ab", "c"])  # ab's annotations keep 'a' and 'b'
    assert abc.annotations["source"].tolist() == ["a"] * 4 + ["b"] * 2 + ["c"] * 2
    assert len(abc.images) == 9 and abc.images["id"].is_unique
    assert abc.annotations["id"].is_unique
    assert abc.categories["name"].tolist() == ["car", "bus", "bike", "van"]
    # c's 'van' had id 5, taken by 'bike': it gets the next free id
    assert abc.categories.set_index("name")["id"].to_dict() == {"car": 1, "bus": 2, "bike": 5,
                                                                "van": 6}
    same, _ = merge([a, b, c], ["a", "b", "c"])
    assert_same_content(same, abc, columns=("source",), keep_ids=True)


def test_merge_of_a_copy_changes_nothing():
    ds = make(BOXES)
    merged, notes = merge([ds, ds.copy()], ["a", "b"])
    notes = notes.texts()
    assert_same_content(ds, merged, keep_ids=True)
    assert any("4 annotations duplicated" in n for n in notes)


# -- apply --------------------------------------------------------------------------------

def scores_for(ds: Dataset, rows: dict, overlooked=()) -> Scores:
    """A Scores table for ``ds``: quality 0.99 and no issue, except ``rows``
    ({annotation position: (issue, quality, suggested class id, suggested box)})."""
    anns = ds.annotations
    n = len(anns)
    table = pd.DataFrame({
        "annotation_id": pd.array(anns["id"], dtype="Int64"),
        "image_id": anns["image_id"].to_numpy(),
        "category_id": pd.array(anns["category_id"], dtype="Int64"),
        "quality": np.full(n, 0.99), "issue": pd.Series([None] * n, dtype=object),
        "suggested_category_id": pd.array([pd.NA] * n, dtype="Int64"),
        **{f"suggested_{c}": np.full(n, np.nan) for c in "xywh"}})
    for pos, (issue, quality, cls, box) in rows.items():
        table.loc[pos, ["issue", "quality"]] = [issue, quality]
        table.loc[pos, "suggested_category_id"] = cls
        if box:
            table.loc[pos, ["suggested_x", "suggested_y", "suggested_w", "suggested_h"]] = box
    extra = pd.DataFrame([{"annotation_id": pd.NA, "image_id": i, "category_id": c,
                           "quality": q, "issue": "overlooked", "suggested_category_id": c,
                           "suggested_x": b[0], "suggested_y": b[1], "suggested_w": b[2],
                           "suggested_h": b[3]} for i, c, q, b in overlooked])
    table = pd.concat([table, extra], ignore_index=True) if len(extra) else table
    for col in ("annotation_id", "category_id", "suggested_category_id"):
        table[col] = table[col].astype("Int64")
    images = pd.DataFrame({"image_id": ds.images["id"], "quality": 1.0, "n_issues": 0})
    return Scores(table, images)


FIXES = {0: ("swap", 0.05, 2, None), 1: ("badloc", 0.1, pd.NA, [1, 2, 3, 4]),
         2: ("spurious", 0.2, pd.NA, None), 3: ("swap", 0.7, 5, None)}


@pytest.mark.parametrize("suffix", [".json", ".csv", ".parquet"])
def test_apply_every_layout(tmp_path, suffix):
    ds = make(BOXES)
    path = tmp_path / f"scores{suffix}"
    write_scores(ds, scores_for(ds, FIXES, overlooked=[(3, 1, 0.1, [1, 1, 9, 9]),
                                                       (3, 1, 0.8, [40, 40, 9, 9])]), path)
    fixed, log = apply_fixes(ds, read_scores(path, ds))
    assert log["change"].tolist() == ["relabel", "relabel", "move", "remove", "add"]
    a = fixed.annotations.set_index("id")
    assert a.loc[1, "category_id"] == 2 and a.loc[4, "category_id"] == 5
    assert a.loc[2, ["x", "y", "w", "h"]].tolist() == [1, 2, 3, 4]
    assert 3 not in a.index and len(a) == 4  # one removed, one candidate added (q 0.1 < 0.5)
    assert a.loc[5, ["image_id", "category_id", "x", "w"]].tolist() == [3, 1, 1, 9]
    assert log.iloc[0][["before", "after"]].tolist() == ["car 0.0,0.0,10.0,10.0",
                                                         "bus 0.0,0.0,10.0,10.0"]
    some, log = apply_fixes(ds, read_scores(path, ds), accept=("swap",), max_quality=0.5)
    assert log["annotation"].tolist() == [1] and len(some.annotations) == 4


def test_apply_reads_the_contract_layout_with_a_separate_overlooked_list(tmp_path):
    """scores.json with candidates in a top-level 'overlooked' list and null issues."""
    ds = make(BOXES)
    path = tmp_path / "scores.json"
    write_scores(ds, scores_for(ds, FIXES), path)
    doc = json.loads(path.read_text())
    doc["overlooked"] = [{"image_id": 3, "category_id": 5, "bbox": [2, 2, 6, 6],
                          "quality": 0.05}]
    path.write_text(json.dumps(doc))
    fixed, log = apply_fixes(ds, read_scores(path, ds), accept=("overlooked",))
    assert log["change"].tolist() == ["add"]
    added = fixed.annotations.iloc[-1]
    assert [added["image_id"], added["category_id"], added["w"]] == [3, 5, 6]


def test_apply_checks_the_names_a_scores_table_carries(tmp_path):
    """The contract's CSV names each row's image and class: a renamed class is refused."""
    ds = make(BOXES)
    path = tmp_path / "scores.csv"
    write_scores(ds, scores_for(ds, FIXES), path)
    table = pd.read_csv(path)
    table["file_name"] = table["image_id"].map({1: "im1.jpg", 2: "im2.jpg", 3: "im3.jpg"})
    table["category_name"] = table["category_id"].map({1: "car", 2: "bus", 5: "bike"})
    table.to_csv(path, index=False)
    assert len(apply_fixes(ds, read_scores(path, ds))[1]) == 4
    # the one match rule (annokit.score.match) words it: class names not in the dataset
    with pytest.raises(AnnokitError, match=r"another dataset: 1 scored class name is not in "
                                           r"the dataset \('bus'\)"):
        apply_fixes(map_classes(ds, {"bus": "coach"}), path)


def test_apply_only_reviewer_marked_rows(tmp_path):
    ds = make(BOXES)
    path = tmp_path / "scores.csv"
    write_scores(ds, scores_for(ds, FIXES), path)
    table = pd.read_csv(path)
    table["accept"] = ["yes", "", "x", 0]
    table.to_csv(path, index=False)
    fixed, log = apply_fixes(ds, read_scores(path, ds))
    assert log["annotation"].tolist() == [1, 3]
    assert log["why"].str.contains("accepted by the reviewer").all()


def test_apply_refuses_scores_of_another_dataset(tmp_path):
    """The one match rule (annokit.score.match), worded its way; the path form reads the
    scores onto the dataset they are applied to."""
    ds = make(BOXES)
    path = tmp_path / "scores.json"
    write_scores(ds, scores_for(ds, FIXES), path)
    other = make(BOXES)
    other.images["file_name"] = ["x1.jpg", "x2.jpg", "x3.jpg"]
    with pytest.raises(AnnokitError, match=r"scores.json: these scores were made for another "
                                           r"dataset: 3 scored file names are not in the "
                                           r"dataset \('im1.jpg'"):
        apply_fixes(other, path)
    renamed = map_classes(ds, {"car": "auto"})
    with pytest.raises(AnnokitError, match=r"1 scored class name is not in the dataset "
                                           r"\('car'\)"):
        apply_fixes(renamed, path)
    csv = tmp_path / "scores.csv"
    write_scores(ds, scores_for(ds, FIXES), csv)
    fewer = ds.copy()
    fewer.annotations = fewer.annotations.iloc[1:]
    with pytest.raises(AnnokitError, match=r"1 scored annotation id is not in the dataset "
                                           r"\(1\)"):
        apply_fixes(fewer, csv)
    moved = ds.copy()
    moved.annotations.loc[0, "image_id"] = 3
    with pytest.raises(AnnokitError, match=r"1 scored annotation is on another image than in "
                                           r"the dataset \(ids 1\)"):
        apply_fixes(moved, csv)
    # a Scores given directly is checked by the same rule
    with pytest.raises(AnnokitError, match="1 scored annotation id is not in the dataset"):
        apply_fixes(fewer, scores_for(ds, FIXES))


# -- diff ---------------------------------------------------------------------------------

def test_diff_by_iou_and_by_id():
    old = make(BOXES)
    new = old.copy()
    new.annotations.loc[0, "category_id"] = 2          # relabelled
    new.annotations.loc[2, "x"] += 3                   # moved (IoU 0.82)
    new.annotations = new.annotations.drop(index=3)    # removed
    new.annotations = pd.concat([new.annotations, pd.DataFrame({
        "id": [9], "image_id": [3], "category_id": [5], "kind": ["box"], "x": [0.0],
        "y": [0.0], "w": [5.0], "h": [5.0], "iscrowd": [0]})], ignore_index=True)  # added
    new = Dataset(new.categories, new.images, new.annotations, new.meta)
    for match in ("iou", "id", "auto"):
        d = diff(old, new, match=match)
        assert d.totals() == {"added": 1, "removed": 1, "relabelled": 1, "moved": 1,
                              "images_added": 0, "images_removed": 0, "images_changed": 3}
        assert d.images["status"].tolist() == ["changed"] * 3
    assert diff(old, new).matched_by == "id"
    classes = diff(old, new).classes.set_index("class")
    assert classes.loc["car", "relabelled"] == 1 and classes.loc["bus", "relabelled_to"] == 1
    same = diff(old, old.copy())
    assert not same.changed and same.totals()["added"] == 0


def test_diff_far_move_is_remove_plus_add():
    old = make(BOXES)
    new = old.copy()
    new.annotations.loc[0, "x"] = 80.0  # IoU 0 with where it was
    d = diff(old, new, match="iou")
    assert (d.totals()["added"], d.totals()["removed"], d.totals()["moved"]) == (1, 1, 0)


# -- the CLI on the real datasets ---------------------------------------------------------

@pytest.fixture(scope="module")
def bccd():
    return shared_dataset("bccd", "BCCD")


def test_cli_edit_on_bccd(bccd, tmp_path):
    out = tmp_path / "bccd"
    code, stdout, err = run("edit", bccd, out, "--map-classes", "RBC=red_blood_cell",
                            "--drop-classes", "Platelets", "--where", "w * h >= 36",
                            "--where", 'split != "test"', "--drop-empty-images")
    assert code == 0, err
    ds = annokit.read(out)
    assert sorted(ds.categories["name"]) == ["WBC", "red_blood_cell"]
    source = annokit.read(bccd)
    rbc = source.annotations["category_id"] == 2
    assert (ds.categories.set_index("name").loc["red_blood_cell", "id"] == 2)
    assert (ds.annotations["w"] * ds.annotations["h"] >= 36).all()
    assert set(ds.images["split"]) == {"train", "val"}
    expected = source.annotations[rbc | (source.annotations["category_id"] == 1)]
    assert len(ds.annotations) == int(((expected["w"] * expected["h"] >= 36) & expected[
        "image_id"].isin(source.images.loc[source.images["split"] != "test", "id"])).sum())
    # diff against the input: exit 1, the drops counted
    code, stdout, err = run("diff", bccd, out, "--json")
    assert code == 1, err
    report = json.loads(stdout)
    assert report["totals"]["images_removed"] == 72
    assert report["totals"]["relabelled"] > 2000
    assert "72" in err  # the table, on stderr beside the JSON
    # --json PATH writes the same report, as check and eval do; never over an input
    code, stdout, err = run("diff", bccd, out, "--json", tmp_path / "changes.json")
    assert code == 1, err
    assert json.loads((tmp_path / "changes.json").read_text()) == report
    assert "72" in stdout
    first = next(out.rglob("*.xml"))
    before = first.read_bytes()
    code, _, err = run("diff", bccd, out, "--json", first)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert first.read_bytes() == before


def test_cli_class_options_on_convert_split_rebalance(bccd, tmp_path):
    code, _, err = run("convert", "voc", "coco", bccd, tmp_path / "c.json",
                       "--map-classes", "RBC=cell,WBC=cell")
    assert code == 0, err
    ds = annokit.read(tmp_path / "c.json")
    assert ds.categories[["id", "name"]].values.tolist() == [[1, "cell"], [3, "Platelets"]]
    assert (ds.annotations["category_id"] == 1).sum() == 4155 + 372
    code, _, err = run("split", bccd, tmp_path / "s", "--keep-classes", "WBC")
    assert code == 0, err
    assert annokit.read(tmp_path / "s").categories["name"].tolist() == ["WBC"]
    code, _, err = run("rebalance", bccd, tmp_path / "r", "--to", "coco", "--drop-classes",
                       "RBC")
    assert code == 0, err
    assert "RBC" not in annokit.read(tmp_path / "r").categories["name"].tolist()
    code, _, err = run("convert", "voc", "coco", bccd, tmp_path / "d.json", "--keep-classes",
                       "rbc")
    assert code == 2 and "no class named 'rbc'; the classes are WBC, RBC, Platelets" in err
    assert not (tmp_path / "d.json").exists()


def test_cli_class_options_on_merge_and_yolo(bccd, tmp_path):
    raccoon = shared_dataset("raccoon")
    code, _, err = run("merge", bccd, raccoon, tmp_path / "y", "--to", "yolo",
                       "--map-classes", "RBC=cell,WBC=cell", "--drop-classes", "Platelets")
    assert code == 0, err  # YOLO links each image from its own input's folder
    ds = annokit.read(tmp_path / "y", "yolo")
    assert sorted(ds.categories["name"]) == ["cell", "raccoon"]
    assert len(ds.images) == 564 and len(ds.annotations) == 4888 - 361 + 217


def test_cli_class_map_file_on_sign_language_digits(tmp_path):
    root = shared_dataset("sign_language_digits", "Dataset")
    mapping = tmp_path / "digits.yaml"
    mapping.write_text("".join(f"'{i}': {'even' if i % 2 == 0 else 'odd'}\n"
                               for i in range(10)))
    code, stdout, err = run("edit", root, tmp_path / "parity.csv", "--to", "csv",
                            "--map-classes", mapping, "--sample", "0.1", "--seed", "3")
    assert code == 0, err
    ds = annokit.read(tmp_path / "parity.csv")
    assert sorted(ds.categories["name"]) == ["even", "odd"]
    assert len(ds.images) == 206
    # labels relabelled one-for-one: diff pairs them by image and class
    code, stdout, err = run("diff", root, tmp_path / "parity.csv")
    assert code == 1 and "relabelled" in stdout


def test_cli_merge_real_datasets(bccd, tmp_path):
    raccoon = shared_dataset("raccoon")
    out = tmp_path / "m"
    code, stdout, err = run("merge", bccd, raccoon, out, "--to", "coco", "--images", "copy")
    assert code == 0, err
    ds = annokit.read(out)
    assert len(ds.images) == 364 + 200 and len(ds.annotations) == 4888 + 217
    assert sorted(ds.categories["name"]) == ["Platelets", "RBC", "WBC", "raccoon"]
    assert ds.annotations["source"].str.endswith("raccoon").sum() == 217
    assert ds.images["id"].is_unique and ds.annotations["id"].is_unique
    assert ds.image_paths().map(lambda p: p is not None and __import__("os").path.isfile(p)) \
        .all()  # every image copied
    # labelme's COCO output and the same images as VOC: different relative names, kept apart
    coco = shared_dataset("labelme_examples", "examples", "instance_segmentation",
                          "data_dataset_coco", "annotations.json")
    voc = shared_dataset("labelme_examples", "examples", "bbox_detection", "data_dataset_voc")
    code, _, err = run("merge", coco, voc, tmp_path / "lm.json", "--to", "coco")
    assert code == 0, err
    merged = annokit.read(tmp_path / "lm.json")
    assert len(merged.images) == 6 and len(merged.annotations) == 12 + 9
    assert "_background_" in merged.categories["name"].tolist()


def test_cli_merge_copy_of_itself_is_idempotent(bccd, tmp_path):
    """A converted copy of bccd merged with bccd: every image shared, every box a
    duplicate; the result equals the input."""
    copy = tmp_path / "copy.json"
    assert run("convert", "voc", "coco", bccd, copy)[0] == 0
    code, _, err = run("merge", bccd, copy, tmp_path / "again")
    assert code == 0, err
    assert "4888 annotations duplicated" in err
    assert_same_content(annokit.read(bccd), annokit.read(tmp_path / "again"), splits=True)
    code, stdout, _ = run("diff", bccd, tmp_path / "again")
    assert code == 0, stdout
    assert stdout.startswith("no differences")


def test_cli_merge_peer_fixtures_with_gaps_in_ids(tmp_path):
    instances = shared_dataset("peer_fixtures", "datumaro_openvino", "coco_dataset",
                               "coco_instances")
    mmdet = shared_dataset("peer_fixtures", "mmdet", "coco_sample.json")
    code, _, err = run("merge", instances, mmdet, tmp_path / "m.json", "--to", "coco")
    assert code == 0, err
    ds = annokit.read(tmp_path / "m.json")
    assert ds.categories.set_index("name")["id"].to_dict() == {"a": 1, "b": 2, "c": 4,
                                                                "bus": 5, "car": 6}
    assert len(ds.images) == 2 + 3 and len(ds.annotations) == 3 + 3


def test_cli_apply_then_diff_on_raccoon(tmp_path):
    root = shared_dataset("raccoon")
    ds = annokit.read(root)
    first = ds.annotations.loc[0, ["x", "y", "w", "h"]].to_numpy(float)
    fixes = {0: ("badloc", 0.05, pd.NA, list(first + [5, 5, 0, 0])),  # a small move
             3: ("spurious", 0.1, pd.NA, None)}
    scores = tmp_path / "scores.csv"
    write_scores(ds, scores_for(ds, fixes), scores)
    out = tmp_path / "fixed"
    code, stdout, err = run("apply", root, scores, out, "--to", "coco")
    assert code == 0, err
    assert "2 fixes applied (0 relabel, 1 move, 1 remove, 0 add)" in stdout
    log = pd.read_csv(str(out) + ".changes.csv")
    assert log.columns.tolist() == ["annotation", "image", "change", "before", "after", "why"]
    assert log["change"].tolist() == ["move", "remove"]
    code, stdout, _ = run("diff", root, out, "--json")
    assert code == 1
    totals = json.loads(stdout)["totals"]
    assert (totals["moved"], totals["removed"], totals["added"]) == (1, 1, 0)
    # the same scores on another dataset are refused, nothing written
    code, _, err = run("apply", shared_dataset("bccd", "BCCD"), scores, tmp_path / "no")
    assert code == 2 and "made for another dataset" in err
    assert not (tmp_path / "no").exists()


@pytest.mark.slow
def test_cli_apply_real_scores_on_bccd(bccd, tmp_path):
    """What `annokit score` really wrote, applied: every flagged fix lands, the diff
    counts them, and the change log lists them."""
    sub = tmp_path / "sub"
    assert run("edit", bccd, sub, "--sample", "60", "--seed", "0", "--images", "copy")[0] == 0
    scores = tmp_path / "scores.json"
    code, _, err = run("score", sub, "--out", scores, "--folds", "3")
    assert code == 0, err
    code, stdout, err = run("apply", sub, scores, tmp_path / "fixed", "--to", "coco")
    assert code == 0, err
    log = pd.read_csv(str(tmp_path / "fixed") + ".changes.csv")
    table = read_scores(scores).annotations
    flagged = table["issue"].notna() & ((table["issue"] != "overlooked")
                                        | (table["quality"] < 0.5))
    assert len(log) == int(flagged.sum())
    code, stdout, _ = run("diff", sub, tmp_path / "fixed", "--json")
    totals = json.loads(stdout)["totals"]
    assert code == (1 if len(log) else 0)
    assert totals["removed"] >= (log["change"] == "remove").sum()


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".json"])
def test_scores_of_classes_named_by_numbers_come_back(tmp_path, suffix):
    """Classes '0', '1' (sign-language digits): the .csv's names were read as 0.0 and 1.0,
    and the scores 'made for another dataset'."""
    named = {"car": "0", "bus": "1", "bike": "10"}
    ds = make([(i, named[c], *box) for i, c, *box in BOXES], names=("0", "1", "10"))
    path = tmp_path / f"scores{suffix}"
    write_scores(ds, scores_for(ds, {0: ("swap", 0.05, 2, None)}), path)
    fixed, log = apply_fixes(ds, read_scores(path, ds))
    assert log["change"].tolist() == ["relabel"]
    assert fixed.annotations.set_index("id").loc[1, "category_id"] == 2
