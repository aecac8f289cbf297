"""Hostile cases for `annokit browse` and `annokit fiftyone-export` (issue 13, items 2, 4, 7,
9, 10), each through the real command in a subprocess on the test session's private FiftyOne
database (the `fo` fixture in tests/conftest.py sets it in the environment the subprocesses
inherit)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import shared_dataset
from harness import annokit, big_coco, changed_outside, one_line_error, snapshot, temporaries

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
SLOW_START = 180  # s: a subprocess starts FiftyOne and joins its MongoDB (slow on a busy box)


@pytest.fixture
def case(victim):
    """The folder holding conftest's ``victim`` (three BCCD images and their VOC files,
    copied): the commands run there and name it ``victim``."""
    return victim.parent


def _run(*args, cwd: Path):
    return annokit(*args, cwd=cwd, timeout=SLOW_START)


def test_export_never_writes_over_or_into_what_built_the_dataset(fo, case):
    """Built by browse or by the Python API: --overwrite still never touches the inputs."""
    code, out, err = _run("browse", "victim", "--no-launch", "--no-images", "--name", "cli-v",
                          cwd=case)
    assert code == 0, err
    api = ("import annokit; annokit.to_fiftyone(annokit.read('victim.json', "
           "image_root='victim/JPEGImages'), 'api-v')")
    code, out, err = _run("convert", "voc", "coco", "victim", "victim.json", cwd=case)
    assert code == 0, err
    subprocess.run([sys.executable, "-c", api], cwd=case, check=True, timeout=SLOW_START,
                   capture_output=True)
    before = snapshot(case)
    for name, target, fmt in (("cli-v", "victim/Annotations", "voc"),
                              ("cli-v", "victim", "coco"),
                              ("cli-v", "victim/JPEGImages", "yolo"),
                              ("api-v", "victim.json", "coco"),
                              ("api-v", "victim/JPEGImages/x", "coco")):
        code, out, err = _run("fiftyone-export", name, target, "--format", fmt,
                              "--overwrite", cwd=case)
        assert code == 2, (target, out, err)
        line = one_line_error(err, target.split("/")[0])
        assert "refusing to write over or into the input" in line
        assert changed_outside(before, snapshot(case)) == [] and temporaries(case) == []


def test_fifo_image_is_a_skipped_sample_not_a_hang(fo, case):
    """A FIFO image: browse leaves it out with its reason; an export of a dataset whose image
    became a FIFO afterwards leaves that sample out too. Neither hangs."""
    fifo = case / "victim" / "JPEGImages" / "BloodImage_00002.jpg"
    fifo.unlink()
    os.mkfifo(fifo)
    code, out, err = _run("browse", "victim", "--no-launch", "--no-images", "--name", "fifo-v",
                          cwd=case)
    assert code == 0, err
    assert ("skipped: BloodImage_00002.jpg: a FIFO (named pipe), not a regular image file; "
            "image left out") in err
    assert out.startswith("FiftyOne dataset 'fifo-v': 2 samples, ")

    plain = case / "plain"
    plain.mkdir()
    for k in range(2):
        shutil.copy(case / "victim" / "JPEGImages" / f"BloodImage_0000{k}.jpg", plain)
    code, out, err = _run("convert", "voc", "coco", "victim", "plain.json", cwd=case)
    assert code == 0, err
    code, out, err = _run("browse", "plain.json", "--image-root", "victim/JPEGImages",
                          "--no-launch", "--no-images", "--name", "became-fifo", cwd=case)
    assert code == 0, err
    moved = case / "victim" / "JPEGImages" / "BloodImage_00001.jpg"
    moved.unlink()
    os.mkfifo(moved)  # the image became a FIFO after the dataset was built
    code, out, err = _run("fiftyone-export", "became-fifo", "out.json", "--format", "coco",
                          cwd=case)
    assert code == 0, err
    assert "BloodImage_00001.jpg: a FIFO (named pipe), not a regular image file; sample left " \
           "out" in err
    assert [im["file_name"] for im in json.loads((case / "out.json").read_text())["images"]] \
        == ["BloodImage_00000.jpg"]


def test_scores_for_another_dataset_are_refused(fo, case):
    other = shared_dataset("labelme_examples", "examples", "bbox_detection",
                           "data_dataset_voc")
    code, out, err = _run("convert", "voc", "coco", other, "other.json", cwd=case)
    assert code == 0, err
    data = json.loads((case / "other.json").read_text())
    for ann in data["annotations"]:
        ann["quality"] = 0.5
    (case / "scores.json").write_text(json.dumps(data))
    before = snapshot(case)
    code, out, err = _run("browse", "victim", "--scores", "scores.json", "--no-launch",
                          "--no-images", "--name", "foreign", cwd=case)
    assert code == 2, err
    line = one_line_error(err, "scores.json")
    assert "these scores were made for another dataset" in line
    assert changed_outside(before, snapshot(case)) == []
    assert not fo.dataset_exists("foreign")


@pytest.mark.slow
@pytest.mark.parametrize("signame, code, word", [("SIGTERM", 143, "terminated"),
                                                  ("SIGINT", 130, "interrupted")])
def test_a_signal_while_building_leaves_no_dataset(fo, tmp_path, signame, code, word):
    """Ctrl-C or SIGTERM while the FiftyOne dataset is being built: exit 130 / 143, no
    half-built dataset under any name, and the dataset --overwrite would have replaced is
    still there, whole."""
    from annokit.integrations.fiftyone import BUILDING

    big_coco(tmp_path / "big.json")
    name = f"signalled-{word}"
    small = big_coco(tmp_path / "small.json", 5)
    done = annokit("browse", small, "--no-launch", "--no-images", "--name", name,
                   cwd=tmp_path, timeout=SLOW_START)
    assert done[0] == 0, done[2]
    proc = annokit("browse", "big.json", "--no-launch", "--no-images", "--name", name,
                   "--overwrite", cwd=tmp_path, start=True)
    try:
        deadline = time.monotonic() + SLOW_START
        mine = f"{BUILDING}{proc.pid}-"  # this run's dataset while it is built
        while not [n for n in fo.list_datasets() if n.startswith(mine)]:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the build never started"
            time.sleep(0.05)
        proc.send_signal(getattr(signal, signame))
        sent = time.monotonic()
        out, err = proc.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    assert err.splitlines()[-1] == f"annokit: {word}; nothing was written"
    assert took < 15, took  # a busy machine; the database delete is the slow part
    assert not [n for n in fo.list_datasets() if n.startswith(BUILDING)]
    assert len(fo.load_dataset(name)) == 5  # the old one, whole
    assert temporaries(tmp_path) == []
