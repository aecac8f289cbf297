"""Scorer families and the one out-of-fold loop every family runs in.

A family judges each image with a model that never saw it: :func:`out_of_fold` trains on
the other folds and predicts the held-out one, for every fold. The built-in families
(``classic``, ``pretrained``, ``cnn``) and any family you register go through it. The
scikit-learn families fit their folds through :func:`fit_out_of_fold`: inside
:func:`annokit.parallel.use` one task per fold on the workers, the same models as here.

Register your own detector or classifier with one function of one signature::

    fit_predict(ds, train, judge, seed) -> result

``train`` and ``judge`` are positions in ``ds.images`` (numpy int arrays; never the same
image in both). A ``classification`` family returns the class probabilities of the
``judge`` images, shape (len(judge), len(ds.categories)), columns in ``ds.categories``
order. A ``detection`` family returns its boxes on the ``judge`` images as a DataFrame
with ``image_id`` (ids of ``ds.images``), ``category_id``, ``x y w h`` (COCO pixels) and
``score``; :func:`annokit.score` then judges the annotations against them as it does a
detector's ``--predictions``.

Example:
    >>> import numpy as np, annokit
    >>> from annokit.score.registry import register
    >>> def uniform(ds, train, judge, seed):  # every image: each class equally likely
    ...     k = len(ds.categories)
    ...     return np.full((len(judge), k), 1 / k)
    >>> register("uniform", "classification", uniform)
    >>> result = annokit.score(ds, model="uniform")  # doctest: +SKIP
"""
from __future__ import annotations

import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import parallel
from ..errors import AnnokitError
from ..progress import track

TASKS = ("classification", "detection")
BUILT_IN = ("classic", "cnn", "pretrained")


@dataclass(frozen=True)
class Family:
    """A registered scorer: its name, task and ``fit_predict`` function."""

    name: str
    task: str
    fit_predict: Callable


FAMILIES: dict[str, Family] = {}


def register(name: str, task: str, fit_predict: Callable) -> None:
    """Make ``fit_predict`` available as ``annokit.score(ds, model=name)`` for ``task``
    ('classification' or 'detection'); see the module for its signature.

    Example:
        >>> register("classic", "detection", print)
        Traceback (most recent call last):
        ...
        annokit.errors.AnnokitError: 'classic' is a built-in scorer family; choose another name
    """
    if name in BUILT_IN:
        raise AnnokitError(f"{name!r} is a built-in scorer family; choose another name")
    if task not in TASKS:
        raise AnnokitError(f"a scorer family's task is one of {', '.join(TASKS)}, not {task!r}")
    if not callable(fit_predict):
        raise AnnokitError(f"{name}: fit_predict must be a function")
    FAMILIES[name] = Family(name, task, fit_predict)


def families() -> tuple[str, ...]:
    """Every family :func:`annokit.score` takes: the built-in ones, then the registered.

    Example:
        >>> families()[:2]
        ('classic', 'cnn')
    """
    return (*BUILT_IN, *FAMILIES)


def out_of_fold(folds: np.ndarray, train_ok: np.ndarray, judge_ok: np.ndarray,
                label: str = "training folds") -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """The one out-of-fold loop: for each fold, (its index, the rows to train on, the rows
    to judge), as int arrays; a fold with nothing to train on or to judge is passed over.
    Rows are whatever ``folds`` is indexed by (images, or sample boxes with their image's
    fold), so no row is ever judged by a model that saw its image.

    Example:
        >>> folds = np.array([0, 0, 1, 1]); ok = np.ones(4, bool)
        >>> [(k, t.tolist(), j.tolist()) for k, t, j in out_of_fold(folds, ok, ok)]
        [(0, [2, 3], [0, 1]), (1, [0, 1], [2, 3])]
    """
    ids = np.unique(folds[judge_ok])
    for k, f in enumerate(track(ids, label, total=len(ids), min_items=1)):
        train = np.flatnonzero(train_ok & (folds != f))
        judge = np.flatnonzero(judge_ok & (folds == f))
        if len(train) and len(judge):
            yield k, train, judge


def fit_folds(fit: Callable, jobs: Iterable) -> Iterator:
    """``fit(job)`` for each fold's job (a fold's training rows, its seed), in the order of
    ``jobs``: in this process one after another, or inside :func:`annokit.parallel.use`
    one task per fold on the local workers or the Dask cluster. ``fit`` must be a pure,
    module-level function of picklable jobs; it runs with one BLAS thread and sklearn's fit
    warnings quiet wherever it runs, so the folds' models are the same everywhere.

    Example:
        >>> list(fit_folds(len, [[1, 2], [3]]))
        [2, 1]
    """
    return parallel.map_each(_fit_quietly, jobs, fit)


