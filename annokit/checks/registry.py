"""The check registry: the finding table's columns, thresholds, and ``@register``.

Each check family module (geometry, labels, balance, images) imports this module and
registers its checks with ``@register(check_id, severity)``; ``annokit.checks`` imports
every family when it is imported, so the registry is full before any check runs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, TypeVar

import numpy as np
import pandas as pd

from ..model import Dataset

FINDING_COLUMNS = ["check", "severity", "image_id", "annotation_id", "category_id",
                   "message", "value"]
FINDING_EXTRAS = ["images"]  # optional columns; the JSON report writes them where set
SEVERITIES = ("error", "warning", "info")
SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class Thresholds:
    """Every tunable number of the checks, with defaults that suit most datasets."""

    edge_tolerance: float = 2.0          # px a box may spill over the image border
    min_box_area: float = 16.0           # px^2; smaller boxes are "tiny"
    min_box_side: float = 2.0            # px; a thinner box is "tiny"
    max_aspect_ratio: float = 15.0       # max(w/h, h/w) above this is extreme
    whole_image_fraction: float = 0.95   # box area / image area at or above: covers the image
    duplicate_iou: float = 0.9           # same class, same image, IoU at or above: duplicate
    conflict_iou: float = 0.8            # different classes at or above: label conflict
    outlier_z: float = 4.0               # robust z-score (median/MAD) of log size or aspect
    outlier_min_count: int = 20          # classes with fewer boxes are not outlier-tested
    polygon_area_tolerance: float = 0.2  # relative gap between polygon area and `area`
    name_edit_distance: int = 1          # category names this close are near-duplicates
    attribute_majority: float = 0.9      # an attribute on at least this share of a class...
    min_class_count: int = 10            # instances below this: a rare class
    imbalance_ratio: float = 10.0        # largest / smallest class count above this: warn
    split_share_tolerance: float = 0.1   # a class's share differing more between splits: warn
    phash_distance: int = 4              # perceptual-hash Hamming distance for near-duplicates


# What each threshold flags and in what unit: `annokit check --help` prints these, so a
# user choosing a number need not read the source (docs/checks.md has the same table).
THRESHOLD_HELP = {
    "edge_tolerance": "Pixels a box, point or polygon may spill over the image border "
                      "(or a polygon over its box) before it is flagged as out of bounds.",
    "min_box_area": "Boxes with an area below this many square pixels are flagged tiny.",
    "min_box_side": "Boxes with a width or height below this many pixels are flagged tiny.",
    "max_aspect_ratio": "Boxes whose max(w/h, h/w) exceeds this ratio are flagged extreme.",
    "whole_image_fraction": "Boxes covering at least this fraction (0-1) of the image area "
                            "are flagged as covering the whole image.",
    "duplicate_iou": "Two boxes of the same class in one image overlapping at or above "
                     "this IoU (0-1) are flagged near-duplicates.",
    "conflict_iou": "Two boxes of different classes in one image overlapping at or above "
                    "this IoU (0-1) are flagged as a label conflict.",
    "outlier_z": "Boxes (and images) whose log size or aspect is more than this robust "
                 "z-score (median/MAD) from their class's are flagged outliers.",
    "outlier_min_count": "Classes with fewer boxes than this (and datasets with fewer sized "
                         "images) are not tested for outliers.",
    "polygon_area_tolerance": "Polygons whose area differs from the stated 'area' by more "
                              "than this relative gap (0-1) are flagged.",
    "name_edit_distance": "Category names at most this many character edits apart are "
                          "flagged as near-duplicate names.",
    "attribute_majority": "An attribute present on at least this share (0-1) of a class's "
                          "objects is flagged where one of them lacks it.",
    "min_class_count": "Classes with fewer instances than this are flagged rare.",
    "imbalance_ratio": "The dataset is flagged imbalanced when its largest class has more "
                       "than this many times the instances of its smallest.",
    "split_share_tolerance": "A class whose share of the instances differs by more than "
                             "this (0-1) between splits is flagged.",
    "phash_distance": "Images whose perceptual hashes differ in at most this many of 64 "
                      "bits are flagged near-duplicates.",
}


@dataclass(frozen=True)
class Check:
    id: str
    severity: str
    func: Callable[[Dataset, Thresholds], pd.DataFrame]
    needs_images: bool = False


CHECKS: dict[str, Check] = {}
CheckFunction = TypeVar("CheckFunction", bound=Callable[[Dataset, Thresholds], pd.DataFrame])


def register(check_id: str, severity: str, needs_images: bool = False
             ) -> Callable[[CheckFunction], CheckFunction]:
    """Decorator adding a check function to the registry under ``check_id``."""
    assert severity in SEVERITIES, severity

    def add(func: CheckFunction) -> CheckFunction:
        CHECKS[check_id] = Check(check_id, severity, func, needs_images)
        return func
    return add


def findings(check_id: str, message, *, image_id=None, annotation_id=None,
             category_id=None, value=np.nan, severity: str | None = None) -> pd.DataFrame:
    """Build finding rows from columns (arrays or scalars broadcast to the longest).

    Example:
        >>> findings("geometry.zero_size", ["w=0", "h=0"], image_id=[1, 2],
        ...          annotation_id=[5, 6], value=[0.0, 0.0])[["check", "image_id", "value"]]
                        check  image_id  value
        0  geometry.zero_size         1    0.0
        1  geometry.zero_size         2    0.0
    """
    columns = {"message": message, "image_id": image_id, "annotation_id": annotation_id,
               "category_id": category_id, "value": value}
    n = max((len(v) for v in columns.values() if _is_array(v)), default=1)
    frame = pd.DataFrame(index=pd.RangeIndex(n))
    frame["check"] = check_id
    frame["severity"] = severity or (CHECKS[check_id].severity if check_id in CHECKS
                                     else "warning")
    for name in ("image_id", "annotation_id", "category_id"):
        values = columns[name]
        frame[name] = pd.array(values if _is_array(values) else [values] * n, dtype="Int64")
    frame["message"] = np.asarray(message, dtype=object) if _is_array(message) else message
    frame["value"] = np.asarray(value, dtype=np.float64) if _is_array(value) else float(value)
    return frame[FINDING_COLUMNS]


def _is_array(v) -> bool:
    return isinstance(v, (list, tuple, np.ndarray, pd.Series, pd.Index,
                          pd.api.extensions.ExtensionArray))


def empty_findings() -> pd.DataFrame:
    return findings("none", []).iloc[:0]
