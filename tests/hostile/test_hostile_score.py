"""The scorer under attack (issue 13.3, 13.5, 13.6, 13.8): bounded memory, bad weights,
bad predictions, foreign scores files and special files are each one line and exit 2, or
a skipped record with its reason; nothing is left behind. Each through the real command.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import annokit
from big_score import _coco, far_box, huge_image, tiny_boxes
from harness import annokit as run
from harness import changed_outside, one_line_error, snapshot, temporaries

MEMORY_LIMIT = 3 << 30  # address space: the libraries reserve ~1 GB of it untouched
PEAK_MB = 2048          # the target: peak resident memory under 2 GB


def scored_under_limit(data: Path) -> tuple[int, float, str]:
    """Run ``annokit score`` on ``data`` under MEMORY_LIMIT; (exit code, peak MB, stderr)."""
    code = ("import resource, subprocess, sys; lim = int(sys.argv[1]); p = subprocess.run("
            "sys.argv[2:], capture_output=True, text=True, preexec_fn=lambda: "
            "resource.setrlimit(resource.RLIMIT_AS, (lim, lim))); r = resource.getrusage("
            "resource.RUSAGE_CHILDREN); print(r.ru_maxrss / 1024); print(p.returncode); "
            "sys.stderr.write(p.stderr)")
    done = subprocess.run([sys.executable, "-c", code, str(MEMORY_LIMIT), sys.executable, "-m",
                           "annokit", "score", str(data), "--top", "0", "-q"],
                          capture_output=True, text=True, timeout=900)
    peak, rc = done.stdout.split()[:2]
    return int(rc), float(peak), done.stderr


@pytest.mark.parametrize("make", [far_box, huge_image, lambda root: tiny_boxes(root, 3000)],
                         ids=["box-to-x-50000", "image-9000px", "3000-1px-boxes"])
def test_score_memory_is_bounded(make, tmp_path):
    code, peak, err = scored_under_limit(make(tmp_path / "data"))
    assert code == 0, err
    assert "skipped" not in err, err  # every image was scored, none given up for memory
    assert peak < PEAK_MB, peak


@pytest.mark.slow
def test_score_memory_10000_tiny_boxes(tmp_path):
    code, peak, err = scored_under_limit(tiny_boxes(tmp_path / "data", 10_000))
    assert code == 0, err
    assert peak < PEAK_MB, peak


# -- small datasets the cases run on --------------------------------------------------------

def boxes_dataset(root: Path) -> Path:
    """Six 96x64 images, two boxes each, two classes: a COCO ``data.json`` beside them."""
    images = [(f"im{i}.png", 96, 64) for i in range(6)]
    boxes = [(i, b) for i in range(6) for b in ([8, 8, 30, 24], [50, 20, 36, 36])]
    return _coco(root, images, boxes)


def classes_dataset(root: Path) -> Path:
    """An image folder: two classes of four 32x32 images."""
    rng = np.random.default_rng(0)
    for c in "ab":
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(4):
            Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)) \
                .save(root / c / f"{i}.png")
    return root


def refused(root: Path, *args, names: str | None = None, says: str | None = None,
            outputs: tuple[str, ...] = ()) -> str:
    """Run annokit in ``root``: exit 2, one line (naming ``names``, saying ``says``),
    nothing changed and nothing left behind. Returns the line."""
    before = snapshot(root)
    code, out, err = run(*args, cwd=root)
    assert code == 2, f"exit {code}:\n{err}"
    line = one_line_error(err, names)
    if says:
        assert says in line, line
    assert changed_outside(before, snapshot(root), outputs) == []
    assert temporaries(root) == []
    return line


# -- --weights ------------------------------------------------------------------------------

def onnx_model(path: Path, kind: str) -> Path:
    """A small ONNX model that is wrong in one way (``kind``), or right ('good')."""
    onnx = pytest.importorskip("onnx", reason="building test models needs onnx "
                               "(pip install 'annokit[onnx]')")
    from onnx import TensorProto, helper

    float_in = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 224, 224])
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    axes = helper.make_tensor("axes", TensorProto.INT64, [2], [2, 3])
    inits = [axes]
    if kind == "int-input":
        inp = helper.make_tensor_value_info("x", TensorProto.INT64, ["n", 3, 224, 224])
        out = helper.make_tensor_value_info("y", TensorProto.INT64, None)
        nodes = [helper.make_node("Identity", ["x"], ["y"])]
    else:
        inp = float_in
        nodes = [helper.make_node("ReduceMean", ["x", "axes"], ["m"], keepdims=0)]
        if kind == "nan-output":
            inits.append(helper.make_tensor("nan", TensorProto.FLOAT, [], [float("nan")]))
            nodes.append(helper.make_node("Mul", ["m", "nan"], ["y"]))
        elif kind == "ignores-batch":
            inits.append(helper.make_tensor("a0", TensorProto.INT64, [1], [0]))
            nodes.append(helper.make_node("ReduceMean", ["m", "a0"], ["y"], keepdims=1))
        elif kind == "zero-wide":
            inits += [helper.make_tensor(n, TensorProto.INT64, [1], [v])
                      for n, v in (("s", 0), ("e", 0), ("ax", 1))]
            nodes.append(helper.make_node("Slice", ["m", "s", "e", "ax"], ["y"]))
        else:
            nodes.append(helper.make_node("Identity", ["m"], ["y"]))
    graph = helper.make_graph(nodes, kind, [inp], [out], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


@pytest.mark.parametrize("kind,says", [("int-input", "tensor(int64)"),
                                       ("nan-output", "NaN"),
                                       ("ignores-batch", "first axis must be the batch"),
                                       ("zero-wide", "0-wide")])
def test_bad_onnx_weights(tmp_path, kind, says):
    pytest.importorskip("onnxruntime", reason="ONNX weights need onnxruntime")
    classes_dataset(tmp_path / "cls")
    onnx_model(tmp_path / "model.onnx", kind)
    refused(tmp_path, "score", "cls", "--weights", "model.onnx", "--folds", "2",
            names="model.onnx", says=says)


def test_good_onnx_weights_score(tmp_path):
    pytest.importorskip("onnxruntime", reason="ONNX weights need onnxruntime")
    classes_dataset(tmp_path / "cls")
    onnx_model(tmp_path / "model.onnx", "good")
    code, out, err = run("score", "cls", "--weights", "model.onnx", "--folds", "2", "-q",
                         cwd=tmp_path)
    assert code == 0, err
    assert "classification: 8 annotations scored" in out
    assert "judged by embeddings (model.onnx)" in out  # what judged, said truly


def test_weights_and_backbone_together_are_refused(tmp_path):
    classes_dataset(tmp_path / "cls")
    onnx_model(tmp_path / "model.onnx", "good")
    refused(tmp_path, "score", "cls", "--weights", "model.onnx", "--backbone", "lite0",
            names="--weights", says="give one")


@pytest.mark.parametrize("kind,says", [("wrong-shape", "conv1.weight has shape"),
                                       ("int", "torch.int64"), ("sparse", "sparse")])
def test_bad_state_dicts(tmp_path, kind, says):
    torch = pytest.importorskip("torch", reason="state dicts need torch")
    classes_dataset(tmp_path / "cls")
    state = {"conv1.weight": torch.zeros(64, 3, 7, 7), "bn1.weight": torch.ones(64),
             "layer1.0.conv1.weight": torch.zeros(64, 64, 3, 3)}
    if kind == "wrong-shape":
        state["conv1.weight"] = torch.zeros(64, 5)
    elif kind == "int":
        state["bn1.weight"] = torch.ones(64, dtype=torch.int64)
    else:
        state["bn1.weight"] = torch.ones(64).to_sparse()
    torch.save(state, tmp_path / "model.pt")
    refused(tmp_path, "score", "cls", "--weights", "model.pt", "--folds", "2",
            names="model.pt", says=says)


@pytest.mark.parametrize("kind", ["fifo", "folder", "device", "loop"])
@pytest.mark.parametrize("option", ["--weights", "--predictions"])
def test_special_files_as_inputs_say_what_they_are(tmp_path, kind, option):
    case = tmp_path / "case"  # the snapshot's root; the special file lies beside it
    classes_dataset(case / "cls") if option == "--weights" else boxes_dataset(case / "det")
    (tmp_path / "special").mkdir()
    target = Path("/dev/zero") if kind == "device" else tmp_path / "special" / "thing.onnx"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "folder":
        target.mkdir()
    elif kind == "loop":
        target.symlink_to(target)
    dataset = "cls" if option == "--weights" else "det/data.json"
    says = {"fifo": "a FIFO", "folder": "a folder", "device": "a character device",
            "loop": "a link loop"}[kind]
    if option == "--predictions" and kind == "folder":
        says = "cannot tell the dataset format"  # a folder is a dataset: an empty one here
    refused(case, "score", dataset, option, str(target), names=str(target), says=says)


# -- boxes and predictions ------------------------------------------------------------------

def test_all_zero_boxes_are_one_line(tmp_path):
    data = boxes_dataset(tmp_path / "det")
    doc = json.loads(data.read_text())
    for a in doc["annotations"]:
        a["bbox"], a["area"] = [0, 0, 0, 0], 0
    data.write_text(json.dumps(doc))
    refused(tmp_path, "score", "det/data.json", says="nothing to score")


def _results(tmp_path: Path, records: list[dict]) -> Path:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(records))  # Python's json writes NaN and Infinity
    return path


BAD_PREDICTIONS = [
    {"image_id": 1, "category_id": 1, "bbox": [float("nan"), 8, 30, 24], "score": 0.9},
    {"image_id": 1, "category_id": 1, "bbox": [8, 8, float("inf"), 24], "score": 0.9},
    {"image_id": 2, "category_id": 1, "bbox": [8, 8, -30, 24], "score": 0.9},
    {"image_id": 2, "category_id": 2, "bbox": [50, 20, 36, 36], "score": -0.5},
    {"image_id": 3, "category_id": 2, "bbox": [50, 20, 36, 36], "score": float("nan")},
]


def test_predictions_that_are_all_bad_say_why(tmp_path):
    boxes_dataset(tmp_path / "det")
    _results(tmp_path, BAD_PREDICTIONS)
    line = refused(tmp_path, "score", "det/data.json", "--predictions", "results.json",
                   names="results.json", says="no usable prediction")
    assert "NaN or infinite coordinate" in line or "skipped" in line


def test_bad_predictions_are_skipped_with_reasons(tmp_path):
    boxes_dataset(tmp_path / "det")
    good = [{"image_id": i, "category_id": 1, "bbox": [8, 8, 30, 24], "score": 0.9}
            for i in range(1, 7)]
    good.append({"image_id": 4, "category_id": 2, "bbox": [70, 2, 20, 20], "score": 0.8})
    _results(tmp_path, BAD_PREDICTIONS + good)
    code, out, err = run("score", "det/data.json", "--predictions", "results.json",
                         "--out", "scores.json", cwd=tmp_path)
    assert code == 0, err
    text = "\n".join(line for line in err.splitlines() if "skipped: predictions" in line)
    # the results reader refuses non-finite boxes itself; the scorer skips the rest
    assert "results[0]" in text and "results[1]" in text, text
    assert "results[2]" in text or "1 with a zero or negative width or height" in text, text
    assert "2 with no score, or a NaN, infinite or negative one" in text or \
        ("results[3]" in text and "results[4]" in text), text
    doc = json.loads((tmp_path / "scores.json").read_text())
    every = doc["annotations"] + doc["overlooked"]
    assert doc["overlooked"], "the free prediction is a candidate"
    for a in every:
        assert 0 <= a["quality"] <= 1 if a["quality"] is not None else True
        for key in ("bbox", "suggested_bbox"):
            box = a.get(key)
            if box is not None:
                assert all(v is not None for v in box) and min(box) >= 0, a


def test_prediction_text_linked_outside_is_never_quoted(tmp_path):
    boxes_dataset(tmp_path / "det")
    (tmp_path / "labels").mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:secret-content:/root:/bin/bash\n")
    (tmp_path / "labels" / "im0.txt").symlink_to(secret)
    line = refused(tmp_path, "score", "det/data.json", "--predictions", "labels",
                   names="im0.txt", says="not YOLO label lines")
    assert "secret" not in line and "root:x" not in line


# -- scores files ---------------------------------------------------------------------------

@pytest.mark.parametrize("suffix,content", [
    (".parquet", b"PAR1 this is not parquet at all PAR1"),
    (".csv", b"\x00\x01\x02garbage,\"unclosed\n"),
    (".csv", b"name,age\nann,3\n"),  # a foreign table
    (".json", b"{\"images\": [], \"annotations\": [{\"id\": 1}], \"categories\": []}"),
    (".json", b"[1, 2, 3]"),
    (".json", b"{not json"),
])
def test_corrupt_or_foreign_scores_file_is_one_line(tmp_path, suffix, content):
    from annokit.score import read_scores

    path = tmp_path / f"scores{suffix}"
    path.write_bytes(content)
    with pytest.raises(annokit.AnnokitError) as e:
        read_scores(path)
    message = str(e.value)
    assert message.startswith(str(path)) and "\n" not in message
    assert "garbage" not in message and "ann," not in message


@pytest.mark.parametrize("kind", ["fifo", "folder", "device"])
def test_scores_special_files(tmp_path, kind):
    from annokit.score import read_scores

    path = tmp_path / "s.csv"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    else:
        path.symlink_to("/dev/zero")
    says = {"fifo": "a FIFO", "folder": "a folder", "device": "a character device"}[kind]
    with pytest.raises(annokit.AnnokitError, match=says):
        read_scores(path)


def test_scores_for_another_dataset_refused(tmp_path):
    from annokit.score import read_scores

    data = boxes_dataset(tmp_path / "det")
    ds = annokit.read(data)
    table = pd.DataFrame({"annotation_id": [1], "image_id": [1], "category_id": [1],
                          "quality": [0.5], "issue": [None], "image_quality": [0.5],
                          "file_name": ["elsewhere.png"], "category_name": ["a"]})
    table.to_csv(tmp_path / "s.csv", index=False)
    with pytest.raises(annokit.AnnokitError, match="made for another dataset"):
        read_scores(tmp_path / "s.csv", ds)
    table.assign(file_name="im0.png", quality=1.5).to_csv(tmp_path / "s.csv", index=False)
    with pytest.raises(annokit.AnnokitError, match=r"quality must be a number in \[0, 1\]"):
        read_scores(tmp_path / "s.csv")  # with ds: refused first, 11 annotations unscored


def test_score_with_no_readable_image_is_one_line(tmp_path):
    """Every image missing: nothing to score is an error (exit 2), not 'N annotations
    scored, 0 flagged' with exit 0; --out is not written."""
    data = boxes_dataset(tmp_path / "data")
    for image in (tmp_path / "data").glob("*.png"):
        image.unlink()
    code, out, err = run("score", data, "--out", tmp_path / "scores.json", "-q", cwd=tmp_path)
    assert code == 2, out + err
    one_line_error(err, "nothing could be scored")
    assert not (tmp_path / "scores.json").exists()
    assert not temporaries(tmp_path)


