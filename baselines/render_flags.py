"""Render the top flagged annotations and overlooked candidates of a score run as one PNG
grid, to open and judge by eye (each tile: the box in red, the suggested box in green, the
candidate in yellow; caption: issue, quality, class, suggestion).

    python baselines/render_flags.py DATASET FORMAT scores.pkl out.png [--n 12]

``scores.pkl`` is what baselines/score_bench2.py keeps in baselines/_work/.
"""
from __future__ import annotations

import argparse
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

TILE = 256


def _tile(path: Path, box, other, colour, caption: str, annotated=()) -> Image.Image:
    im = Image.open(path).convert("RGB")
    for ax, ay, aw, ah in annotated:  # the image's annotated boxes, thin blue
        ImageDraw.Draw(im).rectangle([ax, ay, ax + aw, ay + ah], outline=(0, 90, 255), width=1)
    x, y, w, h = box
    side = max(w, h) * 2.2 + 20
    cx, cy = x + w / 2, y + h / 2
    crop = (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
    draw = ImageDraw.Draw(im)
    draw.rectangle([x, y, x + w, y + h], outline=colour, width=3)
    if other is not None and np.isfinite(other).all():
        ox, oy, ow, oh = other
        draw.rectangle([ox, oy, ox + ow, oy + oh], outline=(0, 220, 0), width=2)
    tile = im.crop(tuple(int(round(c)) for c in crop)).resize((TILE, TILE))
    ImageDraw.Draw(tile).rectangle([0, 0, TILE, 14], fill=(0, 0, 0))
    ImageDraw.Draw(tile).text((2, 1), caption[:42], fill=(255, 255, 255))
    return tile


def main() -> None:
    import annokit

    ap = argparse.ArgumentParser()
    ap.add_argument("dataset")
    ap.add_argument("format")
    ap.add_argument("scores")
    ap.add_argument("out")
    ap.add_argument("--n", type=int, default=12)
    ap.add_argument("--candidates", action="store_true", help="render candidates instead")
    args = ap.parse_args()
    ds = annokit.read(args.dataset, args.format)
    saved = pickle.load(open(args.scores, "rb"))
    result = saved["result"]
    n = len(ds.annotations)
    table = result.annotations
    own, cand = table.iloc[:n], table.iloc[n:]
    files = pd.Series(ds.image_paths().tolist(), index=ds.images["id"].to_numpy())
    names = ds.categories.set_index("id")["name"]
    anns = ds.annotations
    tiles = []
    if args.candidates:
        rows = cand.sort_values("quality").head(args.n)
        for _, r in rows.iterrows():
            box = r[["suggested_x", "suggested_y", "suggested_w", "suggested_h"]].to_numpy(float)
            mine = anns.loc[anns["image_id"] == r["image_id"], ["x", "y", "w", "h"]]
            tiles.append(_tile(files[r["image_id"]], box, None,
                               (255, 220, 0),
                               f"cand {names[r['category_id']]} q={r['quality']:.2f}",
                               mine.to_numpy(float).tolist()))
    else:
        rows = own[own["issue"].notna()].sort_values("quality").head(args.n)
        for i, r in rows.iterrows():
            box = anns.loc[anns.index[i], ["x", "y", "w", "h"]].to_numpy(float)
            sug = r[["suggested_x", "suggested_y", "suggested_w", "suggested_h"]].to_numpy(float)
            extra = (f" ->{names[r['suggested_category_id']]}" if r["issue"] == "swap" else "")
            tiles.append(_tile(files[r["image_id"]], box, sug,
                               (255, 0, 0), f"{r['issue']} q={r['quality']:.2f} "
                               f"{names[r['category_id']]}{extra} #{r['annotation_id']}"))
    cols = 4
    grid = Image.new("RGB", (cols * TILE, ((len(tiles) + cols - 1) // cols) * TILE), "white")
    for j, t in enumerate(tiles):
        grid.paste(t, ((j % cols) * TILE, (j // cols) * TILE))
    grid.save(args.out)
    print(f"{len(tiles)} tiles -> {args.out}")


if __name__ == "__main__":
    main()
