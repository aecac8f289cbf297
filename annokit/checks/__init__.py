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

import os
from dataclasses import fields, replace
from pathlib import Path

import pandas as pd

from ..errors import AnnokitError
from ..model import Dataset
from . import balance, geometry, labels  # noqa: F401 (each registers its checks)
from . import images as image_checks  # noqa: F401 (``images`` is check()'s argument)
from .registry import (CHECKS, FINDING_COLUMNS, FINDING_EXTRAS, SEVERITIES,  # noqa: F401
                       SEVERITY_RANK, Check, Thresholds, empty_findings, findings, register)


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
