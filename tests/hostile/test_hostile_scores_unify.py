"""Hostile scores files given to ``annokit apply`` now that it reads them through the score
contract (``read_scores``) and the one match rule (issue 14 item 5): suggested classes the
dataset lacks, a table trimmed to fewer rows, and the contract layouts it must still take.
Each refusal: exit 2, one line naming the scores file, nothing touched."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from corpus import Case, coco_doc, coco_in, write
from harness import check_case, run_cases

HEADER = ("annotation_id,image_id,category_id,quality,issue,suggested_category_id,"
          "suggested_x,suggested_y,suggested_w,suggested_h,image_quality")
NAMES = ",file_name,category_name,suggested_category_name"
TWO_BOXES = [{"id": i, "image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 3], "area": 12,
              "iscrowd": 0} for i in (1, 2)]


def with_files(files: dict, **doc):
    """The COCO input c.json (one image a.png, class 'cat'; one box unless given) plus
    ``files``."""
    def build(root: Path) -> None:
        coco_in(**doc)(root)
        write(root, files)
    return build


def scores_json(overlooked: list) -> dict:
    doc = coco_doc()
    for ann in doc["annotations"]:
        ann.update(quality=0.99, issue=None)
    doc["overlooked"] = overlooked
    return doc


def annotations_in(n: int):
    def check(root: Path, out: str, err: str) -> None:
        assert len(json.loads((root / "out.json").read_text())["annotations"]) == n, out
    return check


CASES = [
    Case("apply_suggested_class_id_not_in_dataset", "14.5",
         with_files({"s.csv": f"{HEADER}\n1,1,1,0.1,swap,9,,,,,0.1\n"}),
         ("apply", "c.json", "s.csv", "out.json"), names="s.csv",
         says="1 scored class id is not in the dataset (9)"),
    # read_scores used to turn a suggested class name the dataset lacks into NA, silently
    Case("apply_suggested_class_name_not_in_dataset", "14.5",
         with_files({"s.csv": f"{HEADER}{NAMES}\n1,1,1,0.1,swap,2,,,,,0.1,a.png,cat,dog\n"}),
         ("apply", "c.json", "s.csv", "out.json"), names="s.csv",
         says="1 scored class name is not in the dataset ('dog')"),
    Case("apply_table_trimmed_to_fewer_rows", "14.5",
         with_files({"s.csv": f"{HEADER}\n1,1,1,0.1,spurious,,,,,,0.1\n"},
                    annotations=TWO_BOXES),
         ("apply", "c.json", "s.csv", "out.json"), names="s.csv",
         says="1 annotation of the dataset has no score (2)"),
    Case("apply_scores_json_without_images", "14.5",
         with_files({"s.json": {"annotations": [], "categories": []}}),
         ("apply", "c.json", "s.json", "out.json"), names="s.json",
         says="not a COCO document with images, annotations and categories"),
]

GOOD = [
    # the contract's layout: a candidate in 'overlooked' (no 'issue' key) is added
    Case("apply_overlooked_list_entry", "14.5",
         with_files({"s.json": scores_json([{"image_id": 1, "category_id": 1,
                                             "bbox": [0, 0, 3, 3], "quality": 0.1}])}),
         ("apply", "c.json", "s.json", "out.json"), code=0,
         outputs=("out.json", "out.json.changes.csv"), check=annotations_in(2)),
    # a reviewer's 'accept' column survives read_scores: an unmarked row is not applied
    Case("apply_accept_column_unmarked", "14.5",
         with_files({"s.csv": f"{HEADER},accept\n1,1,1,0.1,spurious,,,,,,0.1,no\n"}),
         ("apply", "c.json", "s.csv", "out.json"), code=0,
         outputs=("out.json", "out.json.changes.csv"), check=annotations_in(1)),
    Case("apply_accept_column_marked", "14.5",
         with_files({"s.csv": f"{HEADER},accept\n1,1,1,0.1,spurious,,,,,,0.1,Yes\n"}),
         ("apply", "c.json", "s.csv", "out.json"), code=0,
         outputs=("out.json", "out.json.changes.csv"), check=annotations_in(0)),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return run_cases(CASES + GOOD, tmp_path_factory.mktemp("hostile_scores_unify"))


@pytest.mark.parametrize("case", CASES + GOOD, ids=[c.name for c in CASES + GOOD])
def test_hostile_scores_unify_case(case, results):
    check_case(case, results[case.name])
