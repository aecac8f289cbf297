"""annokit: convert, check, split and score computer-vision annotation datasets.

Example:
    >>> import annokit
    >>> ds = annokit.read("fixtures/shapes/voc")          # doctest: +SKIP
    >>> annokit.write(ds, "out/coco", "coco")           # doctest: +SKIP
"""
from .errors import AnnokitError, FormatError, Problems
from .formats import convert, detect, read, write
from .model import Dataset
from .checks import check
from .report import report
from .version import __version__

__all__ = ["AnnokitError", "Dataset", "FormatError", "Problems", "check", "convert", "detect",
           "read", "report", "write", "__version__"]
