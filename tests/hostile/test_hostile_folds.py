"""Interrupted K-fold fits on workers (issue 15 item 3): SIGTERM while `score --workers 2`
fits its folds ends the run at once, with one line, no scores file and no worker left;
a fold with nothing to learn on workers gives what it gives in-process."""
from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from harness import annokit, temporaries
from test_hostile_parquet_dask import _alive, _descendants


def _image_classes(root: Path, n: int, side: int = 48) -> Path:
    """An imagefolder of ``n`` noisy images per class (red, blue): quick features, and
    image-label folds fitted on the full HOG + colour vectors."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for k, name in enumerate(["red", "blue"]):
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(n):
            pixels = rng.integers(0, 90, (side, side, 3), dtype=np.uint8)
            pixels[..., 0 if k == 0 else 2] += 150
            Image.fromarray(pixels).save(folder / f"{i}.png")
    return root


@pytest.mark.slow
def test_sigterm_while_folds_fit_on_workers(tmp_path):
    _image_classes(tmp_path / "set", 400)
    proc = annokit("score", "set", "--model", "classic", "--folds", "10", "--workers", "2",
                   "--out", "scores.json", cwd=tmp_path, start=True)
    end = time.monotonic() + 120
    while len(_descendants(proc.pid)) < 3:  # the forkserver and two workers
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "the workers never started"
        time.sleep(0.05)
    time.sleep(2.0)  # past the features of 800 small images, into the folds on this machine
    workers = _descendants(proc.pid)
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    if proc.returncode == 0:  # a fast machine finished first
        pytest.skip("the run ended before the signal: nothing to interrupt")
    assert proc.returncode == 143, err
    assert time.monotonic() - sent < 3.0
    assert err.strip().splitlines() == ["annokit: terminated; nothing was written"]
    assert not (tmp_path / "scores.json").exists() and temporaries(tmp_path) == []
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(p) for p in workers), "worker processes outlived the command"


def _scores(tmp_path: Path, name: str, *options) -> dict:
    code, _, err = annokit("score", "one", "--model", "classic", "--folds", "3", "--out",
                           f"{name}.json", *options, cwd=tmp_path, timeout=180)
    assert code in (0, 1), err
    return json.loads((tmp_path / f"{name}.json").read_text())


@pytest.mark.slow
def test_a_fold_with_one_class_to_learn_is_the_same_on_workers(tmp_path):
    """Image labels of one class but one image: the fold holding that image trains on a
    single class (nothing to tell apart). It was an internal error (sklearn's "needs
    samples of at least 2 classes"); now that fold is left unjudged, on workers as here."""
    root = _image_classes(tmp_path / "one", 12)
    for extra in list((root / "blue").iterdir())[1:]:
        extra.unlink()
    here = _scores(tmp_path, "here")
    there = _scores(tmp_path, "there", "--workers", "2")
    assert [a.get("issue") for a in here["annotations"]] == \
        [a.get("issue") for a in there["annotations"]]
    quality = np.array([a["quality"] for a in here["annotations"]], float)  # None: NaN
    assert np.isnan(quality).any() and np.isfinite(quality).any()  # that fold: not judged
    assert np.allclose(quality, np.array([a["quality"] for a in there["annotations"]], float),
                       atol=1e-6, rtol=0, equal_nan=True)
