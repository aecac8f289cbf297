"""QC report: JSON for pipelines, one self-contained HTML page for people.

The JSON holds a dataset summary, per-class counts, finding counts per check and
severity, and every finding (schema in ``report_schema.json``, documented in
docs/report.md). The HTML page needs no network: plots are inline SVG drawn here,
thumbnails are base64 JPEGs, the table filters are a few lines of inline JavaScript.

Example:
    >>> from annokit.checks import check
    >>> found = check(ds)                                # doctest: +SKIP
    >>> report(ds, found, "qc.html")                     # doctest: +SKIP
    PosixPath('qc.html')
"""
from __future__ import annotations

import base64
import html
import io
import json
import math
import os
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import orjson
import pandas as pd

from .checks import FINDING_COLUMNS, FINDING_EXTRAS, SEVERITIES, SEVERITY_RANK
from .errors import AnnokitError, FormatError
from .fileio import check_output, open_image, safe_relative, write_file_atomic
from .model import Dataset
from .score.contract import ANNOTATION_COLUMNS, IMAGE_COLUMNS, ISSUES
from .stats import class_counts

SCHEMA_VERSION = 1  # raised when a field is renamed, removed or changes meaning
SCHEMA_MINOR = 1    # raised when fields are added (1: "scores")
SCHEMA_FILE = Path(__file__).with_name("report_schema.json")
MAX_TABLE_ROWS = 5000      # findings embedded in the HTML (the JSON has all)
MAX_SCATTER_POINTS = 5000  # boxes drawn in the size/aspect scatter
MAX_CHART_CLASSES = 40     # classes shown in the class bar chart
MAX_SPLIT_CLASSES = 20     # classes shown in the per-split chart (one bar per split each)
THUMB_SIZE = 320           # px, the longer side of a thumbnail
PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f",
           "#ff9da7", "#e15759"]
OTHER_COLOUR = "#a0a0a0"
BOX_COLOURS = {"error": (230, 20, 20), "warning": (255, 140, 0)}  # flagged boxes
esc = html.escape


# -- public API ---------------------------------------------------------------

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
    findings = _prepare(findings)
    scores = _prepare_scores(scores)
    if kind == "json":
        data = orjson.dumps(_json(ds, findings, scores), option=orjson.OPT_INDENT_2)
    else:
        data = _html(ds, findings, title or "annokit QC report", thumbnails,
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
    return _json(ds, _prepare(findings), _prepare_scores(scores))


def _json(ds: Dataset, findings: pd.DataFrame, scores=None) -> dict:
    return {**_summary(ds, findings), "findings": _finding_records(ds, findings),
            "scores": _scores_json(ds, scores)}


def json_schema() -> dict:
    """The JSON Schema (draft 2020-12) that every JSON report validates against."""
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def summary_table(ds: Dataset, findings: pd.DataFrame, *, width: int = 100) -> str:
    """A plain-text summary for the terminal: counts per check, worst first, one example each.

    Example:
        >>> print(summary_table(ds, found))  # doctest: +SKIP
        364 images, 4888 annotations, 3 categories
        findings: 2 errors, 1 warning, 0 info; 3 images flagged
        severity  check               count  images  example
        error     geometry.zero_size      2       2  BloodImage_00338.jpg: w=0 h=0
    """
    findings = _prepare(findings)
    counts = _finding_counts(findings)
    by_sev = ", ".join(_severity_count(counts["by_severity"][s], s) for s in SEVERITIES)
    lines = [ds.summary_line(),
             f"findings: {by_sev}; {counts['images_flagged']} images flagged"]
    if not len(findings):
        return "\n".join(lines + ["no findings"])
    first = findings.drop_duplicates(["check", "severity"]).set_index(["check", "severity"])
    files = _file_names(ds, first["image_id"])
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


def _severity_count(n: int, severity: str) -> str:
    return f"{n:,} info" if severity == "info" else _plural(n, severity)


def _example(file_name, message) -> str:
    return f"{file_name}: {message}" if isinstance(file_name, str) else str(message)


# -- the summary both reports share ---------------------------------------------

def _prepare(findings: pd.DataFrame) -> pd.DataFrame:
    """Findings with the expected columns, worst first (stable for check()'s own order)."""
    missing = [c for c in FINDING_COLUMNS if c not in findings.columns]
    if missing:
        raise AnnokitError(f"findings lack columns {missing}; build them with annokit.check()")
    extras = [c for c in FINDING_EXTRAS if c in findings.columns]
    found = findings[FINDING_COLUMNS + extras].reset_index(drop=True)
    rank = pd.Index(SEVERITIES).get_indexer(found["severity"])  # -1: not a severity
    if (rank < 0).any():
        unknown = sorted(map(str, set(found["severity"][rank < 0])))
        raise AnnokitError(f"findings have unknown severities {unknown}; "
                           f"use {', '.join(SEVERITIES)}")
    if (np.diff(rank) < 0).any():
        found = found.iloc[np.argsort(rank, kind="stable")].reset_index(drop=True)
    return found


def _summary(ds: Dataset, findings: pd.DataFrame) -> dict:
    from .version import __version__

    created = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    splits = _split_codes(ds)
    return {"schema_version": SCHEMA_VERSION, "schema_minor": SCHEMA_MINOR,
            "tool": {"name": "annokit", "version": __version__},
            "created": created,
            "dataset": _dataset_summary(ds, splits),
            "classes": _class_counts(ds, splits),
            "counts": _finding_counts(findings)}


SPLIT_ORDER = ["train", "training", "val", "valid", "validation", "dev", "test", "testing"]


def _split_codes(ds: Dataset) -> tuple[list, np.ndarray, np.ndarray]:
    """Split names (train/val/test first, then by name), and the split code of each image
    and of each annotation (-1: no split, or an image id that does not exist)."""
    split = ds.images["split"].astype(object)
    names = sorted(set(split[split.notna()]), key=lambda s: (
        SPLIT_ORDER.index(s) if s in SPLIT_ORDER else len(SPLIT_ORDER), str(s)))
    image_codes = pd.Categorical(split, categories=names).codes
    first = ~ds.images["id"].duplicated().to_numpy()  # duplicate ids: the first one counts
    where = pd.Index(ds.images["id"][first]).get_indexer(ds.annotations["image_id"])
    ann_codes = np.where(where >= 0, image_codes[first][where], -1)
    return names, image_codes, ann_codes


def _dataset_summary(ds: Dataset, splits: tuple) -> dict:
    images, anns = ds.images, ds.annotations
    names, image_codes, ann_codes = splits
    n_images = np.bincount(image_codes[image_codes >= 0], minlength=len(names))
    n_anns = np.bincount(ann_codes[ann_codes >= 0], minlength=len(names))
    skipped = [str(m) for m in ds.meta.get("skipped", [])]
    return {"source_format": ds.meta.get("source_format"),
            "image_root": _str_or_none(ds.meta.get("image_root")),
            "images": len(images),
            "annotations": len(anns),
            "categories": len(ds.categories),
            "annotations_by_kind": {str(k): int(n) for k, n in
                                    anns["kind"].value_counts(sort=False).items()},
            "images_without_annotations": int((~images["id"].isin(anns["image_id"])).sum()),
            "splits": {str(s): {"images": int(i), "annotations": int(a)}
                       for s, i, a in zip(names, n_images, n_anns)},
            "images_without_split": int((image_codes < 0).sum()),
            "skipped": {"count": len(skipped), "records": skipped}}


def _str_or_none(value) -> str | None:
    return None if value is None else str(value)


def _class_counts(ds: Dataset, splits: tuple) -> list[dict]:
    """One record per category, plus any category id that annotations use but nobody defines."""
    table = class_counts(ds)
    supers = ds.categories.drop_duplicates("id").set_index("id")["supercategory"]
    split_names = [str(name) for name in splits[0]]
    return [{"id": int(row["category_id"]), "name": _str_or_none(row["name"]),
             "supercategory": _str_or_none(supers.get(row["category_id"])),
             "annotations": int(row["instances"]), "images": int(row["images"]),
             "splits": {name: int(row[name]) if name in table else 0 for name in split_names}}
            for _, row in table.iterrows()]  # one row per class: few


def _finding_counts(findings: pd.DataFrame) -> dict:
    by_sev = findings["severity"].value_counts()
    groups = findings.groupby(["check", "severity"], sort=False).agg(
        count=("message", "size"), images=("image_id", "nunique"))
    groups = groups.reset_index()
    groups["_rank"] = groups["severity"].map(SEVERITY_RANK)
    groups = groups.sort_values(["_rank", "count", "check"], ascending=[True, False, True])
    return {"findings": len(findings),
            "images_flagged": int(findings["image_id"].nunique()),
            "by_severity": {s: int(by_sev.get(s, 0)) for s in SEVERITIES},
            "by_check": [{"check": str(c), "severity": str(s), "count": int(n), "images": int(m)}
                         for c, s, n, m in zip(groups["check"], groups["severity"],
                                               groups["count"], groups["images"])]}


def _plain(values: pd.Series) -> list:
    """Python values for JSON: ints stay ints, NA/NaN/inf become None."""
    if values.dtype.kind == "f":
        arr = values.to_numpy(np.float64)
        return np.where(np.isfinite(arr), arr, None).tolist()
    if values.dtype.kind in "iu":  # numpy or nullable ints: no per-value pandas work
        missing = values.isna().to_numpy()
        return np.where(missing, None, values.to_numpy(np.int64, na_value=0)).tolist()
    return values.astype(object).where(values.notna(), None).tolist()


def _file_names(ds: Dataset, image_ids: pd.Series) -> pd.Series:
    files = ds.images.drop_duplicates("id").set_index("id")["file_name"]
    return image_ids.map(files).astype(object)


def _finding_records(ds: Dataset, findings: pd.DataFrame) -> list[dict]:
    keys = [*FINDING_COLUMNS, "file_name"]
    columns = [_plain(findings[c]) for c in FINDING_COLUMNS]
    columns.append(_plain(_file_names(ds, findings["image_id"])))
    records = [dict(zip(keys, row)) for row in zip(*columns)]
    if "images" in findings:  # set by category-level findings only
        for record, images in zip(records, findings["images"].tolist()):
            if isinstance(images, list):
                record["images"] = [str(f) for f in images]
    return records


# -- HTML -----------------------------------------------------------------------

def _html(ds: Dataset, findings: pd.DataFrame, title: str, thumbnails: int,
          scores=None) -> str:
    summary = _summary(ds, findings)
    colours = _class_colours(summary["classes"])
    body = [f"<h1>{esc(title)}</h1>",
            f'<p class="sub">made by annokit {esc(summary["tool"]["version"])} on '
            f'{esc(summary["created"])}</p>',
            '<nav><a href="#dataset">Dataset</a><a href="#charts">Charts</a>'
            '<a href="#findings-section">Findings</a><a href="#worst">Worst images</a>'
            + ('<a href="#likely-errors">Likely errors</a>' if scores is not None else "")
            + "</nav>",
            _summary_html(summary),
            _charts_html(ds, summary, colours),
            _findings_html(ds, findings, summary),
            _thumbnails_html(ds, findings, thumbnails),
            _scores_html(ds, scores, thumbnails) if scores is not None else ""]
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head>\n<body>\n"
            + "\n".join(body) + f"\n<script>{JS}</script>\n</body></html>\n")


