"""An error recipe written apart from the scorer: it imports nothing from ``annokit.score``.

``annokit.score.inject`` plants moved boxes with ``samples.jitter``, the very function that
makes the badloc model's training samples, so a bench on it flatters the scorer. This
recipe plants errors the way annotators make them, from other distributions:

- **badloc**: each edge dragged on its own (Laplace, scale 0.25 of the box side; a third of
  the moves drag only one or two edges), boxes clipped at the image border (kept when
  the IoU with the original falls in [0.1, 0.5) after clipping; otherwise drawn again);
- **swap**: the new class drawn by class frequency (a common class is the likely slip);
- **spurious**: a box on background (IoU 0 with every box, deleted ones included) of the
  size of a random annotated box of the class it gets, the class drawn by frequency;
- **deleted** (overlooked): boxes removed, whole images' worth never more than half;
- **flip** (classification): the new label drawn by class frequency.

Each function returns copies; ``truth`` has one row per annotation of the result
(``annotation_id``, ``error``: None or the type) and ``deleted`` the removed rows.

Example:
    >>> noisy, truth, deleted = plant_detection(ds, seed=0)  # doctest: +SKIP
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from annokit.model import Dataset

TRIES = 20


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every xywh box of ``a`` with every one of ``b`` (written here on purpose)."""
    ax0, ay0, ax1, ay1 = a[:, 0], a[:, 1], a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx0, by0, bx1, by1 = b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax1[:, None], bx1[None]) - np.maximum(ax0[:, None], bx0[None]), 0,
                 None)
    ih = np.clip(np.minimum(ay1[:, None], by1[None]) - np.maximum(ay0[:, None], by0[None]), 0,
                 None)
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return inter / np.maximum(union, 1e-12)


def _frequency(anns: pd.DataFrame, classes: np.ndarray) -> np.ndarray:
    counts = anns["category_id"].value_counts().reindex(classes, fill_value=0).to_numpy(float)
    counts += 1.0  # a class with no box can still be chosen, rarely
    return counts / counts.sum()


def _other_class(old: np.ndarray, classes: np.ndarray, freq: np.ndarray, rng) -> np.ndarray:
    """A class other than ``old`` for each entry, drawn by class frequency."""
    out = old.copy()
    for i, c in enumerate(old.tolist()):
        p = np.where(classes == c, 0.0, freq)
        out[i] = rng.choice(classes, p=p / p.sum())
    return out


def _drag(box: np.ndarray, width: float, height: float, rng) -> np.ndarray:
    """A box with edges dragged (Laplace) and clipped to the image, IoU in [0.1, 0.5)."""
    x0, y0, x1, y1 = box[0], box[1], box[0] + box[2], box[1] + box[3]
    for _ in range(TRIES):
        moved = rng.random(4) < rng.choice([0.4, 1.0], p=[1 / 3, 2 / 3])
        if not moved.any():
            continue
        side = np.array([box[2], box[3], box[2], box[3]])
        d = rng.laplace(0.0, 0.25, 4) * side * moved
        e = np.array([x0, y0, x1, y1]) + d
        e = np.clip(e, 0, [width, height, width, height])
        cand = np.array([[min(e[0], e[2]), min(e[1], e[3]), abs(e[2] - e[0]), abs(e[3] - e[1])]])
        if cand[0, 2] < 1 or cand[0, 3] < 1:
            continue
        iou = _iou(cand, box[None])[0, 0]
        if 0.1 <= iou < 0.5:
            return cand[0]
    # no draw fitted: shift by most of its size towards the image centre, clipped
    sx = box[2] * 0.7 * (1 if x0 + box[2] / 2 < width / 2 else -1)
    nx = np.clip(x0 + sx, 0, max(width - box[2], 0))
    return np.array([nx, y0, min(box[2], width - nx), box[3]])


