"""Injected faults: kill -9, SIGTERM and Ctrl-C mid-write, disk full, read-only output, two
writers at once, stale temporaries. Each through the real command in a subprocess."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from harness import N_BIG, annokit, big_coco, one_line_error, snapshot, temporaries

def wait_for(condition, proc: subprocess.Popen, limit: float = 60) -> None:
    """Poll until ``condition()``; fail if the process ends first."""
    end = time.monotonic() + limit
    while not condition():
        assert proc.poll() is None, f"finished before the fault: {proc.communicate()}"
        assert time.monotonic() < end, "timed out waiting"
        time.sleep(0.005)


def writing(folder: Path, name: str):
    return lambda: any(n.startswith(f".{name}.annokit-") for n in os.listdir(folder))


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.fixture
def big(tmp_path):
    return big_coco(tmp_path / "big.json")


@pytest.mark.slow
@pytest.mark.parametrize("sig, code, says", [(signal.SIGTERM, 143, "terminated"),
                                             (signal.SIGINT, 130, "interrupted")])
def test_signal_mid_write_leaves_nothing(big, tmp_path, sig, code, says):
    before = snapshot(tmp_path)
    proc = annokit("convert", "coco", "voc", big, "out", "-q", cwd=tmp_path, start=True)
    wait_for(writing(tmp_path, "out"), proc)
    time.sleep(0.2)  # well inside the writing of 20,000 files
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert err == f"annokit: {says}; nothing was written\n"
    assert snapshot(tmp_path) == before and temporaries(tmp_path) == []


def test_ctrl_c_during_start_up_imports(tmp_path):
    proc = annokit("info", "nothing-here", cwd=tmp_path, start=True)
    maps = Path(f"/proc/{proc.pid}/maps")
    # numpy's library is mapped while annokit's own imports run, long before main()
    wait_for(lambda: maps.exists() and "numpy" in maps.read_text(), proc, limit=30)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert err == "annokit: interrupted; nothing was written\n"


@pytest.mark.slow
def test_kill_9_then_next_run_cleans_up(big, tmp_path):
    proc = annokit("convert", "coco", "voc", big, "out", "-q", cwd=tmp_path, start=True)
    wait_for(writing(tmp_path, "out"), proc)
    time.sleep(0.2)
    proc.kill()
    proc.communicate()
    assert not (tmp_path / "out").exists()  # never half a dataset at the target
    assert temporaries(tmp_path)  # the killed run's temp folder and lock are still there
    code, out, err = annokit("convert", "coco", "voc", big, "out", "-q", cwd=tmp_path)
    assert code == 0, err
    assert temporaries(tmp_path) == []
    assert len(os.listdir(tmp_path / "out" / "Annotations")) == N_BIG


def test_stale_temporaries_of_dead_runs_are_removed(tmp_path):
    from corpus import coco_in

    coco_in()(tmp_path)
    pid = dead_pid()
    stale = tmp_path / f".out.annokit-{pid}-0123abcd.tmp"
    (stale / "deep").mkdir(parents=True)
    (stale / "deep" / "x.xml").write_text("half")
    (tmp_path / ".out.annokit.lock").write_text(f"{pid}\n")
    alive = tmp_path / f".out.annokit-{os.getpid()}-0123abcd.tmp"  # a live run's: kept
    alive.mkdir()
    code, _, err = annokit("convert", "coco", "voc", "c.json", "out", cwd=tmp_path)
    assert code == 0, err
    assert temporaries(tmp_path) == [alive.name]
    code, _, err = annokit("convert", "coco", "voc", "c.json", "out", "--overwrite",
                           cwd=tmp_path)
    assert code == 0 and temporaries(tmp_path) == [alive.name]


def test_copy_orphaned_by_a_kill_between_renames_is_restored(tmp_path):
    from corpus import coco_in

    coco_in()(tmp_path)
    old = tmp_path / f".out.annokit-old-{dead_pid()}-0123abcd"
    old.mkdir()
    (old / "precious.txt").write_text("the previous output")
    code, _, err = annokit("convert", "coco", "voc", "c.json", "out", cwd=tmp_path)
    assert code == 2  # the old output is back in place, and not empty
    one_line_error(err, "out", )
    assert (tmp_path / "out" / "precious.txt").read_text() == "the previous output"
    assert temporaries(tmp_path) == []


@pytest.mark.slow
def test_second_writer_of_the_same_output_fails_cleanly(big, tmp_path):
    first = annokit("convert", "coco", "voc", big, "out", "-q", cwd=tmp_path, start=True)
    wait_for(writing(tmp_path, "out"), first)
    code, _, err = annokit("convert", "coco", "coco", big, "out", "-q", cwd=tmp_path)
    assert code == 2
    one_line_error(err, "out").endswith("try again when it has finished")
    assert first.wait(timeout=120) == 0
    assert len(os.listdir(tmp_path / "out" / "Annotations")) == N_BIG  # the first's output
    assert temporaries(tmp_path) == []


def test_two_writers_started_together(tmp_path):
    big = big_coco(tmp_path / "big.json", 2000)
    procs = [annokit("convert", "coco", fmt, big, "out", "-q", cwd=tmp_path, start=True)
             for fmt in ("voc", "coco")]
    results = [(p.wait(timeout=120), p.communicate()[1]) for p in procs]
    assert sorted(code for code, _ in results) == [0, 2], results
    loser = next(err for code, err in results if code == 2)
    assert "another annokit run" in loser or "exists and is not empty" in loser, loser
    assert temporaries(tmp_path) == []


# -- a full or read-only file system: a small tmpfs, so root only ------------------------

@pytest.fixture
def mount(tmp_path):
    made = []

    def mount(name: str, options: str) -> Path:
        if os.geteuid() != 0:
            pytest.skip("mounting a small tmpfs needs root")
        point = tmp_path / name
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)],
                              capture_output=True)
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        made.append(point)
        return point
    yield mount
    for point in made:
        subprocess.run(["umount", str(point)])


@pytest.mark.parametrize("target", ["full/out", "full/out.json", "full/r.json"])
def test_disk_full_is_one_line_naming_the_file(tmp_path, mount, target):
    full = mount("full", "size=256k")
    big = big_coco(tmp_path / "big.json", 3000)
    if target.endswith("r.json"):  # a report is small: fill the disk first
        with pytest.raises(OSError), open(full / "filler", "wb") as f:
            while True:
                f.write(b"x" * 4096)
                f.flush()
    before = snapshot(tmp_path)
    if target.endswith("r.json"):
        args = ("check", big, "--json", target, "--no-images", "--fail-on", "never")
    else:
        args = ("convert", "coco", "coco" if target.endswith(".json") else "voc", big, target)
    code, _, err = annokit(*args, cwd=tmp_path)
    assert code == 2, err
    line = one_line_error(err, target)
    assert line.endswith("cannot be written: No space left on device"), line
    assert snapshot(tmp_path) == before and temporaries(tmp_path) == []


def test_read_only_output_is_one_line(tmp_path, mount):
    mount("ro", "ro,size=64k")
    from corpus import coco_in

    coco_in()(tmp_path)
    for args in (("convert", "coco", "voc", "c.json", "ro/out"),
                 ("check", "c.json", "--json", "ro/r.json", "--fail-on", "never")):
        code, _, err = annokit(*args, cwd=tmp_path)
        assert code == 2, err
        line = one_line_error(err, "ro/")
        assert "Read-only file system" in line, line
    assert os.listdir(tmp_path / "ro") == []


def test_a_run_stopped_after_an_output_landed_names_it(tmp_path, monkeypatch):
    from annokit import cli, fileio

    monkeypatch.setattr(fileio, "COMMITTED", [])
    assert cli._stopped(cli.TERMINATED) == "annokit: terminated; nothing was written"
    fileio.write_file_atomic(tmp_path / "qc.json", "{}")
    fileio.write_file_atomic(tmp_path / "qc.html", "<p>")
    assert cli._stopped(cli.INTERRUPTED) == (
        f"annokit: interrupted after writing {tmp_path / 'qc.html'} and 1 more; "
        "nothing else was written")
