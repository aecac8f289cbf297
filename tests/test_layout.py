"""The shared format layer: one image-extension set, one image-folder search, one size
filler, and one split-name policy that every format applies the same way."""
from __future__ import annotations

import importlib
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

import annokit
from annokit.errors import AnnokitError
from annokit.formats import FORMATS, layout
from annokit.model import Dataset
from annokit.notes import LayerNotes


def _image(path: Path, size=(8, 6)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, "red").save(path)
    return path


def test_image_extensions_are_one_set_in_any_case():
    assert layout.is_image("a.JPG") and layout.is_image("b.Png") and layout.is_image("c.jpeg")
    assert not layout.is_image("a.txt") and not layout.is_image(".hidden.jpg")
    for name in FORMATS:  # no format keeps its own list
        module = importlib.import_module(f"annokit.formats.{name}")
        assert getattr(module, "IMAGE_EXTS", layout.IMAGE_EXTS) is layout.IMAGE_EXTS, name


def test_scan_and_index_find_upper_case_extensions_and_skip_hidden(tmp_path):
    _image(tmp_path / "b" / "X.JPG")
    _image(tmp_path / "a.png")
    _image(tmp_path / ".cache" / "c.png")
    (tmp_path / "notes.txt").write_text("x")
    assert [Path(p).relative_to(tmp_path).as_posix() for p in layout.scan_images(tmp_path)] \
        == ["a.png", "b/X.JPG"]
    assert layout.image_index(tmp_path) == {"a": "a.png", "b/X": "b/X.JPG"}


def test_sibling_image_folders_are_found_beside_the_annotation_folder(tmp_path):
    for name in ("annots", "Images", "jpg", "labels"):
        (tmp_path / name).mkdir()
    assert layout.sibling_image_dirs(tmp_path / "annots") == [tmp_path / "Images",
                                                               tmp_path / "jpg"]
    assert layout.sibling_image_dirs(tmp_path / "jpg") == [tmp_path / "Images"]


def test_pick_root_takes_the_folder_holding_the_named_images(tmp_path):
    _image(tmp_path / "jpg" / "a.jpg")
    (tmp_path / "images").mkdir()
    assert layout.pick_root([tmp_path / "images", tmp_path / "jpg"], ["a.jpg"]) \
        == tmp_path / "jpg"
    assert layout.pick_root([tmp_path / "images"], ["a.jpg"]) is None
    assert layout.existing_dir([tmp_path / "nope", tmp_path / "images"]) == tmp_path / "images"


def test_unknown_and_zero_sizes_are_filled_from_headers_else_left_na(tmp_path):
    _image(tmp_path / "a.png", (10, 7))
    _image(tmp_path / "b.png", (4, 3))
    ds = Dataset(images=pd.DataFrame({"file_name": ["a.png", "b.png", "gone.png", "c.png"],
                                      "width": [None, 0, None, 5],
                                      "height": [None, 0, None, 6]}),
                 meta={"image_root": str(tmp_path)})
    layout.fill_unknown_sizes(ds)
    assert ds.images["width"].tolist() == [10, 4, pd.NA, 5]
    assert ds.images["height"].tolist() == [7, 3, pd.NA, 6]
    assert str(ds.images["width"].dtype) == "Int64"


def test_split_name_policy():
    notes = LayerNotes("write")
    safe = layout.safe_split_names(pd.Series(["train", "val/2024", None, "..", "a b"]), notes)
    assert safe.tolist() == ["train", "val_2024", None, "default", "a_b"]
    assert notes.texts("note", "write") == [
        "split names made into file names: 'val/2024' -> 'val_2024', '..' -> 'default', "
        "'a b' -> 'a_b'"]
    with pytest.raises(AnnokitError, match="splits 'val/2024' and 'val_2024' would both be "
                                           "written as 'val_2024'"):
        layout.safe_split_names(pd.Series(["val/2024", "val_2024"]))
    with pytest.raises(AnnokitError, match="'Train' and 'train'"):
        layout.safe_split_names(pd.Series(["Train", "train"]))


def _two_splits(tmp_path: Path) -> Dataset:
    for name in ("a.png", "b.png"):
        _image(tmp_path / "src" / name)
    return Dataset(
        categories=pd.DataFrame({"id": [1], "name": ["cat"]}),
        images=pd.DataFrame({"id": [1, 2], "file_name": ["a.png", "b.png"], "width": [8, 8],
                             "height": [6, 6], "split": ["train", "val/2024"]}),
        annotations=pd.DataFrame({"image_id": [1, 2], "category_id": [1, 1], "x": [1.0, 2.0],
                                  "y": [1.0, 1.0], "w": [3.0, 3.0], "h": [2.0, 2.0]}),
        meta={"image_root": str(tmp_path / "src")})


@pytest.mark.parametrize("fmt, written", [
    ("coco", "annotations/instances_val_2024.json"), ("voc", "ImageSets/Main/val_2024.txt"),
    ("yolo", "images/val_2024/b.png"), ("imagefolder", "val_2024/cat/b.png")])
def test_every_format_writes_the_same_safe_split_name(tmp_path, fmt, written):
    notes = annokit.write(_two_splits(tmp_path), tmp_path / "out", fmt, images="copy").texts()
    assert (tmp_path / "out" / written).is_file()
    assert "split names made into file names: 'val/2024' -> 'val_2024'" in notes
    if fmt == "imagefolder":  # only train/val/test folders read back as splits
        assert any("val_2024 are not train/val/test" in n for n in notes)
        return
    back = annokit.read(tmp_path / "out", fmt)
    assert sorted(back.images["split"].dropna().unique()) == ["train", "val_2024"]
