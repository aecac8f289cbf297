"""Hostile images for the FiftyOne bridge after its split (issue 17, item 5): devices and
folders where images should be, both ways, through fileio's one special-file test
(``fileio.not_regular``) and the layout's header reader. Nothing hangs, nothing reads
/dev/zero, and each one left out is named with what it is."""
from __future__ import annotations

import os

import pandas as pd
import pytest
from PIL import Image

import annokit

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
LEFT_OUT = {"zero.jpg": "a character device", "folder.jpg": "a folder"}


@pytest.fixture
def images(tmp_path):
    """A real image, a link to /dev/zero and a folder, all named like images."""
    root = tmp_path / "imgs"
    root.mkdir()
    Image.new("RGB", (40, 30)).save(root / "a.jpg")
    os.symlink("/dev/zero", root / "zero.jpg")
    (root / "folder.jpg").mkdir()
    return root


def test_devices_and_folders_are_left_out_when_building(fo, images):
    names = ["a.jpg", *LEFT_OUT]
    ds = annokit.Dataset(
        pd.DataFrame({"id": [1], "name": ["x"]}),
        pd.DataFrame({"id": [1, 2, 3], "file_name": names, "width": [None] * 3,
                      "height": [None] * 3}),
        pd.DataFrame({"image_id": [1, 2, 3], "category_id": [1] * 3, "x": [1.0] * 3,
                      "y": [1.0] * 3, "w": [5.0] * 3, "h": [5.0] * 3}),
        {"image_root": str(images)})
    fo_ds = annokit.to_fiftyone(ds, "devices")
    assert fo_ds.values("file_name") == ["a.jpg"]
    assert fo_ds.values("metadata.width") == [40]  # its size, read from its header
    assert [n["text"] for n in fo_ds.info["annokit"]["notes"]] == [
        f"{name}: {kind}, not a regular image file; image left out"
        for name, kind in LEFT_OUT.items()]


def test_devices_and_folders_are_left_out_when_reading_back(fo, images):
    """A dataset made in FiftyOne without metadata: sizes would come from the headers;
    /dev/zero and the folder are never opened."""
    plain = fo.Dataset("devices-made-in-fiftyone")
    plain.add_samples([fo.Sample(filepath=str(images / n), ground_truth=fo.Detections(
        detections=[fo.Detection(label="x", bounding_box=[0.1, 0.1, 0.5, 0.5])]))
        for n in ("a.jpg", *LEFT_OUT)])
    back = annokit.from_fiftyone(plain)
    assert back.images[["file_name", "width", "height"]].values.tolist() == [["a.jpg", 40, 30]]
    assert back.annotations[["x", "y", "w", "h"]].values.tolist() == [[4.0, 3.0, 20.0, 15.0]]
    assert back.notes.texts("skipped") == [
        f"{name}: {kind}, not a regular image file; sample left out"
        for name, kind in LEFT_OUT.items()]
