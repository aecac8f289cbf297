"""Plot geometry for the report's SVG charts: where each bar, tick, label and dot goes.

Every position is computed here and given as the text of an SVG attribute (``f1``: one
decimal, ``f0``: none); templates/svg.html only places them, autoescaped, so a class name or
a split name is text wherever it lands.

Example:
    >>> p = hbars([("cat", [(3, "#4e79a7", "3")])], "annotations per class")
    >>> p["kind"], p["rows"][0]["bars"][0]["width"]
    ('hbars', '590.5')
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f",
           "#ff9da7", "#e15759"]
OTHER_COLOUR = "#a0a0a0"  # classes beyond the palette


def f1(value: float) -> str:
    """A coordinate with one decimal.

    Example:
        >>> f1(3.14159)
        '3.1'
    """
    return f"{value:.1f}"


def f0(value: float) -> str:
    """A coordinate rounded to a whole number.

    Example:
        >>> f0(99.5), f0(100.5)
        ('100', '100')
    """
    return f"{value:.0f}"


def short(text: str, n: int = 28) -> str:
    """The text cut to ``n`` characters with an ellipsis.

    Example:
        >>> short("a very long class name indeed, longer than most", 10)
        'a very lo…'
    """
    return text if len(text) <= n else text[: n - 1] + "…"


def hbars(rows: list[tuple[str, list[tuple[float, str, str]]]], label: str, *,
          bar: int = 14, gap: int = 6, width: int = 640) -> dict:
    """Horizontal bars: each row a label and one or more (value, colour, text) bars.

    Example:
        >>> hbars([("dog", [(2, "#f28e2b", "2")])], "per class")["height"]
        '24'
    """
    longest = max((len(short(str(r[0]))) for r in rows), default=4)
    widest = max((len(t) for _, bars in rows for _, _, t in bars), default=4)
    left, right = min(200, 12 + 7 * longest), 10 + 6.5 * widest  # room for the value texts
    top = max((v for _, bars in rows for v, _, _ in bars), default=0) or 1
    scale = (width - left - right) / top
    out, y = [], 4
    for name, bars in rows:
        start, drawn = y, []
        for value, colour, text in bars:
            length = max(value * scale, 1 if value else 0)
            drawn.append({"y": y, "width": f1(length), "colour": colour, "text": text,
                          "title": f"{name}: {text}", "text_x": f1(left + length + 4),
                          "text_y": y + bar - 2})
            y += bar
        out.append({"bars": drawn, "name": short(str(name)), "name_y": f1((start + y) / 2 + 4)})
        y += gap
    return {"kind": "hbars", "width": f0(width), "height": f0(y), "label": label, "left": left,
            "name_x": left - 6, "bar": bar, "axis_y": y, "rows": out}


def nice_ticks(top: float, n: int = 4) -> list[float]:
    """Round numbers from 0 to about ``top`` (1-2-5 steps).

    Example:
        >>> nice_ticks(9)
        [0, 5]
    """
    raw = top / n if top > 0 else 1
    step = min((m * 10 ** math.floor(math.log10(raw)) for m in (1, 2, 5, 10)
                if m * 10 ** math.floor(math.log10(raw)) >= raw))
    return [i * step for i in range(int(top // step) + 1)]


def vbars(labels: list[str], counts: np.ndarray, label: str, ylabel: str, *,
          width: int = 640, height: int = 240) -> dict:
    """A histogram: one vertical bar per label, y axis with round ticks, x labels thinned.

    Example:
        >>> len(vbars(["0", "1"], np.array([3, 1]), "boxes per image", "images")["bars"])
        2
    """
    left, bottom, top_pad = 62, 34, 10
    plot_w, plot_h = width - left - 10, height - bottom - top_pad
    top = max(int(counts.max()), 1)
    slot = plot_w / len(counts)
    ticks = [{"y": f1(y), "text_y": f1(y + 4), "text": f"{t:,.0f}"}
             for t in nice_ticks(top) for y in [top_pad + plot_h * (1 - t / top)]]
    every = max(1, math.ceil(len(counts) / 12))
    bars = []
    for i, (name, n) in enumerate(zip(labels, counts)):
        x, bar_h = left + i * slot, plot_h * n / top
        bars.append({"x": f1(x + 1), "y": f1(top_pad + plot_h - bar_h), "height": f1(bar_h),
                     "title": f"{name}: {n:,} {ylabel}", "name": name,
                     "name_x": f1(x + slot / 2) if i % every == 0 else None})
    return {"kind": "vbars", "width": f0(width), "height": f0(height), "label": label,
            "ylabel": ylabel, "left": left, "right": width - 10, "tick_x": left - 4,
            "bar_width": f1(max(slot - 2, 1)), "name_y": top_pad + plot_h + 14,
            "label_x": f0(left + plot_w / 2), "label_y": height - 4,
            "ylabel_y": f0(top_pad + plot_h / 2), "ticks": ticks, "bars": bars,
            "colour": PALETTE[0]}


def log_ticks(lo: float, hi: float) -> list[float]:
    """1-2-5 ticks between lo and hi (decades only when that gives too many).

    Example:
        >>> log_ticks(3, 60)
        [5.0, 10.0, 20.0, 50.0]
    """
    decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
    for mults in ((1, 2, 5), (1,)):
        ticks = [m * 10.0 ** d for d in decades for m in mults if lo <= m * 10.0 ** d <= hi]
        if len(ticks) <= 8:
            break
    return ticks


def scatter(xs: np.ndarray, ys: np.ndarray, fills: np.ndarray, label: str, *,
            width: int = 640, height: int = 360) -> dict:
    """Log-log scatter of positive values, one small dot per point, coloured from the palette
    (positions as text with one decimal).

    Example:
        >>> p = scatter(np.array([4., 40.]), np.array([1., 2.]), np.array(PALETTE[:2]), "s")
        >>> len(p["points"][0]), p["radius"]
        (2, 4)
    """
    unknown = set(pd.unique(fills)) - {*PALETTE, OTHER_COLOUR}
    if unknown:  # the dots are drawn unescaped (templates/svg.html): colours we chose only
        raise ValueError(f"scatter colours must come from the palette, not {sorted(unknown)}")
    left, bottom, pad = 52, 36, 10
    plot_w, plot_h = width - left - pad, height - bottom - pad
    x_lo, x_hi = log_range(xs)
    y_lo, y_hi = log_range(ys)
    px = left + plot_w * (np.log10(xs) - math.log10(x_lo)) / math.log10(x_hi / x_lo)
    py = pad + plot_h * (1 - (np.log10(ys) - math.log10(y_lo)) / math.log10(y_hi / y_lo))
    x_ticks = [{"x": f1(left + plot_w * math.log10(t / x_lo) / math.log10(x_hi / x_lo)),
                "text": f"{t:g}"} for t in log_ticks(x_lo, x_hi)]
    y_ticks = [{"y": f1(y), "text_y": f1(y + 4), "text": f"{t:g}"} for t in log_ticks(y_lo, y_hi)
               for y in [pad + plot_h * (1 - math.log10(t / y_lo) / math.log10(y_hi / y_lo))]]
    radius = 4 if len(xs) <= 300 else 3 if len(xs) <= 2000 else 2  # fewer points, bigger dots
    return {"kind": "scatter", "width": f0(width), "height": f0(height), "label": label,
            "left": left, "pad": pad, "plot_w": plot_w, "plot_h": plot_h,
            "right": left + plot_w, "bottom": pad + plot_h, "tick_x": left - 4,
            "tick_y": pad + plot_h + 14, "label_x": f0(left + plot_w / 2),
            "label_y": height - 4, "ylabel_y": f0(pad + plot_h / 2),
            "x_ticks": x_ticks, "y_ticks": y_ticks, "radius": radius,
            "points": [_fixed(px), _fixed(py), fills.tolist()]}  # x, y, colour columns


def _fixed(values: np.ndarray) -> list[str]:
    """Coordinates as text with one decimal, for thousands of dots at once."""
    return [f"{v:.1f}" for v in values.tolist()]


def log_range(values: np.ndarray) -> tuple[float, float]:
    """A range a little wider than the data, at least a factor of 4 wide.

    Example:
        >>> log_range(np.array([10.0, 20.0]))
        (7.0710678118654755, 28.284271247461902)
    """
    lo, hi = float(values.min()) / 1.25, float(values.max()) * 1.25
    if hi / lo < 4:
        mid = math.sqrt(lo * hi)
        lo, hi = mid / 2, mid * 2
    return lo, hi
