"""annokit score: planted errors rank first, the Scores contract, output files, CLI."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import annokit

from annokit.score import Scores, load_predictions, score, write_scores
from annokit.score.inject import inject_detection_errors, inject_label_flips
from conftest import run_cli
from score_data import make_classes, make_shapes, ranks_first

@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    ds = make_shapes(tmp_path_factory.mktemp("shapes"))
    noisy, truth, deleted = inject_detection_errors(ds, seed=1, swap=0.06, badloc=0.06,
                                                    delete=0.0, spurious=0.06)
    return noisy, truth, score(noisy, folds=4, seed=0)


def test_planted_errors_rank_first_classic(planted):
    noisy, truth, result = planted
    n = len(noisy.annotations)
    quality = result.annotations["quality"].to_numpy()[:n]
    wrong = truth["error"].notna().to_numpy()
    assert wrong.sum() >= 6
    assert ranks_first(quality, wrong) >= 0.8
    flagged = result.annotations["issue"].to_numpy()[:n]
    # most planted errors are flagged, with the right type
    for kind in ("swap", "spurious", "badloc"):
        mine = truth["error"].to_numpy() == kind
        assert (flagged[mine] != None).mean() >= 0.6, kind  # noqa: E711
    swapped = truth["error"].to_numpy() == "swap"
    assert (flagged[swapped] == "swap").mean() >= 0.6


def test_swap_suggests_the_original_class(planted, tmp_path):
    noisy, truth, result = planted
    clean = make_shapes(tmp_path / "again")  # same seed: the same boxes before planting
    swapped = truth.loc[truth["error"] == "swap", "annotation_id"]
    table = result.annotations.set_index("annotation_id")
    flagged = table.loc[swapped][table.loc[swapped, "issue"] == "swap"]
    original = clean.annotations.set_index("id").loc[flagged.index, "category_id"]
    assert len(flagged) and (flagged["suggested_category_id"].to_numpy() ==
                             original.to_numpy()).mean() >= 0.8


def test_scores_contract(planted):
    noisy, _, result = planted
    assert isinstance(result, Scores) and result.task == "detection"
    a = result.annotations
    expected = {"annotation_id": "Int64", "image_id": "int64", "category_id": "Int64",
                "quality": "float64", "issue": "object", "suggested_category_id": "Int64",
                "suggested_x": "float64", "suggested_y": "float64", "suggested_w": "float64",
                "suggested_h": "float64"}
    for col, dtype in expected.items():
        assert str(a[col].dtype) == dtype, col
    n = len(noisy.annotations)
    assert a["annotation_id"].iloc[:n].tolist() == noisy.annotations["id"].tolist()
    assert a["annotation_id"].iloc[n:].isna().all()
    assert set(a["issue"].dropna()) <= {"swap", "badloc", "spurious", "overlooked"}
    assert (a["issue"].iloc[n:] == "overlooked").all()
    q = a["quality"].dropna()
    assert ((q >= 0) & (q <= 1)).all()
    moved = a["issue"] == "badloc"
    assert a.loc[moved, ["suggested_x", "suggested_w"]].notna().all().all()
    assert a.loc[a["issue"].isna(), "suggested_x"].isna().all()
    im = result.images
    assert [str(im[c].dtype) for c in ("image_id", "quality", "n_issues")] == \
        ["int64", "float64", "int64"]
    assert im["image_id"].tolist() == noisy.images["id"].tolist()
    low = a.groupby("image_id")["quality"].min()
    assert np.allclose(im.set_index("image_id").loc[low.index, "quality"], low)


def test_same_seed_same_ranking(planted):
    noisy, _, result = planted
    again = score(noisy, folds=4, seed=0)
    pd.testing.assert_frame_equal(result.annotations, again.annotations)


def test_out_json_reads_back_with_scores(planted, tmp_path):
    """scores.json loads as the dataset itself: its own annotations (each with quality and
    issue, null when not flagged), the candidates apart in 'overlooked' (issue 14.6)."""
    from pycocotools.coco import COCO

    noisy, _, result = planted
    path = write_scores(noisy, result, tmp_path / "scores.json")
    back = annokit.read(path, "coco")
    n = len(noisy.annotations)
    anns = back.annotations
    assert len(anns) == n  # candidates do not inflate the count
    assert anns["id"].tolist() == noisy.annotations["id"].tolist()
    np.testing.assert_array_equal(anns[["x", "y", "w", "h"]].to_numpy(),
                                  noisy.annotations[["x", "y", "w", "h"]].to_numpy())
    np.testing.assert_allclose(anns["quality"].to_numpy(float),
                               result.annotations["quality"].to_numpy()[:n])
    data = json.loads(path.read_text())
    assert all("issue" in a and "quality" in a for a in data["annotations"])
    assert sum(a["issue"] is None for a in data["annotations"]) == \
        int(result.annotations["issue"].iloc[:n].isna().sum())
    extra = data["overlooked"]
    assert len(extra) == len(result.candidates) > 0
    assert {"id", "image_id", "category_id", "bbox", "area", "iscrowd", "quality"} <= set(extra[0])
    assert min(e["id"] for e in extra) > noisy.annotations["id"].max()
    assert all(b > 0 for e in extra for b in e["bbox"][2:])
    coco = COCO(str(path))
    assert len(coco.getAnnIds()) == n and len(coco.getImgIds()) == len(noisy.images)
    swaps = result.annotations.index[result.annotations["issue"] == "swap"]
    assert anns.loc[swaps, "suggested_category_id"].notna().all()
    moved = result.annotations.index[result.annotations["issue"] == "badloc"]
    assert all(len(b) == 4 for b in anns.loc[moved, "suggested_bbox"])
    assert back.images["quality"].notna().all()


@pytest.mark.parametrize("suffix", [".json", ".csv", ".parquet"])
def test_read_scores_gives_back_what_was_written(planted, tmp_path, suffix):
    from annokit.score import read_scores

    noisy, _, result = planted
    path = write_scores(noisy, result, tmp_path / f"scores{suffix}")
    back = read_scores(path, noisy)
    cols = ["annotation_id", "image_id", "category_id", "issue", "suggested_category_id"]
    pd.testing.assert_frame_equal(back.annotations[cols], result.annotations[cols],
                                  check_dtype=False)
    np.testing.assert_allclose(back.annotations["quality"], result.annotations["quality"])
    boxes = ["suggested_x", "suggested_y", "suggested_w", "suggested_h"]
    np.testing.assert_allclose(back.annotations[boxes], result.annotations[boxes])
    pd.testing.assert_frame_equal(back.images, result.images, check_dtype=False)
    assert back.task == "detection"


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_out_tables(planted, tmp_path, suffix):
    noisy, _, result = planted
    path = write_scores(noisy, result, tmp_path / f"scores{suffix}")
    table = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    assert len(table) == len(result.annotations)
    assert {"annotation_id", "quality", "issue", "image_quality", "file_name", "category_name",
            "suggested_category_name"} <= set(table.columns)
    np.testing.assert_allclose(table["quality"], result.annotations["quality"])
    names = noisy.categories.set_index("id")["name"]
    assert (table["category_name"] == table["category_id"].map(names)).all()
    files = noisy.images.set_index("id")["file_name"]
    assert (table["file_name"] == table["image_id"].map(files)).all()


def test_out_never_over_the_input(planted, tmp_path):
    noisy, _, result = planted
    root = noisy.meta["image_root"]
    with pytest.raises(annokit.AnnokitError, match="refusing to write over or into the input"):
        write_scores(noisy, result, f"{root}/scores.json", protect=(root,))
    with pytest.raises(annokit.AnnokitError, match="must end in"):
        write_scores(noisy, result, tmp_path / "scores.txt")


def test_predictions_path(planted, tmp_path):
    """A detector's COCO results: the planted spurious box has nothing under it, the
    swapped one a confident box of another class, the deleted object is overlooked."""
    noisy, truth, _ = planted
    anns = noisy.annotations
    error = truth["error"].to_numpy()
    clean = anns[pd.isna(error)]
    records = [{"image_id": int(r.image_id), "category_id": int(r.category_id),
                "bbox": [r.x, r.y, r.w, r.h], "score": 0.9} for r in clean.itertuples()]
    swapped = anns[error == "swap"]
    records += [{"image_id": int(r.image_id), "category_id": int(r.category_id % 3 + 1),
                 "bbox": [r.x, r.y, r.w, r.h], "score": 0.8} for r in swapped.itertuples()]
    # a missed object: the detector is as sure of it as of the annotated ones
    records.append({"image_id": 1, "category_id": 1, "bbox": [1.0, 1.0, 5.0, 5.0],
                    "score": 0.95})
    path = tmp_path / "results.json"
    path.write_text(json.dumps(records))
    result = score(noisy, predictions=path)
    table = result.annotations
    n = len(anns)
    assert (table["issue"].to_numpy()[:n][error == "spurious"] == "spurious").all()
    assert (table["issue"].to_numpy()[:n][error == "swap"] == "swap").all()
    assert table["issue"].to_numpy()[:n][pd.isna(error)].tolist() == \
        [None] * int(pd.isna(error).sum())
    over = table.iloc[n:]
    # quality = 1 - P(object), calibrated against the annotated objects' scores
    assert len(over) == 1 and 0 <= over["quality"].iloc[0] < 0.5
    assert load_predictions(path, noisy).annotations["score"].notna().all()


def test_predictions_without_scores_refused(planted, tmp_path):
    noisy, _, _ = planted
    path = tmp_path / "gt.json"
    path.write_text(json.dumps([{"image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]}]))
    with pytest.raises(annokit.AnnokitError, match="confidence"):
        score(noisy, predictions=path)


def test_unreadable_image_is_skipped(tmp_path):
    ds = make_shapes(tmp_path / "broken", n_images=12)
    path = tmp_path / "broken" / ds.images["file_name"].iat[3]
    path.write_bytes(path.read_bytes()[:200])  # truncated
    result = score(ds, folds=3)
    skipped = result.notes.texts("skipped")
    assert len(skipped) == 1 and ds.images["file_name"].iat[3] in skipped[0]
    bad = result.annotations["image_id"] == ds.images["id"].iat[3]
    assert result.annotations.loc[bad, "quality"].isna().all()
    assert result.annotations.loc[~bad & result.annotations["annotation_id"].notna(),
                                  "quality"].notna().all()


def test_label_flips_rank_first_classic(tmp_path):
    ds = make_classes(tmp_path / "cls", n=300)
    noisy, truth = inject_label_flips(ds, 0.08, seed=3)
    result = score(noisy, folds=3, model="classic")
    assert result.task == "classification"
    table = result.annotations
    flipped = truth["flipped"].to_numpy()
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(flipped, -table["quality"].to_numpy()) >= 0.95
    assert ranks_first(table["quality"].to_numpy(), flipped) >= 0.6
    assert (table["issue"].to_numpy()[flipped] == "flip").mean() >= 0.7
    original = ds.annotations["category_id"].to_numpy()[flipped]
    assert (table["suggested_category_id"].to_numpy()[flipped] == original).mean() >= 0.7
    back_path = write_scores(noisy, result, tmp_path / "flips.json")
    data = json.loads(back_path.read_text())
    assert sum(a.get("issue") == "flip" for a in data["annotations"]) == \
        int((table["issue"] == "flip").sum())


def test_cli_score(planted, tmp_path):
    noisy, _, _ = planted
    src = tmp_path / "coco.json"
    noisy.meta.pop("coco", None)
    annokit.write(noisy, src, "coco")
    out = tmp_path / "scores.csv"
    code, out_text, err = run_cli("score", src, "--image-root", noisy.meta["image_root"],
                                  "--folds", "3", "--out", out, "--quiet")
    assert code == 0, err
    assert "flagged" in out_text and "quality" in out_text
    assert len(pd.read_csv(out)) >= len(noisy.annotations)
    code, _, err = run_cli("score", src, "--folds", "1")
    assert code == 2 and "not a finite number in [2, 100]" in err
    code, _, err = run_cli("score", src, "--out", src)
    assert code == 2 and "refusing to write over" in err


def test_bad_arguments(planted):
    noisy, _, _ = planted
    with pytest.raises(annokit.AnnokitError, match="unknown model"):
        score(noisy, model="resnet")
    with pytest.raises(annokit.AnnokitError, match="unknown task"):
        score(noisy, task="segmentation")
    with pytest.raises(annokit.AnnokitError, match="no such weights file"):
        score(noisy, model="cnn", weights="/nonexistent/model.onnx")
    with pytest.raises(annokit.AnnokitError, match="detection trains its own models"):
        score(noisy, weights=__file__)


def test_predictions_from_yolo_labels_with_confidence(planted, tmp_path):
    """YOLO label lines with a sixth (confidence) column; images matched by file stem."""
    noisy, truth, _ = planted
    pred = noisy.copy()
    pred.annotations["score"] = 0.9
    folder = tmp_path / "pred_yolo"
    annokit.write(pred, folder, "yolo", images="none")
    (folder / "data.yaml").unlink()  # as Ultralytics predict writes them: labels only
    result = score(noisy, predictions=folder)
    n = len(noisy.annotations)
    # every annotated box has its own prediction on top: nothing is flagged
    assert result.annotations["issue"].iloc[:n].isna().all()
    assert (result.annotations["quality"].iloc[:n] > 0.5).all()


def test_suggested_boxes_stay_inside_their_image(planted):
    noisy, _, result = planted
    rows = result.annotations.dropna(subset=["suggested_x"])
    assert len(rows)
    sizes = noisy.images.set_index("id")
    right = rows["suggested_x"] + rows["suggested_w"]
    bottom = rows["suggested_y"] + rows["suggested_h"]
    assert (rows["suggested_x"] >= 0).all() and (rows["suggested_y"] >= 0).all()
    assert (right <= rows["image_id"].map(sizes["width"]) + 1e-9).all()
    assert (bottom <= rows["image_id"].map(sizes["height"]) + 1e-9).all()


def test_summary_counts_candidates_apart_from_flagged_annotations(planted):
    from annokit.score import format_worst

    noisy, _, result = planted
    rows = result.annotations
    candidates = int(rows["annotation_id"].isna().sum())
    flagged = int((rows["annotation_id"].notna() & rows["issue"].notna()).sum())
    head = format_worst(noisy, result, 5).splitlines()[0]
    assert f"{len(noisy.annotations)} annotations scored, {flagged} flagged" in head
    assert (f"{candidates} candidate overlooked objects" in head) == (candidates > 0)
