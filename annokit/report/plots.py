"""Plot geometry for the report's SVG charts: where each bar, tick and dot goes, in numbers.

No markup here: templates/svg.html turns these dicts into SVG (autoescaped), so a class name
or a split name is text wherever it lands.

Example:
    >>> p = hbars([("cat", [(3, "#4e79a7", "3")])], "annotations per class")
    >>> p["kind"], p["rows"][0]["bars"][0]["length"] > 0
    ('hbars', True)
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f",
           "#ff9da7", "#e15759"]
OTHER_COLOUR = "#a0a0a0"  # classes beyond the palette


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
        24
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
            drawn.append({"y": y, "length": max(value * scale, 1 if value else 0),
                          "colour": colour, "title": f"{name}: {text}", "text": text})
            y += bar
        out.append({"bars": drawn, "name": short(str(name)), "name_y": (start + y) / 2 + 4})
        y += gap
    return {"kind": "hbars", "width": width, "height": y, "label": label, "left": left,
            "bar": bar, "rows": out}


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
    ticks = [{"y": top_pad + plot_h * (1 - t / top), "value": t} for t in nice_ticks(top)]
    every = max(1, math.ceil(len(counts) / 12))
    bars = [{"x": left + i * slot, "height": plot_h * n / top, "name": name, "count": int(n),
             "labelled": i % every == 0} for i, (name, n) in enumerate(zip(labels, counts))]
    return {"kind": "vbars", "width": width, "height": height, "label": label,
            "ylabel": ylabel, "left": left, "right": width - 10, "top_pad": top_pad,
            "plot_w": plot_w, "plot_h": plot_h, "slot": slot, "ticks": ticks, "bars": bars,
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
        >>> len(p["points"]), p["radius"]
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
    x_ticks = [{"at": left + plot_w * math.log10(t / x_lo) / math.log10(x_hi / x_lo),
                "value": t} for t in log_ticks(x_lo, x_hi)]
    y_ticks = [{"at": pad + plot_h * (1 - math.log10(t / y_lo) / math.log10(y_hi / y_lo)),
                "value": t} for t in log_ticks(y_lo, y_hi)]
    radius = 4 if len(xs) <= 300 else 3 if len(xs) <= 2000 else 2  # fewer points, bigger dots
    return {"kind": "scatter", "width": width, "height": height, "label": label,
            "left": left, "pad": pad, "plot_w": plot_w, "plot_h": plot_h,
            "x_ticks": x_ticks, "y_ticks": y_ticks, "radius": radius,
            "points": list(zip(_fixed(px), _fixed(py), fills.tolist()))}


def _fixed(values: np.ndarray) -> list[str]:
    """Coordinates as text with one decimal (thousands of dots: formatted here, in one pass)."""
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
