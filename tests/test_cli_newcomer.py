"""What a newcomer hit (issue 13, items 11-15), through the command line: rebalance counts
what it wrote, split --folds prints its table and each note once, eval says which images
went unpredicted and takes GT PRED everywhere, check --help explains every threshold, the
README's tables are whole, zero-size boxes written to YOLO/VOC are noted, and scoring
prints no scikit-learn warnings."""
from __future__ import annotations

import json
import re
import shutil
from dataclasses import fields

import pytest

import annokit
from annokit.checks import Thresholds
from annokit.checks.registry import THRESHOLD_HELP
from conftest import FIXTURES, ROOT, run_cli as run, shared_dataset

SHAPES = FIXTURES / "shapes" / "voc"


# -- 11. rebalance: the summary counts what was written, and says why nothing repeated --

def test_rebalance_only_split_counts_the_list_it_wrote(tmp_path):
    train = int((annokit.read(SHAPES).images["split"] == "train").sum())
    code, out, err = run("rebalance", SHAPES, tmp_path / "t.txt", "--only-split", "train",
                         "--threshold", "0.9")
    assert code == 0, err
    written = len((tmp_path / "t.txt").read_text().splitlines())
    assert written > train  # something was repeated
    assert f"train: {train} -> {written} images" in out.splitlines()[-1]
    assert "nothing repeated" not in err


def test_rebalance_says_why_nothing_was_repeated_and_what_to_try(tmp_path):
    code, out, err = run("rebalance", SHAPES, tmp_path / "t.txt", "--only-split", "train",
                         "--threshold", "0.01")
    assert code == 0, err
    written = len((tmp_path / "t.txt").read_text().splitlines())
    assert f"train: {written} -> {written} images" in out.splitlines()[-1]
    note = next(line for line in err.splitlines() if "nothing repeated" in line)
    share = float(re.search(r"is in ([\d.]+)% of the images", note)[1]) / 100
    hint = float(re.search(r"raise --threshold above ([\d.]+)", note)[1])
    assert hint == pytest.approx(share, abs=0.006) and "--method oversample" in note
    # the example it gives works: that threshold repeats images
    example = re.search(r"\(e\.g\. ([\d.]+)\)", note)[1]
    code, out, err = run("rebalance", SHAPES, tmp_path / "u.txt", "--only-split", "train",
                         "--threshold", example)
    assert code == 0 and len((tmp_path / "u.txt").read_text().splitlines()) > written


def test_rebalance_factors_rounded_down_by_chance_say_so():
    from annokit.rebalance import rebalance

    # square is in 5 of 12 images: t = 0.45 gives it a factor of 1.04, which seed 1 rounds
    # down on every image
    out, _ = rebalance(annokit.read(SHAPES), "repeat", threshold=0.45, seed=1)
    assert len(out.images) == 12
    assert out.notes.of(source="rebalance").texts() == [
        "nothing repeated: the largest repeat factor (square: 1.04) was rounded down to one "
        "copy for every image (seeded); raise --threshold or try another --seed"]


def test_rebalance_dataset_output_counts_every_split(tmp_path):
    code, out, err = run("rebalance", SHAPES, tmp_path / "c", "--only-split", "train",
                         "--threshold", "0.9", "--to", "coco")
    assert code == 0, err
    written = annokit.read(tmp_path / "c")
    last = out.splitlines()[-1]
    assert last.startswith(f"12 -> {len(written.images)} images, 35 -> "
                           f"{len(written.annotations)} annotations")
    assert last.endswith("other splits kept as they were")


def test_readme_bccd_rebalance_example(tmp_path):
    bccd = shared_dataset("bccd", "BCCD")
    code, out, err = run("rebalance", bccd, tmp_path / "train.txt", "--only-split", "train",
                         "--threshold", "0.01")
    assert code == 0, err
    assert len((tmp_path / "train.txt").read_text().splitlines()) == 205
    assert "train: 205 -> 205 images, 2805 -> 2805 annotations" in out
    assert ("nothing repeated: the rarest class, Platelets, is in 57.1% of the images" in err
            and "raise --threshold above 0.57" in err)


# -- 12. split --folds: a per-class table per fold, each note once -------------------------

