"""Image files: missing, unreadable or truncated, wrong declared size, EXIF orientation,
exact and near duplicates, and duplicates leaking across splits.

Each file is read once for all of these checks (:func:`image_table`): its bytes are
hashed (BLAKE2b), its size comes from the header, Pillow decodes it fully (a truncated
file raises; ``ImageFile.LOAD_TRUNCATED_IMAGES`` stays False) and a 64-bit perceptual
hash is taken. Files are read in a thread pool (hashing, decoding and resizing release
the GIL). The table is kept in memory for the next check of the same run, keyed by the
paths and their size and modification time; nothing is cached on disk.

Duplicates are reported once per image, on the later image (higher id) of a pair,
naming its closest earlier match: a pair inside one split (or with an image that has no
split) is a duplicate; a pair across two splits is leakage.

Example:
    >>> image_hashes(ds)  # doctest: +SKIP
       image_id                               sha                phash
    0         1  8f2c...                           13456789012345678
"""
from __future__ import annotations

import hashlib
import io
import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from PIL import Image

from ..bits import popcount
from ..errors import FormatError
from ..imagesize import image_size
from ..model import Dataset
from ..progress import track
from . import Thresholds, empty_findings, findings, register
from .geometry import robust_z

_ORIENTATION = {2: "mirrored left-right", 3: "turned 180 degrees", 4: "mirrored top-bottom",
                5: "mirrored and turned 90 degrees", 6: "turned 90 degrees clockwise",
                7: "mirrored and turned 90 degrees", 8: "turned 90 degrees counter-clockwise"}
_PAIR_CHUNK = 1 << 22  # candidate pairs compared at once in the near-duplicate search

# the first 8 rows of the 32-point DCT-II: pHash keeps the lowest 8x8 frequencies
_DCT = np.cos(np.pi / 64 * np.outer(np.arange(8), 2 * np.arange(32) + 1))


def phash(image: Image.Image) -> int:
    """64-bit perceptual hash of a Pillow image: ImageHash's ``phash``, resized faster.

    Grey 32x32 (Lanczos), 2-D DCT, the 8x8 lowest frequencies compared with their
    median; the first coefficient is the most significant bit. The resize first box-
    averages by an integer factor when the image is over 6x larger (Pillow's
    ``reducing_gap=3``): three times faster on 640x480 photos, a bit or two away from
    ImageHash there, and bit for bit ImageHash's hash on images under 192 px.

    Example:
        >>> y, x = np.mgrid[0:48, 0:64]
        >>> f"{phash(Image.fromarray(((x * 4 + y * 2) % 256).astype(np.uint8))):016x}"
        '91b5a9aaaaaaaaaa'
    """
    small = image.convert("L").resize((32, 32), Image.Resampling.LANCZOS, reducing_gap=3.0)
    low = _DCT @ np.asarray(small, dtype=np.float64) @ _DCT.T
    return int(np.packbits(low.ravel() > np.median(low)).view(">u8")[0])


