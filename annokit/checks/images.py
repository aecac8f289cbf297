"""Image files: missing, unreadable or truncated, wrong declared size, EXIF orientation,
exact and near duplicates, and duplicates leaking across splits.

Each file is read once for all of these checks, by :func:`annokit.images.image_table`
(bytes hash, header size, full decode, perceptual hash).

Duplicates are reported once per image, on the later image (higher id) of a pair,
naming its closest earlier match: a pair inside one split (or with an image that has no
split) is a duplicate; a pair across two splits is leakage.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..images import image_table, near_pairs
from ..model import Dataset
from .geometry import robust_z
from .registry import Thresholds, empty_findings, findings, register

_ORIENTATION = {2: "mirrored left-right", 3: "turned 180 degrees", 4: "mirrored top-bottom",
                5: "mirrored and turned 90 degrees", 6: "turned 90 degrees clockwise",
                7: "mirrored and turned 90 degrees", 8: "turned 90 degrees counter-clockwise"}


@register("images.missing", "error", needs_images=True)
def missing(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """Image files that do not exist (and one info row when no image folder is known)."""
    table = image_table(ds)
    gone = table[table["found"].eq(False).fillna(False).to_numpy(dtype=bool)]
    result = findings("images.missing", [f"image file not found: {p}" for p in gone["path"]],
                      image_id=gone["image_id"])
    unknown = int(table["path"].isna().sum())
    if unknown:
        note = findings("images.missing", [f"{unknown} images have no known image folder, so "
                                           "their files were not checked (give --image-root)"],
                        value=[float(unknown)], severity="info")
        result = pd.concat([result, note], ignore_index=True)
    return result


@register("images.unreadable", "error", needs_images=True)
def unreadable(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """Files that cannot be read or fully decoded (truncated, corrupt, not an image)."""
    table = image_table(ds)
    bad = table[table["error"].notna().to_numpy()]
    text = [f"cannot decode {f}: {e}" for f, e in zip(bad["file_name"], bad["error"])]
    return findings("images.unreadable", text, image_id=bad["image_id"])


def _turned_view(table: pd.DataFrame) -> np.ndarray:
    """Whether EXIF turns the image 90 degrees (orientation 5-8)."""
    return table["orientation"].between(5, 8).fillna(False).to_numpy(dtype=bool)


@register("images.size_mismatch", "error", needs_images=True)
def size_mismatch(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """Declared width/height that differ from the file's (value: the larger gap in px).

    A declared size that is the EXIF-turned view of the file is left to
    ``images.exif_orientation``.
    """
    table = image_table(ds)
    declared_w = ds.images["width"].to_numpy(dtype="float64", na_value=np.nan)
    declared_h = ds.images["height"].to_numpy(dtype="float64", na_value=np.nan)
    real_w = table["width"].to_numpy(dtype="float64", na_value=np.nan)
    real_h = table["height"].to_numpy(dtype="float64", na_value=np.nan)
    differs = (declared_w != real_w) | (declared_h != real_h)
    known = ~np.isnan(declared_w + declared_h + real_w + real_h)
    turned = _turned_view(table) & (declared_w == real_h) & (declared_h == real_w)
    hit = np.nonzero(known & differs & ~turned)[0]
    gap = np.maximum(np.abs(declared_w - real_w), np.abs(declared_h - real_h))[hit]
    text = [f"declared size {dw:.0f}x{dh:.0f} but {f} is {rw:.0f}x{rh:.0f}"
            for dw, dh, f, rw, rh in zip(declared_w[hit], declared_h[hit],
                                         table["file_name"].to_numpy()[hit], real_w[hit],
                                         real_h[hit])]
    return findings("images.size_mismatch", text, image_id=table["image_id"].to_numpy()[hit],
                    value=gap)


@register("images.size_outlier", "warning")
def size_outlier(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """Images far larger or smaller than the rest (robust z-score of log pixel count).

    Uses the declared sizes, so it opens no file: a few full-size originals among
    thumbnails, or thumbnails among photos, usually came from another source.
    """
    images = ds.images[ds.images["width"].notna() & ds.images["height"].notna()]
    if len(images) < t.outlier_min_count:
        return empty_findings()
    w = images["width"].to_numpy(dtype=np.float64)
    h = images["height"].to_numpy(dtype=np.float64)
    pixels = np.log(np.maximum(w * h, 1))
    z, median = robust_z(pixels, np.zeros(len(images), dtype=np.int64))
    far = np.abs(z) > t.outlier_z
    if not far.any():
        return empty_findings()
    side = np.exp(median[far] / 2)
    text = [f"image {int(a)}x{int(b)} px is far {'larger' if zz > 0 else 'smaller'} than the "
            f"dataset's typical ~{s:.0f}x{s:.0f} px (z={zz:+.1f})"
            for a, b, zz, s in zip(w[far], h[far], z[far], side)]
    return findings("images.size_outlier", text, image_id=images["id"].to_numpy()[far],
                    value=z[far])


@register("images.exif_orientation", "warning", needs_images=True)
def exif_orientation(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """EXIF orientation 2-8: viewers show the pixels flipped or turned (value: the tag).

    Boxes drawn in a viewer then sit on the turned view, not on the stored pixels that
    training code reads; with 5-8 even width and height swap.
    """
    table = image_table(ds)
    hit = table[table["orientation"].between(2, 8).fillna(False).to_numpy(dtype=bool)]
    declared = ds.images.set_index("id")[["width", "height"]]
    declared = declared[~declared.index.duplicated()].reindex(hit["image_id"])
    text = []
    for o, w, h, dw, dh in zip(hit["orientation"], hit["width"], hit["height"],
                               declared["width"], declared["height"]):
        line = f"EXIF orientation {o}: viewers show the stored pixels {_ORIENTATION[o]}"
        if o >= 5 and w != h:
            line += f", as {h}x{w} instead of {w}x{h}"
            if not (pd.isna(dw) or pd.isna(dh)) and (dw, dh) == (h, w):
                line += "; the declared size is the turned view"
        text.append(line + "; boxes drawn on that view will not fit the pixels")
    return findings("images.exif_orientation", text, image_id=hit["image_id"],
                    value=hit["orientation"].to_numpy(dtype="float64"))


# -- duplicates ---------------------------------------------------------------------------

def _partners(table: pd.DataFrame, key: str, max_distance: int = 0) -> pd.DataFrame:
    """Each image's closest earlier match within its split and across splits.

    Images are grouped into nodes of equal ``key`` and split; node pairs come from equal
    keys and, for ``phash`` with ``max_distance``, from :func:`near_pairs` over the
    distinct keys. Returns one row per (image, cross) with ``image_id``, ``partner``,
    ``distance``, ``cross`` (the splits differ) and ``similar`` (other images matching).
    """
    keep = table[key].notna().to_numpy()
    ids = table["image_id"].to_numpy(dtype=np.int64)[keep]
    split_codes = pd.factorize(table["split"][keep])[0]  # None -> -1
    key_codes, key_values = pd.factorize(table[key][keep])
    node_codes, _ = pd.factorize(key_codes * (split_codes.max(initial=0) + 2) + split_codes + 1)
    order = np.lexsort((ids, node_codes))
    ids, nodes = ids[order], node_codes[order]
    n_nodes = nodes.max(initial=-1) + 1
    start = np.searchsorted(nodes, np.arange(n_nodes))
    size = np.bincount(nodes, minlength=n_nodes)
    first = ids[start]
    node_key = key_codes[order][start]
    node_split = split_codes[order][start]

    # key pairs, directed, with distances: every key with itself, plus near keys
    keys = np.arange(len(key_values))
    src, dst, dist = keys, keys, np.zeros(len(keys), np.int64)
    if max_distance > 0:
        i, j, d = near_pairs(np.asarray(key_values, dtype=np.uint64), max_distance)
        src, dst, dist = np.r_[src, i, j], np.r_[dst, j, i], np.r_[dist, d, d]
    by_key = pd.DataFrame({"key": node_key, "node": np.arange(n_nodes)})
    pairs = pd.DataFrame({"src_key": src, "dst_key": dst, "distance": dist}) \
        .merge(by_key.rename(columns={"key": "src_key", "node": "a"}), on="src_key") \
        .merge(by_key.rename(columns={"key": "dst_key", "node": "b"}), on="dst_key")
    a, b, dist = (pairs[c].to_numpy() for c in ("a", "b", "distance"))
    similar = np.bincount(a, weights=size[b], minlength=n_nodes).astype(np.int64) - 1

    # every image of node a against the first (lowest id) image of node b
    reps = np.repeat(np.arange(len(a)), size[a])
    offsets = np.arange(len(reps)) - np.repeat(np.cumsum(size[a]) - size[a], size[a])
    image = ids[start[a][reps] + offsets]
    partner = first[b][reps]
    sa, sb = node_split[a][reps], node_split[b][reps]
    found = pd.DataFrame({"image_id": image, "partner": partner, "distance": dist[reps],
                          "cross": (sa >= 0) & (sb >= 0) & (sa != sb),
                          "similar": similar[a][reps]})
    found = found[found["partner"] < found["image_id"]]
    return found.sort_values(["image_id", "cross", "distance", "partner"], kind="stable") \
        .drop_duplicates(["image_id", "cross"]).reset_index(drop=True)


def _duplicates(ds: Dataset, t: Thresholds) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Exact (same bytes) and near (pHash, not already exact) earlier matches per image."""
    table = image_table(ds)
    exact = _partners(table, "sha")
    near = _partners(table, "phash", int(t.phash_distance))
    seen = pd.MultiIndex.from_frame(exact[["image_id", "cross"]])
    near = near[~pd.MultiIndex.from_frame(near[["image_id", "cross"]]).isin(seen)]
    return exact, near.reset_index(drop=True)


