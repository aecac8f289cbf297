"""annokit: convert, check, split and score computer-vision annotation datasets.

Example:
    >>> import annokit
    >>> ds = annokit.read("fixtures/shapes/voc")          # doctest: +SKIP
    >>> ds.write("out/coco", "coco")                     # doctest: +SKIP
"""
from .errors import AnnokitError, FormatError, Problems
from .formats import convert, detect, read, write
from .model import Dataset
from .checks import check
from .report import report
from .score import Scores, score

__version__ = "0.1.0"
__all__ = ["AnnokitError", "Dataset", "FormatError", "Problems", "check", "convert", "detect",
           "read", "report", "score", "Scores", "write", "__version__"]
