"""What annokit writes, the tool users load next accepts: Ultralytics, torchvision, Datumaro.

Each test runs the real library (``pip install -e ".[consumers]"``) and is skipped, with a
message, where it is not installed. The counts, class names and boxes the library reads
are compared with what annokit read from the source.
"""
import os
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

import annokit
from conftest import FIXTURES, shared_dataset

os.environ.setdefault("YOLO_OFFLINE", "1")  # Ultralytics: never reach for the network

SHAPES = FIXTURES / "shapes" / "voc"
ROBOFLOW_COCO = FIXTURES / "coco" / "roboflow"
ROBOFLOW_YOLO = FIXTURES / "yolo" / "roboflow"


def need(module: str):
    """Import ``module`` or skip: absent, or unusable here (torchvision built for another
    torch fails at import with a RuntimeError)."""
    try:
        return __import__(module)
    except Exception as e:  # noqa: BLE001 (any import failure means: cannot run here)
        pytest.skip(f"{module} cannot be imported ({type(e).__name__}: {str(e)[:80]}); "
                    "pip install -e '.[consumers]' runs these tests")


# -- Ultralytics -------------------------------------------------------------------------

def yolo_sources():
    return {"coco_roboflow_id0": (ROBOFLOW_COCO, "coco"),
            "voc_bccd": (shared_dataset("bccd", "BCCD"), "voc"),
            "yolo_roboflow": (ROBOFLOW_YOLO, "yolo")}


@pytest.mark.parametrize("name", ["coco_roboflow_id0", "voc_bccd", "yolo_roboflow"])
def test_ultralytics_accepts_yolo_output(tmp_path, name, monkeypatch):
    need("ultralytics")
    monkeypatch.setenv("YOLO_CONFIG_DIR", str(tmp_path / "ultralytics"))
    from ultralytics.data.utils import check_det_dataset, img2label_paths, verify_image_label

    src, fmt = yolo_sources()[name]
    ds = annokit.read(src, fmt)
    out = tmp_path / "yolo"
    notes = annokit.write(ds, out, "yolo", images="link")
    data = check_det_dataset(str(out / "data.yaml"), autodownload=False)
    cats = ds.categories.sort_values("id")
    assert data["nc"] == len(cats) and list(data["names"].values()) == cats["name"].tolist()
    assert data["train"] and data["val"]
    images = sorted(p for p in out.joinpath("images").rglob("*") if p.is_file())
    assert len(images) == len(ds.images) == notes.written["images"]
    boxes, classes = 0, []
    for image, label in zip(images, img2label_paths([str(p) for p in images])):
        result = verify_image_label((str(image), label, "", False, data["nc"], 0, 0, False))
        im_file, lb, shape, segments, keypoints, nm, nf, ne, nc, msg = result
        assert nc == 0 and im_file, msg  # not corrupt
        assert "duplicate" not in msg, msg
        boxes += len(lb)
        classes += lb[:, 0].astype(int).tolist()
    assert boxes == (ds.annotations["kind"] == "box").sum() == notes.written["annotations"]
    # class k is the k-th category by id: the names Ultralytics shows are the right ones
    expected = ds.annotations["category_id"].map(
        dict(zip(cats["id"], range(len(cats))))).value_counts().sort_index()
    assert pd.Series(classes).value_counts().sort_index().tolist() == expected.tolist()


# -- torchvision ---------------------------------------------------------------------------

def test_torchvision_voc_detection_reads_voc_output(tmp_path):
    need("torchvision")
    from torchvision.datasets import VOCDetection

    src = shared_dataset("bccd", "BCCD")
    ds = annokit.read(src)
    root = tmp_path / "VOCdevkit" / "VOC2012"  # where VOCDetection looks for year 2012
    annokit.write(ds, root, "voc", images="link")
    for split in ("train", "val"):
        voc = VOCDetection(str(tmp_path), year="2012", image_set=split)
        files = ds.images.loc[ds.images["split"] == split, "file_name"]
        assert len(voc) == len(files)
        image, target = voc[0]
        assert image.size == (640, 480)
        rows = []
        for i in range(len(voc)):
            ann = voc.parse_voc_xml(ET.parse(voc.annotations[i]).getroot())["annotation"]
            for obj in ann.get("object", []):
                b = obj["bndbox"]  # integers, as the source had them: int() parses them
                rows.append((ann["filename"], obj["name"],
                             *(int(b[k]) for k in ("xmin", "ymin", "xmax", "ymax"))))
        got = pd.DataFrame(rows, columns=["file_name", "name", "x0", "y0", "x1", "y1"])
        want = _voc_rows(ds, set(files))
        pd.testing.assert_frame_equal(_sorted(got), _sorted(want), check_dtype=False)


def _voc_rows(ds, files: set) -> pd.DataFrame:
    a = ds.annotations
    names = ds.categories.set_index("id")["name"]
    file_of = ds.images.set_index("id")["file_name"]
    frame = pd.DataFrame({"file_name": a["image_id"].map(file_of),
                          "name": a["category_id"].map(names),
                          "x0": a["x"], "y0": a["y"], "x1": a["x"] + a["w"],
                          "y1": a["y"] + a["h"]})
    return frame[frame["file_name"].isin(files)]


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