def _summary_html(summary: dict) -> str:
    d, counts = summary["dataset"], summary["counts"]
    splits = [f"{esc(s)} {v['images']:,}" for s, v in d["splits"].items()]
    if splits and d["images_without_split"]:
        splits.append(f"none {d['images_without_split']:,}")
    splits = " · ".join(splits) or "none"
    cards = [("images", "Images", f"{d['images']:,}"),
             ("annotations", "Annotations", f"{d['annotations']:,}"),
             ("categories", "Categories", f"{d['categories']:,}"),
             ("splits", "Splits (images)", splits),
             ("empty", "Images without annotations", f"{d['images_without_annotations']:,}"),
             ("format", "Source format", esc(d["source_format"] or "unknown")),
             ("skipped", "Skipped records", f"{d['skipped']['count']:,}"),
             ("flagged", "Images flagged", f"{counts['images_flagged']:,}")]
    cards += [(s, f"{s.capitalize()} findings", f"{counts['by_severity'][s]:,}")
              for s in SEVERITIES]
    items = "".join(f'<div class="card {k}"><dt>{label}</dt><dd id="n-{k}">{v}</dd></div>'
                    for k, label, v in cards)
    out = f'<section id="dataset"><h2>Dataset</h2><dl class="cards">{items}</dl>'
    records = d["skipped"]["records"]
    if records:
        shown = "".join(f"<li>{esc(r)}</li>" for r in records[:200])
        more = f"<li>… {len(records) - 200:,} more in the JSON report</li>" \
            if len(records) > 200 else ""
        out += (f"<details><summary>{_plural(len(records), 'record')} skipped while reading"
                f"</summary>"
                f"<ul>{shown}{more}</ul></details>")
    return out + "</section>"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _class_colours(classes: list[dict]) -> dict:
    """Category id -> colour: the biggest classes get the palette, the rest grey."""
    ranked = sorted(classes, key=lambda c: -c["annotations"])
    return {c["id"]: PALETTE[i] if i < len(PALETTE) else OTHER_COLOUR
            for i, c in enumerate(ranked)}


def _label(c: dict) -> str:
    return c["name"] if c["name"] is not None else f"id {c['id']} (undefined)"


