"""The report's four charts, chosen from the data: annotations per class, class share per
split, box size against aspect, boxes per image. Each is a figure for templates/charts.html:
a caption, the plot's geometry (annokit.report.plots) or why there is none, a legend, a note.

Example:
    >>> [f["id"] for f in charts(ds, summarise(ds, found))]  # doctest: +SKIP
    ['chart-classes', 'chart-splits', 'chart-scatter', 'chart-per-image']
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..model import Dataset
from .plots import OTHER_COLOUR, PALETTE, hbars, scatter, vbars

MAX_SCATTER_POINTS = 5000  # boxes drawn in the size/aspect scatter
MAX_CHART_CLASSES = 40     # classes shown in the class bar chart
MAX_SPLIT_CLASSES = 20     # classes shown in the per-split chart (one bar per split each)


def charts(ds: Dataset, summary: dict) -> list[dict]:
    """The four figures, in page order.

    Example:
        >>> charts(ds, summarise(ds, found))[0]["caption"]  # doctest: +SKIP
        'Annotations per class'
    """
    classes = sorted(summary["classes"], key=lambda c: -c["annotations"])
    colours = class_colours(classes)
    return [_class_chart(classes, colours), _split_chart(summary, classes),
            _scatter_chart(ds, summary, colours), _per_image_chart(ds)]


def _figure(figure_id: str, caption: str, plot: dict | None = None, *, legend=(),
            note: str = "", empty: str = "") -> dict:
    return {"id": figure_id, "caption": caption, "plot": plot, "legend": list(legend),
            "note": note, "empty": empty}


def class_colours(classes: list[dict]) -> dict:
    """Category id -> colour: the biggest classes get the palette, the rest grey.

    Example:
        >>> class_colours([{"id": 1, "annotations": 3}, {"id": 2, "annotations": 9}])
        {2: '#4e79a7', 1: '#f28e2b'}
    """
    ranked = sorted(classes, key=lambda c: -c["annotations"])
    return {c["id"]: PALETTE[i] if i < len(PALETTE) else OTHER_COLOUR
            for i, c in enumerate(ranked)}


def _label(c: dict) -> str:
    return c["name"] if c["name"] is not None else f"id {c['id']} (undefined)"


def _cut_note(shown: list, classes: list) -> str:
    return (f"The {len(shown)} largest of {len(classes):,} classes."
            if len(classes) > len(shown) else "")


def _class_chart(classes: list[dict], colours: dict) -> dict:
    shown = classes[:MAX_CHART_CLASSES]
    plot = hbars([(_label(c), [(c["annotations"], colours[c["id"]],
                                f"{c['annotations']:,} ({c['images']:,} img)")])
                  for c in shown], "annotations per class")
    return _figure("chart-classes", "Annotations per class", plot,
                   note=_cut_note(shown, classes))


def _split_chart(summary: dict, classes: list[dict]) -> dict:
    splits = summary["dataset"]["splits"]
    shown = classes[:MAX_SPLIT_CLASSES]
    caption = "Class share per split"
    if len(splits) < 2:
        text = "one split" if splits else "no splits"
        return _figure("chart-splits", caption,
                       empty=f"The dataset has {text}: nothing to compare.")
    totals = {s: v["annotations"] or 1 for s, v in splits.items()}
    split_colours = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(splits)}
    rows = [(_label(c), [(100 * c["splits"][s] / totals[s], split_colours[s],
                          f"{100 * c['splits'][s] / totals[s]:.1f}% {s}") for s in splits])
            for c in shown]
    plot = hbars(rows, "class share per split, percent", bar=13, gap=8)
    return _figure("chart-splits", caption, plot, legend=split_colours.items(),
                   note=_cut_note(shown, classes))


def _scatter_chart(ds: Dataset, summary: dict, colours: dict) -> dict:
    anns = ds.annotations
    w, h = anns["w"].to_numpy(np.float64), anns["h"].to_numpy(np.float64)
    ok = (anns["kind"] == "box").to_numpy() & np.isfinite(w) & np.isfinite(h) & (w > 0) & (h > 0)
    boxes = anns.loc[ok, ["category_id", "w", "h"]]
    caption = "Box size (√area, px) against aspect (w/h), log scales"
    if not len(boxes):
        return _figure("chart-scatter", caption, empty="No boxes with a positive size.")
    sample = sample_boxes(boxes, MAX_SCATTER_POINTS)
    note = (f"A random {len(sample):,} of {len(boxes):,} boxes (every class keeps a few)."
            if len(sample) < len(boxes) else "")
    # draw big classes first so that small ones stay visible on top
    sample = sample.iloc[np.argsort(-sample["category_id"].map(
        sample["category_id"].value_counts()).to_numpy(), kind="stable")]
    size = np.sqrt(sample["w"].to_numpy() * sample["h"].to_numpy())
    aspect = sample["w"].to_numpy() / sample["h"].to_numpy()
    fills = sample["category_id"].map(colours).fillna(OTHER_COLOUR).to_numpy()
    totals = boxes["category_id"].value_counts()  # biggest first, as the colours go
    names = {c["id"]: _label(c) for c in summary["classes"]}
    legend = [(f"{names.get(i, i)} ({n:,})", colours[i]) for i, n in totals.items()
              if colours.get(i, OTHER_COLOUR) != OTHER_COLOUR]
    if len(legend) < len(totals):
        legend.append((f"{len(totals) - len(legend)} other classes", OTHER_COLOUR))
    return _figure("chart-scatter", caption,
                   scatter(size, aspect, fills, "box size against aspect"),
                   legend=legend, note=note)


def _per_image_chart(ds: Dataset) -> dict:
    anns = ds.annotations
    is_box = (anns["kind"] == "box").to_numpy()
    what = "boxes" if is_box.any() else "annotations"
    ids = anns["image_id"].to_numpy()[is_box] if is_box.any() else anns["image_id"].to_numpy()
    image_ids = ds.images["id"].to_numpy()
    per_image = pd.Series(ids).value_counts().reindex(image_ids, fill_value=0).to_numpy()
    caption = f"{what.capitalize()} per image"
    if not len(per_image):
        return _figure("chart-per-image", caption, empty="No images.")
    top = int(per_image.max())
    step = max(1, math.ceil((top + 1) / 40))
    counts = np.bincount(per_image // step)
    labels = [str(i * step) if step == 1 else f"{i * step}–{i * step + step - 1}"
              for i in range(len(counts))]
    return _figure("chart-per-image", caption,
                   vbars(labels, counts, f"{what} per image", "images"))


def sample_boxes(boxes: pd.DataFrame, limit: int) -> pd.DataFrame:
    """A random sample of at most ``limit`` boxes: up to a few per class, then uniform.

    Example:
        >>> len(sample_boxes(ds.annotations, 5000)) <= 5000  # doctest: +SKIP
        True
    """
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
