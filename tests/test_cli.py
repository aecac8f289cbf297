"""The annokit command line, through click's runner: output, exit codes, one-line errors."""
import json

from click.testing import CliRunner

from annokit.cli import main
from conftest import FIXTURES, run_cli as run

SHAPES = str(FIXTURES / "shapes" / "voc")


def test_convert_prints_one_summary_line(tmp_path):
    code, out, err = run("convert", "voc", "coco", SHAPES, tmp_path / "coco")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("voc -> coco: 12 images, ") and "3 categories" in lines[0]
    train = tmp_path / "coco" / "annotations" / "instances_train.json"
    assert json.loads(train.read_text())["images"]


def test_auto_detects_source(tmp_path):
    code, out, _ = run("convert", "auto", "yolo", SHAPES, tmp_path / "yolo")
    assert code == 0 and out.startswith("voc -> yolo:")
    assert (tmp_path / "yolo" / "data.yaml").exists()


def test_refuses_non_empty_output_then_overwrites(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("keep")
    code, out, err = run("convert", "voc", "coco", SHAPES, target)
    assert code == 2 and out == ""
    assert err.strip() == f"annokit: error: {target}: exists and is not empty " \
                          "(use --overwrite to replace it)"
    assert (target / "keep.txt").exists()
    code, _, _ = run("convert", "voc", "coco", SHAPES, target, "--overwrite")
    assert code == 0 and not (target / "keep.txt").exists()


def test_missing_input(tmp_path):
    code, _, err = run("convert", "coco", "voc", tmp_path / "nope.json", tmp_path / "o")
    assert code == 2 and err.strip() == f"annokit: error: {tmp_path / 'nope.json'}: " \
                                        "no such file or folder"
    assert not (tmp_path / "o").exists()


def test_malformed_json_is_one_line_without_traceback(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [\n  {"id": 1,, "file_name": "a.jpg"}\n]}')
    code, out, err = run("convert", "coco", "voc", bad, tmp_path / "o")
    assert code == 2 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith(f"annokit: error: {bad}:line 2") and "JSON" in err
    assert not (tmp_path / "o").exists()


def test_debug_shows_traceback(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    result = CliRunner().invoke(main, ["convert", "coco", "voc", str(bad), str(tmp_path / "o"),
                                       "--debug"])
    assert result.exit_code != 0 and result.exception is not None  # raised, not swallowed


def broken_yolo(tmp_path):
    from PIL import Image

    root = tmp_path / "yolo"
    (root / "images" / "train").mkdir(parents=True)
    (root / "labels" / "train").mkdir(parents=True)
    Image.new("RGB", (100, 50)).save(root / "images" / "train" / "a.jpg")
    (root / "labels" / "train" / "a.txt").write_text(
        "0 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.2\n7 0.5 0.5 0.1 0.1\n")
    (root / "data.yaml").write_text("path: .\ntrain: images/train\nval: images/train\n"
                                    "names: [cat]\n")
    return root


def test_lenient_skips_and_names_each_record(tmp_path):
    root = broken_yolo(tmp_path)
    code, out, err = run("convert", "yolo", "coco", root, tmp_path / "o.json")
    assert code == 0
    assert "1 annotations" in out and "2 skipped" in out
    skipped = [line for line in err.splitlines() if "skipped:" in line]
    assert len(skipped) == 2
    assert "a.txt:line 2" in skipped[0] and "a.txt:line 3" in skipped[1]


def test_strict_stops_at_first(tmp_path):
    root = broken_yolo(tmp_path)
    code, out, err = run("convert", "yolo", "coco", root, tmp_path / "o.json", "--strict")
    assert code == 2 and out == ""
    assert "a.txt:line 2" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.json").exists()


def test_quiet_lists_nothing(tmp_path):
    root = broken_yolo(tmp_path)
    code, out, err = run("convert", "yolo", "coco", root, tmp_path / "o.json", "--quiet")
    assert code == 0 and err == "" and "2 skipped" in out


def test_images_copy_refuses_escaping_file_names(tmp_path):
    coco = {"images": [{"id": 1, "file_name": "../../etc/passwd", "width": 10, "height": 10},
                       {"id": 2, "file_name": "ok.jpg", "width": 10, "height": 10}],
            "annotations": [], "categories": [{"id": 1, "name": "a"}]}
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "ok.jpg").write_bytes(b"x")
    (tmp_path / "in" / "c.json").write_text(json.dumps(coco))
    code, out, err = run("convert", "coco", "voc", tmp_path / "in" / "c.json", tmp_path / "o",
                         "--images", "copy")
    assert "../../etc/passwd" in err
    assert (tmp_path / "o" / "JPEGImages" / "ok.jpg").read_bytes() == b"x"
    assert not any("passwd" in p.name for p in (tmp_path / "o").rglob("*"))


def test_info(tmp_path):
    code, out, _ = run("info", SHAPES)
    assert code == 0 and out.startswith("Dataset(images=12")
    assert "circle" in out


# -- check ----------------------------------------------------------------------------------

def zero_box_voc(tmp_path):
    """A VOC folder with one zero-width box (an error) and one tiny box (a warning)."""
    root = tmp_path / "voc"
    root.mkdir()
    (root / "a.xml").write_text(
        "<annotation><filename>a.jpg</filename><size><width>100</width><height>100</height>"
        "</size><object><name>cat</name><bndbox><xmin>10</xmin><ymin>10</ymin><xmax>10</xmax>"
        "<ymax>40</ymax></bndbox></object><object><name>cat</name><bndbox><xmin>50</xmin>"
        "<ymin>50</ymin><xmax>52</xmax><ymax>52</ymax></bndbox></object></annotation>")
    return root


def test_check_exit_codes_follow_fail_on(tmp_path):
    root = zero_box_voc(tmp_path)
    code, out, err = run("check", root, "--no-images")
    assert code == 1 and "geometry.zero_size" in out and "failing" in err
    code, _, _ = run("check", root, "--no-images", "--fail-on", "never")
    assert code == 0
    code, out, _ = run("check", root, "--no-images", "--skip", "geometry.zero_size")
    assert code == 0 and "geometry.zero_size" not in out
    code, _, _ = run("check", root, "--no-images", "--skip", "geometry.zero_size",
                     "--fail-on", "warning")
    assert code == 1  # the tiny box and the rare class are warnings
    code, _, err = run("check", tmp_path / "missing")
    assert code == 2 and "no such file or folder" in err


def test_check_thresholds_from_cli_and_config(tmp_path):
    root = zero_box_voc(tmp_path)
    _, out, _ = run("check", root, "--no-images", "--fail-on", "never")
    assert "geometry.tiny" in out
    _, out, _ = run("check", root, "--no-images", "--fail-on", "never", "--min-box-area", "1",
                    "--min-box-side", "1")
    assert "geometry.tiny" not in out
    config = tmp_path / "qc.toml"
    config.write_text('fail_on = "never"\nskip = ["balance"]\n[thresholds]\nmin_box_area = 1\n'
                      'min_box_side = 1\n[severity]\n"geometry.zero_size" = "warning"\n')
    code, out, _ = run("check", root, "--no-images", "--config", config)
    assert code == 0 and "geometry.tiny" not in out and "balance." not in out
    assert "warning   geometry.zero_size" in out
    yaml_config = tmp_path / "qc.yaml"
    yaml_config.write_text("thresholds:\n  no_such_threshold: 3\n")
    code, _, err = run("check", root, "--no-images", "--config", yaml_config)
    assert code == 2 and "unknown thresholds ['no_such_threshold']" in err
    bad = tmp_path / "bad.toml"
    bad.write_text("fail_on = \n")
    code, _, err = run("check", root, "--config", bad)
    assert code == 2 and err.startswith(f"annokit: error: {bad}: bad config")


def test_check_writes_reports(tmp_path):
    root = zero_box_voc(tmp_path)
    code, _, _ = run("check", root, "--no-images", "--json", tmp_path / "qc.json",
                     "--html", tmp_path / "qc.html")
    assert code == 1
    report = json.loads((tmp_path / "qc.json").read_text())
    checks = {f["check"] for f in report["findings"]}
    assert "geometry.zero_size" in checks
    assert "<svg" in (tmp_path / "qc.html").read_text()


# -- split and rebalance ----------------------------------------------------------------------

def test_split_writes_native_layout_and_table(tmp_path):
    code, out, _ = run("split", SHAPES, tmp_path / "yolo", "--to", "yolo", "--ratios", "0.5,0.5",
                       "--names", "train,val", "--no-near-duplicates")
    assert code == 0
    assert "all instances" in out and "split and written as yolo" in out
    import yaml

    data = yaml.safe_load((tmp_path / "yolo" / "data.yaml").read_text())
    assert {"train", "val"} <= set(data)
    n = {s: len(list((tmp_path / "yolo" / "labels" / s).glob("*.txt"))) for s in ("train", "val")}
    assert sum(n.values()) == 12 and min(n.values()) >= 4


def test_split_folds(tmp_path):
    code, out, _ = run("split", SHAPES, tmp_path / "folds", "--folds", "3", "--to", "coco",
                       "--no-near-duplicates")
    assert code == 0 and sorted(p.name for p in (tmp_path / "folds").iterdir()) == \
        ["fold_0", "fold_1", "fold_2"]
    vals = [len(json.loads((tmp_path / "folds" / f"fold_{i}" / "annotations" / "instances_val.json")
                           .read_text())["images"]) for i in range(3)]
    assert sum(vals) == 12


def test_split_bad_ratios(tmp_path):
    code, _, err = run("split", SHAPES, tmp_path / "o", "--ratios", "0.8,x")
    assert code == 2 and "--ratios must be numbers" in err and not (tmp_path / "o").exists()


def test_rebalance_list_and_refusal(tmp_path):
    code, out, _ = run("rebalance", SHAPES, tmp_path / "list.txt", "--threshold", "0.5")
    assert code == 0 and "factor" in out
    lines = (tmp_path / "list.txt").read_text().splitlines()
    assert len(lines) > 12 and all(line.endswith(".jpg") for line in lines)
    code, _, err = run("rebalance", SHAPES, tmp_path / "voc", "--threshold", "0.5")
    assert code == 2 and "cannot hold repeated images" in err
    code, out, _ = run("rebalance", SHAPES, tmp_path / "coco", "--threshold", "0.5", "--to",
                       "coco")
    assert code == 0 and (tmp_path / "coco").is_dir()


def test_convert_to_crops_and_read_back(tmp_path):
    code, out, err = run("convert", "voc", "imagefolder", SHAPES, tmp_path / "crops", "--crops",
                         "--crop-padding", "0.1")
    assert code == 0, err
    code, out, _ = run("info", tmp_path / "crops")
    assert code == 0 and out.startswith("Dataset(images=35, annotations=35 (label 35)")
    code, _, err = run("convert", "voc", "coco", SHAPES, tmp_path / "c", "--crops")
    assert code == 2 and "--crops writes a folder per class" in err


# -- centre points, evaluation, csv -------------------------------------------------------------

def test_points_round_trip_and_evaluation(tmp_path):
    code, out, err = run("points", "to-points", SHAPES, tmp_path / "pts.csv", "--to", "csv")
    assert code == 0, err
    header, first = (tmp_path / "pts.csv").read_text().splitlines()[:2]
    assert header.startswith("file_name,x,y,label")
    assert first.startswith("shapes_000.jpg,128.5,65.5,square")  # box 110..147 x 47..84
    code, out, err = run("points", "to-boxes", tmp_path / "pts.csv", tmp_path / "b.json",
                         "--to", "coco", "--size", "20,10")
    assert code == 0, err
    boxes = json.loads((tmp_path / "b.json").read_text())["annotations"]
    assert boxes[0]["bbox"] == [118.5, 60.5, 20, 10]
    code, out, _ = run("evaluate", "points", SHAPES, tmp_path / "pts.csv", "--json",
                       tmp_path / "m.json")
    assert code == 0 and "precision 1.000  recall 1.000  F1 1.000  (TP 35, FP 0, FN 0)" in out
    assert json.loads((tmp_path / "m.json").read_text())["tp"] == 35
    code, _, err = run("points", "to-boxes", tmp_path / "pts.csv", tmp_path / "x.json",
                       "--to", "coco", "--size", "big")
    assert code == 2 and "--size must be numbers" in err


def test_csv_target_is_one_file_and_json_target_only_for_coco(tmp_path):
    code, _, err = run("convert", "voc", "csv", SHAPES, tmp_path / "boxes.csv")
    assert code == 0, err
    assert (tmp_path / "boxes.csv").read_text().startswith("filename,width,height,class,xmin")
    code, _, err = run("convert", "voc", "yolo", SHAPES, tmp_path / "y.json")
    assert code == 2 and "a .json target is one file, which yolo is not" in err


def test_detection_to_multilabel_csv(tmp_path):
    code, _, err = run("convert", "voc", "csv", SHAPES, tmp_path / "labels.csv",
                       "--csv-layout", "multilabel")
    assert code == 0, err
    rows = dict(line.split(",")[:2] for line in
                (tmp_path / "labels.csv").read_text().splitlines()[1:])
    # shapes_000 holds a square, a triangle and two circles: three classes, once each
    assert sorted(rows["shapes_000.jpg"].split("|")) == ["circle", "square", "triangle"]
    assert rows["shapes_005.jpg"] == ""  # the image with no objects keeps its row
    import annokit

    labels = annokit.read(tmp_path / "labels.csv")
    assert set(labels.annotations["kind"]) == {"label"} and len(labels) == 12


def test_the_command_exits_with_its_code_after_atexit_and_whole_output():
    """The entry point leaves through os._exit (Arrow's thread pool can abort in the C++
    teardown): atexit handlers still run, piped output still arrives, the code is kept."""
    import subprocess
    import sys

    script = ("import atexit, sys; from annokit import cli; "
              "atexit.register(lambda: print('atexit ran')); "
              "sys.argv = ['annokit', *sys.argv[1:]]; cli.run()")
    ok = subprocess.run([sys.executable, "-c", script, "info", str(FIXTURES / "coco" / "basic")],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "images=3" in ok.stdout and ok.stdout.rstrip().endswith("atexit ran")
    bad = subprocess.run([sys.executable, "-c", script, "info", "no-such-dataset"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("annokit: error:")
    assert "atexit ran" in bad.stdout
