"""annokit: convert, check, split and score computer-vision annotation datasets.

Example:
    >>> import annokit
    >>> ds = annokit.read("fixtures/shapes/voc")          # doctest: +SKIP
    >>> annokit.write(ds, "out/coco", "coco")           # doctest: +SKIP
"""
import os as _os
import sys as _sys


def _quit_while_importing(signum, frame):  # nothing is written yet: leave at once
    _os.write(2, b"annokit: interrupted; nothing was written\n")
    _os._exit(130)


if _os.path.basename(_sys.argv[0]) == "annokit" or _sys.orig_argv[1:3] == ["-m", "annokit"]:
    import signal as _signal  # the command line: Ctrl-C during the heavy imports is one line

    _signal.signal(_signal.SIGINT, _quit_while_importing)  # cli.run() restores Ctrl-C

from .errors import AnnokitError, FormatError, Problems
from .formats import convert, detect, read, write
from .model import Dataset
from .notes import Note, Notes
from .checks import check
from .report import report
from .score import Scores, score
from .edit import apply_fixes, diff, drop_classes, keep_classes, map_classes, merge, where
from .version import __version__

__all__ = ["AnnokitError", "Dataset", "FormatError", "Note", "Notes", "Problems", "Scores",
           "check", "convert",
           "detect", "from_fiftyone", "read", "report", "score", "to_fiftyone", "write",
           "__version__"]
__all__ += ["apply_fixes", "diff", "drop_classes", "keep_classes", "map_classes", "merge",
            "where"]  # annokit.edit

_LAZY = {"to_fiftyone": "integrations.fiftyone", "from_fiftyone": "integrations.fiftyone"}


def __getattr__(name: str):
    """Heavy parts load on first use, so ``import annokit`` stays light."""
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'annokit' has no attribute {name!r}")
