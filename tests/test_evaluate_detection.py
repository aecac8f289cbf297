"""Detection mAP: annokit's numbers against pycocotools' own COCOeval run directly on the
same JSON files, to 1e-9 (bbox and segm; crowds, id gaps, images without ground truth or
predictions); hand-checked small cases; bad inputs as one-line errors or notes."""
from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest

import annokit
from annokit import AnnokitError, Dataset
from annokit.evaluate import STATS, detection_metrics, evaluate, read_pair, to_plain
from annokit.evaluate.detection import default_engine, ground_truth_dict
from eval_reference import cocoeval_reference
from eval_synthetic import synthetic_pair

ENGINES = ["pycocotools"] + (["faster-coco-eval"] if default_engine() == "faster-coco-eval"
                             else [])


def _files(tmp_path, gt: dict, results: list) -> tuple:
    gt_file, res_file = tmp_path / "gt.json", tmp_path / "results.json"
    gt_file.write_text(json.dumps(gt))
    res_file.write_text(json.dumps(results))
    return gt_file, res_file


@pytest.fixture(scope="module")
def synthetic():
    return synthetic_pair(60, seed=3)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_equals_pycocotools_on_the_same_files(tmp_path, synthetic, iou_type, engine):
    gt, results = synthetic
    assert any(a["iscrowd"] for a in gt["annotations"])
    with_gt = {a["image_id"] for a in gt["annotations"]}
    with_pred = {r["image_id"] for r in results}
    ids = {i["id"] for i in gt["images"]}
    assert ids - with_gt and ids - with_pred and (ids - with_gt) - with_pred  # all kinds
    gt_file, res_file = _files(tmp_path, gt, results)
    stats, per_class = cocoeval_reference(gt_file, res_file, iou_type)

    truth, pred = read_pair(gt_file, res_file)
    m = detection_metrics(truth, pred, iou_type=iou_type, engine=engine)
    ours = np.array([m[k] for k in STATS])
    np.testing.assert_allclose(ours, stats, rtol=0, atol=1e-9)
    assert not np.isnan(stats).any() and 0.05 < stats[0] < 0.95  # a set that measures something
    np.testing.assert_allclose(m["per_class"]["AP"].to_numpy(), per_class, rtol=0, atol=1e-9)
    assert m["per_class"].index.tolist() == ["cell", "platelet", "virus", "debris"]
    held = {a["image_id"] for a in gt["annotations"] if not a["iscrowd"]}
    missed = held - with_pred
    objects = sum(a["image_id"] in missed and not a["iscrowd"] for a in gt["annotations"])
    assert m["images"] == 60 and m["notes"].texts() == [
        f"{len(missed)} of {len(held)} images with ground-truth boxes have no predictions; "
        f"their {objects} boxes count as misses"]


def test_ground_truth_annotation_id_zero_is_renumbered(tmp_path, synthetic):
    """pycocotools reads a matched id 0 as no match; annokit numbers 1..N, so the figures
    are those of the same file with the ids shifted."""
    gt, results = synthetic
    zero = copy.deepcopy(gt)
    zero["annotations"][0]["id"] = 0
    shifted = copy.deepcopy(zero)
    for a in shifted["annotations"]:
        a["id"] += 1_000_000
    (tmp_path / "z").mkdir()
    (tmp_path / "s").mkdir()
    zero_file, res_file = _files(tmp_path / "z", zero, results)
    shifted_file, res2 = _files(tmp_path / "s", shifted, results)
    stats, _ = cocoeval_reference(shifted_file, res2, "bbox")
    truth, pred = read_pair(zero_file, res_file)
    m = detection_metrics(truth, pred, engine="pycocotools")
    np.testing.assert_allclose([m[k] for k in STATS], stats, rtol=0, atol=1e-9)
    assert ground_truth_dict(truth)[0]["annotations"][0]["id"] == 1


def test_the_engines_agree_on_a_bigger_set():
    if len(ENGINES) < 2:
        pytest.skip("faster-coco-eval is not installed")
    gt, results = synthetic_pair(300, seed=11, masks=False)
    a = _eval_dicts(gt, results, "pycocotools")
    b = _eval_dicts(gt, results, "faster-coco-eval")
    np.testing.assert_allclose([a[k] for k in STATS], [b[k] for k in STATS], rtol=0, atol=1e-9)
    np.testing.assert_allclose(a["per_class"]["AP"], b["per_class"]["AP"], rtol=0, atol=1e-9)
    assert a["images"] == 300 and a["AP"] > 0.1