def test_split_folds_prints_a_fold_table_and_each_note_once(tmp_path):
    code, out, err = run("split", SHAPES, tmp_path / "folds", "--folds", "3", "--to", "yolo")
    assert code == 0, err
    notes = [line for line in err.splitlines() if line.strip().startswith("note:")]
    assert notes and len(notes) == len(set(notes))
    assert sum("annotation attributes dropped" in n for n in notes) == 1
    header, *rows = out.splitlines()[:-1]
    assert header.split()[:2] == ["class", "total"]
    assert all(f"fold {i} (33%)" in header for i in range(3))
    table = {row.split()[0]: row.split() for row in rows}
    assert set(table) >= {"circle", "square", "triangle", "all", "images"}
    counts = [int(v) for v in table["images"][2:-2:2]]  # fold i: count, share; then max gap
    assert sum(counts) == 12 == int(table["images"][1]) and len(counts) == 3
    for i in range(3):  # each fold's val holds the images its column counts
        val = annokit.read(tmp_path / "folds" / f"fold_{i}")
        assert int((val.images["split"] == "val").sum()) == counts[i]
    assert out.splitlines()[-1].startswith("3 folds written to")


def test_split_folds_bccd_path_note_once(tmp_path):
    bccd = shared_dataset("bccd", "BCCD")
    code, out, err = run("split", bccd, tmp_path / "folds", "--folds", "5", "--to", "coco")
    assert code == 0, err
    assert err.count("VOC's <path>") == 1
    assert "fold 4 (20%)" in out.splitlines()[0]


# -- 13. eval: unpredicted images noted; GT PRED everywhere -----------------------------

def _results(gt_file, out, keep):
    doc = json.loads(gt_file.read_text())
    results = [{"image_id": a["image_id"], "category_id": a["category_id"],
                "bbox": a["bbox"], "score": 0.9}
               for a in doc["annotations"] if keep(a["image_id"])]
    out.write_text(json.dumps(results))
    return doc


def test_eval_says_how_many_images_have_no_predictions(tmp_path):
    code, _, err = run("convert", "voc", "coco", SHAPES, tmp_path / "gt.json")
    assert code == 0, err
    doc = _results(tmp_path / "gt.json", tmp_path / "det.json", lambda i: i % 3 == 0)
    held = {a["image_id"] for a in doc["annotations"]}
    missed = {i for i in held if i % 3}
    boxes = sum(a["image_id"] in missed for a in doc["annotations"])
    code, out, err = run("eval", tmp_path / "gt.json", tmp_path / "det.json", "--json",
                         tmp_path / "m.json")
    assert code == 0, err
    assert (f"note: {len(missed)} of {len(held)} images with ground-truth boxes have no "
            f"predictions; their {boxes} boxes count as misses") in err
    notes = json.loads((tmp_path / "m.json").read_text())["notes"]
    assert any("count as misses" in n["text"] and n["source"] == "eval" for n in notes)
    # every image predicted: no such note
    _results(tmp_path / "gt.json", tmp_path / "all.json", lambda i: True)
    code, out, err = run("eval", tmp_path / "gt.json", tmp_path / "all.json")
    assert code == 0 and "count as misses" not in err and "AP 1.000" in out


def test_point_eval_says_how_many_images_have_no_predictions(tmp_path):
    code, _, err = run("points", "to-points", SHAPES, tmp_path / "p.csv", "--to", "csv")
    assert code == 0, err
    rows = (tmp_path / "p.csv").read_text().splitlines()
    gone = [r for r in rows[1:] if r.startswith("shapes_001.jpg,")]
    (tmp_path / "p.csv").write_text("\n".join(r for r in rows if r not in gone) + "\n")
    for args in (("eval", SHAPES, tmp_path / "p.csv", "--task", "points"),
                 ("evaluate", "points", SHAPES, tmp_path / "p.csv")):
        code, out, err = run(*args)
        assert code == 0, err
        assert (f"1 of 11 images with ground-truth objects has no predictions; its "
                f"{len(gone)} objects count as misses") in err
        assert f"FN {len(gone)})" in out


def test_one_argument_order_and_the_old_one_refused(tmp_path):
    scored = tmp_path / "scored.csv"
    shutil.copy(FIXTURES / "csv" / "points_scored.csv", scored)
    truth = tmp_path / "truth.csv"
    lines = scored.read_text().splitlines()
    truth.write_text("\n".join(line.rsplit(",", 1)[0] for line in lines) + "\n")
    options = ("--mode", "distance", "--max-distance", "5")
    code, new, err = run("evaluate", "points", truth, scored, *options)
    assert code == 0, err
    code, same, err = run("eval", truth, scored, "--task", "points", *options)
    assert code == 0 and same == new
    for args in (("evaluate", "points", scored, truth, *options),
                 ("eval", scored, truth, "--task", "points", *options),
                 ("eval", scored, truth)):
        code, out, err = run(*args, "--json", tmp_path / "m.json")
        assert code == 2 and out == ""
        assert err.splitlines() == [
            f"annokit: error: {scored} has scores and {truth} has none: the arguments look "
            "swapped; give the ground truth first, then the predictions: annokit eval GT PRED "
            "(also annokit evaluate points GT PRED)"]
        assert not (tmp_path / "m.json").exists()


