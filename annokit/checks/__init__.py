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
``@register(check_id, severity)`` (:mod:`annokit.checks.registry`); a check is
``func(ds, thresholds) -> DataFrame`` built with :func:`findings` from whole columns at
once. Importing ``annokit.checks`` imports every family, so ``CHECKS`` is complete.
"""
from __future__ import annotations

import math
import os
import sys
from dataclasses import fields, replace
from pathlib import Path
from typing import Sequence

import pandas as pd

from ..errors import AnnokitError
from ..fileio import MAX_CONFIG_BYTES, load_yaml, read_regular
from ..model import Dataset
from . import balance, geometry, labels  # noqa: F401 (each registers its checks)
from . import images as image_checks  # noqa: F401 (``images`` is check()'s argument)
from .registry import (CHECKS, FINDING_COLUMNS, FINDING_EXTRAS, SEVERITIES,  # noqa: F401
                       SEVERITY_RANK, Check, Thresholds, empty_findings, findings, register)


FRACTIONS = {"whole_image_fraction", "duplicate_iou", "conflict_iou", "attribute_majority",
             "split_share_tolerance", "polygon_area_tolerance"}


def threshold_range(name: str) -> tuple[float, float]:
    """The values a threshold may take: fractions in [0, 1], other numbers bounded.

    Example:
        >>> threshold_range("duplicate_iou"), threshold_range("phash_distance")
        ((0.0, 1.0), (0.0, 64.0))
    """
    if name in FRACTIONS:
        return 0.0, 1.0
    if name == "phash_distance":
        return 0.0, 64.0  # a 64-bit hash
    if name == "max_aspect_ratio":
        return 1.0, 1e6
    return 0.0, 1e9


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
    # /dev/zero, a FIFO, a link loop: one line, never a hang
    data = read_regular(path, limit=MAX_CONFIG_BYTES, what="config file")
    try:
        text = data.decode("utf-8")
        if path.suffix.lower() == ".toml":
            if sys.version_info >= (3, 11):
                import tomllib
            else:
                import tomli as tomllib
            config = tomllib.loads(text)
        else:
            config = load_yaml(text, path) or {}
    except AnnokitError:
        raise
    except OSError as e:
        raise AnnokitError(f"{path}: cannot read config: {e.strerror or e}") from None
    except Exception as e:  # a syntax error in either language
        raise AnnokitError(f"{path}: bad config: {e}".splitlines()[0]) from None
    if not isinstance(config, dict):
        raise AnnokitError(f"{path}: bad config: expected a table of settings")
    known = {"fail_on", "skip", "thresholds", "severity"}
    unknown = set(config) - known
    if unknown:
        shown = [str(k)[:30] for k in sorted(unknown, key=str)[:5]]  # a typo, not the file
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise AnnokitError(f"{path}: unknown config keys {shown}{more}; "
                           f"expected {sorted(known)}")
    skip, severity = config.get("skip", []), config.get("severity") or {}
    if not isinstance(skip, list) or not all(isinstance(x, str) for x in skip):
        raise AnnokitError(f"{path}: skip must be a list of check ids")
    if not isinstance(severity, dict) or not all(isinstance(v, str) for v in severity.values()):
        raise AnnokitError(f"{path}: severity must be a table of check id = severity")
    limits = config.get("thresholds") or {}
    if not isinstance(limits, dict):
        raise AnnokitError(f"{path}: thresholds must be a table of name = number")
    try:
        make_thresholds(**limits)
    except AnnokitError as e:
        raise AnnokitError(f"{path}: {e}") from None
    return config


def make_thresholds(**values) -> Thresholds:
    """Thresholds with the given values, refusing names that do not exist.

    Example:
        >>> make_thresholds(min_box_area=36).min_box_area
        36
    """
    kinds = {f.name: f.type for f in fields(Thresholds)}
    unknown = set(values) - set(kinds)
    if unknown:
        raise AnnokitError(f"unknown thresholds {sorted(unknown)}; known: {sorted(kinds)}")
    for name, value in values.items():
        low, high = threshold_range(name)
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or not math.isfinite(value) or not low <= value <= high \
                or (kinds[name] == "int" and value != int(value)):
            kind = "an integer" if kinds[name] == "int" else "a number"
            raise AnnokitError(f"threshold {name} must be {kind} in [{low:g}, {high:g}], "
                               f"not {value!r}")
    return replace(Thresholds(), **values)


def check(ds: Dataset, *, checks: Sequence[str] | None = None, skip: Sequence[str] = (),
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
    if not len(ds.images):  # "no findings" would claim a clean dataset
        raise AnnokitError("nothing to check: the dataset has no images")
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