def _dataset(gt: dict) -> Dataset:
    return Dataset(pd.DataFrame(gt["categories"]), pd.DataFrame(gt["images"]),
                   pd.DataFrame([{**a, "x": a["bbox"][0], "y": a["bbox"][1], "w": a["bbox"][2],
                                  "h": a["bbox"][3]} for a in gt["annotations"]]).drop(
                       columns="bbox"))


def _eval_dicts(gt: dict, results: list, engine: str) -> dict:
    truth = _dataset(gt)
    pred = Dataset(truth.categories, truth.images, pd.DataFrame(
        [{"image_id": r["image_id"], "category_id": r["category_id"], "x": r["bbox"][0],
          "y": r["bbox"][1], "w": r["bbox"][2], "h": r["bbox"][3], "score": r["score"]}
         for r in results]))
    return detection_metrics(truth, pred, engine=engine)


# -- small cases, checked by hand -----------------------------------------------------

CATS = pd.DataFrame({"id": [1, 2], "name": ["cat", "dog"]})
IMAGES = pd.DataFrame({"id": [1, 2], "file_name": ["a.jpg", "b.jpg"], "width": 200,
                       "height": 200})


def _boxes(rows, score=False, images=IMAGES, cats=CATS) -> Dataset:
    cols = ["image_id", "category_id", "x", "y", "w", "h"] + (["score"] if score else [])
    return Dataset(cats, images, pd.DataFrame(rows, columns=cols))


def test_perfect_and_half_right_by_hand():
    gt = _boxes([(1, 1, 10, 10, 50, 50), (2, 2, 100, 100, 60, 60)])
    perfect = _boxes([(1, 1, 10, 10, 50, 50, 0.9), (2, 2, 100, 100, 60, 60, 0.8)], True)
    m = detection_metrics(gt, perfect)
    assert m["AP"] == pytest.approx(1.0) and m["AR100"] == pytest.approx(1.0)
    # the dog box shifted by 30 px of 60: IoU 30*60 / (2*3600 - 1800) = 1/3, a miss
    half = _boxes([(1, 1, 10, 10, 50, 50, 0.9), (2, 2, 130, 100, 60, 60, 0.8)], True)
    m = detection_metrics(gt, half)
    assert m["per_class"].loc["cat", "AP"] == pytest.approx(1.0)
    assert m["per_class"].loc["dog", "AP"] == 0.0
    assert m["AP"] == pytest.approx(0.5)
    # medium (32^2 < area < 96^2): both boxes; small and large have no ground truth
    assert np.isnan(m["AP_small"]) and np.isnan(m["AP_large"])
    assert m["per_class"][["gt", "pred"]].to_dict("list") == {"gt": [1, 1], "pred": [1, 1]}


def test_predictions_paired_by_file_name_and_class_name():
    gt = _boxes([(1, 1, 10, 10, 50, 50), (2, 2, 100, 100, 60, 60)])
    images = pd.DataFrame({"id": [70, 80], "file_name": ["b.jpg", "a.jpg"]})
    cats = pd.DataFrame({"id": [5, 9], "name": ["dog", "cat"]})
    pred = _boxes([(80, 9, 10, 10, 50, 50, 0.9), (70, 5, 100, 100, 60, 60, 0.8)], True,
                  images, cats)
    assert detection_metrics(gt, pred)["AP"] == pytest.approx(1.0)


def test_unknown_images_and_classes_are_notes_and_empty_predictions_score_zero():
    gt = _boxes([(1, 1, 10, 10, 50, 50), (2, 2, 100, 100, 60, 60)])
    images = pd.DataFrame({"id": [1, 2, 3], "file_name": ["a.jpg", "b.jpg", "zzz.jpg"]})
    cats = pd.DataFrame({"id": [1, 2, 3], "name": ["cat", "dog", "horse"]})
    pred = _boxes([(1, 1, 10, 10, 50, 50, 0.9), (3, 1, 0, 0, 5, 5, 0.5),
                   (2, 3, 100, 100, 60, 60, 0.8)], True, images, cats)
    m = detection_metrics(gt, pred)
    assert m["notes"].texts() == [
        "1 predictions on 1 images not in the ground truth left out (e.g. zzz.jpg)",
        "1 predictions of 1 classes the ground truth lacks left out (horse)",
        "1 of 2 images with ground-truth boxes has no predictions; its 1 box counts as a miss"]
    assert m["per_class"].loc["cat", "AP"] == pytest.approx(1.0)
    elsewhere = _boxes([(1, 1, 10, 10, 50, 50, 0.9)], True,
                       pd.DataFrame({"id": [1], "file_name": ["zzz.jpg"]}))
    with pytest.raises(AnnokitError, match=r"no predicted image is a ground-truth image "
                       r"\(paired by file_name\): predictions are on \[zzz.jpg\], the ground "
                       r"truth has \[a.jpg, b.jpg\]"):
        detection_metrics(gt, elsewhere)
    empty = _boxes([], True)
    m = detection_metrics(gt, empty)
    assert m["AP"] == 0 and m["AR100"] == 0
    assert m["notes"].texts() == ["no predictions to evaluate: every AP and AR is 0"]