def _describe(ds: Dataset, found: pd.DataFrame) -> tuple[list, list, list]:
    """File names of partners, and splits of image and partner."""
    images = ds.images.drop_duplicates("id").set_index("id")
    files = found["partner"].map(images["file_name"]).tolist()
    return (files, found["image_id"].map(images["split"]).tolist(),
            found["partner"].map(images["split"]).tolist())


def _duplicate_findings(check_id: str, ds: Dataset, found: pd.DataFrame, exact: bool,
                        t: Thresholds) -> pd.DataFrame:
    files, mine, theirs = _describe(ds, found)
    text = []
    for p, f, d, n, s, o in zip(found["partner"], files, found["distance"], found["similar"],
                                mine, theirs):
        what = (f"same bytes as image {p} '{f}'" if exact else
                f"near-duplicate of image {p} '{f}' (pHash distance {d} <= {t.phash_distance})")
        if check_id.endswith("leakage"):
            what += f" in split '{o}' while this image is in '{s}'"
        text.append(what + (f"; {n} matching images in all" if n > 1 else ""))
    return findings(check_id, text, image_id=found["image_id"],
                    value=found["distance"].to_numpy(dtype=float))


@register("images.duplicate", "warning", needs_images=True)
def duplicate(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """Byte-identical files within one split (value: 0)."""
    exact, _ = _duplicates(ds, t)
    return _duplicate_findings("images.duplicate", ds, exact[~exact["cross"]], True, t)


@register("images.near_duplicate", "warning", needs_images=True)
def near_duplicate(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """Perceptually near-identical images within one split (value: the pHash distance)."""
    _, near = _duplicates(ds, t)
    return _duplicate_findings("images.near_duplicate", ds, near[~near["cross"]], False, t)


@register("images.leakage", "error", needs_images=True)
def leakage(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """Byte-identical files in two different splits: evaluation sees training data."""
    exact, _ = _duplicates(ds, t)
    return _duplicate_findings("images.leakage", ds, exact[exact["cross"]], True, t)


@register("images.near_leakage", "warning", needs_images=True)
def near_leakage(ds: Dataset, t: Thresholds) -> pd.DataFrame:
    """Near-identical images in two different splits (value: the pHash distance)."""
    _, near = _duplicates(ds, t)
    return _duplicate_findings("images.near_leakage", ds, near[near["cross"]], False, t)
