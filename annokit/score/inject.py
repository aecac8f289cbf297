"""Plant known errors in a dataset, to measure how well the scorer finds them.

Used by ``baselines/score_bench.py`` and the tests; useful on your own data too: plant
errors in a copy, score it, and see how many come first.

Example:
    >>> noisy, truth, deleted = inject_detection_errors(ds, seed=0)  # doctest: +SKIP
    >>> truth["error"].value_counts()                                 # doctest: +SKIP
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..geometry import iou_matrix
from ..model import Dataset
from .samples import jitter, negatives


def inject_detection_errors(ds: Dataset, seed: int = 0, *, swap: float = 0.05,
                            badloc: float = 0.05, delete: float = 0.10,
                            spurious: float = 0.05) -> tuple[Dataset, pd.DataFrame, pd.DataFrame]:
    """A copy of ``ds`` with planted errors, the truth, and the deleted boxes.

    Fractions are of the boxes: ``swap`` change class, ``badloc`` move/resize to IoU < 0.5
    with the original, ``delete`` are removed, ``spurious`` new boxes on background (sizes
    of annotated boxes, IoU 0 with every box). ``truth`` has one row per annotation of the
    result: ``annotation_id`` and ``error`` (None, 'swap', 'badloc' or 'spurious');
    ``deleted`` holds the removed rows.

    Example:
        >>> noisy, truth, deleted = inject_detection_errors(ds, 1, swap=0)  # doctest: +SKIP
    """
    rng = np.random.default_rng(seed)
    anns = ds.annotations.copy()
    n = len(anns)
    order = rng.permutation(n)
    counts = [int(round(f * n)) for f in (swap, badloc, delete)]
    cut = np.cumsum([0, *counts])
    picks = [order[cut[i]:cut[i + 1]] for i in range(3)]
    error = np.full(n, None, dtype=object)
    classes = ds.categories["id"].to_numpy()
    if len(classes) > 1 and len(picks[0]):
        old = anns["category_id"].to_numpy()[picks[0]]
        step = rng.integers(1, len(classes), len(old))
        pos = np.searchsorted(np.sort(classes), old)
        anns.loc[picks[0], "category_id"] = np.sort(classes)[(pos + step) % len(classes)]
        error[picks[0]] = "swap"
    sizes = ds.images.set_index("id")[["width", "height"]].astype(float)
    wh = sizes.loc[anns["image_id"]].to_numpy()
    if len(picks[1]):
        box = anns.loc[picks[1], ["x", "y", "w", "h"]].to_numpy()
        moved = np.vstack([jitter(b[None], rng, w, h) for b, (w, h) in
                           zip(box, wh[picks[1]])])
        anns.loc[picks[1], ["x", "y", "w", "h"]] = moved
        error[picks[1]] = "badloc"
    anns["_error"] = error
    deleted = anns.loc[picks[2]].drop(columns="_error").reset_index(drop=True)
    anns = anns.drop(index=picks[2])
    extra = _spurious(ds, anns, int(round(spurious * n)), rng)
    anns = pd.concat([anns, extra], ignore_index=True)
    truth = pd.DataFrame({"annotation_id": anns["id"].to_numpy(),
                          "error": anns["_error"].astype(object).where(anns["_error"].notna(),
                                                                       None).to_numpy()})
    out = Dataset(ds.categories.copy(), ds.images.copy(), anns.drop(columns="_error"),
                  dict(ds.meta))
    return out, truth, deleted


def _spurious(ds: Dataset, anns: pd.DataFrame, count: int, rng) -> pd.DataFrame:
    """``count`` new boxes, each in a random image, where no box (nor deleted box) is."""
    if count <= 0 or not len(anns):
        return anns.iloc[:0]
    images = ds.images.reset_index(drop=True)
    rel = (anns[["w", "h"]].to_numpy() /
           images.set_index("id").loc[anns["image_id"], ["width", "height"]].to_numpy(float))
    every = ds.annotations
    rows: list[dict] = []
    next_id = int(max(every["id"].max(), anns["id"].max())) + 1
    chosen = rng.integers(0, len(images), count * 3)
    for pos in chosen.tolist():
        if len(rows) == count:
            break
        image = images.iloc[pos]
        boxes = every.loc[every["image_id"] == image["id"], ["x", "y", "w", "h"]].to_numpy()
        found = negatives(boxes, rel, 1, rng, float(image["width"]), float(image["height"]),
                          max_overlap=1e-9)
        if len(found) and (not len(boxes) or iou_matrix(found, boxes).max() == 0):
            cat = ds.categories["id"].to_numpy()[rng.integers(0, len(ds.categories))]
            rows.append({"id": next_id, "image_id": image["id"], "category_id": cat,
                         "kind": "box", "x": found[0, 0], "y": found[0, 1], "w": found[0, 2],
                         "h": found[0, 3], "iscrowd": 0, "_error": "spurious"})
            next_id += 1
    return pd.DataFrame(rows)


def inject_label_flips(ds: Dataset, rate: float = 0.05, seed: int = 0
                       ) -> tuple[Dataset, pd.DataFrame]:
    """A copy of a classification ``ds`` with ``rate`` of its labels changed to another
    class; ``truth`` has ``annotation_id`` and ``flipped`` (bool) per annotation.

    Example:
        >>> noisy, truth = inject_label_flips(ds, 0.05, seed=0)  # doctest: +SKIP
        >>> int(truth["flipped"].sum())                          # doctest: +SKIP
        103
    """
    rng = np.random.default_rng(seed)
    out = ds.copy()
    anns = out.annotations
    n = len(anns)
    pick = rng.permutation(n)[:int(round(rate * n))]
    classes = np.sort(ds.categories["id"].to_numpy())
    pos = np.searchsorted(classes, anns["category_id"].to_numpy()[pick])
    anns.loc[pick, "category_id"] = classes[(pos + rng.integers(1, len(classes), len(pick)))
                                            % len(classes)]
    flipped = np.zeros(n, bool)
    flipped[pick] = True
    return out, pd.DataFrame({"annotation_id": anns["id"].to_numpy(), "flipped": flipped})
