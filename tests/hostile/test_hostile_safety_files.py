"""Issue 13, file safety: special files as outputs and inputs, no hangs, signals, a
catastrophic --group-by regex, text that is not valid Unicode, link loops, and no error
message that echoes a file outside the dataset. Each through the real command."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest

from corpus import SHAPES, coco_doc, png, write
from harness import annokit, big_coco, changed_outside, one_line_error, temporaries

SIGNAL_EXIT_S = 2.0  # SIGTERM or Ctrl-C: the command is gone within this


# -- helpers ---------------------------------------------------------------------------

def snapshot(root: Path) -> dict[str, tuple]:
    """harness.snapshot, but a FIFO, socket or device is recorded by kind, never opened
    (opening a FIFO with no writer blocks)."""
    from harness import _hash

    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, root)
            if stat.S_ISLNK(st.st_mode):
                found[rel] = ("link", os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                found[rel] = ("dir",)
            elif stat.S_ISREG(st.st_mode):
                found[rel] = ("file", st.st_size, st.st_mtime_ns, _hash(path))
            else:
                found[rel] = ("special", stat.S_IFMT(st.st_mode), st.st_ino)
    return found


def refused(folder: Path, *args, names: str | None = None, says: str | None = None,
            code: int = 2) -> str:
    """Run ``annokit ARGS`` in ``folder``: exit ``code``, one error line, nothing changed."""
    before = snapshot(folder)
    got, out, err = annokit(*args, cwd=folder)
    assert got == code, (got, out, err)
    line = one_line_error(err, names)
    if says is not None:
        assert says in line, line
    assert changed_outside(before, snapshot(folder)) == []
    assert temporaries(folder) == []
    return line


def shapes(root: Path, name: str = "v") -> Path:
    shutil.copytree(SHAPES, root / name)
    return root / name


def scored_predictions(root: Path) -> Path:
    """pred.json: the shapes boxes as COCO results with scores (a perfect detector)."""
    import annokit

    pred = annokit.read(SHAPES)
    pred.annotations["score"] = 0.9
    annokit.write(pred, root / "pred.json", "coco")
    return root / "pred.json"


def socket_file(path: Path) -> Path:
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))  # the socket file stays after close
    return path


def special(root: Path, kind: str) -> Path:
    """An output path that is not a regular file: what must never be replaced."""
    if kind == "fifo":
        os.mkfifo(root / "x.json")
        return root / "x.json"
    if kind == "socket":
        return socket_file(root / "x.json")
    if kind == "link-to-devnull":
        os.symlink("/dev/null", root / "x.json")
        return root / "x.json"
    return Path(kind)  # /dev/null, /dev/stdout, /dev/full


# -- item 1: outputs that are not regular files ------------------------------------------

OUTPUT_COMMANDS = {  # (case folder, output path) -> the command line
    "eval --json": lambda r, o: ["eval", "v", scored_predictions(r), "--json", o],
    "evaluate points --json": lambda r, o: ["evaluate", "points", scored_predictions(r), "v",
                                            "--json", o],
    "check --json": lambda r, o: ["check", "v", "--no-images", "--json", o],
    "check --html": lambda r, o: ["check", "v", "--no-images", "--html", o],
    "score --out": lambda r, o: ["score", "v", "--predictions", scored_predictions(r),
                                 "--out", o],
    "rebalance list": lambda r, o: ["rebalance", "v", o],
    "convert": lambda r, o: ["convert", "voc", "coco", "v", o],
    "split": lambda r, o: ["split", "v", o, "--to", "coco"],
    "diff --json": lambda r, o: ["diff", "v", "v", "--json", o],
}
SPECIALS = ["/dev/null", "/dev/stdout", "fifo", "socket", "link-to-devnull"]


@pytest.mark.parametrize("kind", SPECIALS)
@pytest.mark.parametrize("command", list(OUTPUT_COMMANDS))
def test_output_that_is_not_a_regular_file_is_refused(tmp_path, command, kind):
    shapes(tmp_path)
    target = special(tmp_path, kind)
    if command == "rebalance list":  # a list is written only to a path ending in .txt
        if kind.startswith("/dev/"):
            target = Path(tmp_path / "dev-link.txt")
            os.symlink(kind, target)
        else:
            target = target.rename(target.with_suffix(".txt"))
    before = os.lstat(target) if kind != "/dev/stdout" else None
    line = refused(tmp_path, *OUTPUT_COMMANDS[command](tmp_path, target),
                   names=target.name)
    assert "not a regular file" in line or "device or kernel file" in line, line
    if before is not None:  # the special file is the same node, untouched
        after = os.lstat(target)
        assert (after.st_ino, stat.S_IFMT(after.st_mode)) == \
            (before.st_ino, stat.S_IFMT(before.st_mode))
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_output_check_happens_before_the_work(tmp_path):
    """check --json on a FIFO is refused at once (nothing read), so a FIFO image set would
    not even be opened."""
    shapes(tmp_path)
    os.mkfifo(tmp_path / "q.json")
    start = time.monotonic()
    refused(tmp_path, "check", "v", "--json", "q.json", names="q.json",
            says="a FIFO (named pipe), not a regular file")
    assert time.monotonic() - start < 30


def test_dash_writes_json_to_stdout(tmp_path):
    shapes(tmp_path)
    pred = scored_predictions(tmp_path)
    code, out, err = annokit("eval", "v", pred, "--json", "-", cwd=tmp_path)
    assert code == 0, err
    metrics = json.loads(out)  # stdout is the JSON alone; the table went to stderr
    assert metrics["AP50"] == pytest.approx(1.0)
    assert "AP50" in err and not (tmp_path / "-").exists()
    code, out, err = annokit("check", "v", "--no-images", "--json", "-", "--fail-on", "never",
                             cwd=tmp_path)
    assert code == 0, err
    report = json.loads(out)
    assert report["dataset"]["images"] == 12 and "findings" in report
    assert "severity" in err and not (tmp_path / "-").exists()
    refused(tmp_path, "check", "v", "--html", "-", says="--html -")


# -- item 4: special files as inputs never hang ------------------------------------------

def poisoned_voc(root: Path) -> Path:
    """The shapes VOC set with one image a FIFO and another a link to /dev/zero."""
    v = shapes(root)
    (v / "JPEGImages" / "shapes_000.jpg").unlink()
    os.mkfifo(v / "JPEGImages" / "shapes_000.jpg")
    (v / "JPEGImages" / "shapes_001.jpg").unlink()
    os.symlink("/dev/zero", v / "JPEGImages" / "shapes_001.jpg")
    return v


def test_check_with_fifo_and_dev_zero_images_finishes(tmp_path):
    poisoned_voc(tmp_path)
    before = snapshot(tmp_path)
    code, out, err = annokit("check", "v", "--json", "r.json", "--html", "r.html",
                             cwd=tmp_path, timeout=120)
    assert code == 1, err  # the two images are errors (unreadable), never a hang
    found = json.loads((tmp_path / "r.json").read_text())["findings"]
    messages = {f["file_name"]: f["message"] for f in found
                if f["check"] == "images.unreadable"}
    assert "a FIFO (named pipe), not a regular file" in messages["shapes_000.jpg"]
    assert "a character device, not a regular file" in messages["shapes_001.jpg"]
    assert changed_outside(before, snapshot(tmp_path), ("r.json", "r.html")) == []


@pytest.mark.parametrize("target", ["coco", "imagefolder"])
def test_convert_copying_or_cropping_special_images_skips_them(tmp_path, target):
    poisoned_voc(tmp_path)
    extra = ["--images", "copy"] if target == "coco" else ["--crops"]
    code, out, err = annokit("convert", "voc", target, "v", "out", *extra, cwd=tmp_path,
                             timeout=120)
    assert code == 0, err
    assert "shapes_000.jpg" in err and "shapes_001.jpg" in err  # named, with why
    assert "FIFO" in err and "character device" in err
    if target == "coco":
        copied = sorted(p.name for p in (tmp_path / "out").rglob("*.jpg"))
        assert "shapes_000.jpg" not in copied and "shapes_001.jpg" not in copied
        assert len(copied) == 10
        assert all(p.is_file() for p in (tmp_path / "out").rglob("*.jpg"))


def test_score_with_fifo_and_dev_zero_images_skips_them(tmp_path):
    poisoned_voc(tmp_path)
    code, out, err = annokit("score", "v", "--folds", "2", cwd=tmp_path, timeout=600)
    assert code == 0, err
    assert "shapes_000.jpg" in err and "FIFO" in err
    assert "shapes_001.jpg" in err and "character device" in err


def test_yolo_image_that_is_a_fifo_is_skipped_not_waited_for(tmp_path):
    y = tmp_path / "y"
    write(y, {"data.yaml": "path: .\ntrain: images\nval: images\nnames: [cat]\n",
              "images/a.png": png(), "labels/a.txt": "0 0.5 0.5 0.2 0.2\n",
              "labels/b.txt": "0 0.5 0.5 0.2 0.2\n"})
    os.mkfifo(y / "images" / "b.png")
    code, out, err = annokit("convert", "yolo", "coco", "y", "out.json", cwd=tmp_path)
    assert code == 0, err
    assert "b.png" in err and "FIFO" in err
    doc = json.loads((tmp_path / "out.json").read_text())
    assert [im["file_name"] for im in doc["images"]] == ["a.png"]


@pytest.mark.parametrize("config", ["fifo", "/dev/zero", "link-to-zero", "loop", "folder"])
def test_check_config_that_is_not_a_regular_file(tmp_path, config):
    shapes(tmp_path)
    path = tmp_path / "qc.yaml"
    if config == "fifo":
        os.mkfifo(path)
    elif config == "link-to-zero":
        os.symlink("/dev/zero", path)
    elif config == "loop":
        os.symlink("qc.yaml", path)
    elif config == "folder":
        path.mkdir()
    else:
        path = Path(config)
    words = {"fifo": "FIFO", "/dev/zero": "character device", "link-to-zero":
             "character device", "loop": "link loop",
             "folder": "is a directory"}[config]  # the last in click's words
    refused(tmp_path, "check", "v", "--no-images", "--config", path, names=path.name,
            says=words)


# -- item 4: SIGTERM and Ctrl-C end every command at once --------------------------------

def busy_images(root: Path, n: int) -> Path:
    """d/ann.json over ``n`` distinct noise PNGs (real decoding work), plus a FIFO image."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    (root / "d").mkdir()
    os.mkfifo(root / "d" / "fifo.png")  # first: a worker would be stuck on it from the start
    images = [{"id": n + 1, "file_name": "fifo.png", "width": 64, "height": 48}]
    anns = []
    for i in range(1, n + 1):
        Image.fromarray((rng.random((48, 64, 3)) * 255).astype(np.uint8)).save(
            root / "d" / f"im{i}.png", compress_level=1)
        images.append({"id": i, "file_name": f"im{i}.png", "width": 64, "height": 48})
        anns += [{"id": 2 * i + k, "image_id": i, "category_id": 1 + (i + k) % 3,
                  "bbox": [5 + 20 * k, 5, 20, 20], "area": 400, "iscrowd": 0}
                 for k in range(2)]
    cats = [{"id": c, "name": f"c{c}"} for c in (1, 2, 3)]
    write(root, {"d/ann.json": coco_doc(images, anns, cats)})
    return root / "d" / "ann.json"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reading_pngs(pid: int) -> bool:
    """True while the process holds a .png open (its image workers are reading)."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").endswith(".png"):
                return True
        except OSError:
            continue
    return False


def writing_any(folder: Path):
    return lambda: any(".annokit-" in n for n in os.listdir(folder))


def wait_for(condition, proc: subprocess.Popen, limit: float = 300) -> None:
    end = time.monotonic() + limit
    while not condition():
        assert proc.poll() is None, f"finished before the signal: {proc.communicate()}"
        assert time.monotonic() < end, "the command never got busy"
        time.sleep(0.01)


JOBS = {  # command, how to build its input, when it is busy
    "check": (lambda r: ["check", busy_images(r, 1500), "--json", "r.json", "-q"],
              lambda proc, r: reading_pngs(proc.pid)),  # the image threads are reading
    "split": (lambda r: ["split", big_coco(r / "big.json"), "out", "--to", "voc", "-q"],
              lambda proc, r: writing_any(r)()),
    "convert": (lambda r: ["convert", "coco", "voc", big_coco(r / "big.json"), "out", "-q"],
                lambda proc, r: writing_any(r)()),
    "score": (lambda r: ["score", busy_images(r, 600), "--out", "s.json", "-q"],
              lambda proc, r: cpu_seconds(proc.pid) > 6),  # past imports, into features (600
              # images: a quiet machine scored 150 within 6 CPU s, before any signal)
}


@pytest.mark.slow
@pytest.mark.parametrize("sig, code, says", [(signal.SIGTERM, 143, "terminated"),
                                             (signal.SIGINT, 130, "interrupted")])
@pytest.mark.parametrize("job", list(JOBS))
def test_signal_ends_a_busy_command_at_once(tmp_path, job, sig, code, says):
    make_args, busy = JOBS[job]
    args = make_args(tmp_path)
    before = snapshot(tmp_path)
    proc = annokit(*args, cwd=tmp_path, start=True)
    wait_for(lambda: busy(proc, tmp_path), proc)
    sent = time.monotonic()
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    took = time.monotonic() - sent
    print(f"{job}: exit {proc.returncode} {took:.2f} s after signal {int(sig)}")  # -s shows it
    assert proc.returncode == code, err
    assert err == f"annokit: {says}; nothing was written\n"
    assert took < SIGNAL_EXIT_S, f"{job} took {took:.2f} s to end after the signal"
    assert snapshot(tmp_path) == before and temporaries(tmp_path) == []


# -- item 5: a catastrophic --group-by regex, and text that is not valid Unicode ------------

def test_catastrophic_group_by_regex_is_bounded(tmp_path):
    names = ["a" * 40 + "!.png", "a" * 35 + "!.png"]  # '^(a+)+$' backtracks 2^40 with re
    images = [{"id": i, "file_name": n, "width": 8, "height": 6}
              for i, n in enumerate(names, 1)]
    write(tmp_path, {"c.json": coco_doc(images, []), **{n: png() for n in names}})
    start = time.monotonic()
    refused(tmp_path, "split", "c.json", "out", "--group-by", "^(a+)+$",
            says="'^(a+)+$' matches no file name")
    assert time.monotonic() - start < 30  # Python's re: minutes


def test_group_by_with_a_backreference_is_one_line(tmp_path):
    write(tmp_path, {"c.json": coco_doc(), "a.png": png()})
    line = refused(tmp_path, "split", "c.json", "out", "--group-by", r"(a)\1")
    assert "RE2 syntax" in line and "no backreferences" in line


def test_group_by_regex_still_groups(tmp_path):
    names = [f"video{v}_{k}.png" for v in range(6) for k in range(4)]
    images = [{"id": i, "file_name": n, "width": 8, "height": 6}
              for i, n in enumerate(names, 1)]
    anns = [{"id": i, "image_id": i, "category_id": 1, "bbox": [1, 1, 4, 3], "area": 12,
             "iscrowd": 0} for i in range(1, len(names) + 1)]
    write(tmp_path, {"c.json": coco_doc(images, anns)})
    code, out, err = annokit("split", "c.json", "out", "--group-by", r"^(video\d+)_",
                             "--to", "coco", "--no-near-duplicates", cwd=tmp_path)
    assert code == 0, err
    where = {}
    for part in (tmp_path / "out" / "annotations").glob("*.json"):
        for im in json.loads(part.read_text())["images"]:
            where.setdefault(im["file_name"].split("_")[0], set()).add(part.stem)
    assert len(where) == 6 and all(len(s) == 1 for s in where.values())


WRITERS = ["coco", "voc", "yolo", "csv", "imagefolder"]


def surrogate_inputs(root: Path, source: str) -> tuple[str, str]:
    """An input whose class name holds a lone surrogate; (format, path)."""
    if source == "coco":  # JSON text "\udc80": a valid escape, an invalid character
        doc = json.dumps(coco_doc(categories=[{"id": 1, "name": "CAT"}]))
        write(root, {"c.json": doc.replace('"CAT"', '"\\udc80cat"'), "a.png": png()})
        return "coco", "c.json"
    if source == "yolo":
        write(root, {"y/data.yaml": 'path: .\ntrain: images\nval: images\n'
                                    'names: ["cat\\udc80"]\n',
                     "y/images/a.png": png(), "y/labels/a.txt": "0 0.5 0.5 0.2 0.2\n"})
        return "yolo", "y"
    folder = os.path.join(os.fsencode(root), b"f", b"caf\xe9")  # not UTF-8
    os.makedirs(folder)
    with open(os.path.join(folder, b"a.png"), "wb") as f:
        f.write(png())
    return "imagefolder", "f"


@pytest.mark.parametrize("target", WRITERS)
@pytest.mark.parametrize("source", ["coco", "yolo", "imagefolder"])
def test_lone_surrogate_in_a_class_name_is_one_line_for_every_writer(tmp_path, source,
                                                                     target):
    fmt, path = surrogate_inputs(tmp_path, source)
    line = refused(tmp_path, "convert", fmt, target, path, "out", names=path,
                   says="holds an unpaired surrogate")
    assert "\\udc" in line  # shown escaped, never as a broken character


def test_lone_surrogate_in_the_model_is_refused_in_python():
    import pandas as pd

    import annokit
    from annokit.errors import AnnokitError

    names = pd.Series(["cat" + chr(0xDC80)], dtype=object)
    with pytest.raises(AnnokitError, match=r"category id 1: name: the name 'cat\\udc80'"):
        annokit.Dataset(categories=pd.DataFrame({"id": [1], "name": names}))


# -- item 8: link loops as any input, and no echo of files outside the dataset ---------------

LOOP_ARGS = {
    "info": ["info", "loop"],
    "check": ["check", "loop"],
    "check --config": ["check", "v", "--config", "loop"],
    "check --image-root": ["check", "v", "--image-root", "loop"],
    "split": ["split", "loop", "o"],
    "rebalance": ["rebalance", "loop", "o"],
    "convert": ["convert", "auto", "coco", "loop", "o"],
    "score": ["score", "loop"],
    "score --predictions": ["score", "v", "--predictions", "loop"],
    "score --weights": ["score", "v", "--model", "cnn", "--weights", "loop"],
    "eval ground truth": ["eval", "loop", "v"],
    "eval predictions": ["eval", "v", "loop"],
    "evaluate points": ["evaluate", "points", "loop", "v"],
    "points to-boxes --reference": ["points", "to-boxes", "v", "o", "--reference", "loop"],
    "points to-points": ["points", "to-points", "loop", "o"],
}


@pytest.mark.parametrize("command", list(LOOP_ARGS))
def test_link_loop_as_any_input_is_one_line(tmp_path, command):
    shapes(tmp_path)
    os.symlink("loop", tmp_path / "loop")
    refused(tmp_path, *LOOP_ARGS[command], names="loop")


SECRET = "s3cr3t-LINE-0123"


def secret_links(root: Path) -> dict[str, list]:
    """Inputs linked to a file outside the dataset that holds SECRET; the commands."""
    write(root, {"outside/secret.txt": f"{SECRET} 1 2 3\n{SECRET}: x\n<{SECRET}>\n"})
    secret = str(root / "outside" / "secret.txt")
    v = shapes(root)
    os.symlink(secret, v / "Annotations" / "shapes_000.xml.tmp")
    (v / "Annotations" / "shapes_000.xml").unlink()
    os.rename(v / "Annotations" / "shapes_000.xml.tmp", v / "Annotations" / "shapes_000.xml")
    y = root / "y"
    write(y, {"data.yaml": "path: .\ntrain: images\nval: images\nnames: [cat]\n",
              "images/a.png": png(), "images/b.png": png()})
    (y / "labels").mkdir()
    os.symlink(secret, y / "labels" / "a.txt")
    os.symlink(secret, root / "c.json")
    os.symlink(secret, root / "p.csv")
    os.symlink(secret, root / "qc.yaml")
    os.symlink(secret, root / "qc.toml")
    ydata = root / "y2"
    write(ydata, {"images/a.png": png(), "labels/a.txt": "0 0.5 0.5 0.2 0.2\n"})
    os.symlink(secret, ydata / "data.yaml")
    return {
        "voc annotation": ["info", "v"],
        "yolo label": ["info", "y"],
        "yolo data.yaml": ["info", "y2"],
        "coco json": ["info", "c.json", "--format", "coco"],
        "csv": ["info", "p.csv", "--format", "csv"],
        "check --config yaml": ["check", "shapes", "--config", "qc.yaml"],
        "check --config toml": ["check", "shapes", "--config", "qc.toml"],
        "eval yolo predictions": ["eval", "y", "y", "--pred-format", "yolo"],
        "eval coco predictions": ["eval", "shapes", "c.json"],
    }


@pytest.mark.parametrize("case", ["voc annotation", "yolo label", "yolo data.yaml",
                                  "coco json", "csv", "check --config yaml",
                                  "check --config toml", "eval yolo predictions",
                                  "eval coco predictions"])
def test_no_message_echoes_a_file_outside_the_dataset(tmp_path, case):
    cases = secret_links(tmp_path)
    shutil.copytree(SHAPES, tmp_path / "shapes")
    code, out, err = annokit(*cases[case], cwd=tmp_path)
    assert code in (0, 1, 2), err
    assert "Traceback" not in err and "internal error" not in err, err
    assert SECRET not in out and SECRET not in err, (out, err)


def test_score_predictions_linked_outside_are_not_echoed(tmp_path):
    """score --predictions reads YOLO .txt itself (annokit/score, the score-seam branch)."""
    shapes(tmp_path)
    write(tmp_path, {"outside/secret.txt": f"{SECRET} 1 2 3\n"})
    (tmp_path / "pred").mkdir()
    os.symlink(tmp_path / "outside" / "secret.txt", tmp_path / "pred" / "shapes_000.txt")
    code, out, err = annokit("score", "v", "--predictions", "pred", cwd=tmp_path)
    assert code in (0, 2) and SECRET not in out and SECRET not in err, err


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_score_predictions_special_file_is_one_line(tmp_path, kind):
    """score --predictions is opened through fileio.open_regular: one line, no hang (a
    TimeoutExpired fails the test)."""
    shapes(tmp_path)
    if kind == "fifo":
        os.mkfifo(tmp_path / "p.json")
    else:
        os.symlink("/dev/zero", tmp_path / "p.json")
    code, out, err = annokit("score", "v", "--predictions", "p.json", cwd=tmp_path, timeout=30)
    assert code == 2, err
    one_line_error(err, "p.json")
