"""Label checks: each fires on a small hand-made dataset with hand-checked values, and stays
quiet on a clean one; real datasets read with annokit.read."""
import functools

import numpy as np
import pandas as pd

from annokit.checks import CHECKS, Thresholds
from annokit.checks import labels as lc
from annokit.model import Dataset

from conftest import assert_no_findings, checks_of, dataset, shared_dataset

T = Thresholds()


# two 100x50 images with a car on the first and a person on the second, unless told otherwise
make = functools.partial(dataset, annotations={"image_id": [1, 2], "category_id": [1, 2]},
                         images={"id": [1, 2], "file_name": ["a.jpg", "b.jpg"],
                                 "width": [100, 100], "height": [50, 50]})


def label_checks():
    return checks_of("labels")


def ids(found: pd.DataFrame, column="annotation_id") -> list[int]:
    return found[column].astype(int).tolist()


def test_clean_dataset_gives_no_label_findings():
    n = 20
    ds = make(annotations={"id": range(1, n + 1), "image_id": [1, 2] * (n // 2),
                           "category_id": [1] * 10 + [2] * 10, "x": [1.0] * n,
                           "y": [1.0] * n, "w": [5.0] * n, "h": [5.0] * n,
                           "difficult": [0] * n, "pose": ["Left"] * n})
    assert_no_findings(ds, "labels")


def test_every_label_check_is_registered_with_its_severity():
    assert {k: c.severity for k, c in label_checks()} == {
        "labels.unknown_category": "error", "labels.unused_category": "warning",
        "labels.missing_image": "error", "labels.duplicate_annotation_id": "error",
        "labels.duplicate_image_id": "error", "labels.duplicate_category_id": "error",
        "labels.empty_image": "info", "labels.duplicate_category_name": "error",
        "labels.similar_category_name": "warning", "labels.missing_attribute": "warning"}


def test_empty_dataset():
    assert_no_findings(Dataset(), "labels")


def test_unknown_and_unused_category():
    ds = make(categories={"id": [1, 2, 3], "name": ["car", "person", "bus"]},
              annotations={"id": [1, 2, 3], "image_id": [1, 2, 2], "category_id": [1, 7, 7],
                           "x": [1.0] * 3, "y": [1.0] * 3, "w": [5.0] * 3, "h": [5.0] * 3})
    unknown = lc.unknown_category(ds, T)
    assert ids(unknown) == [2, 3]
    assert unknown["category_id"].tolist() == [7, 7]
    assert unknown["value"].tolist() == [7.0, 7.0]
    assert unknown["message"].iloc[0] == "category id 7 is not among the categories"
    unused = lc.unused_category(ds, T)
    assert ids(unused, "category_id") == [2, 3]
    assert unused["annotation_id"].isna().all() and unused["image_id"].isna().all()
    assert unused["message"].tolist() == ["category 'person' (id 2) has no annotations",
                                          "category 'bus' (id 3) has no annotations"]


def test_missing_image():
    ds = make(annotations={"id": [10, 11, 12], "image_id": [1, 5, 5], "category_id": [1, 2, 1],
                           "x": [1.0] * 3, "y": [1.0] * 3, "w": [5.0] * 3, "h": [5.0] * 3})
    found = lc.missing_image(ds, T)
    assert ids(found) == [11, 12]
    assert found["image_id"].tolist() == [5, 5]
    assert found["message"].iloc[0] == "image id 5 is not among the images"


def test_duplicate_ids():
    ds = make(categories={"id": [1, 2, 1], "name": ["car", "person", "bus"]},
              images={"id": [1, 2, 2, 2], "file_name": ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]},
              annotations={"id": [1, 2, 2, 3, 2], "image_id": [1, 1, 2, 2, 1],
                           "category_id": [1, 1, 2, 2, 2], "x": [1.0] * 5, "y": [1.0] * 5,
                           "w": [5.0] * 5, "h": [5.0] * 5})
    anns = lc.duplicate_annotation_id(ds, T)
    assert ids(anns) == [2, 2]  # the 2nd and 3rd use of id 2
    assert anns["image_id"].tolist() == [2, 1]
    assert anns["value"].tolist() == [3.0, 3.0]
    assert anns["message"].iloc[0] == "annotation id 2 is used by 3 annotations"
    images = lc.duplicate_image_id(ds, T)
    assert ids(images, "image_id") == [2, 2]
    assert images["message"].tolist() == [
        "image id 2 of 'c.jpg' is also the id of 'b.jpg' (3 images share it)",
        "image id 2 of 'd.jpg' is also the id of 'b.jpg' (3 images share it)"]
    cats = lc.duplicate_category_id(ds, T)
    assert ids(cats, "category_id") == [1]
    assert cats["message"].iloc[0] == "category id 1 is both 'car' and 'bus'"
    assert cats["value"].tolist() == [2.0]


