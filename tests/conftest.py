"""Shared test helpers: where the real datasets are, and comparing datasets by content."""
from __future__ import annotations

import os
import uuid
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"


NO_SHARED = "the real datasets live in ../shared/datasets"


def shared_dataset(*parts: str) -> Path:
    """Path to a real dataset under ../shared/datasets, or skip the test with a message."""
    path = SHARED_DATASETS.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: {NO_SHARED}")
    return path


def pytest_report_teststatus(report, config):
    """Tests skipped for want of ../shared/datasets get their own count in the summary
    line ("55 skipped without ../shared/datasets"), not hidden among the other skips."""
    if report.skipped and NO_SHARED in str(report.longrepr):
        return "skipped without ../shared/datasets", "s", "SKIPPED (no ../shared/datasets)"
    return None


def dataset(annotations: dict | None = None, *, images: int | dict = 1,
            categories: tuple | list | dict = ("car", "person"), size: tuple | None = (100, 80),
            file_name: str = "img_{:05d}.jpg", meta: dict | None = None, **image_columns):
    """The one builder of small hand-made datasets for unit tests.

    Columns not given are filled: annotation ids 1..n, image 1, category 1, the box
    (1, 1, 5, 5); ``images=n`` makes images 1..n named by ``file_name``, of ``size``
    (``None``: no width or height) plus ``image_columns``; ``categories`` as names (ids
    1..) or as columns. A dict for ``images`` or ``categories`` is used as given.

    Example:
        >>> ds = dataset({"image_id": [1, 2], "category_id": [2, 1]}, images=2)
        >>> ds.annotations["id"].tolist()
        [1, 2]
    """
    from annokit import Dataset

    anns = dict(annotations or {})
    n = max((len(v) for v in anns.values() if not np.isscalar(v)), default=0)
    for column, value in (("id", range(1, n + 1)), ("image_id", 1), ("category_id", 1),
                          ("x", 1.0), ("y", 1.0), ("w", 5.0), ("h", 5.0)):
        anns.setdefault(column, value)
    if not isinstance(categories, dict):
        categories = {"id": range(1, len(categories) + 1), "name": list(categories)}
    if not isinstance(images, dict):
        images = {"id": range(1, images + 1),
                  "file_name": [file_name.format(i) for i in range(1, images + 1)],
                  **({"width": size[0], "height": size[1]} if size else {})}
    return Dataset(pd.DataFrame(categories), pd.DataFrame({**images, **image_columns}),
                   pd.DataFrame(anns, index=range(n)), meta=meta or {})


def _content(ds, columns):
    """Annotations joined with file and category names, in a canonical order."""
    names = ds.categories.set_index("id")["name"]
    files = ds.images.set_index("id")["file_name"]
    table = ds.annotations.assign(
        category=ds.annotations["category_id"].map(names),
        file_name=ds.annotations["image_id"].map(files))
    keep = ["file_name", "category", "kind", "x", "y", "w", "h", *columns]
    table = table[[c for c in keep if c in table]]
    # sort on rounded boxes: formats that store fewer decimals must not reorder near-equal ones
    key = table[["x", "y", "w", "h"]].round(1).add_prefix("_")
    table = pd.concat([table, key], axis=1).sort_values(
        ["file_name", "_x", "_y", "_w", "_h", "category"], kind="stable")
    return table.drop(columns=key.columns).reset_index(drop=True)


