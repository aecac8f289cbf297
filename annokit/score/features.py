"""Hand-made features for the classic scorer: HOG (scikit-image) and colour histograms.

A box becomes one fixed-length vector: HOG of its grey crop, taken with a margin of
``PAD`` of its size on every side so that the object's edges fall on known cells (a box
off its object puts them elsewhere), colour histograms of the inside, and the mean
colour of the margin against the inside. An image (classification) becomes HOG of the
whole image at two cell sizes (edges and the coarse object shape) plus colour histograms
and a coarse colour layout.

Example:
    >>> from PIL import Image
    >>> im = Image.new("RGB", (64, 48), (200, 30, 30))
    >>> crop_features(im, np.array([[8.0, 8.0, 24.0, 20.0]])).shape
    (1, 936)
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from ..fileio import open_image

CROP = 48          # side of the (padded) crop HOG looks at
PAD = 0.25         # margin on each side, a fraction of the box's size
INNER = slice(8, 40)  # the box itself inside the padded crop: 48 * 0.25 / 1.5 = 8
BINS = 8           # colour histogram bins per HSV channel
IMAGE_SIDE = 64    # classification: images are squashed to this side for colour
HOG_SIDE = 128     # ... and to this one for HOG (16 and 32 px cells: 7x7 and 3x3 blocks)
GRID = 4           # classification: coarse colour layout, GRID x GRID cells
BLOCK = 512        # boxes featurised at once (their float temporaries: ~50 MB)


def open_rgb(path: str, max_side: int | None = None) -> Image.Image:
    """Decode ``path`` as RGB (JPEG drafts at a reduced scale when ``max_side`` allows).

    Raises OSError/ValueError/SyntaxError for unreadable or truncated files.

    Example:
        >>> open_rgb("fixtures/shapes/voc/JPEGImages/shapes_000.jpg").size  # doctest: +SKIP
        (160, 120)
    """
    with open_image(path) as im:  # a FIFO or /dev/zero: refused, never read
        if max_side and im.format == "JPEG":
            im.draft("RGB", (max_side, max_side))
        im.load()
        # no copy when it is RGB already: a 9000 px image is 243 MB a copy
        return im if im.mode == "RGB" else im.convert("RGB")


def read_images(ds, label: str, skipped: list[str], max_side: int | None = None):
    """Yield (position, RGB image) for every image of ``ds`` that can be read, with a
    progress bar; an unreadable, truncated or unplaced image is listed in ``skipped``.

    Example:
        >>> [pos for pos, im in read_images(ds, "features", skipped := [])]  # doctest: +SKIP
        [0, 1, 2]
    """
    from ..progress import track

    paths = ds.image_paths().tolist()
    names = ds.images["file_name"].tolist()
    for pos in track(range(len(paths)), label, total=len(paths), min_items=50):
        try:
            if paths[pos] is None:
                raise OSError("image location unknown (no image root)")
            im = open_rgb(paths[pos], max_side)
        except Exception as e:  # unreadable or truncated: listed, never fatal
            skipped.append(f"{names[pos]}: {type(e).__name__}: {e}")
            continue
        yield pos, im


def stack_rows(rows: dict[int, np.ndarray], n: int) -> np.ndarray:
    """One row per image position (float32; zeros where ``rows`` has none, e.g. an image
    that could not be read), from a vector per position.

    Example:
        >>> stack_rows({1: np.array([2.0, 3.0])}, 3).tolist()
        [[0.0, 0.0], [2.0, 3.0], [0.0, 0.0]]
    """
    dims = len(next(iter(rows.values()))) if rows else 0
    out = np.zeros((n, dims), np.float32)
    for pos, v in rows.items():
        out[pos] = v
    return out


def crops(im: Image.Image, boxes_xyxy: np.ndarray, side: int = CROP, pad: float = PAD
          ) -> np.ndarray:
    """(n, side, side, 3) uint8: each box widened by ``pad`` and resized to ``side``.

    Only the part of a widened box inside the image is read; what lies outside is grey.
    No padded copy of the image is made, so a box reaching far outside a large image
    costs no more memory than one inside it (issue 13.3: one box to x = 50,000 on a
    3000 px image once made a 3 GB canvas).

    Example:
        >>> crops(Image.new("RGB", (32, 32)), np.array([[0.0, 0, 10, 10]])).shape
        (1, 48, 48, 3)
        >>> int(crops(Image.new("RGB", (32, 32)), np.array([[-1e6, 0, -9e5, 10]]))[0, 0, 0, 0])
        128
    """
    boxes = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
    out = np.full((len(boxes), side, side, 3), 128, np.uint8)
    if not len(boxes):
        return out
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    wide = np.stack([boxes[:, 0] - pad * w, boxes[:, 1] - pad * h,
                     boxes[:, 2] + pad * w, boxes[:, 3] + pad * h], axis=1)
    wide[:, 2:] = np.maximum(wide[:, 2:], wide[:, :2] + 1)  # at least a pixel wide
    inside = np.clip(wide, 0, [im.width, im.height] * 2)
    # where the inside part lands in the side x side crop
    scale = side / (wide[:, 2:] - wide[:, :2])
    dest = np.round((inside - np.tile(wide[:, :2], 2)) * np.tile(scale, 2)).astype(np.int64)
    dest = np.clip(dest, 0, side)
    whole = (inside == wide).all(axis=1)
    for i, box in enumerate(inside.tolist()):  # one C call per box (Pillow's resize box)
        if whole[i]:
            out[i] = np.asarray(im.resize((side, side), Image.Resampling.BILINEAR, box=box))
            continue
        x0, y0, x1, y1 = dest[i].tolist()
        if x1 <= x0 or y1 <= y0 or box[2] <= box[0] or box[3] <= box[1]:
            continue  # nothing of the image in it: all grey
        part = im.resize((x1 - x0, y1 - y0), Image.Resampling.BILINEAR, box=box)
        out[i, y0:y1, x0:x1] = np.asarray(part)
    return out


def _hog(grey: np.ndarray, cell: int) -> np.ndarray:
    """HOG vectors of a stack of grey images (n, s, s)."""
    from skimage.feature import hog  # here, not at import: annokit starts fast
    return np.stack([hog(g, orientations=9, pixels_per_cell=(cell, cell),
                         cells_per_block=(2, 2), feature_vector=True) for g in grey]) \
        if len(grey) else np.zeros((0, 0))


def _hsv_hist(rgb: np.ndarray) -> np.ndarray:
    """Per-image HSV histograms (BINS per channel, normalised) of (n, a, b, 3) uint8."""
    from skimage.color import rgb2hsv
    n = len(rgb)
    hsv = rgb2hsv(rgb.reshape(-1, rgb.shape[2], 3)).reshape(n, -1, 3)
    codes = np.minimum((hsv * BINS).astype(np.int64), BINS - 1)
    offset = (np.arange(n)[:, None] * 3 + np.arange(3)[None, :]) * BINS  # (n, 3)
    flat = (codes + offset[:, None, :]).ravel()
    hist = np.bincount(flat, minlength=n * 3 * BINS).reshape(n, 3 * BINS)
    return hist / codes.shape[1]


def _grey(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def crop_features(im: Image.Image, boxes_xyxy: np.ndarray) -> np.ndarray:
    """Feature vector per box: padded-crop HOG, inside colour histograms, inside vs margin
    colour, and the box's shape relative to the image.

    Example:
        >>> crop_features(Image.new("RGB", (64, 48)), np.zeros((0, 4))).shape
        (0, 936)
    """
    boxes = np.asarray(boxes_xyxy, np.float64).reshape(-1, 4)
    if not len(boxes):
        return np.zeros((0, crop_dims()), np.float32)
    if len(boxes) > BLOCK:  # thousands of boxes on one image: a block at a time
        return np.vstack([crop_features(im, boxes[i:i + BLOCK])
                          for i in range(0, len(boxes), BLOCK)])
    patch = crops(im, boxes)
    inner = patch[:, INNER, INNER]
    ring = patch.astype(np.float32).sum(axis=(1, 2)) - inner.astype(np.float32).sum(axis=(1, 2))
    ring /= CROP * CROP - inner.shape[1] * inner.shape[2]
    inside = inner.reshape(len(patch), -1, 3).astype(np.float32)
    w = np.maximum(boxes[:, 2] - boxes[:, 0], 1e-3)
    h = np.maximum(boxes[:, 3] - boxes[:, 1], 1e-3)
    shape = np.stack([np.log(w / im.width), np.log(h / im.height), np.log(w / h)], axis=1)
    parts = [_hog(_grey(patch), 8), _hsv_hist(inner),
             inside.mean(axis=1) / 255, inside.std(axis=1) / 255,
             (inside.mean(axis=1) - ring) / 255, shape]
    return np.hstack(parts).astype(np.float32)


def crop_dims() -> int:
    """Length of a :func:`crop_features` vector."""
    return 5 * 5 * 36 + 3 * BINS + 3 * 3 + 3


def image_features(im: Image.Image) -> np.ndarray:
    """One vector per image for classification: HOG of the image squashed to HOG_SIDE
    with 16 and 32 px cells, HSV histograms and a GRID x GRID mean-colour layout.

    Example:
        >>> image_features(Image.new("RGB", (100, 80))).shape
        (2160,)
    """
    small = np.asarray(im.resize((IMAGE_SIDE, IMAGE_SIDE), Image.Resampling.BILINEAR,
                                 reducing_gap=2.0))[None]
    cell = IMAGE_SIDE // GRID
    layout = small.reshape(1, GRID, cell, GRID, cell, 3).mean(axis=(2, 4)).reshape(1, -1) / 255
    grey = _grey(np.asarray(im.resize((HOG_SIDE, HOG_SIDE), Image.Resampling.BILINEAR,
                                      reducing_gap=2.0))[None])
    cells = (HOG_SIDE // 8, HOG_SIDE // 4)
    return np.hstack([*(_hog(grey, c) for c in cells), _hsv_hist(small), layout]
                     )[0].astype(np.float32)
