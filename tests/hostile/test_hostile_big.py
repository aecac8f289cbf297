"""Bad input costs a bounded amount (issue 7.12): memory within a few times the input,
lookups linear. Peak memory is measured from the child process (no timing assertions;
the times are recorded in baselines/hostile_results.json)."""
from __future__ import annotations

import os
import resource
import subprocess
import sys

import pytest

import annokit
from annokit.formats import voc
from big import huge_voc, many_labels
from conftest import FIXTURES
from harness import annokit as run


def peak_rss_mb(*args, cwd) -> tuple[float, int, str]:
    """Run annokit; (its peak resident memory in MB, exit code, stderr)."""
    code = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:], "
            "capture_output=True, text=True); r = resource.getrusage(resource.RUSAGE_CHILDREN)"
            "; print(r.ru_maxrss / 1024); print(p.returncode); sys.stderr.write(p.stderr)")
    done = subprocess.run([sys.executable, "-c", code, sys.executable, "-m", "annokit", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=600)
    peak, rc = done.stdout.split()[:2]
    return float(peak), int(rc), done.stderr


@pytest.mark.slow
def test_100_mb_voc_file_within_a_few_times_its_size(tmp_path):
    root = huge_voc(tmp_path / "voc", megabytes=100)
    size_mb = os.path.getsize(root / "Annotations" / "a.xml") / (1 << 20)
    baseline, _, _ = peak_rss_mb("--version", cwd=tmp_path)
    peak, code, err = peak_rss_mb("info", "voc", "-q", cwd=tmp_path)
    assert code == 0, err
    assert peak - baseline < 5 * size_mb, (peak, baseline, size_mb)


@pytest.mark.slow
def test_100k_label_names_read_linearly(tmp_path):
    many_labels(tmp_path / "voc")
    code, out, err = run("info", "voc", "-q", cwd=tmp_path, timeout=120)  # quadratic: 100 s
    assert code == 0, err
    assert "categories=100000" in out


def test_streamed_voc_reads_the_same_as_a_whole_tree(monkeypatch):
    """Large files are streamed; the stream gives what the tree gives, refusals included."""
    samples = FIXTURES / "voc"
    for folder in (samples / "root", samples / "bad", FIXTURES / "shapes" / "voc"):
        whole = annokit.read(folder, "voc")
        monkeypatch.setattr(voc.parse, "STREAM_BYTES", -1)
        streamed = annokit.read(folder, "voc")
        monkeypatch.undo()
        assert streamed.notes.texts("skipped") == whole.notes.texts("skipped")
        for name in ("images", "annotations", "categories"):
            left, right = getattr(whole, name), getattr(streamed, name)
            assert left.columns.tolist() == right.columns.tolist()
            assert left.astype(str).equals(right.astype(str)), (folder, name)


def test_resource_limits_hold_for_absurd_numbers(tmp_path):
    """Under a 1.5 GiB address-space limit, absurd sizes still end in one line, exit 2."""
    from corpus import CASES, write_case

    limit = 1536 << 20
    wanted = ("yolo-names-id-1e11", "coco-width-1e308", "coco-polygon-1e9-no-area",
              "rebalance-target-1e9", "coco-id-400-digits")
    for case in [c for c in CASES if c.name in wanted]:
        root = write_case(case, tmp_path / case.name)
        done = subprocess.run(
            [sys.executable, "-m", "annokit", *map(str, case.args)], cwd=root,
            capture_output=True, text=True, timeout=120,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit)))
        assert done.returncode == case.code, (case.name, done.stderr)
        assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr
