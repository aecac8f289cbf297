"""Parquet as a format: the model's three tables and meta.json, read back losslessly,
and readable as they are by DuckDB and Polars."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import annokit
from annokit.errors import AnnokitError, FormatError
from annokit.formats import parquet

from conftest import assert_same_content, run_cli, shared_dataset

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
