"""Reading: an input without images is an error for every command, and every option
reaches the format that takes it (another format's option is an error, not ignored)."""
from __future__ import annotations

import json

import pandas as pd
import pytest

import annokit
from annokit import AnnokitError, Dataset
from annokit.formats import READ_OPTIONS, WRITE_OPTIONS, check_options
from conftest import FIXTURES, run_cli as run

SHAPES = FIXTURES / "shapes" / "voc"
BOXES_CSV = FIXTURES / "csv" / "boxes.csv"


@pytest.fixture
def empty_coco(tmp_path):
    file = tmp_path / "empty.json"
    file.write_text(json.dumps({"images": [], "annotations": [],
                                "categories": [{"id": 1, "name": "cat"}]}))
    return file


@pytest.mark.parametrize("command", [
    ["convert", "coco", "voc", "{in}", "{out}"], ["info", "{in}"], ["check", "{in}"],
    ["split", "{in}", "{out}"], ["rebalance", "{in}", "{out}"],
    ["points", "to-points", "{in}", "{out}", "--to", "csv"]])
def test_no_images_is_an_error_for_every_command(tmp_path, empty_coco, command):
    out = tmp_path / "out"
    args = [a.replace("{in}", str(empty_coco)).replace("{out}", str(out)) for a in command]
    code, stdout, err = run(*args)
    assert code == 2, (stdout, err)
    assert err == f"annokit: error: {empty_coco}: no images in this coco dataset (is it the " \
                  "right folder or file? give --format if detection chose wrong)\n"
    assert "no findings" not in stdout and not out.exists()


def test_no_images_because_every_record_was_skipped_says_so(tmp_path):
    file = tmp_path / "bad.json"
    file.write_text(json.dumps({"images": [{"id": "x", "file_name": "a.jpg"}],
                                "annotations": [], "categories": []}))
    with pytest.raises(AnnokitError, match=r"no images in this coco dataset; every record "
                                           r"was skipped \(first: .*bad.json"):
        annokit.read(file)


def test_check_of_no_images_never_says_clean():
    empty = Dataset(categories=pd.DataFrame({"id": [1], "name": ["cat"]}))
    with pytest.raises(AnnokitError, match="nothing to check: the dataset has no images"):
        annokit.check(empty)


def test_another_formats_option_is_an_error(tmp_path):
    with pytest.raises(AnnokitError, match=r"^--voc-one-based \(voc_one_based\) does not "
                                           r"apply to a yolo input; formats that take it: voc$"):
        annokit.read(FIXTURES / "yolo" / "ultralytics", voc_one_based=True)
    with pytest.raises(AnnokitError, match="--image-root .* does not apply to an imagefolder "
                                           "input; formats that take it: coco, csv, parquet, "
                                           "voc, yolo"):
        annokit.read(tmp_path, "imagefolder", image_root=tmp_path)
    with pytest.raises(AnnokitError, match="--yolo-task .* does not apply to a coco output"):
        annokit.write(annokit.read(SHAPES), tmp_path / "c", "coco", yolo_task="segment")
    with pytest.raises(AnnokitError, match="unknown option 'voc_onebased'"):
        annokit.read(SHAPES, voc_onebased=True)
    assert not (tmp_path / "c").exists()


def test_an_option_at_its_unset_value_is_not_given():
    check_options({"voc_one_based": False, "csv_layout": None, "crop_padding": 0.0},
                  reader="coco", writer="yolo")


def test_convert_sends_each_option_to_the_side_that_takes_it(tmp_path):
    # read 1-based VOC, write COCO: the reader takes it, the COCO writer need not
    one = annokit.convert(SHAPES, tmp_path / "a", "voc", "coco", voc_one_based=True)[0]
    plain = annokit.read(SHAPES)
    assert (one.annotations["x"] == plain.annotations["x"] - 1).all()
    # a CSV input layout is a reader option; the YOLO target takes none of it
    ds, _ = annokit.convert(BOXES_CSV, tmp_path / "b", "csv", "coco", csv_layout="boxes")
    assert len(ds.annotations) and (ds.annotations["kind"] == "box").all()
    with pytest.raises(AnnokitError, match="--crops .* does not apply to a voc input or a "
                                           "coco output; formats that take it: imagefolder"):
        annokit.convert(SHAPES, tmp_path / "c", "voc", "coco", crops=True)


def test_the_option_tables_match_what_each_format_takes():
    import inspect

    from annokit.formats import FORMATS, _module

    shared = {"problems", "images", "single_file"}
    for name in FORMATS:
        module = _module(name)
        reads = set(inspect.signature(module.read).parameters) - shared - {"path"}
        writes = set(inspect.signature(module.write).parameters) - shared - {"ds", "out"}
        assert reads == READ_OPTIONS[name], name
        assert writes == WRITE_OPTIONS[name], name


@pytest.mark.parametrize("command", [["info"], ["check", "--no-images"]])
def test_every_reader_option_reaches_the_reader_from_any_command(command, tmp_path):
    code, out, err = run(*command, BOXES_CSV, "--csv-layout", "boxes", "--label-delimiter",
                         "|", "--strict", "--format", "csv")
    assert code in (0, 1), err
    code, out, err = run(*command, SHAPES, "--csv-layout", "boxes")
    assert code == 2 and "--csv-layout (csv_layout) does not apply to a voc input" in err


@pytest.mark.parametrize("command", [["split"], ["rebalance"]])
def test_split_and_rebalance_take_every_reader_option(command, tmp_path):
    code, out, err = run(*command, BOXES_CSV, tmp_path / "out", "--csv-layout", "boxes",
                         "--to", "coco")
    assert code == 0, err
    code, out, err = run(*command, SHAPES, tmp_path / "out2", "--label-delimiter", "|")
    assert code == 2 and "does not apply to a voc input" in err
