"""Image width and height from the file header, without decoding pixels.

Reading a YOLO dataset into absolute pixels needs every image's size. Decoding 50,000
JPEGs for that takes minutes; the header holds it in the first few hundred bytes.
JPEG, PNG, GIF, BMP and WebP are read here; anything else goes to Pillow, whose
``Image.open`` also reads only the header.
"""
from __future__ import annotations

import os
import struct

from .errors import AnnokitError, FormatError
from .fileio import open_regular

_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """Return ``(width, height)`` of the image at ``path`` from its header.

    Raises ``FormatError`` naming the file when it is missing or its header is unreadable.

    Example:
        >>> image_size("fixtures/images/red_64x48.png")  # doctest: +SKIP
        (64, 48)
    """
    try:
        with open_regular(path, what="image") as f:  # a FIFO or device: one line, no hang
            head = f.read(32)
            size = _from_head(head) if len(head) >= 24 else None
            if size is None and head[:2] == b"\xff\xd8":
                size = _jpeg_size(f)
    except AnnokitError as e:
        if not os.path.lexists(path):
            raise FormatError(path, "image file not found") from None
        raise FormatError(path, str(e).removeprefix(f"{os.fspath(path)}: ")) from None
    except OSError as e:
        raise FormatError(path, f"cannot read image: {e.strerror or e}") from None
    except ValueError as e:  # a NUL in the path: no file can have that name
        raise FormatError(repr(os.fspath(path)), f"not a usable file name ({e})") from None
    if size is None:
        size = _pillow_size(path)
    if size[0] <= 0 or size[1] <= 0:
        raise FormatError(path, f"image header gives size {size[0]}x{size[1]}")
    return size


def _from_head(head: bytes) -> tuple[int, int] | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
        return struct.unpack(">II", head[16:24])
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return struct.unpack("<HH", head[6:10])
    if head[:2] == b"BM":
        w, h = struct.unpack("<ii", head[18:26]) if len(head) >= 26 else (0, 0)
        return w, abs(h)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _webp_size(head)
    return None


def _webp_size(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8L" and len(head) >= 25:
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None  # lossy VP8: size sits past the first 32 bytes; Pillow reads it


def _jpeg_size(f) -> tuple[int, int] | None:
    """Walk JPEG segments to the first SOF marker, a small block at a time.

    Large segments (EXIF thumbnails, ICC profiles) are skipped with a seek, not read.
    """
    base, data, pos = 0, b"", 2  # data holds the file from offset `base`
    while True:
        if pos + 9 > base + len(data):
            f.seek(pos)
            base, data = pos, f.read(4096)
            if len(data) < 9:
                return None
        i = pos - base
        if data[i] != 0xFF:
            pos += 1  # tolerate padding or garbage between segments
            continue
        marker = data[i + 1]
        if marker == 0xFF:
            pos += 1
        elif marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2  # markers without a length
        elif marker in _JPEG_SOF:
            height, width = struct.unpack(">HH", data[i + 5: i + 9])
            return width, height
        else:
            pos += 2 + struct.unpack(">H", data[i + 2: i + 4])[0]


def _pillow_size(path) -> tuple[int, int]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:  # lazy: reads the header only
            return im.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise FormatError(path, f"unreadable image header ({type(e).__name__}: {e})",
                          hint="is it an image, and complete?") from None
