"""QC report: JSON for pipelines, one self-contained HTML page for people.

The JSON holds a dataset summary, per-class counts, finding counts per check and
severity, and every finding (schema in ``annokit/report_schema.json``, documented in
docs/report.md). The HTML page is rendered from Jinja2 templates with autoescaping and needs
no network: its CSS and JavaScript are package files inlined into the page, plots are inline
SVG, thumbnails are base64 JPEGs.

The package, one idea a module: ``summary`` (the data both reports share), ``scores``
(the scorer's tables in the report), ``text`` (the terminal table), ``charts`` and ``plots``
(which charts, and their geometry), ``thumbnails`` (images with boxes drawn), ``sections``
and ``gallery`` (what each part of the page shows), ``render`` (templates to HTML).

Example:
    >>> from annokit.checks import check
    >>> found = check(ds)                                # doctest: +SKIP
    >>> report(ds, found, "qc.html")                     # doctest: +SKIP
    PosixPath('qc.html')
"""
from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

import orjson
import pandas as pd

from ..errors import AnnokitError
from ..fileio import check_output, write_file_atomic
from ..model import Dataset
from ..notes import Notes
from .charts import MAX_SCATTER_POINTS
from .plots import PALETTE
from .scores import prepare_scores, scores_json, scores_summary
from .sections import MAX_TABLE_ROWS
from .summary import (SCHEMA_MINOR, SCHEMA_VERSION, finding_records, prepare_findings,
                      summarise)
from .text import summary_table
from .thumbnails import FIX_COLOUR

__all__ = ["report", "to_json_dict", "json_schema", "summary_table", "scores_summary",
           "SCHEMA_VERSION", "SCHEMA_MINOR", "MAX_TABLE_ROWS", "MAX_SCATTER_POINTS", "PALETTE",
           "FIX_COLOUR"]


def report(ds: Dataset, findings: pd.DataFrame, path: str | os.PathLike, *,
           title: str | None = None, thumbnails: int = 12, overwrite: bool = True,
           protect: tuple = (), scores=None) -> Path:
    """Write the QC report at ``path``: JSON when it ends in .json, HTML for .html/.htm.

    Written atomically under the output policy (``annokit.fileio.check_output``): an
    existing report file is replaced (``overwrite=False`` refuses it), a folder or one of
    the inputs named in ``protect`` never is.
    ``thumbnails`` is how many of the worst images the HTML shows (0 for none).
    ``scores`` (an :class:`annokit.score.Scores`, or anything with its ``annotations`` and
    ``images`` DataFrames) adds the "likely annotation errors" section: worst-scored images
    first, each suspect box beside its suggested fix; the JSON carries the scores.

    Example:
        >>> report(ds, check(ds), "out/qc.json")  # doctest: +SKIP
        PosixPath('out/qc.json')
    """
    path = Path(path)
    kind = {".json": "json", ".html": "html", ".htm": "html"}.get(path.suffix.lower())
    if kind is None:
        raise AnnokitError(f"{path}: a report path must end in .json or .html")
    check_output(path, protect, overwrite=overwrite, report=True)  # before the work
    findings = prepare_findings(findings)
    scores = prepare_scores(scores)
    if kind == "json":
        data = orjson.dumps(_json(ds, findings, scores), option=orjson.OPT_INDENT_2)
    else:
        from .render import html_page  # Jinja2 and PIL: only for the page

        data = html_page(ds, findings, title or "annokit QC report", thumbnails,
                         scores).encode("utf-8")
    write_file_atomic(path, data, protect=protect, overwrite=overwrite)
    return path


def to_json_dict(ds: Dataset, findings: pd.DataFrame, scores=None) -> dict:
    """The JSON report as a dict of plain Python values (NA and NaN are None).

    Example:
        >>> d = to_json_dict(ds, found)  # doctest: +SKIP
        >>> d["counts"]["by_severity"]  # doctest: +SKIP
        {'error': 2, 'warning': 5, 'info': 1}
    """
    return _json(ds, prepare_findings(findings), prepare_scores(scores))


def _json(ds: Dataset, findings: pd.DataFrame, scores) -> dict:
    notes = Notes(ds.notes)  # what every layer said: the reader's, then the scorer's
    notes.extend_unique(scores.notes if scores is not None else ())
    return {**summarise(ds, findings), "notes": notes.to_json(),
            "findings": finding_records(ds, findings), "scores": scores_json(ds, scores)}


def json_schema() -> dict:
    """The JSON Schema (draft 2020-12) that every JSON report validates against.

    Example:
        >>> json_schema()["properties"]["schema_version"]
        {'const': 1}
    """
    schema = resources.files("annokit").joinpath("report_schema.json")
    return json.loads(schema.read_text(encoding="utf-8"))
