"""The header reader gives the same size as a full decode, for every common format."""
import pytest
from PIL import Image

from annokit.errors import FormatError
from annokit.imagesize import image_size


@pytest.mark.parametrize("ext,fmt", [("png", "PNG"), ("jpg", "JPEG"), ("gif", "GIF"),
                                     ("bmp", "BMP"), ("webp", "WEBP"), ("tif", "TIFF")])
def test_size_from_header_matches_decode(tmp_path, ext, fmt):
    path = tmp_path / f"im.{ext}"
    Image.new("RGB", (123, 45), (10, 200, 30)).save(path, fmt)
    assert image_size(path) == (123, 45)


def test_jpeg_with_exif_and_progressive(tmp_path):
    path = tmp_path / "exif.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: the header size is still the stored one
    exif[0x010E] = "x" * 5000  # a long description pushes SOF far from the start
    Image.new("RGB", (301, 17)).save(path, "JPEG", exif=exif, progressive=True)
    assert image_size(path) == (301, 17)


def test_wrong_extension_is_read_by_content(tmp_path):
    path = tmp_path / "really_a_png.jpg"
    Image.new("L", (7, 9)).save(path, "PNG")
    assert image_size(path) == (7, 9)


def test_missing_file_names_it(tmp_path):
    with pytest.raises(FormatError, match=r"nope\.jpg: image file not found"):
        image_size(tmp_path / "nope.jpg")


@pytest.mark.parametrize("content", [b"", b"not an image at all, just text" * 3,
                                     b"\xff\xd8\xff\xe0\x00\x10JFIF"])
def test_garbage_or_truncated_header_is_a_format_error(tmp_path, content):
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(FormatError, match=r"bad\.jpg: unreadable image header"):
        image_size(path)
