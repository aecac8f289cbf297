"""The HTML page: Jinja2 templates with autoescaping, the CSS and JavaScript inlined from the
package's static files, so the page is one self-contained file that fetches nothing.

Every value reaches the page through a template, escaped by Jinja2 (a class name
``<script>`` is text); only the package's own CSS and JavaScript are marked safe.

Example:
    >>> page = html_page(ds, prepare_findings(found), "QC", 12)  # doctest: +SKIP
    >>> page.startswith("<!DOCTYPE html>")  # doctest: +SKIP
    True
"""
from __future__ import annotations

from functools import lru_cache
from importlib import resources

import jinja2
import pandas as pd
from markupsafe import Markup

from ..model import Dataset
from .charts import charts
from .gallery import likely_errors, worst_images
from .scores import ScoreTables
from .sections import dataset_section, findings_section
from .summary import summarise

PACKAGE = "annokit.report"
TEMPLATES = "templates"
STATIC = "static"


def package_text(*parts: str) -> str:
    """A text file shipped in the package (templates/, static/), read through
    importlib.resources so that it is found in any installed layout.

    Example:
        >>> package_text("static", "report.css").lstrip().startswith("body{")
        True
    """
    return resources.files(PACKAGE).joinpath(*parts).read_text(encoding="utf-8")


def _number(value, spec: str = ",") -> str:
    """format() as a filter: ``{{ n|num }}`` gives 1,234; ``{{ x|num('.1f') }}`` gives 3.5."""
    return format(value, spec)


class _Environment(jinja2.Environment):
    """Looks ``{{ p.left }}`` up as a dict key first: the templates read plain dicts, and
    jinja2's attribute-first lookup raises an AttributeError on each of them."""

    def getattr(self, obj, attribute):
        if type(obj) is dict and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


@lru_cache(maxsize=1)
def environment():
    """The Jinja2 environment: autoescaping always on, undefined names an error, templates
    loaded from the package (compiled once per process).

    Example:
        >>> environment().autoescape
        True
    """
    env = _Environment(
        loader=jinja2.FunctionLoader(lambda name: package_text(TEMPLATES, name)),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
        lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["num"] = _number
    env.globals["zip"] = zip  # tables are passed by column
    return env


@lru_cache(maxsize=1)
def _static() -> dict:
    # the package's own files, inlined as they are (escaping would break CSS quotes and JS)
    return {"css": Markup(package_text(STATIC, "report.css")),
            "js": Markup(package_text(STATIC, "report.js"))}


def html_page(ds: Dataset, findings: pd.DataFrame, title: str, thumbnails: int,
              scores: ScoreTables | None = None) -> str:
    """The whole page for prepared findings (and scores, when given).

    Example:
        >>> "<svg " in html_page(ds, prepare_findings(found), "QC", 0)  # doctest: +SKIP
        True
    """
    summary = summarise(ds, findings)
    pieces = environment().get_template("page.html").generate(
        title=title, summary=summary, dataset=dataset_section(summary),
        charts=charts(ds, summary), findings=findings_section(ds, findings, summary),
        worst=worst_images(ds, findings, thumbnails),
        scores=None if scores is None else likely_errors(ds, scores, thumbnails),
        **_static())
    # each escaped piece is a Markup, which the garbage collector tracks: joined as they come,
    # as plain str, so that 100,000 of them are never alive at once (held until the end they
    # set off full collections over the whole heap, 30-60 ms each on a large dataset)
    return "".join(map(str, pieces))
