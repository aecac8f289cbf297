"""Centre points scored as boxes of their objects' size (annokit.score.points)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from click.testing import CliRunner

import annokit
from annokit import AnnokitError
from annokit.cli import main
from annokit.edit import apply_fixes
from annokit.points import boxes_to_points
from annokit.score import format_worst, score
from annokit.score.points import as_boxes, only_points, spacing_size
from score_data import make_shapes
from test_edit import BOXES, make, scores_for


@pytest.fixture(scope="module")
def shapes_points(tmp_path_factory):
    return boxes_to_points(make_shapes(tmp_path_factory.mktemp("shapes"), n_images=24))


def test_points_are_judged_as_boxes_of_their_spacing(shapes_points):
    ds = shapes_points
    side = spacing_size(ds)
    assert 30 < side < 100  # three shapes in a 2x2 grid of 64-px slots on 128-px images
    result = score(ds, model="classic", folds=3)
    assert result.task == "detection"
    n = len(ds.annotations)
    own = result.annotations.iloc[:n]
    assert own["annotation_id"].tolist() == ds.annotations["id"].tolist()
    assert own["quality"].between(0, 1).all()
    assert not own["issue"].eq("badloc").any()  # a point may sit anywhere on its object
    assert any("points judged as squares of" in n.text for n in result.notes)
    assert "box " not in format_worst(ds, result, 50)


def test_a_wrong_class_on_a_point_is_found(shapes_points):
    ds = shapes_points.copy()
    anns = ds.annotations
    wrong = np.arange(0, len(anns), 9)
    anns.loc[wrong, "category_id"] = anns.loc[wrong, "category_id"] % 3 + 1
    ds = annokit.Dataset(ds.categories, ds.images, anns, ds.meta)
    own = score(ds, model="classic", folds=3).annotations.iloc[:len(anns)]
    q = own["quality"].to_numpy()
    planted = np.zeros(len(anns), bool)
    planted[wrong] = True
    assert np.median(q[planted]) < np.median(q[~planted])
    assert roc_auc_score(planted, -own["swap_quality"].to_numpy()) >= 0.9
    flagged = own["issue"].notna().to_numpy()
    assert flagged[planted].sum() >= 2 and planted[flagged].mean() >= 0.5


def test_points_with_no_neighbours_take_a_share_of_the_image_or_a_size():
    ds = boxes_to_points(make([(1, "car", 10, 10, 20, 20), (2, "bus", 30, 30, 20, 20)]))
    assert only_points(ds) and spacing_size(ds) is None
    boxed, how = as_boxes(ds)  # images 100x80: half of 80
    assert boxed.annotations["w"].tolist() == [40.0, 40.0] and "shorter side" in how
    unknown = annokit.Dataset(ds.categories, ds.images.assign(width=np.nan, height=np.nan),
                              ds.annotations, ds.meta)
    with pytest.raises(AnnokitError, match="--point-size"):
        as_boxes(unknown)
    boxed, how = as_boxes(ds, (8, 6))
    assert boxed.annotations[["x", "y", "w", "h"]].values.tolist() == [[16, 17, 8, 6],
                                                                      [36, 37, 8, 6]]
    assert "given" in how


def test_apply_keeps_points_points():
    """A point moved to a suggestion goes to the box's centre; a candidate accepted in a
    points dataset is a point."""
    ds = boxes_to_points(make(BOXES))
    fixed, log = apply_fixes(ds, scores_for(ds, {1: ("badloc", 0.1, pd.NA, [10, 20, 4, 6])},
                                            overlooked=[(3, 1, 0.1, [40, 40, 10, 20])]))
    a = fixed.annotations.set_index("id")
    assert a.loc[2, ["kind", "x", "y"]].tolist() == ["point", 12.0, 23.0]
    assert np.isnan(a.loc[2, "w"])
    added = a.loc[a.index.max()]
    assert added[["kind", "x", "y"]].tolist() == ["point", 45.0, 50.0]
    assert log["change"].tolist() == ["move", "add"]


@pytest.mark.parametrize("value", ["0", "abc", "3,4,5", "car=-2,2"])
def test_cli_refuses_a_bad_point_size_in_one_line(tmp_path, value):
    out = CliRunner().invoke(main, ["score", str(tmp_path), "--point-size", value])
    assert out.exit_code != 0
    lines = [line for line in out.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "--point-size" in lines[0], out.output


def test_cli_scores_points_with_a_size(shapes_points, tmp_path):
    annokit.write(shapes_points, tmp_path / "pts.csv", "csv")
    out = CliRunner().invoke(main, ["score", str(tmp_path / "pts.csv"), "--model", "classic",
                                    "--folds", "3", "--point-size", "33,33", "--image-root",
                                    shapes_points.meta["image_root"], "--out",
                                    str(tmp_path / "scores.json")])
    assert out.exit_code == 0, out.output
    assert "detection: 72 annotations scored" in out.output
    assert "points judged as boxes of the size given" in out.output
    assert (tmp_path / "scores.json").stat().st_size > 0
