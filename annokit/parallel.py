"""Map a pure function over partitions of a table: in-process, local processes or Dask.

Work on images (decoding, hashing, features) is a pure function of a partition of the
images table, so where it runs changes nothing in what it returns:

- in-process (the default): one call per partition, in order;
- ``workers=N``: a local pool of N processes (``--workers N``);
- ``dask=ADDRESS``: the workers of a running ``distributed`` scheduler
  (``--dask tcp://host:8786``; ``pip install annokit[dask]``). The workers need annokit
  installed and must be able to read the image files at the paths this machine sees
  (docs/parallel.md).

The backend is chosen once for a block of work with :func:`use`; the library functions
that do image work (:func:`annokit.images.image_table`, the scorer's features) ask
:func:`map_partitions` for it, so ``check``, ``split`` and ``score`` take it without a
new argument each.

Example:
    >>> from annokit import parallel
    >>> def squares(chunk, power):
    ...     return [x ** power for x in chunk]
    >>> parallel.map_partitions(squares, list(range(5)), 2)
    [0, 1, 4, 9, 16]
    >>> with parallel.use(workers=2):                      # doctest: +SKIP
    ...     found = annokit.check(ds)
"""
from __future__ import annotations

import os

import math
import signal
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

from .errors import AnnokitError
from .progress import track

PARTITIONS_PER_WORKER = 4  # more partitions than workers: a slow one does not hold up the rest
MAX_PARTITION = 512        # items per partition at most, so progress and retries stay fine
CONNECT_TIMEOUT = 10       # s to reach a Dask scheduler before giving up with one line


@dataclass
class Backend:
    """Where partitions run: ``workers`` local processes, or a Dask ``client``."""

    workers: int = 0
    address: str | None = None
    client: Any = None
    pool: Any = None

    @property
    def parallel(self) -> bool:
        return self.client is not None or self.workers >= 1


_IN_PROCESS = Backend()
_backend: ContextVar[Backend | None] = ContextVar("annokit_parallel", default=None)


def _current() -> Backend:
    return _backend.get() or _IN_PROCESS


def active() -> bool:
    """True inside :func:`use` with workers or a Dask cluster.

    Example:
        >>> active()
        False
    """
    return _current().parallel


@contextmanager
def use(workers: int | None = None, dask: str | None = None) -> Iterator[Backend]:
    """Run the image work inside the block on ``workers`` local processes or on the Dask
    cluster at ``dask`` (an address such as ``tcp://127.0.0.1:8786``); neither: in-process.

    Example:
        >>> with use(workers=2):  # doctest: +SKIP
        ...     table = annokit.images.image_table(ds)
    """
    if workers is not None and dask is not None:
        raise AnnokitError("--workers and --dask are two ways to run the same work: give one")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise AnnokitError(f"--workers must be a whole number of at least 1, not {workers!r}")
    backend = Backend(workers=workers or 0, address=dask)
    if dask is not None:
        backend.client = _connect(dask)
    token = _backend.set(backend)
    try:
        yield backend
    finally:
        _backend.reset(token)
        if backend.pool is not None:
            backend.pool.terminate()  # an interrupted run must not wait for its workers
            backend.pool.join()
        if backend.client is not None:
            backend.client.close()


def _connect(address: str):
    try:
        from distributed import Client
    except ImportError:
        raise AnnokitError("--dask needs dask's distributed scheduler client: "
                           "pip install 'annokit[dask]'") from None
    try:
        return Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise AnnokitError(f"--dask {address}: cannot reach the scheduler ({reason})") from None


def partitions(items: Sequence, parts: int) -> list[Sequence]:
    """``items`` cut into at most ``parts`` consecutive slices of near-equal size, none
    above MAX_PARTITION items.

    Example:
        >>> [list(p) for p in partitions(list(range(5)), 2)]
        [[0, 1, 2], [3, 4]]
    """
    n = len(items)
    if not n:
        return []
    size = min(MAX_PARTITION, math.ceil(n / max(1, parts)))
    return [items[i:i + size] for i in range(0, n, size)]


def map_partitions(func: Callable[..., list], items: Sequence, *args,
                   label: str = "working") -> list:
    """``func(partition, *args)`` over consecutive partitions of ``items``; the lists it
    returns, joined in the order of ``items``.

    ``func`` must be pure and importable (a module-level function), and ``args`` picklable:
    on workers or a Dask cluster each partition is sent to another process. Any error in
    ``func`` is raised here.

    Example:
        >>> map_partitions(lambda part: [len(part)], "abcdef")
        [6]
    """
    backend = _current()
    if not backend.parallel:
        return func(items, *args) if len(items) else []
    workers = backend.workers or _dask_workers(backend.client)
    parts = partitions(items, workers * PARTITIONS_PER_WORKER)
    if backend.client is not None:
        results = _on_dask(backend.client, func, parts, args, label)
    else:
        results = _on_pool(backend, func, parts, args, label)
    return [row for part in results for row in part]


