"""Validators: each check reads a Dataset and returns findings as rows; none mutates it.

A finding row has the columns of ``FINDING_COLUMNS``:

``check``          the check id, e.g. ``geometry.zero_size``
``severity``       ``error`` | ``warning`` | ``info``
``image_id``       the image concerned (NA for dataset-level findings)
``annotation_id``  the annotation concerned, where there is one (else NA)
``category_id``    the category concerned, where there is one (else NA)
``message``        one human-readable line
``value``          the measured number the check compared with its threshold (NaN if none)

and may add those of ``FINDING_EXTRAS``:

``images``         a category-level finding (similar name, rare class): the file names of
                   up to 20 images holding the category it names, so it can be fixed

Each check module (geometry, labels, balance, images) registers its checks with
``@register(check_id, severity)``; a check is ``func(ds, thresholds) -> DataFrame`` built
with :func:`findings` from whole columns at once.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from ..errors import AnnokitError
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


@dataclass(frozen=True)
class Check:
    id: str
    severity: str
    func: Callable[[Dataset, Thresholds], pd.DataFrame]
    needs_images: bool = False


CHECKS: dict[str, Check] = {}


def register(check_id: str, severity: str, needs_images: bool = False):
    """Decorator adding a check function to the registry under ``check_id``."""
    assert severity in SEVERITIES, severity

    def add(func):
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


def load_config(path: str | os.PathLike) -> dict:
    """Read a check config (TOML or YAML) beside the data.

    Layout (TOML shown; YAML has the same keys)::

        fail_on = "error"                  # error | warning | never
        skip = ["images.near_duplicate"]   # check ids (or prefixes) to leave out
        [thresholds]
        min_box_area = 36
        [severity]
        "geometry.tiny" = "error"
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                import tomli as tomllib
            config = tomllib.loads(text)
        else:
            import yaml

            config = yaml.safe_load(text) or {}
    except OSError as e:
        raise AnnokitError(f"{path}: cannot read config: {e.strerror or e}") from None
    except Exception as e:  # a syntax error in either language
        raise AnnokitError(f"{path}: bad config: {e}".splitlines()[0]) from None
    if not isinstance(config, dict):
        raise AnnokitError(f"{path}: bad config: expected a table of settings")
    known = {"fail_on", "skip", "thresholds", "severity"}
    unknown = set(config) - known
    if unknown:
        raise AnnokitError(f"{path}: unknown config keys {sorted(unknown)}; "
                           f"expected {sorted(known)}")
    return config


def make_thresholds(**values) -> Thresholds:
    """Thresholds with the given values, refusing names that do not exist.

    Example:
        >>> make_thresholds(min_box_area=36).min_box_area
        36
    """
    names = {f.name for f in fields(Thresholds)}
    unknown = set(values) - names
    if unknown:
        raise AnnokitError(f"unknown thresholds {sorted(unknown)}; known: {sorted(names)}")
    return replace(Thresholds(), **values)


def check(ds: Dataset, *, checks: list[str] | None = None, skip: list[str] = (),
          images: bool = True, severity: dict[str, str] | None = None,
          **thresholds) -> pd.DataFrame:
    """Run the checks on ``ds`` and return every finding, worst first.

    ``checks``/``skip`` select check ids or prefixes (``"geometry"``); ``images=False``
    leaves out the checks that open image files; ``severity`` overrides a check's
    severity; other keywords set :class:`Thresholds`.

    Example:
        >>> found = check(ds, min_box_area=36, skip=["images"])  # doctest: +SKIP
        >>> found.groupby("check").size()  # doctest: +SKIP
    """
    from . import balance, geometry, images as image_checks, labels  # noqa: F401 (register)

    limits = make_thresholds(**thresholds)
    severity = severity or {}
    bad = set(severity.values()) - set(SEVERITIES)
    if bad:
        raise AnnokitError(f"unknown severities {sorted(bad)}; use {', '.join(SEVERITIES)}")
    selected = [c for c in CHECKS.values()
                if (checks is None or _matches(c.id, checks)) and not _matches(c.id, skip)
                and (images or not c.needs_images)]
    parts = []
    for c in selected:
        found = c.func(ds, limits)
        if len(found):
            found = found.assign(severity=severity.get(c.id, c.severity)) \
                if c.id in severity else found
            parts.append(found)
    if not parts:
        return empty_findings()
    result = pd.concat(parts, ignore_index=True)
    rank = result["severity"].map(SEVERITY_RANK)
    return result.assign(_rank=rank).sort_values(["_rank", "check", "image_id"], kind="stable") \
        .drop(columns="_rank").reset_index(drop=True)


def _matches(check_id: str, patterns) -> bool:
    return any(check_id == p or check_id.startswith(p.rstrip(".") + ".") for p in patterns)
