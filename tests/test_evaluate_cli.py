"""`annokit eval` and `annokit evaluate points` on the command line: tables, --json, the
formats predictions come in, and bad inputs as one line with exit 2."""
from __future__ import annotations

import json

import numpy as np
import pytest

import annokit
from conftest import FIXTURES, run_cli as run
from eval_synthetic import synthetic_pair
from eval_reference import cocoeval_reference

SHAPES = FIXTURES / "shapes" / "voc"


@pytest.fixture
def files(tmp_path):
    gt, results = synthetic_pair(40, seed=5)
    gt_file, res_file = tmp_path / "gt.json", tmp_path / "results.json"
    gt_file.write_text(json.dumps(gt))
    res_file.write_text(json.dumps(results))
    return gt_file, res_file


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_eval_table_and_json_equal_pycocotools(files, tmp_path, iou_type):
    out_file = tmp_path / "m.json"
    code, out, err = run("eval", *files, "--iou-type", iou_type, "--json", out_file)
    assert code == 0, err
    assert out.startswith(f"detection ({iou_type}): 40 images")
    assert "AP50" in out.splitlines()[1] and "AR100" in out.splitlines()[2]
    assert [line.split()[0] for line in out.splitlines()[-4:]] == \
        ["cell", "platelet", "virus", "debris"]
    data = json.loads(out_file.read_text())
    stats, per_class = cocoeval_reference(*files, iou_type)
    names = ["AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large", "AR1", "AR10",
             "AR100", "AR_small", "AR_medium", "AR_large"]
    np.testing.assert_allclose([data[k] for k in names], stats, rtol=0, atol=1e-9)
    assert [data["per_class"][c]["AP"] for c in ("cell", "platelet", "virus", "debris")] == \
        pytest.approx(per_class, abs=1e-9)


def test_eval_yolo_predictions_with_confidence(tmp_path):
    gt = annokit.read(SHAPES)
    pred = gt.copy()
    pred.annotations["score"] = np.linspace(0.5, 0.99, len(pred.annotations))
    annokit.write(pred, tmp_path / "yolo", "yolo")
    assert " 0.5" in next((tmp_path / "yolo").rglob("*.txt")).read_text()  # a sixth column
    code, out, err = run("eval", SHAPES, tmp_path / "yolo", "--pred-format", "yolo")
    assert code == 0, err
    # YOLO keeps 6 decimals of normalised coordinates: IoU just under 1, AP exactly 1
    assert out.splitlines()[1].startswith("AP 1.000  AP50 1.000  AP75 1.000")


def test_eval_coco_file_with_scores_against_voc(tmp_path):
    gt = annokit.read(SHAPES)
    pred = gt.copy()
    pred.annotations["score"] = 0.9
    pred.annotations.loc[pred.annotations.index[:5], "x"] += 30  # five boxes moved away
    annokit.write(pred, tmp_path / "pred.json", "coco")
    code, out, err = run("eval", SHAPES, tmp_path / "pred.json")
    assert code == 0, err
    ap = float(out.splitlines()[1].split()[1])
    assert 0.6 < ap < 0.9


def test_bad_predictions_are_one_line_errors_or_notes(files, tmp_path):
    gt_file, res_file = files
    code, out, err = run("eval", gt_file, gt_file)  # ground truth as predictions: no scores
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("annokit: error: predictions: ")
    assert "boxes have no score" in err
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    code, out, err = run("eval", gt_file, empty)
    assert code == 0 and "note: no predictions to evaluate" in err
    assert out.splitlines()[1].startswith("AP 0.000")
    code, out, err = run("eval", SHAPES, res_file)  # ids of another dataset, a few fit
    assert code == 0 and "skipped:" in err and "Traceback" not in err
    far = tmp_path / "far.json"
    far.write_text(json.dumps([{**r, "image_id": r["image_id"] + 10_000}
                               for r in json.loads(res_file.read_text())]))
    code, out, err = run("eval", gt_file, far)
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"annokit: error: {far}: none of its ") and "detections is on an " \
        "image and of a category of" in err and "image_id 10" in err
    other = tmp_path / "other.json"
    data = json.loads(gt_file.read_text())
    for c in data["categories"]:
        c["name"] = "x" + c["name"]
    for a in data["annotations"]:
        a["score"] = 0.5
    other.write_text(json.dumps(data))
    code, out, err = run("eval", gt_file, other)
    assert code == 2 and err.startswith("annokit: error: no predicted class is a ground-truth "
                                        "class: predictions have [xcell, xdebris")
    code, out, err = run("eval", gt_file, res_file, "--json", gt_file)
    assert code == 2 and "refusing to write over or into the input" in err


def test_evaluate_points_is_eval_task_points(tmp_path):
    code, _, err = run("points", "to-points", SHAPES, tmp_path / "pts.csv", "--to", "csv")
    assert code == 0, err
    code, old, _ = run("evaluate", "points", SHAPES, tmp_path / "pts.csv")
    code2, new, _ = run("eval", SHAPES, tmp_path / "pts.csv", "--task", "points",
                        "--json", tmp_path / "m.json")
    assert code == code2 == 0 and old == new
    assert "precision 1.000  recall 1.000  F1 1.000  (TP 35, FP 0, FN 0)" in new
    data = json.loads((tmp_path / "m.json").read_text())
    assert data["tp"] == 35 and data["task"] == "points" and "matches" not in data


def test_eval_classification_from_csv(tmp_path):
    gt = FIXTURES / "csv" / "label.csv"
    rows = gt.read_text().splitlines()
    flipped = [rows[0]] + [r.replace(",cat", ",dog") if i == 1 else r
                           for i, r in enumerate(rows[1:], 1)]
    (tmp_path / "pred.csv").write_text("\n".join(flipped) + "\n")
    code, out, err = run("eval", gt, tmp_path / "pred.csv")
    assert code == 0, err
    n = len(rows) - 1
    assert out.startswith(f"classification: {n} images")
    assert f"accuracy {(n - 1) / n:.3f}" in out
    assert "confusion matrix (rows: true class)" in out


def test_eval_bare_yolo_prediction_labels_with_classes_txt(tmp_path):
    """Ultralytics' predict/val --save-txt --save-conf output: a folder of label files;
    classes.txt beside them names the classes, --image-root says where the images are."""
    gt = annokit.read(SHAPES)
    pred = gt.copy()
    pred.annotations["score"] = 0.8
    annokit.write(pred, tmp_path / "full", "yolo")
    labels = tmp_path / "predict" / "labels"
    labels.mkdir(parents=True)
    for txt in (tmp_path / "full" / "labels").rglob("*.txt"):
        (labels / txt.name).write_text(txt.read_text())
    names = sorted(gt.categories.itertuples(), key=lambda c: c.id)
    (labels / "classes.txt").write_text("\n".join(c.name for c in names) + "\n")
    code, out, err = run("eval", SHAPES, labels, "--pred-format", "yolo", "--image-root",
                         SHAPES / "JPEGImages")
    assert code == 0, err
    assert out.splitlines()[1].startswith("AP 1.000  AP50 1.000")
