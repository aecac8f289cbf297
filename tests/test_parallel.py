"""Image work on local worker processes and on a real Dask cluster gives the in-process
result: image checks, split's near-duplicate groups, the scorer's features."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import annokit
from annokit import images, parallel
from annokit.errors import AnnokitError

from conftest import run_cli

PLANTED = Path("fixtures/qc/planted")  # one planted fault of every image check
SHAPES = Path("fixtures/shapes/voc")


def _read(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return annokit.read(path)


def _fresh_scan():
    images._cache.update(key=None, table=None)  # the scan is cached per run


def _cube(part, power):
    return [x ** power for x in part]


def _fail_on_three(part):
    if 3 in part:
        raise ValueError("three")
    return list(part)


# -- the mapping itself -----------------------------------------------------------------

def test_partitions_are_consecutive_and_bounded():
    parts = parallel.partitions(list(range(10)), 3)
    assert [x for p in parts for x in p] == list(range(10))
    assert max(len(p) for p in parts) - min(len(p) for p in parts) <= 2
    assert len(parallel.partitions(list(range(5000)), 1)) == 10  # MAX_PARTITION = 512
    assert parallel.partitions([], 4) == []


def test_map_keeps_order_on_workers():
    items = list(range(2000))
    with parallel.use(workers=2):
        assert parallel.active()
        assert parallel.map_partitions(_cube, items, 3) == [x ** 3 for x in items]
    assert not parallel.active()


def test_a_worker_error_is_raised_here():
    with parallel.use(workers=2), pytest.raises(ValueError, match="three"):
        parallel.map_partitions(_fail_on_three, list(range(10)))


@pytest.mark.parametrize("options, message", [
    ({"workers": 2, "dask": "tcp://127.0.0.1:1"}, "give one"),
    ({"workers": 0}, "at least 1"),
])
def test_bad_choices_are_one_line(options, message):
    with pytest.raises(AnnokitError, match=message), parallel.use(**options):
        pass


def test_an_unreachable_scheduler_is_one_line(monkeypatch):
    pytest.importorskip("distributed", reason="pip install annokit[dask]")
    monkeypatch.setattr(parallel, "CONNECT_TIMEOUT", 2)
    with pytest.raises(AnnokitError, match="tcp://127.0.0.1:9: cannot reach the scheduler"):
        with parallel.use(dask="tcp://127.0.0.1:9"):
            pass


def test_the_cli_refuses_both(tmp_path):
    code, _, err = run_cli("check", str(PLANTED), "--workers", "2", "--dask", "tcp://x:1")
    assert code == 2 and "give one" in err


def test_map_on_dask_keeps_order(cluster):
    items = list(range(3000))
    with parallel.use(dask=cluster):
        assert parallel.map_partitions(_cube, items, 2) == [x ** 2 for x in items]
    with parallel.use(dask=cluster), pytest.raises(ValueError, match="three"):
        parallel.map_partitions(_fail_on_three, list(range(10)))


# -- check, split, score: same results ---------------------------------------------------

def _image_table(ds, **where):
    _fresh_scan()
    with parallel.use(**where):
        return images.image_table(ds)


def test_image_scan_is_the_same_everywhere(cluster):
    ds = _read(PLANTED)
    here = _image_table(ds)
    assert here["error"].notna().any() and here["found"].eq(False).any()  # faults in it
    pd.testing.assert_frame_equal(here, _image_table(ds, workers=2), check_exact=True)
    pd.testing.assert_frame_equal(here, _image_table(ds, dask=cluster), check_exact=True)


def _check_json(tmp_path: Path, name: str, *options) -> list:
    _fresh_scan()
    out = tmp_path / f"{name}.json"
    code, _, err = run_cli("check", str(PLANTED), "--json", str(out), *options)
    assert code == 1, err
    findings = json.loads(out.read_text())["findings"]
    return sorted(json.dumps(f, sort_keys=True) for f in findings)


def test_check_findings_identical_on_workers_and_dask(tmp_path, cluster):
    here = _check_json(tmp_path, "here")
    assert any('"images.near_leakage"' in f for f in here)
    assert _check_json(tmp_path, "workers", "--workers", "2") == here
    assert _check_json(tmp_path, "dask", "--dask", cluster) == here


def test_split_near_duplicate_groups_identical(tmp_path, cluster):
    ds = _read(PLANTED)
    from annokit.split import split

    def splits(**where):
        _fresh_scan()
        with warnings.catch_warnings(), parallel.use(**where):
            warnings.simplefilter("ignore")
            return split(ds, [0.5, 0.5], names=["a", "b"], seed=1).images["split"].tolist()
    here = splits()
    assert splits(workers=2) == here
    assert splits(dask=cluster) == here


def _scores(ds, **where):
    with parallel.use(**where):
        result = annokit.score(ds, folds=3, seed=0)
    return result


def _assert_same_scores(a, b):
    pd.testing.assert_frame_equal(a.annotations, b.annotations, check_exact=False, rtol=0,
                                  atol=1e-6)
    pd.testing.assert_frame_equal(a.images, b.images, check_exact=False, rtol=0, atol=1e-6)
    assert a.notes == b.notes


@pytest.mark.slow
def test_detection_scores_identical_on_workers_and_dask(cluster):
    ds = _read(SHAPES)
    here = _scores(ds)
    assert here.annotations["quality"].notna().all()
    _assert_same_scores(here, _scores(ds, workers=2))
    _assert_same_scores(here, _scores(ds, dask=cluster))


@pytest.mark.slow
def test_classification_scores_and_skips_identical(tmp_path, cluster):
    from PIL import Image

    rng = np.random.default_rng(0)
    for k, name in enumerate(["red", "blue"]):
        folder = tmp_path / "cls" / name
        folder.mkdir(parents=True)
        for i in range(12):
            pixels = rng.integers(0, 60, (40, 40, 3), dtype=np.uint8)
            pixels[..., 0 if k == 0 else 2] += 180
            Image.fromarray(pixels).save(folder / f"{i}.png")
    ds = _read(tmp_path / "cls")
    (tmp_path / "cls" / "red" / "3.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    here = _scores(ds)
    skipped = here.notes.texts("skipped")
    assert len(skipped) == 1 and "3.png" in skipped[0]
    _assert_same_scores(here, _scores(ds, workers=2))
    _assert_same_scores(here, _scores(ds, dask=cluster))
