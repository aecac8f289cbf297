"""Output is atomic, never clobbers without --overwrite, never touches the input."""
import os
import stat
import re

import pandas as pd
import pytest

from annokit.errors import AnnokitError
from annokit.fileio import atomic_output, place_images, safe_relative


def test_writes_into_place(tmp_path):
    target = tmp_path / "out" / "deep" / "ds"  # parent folders are made (globox crashes here)
    with atomic_output(target) as tmp:
        tmp.mkdir()
        (tmp / "a.txt").write_text("a")
    assert (target / "a.txt").read_text() == "a"
    assert [p.name for p in target.parent.iterdir()] == ["ds"]


def test_refuses_non_empty_target_without_overwrite(tmp_path):
    target = tmp_path / "ds"
    target.mkdir()
    (target / "keep.txt").write_text("precious")
    with pytest.raises(AnnokitError, match="exists and is not empty.*--overwrite"):
        with atomic_output(target) as tmp:
            tmp.mkdir()
    assert (target / "keep.txt").read_text() == "precious"


def test_empty_folder_target_is_fine(tmp_path):
    target = tmp_path / "ds"
    target.mkdir()
    with atomic_output(target) as tmp:
        tmp.mkdir()
        (tmp / "new.txt").write_text("n")
    assert os.listdir(target) == ["new.txt"]


def test_overwrite_replaces_whole_target(tmp_path):
    target = tmp_path / "ds"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with atomic_output(target, overwrite=True) as tmp:
        tmp.mkdir()
        (tmp / "new.txt").write_text("new")
    assert os.listdir(target) == ["new.txt"]
    assert os.listdir(tmp_path) == ["ds"]  # no temporary or old copy left behind


def test_failure_leaves_old_output_and_no_debris(tmp_path):
    target = tmp_path / "ds"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_output(target, overwrite=True) as tmp:
            tmp.mkdir()
            (tmp / "half.txt").write_text("half")
            raise RuntimeError("writer died")
    assert os.listdir(target) == ["old.txt"]
    assert os.listdir(tmp_path) == ["ds"]


def test_never_writes_over_the_input(tmp_path):
    src = tmp_path / "data" / "voc"
    src.mkdir(parents=True)
    for target in (src, tmp_path / "data", src / "converted"):
        with pytest.raises(AnnokitError, match="refusing to write over or into the input"):
            with atomic_output(target, overwrite=True, protect=(src,)):
                pass
    assert src.is_dir() and not any(src.iterdir())
    beside_a_file = tmp_path / "data" / "a.json"  # a file input: its folder is fine
    beside_a_file.write_text("{}")
    with atomic_output(tmp_path / "data" / "out", protect=(beside_a_file,)) as tmp:
        tmp.mkdir()
    assert (tmp_path / "data" / "out").is_dir()


def test_safe_relative():
    assert safe_relative("a.jpg") and safe_relative("train/sub/a.jpg")
    for bad in ("../a.jpg", "a/../../b.jpg", "/etc/passwd", "C:/x.jpg", "\\\\host\\x", ""):
        assert not safe_relative(bad), bad


