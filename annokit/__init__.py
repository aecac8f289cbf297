"""annokit: convert, check, split and score computer-vision annotation datasets.

Example:
    >>> import annokit
    >>> ds = annokit.read("fixtures/shapes/voc")          # doctest: +SKIP
    >>> ds.write("out/coco", "coco")                     # doctest: +SKIP
"""
import os as _os
import sys as _sys

try:
    from .errors import AnnokitError, FormatError, Problems
    from .formats import convert, detect, read, write
    from .model import Dataset
    from .checks import check
    from .report import report
except KeyboardInterrupt:  # Ctrl-C during the start-up imports of the command line
    if _os.path.basename(_sys.argv[0]) == "annokit" or _sys.orig_argv[1:3] == ["-m", "annokit"]:
        _sys.stderr.write("annokit: interrupted; nothing was written\n")
        _sys.exit(130)
    raise

__version__ = "0.1.0"
__all__ = ["AnnokitError", "Dataset", "FormatError", "Problems", "check", "convert", "detect",
           "read", "report", "write", "__version__"]