def test_empty_image():
    ds = make(images={"id": [1, 2, 3], "file_name": ["a.jpg", "b.jpg", "c.jpg"]},
              annotations={"id": [1, 2], "image_id": [1, 3], "category_id": [1, 1],
                           "kind": ["box", "label"], "x": [1.0, np.nan], "y": [1.0, np.nan],
                           "w": [5.0, np.nan], "h": [5.0, np.nan]})
    found = lc.empty_image(ds, T)
    assert ids(found, "image_id") == [2]  # image 3 has an image-level label
    assert found["message"].iloc[0] == "image 'b.jpg' has no annotations"
    assert found["severity"].iloc[0] == "info"


def test_duplicate_category_name():
    ds = make(categories={"id": [1, 2, 5, 9], "name": ["car", "person", "car", "car"]})
    found = lc.duplicate_category_name(ds, T)
    assert ids(found, "category_id") == [5, 9]
    assert found["message"].tolist() == ["category id 5 has the same name 'car' as category id 1",
                                         "category id 9 has the same name 'car' as category id 1"]
    assert found["value"].tolist() == [3.0, 3.0]


def test_similar_category_names():
    names = ["Car", "car ", "cars", "person", "persn", "bus", "buses", "Traffic_Light",
             "traffic light", "cat", "car", "puppies", "puppy", "Car"]
    ds = make(categories={"id": list(range(1, len(names) + 1)), "name": names})
    found = lc.similar_category_name(ds, T)
    got = sorted(zip(found["message"], found["value"]))
    assert got == sorted([
        ("category 'car ' (id 2) looks like 'Car' (id 1): differs only in case or spacing; "
         "in 1 image: b.jpg", 0),
        ("category 'cars' (id 3) looks like 'Car' (id 1): a plural of it", 1),
        ("category 'cars' (id 3) looks like 'car ' (id 2): a plural of it", 1),
        ("category 'persn' (id 5) looks like 'person' (id 4): 1 edit away", 1),
        ("category 'buses' (id 7) looks like 'bus' (id 6): a plural of it", 2),
        ("category 'traffic light' (id 9) looks like 'Traffic_Light' (id 8): "
         "differs only in case or spacing", 0),
        ("category 'car' (id 11) looks like 'Car' (id 1): differs only in case or spacing", 0),
        ("category 'car' (id 11) looks like 'car ' (id 2): differs only in case or spacing", 0),
        ("category 'car' (id 11) looks like 'cars' (id 3): a plural of it", 1),
        ("category 'puppy' (id 13) looks like 'puppies' (id 12): a plural of it", 3),
        ("category 'Car' (id 14) looks like 'car ' (id 2): differs only in case or spacing", 0),
        ("category 'Car' (id 14) looks like 'cars' (id 3): a plural of it", 1),
        ("category 'Car' (id 14) looks like 'car' (id 11): differs only in case or spacing", 0),
    ])
    # 'cat' and 'car' are both COCO classes, one edit apart: too short to compare by edits;
    # and 'Car' twice is duplicate_category_name's
    assert not found["message"].str.contains("'cat'").any()
    assert len(lc.similar_category_name(ds, Thresholds(name_edit_distance=0))) == len(got) - 1


def test_similar_name_names_the_minority_variant_and_its_images():
    """'Dog' on 25 images, 'dog' on 30: 'Dog' is the variant to fix, and the finding names
    the first 20 images that hold it (the report's ``images`` field)."""
    n = 55
    cat = [1] * 25 + [2] * 30
    ds = make(categories={"id": [1, 2], "name": ["Dog", "dog"]},
              images={"id": range(1, n + 1), "file_name": [f"{i:02d}.jpg" for i in range(n)]},
              annotations={"id": range(1, n + 1), "image_id": range(1, n + 1),
                           "category_id": cat, "x": 1.0, "y": 1.0, "w": 2.0, "h": 2.0})
    found = lc.similar_category_name(ds, T)
    assert found["category_id"].tolist() == [1]
    assert found["message"][0] == ("category 'Dog' (id 1) looks like 'dog' (id 2): differs "
                                   "only in case or spacing; in 25 images: 00.jpg, 01.jpg, "
                                   "02.jpg, ...")
    assert found["images"][0] == [f"{i:02d}.jpg" for i in range(20)]