def _scan_file(path: str) -> tuple:
    """(found, error, width, height, orientation, sha, phash) of one file."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return False, None, None, None, None, None, None
    except OSError as e:
        return True, f"cannot read file: {e.strerror or e}", None, None, None, None, None
    sha = hashlib.blake2b(data, digest_size=16).hexdigest()
    try:
        width, height = image_size(path)
    except FormatError:
        width = height = None  # Pillow says why below
    try:
        with Image.open(io.BytesIO(data)) as im:
            orientation = _orientation(im)
            im.load()  # full decode: a truncated file raises here
            if width is None:
                width, height = im.size
            return True, None, width, height, orientation, sha, phash(im)
    except Exception as e:  # any decoder failure is a finding, never a crash of the run
        return True, _reason(e), width, height, None, sha, None


def _orientation(im: Image.Image) -> int | None:
    try:
        value = im.getexif().get(0x0112)
        return int(value) if value is not None else None
    except Exception:  # a corrupt EXIF block does not make the pixels unreadable
        return None


def _reason(e: Exception) -> str:
    from PIL import UnidentifiedImageError

    if isinstance(e, UnidentifiedImageError):  # its text names a BytesIO object
        return "not an image format Pillow can read"
    text = str(e).splitlines()[0] if str(e) else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _stat(path: str | None):
    try:
        s = os.stat(path)
        return s.st_size, s.st_mtime_ns
    except (OSError, TypeError, ValueError):
        return None


_cache: dict = {"key": None, "table": None}  # the last scan, for the next check of a run
_SCAN_COLUMNS = ["path", "found", "error", "width", "height", "orientation", "sha", "phash"]
_SCAN_TYPES = {"found": "boolean", "width": "Int64", "height": "Int64", "orientation": "Int64",
               "phash": "UInt64"}


def _scan(paths: list[str]) -> pd.DataFrame:
    """Scan every (distinct) path once, in a thread pool; reuse the last scan if unchanged."""
    if not paths:
        return pd.DataFrame({c: [] for c in _SCAN_COLUMNS}).astype(_SCAN_TYPES)
    key = (tuple(paths), tuple(_stat(p) for p in paths))
    if _cache["key"] == key:
        return _cache["table"]
    with warnings.catch_warnings(), ThreadPoolExecutor() as pool:
        warnings.simplefilter("ignore")  # Pillow's EXIF and palette warnings: never print
        rows = list(track(pool.map(_scan_file, paths), "Reading images", total=len(paths)))
    table = pd.DataFrame(rows, columns=_SCAN_COLUMNS[1:]).astype(_SCAN_TYPES)
    table.insert(0, "path", paths)
    _cache.update(key=key, table=table)
    return table


def image_table(ds: Dataset) -> pd.DataFrame:
    """One row per image of ``ds`` (same order) with what its file holds.

    Columns: ``image_id``, ``file_name``, ``split``, ``path`` (None when no image folder is
    known), ``found`` (NA when ``path`` is None), ``error`` (why it could not be read or
    decoded, else None), ``width``/``height`` (from the header), ``orientation`` (EXIF tag
    274), ``sha`` (BLAKE2b-128 hex of the bytes) and ``phash`` (64-bit, see :func:`phash`).

    Example:
        >>> image_table(ds)[["image_id", "found", "width", "height"]]  # doctest: +SKIP
           image_id  found  width  height
        0         1   True    640     480
    """
    paths = ds.image_paths()
    known = paths.notna().to_numpy()
    codes, uniques = pd.factorize(paths[known])
    scan = _scan(list(uniques))
    rows = np.full(len(paths), -1)
    rows[known] = codes
    table = scan.reindex(rows).reset_index(drop=True)  # row -1: all NA
    table.insert(0, "image_id", ds.images["id"].to_numpy())
    table.insert(1, "file_name", ds.images["file_name"].to_numpy())
    table.insert(2, "split", ds.images["split"].to_numpy())
    table["path"] = paths.to_numpy()
    return table


def image_hashes(ds: Dataset) -> pd.DataFrame:
    """``image_id``, ``sha`` (content hash) and ``phash`` (perceptual hash) of every image.

    Both are NA where the file is missing; ``phash`` also where it cannot be decoded.
    Two images are near-duplicates when ``hamming(phash_a, phash_b) <= phash_distance``.

    Example:
        >>> image_hashes(ds).groupby("sha")["image_id"].apply(list)  # doctest: +SKIP
    """
    return image_table(ds)[["image_id", "sha", "phash"]]


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

def _forward_pairs(counts: np.ndarray, chunk: int = _PAIR_CHUNK):
    """Yield ``(i, j)`` index arrays pairing each ``i`` with ``i+1 .. i+counts[i]``, in chunks.

    Example:
        >>> [(i.tolist(), j.tolist()) for i, j in _forward_pairs(np.array([2, 1, 0]))]
        [([0, 0, 1], [1, 2, 2])]
    """
    cum = np.cumsum(counts)
    start, n = 0, len(counts)
    while start < n:
        base = cum[start - 1] if start else 0
        stop = max(int(np.searchsorted(cum, base + chunk, side="right")), start + 1)
        c = counts[start:stop]
        i = np.repeat(np.arange(start, stop), c)
        offsets = np.arange(len(i)) - np.repeat(np.cumsum(c) - c, c)
        if len(i):
            yield i, i + 1 + offsets
        start = stop


def near_pairs(hashes, max_distance: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index pairs ``(i, j, distance)``, ``i < j``, of distinct 64-bit hashes within
    ``max_distance`` bits of each other.

    Multi-index hashing: the 64 bits are cut into ``max_distance + 1`` bands, and two
    hashes within the distance agree exactly on at least one band, so only hashes
    sharing a band value are compared (vectorised). Cost grows with the distance.

    Example:
        >>> i, j, d = near_pairs(np.array([0b0000, 0b0111, 0b1111], dtype=np.uint64), 1)
        >>> list(zip(i.tolist(), j.tolist(), d.tolist()))
        [(1, 2, 1)]
    """
    values = np.asarray(hashes, dtype=np.uint64)
    n = len(values)
    if n < 2 or max_distance < 1:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    edges = np.linspace(0, 64, min(max_distance, 63) + 2).astype(np.uint64)
    found = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        band = (values >> lo) & np.uint64((1 << int(hi - lo)) - 1)
        order = np.argsort(band, kind="stable")
        sorted_band = band[order]
        starts = np.r_[0, np.nonzero(sorted_band[1:] != sorted_band[:-1])[0] + 1]
        ends = np.r_[starts[1:], n]
        counts = np.repeat(ends, ends - starts) - np.arange(n) - 1
        for i, j in _forward_pairs(counts):
            a, b = order[i], order[j]
            d = popcount(values[a] ^ values[b])
            keep = d <= max_distance
            found.append((np.minimum(a, b)[keep], np.maximum(a, b)[keep], d[keep]))
    if not found:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    i, j, d = (np.concatenate(x) for x in zip(*found))
    _, first = np.unique(i * n + j, return_index=True)  # a pair found in several bands
    return i[first], j[first], d[first]


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
