"""COCO: layouts, lossless round trips, results files, image sizes, and every broken input."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import annokit
from annokit import Dataset, FormatError
from annokit.formats import coco
from conftest import FIXTURES, assert_same_content, shared_dataset

HERE = FIXTURES / "coco"
BASIC, SPLITS, ROBOFLOW = HERE / "basic", HERE / "splits", HERE / "roboflow"
BAD = HERE / "bad"
HUGE = 9_007_199_254_740_993
ATTRS = ("iscrowd", "segmentation", "area", "attributes", "keypoints", "num_keypoints")


def load(path: Path):
    return orjson.loads(Path(path).read_bytes())


# -- detect ----------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    BASIC, BASIC / "annotations.json", SPLITS, ROBOFLOW, ROBOFLOW / "train",
    HERE / "results.json", HERE / "no_size"])
def test_detects_every_layout(path):
    assert coco.detect(path)


def test_does_not_detect_other_json_or_folders(tmp_path):
    (tmp_path / "labelme.json").write_text('{"shapes": [], "imagePath": "a.jpg"}')
    (tmp_path / "empty").mkdir()
    assert not coco.detect(tmp_path / "labelme.json")
    assert not coco.detect(tmp_path / "empty")
    assert not coco.detect(BASIC / "images")


def test_detect_reads_only_the_head_of_a_file(tmp_path):
    big = tmp_path / "big.json"  # a COCO head followed by 3 MB that would not parse
    big.write_bytes(b'{"info": {}, "images": [' + b" " * 3_000_000 + b"garbage")
    assert coco.detect(big)


# -- read: a single file with everything ------------------------------------------------

@pytest.fixture(scope="module")
def basic():
    return annokit.read(BASIC, "coco")


def test_basic_ids_and_categories_kept(basic):
    assert basic.categories[["id", "name", "supercategory"]].values.tolist() == [
        [1, "person", "animal"], [7, "car", "vehicle"], [HUGE, "blob", "stuff"]]
    assert basic.images["id"].tolist() == [3, 10, 4_000_000_000]
    assert basic.annotations["id"].tolist() == [5, 6, 900_000_000_001, 8]
    assert basic.annotations["category_id"].tolist() == [1, 7, HUGE, 7]
    assert basic.meta["image_root"] == str(BASIC / "images")
    assert basic.notes.texts("skipped") == []


def test_basic_image_without_annotations_kept(basic):
    row = basic.images.set_index("id").loc[4_000_000_000]
    assert row["file_name"] == "sub/blue.png"
    assert (row["width"], row["height"]) == (96, 72)
    assert 4_000_000_000 not in set(basic.annotations["image_id"])


def test_basic_geometry_and_masks_exactly_as_given(basic):
    anns = basic.annotations.set_index("id")
    assert anns.loc[5, ["x", "y", "w", "h"]].tolist() == [10.5, 10.25, 20.0, 30.5]
    assert anns.loc[900_000_000_001, ["x", "y", "w", "h"]].tolist() == [0.5, 1.25, 12.5, 9.86]
    assert anns.loc[5, "segmentation"] == [[10.5, 10.25, 30.5, 10.25, 30.5, 40.75, 10.5, 40.75]]
    assert anns.loc[6, "segmentation"] == {"counts": [100, 5, 43, 5, 43, 5, 2871],
                                           "size": [48, 64]}
    assert anns.loc[8, "segmentation"] == {"counts": "i34h10000000kX4", "size": [60, 80]}
    assert anns.loc[900_000_000_001, "segmentation"] is None  # [] in the file: no mask
    assert anns["iscrowd"].tolist() == [0, 1, 0, 0]
    assert anns["area"].tolist() == [620.0, 15.0, 123.25, 20.0]
    assert anns["kind"].tolist() == ["box"] * 4
    assert anns["score"].isna().all()


def test_basic_extras_pass_through(basic):
    anns = basic.annotations.set_index("id")
    assert anns.loc[5, "attributes"] == {"occluded": False, "color": "red"}
    assert anns.loc[5, "keypoints"] == [12, 14, 2, 28, 38, 1]
    assert anns.loc[5, "num_keypoints"] == 2
    images = basic.images.set_index("id")
    assert images.loc[10, "coco_url"] == "http://example.com/green.png"
    assert images["license"].tolist() == [1, 1, 1]
    cats = basic.categories.set_index("id")
    assert cats.loc[1, "keypoints"] == ["nose", "tail"] and cats.loc[1, "skeleton"] == [[1, 2]]
    assert cats.loc[HUGE, "color"] == "#ff00ff"
    meta = basic.meta["coco"]
    assert meta["info"]["description"] == "annokit COCO fixture"
    assert meta["licenses"][0]["name"] == "CC-BY-4.0"
    assert meta["type"] == "instances"
    assert meta["annokit_fixture"] == {"purpose": "unknown top-level keys are kept"}


# -- round trips -----------------------------------------------------------------------

@pytest.mark.parametrize("target", ["out", "out.json"])
def test_round_trip_gives_back_equal_json(basic, tmp_path, target):
    notes = annokit.write(basic, tmp_path / target, "coco").texts()
    assert notes == []
    written = tmp_path / target if target.endswith(".json") else tmp_path / target / \
        "annotations.json"
    # parsed values, key order aside: ids, extras, RLE forms, areas, info... all equal
    assert load(written) == load(BASIC / "annotations.json")
    back = annokit.read(tmp_path / target, "coco", image_root=BASIC / "images")
    assert_same_content(basic, back, columns=ATTRS, keep_ids=True)


def test_written_folder_holds_images_when_asked(basic, tmp_path):
    annokit.write(basic, tmp_path / "out", "coco", images="copy")
    assert (tmp_path / "out/images/sub/blue.png").is_file()
    back = annokit.read(tmp_path / "out", "coco")
    assert back.meta["image_root"] == str(tmp_path / "out/images")
    assert back.images["width"].tolist() == [64, 80, 96]


def test_splits_folder_read_with_split_column():
    ds = annokit.read(SPLITS, "coco")
    assert ds.images[["id", "file_name", "split"]].values.tolist() == [
        [1, "t1.png", "train"], [2, "t2.png", "train"], [3, "v1.png", "val"]]
    assert ds.annotations["id"].tolist() == [1, 2, 3, 4]  # unique across files: kept
    assert "renumbered" not in ds.meta["coco"]
    assert ds.meta["split_roots"] == {"train": str(SPLITS / "images/train"),
                                      "val": str(SPLITS / "images/val")}
    assert ds.annotations["category_id"].tolist() == [2, 5, 2, 5]
    assert ds.annotations["w"].tolist() == [10.0, 5.0, 4.0, 30.0]


def test_splits_folder_written_back_per_split(tmp_path):
    ds = annokit.read(SPLITS, "coco")
    assert annokit.write(ds, tmp_path / "out", "coco", images="copy") == []
    assert sorted(p.name for p in (tmp_path / "out/annotations").iterdir()) == \
        ["instances_train.json", "instances_val.json"]
    assert (tmp_path / "out/images/val/v1.png").is_file()
    val = load(tmp_path / "out/annotations/instances_val.json")
    assert [a["id"] for a in val["annotations"]] == [4]
    assert val["info"] == load(SPLITS / "annotations/instances_val.json")["info"]
    back = annokit.read(tmp_path / "out", "coco")
    assert_same_content(ds, back, columns=("area",), keep_ids=True)


def test_roboflow_read_renumbers_colliding_ids():
    ds = annokit.read(ROBOFLOW, "coco")
    assert ds.images[["id", "file_name", "split"]].values.tolist() == [
        [1, "a_jpg.rf.1.jpg", "train"], [2, "b_jpg.rf.2.jpg", "train"],
        [3, "c_jpg.rf.3.jpg", "valid"]]
    assert ds.annotations[["id", "image_id", "category_id"]].values.tolist() == [
        [1, 1, 1], [2, 2, 2], [3, 3, 2]]
    assert len(ds.meta["coco"]["renumbered"]) == 2
    assert ds.categories[["id", "name"]].values.tolist() == [[0, "pets"], [1, "cat"], [2, "dog"]]
    assert ds.meta["split_roots"] == {"train": str(ROBOFLOW / "train"),
                                      "valid": str(ROBOFLOW / "valid")}
    assert ds.meta["image_root"] is None


@pytest.mark.parametrize("layout", ["standard", "roboflow"])
def test_roboflow_written_back_with_splits(tmp_path, layout):
    ds = annokit.read(ROBOFLOW, "coco")
    notes = annokit.write(ds, tmp_path / "out", "coco", images="copy", layout=layout).texts()
    assert notes == []
    if layout == "roboflow":
        assert (tmp_path / "out/valid/_annotations.coco.json").is_file()
        assert (tmp_path / "out/valid/c_jpg.rf.3.jpg").is_file()
    else:
        assert (tmp_path / "out/annotations/instances_valid.json").is_file()
        assert (tmp_path / "out/images/valid/c_jpg.rf.3.jpg").is_file()
    back = annokit.read(tmp_path / "out", "coco")
    assert "renumbered" not in back.meta["coco"]  # ids are unique now
    assert_same_content(ds, back, columns=("area",), keep_ids=True)


def test_single_file_with_splits_says_splits_are_not_kept(tmp_path):
    ds = annokit.read(SPLITS, "coco")
    notes = annokit.write(ds, tmp_path / "all.json", "coco", images="copy").texts()
    assert any("splits (train, val) are not kept" in n for n in notes)
    assert "images not placed (images='copy'): a .json target holds annotations only" in notes
    written = load(tmp_path / "all.json")
    assert [i["id"] for i in written["images"]] == [1, 2, 3]
    assert len(written["annotations"]) == 4


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(*[st.floats(0, 1e5, allow_nan=False)] * 4), min_size=1,
                max_size=20))
def test_any_box_survives_a_round_trip_exactly(tmp_path_factory, boxes):
    x, y, w, h = (list(v) for v in zip(*boxes))
    ds = Dataset(pd.DataFrame({"id": [1], "name": ["a"]}),
                 pd.DataFrame({"id": [1], "file_name": ["a.jpg"]}),
                 pd.DataFrame({"image_id": 1, "category_id": 1, "x": x, "y": y, "w": w, "h": h}))
    out = tmp_path_factory.mktemp("prop") / "a.json"
    annokit.write(ds, out, "coco")
    back = annokit.read(out, "coco")
    assert back.annotations[["x", "y", "w", "h"]].values.tolist() == \
        ds.annotations[["x", "y", "w", "h"]].values.tolist()


# -- results files ---------------------------------------------------------------------

def test_results_file_reads_as_predictions():
    pred = annokit.read(HERE / "results.json", "coco")
    assert pred.annotations["score"].tolist() == [0.9, 0.35, 0.75, 0.5]
    assert pred.annotations["id"].tolist() == [1, 2, 3, 4]
    assert pred.annotations[["x", "y", "w", "h"]].values.tolist()[1] == [2.5, 4.0, 3.0, 5.0]
    assert pred.images["id"].tolist() == [3, 10, 99]
    assert pred.images["file_name"].isna().all()
    assert pred.categories[["id", "name"]].values.tolist() == [
        [1, "1"], [7, "7"], [HUGE, str(HUGE)]]


def test_read_results_takes_images_and_categories_from_ground_truth(basic):
    pred = coco.read_results(HERE / "results.json", basic)
    assert pred.images["file_name"].tolist() == ["red.png", "green.png", "sub/blue.png"]
    assert pred.categories["name"].tolist() == ["person", "car", "blob"]
    assert pred.annotations["score"].tolist() == [0.9, 0.35, 0.75]
    assert pred.notes.texts("skipped") == [f"{HERE / 'results.json'}:results[3]: image_id 99 has "
                                    "no image"]
    with pytest.raises(FormatError, match=r"results\[3\]: image_id 99 has no image"):
        coco.read_results(HERE / "results.json", basic, strict=True)


def test_pycocotools_evaluates_written_ground_truth_against_results(basic, tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    annokit.write(basic, tmp_path / "gt.json", "coco")
    gt = COCO(str(tmp_path / "gt.json"))
    assert len(gt.getAnnIds()) == 4 and len(gt.getImgIds()) == 3
    dt = gt.loadRes([{"image_id": 10, "category_id": HUGE, "bbox": [0.5, 1.25, 12.5, 9.86],
                      "score": 0.9}])
    ev = COCOeval(gt, dt, "bbox")
    ev.params.catIds = [HUGE]
    ev.evaluate(), ev.accumulate()
    assert ev.eval["precision"][0, :, 0, 0, 2].max() == pytest.approx(1.0)  # IoU .5: found


# -- image sizes -----------------------------------------------------------------------

def test_missing_or_zero_sizes_come_from_the_image_header():
    ds = annokit.read(HERE / "no_size", "coco")
    sizes = ds.images.set_index("file_name")[["width", "height"]]
    assert sizes.loc["wide.png"].tolist() == [120, 40]
    assert sizes.loc["zero.png"].tolist() == [50, 70]  # 0 in the file means unknown
    assert sizes.loc["gone.png"].isna().all()  # no file: unknown, never 0
    assert str(ds.images["width"].dtype) == "Int64"


def test_unknown_sizes_are_left_out_when_writing(tmp_path):
    ds = annokit.read(HERE / "no_size", "coco")
    notes = annokit.write(ds, tmp_path / "a.json", "coco").texts()
    assert notes == ["1 images have no known width/height: written without them"]
    images = {i["file_name"]: i for i in load(tmp_path / "a.json")["images"]}
    assert "width" not in images["gone.png"] and images["zero.png"]["width"] == 50


# -- broken input ----------------------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("malformed.json", "malformed.json:line 3, column 46: malformed JSON: unexpected "
                       "character"),
    ("top_level_string.json", "top_level_string.json: expected a COCO object at the top "
                              "level, found a JSON string"),
    ("no_images.json", "no_images.json: no 'images' list"),
    ("duplicate_image_ids.json", "duplicate_image_ids.json:image id 1: image id 1 is used by "
                                 "2 images"),
])
def test_whole_file_problems_name_file_and_place(name, expected):
    with pytest.raises(FormatError) as error:
        annokit.read(BAD / name, "coco")
    assert expected in str(error.value)
    assert str(BAD / name) in str(error.value)


BROKEN = [
    "category id 3: no 'name'",
    "images[1]: no 'id'",
    "image id 3: no 'file_name'",
    "annotation id 2: image_id 999 has no image",
    "annotation id 3: category_id 42 has no category",
    "annotation id 4: bbox [1, 2, 3] is not 4 finite numbers",
    "annotation id 5: bbox [1, 2, 'x', 4] is not 4 finite numbers",
    "annotation id 6: no 'category_id'",
    "annotation id 7: no 'bbox' (nor a segmentation to take it from)",
    "annotations[7]: no 'id'",
    "annotations[8]: expected an object, found a JSON number",
    "annotation id 10: bbox [0, 0, inf, 1] is not 4 finite numbers",
]


def test_broken_records_are_skipped_named_and_counted():
    ds = annokit.read(BAD / "broken_records.json", "coco")
    prefix = f"{BAD / 'broken_records.json'}:"
    assert ds.notes.texts("skipped") == [prefix + m for m in BROKEN]
    assert ds.annotations["id"].tolist() == [1, 9]
    assert ds.images["id"].tolist() == [1]
    assert ds.categories["name"].tolist() == ["cat", "dog"]
    assert ds.summary_line() == "1 images, 2 annotations, 2 categories, 12 skipped"


def test_strict_stops_at_the_first_broken_record():
    with pytest.raises(FormatError) as error:
        annokit.read(BAD / "broken_records.json", "coco", strict=True)
    assert str(error.value) == f"{BAD / 'broken_records.json'}:{BROKEN[0]}"


def test_categories_must_agree_across_split_files():
    with pytest.raises(FormatError) as error:
        annokit.read(BAD / "category_clash", "coco")
    assert str(error.value).startswith(
        f"{BAD / 'category_clash/annotations/val.json'}:category id 2: category id 2 is "
        "named 'wolf' here but 'dog' in train.json")


def test_results_list_inside_a_split_folder_is_refused(tmp_path):
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations/train.json").write_text('[{"image_id": 1}]')
    with pytest.raises(FormatError, match="found a JSON list"):
        annokit.read(tmp_path, "coco")


def test_json_with_nan_from_python_is_still_read(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.png"}], "categories": [{"id": 1, "name": "x"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4],
                         "score": float("nan")}]}))
    ds = annokit.read(tmp_path / "a.json", "coco")
    assert len(ds.annotations) == 1 and math.isnan(ds.annotations["score"][0])


def test_missing_bbox_taken_from_segmentation(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.png", "width": 80, "height": 60}],
        "categories": [{"id": 1, "name": "x"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[1, 2, 11, 2, 11, 7]]},
            {"id": 2, "image_id": 1, "category_id": 1,
             "segmentation": {"counts": "i34h10000000kX4", "size": [60, 80]}},
            {"id": 3, "image_id": 1, "category_id": 1, "segmentation": [3, 4, 5, 4, 5, 9]}]}))
    ds = annokit.read(tmp_path / "a.json", "coco")
    assert ds.annotations[["x", "y", "w", "h"]].values.tolist() == [
        [1, 2, 10, 5], [2, 1, 5, 4], [3, 4, 2, 5]]
    assert ds.annotations["segmentation"][2] == [[3, 4, 5, 4, 5, 9]]  # flat polygon wrapped


# -- writing what COCO cannot hold as is ------------------------------------------------

def made_up() -> Dataset:
    """A dataset from elsewhere: ids 0 and repeated, a label, a point, no areas, VOC extras."""
    return Dataset(
        pd.DataFrame({"id": [1, 2], "name": ["cat", "dog"]}),
        pd.DataFrame({"id": [1, 2], "file_name": ["a.jpg", "../escape.jpg"],
                      "width": [100, 100], "height": [50, 50]}),
        pd.DataFrame({
            "id": [0, 4, 4, 5, 6],
            "image_id": [1, 1, 2, 1, 2], "category_id": [1, 2, 1, 1, 2],
            "kind": ["box", "box", "label", "point", "box"],
            "x": [10.0, 0.0, np.nan, 7.5, 2.0], "y": [20.0, 0.0, np.nan, 8.5, 3.0],
            "w": [30.0, 10.0, np.nan, np.nan, 4.0], "h": [5.0, 10.0, np.nan, np.nan, 5.0],
            "segmentation": [None, [[0, 0, 10, 0, 10, 10, 0, 10]], None, None, None],
            "difficult": [1, 0, 0, 0, 1], "pose": ["Left", None, None, None, "Frontal"]}))


def test_writer_notes_and_fixes_what_coco_cannot_hold(tmp_path):
    notes = annokit.write(made_up(), tmp_path / "a.json", "coco").texts()
    assert notes == [
        "COCO holds boxes and points only: 1 label dropped",
        "annotation ids renumbered 1..4: some were 0, negative or repeated "
        "(pycocotools treats id 0 as 'no match')"]
    out = load(tmp_path / "a.json")
    assert out["info"]["description"].startswith("written by annokit")
    anns = out["annotations"]
    assert [a["id"] for a in anns] == [1, 2, 3, 4]
    assert [a["area"] for a in anns] == [150.0, 100.0, 0.0, 20.0]  # w*h, pycocotools, point
    assert anns[0] == {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [],
                       "area": 150.0, "bbox": [10.0, 20.0, 30.0, 5.0], "iscrowd": 0,
                       "difficult": 1, "pose": "Left"}
    assert "pose" not in anns[1]
    assert "bbox" not in anns[2]
    assert (anns[2]["keypoints"], anns[2]["num_keypoints"]) == ([7.5, 8.5, 2], 1)
    back = annokit.read(tmp_path / "a.json", "coco")
    point = back.annotations[back.annotations["kind"] == "point"]
    assert point[["x", "y"]].values.tolist() == [[7.5, 8.5]]
    assert point["keypoints"].isna().all()  # the point is its x, y; no copy in keypoints


def test_unsafe_file_name_not_copied_lenient_or_strict(tmp_path):
    (tmp_path / "src").mkdir()
    for name in ("a.jpg", "escape.jpg"):
        (tmp_path / name if name == "escape.jpg" else tmp_path / "src" / name).write_bytes(b"x")
    ds = made_up()
    ds.meta["image_root"] = str(tmp_path / "src")
    notes = annokit.write(ds, tmp_path / "out", "coco", images="copy").texts()
    assert notes[0] == ("../escape.jpg:image id 2: file_name "  # its path is never made
                        "'../escape.jpg' leaves the image folder; image not placed")
    assert (tmp_path / "out/images/a.jpg").is_file()
    assert not (tmp_path / "out/escape.jpg").exists()
    with pytest.raises(FormatError, match="leaves the image folder"):
        annokit.write(ds, tmp_path / "strict", "coco", images="copy", strict=True)
    assert not (tmp_path / "strict").exists()  # nothing half-written


def test_to_dict_feeds_pycocotools(basic):
    from pycocotools.coco import COCO

    gt = COCO()
    gt.dataset = coco.to_dict(basic)
    gt.createIndex()
    assert sorted(gt.getCatIds()) == [1, 7, HUGE]
    assert gt.getAnnIds(imgIds=[3]) == [5, 6]


# -- real inputs from other tools -------------------------------------------------------

def test_datumaro_instances():
    root = shared_dataset("peer_fixtures", "datumaro_openvino", "coco_dataset", "coco_instances")
    ds = annokit.read(root, "coco")
    assert ds.images[["id", "split", "width", "height"]].values.tolist() == [
        [5, "train", 10, 5], [40, "val", 5, 10]]
    assert ds.categories["id"].tolist() == [1, 2, 4]
    assert ds.annotations["id"].tolist() == [1, 2, 3]  # both files start at 1: renumbered
    anns = ds.annotations.set_index("id")
    assert anns.loc[3, "segmentation"] == {"counts": [0, 20, 30], "size": [10, 5]}
    assert anns.loc[3, "iscrowd"] == 1
    assert anns.loc[2, "attributes"] == {"x": 1, "y": "hello"}


def test_datumaro_folder_with_every_task_reads_instances_only():
    root = shared_dataset("peer_fixtures", "datumaro_openvino", "coco_dataset", "coco")
    ds = annokit.read(root, "coco")
    assert ds.summary_line() == "2 images, 3 annotations, 3 categories"
    assert sorted(ds.images["split"]) == ["train", "val"]


def test_datumaro_keypoints_pass_through(tmp_path):
    root = shared_dataset("peer_fixtures", "datumaro_cvat", "coco_dataset",
                          "coco_person_keypoints")
    ds = annokit.read(root, "coco")
    assert sorted(ds.images["split"]) == ["train", "val"]  # person_keypoints_ is not a split
    assert len(ds.annotations) == 3 and ds.annotations["keypoints"].notna().all()
    annokit.write(ds, tmp_path / "out", "coco")
    back = annokit.read(tmp_path / "out", "coco")
    assert_same_content(ds, back, columns=("keypoints", "num_keypoints", "segmentation"),
                        image_columns=("width", "height"))


def test_mmdet_sample_image_id_zero_and_scores(tmp_path):
    ds = annokit.read(shared_dataset("peer_fixtures", "mmdet", "coco_sample.json"), "coco")
    assert ds.images["id"].tolist() == [0, 1, 2]
    assert ds.annotations["score"].tolist() == [1.0, 1.0, 1.0]
    assert 2 not in set(ds.annotations["image_id"])  # fake3.jpg has no annotations
    assert ds.meta["coco"]["info"] is None
    annokit.write(ds, tmp_path / "a.json", "coco")
    out = load(tmp_path / "a.json")
    assert [i["id"] for i in out["images"]] == [0, 1, 2]
    assert [a["score"] for a in out["annotations"]] == [1.0, 1.0, 1.0]


def test_labelme_coco_output(tmp_path):
    root = shared_dataset("labelme_examples", "examples", "instance_segmentation",
                          "data_dataset_coco")
    ds = annokit.read(root, "coco")
    assert ds.summary_line() == "3 images, 12 annotations, 21 categories"
    assert ds.categories.iloc[0][["id", "name"]].tolist() == [0, "_background_"]
    assert ds.annotations["segmentation"].map(type).eq(list).all()
    assert ds.annotations["area"].iloc[0] == 15689.0
    assert ds.images["file_name"].iloc[0] == "JPEGImages/2011_000003.jpg"
    assert ds.meta["image_root"] == str(root.absolute())
    assert ds.annotations["id"].tolist() == list(range(12))  # LabelMe starts at 0
    notes = annokit.write(ds, tmp_path / "out", "coco").texts()
    assert notes == ["annotation ids renumbered 1..12: some were 0, negative or repeated "
                     "(pycocotools treats id 0 as 'no match')"]
    back = annokit.read(tmp_path / "out", "coco", image_root=root)
    assert back.annotations["id"].tolist() == list(range(1, 13))
    assert_same_content(ds, back, columns=("segmentation", "area"))


BROKEN_SEGMENTATIONS = [
    ({"counts": [4]}, "segmentation is RLE without size"),
    ({"size": [2, 2]}, "segmentation is RLE without counts"),
    ({"counts": [1, 2], "size": [2, 2]},
     "segmentation RLE counts sum to 3, not height x width = 4"),
    ({"counts": "x", "size": ["a", 2]}, "segmentation RLE size ['a', 2] is not [height, width]"),
    ({"counts": 7, "size": [2, 2]},
     "segmentation RLE counts is neither a string nor a list of non-negative integers"),
    ("polygon", "segmentation is neither polygons nor RLE (a JSON string)"),
    (5, "segmentation is neither polygons nor RLE (a JSON number)"),
    ([[1, "a", 3, 4]], "segmentation polygon holds something that is not a finite number"),
    ([[1, 2, 3]], "segmentation polygon has 3 coordinates (needs x, y pairs, >= 2)"),
    ([[0, 0, 4, 0], "x"], "segmentation polygon holds something that is not a finite number"),
]


@pytest.mark.parametrize("bbox", [None, [0, 0, 2, 2]])
def test_broken_segmentation_is_a_skipped_record_never_an_internal_error(tmp_path, bbox):
    anns = [{"id": k, "image_id": 1, "category_id": 1, "segmentation": seg}
            | ({"bbox": bbox} if bbox else {})
            for k, (seg, _) in enumerate(BROKEN_SEGMENTATIONS, start=1)]
    anns.append({"id": 99, "image_id": 1, "category_id": 1,
                 "segmentation": [[0, 0, 4, 0, 4, 3]]})  # a good one: kept, boxed from it
    file = tmp_path / "seg.json"
    file.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.png", "width": 8,
                                            "height": 6}],
                                "categories": [{"id": 1, "name": "x"}], "annotations": anns}))
    ds = annokit.read(file, "coco")
    assert ds.notes.texts("skipped") == [f"{file}:annotation id {k}: {why}"
                                  for k, (_, why) in enumerate(BROKEN_SEGMENTATIONS, start=1)]
    assert ds.annotations["id"].tolist() == [99]
    assert ds.annotations[["x", "y", "w", "h"]].iloc[0].tolist() == [0, 0, 4, 3]
    with pytest.raises(FormatError, match="annotation id 1: segmentation is RLE without size"):
        annokit.read(file, "coco", strict=True)
