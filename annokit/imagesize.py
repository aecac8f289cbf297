"""Image width and height from the file header, without decoding pixels.

Reading a YOLO dataset into absolute pixels needs every image's size. Decoding 50,000
JPEGs for that takes minutes; the header holds it in the first few hundred bytes.
JPEG, PNG, GIF, BMP and WebP are read here; anything else goes to Pillow, whose
``Image.open`` also reads only the header.
"""
from __future__ import annotations

import os
import struct

from .errors import FormatError

_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """Return ``(width, height)`` of the image at ``path`` from its header.

    Raises ``FormatError`` naming the file when it is missing or its header is unreadable.

    Example:
        >>> image_size("fixtures/images/red_64x48.png")  # doctest: +SKIP
        (64, 48)
    """
    try:
        with open(path, "rb") as f:
            head = f.read(32)
            size = _from_head(head) if len(head) >= 24 else None
            if size is None and head[:2] == b"\xff\xd8":
                size = _jpeg_size(f)
    except FileNotFoundError:
        raise FormatError(path, "image file not found") from None
    except OSError as e:
        raise FormatError(path, f"cannot read image: {e.strerror or e}") from None
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
    """Walk JPEG segments from the start of the file to the first SOF marker."""
    f.seek(2)
    while True:
        byte = f.read(1)
        while byte and byte != b"\xff":
            byte = f.read(1)
        while byte == b"\xff":
            byte = f.read(1)
        if not byte:
            return None
        marker = byte[0]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            continue  # markers without a length
        length_bytes = f.read(2)
        if len(length_bytes) < 2:
            return None
        length = struct.unpack(">H", length_bytes)[0]
        if marker in _JPEG_SOF:
            data = f.read(5)
            if len(data) < 5:
                return None
            height, width = struct.unpack(">HH", data[1:5])
            return width, height
        f.seek(length - 2, os.SEEK_CUR)


def _pillow_size(path) -> tuple[int, int]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:  # lazy: reads the header only
            return im.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise FormatError(path, f"unreadable image header ({type(e).__name__}: {e})",
                          hint="is it an image, and complete?") from None
