"""A progress bar for long work, shown on a terminal and silent in pipes or under --quiet."""
from __future__ import annotations

import sys
from typing import Iterable, Iterator, Sized, TypeVar

import click

T = TypeVar("T")
QUIET = False  # set by the CLI's --quiet
MIN_ITEMS = 2000  # below this the work is too quick for a bar to help


def track(items: Iterable[T], label: str, total: int | None = None,
          min_items: int = MIN_ITEMS) -> Iterator[T]:
    """Iterate over ``items``, drawing a bar on stderr when it is a terminal.

    ``min_items``: fewer items than this get no bar (quick work); slow items (training
    folds, iterations) ask for a bar whatever their number with ``min_items=1``.

    Example:
        >>> sum(track(range(3), "counting"))
        3
    """
    total = total if total is not None else (len(items) if isinstance(items, Sized) else None)
    if QUIET or not sys.stderr.isatty() or (total is not None and total < min_items):
        yield from items
        return
    with click.progressbar(items, length=total, label=label, file=sys.stderr) as bar:
        yield from bar
