"""Parquet as a format: the model's three tables and meta.json, read back losslessly,
and readable as they are by DuckDB and Polars."""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import annokit
from annokit.errors import AnnokitError, FormatError
from annokit.formats import parquet

from conftest import FIXTURES, assert_same_content, run_cli, shared_dataset

SHAPES = FIXTURES / "shapes" / "voc"

# every input annokit reads in ../shared/datasets and fixtures/ (format:path)
SHARED = """
coco:peer_fixtures/mmdet/coco_sample.json
voc:peer_fixtures/datumaro_cvat
coco:peer_fixtures/datumaro_cvat/coco_dataset/coco_person_keypoints
coco:peer_fixtures/datumaro_cvat/coco_dataset/coco_person_keypoints/annotations/person_keypoints_train.json
coco:peer_fixtures/datumaro_cvat/coco_dataset/coco_person_keypoints/annotations/person_keypoints_val.json
voc:peer_fixtures/datumaro_cvat/labelme_dataset
yolo:peer_fixtures/datumaro_cvat/yolo_dataset/yolov8_detection_with_list_of_imgs
yolo:peer_fixtures/datumaro_cvat/yolo_dataset/yolov8_detection
yolo:peer_fixtures/datumaro_cvat/yolo_dataset/yolov8_pose_two_values_per_point
yolo:peer_fixtures/datumaro_cvat/yolo_dataset/yolov8_oriented_boxes
yolo:peer_fixtures/datumaro_cvat/yolo_dataset/yolo
yolo:peer_fixtures/datumaro_cvat/yolo_dataset/yolov8_detection_with_list_of_names
yolo:peer_fixtures/datumaro_cvat/yolo_dataset/yolov8_segmentation
yolo:peer_fixtures/datumaro_cvat/yolo_dataset/yolov8_pose
imagefolder:peer_fixtures/datumaro_cvat/yolo_dataset/yolov8_classification
imagefolder:peer_fixtures/datumaro_cvat/yolo_dataset/yolov8_classification/train
yolo:peer_fixtures/datumaro_cvat/yolo_dataset/yolov8_detection_with_subset_txt
imagefolder:peer_fixtures/datumaro_openvino
coco:peer_fixtures/datumaro_openvino/coco_dataset/coco_captions
coco:peer_fixtures/datumaro_openvino/coco_dataset/coco_captions/annotations/captions_val.json
coco:peer_fixtures/datumaro_openvino/coco_dataset/coco_captions/annotations/captions_train.json
coco:peer_fixtures/datumaro_openvino/coco_dataset/coco_labels
coco:peer_fixtures/datumaro_openvino/coco_dataset/coco_labels/annotations/labels_train.json
coco:peer_fixtures/datumaro_openvino/coco_dataset/coco_labels/annotations/labels_val.json
coco:peer_fixtures/datumaro_openvino/coco_dataset/coco
coco:peer_fixtures/datumaro_openvino/coco_dataset/coco/annotations/panoptic_val.json
coco:peer_fixtures/datumaro_openvino/coco_dataset/coco/annotations/labels_train.json
coco:peer_fixtures/datumaro_openvino/coco_dataset/coco/annotations/captions_val.json
coco:peer_fixtures/datumaro_openvino/coco_dataset/coco/annotations/image_info_train.json
coco:peer_fixtures/datumaro_openvino/coco_dataset/coco/annotations/stuff_val.json
coco:peer_fixtures/datumaro_openvino/coco_dataset/coco/annotations/labels_val.json
coco:peer_fixtures/datumaro_openvino/coco_dataset/coco/annotations/instances_train.json
coco:peer_fixtures/datumaro_openvino/coco_dataset/coco/annotations/person_keypoints_train.json
coco:peer_fixtures/datumaro_openvino/coco_dataset/coco/annotations/person_keypoints_val.json
coco:peer_fixtures/datumaro_openvino/coco_dataset/coco/annotations/image_info_val.json
coco:peer_fixtures/datumaro_openvino/coco_dataset/coco/annotations/stuff_train.json
coco:peer_fixtures/datumaro_openvino/coco_dataset/coco/annotations/panoptic_train.json
coco:peer_fixtures/datumaro_openvino/coco_dataset/coco/annotations/captions_train.json
coco:peer_fixtures/datumaro_openvino/coco_dataset/coco/annotations/instances_val.json
coco:peer_fixtures/datumaro_openvino/coco_dataset/coco_panoptic
coco:peer_fixtures/datumaro_openvino/coco_dataset/coco_panoptic/annotations/panoptic_val.json
coco:peer_fixtures/datumaro_openvino/coco_dataset/coco_panoptic/annotations/panoptic_train.json
coco:peer_fixtures/datumaro_openvino/coco_dataset/coco_instances
coco:peer_fixtures/datumaro_openvino/coco_dataset/coco_instances/annotations/instances_train.json
coco:peer_fixtures/datumaro_openvino/coco_dataset/coco_instances/annotations/instances_val.json
coco:peer_fixtures/datumaro_openvino/coco_dataset/coco_stuff
coco:peer_fixtures/datumaro_openvino/coco_dataset/coco_stuff/annotations/stuff_val.json
coco:peer_fixtures/datumaro_openvino/coco_dataset/coco_stuff/annotations/stuff_train.json
coco:peer_fixtures/datumaro_openvino/coco_dataset/coco_person_keypoints
coco:peer_fixtures/datumaro_openvino/coco_dataset/coco_person_keypoints/annotations/person_keypoints_train.json
coco:peer_fixtures/datumaro_openvino/coco_dataset/coco_person_keypoints/annotations/person_keypoints_val.json
coco:peer_fixtures/datumaro_openvino/coco_dataset/coco_image_info
coco:peer_fixtures/datumaro_openvino/coco_dataset/coco_image_info/annotations/image_info_train.json
coco:peer_fixtures/datumaro_openvino/coco_dataset/coco_image_info/annotations/image_info_val.json
voc:peer_fixtures/datumaro_openvino/voc_dataset/voc_dataset1
voc:peer_fixtures/datumaro_openvino/voc_dataset/voc_dataset1/Annotations
voc:peer_fixtures/datumaro_openvino/voc_dataset/voc_dataset3
voc:peer_fixtures/datumaro_openvino/voc_dataset/voc_dataset3/Annotations
imagefolder:peer_fixtures/datumaro_openvino/imagenet_dataset
imagefolder:peer_fixtures/datumaro_openvino/imagenet_dataset/label_1
imagefolder:sign_language_digits/Dataset
csv:bccd/test.csv
voc:bccd/BCCD
voc:bccd/BCCD/Annotations
coco:labelme_examples/examples/instance_segmentation/data_dataset_coco
coco:labelme_examples/examples/instance_segmentation/data_dataset_coco/annotations.json
voc:labelme_examples/examples/bbox_detection/data_dataset_voc
voc:labelme_examples/examples/bbox_detection/data_dataset_voc/Annotations
yolo:yolo_mark_darknet_sample/x64/Release/data
voc:raccoon
voc:raccoon/annotations
csv:raccoon/data/train_labels.csv
csv:raccoon/data/test_labels.csv
csv:raccoon/data/raccoon_labels.csv
""".split()
FIXTURES = """
coco:fixtures/qc/planted
coco:fixtures/qc/planted/annotations/train.json
coco:fixtures/qc/planted/annotations/val.json
voc:fixtures/shapes/voc
voc:fixtures/shapes/voc/Annotations
yolo:fixtures/yolo/bad_lines
yolo:fixtures/yolo/darknet/data
yolo:fixtures/yolo/predictions
yolo:fixtures/yolo/folder
yolo:fixtures/yolo/roboflow
yolo:fixtures/yolo/roboflow/valid
yolo:fixtures/yolo/roboflow/train
yolo:fixtures/yolo/segment
yolo:fixtures/yolo/names_dict
yolo:fixtures/yolo/ultralytics
coco:fixtures/coco/results.json
coco:fixtures/coco/bad/broken_records.json
coco:fixtures/coco/no_size
coco:fixtures/coco/no_size/annotations.json
coco:fixtures/coco/roboflow
coco:fixtures/coco/roboflow/valid
coco:fixtures/coco/roboflow/valid/_annotations.coco.json
coco:fixtures/coco/roboflow/train
coco:fixtures/coco/roboflow/train/_annotations.coco.json
coco:fixtures/coco/splits
coco:fixtures/coco/splits/annotations/instances_train.json
coco:fixtures/coco/splits/annotations/instances_val.json
coco:fixtures/coco/basic
coco:fixtures/coco/basic/annotations.json
csv:fixtures/csv/boxes_bccd_style.csv
csv:fixtures/csv/label_columns.csv
csv:fixtures/csv/points.csv
csv:fixtures/csv/points_scored.csv
csv:fixtures/csv/label_long.csv
csv:fixtures/csv/onehot.csv
csv:fixtures/csv/boxes.csv
csv:fixtures/csv/multilabel.csv
csv:fixtures/csv/label.csv
csv:fixtures/csv/bad_rows.csv
csv:fixtures/csv/multilabel_space.csv
voc:fixtures/voc
voc:fixtures/voc/bad
voc:fixtures/voc/root
voc:fixtures/voc/root/Annotations
voc:fixtures/voc/bare
voc:fixtures/voc/splits
voc:fixtures/voc/splits/valid
voc:fixtures/voc/splits/test
voc:fixtures/voc/splits/train
""".split()