def test_points_score_refuses_a_bad_point_size_before_reading(tmp_path):
    data = boxes_dataset(tmp_path / "data")
    for size in ("0", "-1,2", "x", "car=1,2,3", ""):
        code, out, err = run("score", data, "--point-size", size, cwd=tmp_path)
        assert code == 2, (size, out + err)
        one_line_error(err, "--point-size")


def hostile_points(root: Path) -> Path:
    """Six 96x64 images as a points CSV: two points stacked on one spot, points on the
    border and outside the image, one with no coordinates, a class seen once."""
    boxes_dataset(root)
    rows = ["file_name,x,y,label"]
    for i in range(6):
        rows += [f"im{i}.png,20,20,a", f"im{i}.png,68,38,b"]
    rows += ["im0.png,20,20,a", "im1.png,0,0,b", "im2.png,96,64,a", "im3.png,500,-40,a",
             "im4.png,,,b", "im5.png,48,32,rare"]
    (root / "points.csv").write_text("\n".join(rows) + "\n")
    return root / "points.csv"


@pytest.mark.parametrize("size", [None, "6,6", "rare=200,200"])
def test_hostile_points_score_to_the_end(tmp_path, size):
    data = hostile_points(tmp_path / "data")
    extra = ["--point-size", size] if size else []
    code, out, err = run("score", data, "--model", "classic", "--folds", "2", "--out",
                         tmp_path / "scores.csv", *extra, cwd=tmp_path)
    assert code == 0, out + err
    assert "points judged" in err and "Traceback" not in err
    table = pd.read_csv(tmp_path / "scores.csv")
    assert table["quality"].dropna().between(0, 1).all()
    assert not temporaries(tmp_path)