@pytest.mark.parametrize("crops", [False, True])
def test_torchvision_image_folder_reads_imagefolder_output(tmp_path, crops):
    need("torchvision")
    from torchvision.datasets import ImageFolder

    ds = annokit.read(SHAPES)
    # a class with no image: torchvision refuses its empty folder, so annokit leaves it out
    ds.categories = pd.concat([ds.categories, pd.DataFrame(
        {"id": [99], "name": ["unused"], "supercategory": [None]})], ignore_index=True)
    out = tmp_path / "cls"
    notes = annokit.write(ds, out, "imagefolder", images="link", crops=crops)
    assert any("with no image left out: " in n and "unused" in n for n in notes.texts())
    loaded = 0
    for split in sorted(p for p in out.iterdir() if p.is_dir()):
        folder = ImageFolder(str(split))
        on_disk = sorted(p.name for p in split.iterdir() if p.is_dir())
        assert folder.classes == on_disk and "unused" not in on_disk
        image, target = folder[0]
        assert image.size[0] > 0 and folder.classes[target] in on_disk
        loaded += len(folder)
    unlabelled = sum(1 for split in out.iterdir() for p in split.iterdir() if p.is_file())
    assert loaded == notes.written["images"] - unlabelled  # ImageFolder skips class-less ones
    single = int((ds.annotations.groupby("image_id")["category_id"].nunique() == 1).sum())
    assert loaded == (len(ds.annotations) if crops else single)  # a crop per box; else the
    # images of one class (the others are left out with a note)


# -- Datumaro ------------------------------------------------------------------------------

@pytest.mark.parametrize("src", ["shapes", "bccd", "raccoon"])
def test_datumaro_imports_voc_output(tmp_path, src):
    need("datumaro")
    from datumaro.components.annotation import AnnotationType
    from datumaro.components.dataset import Dataset as DmDataset

    if src == "raccoon":  # no splits: annokit lists every image in ImageSets/Main/default.txt
        raccoon = shared_dataset("raccoon")
        ds = annokit.read(raccoon / "annotations", "voc", image_root=raccoon / "images")
    else:
        ds = annokit.read(SHAPES if src == "shapes" else shared_dataset("bccd", "BCCD"))
    annokit.write(ds, tmp_path / "voc", "voc", images="link")
    dm = DmDataset.import_from(str(tmp_path / "voc"), "voc_detection")
    labels = [c.name for c in dm.categories()[AnnotationType.label]]
    assert labels == ds.categories.sort_values("id")["name"].tolist()  # no 'background' added
    items = [item for item in dm if item.subset != "trainval"]  # trainval repeats train + val
    assert sorted(i.subset for i in items) == sorted(ds.images["split"].fillna("default"))
    rows = [(item.id + ".jpg", labels[a.label], a.x, a.y, a.x + a.w, a.y + a.h)
            for item in items for a in item.annotations if a.type == AnnotationType.bbox]
    got = pd.DataFrame(rows, columns=["file_name", "name", "x0", "y0", "x1", "y1"])
    want = _voc_rows(ds, set(ds.images["file_name"]))
    np.testing.assert_allclose(_sorted(got)[["x0", "y0", "x1", "y1"]].to_numpy(float),
                               _sorted(want)[["x0", "y0", "x1", "y1"]].to_numpy(float))
    assert _sorted(got)["name"].tolist() == _sorted(want)["name"].tolist()


@pytest.mark.parametrize("src", ["shapes", "bccd"])
def test_datumaro_imports_coco_output(tmp_path, src):
    """A split COCO output (annotations/instances_<split>.json beside images/) is a
    Datumaro coco_instances dataset: the same subsets, images, classes and boxes."""
    need("datumaro")
    from datumaro.components.annotation import AnnotationType
    from datumaro.components.dataset import Dataset as DmDataset

    ds = annokit.read(SHAPES if src == "shapes" else shared_dataset("bccd", "BCCD"))
    annokit.write(ds, tmp_path / "coco", "coco", images="link")
    dm = DmDataset.import_from(str(tmp_path / "coco"), "coco_instances")
    labels = [c.name for c in dm.categories()[AnnotationType.label]]
    assert sorted(labels) == sorted(ds.categories["name"])
    assert sorted(item.subset for item in dm) == sorted(ds.images["split"])
    boxes = sorted((labels[a.label], round(a.x, 3), round(a.y, 3), round(a.w, 3), round(a.h, 3))
                   for item in dm for a in item.annotations if a.type == AnnotationType.bbox)
    names = ds.categories.set_index("id")["name"]
    want = sorted(zip(ds.annotations["category_id"].map(names), *(
        ds.annotations[c].round(3) for c in "xywh")))
    assert boxes == [(n, float(x), float(y), float(w), float(h)) for n, x, y, w, h in want]