def _read(path, fmt):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return annokit.read(path, fmt)


def _normal(value):
    """Meta as JSON sees it: tuples are lists, numpy values plain."""
    return json.loads(json.dumps(value, default=parquet._plain))


def assert_lossless(a, b):
    """Every table equal (columns, order, dtypes, values) and the data's meta equal."""
    for name in parquet.TABLES:
        fa, fb = getattr(a, name), getattr(b, name)
        assert list(fa.columns) == list(fb.columns), name
        for col in fa.columns:
            assert fa[col].dtype == fb[col].dtype, (name, col, fa[col].dtype, fb[col].dtype)
        pd.testing.assert_frame_equal(fa, fb, obj=name)
    keep = parquet.RUNTIME_META | {"image_root", "split_roots"}
    assert _normal({k: v for k, v in a.meta.items() if k not in keep}) == \
        _normal({k: v for k, v in b.meta.items() if k not in keep})
    extras = [c for c in a.annotations.columns
              if c not in ("id", "image_id", "category_id", "kind", "x", "y", "w", "h", "file_name")
              and a.annotations[c].dtype != "float64"]  # NaN != NaN in a list: compared above
    if a.images["file_name"].isna().any():  # a results file: content pairs by file name
        return
    assert_same_content(a, b, columns=extras, image_columns=[c for c in a.images.columns
                                                           if c not in ("file_name", "split")],
                        keep_ids=True)