def _charts_html(ds: Dataset, summary: dict, colours: dict) -> str:
    classes = sorted(summary["classes"], key=lambda c: -c["annotations"])
    shown = classes[:MAX_CHART_CLASSES]
    cut = (f'<p class="note">The {len(shown)} largest of {len(classes):,} classes.</p>'
           if len(classes) > len(shown) else "")
    bars = _hbars([(_label(c), [(c["annotations"], colours[c["id"]],
                                 f"{c['annotations']:,} ({c['images']:,} img)")])
                   for c in shown], "annotations per class")
    parts = ['<section id="charts"><h2>Charts</h2><div class="charts">',
             f'<figure id="chart-classes"><figcaption>Annotations per class</figcaption>'
             f"{bars}{cut}</figure>",
             _split_chart(summary, classes),
             _scatter_chart(ds, summary, colours),
             _per_image_chart(ds)]
    return "".join(parts) + "</div></section>"


def _split_chart(summary: dict, classes: list[dict]) -> str:
    splits = summary["dataset"]["splits"]
    shown = classes[:MAX_SPLIT_CLASSES]
    cut = (f'<p class="note">The {len(shown)} largest of {len(classes):,} classes.</p>'
           if len(classes) > len(shown) else "")
    head = '<figure id="chart-splits"><figcaption>Class share per split</figcaption>'
    if len(splits) < 2:
        text = "one split" if splits else "no splits"
        return head + f'<p class="note">The dataset has {text}: nothing to compare.</p></figure>'
    totals = {s: v["annotations"] or 1 for s, v in splits.items()}
    split_colours = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(splits)}
    rows = [(_label(c), [(100 * c["splits"][s] / totals[s], split_colours[s],
                          f"{100 * c['splits'][s] / totals[s]:.1f}% {s}") for s in splits])
            for c in shown]
    legend = _legend([(s, split_colours[s]) for s in splits])
    return head + _hbars(rows, "class share per split, percent", bar=13, gap=8) + legend \
        + cut + "</figure>"


def _scatter_chart(ds: Dataset, summary: dict, colours: dict) -> str:
    anns = ds.annotations
    w, h = anns["w"].to_numpy(np.float64), anns["h"].to_numpy(np.float64)
    ok = (anns["kind"] == "box").to_numpy() & np.isfinite(w) & np.isfinite(h) & (w > 0) & (h > 0)
    boxes = anns.loc[ok, ["category_id", "w", "h"]]
    head = ('<figure id="chart-scatter"><figcaption>Box size (√area, px) against aspect '
            "(w/h), log scales</figcaption>")
    if not len(boxes):
        return head + '<p class="note">No boxes with a positive size.</p></figure>'
    sample = _sample_boxes(boxes, MAX_SCATTER_POINTS)
    note = (f'<p class="note">A random {len(sample):,} of {len(boxes):,} boxes (every class '
            "keeps a few).</p>" if len(sample) < len(boxes) else "")
    # draw big classes first so that small ones stay visible on top
    sample = sample.iloc[np.argsort(-sample["category_id"].map(
        sample["category_id"].value_counts()).to_numpy(), kind="stable")]
    size = np.sqrt(sample["w"].to_numpy() * sample["h"].to_numpy())
    aspect = sample["w"].to_numpy() / sample["h"].to_numpy()
    fills = sample["category_id"].map(colours).fillna(OTHER_COLOUR).to_numpy()
    totals = boxes["category_id"].value_counts()  # biggest first, as the colours go
    names = {c["id"]: _label(c) for c in summary["classes"]}
    items = [(f"{names.get(i, i)} ({n:,})", colours[i]) for i, n in totals.items()
             if colours.get(i, OTHER_COLOUR) != OTHER_COLOUR]
    if len(items) < len(totals):
        items.append((f"{len(totals) - len(items)} other classes", OTHER_COLOUR))
    legend = _legend(items)
    return head + _scatter(size, aspect, fills, "box size against aspect") + legend + note \
        + "</figure>"


