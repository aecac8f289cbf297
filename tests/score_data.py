"""Small synthetic datasets with exact labels, for the scorer's tests: coloured shapes
on noise (boxes) and one shape per image (labels)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

import annokit

COLOURS = {1: (220, 40, 40), 2: (40, 200, 60), 3: (50, 70, 230)}  # circle, square, triangle
NAMES = {1: "circle", 2: "square", 3: "triangle"}


def _draw(draw: ImageDraw.ImageDraw, cls: int, x: float, y: float, s: float) -> None:
    box = [x, y, x + s, y + s]
    if cls == 1:
        draw.ellipse(box, fill=COLOURS[1])
    elif cls == 2:
        draw.rectangle(box, fill=COLOURS[2])
    else:
        draw.polygon([(x + s / 2, y), (x, y + s), (x + s, y + s)], fill=COLOURS[3])


def make_shapes(folder, n_images: int = 36, seed: int = 0, size: int = 128) -> annokit.Dataset:
    """Coloured shapes on a noisy background; exact boxes, non-overlapping."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for i in range(n_images):
        bg = rng.normal(120, 25, (size, size, 3)).clip(0, 255).astype(np.uint8)
        im = Image.fromarray(bg)
        draw = ImageDraw.Draw(im)
        for slot in rng.permutation(4)[:3]:  # a 2x2 grid of slots: shapes never overlap
            s = float(rng.integers(22, 34))
            x = (slot % 2) * size / 2 + rng.uniform(4, size / 2 - s - 4)
            y = (slot // 2) * size / 2 + rng.uniform(4, size / 2 - s - 4)
            cls = int(rng.integers(1, 4))
            _draw(draw, cls, x, y, s)
            anns.append({"image_id": i + 1, "category_id": cls, "x": x, "y": y, "w": s + 1,
                         "h": s + 1})
        name = f"img_{i:03d}.png"
        im.save(folder / name)
        images.append({"id": i + 1, "file_name": name, "width": size, "height": size})
    return annokit.Dataset(
        pd.DataFrame({"id": list(NAMES), "name": list(NAMES.values())}),
        pd.DataFrame(images), pd.DataFrame(anns), {"image_root": str(folder)})


def ranks_first(quality: np.ndarray, wrong: np.ndarray) -> float:
    """Share of the k planted errors among the k lowest qualities."""
    k = int(wrong.sum())
    worst = np.argsort(quality, kind="stable")[:k]
    return wrong[worst].mean()


def make_classes(folder, n: int = 90, seed: int = 0) -> annokit.Dataset:
    """One shape per image: the class is the shape (and its colour)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for i in range(n):
        cls = i % 3 + 1
        im = Image.fromarray(rng.normal(120, 25, (64, 64, 3)).clip(0, 255).astype(np.uint8))
        s = float(rng.integers(24, 40))
        _draw(ImageDraw.Draw(im), cls, *rng.uniform(2, 62 - s, 2), s)
        im.save(folder / f"c_{i:03d}.png")
        images.append({"id": i + 1, "file_name": f"c_{i:03d}.png", "width": 64, "height": 64})
        anns.append({"image_id": i + 1, "category_id": cls, "kind": "label"})
    return annokit.Dataset(pd.DataFrame({"id": list(NAMES), "name": list(NAMES.values())}),
                           pd.DataFrame(images), pd.DataFrame(anns),
                           {"image_root": str(folder)})
