"""Hostile datasets for the scorer's memory (issue 13.3), made at test time (never stored):
thousands of 1x1 boxes on one small image, a box reaching far outside a 3000x3000 image,
and a 9000x9000 image. Used by ``test_hostile_score.py`` and
``baselines/memory_score_bench.py``. Each is a COCO file ``data.json`` beside its PNGs.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image


def _coco(root: Path, images: list[tuple[str, int, int]], boxes: list[tuple[int, list]]) -> Path:
    """Write ``root/data.json`` (two classes) with ``images`` (name, width, height) and
    ``boxes`` (image index, xywh); the PNGs are noise, so features are not degenerate."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name, width, height in images:
        # a small noise tile stretched: real pixels without holding a huge random array
        tile = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
        Image.fromarray(tile).resize((width, height), Image.Resampling.NEAREST) \
            .save(root / name)
    coco = {"images": [{"id": i + 1, "file_name": n, "width": w, "height": h}
                       for i, (n, w, h) in enumerate(images)],
            "annotations": [{"id": k + 1, "image_id": i + 1, "category_id": 1 + k % 2,
                             "bbox": b, "area": float(b[2] * b[3]), "iscrowd": 0}
                            for k, (i, b) in enumerate(boxes)],
            "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]}
    (root / "data.json").write_text(json.dumps(coco))
    return root / "data.json"


def tiny_boxes(root: Path, n: int = 10_000) -> Path:
    """``n`` 1x1 boxes on one 128x96 image (plus a plain second image for the folds)."""
    rng = np.random.default_rng(1)
    xy = rng.integers(0, [127, 95], (n, 2))
    boxes = [(0, [int(x), int(y), 1, 1]) for x, y in xy]
    boxes += [(1, [10, 10, 20, 20]), (1, [40, 30, 20, 20])]
    return _coco(root, [("crowd.png", 128, 96), ("plain.png", 128, 96)], boxes)


def far_box(root: Path) -> Path:
    """A 3000x3000 image whose one box reaches x = 50,000 (plus normal boxes elsewhere)."""
    boxes = [(0, [2900, 100, 47100, 200]), (0, [100, 100, 300, 300]),
             (1, [50, 50, 200, 200]), (1, [400, 300, 250, 150])]
    return _coco(root, [("wide.png", 3000, 3000), ("plain.png", 800, 600)], boxes)


def huge_image(root: Path, side: int = 9000) -> Path:
    """A ``side`` x ``side`` image with a few boxes (plus a normal image)."""
    boxes = [(0, [100, 100, 2000, 1500]), (0, [5000, 6000, 3000, 2500]),
             (0, [8000, 8000, 999, 999]), (1, [50, 50, 200, 200]), (1, [400, 300, 250, 150])]
    return _coco(root, [("huge.png", side, side), ("plain.png", 800, 600)], boxes)