def _round_trip(source: Path, fmt: str, tmp_path: Path):
    ds = _read(source, fmt)
    annokit.write(ds, tmp_path / "pq", "parquet")
    back = _read(tmp_path / "pq", "parquet")
    assert back.meta["source_format"] == "parquet"
    assert_lossless(ds, back)
    return ds, back


@pytest.mark.parametrize("entry", FIXTURES)
def test_round_trip_fixtures(entry, tmp_path):
    fmt, path = entry.split(":", 1)
    _round_trip(Path(path), fmt, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("entry", SHARED)
def test_round_trip_real_datasets(entry, tmp_path):
    fmt, path = entry.split(":", 1)
    _round_trip(shared_dataset(*path.split("/")), fmt, tmp_path)


# -- through the CLI --------------------------------------------------------------------

def test_cli_coco_parquet_coco_gives_back_the_file(tmp_path):
    source = Path("fixtures/coco/basic/annotations.json")
    assert run_cli("convert", "coco", "parquet", str(source), str(tmp_path / "pq"))[0] == 0
    code, out, err = run_cli("convert", "parquet", "coco", str(tmp_path / "pq"),
                             str(tmp_path / "back.json"))
    assert code == 0, err
    assert json.loads((tmp_path / "back.json").read_text()) == json.loads(source.read_text())


@pytest.mark.slow
def test_cli_voc_parquet_voc_on_bccd_and_every_command_reads_parquet(tmp_path):
    bccd = shared_dataset("bccd", "BCCD")
    assert run_cli("convert", "voc", "parquet", str(bccd), str(tmp_path / "pq"))[0] == 0
    ds = _read(bccd, "voc")
    back = _read(tmp_path / "pq", None)  # detected
    assert_lossless(ds, back)
    # the images are found where the source had them (recorded relative to the output)
    assert Path(back.meta["image_root"]).resolve() == Path(ds.meta["image_root"]).resolve()
    code, _, err = run_cli("convert", "auto", "voc", str(tmp_path / "pq"), str(tmp_path / "voc"))
    assert code == 0, err
    assert_same_content(ds, _read(tmp_path / "voc", "voc"), columns=["difficult", "truncated"])
    code, out, _ = run_cli("check", str(tmp_path / "pq"), "--json", str(tmp_path / "qc.json"))
    report = json.loads((tmp_path / "qc.json").read_text())
    assert code == 1 and report["dataset"]["images"] == 364
    assert "images.missing" not in {f["check"] for f in report["findings"]}


def test_images_copied_beside_the_tables_are_found(tmp_path):
    code, _, err = run_cli("convert", "voc", "parquet", "fixtures/shapes/voc",
                           str(tmp_path / "pq"), "--images", "copy")
    assert code == 0, err
    assert (tmp_path / "pq" / "images" / "shapes_000.jpg").is_file()
    moved = tmp_path / "moved"
    (tmp_path / "pq").rename(moved)
    ds = _read(moved, "parquet")
    assert Path(ds.meta["image_root"]) == (moved / "images").absolute()
    assert all(Path(p).is_file() for p in ds.image_paths())


def test_splits_with_their_own_folders_keep_them(tmp_path):
    ds = _read(Path("fixtures/coco/roboflow"), "coco")
    assert ds.meta.get("split_roots")
    annokit.write(ds, tmp_path / "pq", "parquet", images="copy")
    back = _read(tmp_path / "pq", "parquet")
    assert set(back.meta["split_roots"]) == set(ds.meta["split_roots"])
    assert all(Path(p).is_file() for p in back.image_paths())
    assert_lossless(ds, back)


# -- other readers ----------------------------------------------------------------------

@pytest.fixture
def polygons(tmp_path):
    """A Parquet dataset with polygons, RLE and attributes (peer COCO fixture or ours)."""
    ds = _read(Path("fixtures/coco/basic"), "coco")
    annokit.write(ds, tmp_path / "pq", "parquet")
    return ds, tmp_path / "pq"


def test_duckdb_reads_the_tables_as_they_are(polygons):
    duckdb = pytest.importorskip("duckdb", reason="duckdb is in the test extra")
    ds, folder = polygons
    con = duckdb.connect()
    rows = con.execute(
        f"SELECT a.id, i.file_name, c.name, a.x, a.w, a.segmentation "
        f"FROM '{folder}/annotations.parquet' a "
        f"JOIN '{folder}/images.parquet' i ON a.image_id = i.id "
        f"JOIN '{folder}/categories.parquet' c ON a.category_id = c.id ORDER BY a.id").fetchall()
    anns = ds.annotations.sort_values("id")
    assert [r[0] for r in rows] == anns["id"].tolist()
    assert [r[3] for r in rows] == anns["x"].tolist()
    described = con.execute(f"DESCRIBE SELECT * FROM '{folder}/images.parquet'").fetchall()
    types = {row[0]: row[1] for row in described}
    assert types["id"] == "BIGINT" and types["width"] == "BIGINT"
    assert types["file_name"] == "VARCHAR"
    # segmentation is JSON text: DuckDB's json functions read it
    seg = anns["segmentation"].tolist()
    for (_, _, _, _, _, text), value in zip(rows, seg):
        assert (json.loads(text) if text is not None else None) == value
    polygon = next(i for i, v in enumerate(seg) if isinstance(v, list))
    first_x = con.execute(
        f"SELECT CAST(json_extract(segmentation, '$[0][0]') AS DOUBLE) "
        f"FROM '{folder}/annotations.parquet' WHERE id = {anns['id'].iloc[polygon]}").fetchone()
    assert first_x[0] == seg[polygon][0][0]


def test_polars_reads_the_tables_as_they_are(polygons):
    pl = pytest.importorskip("polars", reason="polars (~170 MB) is in the interop extra only")
    ds, folder = polygons
    anns = pl.read_parquet(folder / "annotations.parquet")
    assert anns["id"].dtype == pl.Int64 and anns["x"].dtype == pl.Float64
    assert anns["id"].to_list() == ds.annotations["id"].tolist()
    images = pl.read_parquet(folder / "images.parquet")
    assert images["width"].to_list() == ds.images["width"].astype(object).tolist()
    decoded = anns["segmentation"].to_list()
    assert [json.loads(t) if t else None for t in decoded] == \
        ds.annotations["segmentation"].tolist()


def test_tables_written_by_another_tool_are_read(tmp_path):
    """No meta.json: the columns as pandas (or DuckDB, Polars) wrote them."""
    folder = tmp_path / "mine"
    folder.mkdir()
    pd.DataFrame({"id": [1, 2], "name": ["cat", "dog"]}).to_parquet(folder / "categories.parquet")
    pd.DataFrame({"id": [10, 11], "file_name": ["a.jpg", "b.jpg"], "width": [64, None],
                  "height": [48, None]}).to_parquet(folder / "images.parquet")
    pd.DataFrame({"id": [1, 2, 3], "image_id": [10, 10, 99], "category_id": [1, 2, 1],
                  "x": [1.0, 2, 3], "y": [1.0, 2, 3], "w": [4.0, 5, 6], "h": [4.0, 5, 6]}) \
        .to_parquet(folder / "annotations.parquet")
    ds = _read(folder, None)
    assert ds.images["width"].tolist()[0] == 64 and pd.isna(ds.images["width"].iloc[1])
    assert ds.annotations["id"].tolist() == [1, 2]  # image 99 does not exist: skipped
    assert len(ds.notes.texts("skipped")) == 1 and "row 3" in ds.notes.texts("skipped")[0]
    with pytest.raises(FormatError, match="row 3"):
        annokit.read(folder, "parquet", strict=True)


# -- bad input --------------------------------------------------------------------------

def test_a_table_that_is_not_parquet_is_one_line(tmp_path, polygons):
    _, folder = polygons
    (folder / "images.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(FormatError, match="images.parquet: not a readable Parquet file"):
        annokit.read(folder)


def test_a_missing_core_column_is_one_line(tmp_path):
    folder = tmp_path / "pq"
    folder.mkdir()
    pd.DataFrame({"id": [1]}).to_parquet(folder / "images.parquet")
    pd.DataFrame({"id": [1]}).to_parquet(folder / "annotations.parquet")
    with pytest.raises(FormatError, match="images.parquet: no 'file_name' column"):
        annokit.read(folder)


def test_text_ids_are_refused(tmp_path, polygons):
    _, folder = polygons
    pd.DataFrame({"id": ["a"], "file_name": ["x.jpg"]}).to_parquet(folder / "images.parquet")
    with pytest.raises(FormatError, match="column 'id' holds"):
        annokit.read(folder)


def test_bad_meta_json_is_one_line(polygons):
    _, folder = polygons
    (folder / "meta.json").write_text("{not json")
    with pytest.raises(FormatError, match="meta.json: not JSON"):
        annokit.read(folder)


def test_a_value_json_cannot_hold_is_refused_before_writing(tmp_path):
    ds = _read(Path("fixtures/coco/basic"), "coco")
    ds.annotations["blob"] = [object()] * len(ds.annotations)
    with pytest.raises(AnnokitError, match="column 'blob'"):
        annokit.write(ds, tmp_path / "pq", "parquet")
    assert not (tmp_path / "pq").exists()


def test_int_keys_and_huge_ints_survive(tmp_path):
    ds = _read(Path("fixtures/coco/basic"), "coco")
    ds.annotations["big"] = [{"n": 2 ** 70}] + [None] * (len(ds.annotations) - 1)
    annokit.write(ds, tmp_path / "pq", "parquet")
    back = _read(tmp_path / "pq", "parquet")
    assert back.annotations["big"].iloc[0] == {"n": 2 ** 70}
    assert np.isnan(back.annotations["score"]).all()


def test_a_hostile_split_name_never_places_images_outside(tmp_path):
    """A split read from a Parquet meta.json is any text: as a folder name it is made safe,
    as every writer does, so '../../escaped' copies nothing outside the output."""
    ds = annokit.read(SHAPES)
    first = ds.images["split"].iloc[0]
    ds.images["split"] = ds.images["split"].replace(first, "../../escaped")
    roots = dict(ds.meta["split_roots"]) if ds.meta.get("split_roots") else {}
    ds.meta["split_roots"] = {"../../escaped": ds.meta["image_root"], **roots}
    annokit.write(ds, tmp_path / "a" / "pq", "parquet", images="copy")
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "a" / "escaped").exists()
    back = annokit.read(tmp_path / "a" / "pq")
    assert set(back.images["split"]) == set(ds.images["split"])
    assert back.image_paths().map(os.path.isfile).all()