def plant_detection(ds: Dataset, seed: int = 0, *, swap: float = 0.05, badloc: float = 0.05,
                    delete: float = 0.10, spurious: float = 0.05
                    ) -> tuple[Dataset, pd.DataFrame, pd.DataFrame]:
    """A copy of ``ds`` with planted errors (fractions of its boxes), the truth, the
    deleted boxes.

    Example:
        >>> noisy, truth, deleted = plant_detection(ds, 1, swap=0)  # doctest: +SKIP
    """
    rng = np.random.default_rng([seed, 7919])
    anns = ds.annotations.copy().reset_index(drop=True)
    ok = ((anns["kind"] == "box") & (anns["w"] > 1) & (anns["h"] > 1)).to_numpy()
    usable = np.flatnonzero(ok)
    n = len(usable)
    order = rng.permutation(usable)
    counts = [int(round(f * n)) for f in (swap, badloc, delete)]
    cut = np.cumsum([0, *counts])
    picks = [order[cut[i]:cut[i + 1]] for i in range(3)]
    classes = np.sort(ds.categories["id"].to_numpy())
    freq = _frequency(anns, classes)
    error = np.full(len(anns), None, dtype=object)
    if len(classes) > 1 and len(picks[0]):
        old = anns.loc[picks[0], "category_id"].to_numpy()
        anns.loc[picks[0], "category_id"] = _other_class(old, classes, freq, rng)
        error[picks[0]] = "swap"
    sizes = ds.images.set_index("id")[["width", "height"]].astype(float)
    if len(picks[1]):
        boxes = anns.loc[picks[1], ["x", "y", "w", "h"]].to_numpy(float)
        wh = sizes.loc[anns.loc[picks[1], "image_id"]].to_numpy()
        anns.loc[picks[1], ["x", "y", "w", "h"]] = np.vstack(
            [_drag(b, w, h, rng) for b, (w, h) in zip(boxes, wh)])
        error[picks[1]] = "badloc"
    anns["_error"] = error
    deleted = anns.loc[picks[2]].drop(columns="_error").reset_index(drop=True)
    every = ds.annotations  # deleted boxes are objects too: no spurious box goes there
    kept = anns.drop(index=picks[2])
    extra = _spurious(ds, every, kept, int(round(spurious * n)), freq, classes, rng)
    out = pd.concat([kept, extra], ignore_index=True)
    truth = pd.DataFrame({"annotation_id": out["id"].to_numpy(),
                          "error": [e if isinstance(e, str) else None for e in out["_error"]]})
    return (Dataset(ds.categories.copy(), ds.images.copy(), out.drop(columns="_error"),
                    dict(ds.meta)), truth, deleted)


def _spurious(ds, every, kept, count, freq, classes, rng) -> pd.DataFrame:
    """``count`` boxes on background, class by frequency, size of a box of that class."""
    if count <= 0 or not len(kept):
        return kept.iloc[:0]
    images = ds.images.reset_index(drop=True)
    size = images.set_index("id")[["width", "height"]].astype(float)
    rel = every[["w", "h"]].to_numpy(float) / size.loc[every["image_id"]].to_numpy()
    by_class = {c: np.flatnonzero(every["category_id"].to_numpy() == c) for c in classes}
    boxes_of = {i: g[["x", "y", "w", "h"]].to_numpy(float)
                for i, g in every.groupby("image_id")}
    rows, next_id = [], int(every["id"].max()) + 1
    for _ in range(count * 30):
        if len(rows) == count:
            break
        cat = rng.choice(classes, p=freq)
        if not len(by_class[cat]):
            continue
        image = images.iloc[rng.integers(0, len(images))]
        width, height = float(image["width"]), float(image["height"])
        w, h = rel[rng.choice(by_class[cat])] * [width, height]
        if w >= width or h >= height:
            continue
        box = np.array([[rng.uniform(0, width - w), rng.uniform(0, height - h), w, h]])
        have = boxes_of.get(image["id"], np.zeros((0, 4)))
        if len(have) and _iou(box, have).max() > 0:
            continue
        boxes_of[image["id"]] = np.vstack([have, box])
        rows.append({"id": next_id, "image_id": image["id"], "category_id": cat, "kind": "box",
                     "x": box[0, 0], "y": box[0, 1], "w": w, "h": h, "iscrowd": 0,
                     "_error": "spurious"})
        next_id += 1
    return pd.DataFrame(rows)


def plant_flips(ds: Dataset, rate: float = 0.05, seed: int = 0) -> tuple[Dataset, pd.DataFrame]:
    """A copy of a classification ``ds`` with ``rate`` of its labels changed to a class drawn
    by frequency; ``truth`` has ``annotation_id`` and ``flipped``.

    Example:
        >>> noisy, truth = plant_flips(ds, 0.05, seed=0)  # doctest: +SKIP
    """
    rng = np.random.default_rng([seed, 104729])
    out = ds.copy()
    anns = out.annotations
    classes = np.sort(ds.categories["id"].to_numpy())
    pick = rng.permutation(len(anns))[:int(round(rate * len(anns)))]
    old = anns["category_id"].to_numpy()[pick]
    anns.loc[anns.index[pick], "category_id"] = _other_class(old, classes,
                                                             _frequency(anns, classes), rng)
    flipped = np.zeros(len(anns), bool)
    flipped[pick] = True
    return out, pd.DataFrame({"annotation_id": anns["id"].to_numpy(), "flipped": flipped})
