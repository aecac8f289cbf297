"""Every fault planted in fixtures/qc/planted is found, and clean data gives no errors."""
import json

import pytest

import annokit
from conftest import FIXTURES, shared_dataset

PLANTED = FIXTURES / "qc" / "planted"


@pytest.fixture(scope="module")
def planted():
    ds = annokit.read(PLANTED)
    found = annokit.check(ds)
    names = ds.images.set_index("id")["file_name"]
    found = found.assign(file_name=found["image_id"].map(names))
    return ds, found


EXPECTED = json.loads((PLANTED / "expected.json").read_text())
# faults a reader refuses are checked among the skipped records, below
CHECKED = [f for f in EXPECTED if f["check"] != "reader"]


@pytest.mark.parametrize("fault", CHECKED, ids=lambda f: f"{f['check']}:{f['file_name']}")
def test_planted_fault_is_found(planted, fault):
    _, found = planted
    hits = found[found["check"] == fault["check"]]
    assert len(hits), f"{fault['check']} found nothing"
    if fault["file_name"]:
        hits = hits[hits["file_name"] == fault["file_name"]]
        assert len(hits), f"{fault['check']} missed {fault['file_name']}"
    if fault["annotation_id"]:
        assert fault["annotation_id"] in set(hits["annotation_id"].dropna())


def test_reader_names_what_it_refused(planted):
    ds, _ = planted
    skipped = "\n".join(ds.notes.texts("skipped"))
    assert len(ds.notes.texts("skipped")) == sum(f["check"] == "reader" for f in EXPECTED)
    assert "bbox [nan, 10, 20, 20] is not 4 finite numbers" in skipped
    assert "category_id 99 has no category" in skipped
    assert "image_id 999999 has no image" in skipped


def test_clean_images_are_not_flagged_as_errors(planted):
    """The forty clean images carry no error or warning of their own."""
    _, found = planted
    clean = found[found["file_name"].fillna("").str.startswith("clean_")]
    assert clean[clean["severity"] != "info"].empty, clean[["check", "message"]].to_string()


def test_shapes_fixture_has_no_errors():
    found = annokit.check(annokit.read(FIXTURES / "shapes" / "voc"))
    assert not (found["severity"] == "error").any(), found.to_string()


@pytest.mark.slow
def test_bccd_known_problems_are_found():
    ds = annokit.read(shared_dataset("bccd", "BCCD"), "voc")
    found = annokit.check(ds)
    names = ds.images.set_index("id")["file_name"]
    zero = found[found["check"] == "geometry.zero_size"]
    assert sorted(zero["image_id"].map(names)) == ["BloodImage_00338.jpg",
                                                   "BloodImage_00343.jpg"]
    assert (found["check"] == "geometry.near_duplicate").sum() >= 5  # overlapping RBC boxes
    imbalance = found[found["check"] == "balance.imbalance"]
    assert len(imbalance) == 1 and imbalance["value"].iloc[0] > 10  # RBC is 85% of boxes
    assert not found["check"].isin(["images.missing", "images.unreadable"]).any()


@pytest.mark.slow
def test_yolo_mark_train_equals_valid_is_found():
    ds = annokit.read(shared_dataset("yolo_mark_darknet_sample", "x64", "Release", "data"), "yolo")
    assert any("air7.jpg, which does not exist" in s for s in ds.notes.texts("skipped"))
    found = annokit.check(ds)
    overlap = found[found["check"] == "balance.split_overlap"]
    assert overlap["message"].tolist() == [
        "10 images are listed in both 'train' and 'val': the held-out split is not held out"]


@pytest.mark.slow
def test_sign_language_originals_are_found():
    ds = annokit.read(shared_dataset("sign_language_digits", "Dataset"), "imagefolder")
    found = annokit.check(ds, images=False)
    big = found[found["check"] == "images.size_outlier"]
    names = ds.images.set_index("id")["file_name"]
    assert sorted(big["image_id"].map(names)) == ["7/IMG_5874.JPG", "7/IMG_5935.JPG",
                                                  "7/IMG_5978.JPG"]
