"""Hostile inputs to edit, merge, apply and diff (issue 16): bad class maps, unsafe or
unknown --where expressions, a dataset merged with itself, scores of another dataset,
outputs over or inside an input. Each case: exit 2, one line naming the culprit, nothing
touched but the declared output."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from corpus import Case, coco_doc, coco_in, png, voc_in, write
from harness import check_case, run_cases

PARALLEL = max(2, min(4, os.cpu_count() or 1))
SCORE_HEADER = ("annotation_id,image_id,category_id,quality,issue,suggested_category_id,"
                "suggested_x,suggested_y,suggested_w,suggested_h,image_quality\n")


def with_files(files: dict, base=None):
    """The COCO input c.json (one image, one 'cat' box) plus ``files``."""
    def build(root: Path) -> None:
        (base or coco_in())(root)
        write(root, files)
    return build


def two_coco(root: Path) -> None:
    write(root, {"a/c.json": coco_doc(), "a/a.png": png(), "b/c.json": coco_doc(),
                 "b/a.png": png()})


def other_scores_json() -> dict:
    doc = coco_doc(images=[{"id": 1, "file_name": "other.png", "width": 8, "height": 6}])
    for ann in doc["annotations"]:
        ann.update(quality=0.1, issue="spurious")
    return doc


def no_pwned(root: Path, out: str, err: str) -> None:
    assert not (root / "pwned").exists()


CASES = [
    # class maps
    Case("map_not_old_new", "16.1", coco_in(), ("edit", "c.json", "out", "--map-classes", "cat"),
         names="--map-classes", says="'cat' is not old=new"),
    Case("map_unknown_class", "16.1", coco_in(),
         ("edit", "c.json", "out", "--map-classes", "dog=wolf"),
         names="--map-classes", says="no class named 'dog'; the classes are cat"),
    Case("keep_unknown_class_on_convert", "16.1", coco_in(),
         ("convert", "coco", "voc", "c.json", "out", "--keep-classes", "Cat"),
         names="--keep-classes", says="the classes are cat"),
    Case("drop_unknown_class_on_split", "16.1", voc_in(),
         ("split", "in", "out", "--drop-classes", "triangle,hexagon"),
         names="--drop-classes", says="no class named"),
    Case("map_file_yaml_alias", "16.1",
         with_files({"map.yaml": "a: &x [cat]\nb: *x\n"}),
         ("edit", "c.json", "out", "--map-classes", "map.yaml"), names="map.yaml",
         says="aliases"),
    Case("map_file_not_a_mapping", "16.1", with_files({"map.json": "[1, 2]"}),
         ("edit", "c.json", "out", "--map-classes", "map.json"), names="map.json",
         says="one mapping"),
    Case("map_file_bad_csv_row", "16.1", with_files({"map.csv": "cat,dog,bird\n"}),
         ("edit", "c.json", "out", "--map-classes", "map.csv"), names="map.csv:line 1",
         says="expected 2 fields"),
    Case("map_file_is_a_device", "16.1", coco_in(),
         ("edit", "c.json", "out", "--map-classes", "/dev/zero"), names="/dev/zero",
         says="a character device, not a regular file"),
    Case("map_file_null_name", "16.1", with_files({"map.yaml": "cat: null\n"}),
         ("edit", "c.json", "out", "--map-classes", "map.yaml"), names="map.yaml",
         says="non-empty text"),
    Case("map_file_missing", "16.1", coco_in(),
         ("edit", "c.json", "out", "--map-classes", "nope.yaml"), names="nope.yaml",
         says="no such class map file"),
    # --where
    Case("where_unknown_column", "16.2", coco_in(),
         ("edit", "c.json", "out", "--where", "colour == 'red'"), names="--where",
         says="unknown column 'colour'; the columns are id, image_id"),
    Case("where_code_injection", "16.2", coco_in(),
         ("edit", "c.json", "out", "--where",
          "__import__('os').system('touch pwned') == 0"),
         names="--where", says="a function call is not allowed", check=no_pwned),
    Case("where_dunder_attribute", "16.2", coco_in(),
         ("edit", "c.json", "out", "--where", "w.__class__ == 1"), names="--where",
         says="an attribute"),
    Case("where_bad_syntax", "16.2", coco_in(),
         ("edit", "c.json", "out", "--where", "w * * h"), names="--where", says="bad syntax"),
    Case("where_power_bomb", "16.2", coco_in(),
         ("edit", "c.json", "out", "--where", "9 ** 9 ** 9 ** 9 > w"), names="--where",
         says="'**' is not allowed"),
    Case("where_too_long", "16.2", coco_in(),
         ("edit", "c.json", "out", "--where", "w > 1 and " * 1500 + "w > 1"),
         names="--where", says="too long"),
    Case("where_nested_deep", "16.2", coco_in(),
         ("edit", "c.json", "out", "--where", "(" * 300 + "w" + ")" * 300 + " > 1"),
         names="--where"),
    Case("where_not_a_condition", "16.2", coco_in(),
         ("edit", "c.json", "out", "--where", "w + h"), names="--where",
         says="is not a condition"),
    Case("sample_not_a_count", "16.2", coco_in(),
         ("edit", "c.json", "out", "--sample", "2.5"), names="--sample"),
    Case("edit_output_inside_input", "16.2", voc_in(), ("edit", "in", "in/out"),
         names="in/out", says="refusing to write over or into the input"),
    # merge
    Case("merge_itself", "16.3", coco_in(), ("merge", "c.json", "c.json", "out"),
         names="c.json", says="given twice"),
    Case("merge_itself_by_another_path", "16.3",
         lambda root: (coco_in()(root), (root / "sub").mkdir()),
         ("merge", "c.json", "sub/../c.json", "out"), names="sub/../c.json",
         says="given twice"),
    Case("merge_itself_by_symlink", "16.3",
         lambda root: (coco_in()(root), os.symlink("c.json", root / "link.json")),
         ("merge", "c.json", "link.json", "out"), names="link.json", says="given twice"),
    Case("merge_one_input", "16.3", coco_in(), ("merge", "c.json", "out"),
         says="at least two datasets"),
    Case("merge_output_inside_an_input", "16.3", two_coco,
         ("merge", "a", "b/c.json", "a/merged"), names="a/merged",
         says="refusing to write over or into the input"),
    Case("merge_output_is_an_input", "16.3", two_coco,
         ("merge", "a/c.json", "b/c.json", "b/c.json", "--overwrite"), names="b/c.json"),
    Case("merge_over_an_input_image_folder", "16.3",
         lambda root: write(root, {"a/annotations.json": coco_doc(), "a/images/a.png": png(),
                                   "b/c.json": coco_doc(), "b/a.png": png(9, 6)}),
         ("merge", "a/annotations.json", "b/c.json", "a/images", "--overwrite", "-q"),
         names="a/images", says="refusing to replace the image folder"),
    # apply
    Case("apply_scores_of_another_dataset", "16.4",
         with_files({"scores.json": other_scores_json()}),
         ("apply", "c.json", "scores.json", "out"), names="scores.json",
         says="made for another dataset"),
    Case("apply_scores_unknown_annotation", "16.4",
         with_files({"s.csv": SCORE_HEADER + "77,1,1,0.1,spurious,,,,,,0.1\n"}),
         ("apply", "c.json", "s.csv", "out"), names="s.csv",
         says="scored annotation id is not in the dataset (77)"),
    Case("apply_not_a_scores_table", "16.4", with_files({"s.csv": "a,b\n1,2\n"}),
         ("apply", "c.json", "s.csv", "out"), names="s.csv", says="is this the output of"),
    Case("apply_malformed_scores_json", "16.4", with_files({"s.json": "{\"annotations\": ["}),
         ("apply", "c.json", "s.json", "out"), names="s.json", says="not JSON (line 1)"),
    Case("apply_unknown_issue", "16.4",
         with_files({"s.csv": SCORE_HEADER + "1,1,1,0.1,typo,,,,,,0.1\n"}),
         ("apply", "c.json", "s.csv", "out"), names="s.csv", says="unknown issues ['typo']"),
    Case("apply_bad_accept", "16.4",
         with_files({"s.csv": SCORE_HEADER + "1,1,1,0.1,spurious,,,,,,0.1\n"}),
         ("apply", "c.json", "s.csv", "out", "--accept", "swap,typo"), names="--accept"),
    Case("apply_output_over_the_input", "16.4",
         with_files({"s.csv": SCORE_HEADER + "1,1,1,0.1,spurious,,,,,,0.1\n"}),
         ("apply", "c.json", "s.csv", "c.json", "--overwrite"), names="c.json",
         says="refusing to write over or into the input"),
    Case("apply_log_over_the_scores", "16.4",
         with_files({"s.csv": SCORE_HEADER + "1,1,1,0.1,spurious,,,,,,0.1\n"}),
         ("apply", "c.json", "s.csv", "out", "--log", "s.csv"), names="s.csv",
         says="refusing to write over or into the input"),
    # diff
    Case("diff_missing_input", "16.5", coco_in(), ("diff", "c.json", "nope.json"),
         names="nope.json"),
]

GOOD = [  # what must succeed beside them
    Case("apply_spurious_ok", "16.4",
         with_files({"s.csv": SCORE_HEADER + "1,1,1,0.1,spurious,,,,,,0.1\n"}),
         ("apply", "c.json", "s.csv", "out.json"), code=0,
         outputs=("out.json", "out.json.changes.csv")),
    Case("diff_equal_is_exit_0", "16.5", two_coco, ("diff", "a/c.json", "b/c.json"), code=0),
    Case("diff_changed_is_exit_1", "16.5", with_files({"d.json": coco_doc(
        annotations=[{"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 1, 4, 3],
                      "area": 12, "iscrowd": 0}])}), ("diff", "c.json", "d.json"), code=1),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return run_cases(CASES + GOOD, tmp_path_factory.mktemp("hostile_edit"), PARALLEL)


@pytest.mark.parametrize("case", CASES + GOOD, ids=[c.name for c in CASES + GOOD])
def test_hostile_edit_case(case, results):
    check_case(case, results[case.name])
