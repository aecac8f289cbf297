"""Edit datasets: class maps, filters, merge, apply reviewed fixes, diff two versions.

Plain functions on the columnar model; each returns a new Dataset and leaves its input
as it was.

Example:
    >>> from annokit import edit
    >>> ds2 = edit.map_classes(ds, "RBC=red_blood_cell")          # doctest: +SKIP
    >>> ds3 = edit.where(ds2, "w * h >= 36")                      # doctest: +SKIP
    >>> merged, notes = edit.merge([ds2, other], ["a", "b"])      # doctest: +SKIP
    >>> fixed, log = edit.apply_fixes(ds, "scores.json")          # doctest: +SKIP
    >>> edit.diff(ds, fixed).totals()                             # doctest: +SKIP
"""
from .apply import apply_fixes
from .classes import (apply_class_options, drop_classes, keep_classes, map_classes,
                      parse_class_map)
from .diff import DatasetDiff, diff, format_diff
from .merge import merge
from .where import drop_empty_images, sample_images, where
from .where import parse as where_parse

__all__ = ["DatasetDiff", "apply_class_options", "apply_fixes", "diff", "drop_classes",
           "drop_empty_images", "format_diff", "keep_classes", "map_classes", "merge",
           "parse_class_map", "sample_images", "where", "where_parse"]
