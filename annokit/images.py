"""Image files: scanning, decoding and hashing, each file read once.

Used by the image checks (missing, unreadable, size, orientation, duplicates), by
``split`` (near-duplicates kept in one split) and by the scorer, none of which reaches
into another's internals.

:func:`image_table` reads each file of a Dataset once: its bytes are hashed (BLAKE2b), its
size comes from the header, Pillow decodes it fully (a truncated file raises;
``ImageFile.LOAD_TRUNCATED_IMAGES`` stays False) and a 64-bit perceptual hash is taken.
Files are read in a thread pool (hashing, decoding and resizing release the GIL). The
table is kept in memory for the next caller of the same run, keyed by the paths and
their size and modification time; nothing is cached on disk.

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
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike
import pandas as pd
from PIL import Image

from . import parallel
from .bits import popcount
from .errors import FormatError
from .fileio import MAX_IMAGE_BYTES, read_regular
from .imagesize import image_size_of
from .progress import track

if TYPE_CHECKING:
    from .model import Dataset

SCAN_THREADS = 4  # threads per worker process reading files (I/O waits overlap)
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
        os.stat(path)
    except (FileNotFoundError, ValueError):  # missing, or a NUL in the name: no such file
        return False, None, None, None, None, None, None
    except OSError as e:  # a link loop, a folder we may not enter
        return True, f"cannot read file: {e.strerror or e}", None, None, None, None, None
    try:  # a FIFO, /dev/zero or a 50 GB file: refused at once, never read
        data = read_regular(path, limit=MAX_IMAGE_BYTES, what="image")
    except FormatError as e:
        return True, e.reason, None, None, None, None, None
    except OSError as e:
        return True, f"cannot read file: {e.strerror or e}", None, None, None, None, None
    sha = hashlib.blake2b(data, digest_size=16).hexdigest()
    width: int | None
    height: int | None
    try:
        width, height = image_size_of(io.BytesIO(data), path)
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


def _scan_files(paths: list[str]) -> list[tuple]:
    """:func:`_scan_file` of each path, in order: one partition's work on one worker.

    A few threads per worker: a file not in the page cache waits on the disk, and the
    threads keep the worker's core busy meanwhile (measured: one thread per worker left
    two workers 70% idle on 20k files)."""
    with warnings.catch_warnings(), ThreadPoolExecutor(SCAN_THREADS) as pool:
        warnings.simplefilter("ignore")
        return list(pool.map(_scan_file, paths))


def _stat(path: str | None) -> tuple[int, int] | None:
    if path is None:
        return None
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
    if parallel.active():  # --workers / --dask: partitions of the paths on other processes
        rows = parallel.map_partitions(_scan_files, paths, label="Reading images")
    else:
        pool = ThreadPoolExecutor()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Pillow's EXIF and palette warnings
                rows = list(track(pool.map(_scan_file, paths), "Reading images",
                                  total=len(paths)))
        finally:  # Ctrl-C or SIGTERM: never wait for a worker still reading
            pool.shutdown(wait=False, cancel_futures=True)
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


# -- near-duplicate search ------------------------------------------------------------

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


def near_pairs(hashes: ArrayLike, max_distance: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
