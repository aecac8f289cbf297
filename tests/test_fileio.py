"""Output is atomic, never clobbers without --overwrite, never touches the input."""
import os

import pandas as pd
import pytest

from annokit.errors import AnnokitError
from annokit.fileio import atomic_output, place_images, safe_relative


def test_writes_into_place(tmp_path):
    target = tmp_path / "out" / "deep" / "ds"  # parent folders are made (globox crashes here)
    with atomic_output(target) as tmp:
        tmp.mkdir()
        (tmp / "a.txt").write_text("a")
    assert (target / "a.txt").read_text() == "a"
    assert [p.name for p in target.parent.iterdir()] == ["ds"]


def test_refuses_non_empty_target_without_overwrite(tmp_path):
    target = tmp_path / "ds"
    target.mkdir()
    (target / "keep.txt").write_text("precious")
    with pytest.raises(AnnokitError, match="exists and is not empty.*--overwrite"):
        with atomic_output(target) as tmp:
            tmp.mkdir()
    assert (target / "keep.txt").read_text() == "precious"


def test_empty_folder_target_is_fine(tmp_path):
    target = tmp_path / "ds"
    target.mkdir()
    with atomic_output(target) as tmp:
        tmp.mkdir()
        (tmp / "new.txt").write_text("n")
    assert os.listdir(target) == ["new.txt"]


def test_overwrite_replaces_whole_target(tmp_path):
    target = tmp_path / "ds"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with atomic_output(target, overwrite=True) as tmp:
        tmp.mkdir()
        (tmp / "new.txt").write_text("new")
    assert os.listdir(target) == ["new.txt"]
    assert os.listdir(tmp_path) == ["ds"]  # no temporary or old copy left behind


def test_failure_leaves_old_output_and_no_debris(tmp_path):
    target = tmp_path / "ds"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_output(target, overwrite=True) as tmp:
            tmp.mkdir()
            (tmp / "half.txt").write_text("half")
            raise RuntimeError("writer died")
    assert os.listdir(target) == ["old.txt"]
    assert os.listdir(tmp_path) == ["ds"]


def test_never_writes_over_the_input(tmp_path):
    src = tmp_path / "data" / "voc"
    src.mkdir(parents=True)
    for target in (src, tmp_path / "data", src / "converted"):
        with pytest.raises(AnnokitError, match="refusing to write over or into the input"):
            with atomic_output(target, overwrite=True, protect=(src,)):
                pass
    assert src.is_dir() and not any(src.iterdir())
    beside_a_file = tmp_path / "data" / "a.json"  # a file input: its folder is fine
    beside_a_file.write_text("{}")
    with atomic_output(tmp_path / "data" / "out", protect=(beside_a_file,)) as tmp:
        tmp.mkdir()
    assert (tmp_path / "data" / "out").is_dir()


def test_safe_relative():
    assert safe_relative("a.jpg") and safe_relative("train/sub/a.jpg")
    for bad in ("../a.jpg", "a/../../b.jpg", "/etc/passwd", "C:/x.jpg", "\\\\host\\x", ""):
        assert not safe_relative(bad), bad


def test_place_images_copy_link_and_missing(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.jpg").write_bytes(b"A")
    sources = pd.Series([str(src / "a.jpg"), str(src / "missing.jpg")])
    for mode in ("copy", "link"):
        out = tmp_path / mode
        dests = pd.Series([str(out / "sub" / "a.jpg"), str(out / "m.jpg")])
        problems = place_images(sources, dests, mode)
        assert (out / "sub" / "a.jpg").read_bytes() == b"A"
        assert problems == [f"{src / 'missing.jpg'}: image not found, not {mode}ed"]
    assert os.stat(tmp_path / "link" / "sub" / "a.jpg").st_ino == os.stat(src / "a.jpg").st_ino
    assert place_images(sources, sources, "none") == []
    with pytest.raises(AnnokitError, match="--images must be one of"):
        place_images(sources, sources, "move")
