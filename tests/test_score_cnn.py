"""annokit score --model cnn: small CNNs with a tiny training budget (skipped without torch)."""
from __future__ import annotations

import pandas as pd
import pytest

import annokit
from annokit.score import score
from annokit.score.inject import inject_detection_errors, inject_label_flips

from score_data import make_classes, make_shapes, ranks_first

torch = pytest.importorskip("torch", reason="torch is absent: pip install 'annokit[torch]' "
                                            "runs the CNN tests")


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    ds = make_shapes(tmp_path_factory.mktemp("shapes_cnn"), n_images=24)
    noisy, truth, deleted = inject_detection_errors(ds, seed=2, swap=0.06, badloc=0.06,
                                                    delete=0.08, spurious=0.06)
    return noisy, truth, deleted, score(noisy, model="cnn", folds=3, seed=0, iterations=150)


@pytest.mark.slow
def test_cnn_detector_ranks_planted_errors_first(planted):
    noisy, truth, deleted, result = planted
    n = len(noisy.annotations)
    wrong = truth["error"].notna().to_numpy()
    assert ranks_first(result.annotations["quality"].to_numpy()[:n], wrong) >= 0.6
    spurious = truth["error"].to_numpy() == "spurious"
    assert (result.annotations["issue"].to_numpy()[:n][spurious] == "spurious").mean() >= 0.6
    assert result.predictions is not None and len(result.predictions.annotations)


@pytest.mark.slow
def test_cnn_finds_deleted_boxes(planted):
    noisy, truth, deleted, result = planted
    over = result.annotations.iloc[len(noisy.annotations):]
    top = over.sort_values("quality").head(2 * len(deleted))
    found = 0
    for row in deleted.itertuples():
        mine = top[top["image_id"] == row.image_id]
        if len(mine):
            iou = annokit.geometry.iou_matrix([[row.x, row.y, row.w, row.h]],
                                              mine[["suggested_x", "suggested_y",
                                                    "suggested_w", "suggested_h"]].to_numpy())
            found += iou.max() >= 0.5
    assert found / len(deleted) >= 0.4


def test_cnn_is_deterministic(planted):
    noisy, _, _, _ = planted
    first = score(noisy, model="cnn", folds=2, seed=1, iterations=20)
    again = score(noisy, model="cnn", folds=2, seed=1, iterations=20)
    pd.testing.assert_frame_equal(first.annotations, again.annotations)


@pytest.mark.slow
def test_cnn_classifier_flags_flips(tmp_path):
    ds = make_classes(tmp_path / "cls", n=90)
    noisy, truth = inject_label_flips(ds, 0.08, seed=3)
    result = score(noisy, model="cnn", folds=3, iterations=120)
    flipped = truth["flipped"].to_numpy()
    assert ranks_first(result.annotations["quality"].to_numpy(), flipped) >= 0.6


def test_weights_of_an_unknown_kind_are_refused(tmp_path):
    ds = make_classes(tmp_path / "cls", n=12)
    bad = tmp_path / "weights.bin"
    bad.write_bytes(b"not a model")
    with pytest.raises(annokit.AnnokitError, match="state dict"):
        score(ds, model="cnn", weights=bad, folds=2)