def _per_image_chart(ds: Dataset) -> str:
    anns = ds.annotations
    is_box = (anns["kind"] == "box").to_numpy()
    what = "boxes" if is_box.any() else "annotations"
    ids = anns["image_id"].to_numpy()[is_box] if is_box.any() else anns["image_id"].to_numpy()
    image_ids = ds.images["id"].to_numpy()
    per_image = pd.Series(ids).value_counts().reindex(image_ids, fill_value=0).to_numpy()
    head = (f'<figure id="chart-per-image"><figcaption>{what.capitalize()} per image'
            "</figcaption>")
    if not len(per_image):
        return head + '<p class="note">No images.</p></figure>'
    top = int(per_image.max())
    step = max(1, math.ceil((top + 1) / 40))
    counts = np.bincount(per_image // step)
    labels = [str(i * step) if step == 1 else f"{i * step}–{i * step + step - 1}"
              for i in range(len(counts))]
    return head + _vbars(labels, counts, f"{what} per image", "images") + "</figure>"


def _sample_boxes(boxes: pd.DataFrame, limit: int) -> pd.DataFrame:
    """A random sample of at most ``limit`` boxes: up to a few per class, then uniform."""
    if len(boxes) <= limit:
        return boxes
    shuffled = boxes.iloc[np.random.default_rng(0).permutation(len(boxes))]
    classes = shuffled["category_id"].nunique()
    reserved = shuffled.groupby("category_id").cumcount().to_numpy() < min(
        50, limit // (2 * classes))
    rest = np.flatnonzero(~reserved)[: limit - reserved.sum()]
    keep = reserved.copy()
    keep[rest] = True
    return shuffled[keep]


def _first_per_group(frame: pd.DataFrame, column: str, limit: int) -> pd.DataFrame:
    """At most ``limit`` rows in their order, each group keeping its first min(size, quota)."""
    if len(frame) <= limit:
        return frame
    quota = _quota(frame[column].value_counts().to_numpy(), limit)
    return frame[frame.groupby(column).cumcount().to_numpy() < quota]


def _quota(sizes: np.ndarray, limit: int) -> int:
    """Largest q with sum(min(sizes, q)) <= limit (water-filling over groups)."""
    left, sizes = limit, np.sort(sizes)
    for i, size in enumerate(sizes):
        share = left // (len(sizes) - i)
        if size > share:
            return max(int(share), 1)
        left -= size
    return int(sizes[-1]) if len(sizes) else 0


def _findings_html(ds: Dataset, findings: pd.DataFrame, summary: dict) -> str:
    counts = summary["counts"]
    if not len(findings):
        return ('<section id="findings-section"><h2>Findings</h2>'
                '<p id="no-findings">No findings.</p></section>')
    first = findings.drop_duplicates(["check", "severity"]).set_index(["check", "severity"])
    groups = "".join(
        f'<tr data-check="{esc(c["check"])}"><td><span class="sev {c["severity"]}">'
        f'{esc(c["severity"])}</span></td><td>{esc(c["check"])}</td>'
        f'<td class="n">{c["count"]:,}</td><td class="n">{c["images"]:,}</td>'
        f'<td>{esc(str(first.loc[(c["check"], c["severity"]), "message"]))}</td></tr>'
        for c in counts["by_check"])
    shown = _first_per_group(findings, "check", MAX_TABLE_ROWS)
    note = (f'<p class="note">The table holds {len(shown):,} of {len(findings):,} findings '
            "(every check represented, worst first); the JSON report has all of them.</p>"
            if len(shown) < len(findings) else "")
    classes = _finding_classes(ds, shown)
    files = _file_names(ds, shown["image_id"])
    rows = "".join(_finding_row(*r) for r in zip(
        shown["severity"], shown["check"], shown["image_id"], files, shown["annotation_id"],
        classes, shown["message"], shown["value"]))
    checks = sorted({c["check"] for c in counts["by_check"]})
    class_names = sorted({c for c in classes if c})
    filters = (
        '<div class="filters">'
        f'<label>Severity <select id="f-sev"><option value="">all</option>'
        f"{_options(s for s in SEVERITIES if counts['by_severity'][s])}</select></label>"
        f'<label>Check <select id="f-check"><option value="">all</option>{_options(checks)}'
        "</select></label>"
        f'<label>Class <select id="f-cls"><option value="">all</option>{_options(class_names)}'
        "</select></label>"
        '<label>Text <input id="f-text" type="search" placeholder="file, message…"></label>'
        '<span id="f-count">(filters need JavaScript)</span></div>')
    return ('<section id="findings-section"><h2>Findings</h2>'
            f'<p>{counts["findings"]:,} findings on {counts["images_flagged"]:,} images. '
            "Click a check to filter the table.</p>"
            '<table id="checks"><thead><tr><th>severity</th><th>check</th><th>count</th>'
            f"<th>images</th><th>example</th></tr></thead><tbody>{groups}</tbody></table>"
            f"{filters}{note}"
            '<div class="scroll"><table id="findings"><thead><tr><th>severity</th>'
            "<th>check</th><th>image</th><th>annotation</th><th>class</th><th>message</th>"
            f"<th>value</th></tr></thead><tbody>{rows}</tbody></table></div></section>")


def _options(values) -> str:
    return "".join(f'<option value="{esc(v)}">{esc(v)}</option>' for v in values)


def _finding_classes(ds: Dataset, findings: pd.DataFrame) -> list:
    """Class name per finding: its own category, else its annotation's."""
    keys = pd.DataFrame({"image_id": findings["image_id"].astype("float64").to_numpy(),
                         "id": findings["annotation_id"].astype("float64").to_numpy()})
    anns = ds.annotations[ds.annotations["id"].isin(keys["id"].dropna())]
    anns = anns[["image_id", "id", "category_id"]].astype("float64") \
        .drop_duplicates(["image_id", "id"])
    from_ann = keys.merge(anns, how="left", on=["image_id", "id"])["category_id"].to_numpy()
    cat = findings["category_id"].astype("float64").to_numpy()
    cat = np.where(np.isnan(cat), from_ann, cat)
    names = ds.categories.drop_duplicates("id").set_index("id")["name"]
    return [None if c != c else str(names.get(int(c), f"id {int(c)}")) for c in cat]


def _finding_row(sev, check, image_id, file_name, ann_id, cls, message, value) -> str:
    image = file_name if isinstance(file_name, str) else (
        "" if image_id is pd.NA else f"id {image_id}")
    ann = "" if ann_id is pd.NA else str(ann_id)
    val = "" if value != value else f"{value:.4g}"
    return (f'<tr data-sev="{esc(str(sev))}" data-check="{esc(str(check))}" '
            f'data-cls="{esc(cls or "")}"><td><span class="sev {esc(str(sev))}">{esc(str(sev))}'
            f"</span></td><td>{esc(str(check))}</td><td>{esc(image)}</td>"
            f'<td class="n">{ann}</td><td>{esc(cls or "")}</td><td>{esc(str(message))}</td>'
            f'<td class="n">{val}</td></tr>')


# -- thumbnails -------------------------------------------------------------------

def _thumbnails_html(ds: Dataset, findings: pd.DataFrame, limit: int) -> str:
    per_image = findings[findings["image_id"].notna()]
    if limit <= 0 or not len(per_image):
        return '<section id="worst"><h2>Worst images</h2><p>None to show.</p></section>'
    # errors, then warnings, then infos per image; ties keep the findings' order
    image, ids = pd.factorize(per_image["image_id"])
    sev = pd.Index(SEVERITIES).get_indexer(per_image["severity"])
    table = np.bincount(image * len(SEVERITIES) + sev, minlength=len(ids) * len(SEVERITIES))
    table = table.reshape(len(ids), len(SEVERITIES))
    order = np.lexsort([-table[:, i] for i in reversed(range(len(SEVERITIES)))])[:limit]
    worst = pd.DataFrame(table[order], index=np.asarray(ids)[order], columns=list(SEVERITIES))
    images = ds.images.drop_duplicates("id").assign(path=ds.image_paths()).set_index("id")
    anns = ds.annotations[ds.annotations["image_id"].isin(worst.index)]
    figures, notes = [], []
    for image_id in worst.index:  # a dozen images, not per box
        if image_id not in images.index:
            notes.append(f"image id {image_id}: not in the dataset")
            continue
        info = images.loc[image_id]
        picture = _thumbnail(info["path"], anns[anns["image_id"] == image_id],
                             per_image[per_image["image_id"] == image_id])
        if info["path"] is None and not safe_relative(info["file_name"]):
            picture = "file name leaves the image folder: never read"
        if isinstance(picture, str):
            notes.append(f"{info['file_name']}: {picture}")
            continue
        figures.append(_figure(info["file_name"], worst.loc[image_id], picture,
                               per_image[per_image["image_id"] == image_id]["message"]))
    more = f"; and {len(notes) - 5} more" if len(notes) > 5 else ""
    note = ('<p class="note">Not shown: ' + "; ".join(esc(str(n)) for n in notes[:5])
            + more + "</p>" if notes else "")
    return ('<section id="worst"><h2>Worst images</h2><p>Flagged boxes in <b class="error">red</b> '
            '(error) and <b class="warning">orange</b> (warning); other boxes thin grey.</p>'
            f'{note}<div class="thumbs">{"".join(figures)}</div></section>')


def _figure(file_name, counts: pd.Series, picture: bytes, messages: pd.Series) -> str:
    tally = ", ".join(_severity_count(n, s) for s, n in counts.items() if n)
    listed = "".join(f"<li>{esc(str(m))}</li>" for m in messages[:3])
    more = f"<li>… {len(messages) - 3} more</li>" if len(messages) > 3 else ""
    data = base64.b64encode(picture).decode("ascii")
    return (f'<figure class="thumb"><img alt="{esc(str(file_name))}" '
            f'src="data:image/jpeg;base64,{data}"><figcaption><b>{esc(str(file_name))}</b> '
            f"({tally})<ul>{listed}{more}</ul></figcaption></figure>")


def _thumbnail(path, anns: pd.DataFrame, flags: pd.DataFrame) -> bytes | str:
    """JPEG bytes of the image shrunk to THUMB_SIZE with its boxes drawn, or why not."""
    from PIL import ImageDraw

    if path is None or not os.path.lexists(path):
        return "image file not found"
    try:
        with open_image(path) as im:  # a FIFO or /dev/zero: refused, never read
            full = im.size
            im.draft("RGB", (THUMB_SIZE, THUMB_SIZE))  # JPEG: decode at a reduced scale
            im = im.convert("RGB")
            im.thumbnail((THUMB_SIZE, THUMB_SIZE))
    except FormatError as e:  # not a regular file, too large
        return f"cannot be read ({e.reason})"
    except Exception as e:  # unreadable or truncated: the image checks say more
        return f"cannot be read ({type(e).__name__})"
    scale = im.width / full[0]
    rank = flags.dropna(subset=["annotation_id"]).assign(
        r=lambda f: f["severity"].map(SEVERITY_RANK)).groupby("annotation_id")["r"].min()
    ann_rank = anns["id"].map(rank).fillna(len(SEVERITIES)).to_numpy()
    draw = ImageDraw.Draw(im)
    boxes = anns[["x", "y", "w", "h"]].to_numpy(np.float64) * scale
    for r in sorted(set(ann_rank), reverse=True):  # grey first, errors on top
        colour = BOX_COLOURS.get(SEVERITIES[int(r)] if r < len(SEVERITIES) else "", None)
        for x, y, w, h in boxes[ann_rank == r]:
            _draw_box(draw, x, y, w, h, colour)
    out = io.BytesIO()
    im.save(out, "JPEG", quality=82)
    return out.getvalue()


def _draw_box(draw, x, y, w, h, colour) -> None:
    if not np.isfinite([x, y]).all():
        return
    w, h = (w if np.isfinite(w) else 0), (h if np.isfinite(h) else 0)
    x0, x1, y0, y1 = sorted((x, x + w)) + sorted((y, y + h))
    line, fill = (2, colour) if colour else (1, (150, 150, 150))
    if x1 - x0 < 3 or y1 - y0 < 3:  # points and degenerate boxes: a ring to find them by
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        draw.ellipse([cx - 5, cy - 5, cx + 5, cy + 5], outline=fill, width=line)
    else:
        draw.rectangle([x0, y0, x1, y1], outline=fill, width=line)


# -- likely annotation errors (scores from annokit.score) ----------------------------

# the scores contract's schema and issue names (annokit/score/contract.py owns them)
SCORE_ANNOTATION_COLUMNS = list(ANNOTATION_COLUMNS)
SCORE_IMAGE_COLUMNS = list(IMAGE_COLUMNS)
MAX_SCORE_ROWS = 500  # suspect annotations listed in the HTML table (the JSON has all)
FIX_COLOUR = (0, 160, 60)  # suggested boxes and classes


def _prepare_scores(scores):
    """The scores' two tables with the contract's columns (``annokit.score.Scores``), or None."""
    if scores is None:
        return None
    from .score.contract import validate  # the contract's one check (lazy: no cycle)

    scores = validate(scores)
    return _ScoreTables(scores.annotations[SCORE_ANNOTATION_COLUMNS].reset_index(drop=True),
                        scores.images[SCORE_IMAGE_COLUMNS].reset_index(drop=True),
                        scores.task, [str(s) for s in scores.skipped])


class _ScoreTables:
    def __init__(self, annotations, images, task, skipped):
        self.annotations, self.images, self.task, self.skipped = annotations, images, task, skipped


def _worst_first(quality: pd.Series) -> np.ndarray:
    """Row order by ascending quality, unscored (NaN) last, ties in their order."""
    q = quality.to_numpy(np.float64)
    return np.lexsort((np.arange(len(q)), np.where(np.isnan(q), np.inf, q)))


def _suggested_boxes(anns: pd.DataFrame) -> list:
    box = anns[["suggested_x", "suggested_y", "suggested_w", "suggested_h"]].to_numpy(np.float64)
    known = np.isfinite(box).all(axis=1).tolist()
    return [b if k else None for b, k in zip(box.tolist(), known)]


def _scores_json(ds: Dataset, scores) -> dict | None:
    if scores is None:
        return None
    anns = scores.annotations.iloc[_worst_first(scores.annotations["quality"])]
    images = scores.images.iloc[_worst_first(scores.images["quality"])]
    issue = anns["issue"]
    keys = ["annotation_id", "image_id", "category_id", "quality", "issue",
            "suggested_category_id"]
    columns = [_plain(anns[c]) for c in keys]
    columns += [_suggested_boxes(anns), _plain(_file_names(ds, anns["image_id"]))]
    image_columns = [_plain(images[c]) for c in SCORE_IMAGE_COLUMNS]
    image_columns.append(_plain(_file_names(ds, images["image_id"])))
    return {"task": scores.task,
            "counts": {"annotations": int(anns["annotation_id"].notna().sum()),
                       "overlooked_candidates": int((issue == "overlooked").sum()),
                       "flagged": int(issue.notna().sum()),
                       "images_flagged": int((images["n_issues"] > 0).sum()),
                       "by_issue": {i: int((issue == i).sum()) for i in ISSUES}},
            "skipped": scores.skipped,
            "images": [dict(zip([*SCORE_IMAGE_COLUMNS, "file_name"], row))
                       for row in zip(*image_columns)],
            "annotations": [dict(zip([*keys, "suggested_bbox", "file_name"], row))
                            for row in zip(*columns)]}


def scores_summary(ds: Dataset, scores) -> str:
    """One line for the terminal: likely errors per issue and the worst image.

    Example:
        >>> print(scores_summary(ds, annokit.score(ds)))  # doctest: +SKIP
        likely annotation errors: 2 (swap 2), 3 candidate overlooked objects on 4 images; ...
    """
    data = _scores_json(ds, _prepare_scores(scores))
    counts = data["counts"]
    # candidate overlooked objects are not annotations: counted apart, after the errors
    by_issue = {i: n for i, n in counts["by_issue"].items() if n and i != "overlooked"}
    parts = ", ".join(f"{i} {n:,}" for i, n in by_issue.items())
    line = f"likely annotation errors: {sum(by_issue.values()):,}" + (
        f" ({parts})" if parts else "")
    if counts["overlooked_candidates"]:
        line += f", {_plural(counts['overlooked_candidates'], 'candidate overlooked object')}"
    line += f" on {_plural(counts['images_flagged'], 'image')}"
    worst = data["images"][0] if data["images"] else None
    if worst and worst["n_issues"]:
        line += f"; worst {worst['file_name'] or worst['image_id']} " \
            f"(quality {_quality(worst['quality'])})"
    return line


def _scores_html(ds: Dataset, scores, limit: int) -> str:
    head = '<section id="likely-errors"><h2>Likely annotation errors</h2>'
    images = scores.images.iloc[_worst_first(scores.images["quality"])]
    flagged = images[images["n_issues"].to_numpy() > 0]
    anns = scores.annotations
    suspect = anns[anns["issue"].notna()]
    if not len(flagged) and not len(suspect):
        return head + ('<p id="no-likely-errors">The scores flag no annotation. '
                       f"{len(images):,} images scored.</p></section>")
    intro = (f"<p>{len(suspect):,} likely errors on {len(flagged):,} of {len(images):,} scored "
             "images, worst image first (lowest quality: 0 = surely has an error). Left: as "
             'annotated, the suspect box in <b class="error">red</b>; right: the suggested fix '
             'in <b class="fix">green</b> (overlooked objects dashed, a box to remove dashed '
             "red).</p>")
    names = ds.categories.drop_duplicates("id").set_index("id")["name"].astype(str)
    paths = ds.images.drop_duplicates("id").assign(path=ds.image_paths()).set_index("id")
    figures, notes = [], []
    shown = flagged.iloc[:max(limit, 0)]
    for image_id, quality in zip(shown["image_id"], shown["quality"]):  # a dozen images
        rows = suspect[suspect["image_id"] == image_id]
        if image_id not in paths.index:
            notes.append(f"image id {image_id}: not in the dataset")
            continue
        info = paths.loc[image_id]
        image_anns = ds.annotations[ds.annotations["image_id"] == image_id]
        pictures = _score_pictures(info, image_anns, rows, names)
        if isinstance(pictures, str):
            notes.append(f"{info['file_name']}: {pictures}")
            continue
        figures.append(_score_figure(info["file_name"], quality, rows, names, pictures))
    more = f"; and {len(notes) - 5} more" if len(notes) > 5 else ""
    note = ('<p class="note">Not shown: ' + "; ".join(esc(n) for n in notes[:5]) + more
            + "</p>" if notes else "")
    return (head + intro + note + f'<div class="thumbs score-thumbs">{"".join(figures)}</div>'
            + _scores_table(ds, suspect, names) + "</section>")


def _issue_text(row: pd.Series, names: pd.Series) -> str:
    """What a flagged row suggests, in words: 'RBC → WBC', 'move the box', ..."""
    own = _class_name(names, row["category_id"])
    suggested = _class_name(names, row["suggested_category_id"])
    issue = row["issue"]
    if issue in ("swap", "flip"):
        return f"{own} → {suggested}" if suggested else own
    if issue == "badloc":
        return f"{own}: box to move or resize"
    if issue == "spurious":
        return f"{own}: no object here, remove?"
    return f"missing {suggested or own} box"


def _class_name(names: pd.Series, category_id) -> str:
    if category_id is None or category_id is pd.NA or category_id != category_id:
        return ""
    return str(names.get(int(category_id), f"id {int(category_id)}"))


def _score_figure(file_name, quality, rows: pd.DataFrame, names: pd.Series,
                  pictures: tuple[bytes, ...]) -> str:
    rows = rows.iloc[_worst_first(rows["quality"])]
    items = "".join(
        f'<li><span class="issue {esc(str(r["issue"]))}">{esc(str(r["issue"]))}</span> '
        f"quality {_quality(r['quality'])}: {esc(_issue_text(r, names))}</li>"
        for _, r in rows.head(6).iterrows())  # a few rows per image
    more = f"<li>… {len(rows) - 6} more</li>" if len(rows) > 6 else ""
    imgs = "".join(
        f'<img alt="{esc(str(file_name))} {label}" title="{label}" '
        f'src="data:image/jpeg;base64,{base64.b64encode(p).decode("ascii")}">'
        for p, label in zip(pictures, ("as annotated", "suggested fix")))
    return (f'<figure class="thumb score"><div class="pair">{imgs}</div><figcaption>'
            f"<b>{esc(str(file_name))}</b> image quality {_quality(quality)}"
            f"<ul>{items}{more}</ul></figcaption></figure>")


def _quality(value) -> str:
    return "–" if value is None or value != value else f"{float(value):.2f}"


def _score_pictures(info: pd.Series, image_anns: pd.DataFrame, rows: pd.DataFrame,
                    names: pd.Series) -> tuple[bytes, ...] | str:
    """Two JPEGs of the image: as annotated (suspect boxes red, through ``_thumbnail``) and
    the suggested fix drawn over the same thumbnail (only the first when no fix is a box);
    or why there are none."""
    from PIL import Image, ImageDraw

    suspect_ids = rows["annotation_id"].dropna()
    flags = pd.DataFrame({"annotation_id": suspect_ids.to_numpy(),
                          "severity": ["error"] * len(suspect_ids)})
    left = _thumbnail(info["path"], image_anns, flags)
    if isinstance(left, str):
        return left
    plain = _thumbnail(info["path"], image_anns.iloc[:0], flags.iloc[:0])
    with Image.open(io.BytesIO(plain)) as im:
        im = im.convert("RGB")
    scale = im.width / _full_width(info)
    draw = ImageDraw.Draw(im)
    others = image_anns[~image_anns["id"].isin(suspect_ids)]
    for x, y, w, h in others[["x", "y", "w", "h"]].to_numpy(np.float64) * scale:
        _draw_box(draw, x, y, w, h, None)
    boxes = image_anns.drop_duplicates("id").set_index("id")[["x", "y", "w", "h"]]
    drawn = [_draw_fix(draw, row, boxes, names, scale)
             for _, row in rows.iterrows()]  # the flagged rows of one image: a few
    if not any(drawn):  # image labels (flips): the fix is the caption's class name
        return (left,)
    out = io.BytesIO()
    im.save(out, "JPEG", quality=82)
    return left, out.getvalue()


def _full_width(info: pd.Series) -> float:
    """The image's width in pixels: from the dataset, else from the file's header."""
    if info["width"] is not pd.NA and info["width"] == info["width"]:
        return float(info["width"])
    with open_image(info["path"]) as im:  # the header only, no decode
        return float(im.size[0])


def _draw_fix(draw, row: pd.Series, boxes: pd.DataFrame, names: pd.Series,
              scale: float) -> bool:
    """One suggestion: the suggested box (or the original one with its new class) in green,
    an overlooked object dashed green, a box to remove dashed red. False: nothing to draw."""
    issue = row["issue"]
    own = row["annotation_id"]
    original = boxes.loc[own].to_numpy(np.float64) if own is not pd.NA and own in boxes.index \
        else None
    suggested = row[["suggested_x", "suggested_y", "suggested_w", "suggested_h"]].to_numpy(
        np.float64)
    box = suggested if np.isfinite(suggested).all() else original
    if box is None or not np.isfinite(box).all():
        return False
    x, y, w, h = box * scale
    if issue == "spurious":
        _dashed_box(draw, x, y, w, h, BOX_COLOURS["error"])
        label = "remove?"
    else:
        (_dashed_box if issue == "overlooked" else _draw_box)(draw, x, y, w, h, FIX_COLOUR)
        label = _class_name(names, row["suggested_category_id"]) or \
            _class_name(names, row["category_id"])
    if label:
        draw.text((x + 2, max(y - 11, 0)), label, fill=FIX_COLOUR if issue != "spurious"
                  else BOX_COLOURS["error"])
    return True


def _dashed_box(draw, x, y, w, h, colour, dash: float = 5.0) -> None:
    """A rectangle of dashes (PIL has no dashed line)."""
    x0, x1, y0, y1 = sorted((x, x + w)) + sorted((y, y + h))
    for a, b, fixed, horizontal in ((x0, x1, y0, True), (x0, x1, y1, True),
                                    (y0, y1, x0, False), (y0, y1, x1, False)):
        for start in np.arange(a, b, 2 * dash):  # a few dozen dashes per box
            end = min(start + dash, b)
            line = [start, fixed, end, fixed] if horizontal else [fixed, start, fixed, end]
            draw.line(line, fill=colour, width=2)


def _scores_table(ds: Dataset, suspect: pd.DataFrame, names: pd.Series) -> str:
    shown = suspect.iloc[_worst_first(suspect["quality"])][:MAX_SCORE_ROWS]
    note = (f'<p class="note">The {len(shown):,} lowest-quality of {len(suspect):,} flagged '
            "annotations; the JSON report has every score.</p>"
            if len(shown) < len(suspect) else "")
    files = _file_names(ds, shown["image_id"]).tolist()
    boxes = _suggested_boxes(shown)
    rows = "".join(
        f'<tr><td class="n">{_quality(r["quality"])}</td><td><span class="issue '
        f'{esc(str(r["issue"]))}">{esc(str(r["issue"]))}</span></td>'
        f"<td>{esc(str(f) if isinstance(f, str) else '')}</td>"
        f'<td class="n">{"" if r["annotation_id"] is pd.NA else r["annotation_id"]}</td>'
        f"<td>{esc(_class_name(names, r['category_id']))}</td>"
        f"<td>{esc(_class_name(names, r['suggested_category_id']))}</td>"
        f"<td>{'' if b is None else esc(', '.join(f'{v:.1f}' for v in b))}</td></tr>"
        for (_, r), f, b in zip(shown.iterrows(), files, boxes))  # at most 500 rows
    return (f'{note}<div class="scroll"><table id="scores"><thead><tr><th>quality</th>'
            "<th>issue</th><th>image</th><th>annotation</th><th>class</th>"
            "<th>suggested class</th><th>suggested box (x, y, w, h)</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></div>")


# -- small hand-written SVG charts ---------------------------------------------------

def _svg(width: float, height: float, body: list[str], label: str) -> str:
    return (f'<svg viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" '
            f'height="{height:.0f}" role="img" aria-label="{esc(label)}">'
            + "".join(body) + "</svg>")


def _short(text: str, n: int = 28) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _legend(items: list[tuple[str, str]]) -> str:
    return '<div class="legend">' + "".join(
        f'<span><i style="background:{c}"></i>{esc(str(t))}</span>' for t, c in items) + "</div>"


def _hbars(rows: list[tuple[str, list[tuple[float, str, str]]]], label: str, *,
           bar: int = 14, gap: int = 6, width: int = 640) -> str:
    """Horizontal bars: each row a label and one or more (value, colour, text) bars."""
    longest = max((len(_short(str(r[0]))) for r in rows), default=4)
    widest = max((len(t) for _, bars in rows for _, _, t in bars), default=4)
    left, right = min(200, 12 + 7 * longest), 10 + 6.5 * widest  # room for the value texts
    top = max((v for _, bars in rows for v, _, _ in bars), default=0) or 1
    scale = (width - left - right) / top
    out, y = [], 4
    for name, bars in rows:
        start = y
        for value, colour, text in bars:
            length = max(value * scale, 1 if value else 0)
            out.append(f'<rect x="{left}" y="{y}" width="{length:.1f}" height="{bar}" '
                       f'fill="{colour}"><title>{esc(str(name))}: {esc(text)}</title></rect>'
                       f'<text x="{left + length + 4:.1f}" y="{y + bar - 2}" class="v">'
                       f"{esc(text)}</text>")
            y += bar
        out.append(f'<text x="{left - 6}" y="{(start + y) / 2 + 4:.1f}" text-anchor="end">'
                   f"{esc(_short(str(name)))}</text>")
        y += gap
    out.append(f'<line x1="{left}" x2="{left}" y1="0" y2="{y}" class="axis"/>')
    return _svg(width, y, out, label)


def _nice_ticks(top: float, n: int = 4) -> list[float]:
    """Round numbers from 0 to about ``top`` (1-2-5 steps)."""
    raw = top / n if top > 0 else 1
    step = min((m * 10 ** math.floor(math.log10(raw)) for m in (1, 2, 5, 10)
                if m * 10 ** math.floor(math.log10(raw)) >= raw))
    return [i * step for i in range(int(top // step) + 1)]


def _vbars(labels: list[str], counts: np.ndarray, label: str, ylabel: str, *,
           width: int = 640, height: int = 240) -> str:
    """A histogram: one vertical bar per label, y axis with round ticks."""
    left, bottom, top_pad = 62, 34, 10
    plot_w, plot_h = width - left - 10, height - bottom - top_pad
    top = max(int(counts.max()), 1)
    slot = plot_w / len(counts)
    out = []
    for t in _nice_ticks(top):
        y = top_pad + plot_h * (1 - t / top)
        out.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                   f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{t:,.0f}</text>')
    every = max(1, math.ceil(len(counts) / 12))
    for i, (name, n) in enumerate(zip(labels, counts)):
        x, bar_h = left + i * slot, plot_h * n / top
        out.append(f'<rect x="{x + 1:.1f}" y="{top_pad + plot_h - bar_h:.1f}" '
                   f'width="{max(slot - 2, 1):.1f}" height="{bar_h:.1f}" fill="{PALETTE[0]}">'
                   f"<title>{esc(name)}: {n:,} {esc(ylabel)}</title></rect>")
        if i % every == 0:
            out.append(f'<text x="{x + slot / 2:.1f}" y="{top_pad + plot_h + 14}" '
                       f'text-anchor="middle">{esc(name)}</text>')
    out.append(f'<text x="{left + plot_w / 2:.0f}" y="{height - 4}" text-anchor="middle" '
               f'class="lab">{esc(label)}</text>'
               f'<text x="12" y="{top_pad + plot_h / 2:.0f}" class="lab" text-anchor="middle" '
               f'transform="rotate(-90 12 {top_pad + plot_h / 2:.0f})">{esc(ylabel)}</text>')
    return _svg(width, height, out, label)


def _log_ticks(lo: float, hi: float) -> list[float]:
    """1-2-5 ticks between lo and hi (decades only when that gives too many)."""
    decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
    for mults in ((1, 2, 5), (1,)):
        ticks = [m * 10.0 ** d for d in decades for m in mults if lo <= m * 10.0 ** d <= hi]
        if len(ticks) <= 8:
            break
    return ticks


def _scatter(xs: np.ndarray, ys: np.ndarray, fills: np.ndarray, label: str, *,
             width: int = 640, height: int = 360) -> str:
    """Log-log scatter of positive values, one small dot per point."""
    left, bottom, pad = 52, 36, 10
    plot_w, plot_h = width - left - pad, height - bottom - pad
    x_lo, x_hi = _log_range(xs)
    y_lo, y_hi = _log_range(ys)
    px = left + plot_w * (np.log10(xs) - math.log10(x_lo)) / math.log10(x_hi / x_lo)
    py = pad + plot_h * (1 - (np.log10(ys) - math.log10(y_lo)) / math.log10(y_hi / y_lo))
    out = [f'<rect x="{left}" y="{pad}" width="{plot_w}" height="{plot_h}" class="frame"/>']
    for t in _log_ticks(x_lo, x_hi):
        x = left + plot_w * math.log10(t / x_lo) / math.log10(x_hi / x_lo)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{pad}" y2="{pad + plot_h}" class="grid"/>'
                   f'<text x="{x:.1f}" y="{pad + plot_h + 14}" text-anchor="middle">{t:g}</text>')
    for t in _log_ticks(y_lo, y_hi):
        y = pad + plot_h * (1 - math.log10(t / y_lo) / math.log10(y_hi / y_lo))
        out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" '
                   f'class="grid"/><text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">'
                   f"{t:g}</text>")
    r = 4 if len(xs) <= 300 else 3 if len(xs) <= 2000 else 2  # fewer points, bigger dots
    out.append("".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="{f}"/>'
                       for x, y, f in zip(px, py, fills)))
    out.append(f'<text x="{left + plot_w / 2:.0f}" y="{height - 4}" text-anchor="middle" '
               f'class="lab">box size √(w·h), px</text><text x="12" y="{pad + plot_h / 2:.0f}" '
               f'class="lab" text-anchor="middle" transform="rotate(-90 12 {pad + plot_h / 2:.0f})"'
               ">aspect w/h</text>")
    return _svg(width, height, out, label)


def _log_range(values: np.ndarray) -> tuple[float, float]:
    """A range a little wider than the data, at least a factor of 4 wide."""
    lo, hi = float(values.min()) / 1.25, float(values.max()) * 1.25
    if hi / lo < 4:
        mid = math.sqrt(lo * hi)
        lo, hi = mid / 2, mid * 2
    return lo, hi


CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
 margin:24px auto;max-width:1320px;padding:0 16px;color:#222;background:#fff}
h1{font-size:24px;margin:0}h2{font-size:19px;margin:28px 0 10px;border-bottom:1px solid #ddd}
.sub,.note{color:#666}.note{font-size:12.5px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:10px;margin:0}
.card{border:1px solid #ddd;border-radius:6px;padding:8px 12px;background:#fafafa}
.card dt{font-size:12px;color:#666}.card dd{margin:0;font-size:20px;font-weight:600}
.card.error dd{color:#c62828}.card.warning dd{color:#e67e00}.card.splits dd{font-size:15px}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:18px}
figure{margin:0}figcaption{font-weight:600;margin-bottom:6px}
svg{max-width:100%;height:auto;font-size:11px;fill:#333}
svg .v{fill:#555}svg .lab{font-size:12px;fill:#444}
svg .grid{stroke:#e4e4e4}svg .axis{stroke:#999}svg .frame{fill:none;stroke:#ccc}
svg circle{fill-opacity:.6}
.legend{display:flex;flex-wrap:wrap;gap:4px 14px;font-size:12px;margin-top:4px}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px}
table{border-collapse:collapse;width:100%;font-size:13px;margin:8px 0}
th,td{border-bottom:1px solid #eee;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3;position:sticky;top:0}td.n{text-align:right;font-variant-numeric:tabular-nums}
#checks tbody tr{cursor:pointer}#checks tbody tr:hover{background:#f0f6ff}
.sev{border-radius:3px;padding:0 5px;font-size:12px;color:#fff;background:#777}
.sev.error,b.error{background:#d32f2f;color:#fff}.sev.warning,b.warning{background:#f08c00;color:#fff}
b.error,b.warning{padding:0 4px;border-radius:3px}
.filters{display:flex;flex-wrap:wrap;gap:12px;align-items:center;margin:14px 0 4px}
.filters select,.filters input{font:inherit;padding:2px 4px}
#f-count{color:#666}
.thumbs{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:14px}
.thumb img{display:block;max-width:100%;border:1px solid #ccc}
.thumb figcaption{font-weight:normal;font-size:12.5px;margin-top:4px;overflow-wrap:anywhere}
.scroll{max-height:640px;overflow:auto;border:1px solid #eee}.scroll table{margin:0}
nav{display:flex;gap:16px;margin:8px 0 0}nav a{color:#2a5db0;text-decoration:none}
.thumb ul{margin:2px 0;padding-left:18px}
.score-thumbs{grid-template-columns:repeat(auto-fill,minmax(520px,1fr))}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:4px}.pair img{width:100%}
b.fix{background:#00a03c;color:#fff;padding:0 4px;border-radius:3px}
.issue{border-radius:3px;padding:0 5px;font-size:12px;color:#fff;background:#c62828}
.issue.overlooked{background:#00a03c}.issue.badloc{background:#f08c00}
.issue.spurious{background:#7b1fa2}
"""

JS = """
(function () {
  var table = document.getElementById("findings");
  if (!table) return;
  var rows = Array.prototype.slice.call(table.tBodies[0].rows);
  var count = document.getElementById("f-count");
  // filter id -> key in the URL hash (#sev=error&check=geometry.tiny), so views can be linked
  var filters = {sev: "f-sev", check: "f-check", cls: "f-cls", q: "f-text"};
  var el = {};
  Object.keys(filters).forEach(function (k) { el[k] = document.getElementById(filters[k]); });
  function apply() {
    var s = el.sev.value, c = el.check.value, k = el.cls.value;
    var t = el.q.value.trim().toLowerCase(), n = 0;
    rows.forEach(function (r) {
      var ok = (!s || r.dataset.sev === s) && (!c || r.dataset.check === c) &&
               (!k || r.dataset.cls === k) && (!t || r.textContent.toLowerCase().indexOf(t) >= 0);
      r.hidden = !ok;
      if (ok) n++;
    });
    count.textContent = n.toLocaleString("en") + " of " + rows.length.toLocaleString("en") +
                        " rows shown";
    var hash = new URLSearchParams();
    Object.keys(el).forEach(function (k) { if (el[k].value) hash.set(k, el[k].value); });
    try {  // some browsers refuse history changes on file:// pages; the filters still work
      history.replaceState(null, "", hash.toString() ? "#" + hash : location.pathname);
    } catch (e) {}
  }
  var wanted = new URLSearchParams(location.hash.slice(1));
  Object.keys(el).forEach(function (k) {
    if (wanted.has(k)) el[k].value = wanted.get(k);
    el[k].addEventListener("input", apply);
  });
  document.querySelectorAll("#checks tbody tr").forEach(function (tr) {
    tr.addEventListener("click", function () {
      el.check.value = tr.dataset.check; apply(); table.scrollIntoView();
    });
  });
  apply();
})();
"""