def map_each(func: Callable, jobs: Iterable, *args) -> Iterator:
    """``func(job, *args)`` for each job, yielded in the order of ``jobs``: one task per job.

    For few, large jobs (a K-fold fit and its fold's training rows): in-process each job is
    made and run in turn (one job's data alive at a time, as a plain loop); on workers or
    Dask the jobs are made as tasks are taken, at most one more than the workers waiting,
    so their data never all sits in memory at once. ``func`` and ``args`` as for
    :func:`map_partitions`; an error in ``func`` is raised here. No progress bar of its
    own: ``jobs`` may draw one as they are taken (``registry.out_of_fold`` does).

    Example:
        >>> list(map_each(pow, [1, 2, 3], 2))
        [1, 4, 9]
    """
    backend = _current()
    if not backend.parallel:
        for job in jobs:
            result = func(job, *args)
            del job  # not kept while the caller works on the result: one fold's rows at a time
            yield result
        return
    calls = ((_each, [job], (func, *args)) for job in jobs)
    if backend.client is not None:
        yield from _each_on_dask(backend.client, calls)
        return
    if backend.pool is None:
        backend.pool = _start_pool(backend.workers)
    # imap takes the next job only as the pipe to the workers drains: bounded memory
    for result in backend.pool.imap(_call, calls):
        yield result[0]


def _each(jobs: list, func: Callable, *args) -> list:
    return [func(_own_memory(job), *args) for job in jobs]


def _own_memory(job):
    """The job with each of its numpy arrays (also inside tuples and lists) in memory of
    its own, as in-process slicing makes it. Dask hands arrays over as views into its
    receive buffer, unaligned (float32 at odd addresses), and BLAS kernels then sum in
    another order: fits differed from the in-process ones in the 6th-7th digit."""
    import numpy as np

    if isinstance(job, np.ndarray):
        return job if job.flags.owndata and job.flags.aligned else job.copy()
    if isinstance(job, tuple):
        return tuple(_own_memory(x) for x in job)
    if isinstance(job, list):
        return [_own_memory(x) for x in job]
    return job


def _each_on_dask(client, calls: Iterator) -> Iterator:
    """Submit each call as the one before the window's first has finished: at most
    ``workers + 1`` jobs' data on the cluster at a time; results in order."""
    from collections import deque

    window = _dask_workers(client) + 1
    pending: deque = deque()
    try:
        for call in calls:
            # the job's arrays go straight to a worker, not inside the task's message
            data = client.scatter([call], hash=False)[0]
            pending.append(client.submit(_call, data, pure=False))
            if len(pending) > window:
                yield _result(pending.popleft())[0]
        while pending:
            yield _result(pending.popleft())[0]
    except BaseException:
        client.cancel(list(pending))
        raise


def _result(future):
    """A Dask task's result; one line where a worker cannot import annokit's code."""
    try:
        return future.result()
    except ImportError as e:  # a worker without annokit (or another version of it)
        raise AnnokitError(f"a Dask worker cannot run annokit's code ({e}); install the same "
                           "annokit on every worker (docs/parallel.md)") from None


def _dask_workers(client) -> int:
    return max(1, len(client.scheduler_info(n_workers=-1).get("workers", {})))


def _on_dask(client, func, parts: list, args: tuple, label: str) -> list:
    futures = [client.submit(_call, (func, part, args), pure=False) for part in parts]
    try:  # in order: the results are joined in the order of the items anyway
        return [_result(f) for f in track(futures, label, total=len(parts), min_items=1)]
    except BaseException:
        client.cancel(futures)
        raise


def _on_pool(backend: Backend, func, parts: list, args: tuple, label: str) -> list:
    if backend.pool is None:  # one pool for every map of the block: started once
        backend.pool = _start_pool(backend.workers)
    calls = [(func, part, args) for part in parts]
    return list(track(backend.pool.imap(_call, calls), label, total=len(parts), min_items=1))


def _start_pool(workers: int):
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    # forkserver: workers fork from a clean server that imported annokit once (no copy of
    # this process's threads or open files); spawn where the system has no fork
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if "forkserver" in methods:
        context.set_forkserver_preload(["annokit.images"])
    # the resource tracker (its own process, started with this environment) warns of the
    # pool's semaphores when a signal ends the run: a second stderr line after our one line
    quiet = "ignore::UserWarning:multiprocessing.resource_tracker"
    os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [os.environ.get("PYTHONWARNINGS"),
                                                          quiet]))
    return context.Pool(workers, initializer=_worker_start)


def _worker_start() -> None:
    """Ctrl-C and SIGTERM are the parent's to handle: it ends the pool; a worker says
    nothing (no traceback per process on Ctrl-C)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _call(job: tuple) -> list:
    """Run one partition with one BLAS/OpenMP thread: a worker is one core, and a fixed
    thread count keeps floating-point results the same as in-process (the scorer runs
    under one thread too)."""
    func, part, args = job
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return func(part, *args)
    with threadpool_limits(1):
        return func(part, *args)