def _paired(ca, cb):
    """``cb`` reordered so each row faces its nearest box in ``ca`` within the same file,
    category and kind: a rounded sort key alone can order near-equal boxes differently
    on either side of a rounding boundary."""
    from scipy.optimize import linear_sum_assignment

    group = ["file_name", "category", "kind"]
    group = [g for g in group if g in ca]
    order = np.arange(len(cb))
    keys_a = ca[group].astype(str).agg("|".join, axis=1).to_numpy()
    keys_b = cb[group].astype(str).agg("|".join, axis=1).to_numpy()
    if not (keys_a == keys_b).all():
        return cb  # different groups: let the column comparison say where
    for key in np.unique(keys_a):
        rows = np.flatnonzero(keys_a == key)
        if len(rows) < 2:
            continue
        boxes_a = ca[["x", "y", "w", "h"]].to_numpy(float)[rows]
        boxes_b = cb[["x", "y", "w", "h"]].to_numpy(float)[rows]
        cost = np.nan_to_num(np.abs(boxes_a[:, None] - boxes_b[None]).sum(axis=2), nan=1e12)
        _, pick = linear_sum_assignment(cost)
        order[rows] = rows[pick]
    return cb.iloc[order].reset_index(drop=True)


def assert_same_content(a, b, *, columns=(), image_columns=("width", "height"),
                        keep_ids=False, atol=1e-6, splits=True):
    """Assert two datasets hold the same images, categories and annotations.

    Compared by content (file names and category names), so ids may differ unless
    ``keep_ids``; ``columns`` are extra annotation columns that must also agree.
    """
    assert sorted(a.categories["name"]) == sorted(b.categories["name"])
    img_cols = ["file_name", *image_columns] + (["split"] if splits else [])
    ia = a.images[img_cols].sort_values("file_name").reset_index(drop=True)
    ib = b.images[img_cols].sort_values("file_name").reset_index(drop=True)
    pd.testing.assert_frame_equal(ia, ib, check_dtype=False)
    ca, cb = _content(a, columns), _content(b, columns)
    assert len(ca) == len(cb), f"{len(ca)} annotations != {len(cb)}"
    cb = _paired(ca, cb)
    for col in ca.columns:
        if col in ("x", "y", "w", "h"):
            np.testing.assert_allclose(ca[col].to_numpy(float), cb[col].to_numpy(float),
                                       atol=atol, err_msg=col)
        else:
            assert ca[col].astype(object).tolist() == cb[col].astype(object).tolist(), col
    if keep_ids:
        for frame in ("categories", "images", "annotations"):
            assert sorted(getattr(a, frame)["id"]) == sorted(getattr(b, frame)["id"]), frame


def checks_of(family: str) -> list:
    """(id, Check) of every registered check whose id starts with ``family.``."""
    from annokit.checks import CHECKS

    return [(k, c) for k, c in CHECKS.items() if k.startswith(family + ".")]


def assert_finding_columns(found, check_id: str = "") -> None:
    """The finding schema: FINDING_COLUMNS in order, then only optional extras."""
    from annokit.checks import FINDING_COLUMNS, FINDING_EXTRAS

    columns = list(found.columns)
    assert columns[:len(FINDING_COLUMNS)] == FINDING_COLUMNS, check_id
    assert set(columns[len(FINDING_COLUMNS):]) <= set(FINDING_EXTRAS), check_id


def assert_no_findings(ds, family: str) -> None:
    """Every check of ``family`` finds nothing on ``ds``, in the finding schema, and
    leaves the data as it was (checks never mutate)."""
    from annokit.checks import Thresholds

    before = ds.copy()
    for check_id, c in checks_of(family):
        found = c.func(ds, Thresholds())
        assert_finding_columns(found, check_id)
        assert len(found) == 0, (check_id, found["message"].tolist())
    for frame in ("categories", "images", "annotations"):
        pd.testing.assert_frame_equal(getattr(ds, frame), getattr(before, frame))


def run_cli(*args) -> tuple[int, str, str]:
    """Run the ``annokit`` CLI in-process: exit code, stdout, stderr."""
    from click.testing import CliRunner

    from annokit.cli import main

    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


# -- FiftyOne (tests/test_fiftyone.py, tests/hostile/test_hostile_fiftyone.py) ----------