def test_place_images_copy_link_and_missing(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.jpg").write_bytes(b"A")
    sources = pd.Series([str(src / "a.jpg"), str(src / "missing.jpg")])
    for mode in ("copy", "link"):
        out = tmp_path / mode
        dests = pd.Series([str(out / "sub" / "a.jpg"), str(out / "m.jpg")])
        problems = place_images(sources, dests, mode)
        assert (out / "sub" / "a.jpg").read_bytes() == b"A"
        assert problems == [f"{src / 'missing.jpg'}: image not found, not {mode}ed"]
    assert os.stat(tmp_path / "link" / "sub" / "a.jpg").st_ino == os.stat(src / "a.jpg").st_ino
    assert place_images(sources, sources, "none") == []
    with pytest.raises(AnnokitError, match="--images must be one of"):
        place_images(sources, sources, "move")


# -- the output policy: resolved paths, identity, reports, locks, stale temporaries ------

from annokit.errors import FormatError  # noqa: E402
from annokit.fileio import (check_output, confined, load_yaml,  # noqa: E402
                            write_file_atomic)


def test_policy_compares_resolved_paths_and_identity(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.json").write_text("{}")
    (tmp_path / "x").mkdir()
    os.symlink(src, tmp_path / "link")
    os.link(src / "a.json", tmp_path / "hard.json")
    for target in (tmp_path / "x" / ".." / "in", tmp_path / "link", tmp_path / "link" / "sub",
                   tmp_path):
        with pytest.raises(AnnokitError, match="refusing to write over or into the input"):
            check_output(target, (src,), overwrite=True)
    with pytest.raises(AnnokitError, match="refusing to write over or into the input"):
        check_output(tmp_path / "hard.json", (src / "a.json",), overwrite=True)
    assert check_output(tmp_path / "out", (src,)) == tmp_path / "out"


def test_policy_keeps_image_folders_and_refuses_paths_under_files(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    with pytest.raises(AnnokitError, match="refusing to replace the image folder"):
        check_output(tmp_path, keep=(images,), overwrite=True)
    assert check_output(images / "out", keep=(images,))  # inside it is fine
    (tmp_path / "f.json").write_text("{}")
    with pytest.raises(AnnokitError, match="is a file, not a folder"):
        check_output(tmp_path / "f.json" / "r.json", report=True, overwrite=True)
    with pytest.raises(AnnokitError, match="longer than 255 bytes"):
        check_output(tmp_path / ("x" * 300))


def test_reports_are_replaced_but_never_a_folder_or_an_input(tmp_path):
    report = tmp_path / "r.json"
    write_file_atomic(report, "{}")
    write_file_atomic(report, b"[1]")
    assert report.read_text() == "[1]"
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(AnnokitError, match="is a folder"):
        write_file_atomic(tmp_path / "dir.json", "{}")
    with pytest.raises(AnnokitError, match="refusing to write over or into the input"):
        write_file_atomic(report, "{}", protect=(tmp_path / "." / "r.json",))
    with pytest.raises(AnnokitError, match="exists"):
        write_file_atomic(report, "{}", overwrite=False)
    assert report.read_text() == "[1]" and sorted(os.listdir(tmp_path)) == ["dir.json", "r.json"]


def test_a_second_writer_fails_while_the_first_holds_the_lock(tmp_path):
    target = tmp_path / "out"
    with atomic_output(target) as tmp:
        tmp.mkdir()
        with pytest.raises(AnnokitError, match=r"another annokit run \(pid \d+\) is writing it"):
            with atomic_output(target):
                pass
    assert target.is_dir() and sorted(os.listdir(tmp_path)) == ["out"]


def test_a_target_that_appears_meanwhile_is_left_alone(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(AnnokitError, match="appeared while this run was writing it"):
        with atomic_output(target) as tmp:
            tmp.write_text("mine")
            target.write_text("theirs")  # another program, not annokit
    assert target.read_text() == "theirs" and sorted(os.listdir(tmp_path)) == ["out.json"]


def test_stale_temporaries_of_dead_pids_go_live_ones_stay(tmp_path):
    import subprocess

    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f".out.annokit-{dead.pid}-0123abcd.tmp"
    (stale / "x").mkdir(parents=True)
    live = tmp_path / f".out.annokit-{os.getpid()}-0123abcd.tmp"
    live.mkdir()
    with atomic_output(tmp_path / "out") as tmp:
        tmp.mkdir()
    assert sorted(os.listdir(tmp_path)) == [live.name, "out"]


def test_failed_run_removes_the_parent_folders_it_made(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_output(tmp_path / "a" / "b" / "out") as tmp:
            tmp.mkdir()
            raise RuntimeError("writer died")
    assert os.listdir(tmp_path) == []


def test_confined_never_builds_a_path_outside_the_root():
    assert confined("/data/img", "a/b.jpg") == "/data/img/a/b.jpg"
    for bad in ("../x.jpg", "/etc/passwd", "a/../../x", "a\x00.jpg", None, 3):
        assert confined("/data/img", bad) is None
    assert confined(None, "a.jpg") is None


def test_load_yaml_refuses_aliases_tags_and_deep_nesting():
    assert load_yaml("names: [a, b]\nx: &anchor 1\n", "d.yaml") == {"names": ["a", "b"], "x": 1}
    for text, why in (("a: &x [1]\nb: *x\n", "aliases"), ("a: !!python/name:os.system x", "tag"),
                      ("[" * 100 + "]" * 100, "nested deeper")):
        with pytest.raises(FormatError, match=why) as e:
            load_yaml(text, "d.yaml")
        assert str(e.value).startswith("d.yaml:") and "\n" not in str(e.value)


# -- the input guard -----------------------------------------------------------------

def test_open_regular_refuses_special_files_without_hanging(tmp_path):
    from annokit.errors import AnnokitError
    from annokit.fileio import read_regular

    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)  # no writer: a blocking open would hang forever
    loop = tmp_path / "loop.json"
    loop.symlink_to(loop)
    cases = {fifo: "a FIFO (named pipe), not a regular file", "/dev/zero": "a character device",
             tmp_path: "a folder", loop: "a link loop", tmp_path / "absent": "no such file"}
    for path, words in cases.items():
        with pytest.raises(AnnokitError, match=re.escape(words)):
            read_regular(path)


def test_read_regular_caps_the_size(tmp_path):
    from annokit.errors import AnnokitError
    from annokit.fileio import read_regular

    path = tmp_path / "big.txt"
    path.write_bytes(b"x" * 100)
    assert read_regular(path, limit=100) == b"x" * 100
    with pytest.raises(AnnokitError, match="100 bytes is too large for a predictions file"):
        read_regular(path, limit=99, what="predictions file")


# -- outputs that are not regular files (issue 13) -------------------------------------

def test_check_output_refuses_devices_fifos_sockets_and_kernel_paths(tmp_path):
    import socket

    from annokit.errors import AnnokitError
    from annokit.fileio import check_output

    fifo = tmp_path / "f.json"
    os.mkfifo(fifo)
    sock = tmp_path / "s.json"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(sock))
    link = tmp_path / "n.json"
    link.symlink_to("/dev/null")
    cases = {"/dev/null": "a character device", fifo: r"a FIFO \(named pipe\)",
             sock: "a socket", link: "a character device",
             "/dev/stdout": "not a regular file|device or kernel file",
             "/proc/self/x.json": "device or kernel file"}
    for path, words in cases.items():
        with pytest.raises(AnnokitError, match=words):
            check_output(path, report=True, overwrite=True)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and os.path.islink(link)
    shm = type(tmp_path)("/dev/shm")
    if shm.is_dir():  # a RAM folder of ordinary files stays writable
        assert check_output(shm / "annokit-test.json", report=True) == shm / "annokit-test.json"


def test_shown_text_withholds_lines_of_files_outside_the_root(tmp_path):
    from annokit.fileio import shown_text

    (tmp_path / "data").mkdir()
    inside, outside = tmp_path / "data" / "a.txt", tmp_path / "secret.txt"
    outside.write_text("secret")
    (tmp_path / "data" / "link.txt").symlink_to(outside)
    assert shown_text("0 1 2", inside, tmp_path / "data") == "'0 1 2'"
    assert shown_text("x" * 100, inside, tmp_path / "data") == repr("x" * 60 + "...")
    assert "not shown" in shown_text("secret", tmp_path / "data" / "link.txt",
                                     tmp_path / "data")


def test_open_image_refuses_special_files_and_reads_images(tmp_path):
    from PIL import Image

    from annokit.errors import FormatError
    from annokit.fileio import open_image

    Image.new("RGB", (7, 5)).save(tmp_path / "a.png")
    with open_image(tmp_path / "a.png") as im:
        im.load()
        assert im.size == (7, 5)
    os.mkfifo(tmp_path / "b.png")
    for path in (tmp_path / "b.png", "/dev/zero"):
        with pytest.raises(FormatError, match="not a regular file"):
            with open_image(path):
                pass
    with pytest.raises(FormatError, match="too large for an image"):
        with open_image(tmp_path / "a.png", limit=10):
            pass