def test_old_point_order_without_scores_names_the_order(tmp_path):
    code, _, err = run("points", "to-points", SHAPES, tmp_path / "p.csv", "--to", "csv")
    assert code == 0, err
    code, _, err = run("evaluate", "points", tmp_path / "p.csv", SHAPES)
    assert code == 2 and "the ground truth comes first: GT PRED" in err


# -- 14. check --help in words; README tables whole ---------------------------------------

def test_check_help_describes_every_threshold_in_words():
    code, out, _ = run("check", "--help")
    assert code == 0
    text = " ".join(out.split())
    assert "Threshold (default" not in text
    for f in fields(Thresholds):
        words = " ".join(THRESHOLD_HELP[f.name].rstrip(".").split())
        assert f"--{f.name.replace('_', '-')}" in text
        # click may break a hyphenated word across lines: compare without spaces
        assert f"{words} (default {f.default}).".replace(" ", "") in text.replace(" ", ""), f
    units = {"min_box_area": "square pixels", "min_box_side": "pixels",
             "edge_tolerance": "Pixels", "duplicate_iou": "IoU (0-1)",
             "phash_distance": "of 64 bits", "outlier_z": "z-score"}
    for name, unit in units.items():
        assert unit in THRESHOLD_HELP[name], name


def test_readme_tables_are_whole():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    tables, current = [], []
    for line in lines + [""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    assert tables
    for table in tables:  # a header, its separator, then rows: nothing breaks it in two
        assert len(table) >= 3 and re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", table[1]), table[0]
    convert = next(t for t in tables if "`--image-root DIR`" in t[2])
    assert any("`--quiet`, `--debug`" in row for row in convert)


# -- 15. zero-size boxes written to YOLO/VOC are noted ---------------------------------

def _zero_box_voc(tmp_path):
    voc = tmp_path / "voc"
    shutil.copytree(SHAPES, voc)
    xml = voc / "Annotations" / "shapes_003.xml"
    text = xml.read_text()
    xmin = re.search(r"<xmin>([\d.]+)</xmin>", text)[1]
    ymin = re.search(r"<ymin>([\d.]+)</ymin>", text)[1]
    text = re.sub(r"<xmax>[\d.]+</xmax>", f"<xmax>{xmin}</xmax>", text, count=1)
    xml.write_text(re.sub(r"<ymax>[\d.]+</ymax>", f"<ymax>{ymin}</ymax>", text, count=1))
    return voc


@pytest.mark.parametrize("target", ["yolo", "voc"])
def test_zero_size_boxes_written_get_a_note(tmp_path, target):
    voc = _zero_box_voc(tmp_path)
    code, out, err = run("convert", "voc", target, voc, tmp_path / "out")
    assert code == 0, err
    assert (f"note: 1 box of zero width or height written to {target.upper()} as they are "
            "(shapes_003.jpg)") in err
    code, out, err = run("convert", "voc", target, SHAPES, tmp_path / "clean")
    assert code == 0 and "zero width or height" not in err


def test_bccd_zero_size_boxes_named(tmp_path):
    bccd = shared_dataset("bccd", "BCCD")
    code, out, err = run("convert", "voc", "yolo", bccd, tmp_path / "y")
    assert code == 0, err
    assert ("2 boxes of zero width or height written to YOLO as they are "
            "(BloodImage_00338.jpg, BloodImage_00343.jpg)") in err


# -- 15. check --score prints no scikit-learn warnings ----------------------------------

@pytest.mark.slow  # scores all 4,888 BCCD boxes: about 70 s of CPU
def test_check_score_prints_no_scikit_learn_warnings():
    """On BCCD the box classifier's lbfgs stopped at its iteration budget and printed
    'lbfgs failed to converge'; a subprocess, since pytest itself records warnings."""
    import subprocess
    import sys

    bccd = shared_dataset("bccd", "BCCD")
    done = subprocess.run([sys.executable, "-m", "annokit", "check", str(bccd), "--score",
                           "--no-images"], capture_output=True, text=True, timeout=3600)
    assert done.returncode == 1, done.stderr  # BCCD's two zero-size boxes are errors
    assert "likely annotation errors" in done.stdout
    assert "warning:" not in done.stderr and "converge" not in done.stderr, done.stderr
