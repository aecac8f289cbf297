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

__version__ = "0.1.0"
__all__ = ["AnnokitError", "Dataset", "FormatError", "Problems", "check", "convert", "detect",
           "from_fiftyone", "read", "report", "to_fiftyone", "write", "__version__"]

_LAZY = {"to_fiftyone": "integrations.fiftyone", "from_fiftyone": "integrations.fiftyone"}


def __getattr__(name: str):
    """Heavy parts load on first use, so ``import annokit`` stays light."""
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'annokit' has no attribute {name!r}")