def fit_out_of_fold(fit: Callable, make_job: Callable, folds: np.ndarray, train_ok: np.ndarray,
                    judge_ok: np.ndarray, label: str = "training folds"
                    ) -> Iterator[tuple[int, np.ndarray, np.ndarray, Any]]:
    """:func:`out_of_fold` with each fold's model fitted by :func:`fit_folds`: for each
    fold, (its index, train rows, judge rows, ``fit(make_job(k, train, judge))``).

    ``make_job`` runs here and gathers what the fit needs (the fold's training rows, not
    the whole dataset); it is made as a worker is ready to take it, so on workers only a
    few folds' rows are in memory at once.

    Example:
        >>> folds = np.array([0, 0, 1, 1]); ok = np.ones(4, bool)
        >>> [(k, r) for k, _, _, r in fit_out_of_fold(len, lambda k, t, j: t, folds, ok, ok)]
        [(0, 2), (1, 2)]
    """
    made: deque = deque()  # the folds whose jobs were taken, oldest first (thread-safe)

    def jobs():
        for k, train, judge in out_of_fold(folds, train_ok, judge_ok, label):
            made.append((k, train, judge))
            yield make_job(k, train, judge)

    for result in fit_folds(fit, jobs()):
        k, train, judge = made.popleft()
        yield k, train, judge, result


def _fit_quietly(job, fit: Callable):
    with quiet_fits(), one_thread():
        return fit(job)


def one_thread():
    """One BLAS/OpenMP thread: on a busy two-core machine threads fight and run 10x slower,
    and a fixed thread count keeps CPU results the same run to run, and the same in a
    worker process as here.

    Example:
        >>> with one_thread():
        ...     pass
    """
    import scipy.linalg  # noqa: F401  the limit holds for the libraries loaded when it is
    import sklearn.linear_model  # noqa: F401  set: load them first (else a process's first
    from threadpoolctl import threadpool_limits  # run differs from the next)

    return threadpool_limits(1)


@contextmanager
def quiet_fits() -> Iterator[None]:
    """Silence scikit-learn while the models are fitted: a logistic regression stopping at
    its iteration budget (lbfgs' ConvergenceWarning) is a close enough fit for probabilities
    that are calibrated afterwards, and no warning of a fit is the user's to act on (nor
    a worker process's to print).

    Example:
        >>> with quiet_fits():
        ...     pass
    """
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("ignore", module=r"sklearn(\.|$)")
        yield


def run_family(family: Family, ds, folds: np.ndarray, seed: int, ok: np.ndarray):
    """A registered family over every fold: class probabilities (n_images, n_classes, NaN
    rows where unjudged) or the boxes of every image as one DataFrame.

    Example:
        >>> probs = run_family(FAMILIES["uniform"], ds, folds, 0, ok)  # doctest: +SKIP
    """
    import pandas as pd

    n_classes = len(ds.categories)
    probs = np.full((len(ds.images), n_classes), np.nan)
    boxes = []
    for k, train, judge in out_of_fold(folds, ok, ok, f"{family.name}: folds"):
        got = family.fit_predict(ds, train, judge, seed * 1000 + k)
        if family.task == "classification":
            got = np.asarray(got, np.float64)
            if got.shape != (len(judge), n_classes) or not np.isfinite(got).all() \
                    or (got < 0).any():
                raise AnnokitError(f"scorer {family.name!r} gave probabilities of shape "
                                   f"{got.shape} (or not finite, >= 0); expected "
                                   f"({len(judge)}, {n_classes})")
            probs[judge] = got
        else:
            need = {"image_id", "category_id", "x", "y", "w", "h", "score"}
            if not isinstance(got, pd.DataFrame) or not need <= set(got.columns):
                raise AnnokitError(f"scorer {family.name!r} must return a DataFrame with "
                                   f"{', '.join(sorted(need))}")
            boxes.append(got[sorted(need)])
    if family.task == "classification":
        return probs
    return pd.concat(boxes, ignore_index=True) if boxes else pd.DataFrame(
        columns=["category_id", "h", "image_id", "score", "w", "x", "y"])
