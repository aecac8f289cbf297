"""Hostile Parquet inputs and interrupted parallel work, through the real command: one line,
exit 2, nothing changed; SIGTERM ends --workers runs and their worker processes."""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from harness import annokit, changed_outside, one_line_error, snapshot, temporaries

ROOT = Path(__file__).resolve().parents[2]
BASIC = ROOT / "fixtures" / "coco" / "basic" / "annotations.json"


@pytest.fixture
def pq(tmp_path) -> Path:
    code, _, err = annokit("convert", "coco", "parquet", BASIC, "pq", cwd=tmp_path)
    assert code == 0, err
    return tmp_path / "pq"


def _refused(tmp_path: Path, names: str, *args, snap: bool = True) -> str:
    """Exit 2, one line naming ``names``, nothing changed (``snap=False`` where a FIFO
    is in the tree: the snapshot would block opening it)."""
    before = snapshot(tmp_path) if snap else None
    code, _, err = annokit(*args, cwd=tmp_path)
    assert code == 2, err
    line = one_line_error(err, names)
    if snap:
        assert changed_outside(before, snapshot(tmp_path)) == []
    assert temporaries(tmp_path) == []
    return line


def test_a_table_that_is_not_parquet(pq, tmp_path):
    (pq / "annotations.parquet").write_bytes(b"PAR1" + b"\0" * 64)
    line = _refused(tmp_path, "annotations.parquet", "convert", "parquet", "coco", "pq", "out")
    assert "not a readable Parquet file" in line


def test_an_empty_table_file(pq, tmp_path):
    (pq / "images.parquet").write_bytes(b"")
    _refused(tmp_path, "images.parquet", "check", "pq", "--no-images")


def test_a_fifo_meta_never_hangs(pq, tmp_path):
    (pq / "meta.json").unlink()
    os.mkfifo(pq / "meta.json")
    line = _refused(tmp_path, "meta.json", "info", "pq", snap=False)
    assert "FIFO" in line or "not a regular" in line


def test_a_table_linked_to_dev_zero(pq, tmp_path):
    (pq / "images.parquet").unlink()
    os.symlink("/dev/zero", pq / "images.parquet")
    _refused(tmp_path, "images.parquet", "info", "pq")


def test_meta_that_is_not_an_object(pq, tmp_path):
    (pq / "meta.json").write_text(json.dumps([1, 2]))
    _refused(tmp_path, "meta.json", "info", "pq")


def test_segmentation_that_is_not_json(pq, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as parquet

    table = parquet.read_table(pq / "annotations.parquet")
    column = table.schema.get_field_index("segmentation")
    bad = pa.array(["[[1, 2"] * len(table), type=pa.string())
    parquet.write_table(table.set_column(column, "segmentation", bad),
                        pq / "annotations.parquet")
    line = _refused(tmp_path, "annotations.parquet", "info", "pq")
    assert "row 1" in line and "segmentation" in line


def test_an_unreachable_dask_scheduler(pq, tmp_path):
    pytest.importorskip("distributed", reason="pip install annokit[dask]")
    line = _refused(tmp_path, "tcp://127.0.0.1:9", "check", "pq", "--dask", "tcp://127.0.0.1:9")
    assert "cannot reach the scheduler" in line


def _descendants(pid: int) -> set[int]:
    """Every process under ``pid`` (from /proc), worker pools and their servers included."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_sigterm_ends_a_workers_run_and_its_workers(tmp_path):
    from PIL import Image

    folder = tmp_path / "set" / "images"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    n = 3000
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)).save(
            folder / f"{i}.png")
    coco = {"images": [{"id": i + 1, "file_name": f"{i}.png", "width": 128, "height": 96}
                       for i in range(n)],
            "annotations": [], "categories": [{"id": 1, "name": "a"}]}
    (tmp_path / "set" / "annotations.json").write_text(json.dumps(coco))
    proc = annokit("check", "set/annotations.json", "--workers", "2", "--json", "qc.json",
                   cwd=tmp_path, start=True)
    end = time.monotonic() + 60
    while len(_descendants(proc.pid)) < 3:  # the forkserver and two workers
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "the workers never started"
        time.sleep(0.05)
    time.sleep(0.1)
    workers = _descendants(proc.pid)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert time.monotonic() - sent < 2.0
    if (tmp_path / "qc.json").exists():  # a fast machine finished first: it says so
        assert err.strip().splitlines() == [
            f"annokit: terminated after writing {tmp_path / 'qc.json'}; nothing else was written"]
        json.loads((tmp_path / "qc.json").read_text())
    else:
        assert err.strip().splitlines() == ["annokit: terminated; nothing was written"]
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(p) for p in workers), "worker processes outlived the command"
    assert temporaries(tmp_path) == []
