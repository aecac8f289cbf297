"""Hostile cases of issue 13's newcomer items (11-15): arguments in the old order, resampling
that repeats nothing. Each runs the real command in its own folder, as the corpus does:
exit code, one line naming the file, nothing touched but the declared output."""
from __future__ import annotations

from pathlib import Path

import pytest

from corpus import Case, both, predictions, voc_in
from harness import check_case, run_cases


def scored_predictions(root: Path) -> None:
    """pred.csv: the shapes boxes as centre points with a score, through the library."""
    import annokit as lib
    from annokit.points import boxes_to_points

    points = boxes_to_points(lib.read(root / "in"))
    points.annotations["score"] = 0.9
    lib.write(points, root / "pred.csv", "csv")


def says_nothing_repeated(root: Path, out: str, err: str) -> None:
    written = len((root / "t.txt").read_text().splitlines())
    assert f"train: {written} -> {written} images" in out
    assert "raise --threshold above" in err


SWAPPED = "the arguments look swapped"
CASES = [
    Case("eval-scored-ground-truth-swapped", "13.13", both(voc_in(), scored_predictions),
         ("eval", "pred.csv", "in", "--json", "m.json"), names="pred.csv", says=SWAPPED),
    Case("evaluate-points-old-order-scored", "13.13", both(voc_in(), scored_predictions),
         ("evaluate", "points", "pred.csv", "in", "--json", "m.json"), names="pred.csv",
         says=SWAPPED),
    Case("evaluate-points-old-order-unscored", "13.13", both(voc_in(), predictions),
         ("evaluate", "points", "pred.csv", "in"),
         says="the ground truth comes first: GT PRED"),
    Case("evaluate-points-new-order", "13.13", both(voc_in(), scored_predictions),
         ("evaluate", "points", "in", "pred.csv", "--json", "m.json"), code=0,
         outputs=("m.json",)),
    Case("rebalance-repeats-nothing", "13.11", voc_in(),
         ("rebalance", "in", "t.txt", "--only-split", "train", "--threshold", "0.001"),
         code=0, outputs=("t.txt",), check=says_nothing_repeated),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return run_cases(CASES, tmp_path_factory.mktemp("hostile_newcomer"))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_newcomer_case(case, results):
    check_case(case, results[case.name])