def _private_mongod(folder: Path):
    """Start FiftyOne's bundled ``mongod`` for this test session alone; return the process
    and its URI, or (None, None) when there is no bundled ``mongod``.

    FiftyOne otherwise shares one MongoDB among all processes of a user, so that a test
    session running beside another one (the same user) joins its database and fails when
    that session ends and stops it."""
    import importlib.util
    import socket
    import subprocess
    import time

    spec = importlib.util.find_spec("fiftyone")
    mongod = Path(spec.origin).parent / "db" / "bin" / "mongod" if spec else None
    if mongod is None or not os.access(mongod, os.X_OK):
        return None, None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (folder / "log").mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([str(mongod), "--dbpath", str(folder), "--port", str(port),
                             "--bind_ip", "127.0.0.1", "--nounixsocket",
                             "--logpath", str(folder / "log" / "mongo.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"mongodb://127.0.0.1:{port}"
        time.sleep(0.2)
    proc.kill()
    return None, None


@pytest.fixture(scope="module")
def cluster():
    """A real distributed.LocalCluster: two worker processes, one thread each (one per
    test module that asks for it)."""
    distributed = pytest.importorskip("distributed", reason="pip install annokit[dask]")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as local:
            yield local.scheduler_address


@pytest.fixture(scope="session")
def fo(tmp_path_factory):
    """The real fiftyone module on a private database (its own ``mongod`` where FiftyOne
    bundles one); dropped at the end of the session. The environment it sets is restored
    however the session ends, a skip included."""
    import importlib.util

    if importlib.util.find_spec("fiftyone") is None:
        pytest.skip("fiftyone is not installed (pip install -e '.[fiftyone]'; CI installs it)")
    name = f"annokit-test-{uuid.uuid4().hex[:8]}"
    folder = tmp_path_factory.mktemp("fiftyone-db")
    env = {"FIFTYONE_DATABASE_DIR": str(folder),
           "FIFTYONE_DATABASE_NAME": name, "FIFTYONE_DO_NOT_TRACK": "true",
           "FIFTYONE_DATABASE_VALIDATION": "false", "FIFTYONE_SHOW_PROGRESS_BARS": "false"}
    old = {k: os.environ.get(k) for k in [*env, "FIFTYONE_DATABASE_URI"]}
    mongod, uri = (None, None) if os.environ.get("FIFTYONE_DATABASE_URI") else \
        _private_mongod(folder)
    if uri:
        env["FIFTYONE_DATABASE_URI"] = uri  # the subprocesses the tests start use it too
    os.environ.update(env)
    try:
        yield _fiftyone_on(name)
    finally:
        _stop(mongod)
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _fiftyone_on(name: str):
    """fiftyone, its database called ``name`` started; skip when fiftyone was imported
    before the environment could name it."""
    import fiftyone

    if fiftyone.config.database_name != name:
        pytest.skip("fiftyone was imported before this session could give it a private "
                    "database")
    fiftyone.list_datasets()  # starts MongoDB
    return fiftyone


def _stop(mongod) -> None:
    """Drop this session's database (if FiftyOne started) and stop its ``mongod``."""
    import sys

    fiftyone = sys.modules.get("fiftyone")
    name = os.environ.get("FIFTYONE_DATABASE_NAME")
    if fiftyone is not None and fiftyone.config.database_name == name:
        from fiftyone.core.odm import database

        fiftyone.close_app()
        fiftyone.delete_datasets("*")
        database.get_db_client().drop_database(name)
        if mongod is not None:
            database._disconnect()
    if mongod is not None:
        mongod.terminate()
        mongod.wait(timeout=60)


@pytest.fixture
def victim(tmp_path):
    """Three BCCD images with their VOC files, copied under ``tmp_path/victim``: a dataset
    the test may lose (tests/test_fiftyone.py, tests/hostile/test_hostile_fiftyone.py)."""
    import shutil

    src = shared_dataset("bccd", "BCCD")
    root = tmp_path / "victim"
    for folder, suffix in (("Annotations", ".xml"), ("JPEGImages", ".jpg")):
        (root / folder).mkdir(parents=True)
        for k in range(3):
            shutil.copy(src / folder / f"BloodImage_0000{k}{suffix}", root / folder)
    return root
