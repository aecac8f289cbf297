"""Thumbnails for the report: an image shrunk with its boxes drawn (flagged ones in colour),
and the scorer's suggested fix drawn beside it. JPEG bytes, or a reason why there are none.

Example:
    >>> jpeg = thumbnail("img.jpg", anns, flags)  # doctest: +SKIP
    >>> jpeg[:2]  # doctest: +SKIP
    b'\\xff\\xd8'
"""
from __future__ import annotations

import io
import os

import numpy as np
import pandas as pd

from ..checks import SEVERITIES, SEVERITY_RANK
from ..errors import FormatError
from ..fileio import open_image
from .scores import BOX_COLUMNS, class_name

THUMB_SIZE = 320           # px, the longer side of a thumbnail
BOX_COLOURS = {"error": (230, 20, 20), "warning": (255, 140, 0)}  # flagged boxes
FIX_COLOUR = (0, 160, 60)  # suggested boxes and classes
OTHER_BOX = (150, 150, 150)


def thumbnail(path, anns: pd.DataFrame, flags: pd.DataFrame) -> bytes | str:
    """JPEG bytes of the image shrunk to THUMB_SIZE with its boxes drawn, or why not.

    Example:
        >>> thumbnail("missing.jpg", anns, flags)  # doctest: +SKIP
        'image file not found'
    """
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
            draw_box(draw, x, y, w, h, colour)
    return _jpeg(im)


def _jpeg(im) -> bytes:
    out = io.BytesIO()
    im.save(out, "JPEG", quality=82)
    return out.getvalue()


def draw_box(draw, x, y, w, h, colour) -> None:
    """A box outline (thin grey when ``colour`` is None); a ring where it is too small to see.

    Example:
        >>> draw_box(ImageDraw.Draw(im), 10, 10, 50, 40, (230, 20, 20))  # doctest: +SKIP
    """
    if not np.isfinite([x, y]).all():
        return
    w, h = (w if np.isfinite(w) else 0), (h if np.isfinite(h) else 0)
    x0, x1, y0, y1 = sorted((x, x + w)) + sorted((y, y + h))
    line, fill = (2, colour) if colour else (1, OTHER_BOX)
    if x1 - x0 < 3 or y1 - y0 < 3:  # points and degenerate boxes: a ring to find them by
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        draw.ellipse([cx - 5, cy - 5, cx + 5, cy + 5], outline=fill, width=line)
    else:
        draw.rectangle([x0, y0, x1, y1], outline=fill, width=line)


def score_pictures(info: pd.Series, image_anns: pd.DataFrame, rows: pd.DataFrame,
                   names: pd.Series) -> tuple[bytes, ...] | str:
    """Two JPEGs of the image: as annotated (suspect boxes red, through ``thumbnail``) and
    the suggested fix drawn over the same thumbnail (only the first when no fix is a box);
    or why there are none.

    Example:
        >>> left, right = score_pictures(info, anns, flagged, names)  # doctest: +SKIP
    """
    from PIL import Image, ImageDraw

    suspect_ids = rows["annotation_id"].dropna()
    flags = pd.DataFrame({"annotation_id": suspect_ids.to_numpy(),
                          "severity": ["error"] * len(suspect_ids)})
    left = thumbnail(info["path"], image_anns, flags)
    if isinstance(left, str):
        return left
    plain = thumbnail(info["path"], image_anns.iloc[:0], flags.iloc[:0])
    if isinstance(plain, str):  # the file changed since the first picture
        return plain
    with Image.open(io.BytesIO(plain)) as im:
        im = im.convert("RGB")
    scale = im.width / _full_width(info)
    draw = ImageDraw.Draw(im)
    others = image_anns[~image_anns["id"].isin(suspect_ids)]
    for x, y, w, h in others[["x", "y", "w", "h"]].to_numpy(np.float64) * scale:
        draw_box(draw, x, y, w, h, None)
    boxes = image_anns.drop_duplicates("id").set_index("id")[["x", "y", "w", "h"]]
    drawn = [_draw_fix(draw, row, boxes, names, scale)
             for _, row in rows.iterrows()]  # the flagged rows of one image: a few
    if not any(drawn):  # image labels (flips): the fix is the caption's class name
        return (left,)
    return left, _jpeg(im)


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
    suggested = row[BOX_COLUMNS].to_numpy(np.float64)
    box = suggested if np.isfinite(suggested).all() else original
    if box is None or not np.isfinite(box).all():
        return False
    x, y, w, h = box * scale
    if issue == "spurious":
        _dashed_box(draw, x, y, w, h, BOX_COLOURS["error"])
        label = "remove?"
    else:
        (_dashed_box if issue == "overlooked" else draw_box)(draw, x, y, w, h, FIX_COLOUR)
        label = class_name(names, row["suggested_category_id"]) or \
            class_name(names, row["category_id"])
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
