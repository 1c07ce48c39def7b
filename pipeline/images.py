"""Decode photos: the real format from magic bytes, size after EXIF orientation, fast JPEG decode.

Detection needs a ~640 px image, not 12 megapixels: for JPEGs, Pillow's draft mode asks libjpeg
to scale by 1/2, 1/4 or 1/8 while decoding (DCT scaling), which is several times faster than a
full decode and still reads every byte of the file, so truncation is still noticed.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps

# Our own pixel limit (ValidateParams.max_pixels) is checked before any decode; Pillow's global
# limit would otherwise turn large but honest photos into exceptions with a less useful message.
Image.MAX_IMAGE_PIXELS = None

# Magic numbers of what students hand in instead of a JPEG, most specific first.
_MAGIC: list[tuple[int, bytes, str]] = [
    (0, b"\xff\xd8\xff", "JPEG"),
    (0, b"\x89PNG\r\n\x1a\n", "PNG"),
    (0, b"GIF87a", "GIF"),
    (0, b"GIF89a", "GIF"),
    (0, b"BM", "BMP"),
    (0, b"II*\x00", "TIFF"),
    (0, b"MM\x00*", "TIFF"),
    (0, b"%PDF", "PDF"),
    (0, b"PK\x03\x04", "ZIP"),
    (0, b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
]
# ISO base media files (HEIC from iPhones, AVIF) carry their brand after 'ftyp' at offset 4.
_FTYP_BRANDS = {
    b"heic": "HEIC",
    b"heix": "HEIC",
    b"hevc": "HEIC",
    b"heim": "HEIC",
    b"heis": "HEIC",
    b"mif1": "HEIF",
    b"msf1": "HEIF",
    b"avif": "AVIF",
    b"avis": "AVIF",
    b"qt  ": "QuickTime video",
    b"isom": "MP4 video",
    b"mp42": "MP4 video",
}
# Formats Pillow decodes without plugins: a student who handed in one of these still gets told
# about everything else that is wrong with the picture.
DECODABLE = {"JPEG", "PNG", "GIF", "BMP", "TIFF", "WebP"}


class ImageError(ValueError):
    """A photo cannot be read; the message says why in words a student can act on."""


@dataclass(frozen=True)
class Header:
    width: int  # after EXIF orientation
    height: int
    orientation: int  # EXIF orientation tag, 1 when absent


@dataclass(frozen=True)
class Decoded:
    image: Image.Image  # RGB, EXIF orientation applied, no metadata
    scale: float  # original (oriented) pixels per pixel of `image`


def sniff_format(data: bytes) -> str:
    """Name the format from the file's first bytes, whatever its extension says."""
    for offset, magic, name in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    if data[4:8] == b"ftyp":
        return _FTYP_BRANDS.get(data[8:12], "ISO media (HEIF/MP4 family)")
    if not data:
        return "empty file"
    head = data[:512]
    if all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        return "text"
    return "unknown"


def read_header(data: bytes) -> Header:
    """Width and height as the photo is meant to be seen, without decoding pixels."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            width, height = im.size
            orientation = _orientation(im)
    except Exception as exc:  # Pillow raises many types for bad headers
        raise ImageError(f"the image header cannot be read ({_short(exc)})") from None
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return Header(width, height, orientation)


def decode(data: bytes, *, max_pixels: int, long_side: int | None = None) -> Decoded:
    """Decode the whole file to RGB with EXIF orientation applied.

    With `long_side`, the result's longer side is at most that (JPEGs are scaled while decoding).
    Raises ImageError when the pixel count is over `max_pixels` (a decompression bomb is refused
    before any decoding) or the data does not decode to the end.
    """
    try:
        im = Image.open(io.BytesIO(data))
    except Exception as exc:
        raise ImageError(f"the file cannot be opened as an image ({_short(exc)})") from None
    width, height = im.size
    if width * height > max_pixels:
        raise ImageError(
            f"the header claims {width}×{height} = {width * height / 1e6:.0f} megapixels, over the "
            f"{max_pixels / 1e6:.0f} MP limit; refusing to decode it (decompression bomb?)"
        )
    orientation = _orientation(im)
    full_long = max(width, height)
    if long_side and im.format == "JPEG" and full_long > long_side:
        ratio = full_long / long_side
        im.draft("RGB", (math.ceil(width / ratio), math.ceil(height / ratio)))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # libjpeg's "premature end" reaches us as a warning
            im.load()
    except Exception as exc:
        raise ImageError(
            f"the file does not decode to the end ({_short(exc)}); it is damaged or was cut off "
            "while copying — export it again from the original"
        ) from None
    try:  # decoded, but an unusual mode or EXIF block can still defeat Pillow here
        if orientation != 1:
            im = ImageOps.exif_transpose(im)
        rgb = im.convert("RGB")
        if long_side and max(rgb.size) > long_side:
            ratio = long_side / max(rgb.size)
            size = (max(1, round(rgb.width * ratio)), max(1, round(rgb.height * ratio)))
            rgb = rgb.resize(size, Image.Resampling.LANCZOS)
    except Exception as exc:
        raise ImageError(
            f"the image decodes but cannot be turned into an RGB picture ({_short(exc)}); "
            "save it again as an ordinary colour JPEG"
        ) from None
    rgb.info = {}
    return Decoded(rgb, full_long / max(rgb.size))


def _orientation(im: Image.Image) -> int:
    try:
        value = int(im.getexif().get(0x0112, 1))
    except Exception:
        return 1
    return value if 1 <= value <= 8 else 1


def _short(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 160 else text[:157] + "..."