def test_bad_inputs_are_one_line_errors():
    gt = _boxes([(1, 1, 10, 10, 50, 50)])
    other = pd.DataFrame({"id": [1], "name": ["zebra"]})
    with pytest.raises(AnnokitError, match=r"no predicted class is a ground-truth class: "
                       r"predictions have \[zebra\], the ground truth has \[cat, dog\]"):
        detection_metrics(gt, _boxes([(1, 1, 0, 0, 5, 5, 0.5)], True, cats=other))
    with pytest.raises(AnnokitError, match="1 boxes have no score"):
        detection_metrics(gt, _boxes([(1, 1, 0, 0, 5, 5)]))
    with pytest.raises(AnnokitError, match="ground truth: 1 of 1 boxes have no segmentation"):
        detection_metrics(gt, _boxes([(1, 1, 0, 0, 5, 5, 0.5)], True), iou_type="segm")
    with pytest.raises(AnnokitError, match="iou_type must be one of bbox, segm"):
        detection_metrics(gt, gt, iou_type="mask")


def test_the_input_datasets_are_not_changed(tmp_path, synthetic):
    gt_file, res_file = _files(tmp_path, *synthetic)
    truth, pred = read_pair(gt_file, res_file)
    before = (truth.annotations.copy(deep=True), pred.annotations.copy(deep=True))
    for engine in ENGINES:
        detection_metrics(truth, pred, iou_type="segm", engine=engine)
    pd.testing.assert_frame_equal(truth.annotations, before[0])
    pd.testing.assert_frame_equal(pred.annotations, before[1])


def test_evaluate_infers_detection_and_the_json_is_plain(tmp_path, synthetic):
    truth, pred = read_pair(*_files(tmp_path, *synthetic))
    m = evaluate(truth, pred)
    assert m["task"] == "detection"
    plain = json.loads(json.dumps(to_plain(m)))
    assert plain["per_class"]["cell"]["AP"] == pytest.approx(m["per_class"].loc["cell", "AP"])
    assert set(STATS) <= set(plain)


@pytest.mark.slow
def test_bccd_voc_equals_pycocotools_on_its_coco_export(tmp_path):
    """The real BCCD set read from VOC (zero-size boxes included), against pycocotools run
    on annokit's own COCO export of it, with seeded jittered, dropped and swapped boxes."""
    from conftest import shared_dataset

    root = shared_dataset("bccd", "BCCD")
    gt = annokit.read(root, "voc")
    annokit.write(gt, tmp_path / "gt.json", "coco")
    exported = json.loads((tmp_path / "gt.json").read_text())
    rng = np.random.default_rng(9)
    cat_ids = [c["id"] for c in exported["categories"]]
    results = []
    for a in exported["annotations"]:
        if rng.uniform() < 0.1:
            continue
        x, y, w, h = a["bbox"]
        jitter = rng.normal(0, 0.08, 4) * [w, h, w, h]
        cat = a["category_id"] if rng.uniform() > 0.05 else int(rng.choice(cat_ids))
        results.append({"image_id": a["image_id"], "category_id": cat,
                        "bbox": [x + jitter[0], y + jitter[1], max(w + jitter[2], 1.0),
                                 max(h + jitter[3], 1.0)],
                        "score": round(float(rng.uniform(0.2, 1.0)), 3)})
    (tmp_path / "results.json").write_text(json.dumps(results))
    stats, per_class = cocoeval_reference(tmp_path / "gt.json", tmp_path / "results.json", "bbox")
    truth, pred = read_pair(root, tmp_path / "results.json", format="voc")
    for engine in ENGINES:
        m = detection_metrics(truth, pred, engine=engine)
        np.testing.assert_allclose([m[k] for k in STATS], stats, rtol=0, atol=1e-9)
        np.testing.assert_allclose(m["per_class"]["AP"], per_class, rtol=0, atol=1e-9)
    assert m["images"] == 364 and 0.3 < m["AP"] < 0.9