def test_similar_names_on_coco_and_voc_class_lists():
    coco = ("person bicycle car motorcycle airplane bus train truck boat traffic_light "
            "fire_hydrant stop_sign parking_meter bench bird cat dog horse sheep cow elephant "
            "bear zebra giraffe backpack umbrella handbag tie suitcase frisbee skis snowboard "
            "sports_ball kite baseball_bat baseball_glove skateboard surfboard tennis_racket "
            "bottle wine_glass cup fork knife spoon bowl banana apple sandwich orange broccoli "
            "carrot hot_dog pizza donut cake chair couch potted_plant bed dining_table toilet "
            "tv laptop mouse remote keyboard cell_phone microwave oven toaster sink "
            "refrigerator book clock vase scissors teddy_bear hair_drier toothbrush").split()
    ds = make(categories={"id": range(1, 81), "name": [n.replace("_", " ") for n in coco]})
    assert len(lc.similar_category_name(ds, T)) == 0
    voc = ["pottedplant", "diningtable"]  # VOC spells them in one word: a merge would clash
    ds = make(categories={"id": range(1, 83),
                          "name": [n.replace("_", " ") for n in coco] + voc})
    found = lc.similar_category_name(ds, T)
    assert ids(found, "category_id") == [81, 82]


def test_edit_distance():
    assert lc.edit_distance("kitten", "sitting") == 3
    assert lc.edit_distance("", "abc") == 3
    assert lc.edit_distance("person", "persn") == 1
    assert lc.edit_distance("abcdef", "uvwxyz", limit=2) == 3


def test_missing_attribute():
    n = 20
    difficult = [0] * 19 + [None]           # 95% of cars have it: flag the one without
    pose = ["Left"] * 17 + [None, "", None]  # 85%: below the 90% majority, not flagged
    ds = make(annotations={"id": range(1, n + 4), "image_id": [1] * (n + 3),
                           "category_id": [1] * n + [2, 2, 2],
                           "kind": ["box"] * (n + 2) + ["label"],
                           "x": [1.0] * (n + 3), "y": [1.0] * (n + 3),
                           "w": [5.0] * (n + 3), "h": [5.0] * (n + 3),
                           "difficult": difficult + [1, None, None],
                           "pose": pose + [None, None, None]})
    found = lc.missing_attribute(ds, T)
    assert ids(found) == [20]
    assert found["value"].tolist() == [0.95]
    assert found["message"].iloc[0] == \
        "no 'difficult', though 95% of class 'car' boxes (19 of 20) have one"
    # class person: 1 of 2 boxes has it (50%); the image-level label is another kind
    lower = lc.missing_attribute(ds, Thresholds(attribute_majority=0.5))
    assert sorted(zip(ids(lower), lower["message"].str.extract(r"'(\w+)',")[0])) == \
        [(18, "pose"), (19, "pose"), (20, "difficult"), (20, "pose"), (22, "difficult")]


def test_bccd_labels():
    root = shared_dataset("bccd", "BCCD")
    from annokit.formats import read

    ds = read(root, "voc")
    assert sorted(ds.categories["name"]) == ["Platelets", "RBC", "WBC"]
    for check_id in ("labels.unknown_category", "labels.missing_image",
                     "labels.duplicate_annotation_id", "labels.duplicate_image_id",
                     "labels.duplicate_category_name", "labels.similar_category_name",
                     "labels.unused_category"):
        assert len(CHECKS[check_id].func(ds, T)) == 0, check_id


def test_runner_finds_every_planted_fault():
    from annokit.checks import check

    n = 12
    ds = make(categories={"id": [1, 2, 3, 3, 4], "name": ["car", "cars", "bus", "van", "car"]},
              images={"id": [1, 2, 2, 3], "file_name": ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]},
              annotations={"id": list(range(1, n)) + [1, 12], "image_id": [1] * n + [9],
                           "category_id": [1] * 11 + [7, 2], "x": [1.0] * (n + 1),
                           "y": [1.0] * (n + 1), "w": [5.0] * (n + 1), "h": [5.0] * (n + 1),
                           "occluded": [0] * 10 + [None] * 3})
    found = check(ds, checks=["labels"])
    assert set(found["check"]) == {k for k, _ in label_checks()}
    by_check = found.groupby("check").size().to_dict()
    assert by_check == {
        "labels.unknown_category": 1, "labels.unused_category": 3,   # bus/van (3), car (4)
        "labels.missing_image": 1, "labels.duplicate_annotation_id": 1,
        "labels.duplicate_image_id": 1, "labels.duplicate_category_id": 1,
        "labels.empty_image": 3, "labels.duplicate_category_name": 1,  # b, c (both id 2), d
        "labels.similar_category_name": 2, "labels.missing_attribute": 1}
    assert found["severity"].tolist()[:6] == ["error"] * 6
