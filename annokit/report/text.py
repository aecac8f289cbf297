"""The report as plain text for the terminal: counts per check, worst first, one example each.

Example:
    >>> print(summary_table(ds, check(ds)))  # doctest: +SKIP
    364 images, 4888 annotations, 3 categories
"""
from __future__ import annotations

import pandas as pd

from ..checks import SEVERITIES
from ..model import Dataset
from .summary import file_names, finding_counts, prepare_findings, severity_count


def summary_table(ds: Dataset, findings: pd.DataFrame, *, width: int = 100) -> str:
    """A plain-text summary for the terminal: counts per check, worst first, one example each.

    Example:
        >>> print(summary_table(ds, found))  # doctest: +SKIP
        364 images, 4888 annotations, 3 categories
        findings: 2 errors, 1 warning, 0 info; 3 images flagged
        severity  check               count  images  example
        error     geometry.zero_size      2       2  BloodImage_00338.jpg: w=0 h=0
    """
    findings = prepare_findings(findings)
    counts = finding_counts(findings)
    by_sev = ", ".join(severity_count(counts["by_severity"][s], s) for s in SEVERITIES)
    lines = [ds.summary_line(),
             f"findings: {by_sev}; {counts['images_flagged']} images flagged"]
    if not len(findings):
        return "\n".join(lines + ["no findings"])
    first = findings.drop_duplicates(["check", "severity"]).set_index(["check", "severity"])
    files = file_names(ds, first["image_id"])
    rows = [(c["severity"], c["check"], str(c["count"]), str(c["images"]),
             _example(files.get((c["check"], c["severity"])),
                      first.loc[(c["check"], c["severity"]), "message"]))
            for c in counts["by_check"]]
    header = ("severity", "check", "count", "images", "example")
    sizes = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for r in [header, *rows]:
        text = "  ".join(v.rjust(n) if i >= 2 else v.ljust(n)
                         for i, (v, n) in enumerate(zip(r, sizes)))
        line = f"{text}  {r[4]}"
        lines.append(line if len(line) <= width else line[:width - 1] + "…")
    return "\n".join(lines)


def _example(file_name, message) -> str:
    return f"{file_name}: {message}" if isinstance(file_name, str) else str(message)
