"""Detection -> crops: pixel content, padding, minimum size, names, errors, real data."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import annokit
from annokit.crops import write_crops
from annokit.errors import AnnokitError, FormatError, Problems
from annokit.fileio import atomic_output
from annokit.formats import imagefolder
from conftest import assert_same_content, shared_dataset

RED, BLUE, GREY = (255, 0, 0), (0, 0, 255), (128, 128, 128)


def scene(path: Path, fmt: str = "PNG") -> Path:
    """80x60 grey image: red rectangle on pixels x 10..29, y 5..24; blue on x 50..69, y 30..49."""
    im = Image.new("RGB", (80, 60), GREY)
    im.paste(RED, (10, 5, 30, 25))
    im.paste(BLUE, (50, 30, 70, 50))
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, format=fmt)
    return path


def dataset(root: Path, boxes: list[tuple], file_names=("scene.png",), splits=None,
            ann_ids=None) -> annokit.Dataset:
    """Boxes given as (image index, class name, x, y, w, h) over the images in ``root``."""
    names = ["red", "blue"]
    anns = pd.DataFrame(boxes, columns=["image", "name", "x", "y", "w", "h"])
    return annokit.Dataset(
        pd.DataFrame({"id": [1, 2], "name": names}),
        pd.DataFrame({"id": np.arange(1, len(file_names) + 1), "file_name": list(file_names),
                      "split": splits}),
        pd.DataFrame({"id": ann_ids if ann_ids is not None else np.arange(1, len(anns) + 1),
                      "image_id": anns["image"] + 1,
                      "category_id": anns["name"].map({"red": 1, "blue": 2}),
                      "x": anns["x"], "y": anns["y"], "w": anns["w"], "h": anns["h"]}),
        meta={"image_root": str(root)})


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


@pytest.fixture
def src(tmp_path) -> Path:
    scene(tmp_path / "src" / "scene.png")
    return tmp_path / "src"


def test_crop_pixels_are_the_box(src, tmp_path):
    ds = dataset(src, [(0, "red", 10, 5, 20, 20), (0, "blue", 50, 30, 20, 20)])
    problems = Problems()
    crops = write_crops(ds, tmp_path / "out", problems=problems)
    assert problems.messages() == [] and crops.notes.of(source="crops").texts() == []
    red = pixels(tmp_path / "out" / "red" / "scene_1.png")
    blue = pixels(tmp_path / "out" / "blue" / "scene_2.png")
    assert red.shape == (20, 20, 3) and (red == RED).all()
    assert blue.shape == (20, 20, 3) and (blue == BLUE).all()


def test_returned_dataset_traces_every_crop(src, tmp_path):
    ds = dataset(src, [(0, "red", 10, 5, 20, 20), (0, "blue", 50, 30, 20, 20)],
                 ann_ids=[17, 4])
    ds.annotations["score"] = [0.25, 0.75]
    crops = write_crops(ds, tmp_path / "out", problems=Problems())
    img = crops.images
    assert img["file_name"].tolist() == ["red/scene_17.png", "blue/scene_4.png"]
    assert img[["width", "height"]].values.tolist() == [[20, 20], [20, 20]]
    assert img["source_image_id"].tolist() == [1, 1]
    assert img["source_annotation_id"].tolist() == [17, 4]
    assert img["source_file_name"].tolist() == ["scene.png", "scene.png"]
    anns = crops.annotations
    assert anns[["image_id", "category_id", "kind"]].values.tolist() == [[1, 1, "label"],
                                                                         [2, 2, "label"]]
    assert anns["score"].tolist() == [0.25, 0.75]
    assert crops.meta["image_root"] == str(tmp_path / "out")
    assert all(Path(p).is_file() for p in crops.image_paths())
    assert crops.meta["crops"]["boxes"] == 2 and crops.meta["crops"]["written"] == 2


def test_padding_is_a_fraction_of_the_box_and_is_clipped(src, tmp_path):
    ds = dataset(src, [(0, "red", 10, 5, 20, 20)])
    crops = write_crops(ds, tmp_path / "out", padding=0.5, problems=Problems())
    # x: 10 - 10 .. 30 + 10 = 0..40; y: 5 - 10 = -5 -> 0 .. 25 + 10 = 35
    assert crops.images[["width", "height"]].values.tolist() == [[40, 35]]
    got = pixels(tmp_path / "out" / "red" / "scene_1.png")
    assert got.shape == (35, 40, 3)
    assert (got[5:25, 10:30] == RED).all()  # the box itself, where it was
    assert (got[:5] == GREY).all() and (got[:, :10] == GREY).all() and (got[:, 30:] == GREY).all()


def test_fractional_boxes_round_outwards(src, tmp_path):
    # 10.5..19.5 touches pixels 10..19; 5.0000000001 is float noise for 5
    ds = dataset(src, [(0, "red", 10.5, 5.0000000001, 9.0, 9.9999999998)])
    crops = write_crops(ds, tmp_path / "out", problems=Problems())
    assert crops.images[["width", "height"]].values.tolist() == [[10, 10]]
    assert (pixels(tmp_path / "out" / "red" / "scene_1.png") == RED).all()


def test_min_size_outside_and_non_boxes(src, tmp_path):
    ds = dataset(src, [(0, "red", 10, 5, 20, 20), (0, "red", 12, 6, 3, 9), (0, "blue", 0, 0, 0, 0),
                       (0, "blue", 100, 100, 5, 5), (0, "red", np.nan, 1, 2, 3)])
    ds.annotations.loc[len(ds.annotations)] = ds.annotations.iloc[0]
    ds.annotations.loc[5, ["id", "kind"]] = [6, "label"]
    crops = write_crops(ds, tmp_path / "out", min_size=4, problems=Problems())
    assert crops.notes.of(source="crops").texts() == [
        "crops are cut from boxes: 1 'label' annotations ignored",
        "1 boxes without finite coordinates: not cropped",
        "2 boxes smaller than 4 px not cropped",
        "1 boxes lie outside their image: not cropped",
        "1 class with no image left out: blue (torchvision's ImageFolder refuses an empty "
        "class folder)"]
    assert crops.images["source_annotation_id"].tolist() == [1]
    assert not (tmp_path / "out" / "blue").exists()  # its one crop failed: no empty folder
    # the default minimum of 1 px keeps the 3x9 box and drops only the empty one
    crops = write_crops(ds, tmp_path / "out1", problems=Problems())
    assert crops.images["source_annotation_id"].tolist() == [1, 2]
    assert "1 boxes smaller than 1 px not cropped" in crops.notes.of(source="crops").texts()


def test_bad_options_are_refused(src, tmp_path):
    ds = dataset(src, [(0, "red", 10, 5, 20, 20)])
    with pytest.raises(AnnokitError, match="padding"):
        write_crops(ds, tmp_path / "a", padding=-0.1, problems=Problems())
    with pytest.raises(AnnokitError, match="minimum size"):
        write_crops(ds, tmp_path / "b", min_size=-1, problems=Problems())


def test_missing_and_broken_images(src, tmp_path):
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    ds = dataset(src, [(0, "red", 10, 5, 20, 20), (1, "red", 1, 1, 5, 5), (1, "blue", 1, 1, 5, 5),
                       (2, "red", 1, 1, 5, 5)],
                 file_names=("scene.png", "gone.png", "broken.png"))
    problems = Problems()
    crops = write_crops(ds, tmp_path / "out", problems=problems)
    assert problems.messages()[0] == (f"{src / 'gone.png'}:image id 2: image file not found "
                                      "(2 boxes not cropped)")
    assert problems.messages()[1].startswith(f"{src / 'broken.png'}:image id 3: cannot crop "
                                             "image (UnidentifiedImageError")
    assert crops.images["source_annotation_id"].tolist() == [1]
    with pytest.raises(FormatError, match="gone.png"):
        write_crops(ds, tmp_path / "strict", problems=Problems(strict=True))


def test_names_keep_extension_and_split_and_repeated_ids(tmp_path):
    src = tmp_path / "src"
    scene(src / "a" / "IMG.JPG", "JPEG")
    scene(src / "b" / "IMG.JPG", "JPEG")
    ds = dataset(src, [(0, "red", 10, 5, 20, 20), (1, "red", 10, 5, 20, 20),
                       (1, "blue", 50, 30, 20, 20)],
                 file_names=("a/IMG.JPG", "b/IMG.JPG"), splits=["val", "val"], ann_ids=[5, 5, 6])
    crops = write_crops(ds, tmp_path / "out", problems=Problems())
    assert sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.*")) \
        == ["val/blue/IMG_6.JPG", "val/red/IMG_5-2.JPG", "val/red/IMG_5.JPG"]
    assert crops.images["file_name"].tolist() == ["red/IMG_5.JPG", "red/IMG_5-2.JPG",
                                                  "blue/IMG_6.JPG"]
    assert crops.images["source_file_name"].tolist() == ["a/IMG.JPG", "b/IMG.JPG", "b/IMG.JPG"]
    assert crops.images["split"].tolist() == ["val", "val", "val"]
    assert crops.meta["split_roots"] == {"val": str(tmp_path / "out" / "val")}
    with Image.open(tmp_path / "out" / "val" / "red" / "IMG_5-2.JPG") as im:
        assert im.format == "JPEG"
        got = np.asarray(im, dtype=float)
    source = pixels(src / "b" / "IMG.JPG")[5:25, 10:30]  # decoded, as the crop was cut
    assert np.abs(got - source).mean() < 3  # saved at JPEG quality 95: close, not exact


def test_exif_orientation_is_not_applied(tmp_path):
    """Boxes are in stored pixels: a rotated-for-display photo is cropped as stored."""
    im = Image.new("RGB", (60, 20), BLUE)
    im.paste(RED, (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees
    (tmp_path / "src").mkdir()
    im.save(tmp_path / "src" / "phone.jpg", exif=exif, quality=100)
    ds = dataset(tmp_path / "src", [(0, "red", 0, 0, 20, 20)], file_names=("phone.jpg",))
    write_crops(ds, tmp_path / "out", problems=Problems())
    with Image.open(tmp_path / "out" / "red" / "phone_1.jpg") as crop:
        assert crop.size == (20, 20) and crop.getexif().get(0x0112) is None
        assert np.abs(np.asarray(crop, dtype=float) - RED).mean() < 3


def test_imagefolder_write_with_crops_reads_back(src, tmp_path):
    ds = dataset(src, [(0, "red", 10, 5, 20, 20), (0, "blue", 50, 30, 20, 20),
                       (0, "blue", 1, 1, 0, 0)], splits=["val"])
    problems = Problems()
    with atomic_output(tmp_path / "out") as tmp:
        notes = imagefolder.write(ds, tmp, images="link", problems=problems, single_file=False,
                                  crops=True, crop_padding=0.0, crop_min_size=1)
    assert notes.texts() == ["1 boxes smaller than 1 px not cropped"]
    back = imagefolder.read(tmp_path / "out", problems=Problems())
    assert back.images[["file_name", "width", "height", "split"]].values.tolist() == [
        ["blue/scene_2.png", 20, 20, "val"], ["red/scene_1.png", 20, 20, "val"]]
    crops = write_crops(ds, tmp_path / "again", problems=Problems())
    assert_same_content(crops, back)


@pytest.mark.slow
def test_bccd_crops_read_back_as_classification(tmp_path):
    """4,888 boxes, two of them zero-size RBCs: 4,886 crops in 3 class folders per split."""
    ds = annokit.read(shared_dataset("bccd", "BCCD"), "voc")
    problems = Problems()
    with atomic_output(tmp_path / "cells") as tmp:
        notes = imagefolder.write(ds, tmp, images="link", problems=problems, single_file=False,
                                  crops=True)
    assert problems.messages() == []
    assert notes.texts() == ["2 boxes smaller than 1 px not cropped"]
    assert imagefolder.detect(tmp_path / "cells")
    back = imagefolder.read(tmp_path / "cells", problems=Problems())
    assert len(back) == 4886 and len(back.annotations) == 4886
    assert back.categories["name"].tolist() == ["Platelets", "RBC", "WBC"]
    assert back.summary()["images"].to_dict() == {"Platelets": 361, "RBC": 4153, "WBC": 372}
    assert back.images["split"].value_counts().to_dict() == {"train": 2804, "val": 1137,
                                                             "test": 945}
    # BloodImage_00000's first object: WBC 260,177 231x199, cropped from the decoded source
    row = back.images.set_index("file_name").loc["WBC/BloodImage_00000_1.jpg"]
    assert (row["width"], row["height"], row["split"]) == (231, 199, "val")
    source = pixels(Path(ds.image_paths()[0]))[177:376, 260:491].astype(float)
    crop = pixels(tmp_path / "cells" / "val" / "WBC" / "BloodImage_00000_1.jpg")
    assert np.abs(crop - source).mean() < 3
