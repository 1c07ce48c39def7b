"""Decode photos: the real format from magic bytes, size after EXIF orientation, fast JPEG decode.

Detection needs a ~640 px image, not 12 megapixels: for JPEGs, Pillow's draft mode asks libjpeg
to scale by 1/2, 1/4 or 1/8 while decoding (DCT scaling), which is several times faster than a
full decode and still reads every byte of the file, so truncation is still noticed.

Memory and time per file are bounded before anything is decoded:

- the header's pixel count is checked against `max_pixels` first (one limit, `validate.max_pixels`,
  used by every stage that decodes); reading the header and the EXIF orientation decodes nothing
  (Pillow's own `getexif()` decodes a whole PNG to look for EXIF behind the pixels);
- what a decode will hold (the decoded pixels, their RGB and upright copies, and for progressive
  JPEGs libjpeg's whole-image coefficient buffer) is estimated from the header, and all threads
  together never hold more than DECODE_MEMORY: a decode waits for room, and one that would need
  more than all of it is refused with the reason;
- nothing here changes process-wide state: Pillow's global MAX_IMAGE_PIXELS and the warnings
  filters are left alone, so a photo's verdict never depends on what other threads decode.
"""

from __future__ import annotations

import io
import math
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFile

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


# What decoding may hold at once, across all threads. A class run peaks at about 1.4 GB in face
# detection (torch's libraries and MTCNN; bench/peak_memory.py), and decoding happens between
# detection batches: this keeps the run under 1.5 GB whatever is handed in, while an ordinary
# photo needs a few MB (a 48 MP baseline JPEG reduced to 640 px: 6 MB).
DECODE_MEMORY = 256 * 2**20
# Pillow's plugin for each format sniff_format names (see _open).
_PILLOW_FORMAT = {"JPEG": "JPEG", "PNG": "PNG", "GIF": "GIF", "BMP": "BMP", "TIFF": "TIFF",
                  "WebP": "WEBP"}  # fmt: skip
_ORIENTATION = 0x0112
_XMP_ORIENTATION = re.compile(rb'tiff:Orientation(="|>)([1-8])')
# EXIF orientation -> the transposition that shows the picture upright (as ImageOps.exif_transpose)
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SIXTEEN_BIT = {"I;16", "I;16L", "I;16B", "I;16N", "I"}
Image.init()  # register every plugin once, at import, so _open never does it inside a thread


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
    """Width and height as the photo is meant to be seen, without decoding anything."""
    im = _open(data, "the image header cannot be read")
    width, height = im.size
    orientation = _orientation(im)
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return Header(width, height, orientation)


def decode(data: bytes, *, max_pixels: int, long_side: int | None = None) -> Decoded:
    """Decode the whole file to RGB with EXIF orientation applied.

    With `long_side`, the result's longer side is at most that (JPEGs are scaled while decoding).
    Raises ImageError when the pixel count is over `max_pixels` (a decompression bomb is refused
    before any decoding), when decoding would need more than DECODE_MEMORY, or when the data
    does not decode to the end.
    """
    im = _open(data, "the file cannot be opened as an image")
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
    need, why = _decode_memory(im, data, (width, height))
    if need > DECODE_MEMORY:
        raise ImageError(
            f"decoding this {width}×{height} {im.format} would take {need / 2**20:.0f} MB "
            f"({why}), more than the {DECODE_MEMORY / 2**20:.0f} MB one photo may use; hand in "
            "an ordinary JPEG from the camera"
        )
    with _DECODING.hold(min(need + len(data), DECODE_MEMORY)):
        try:
            im.load()
        except Exception as exc:  # Pillow and libjpeg raise many types for damaged data
            raise ImageError(
                f"the file does not decode to the end ({_short(exc)}); it is damaged or was cut "
                "off while copying — export it again from the original"
            ) from None
        try:  # decoded, but an unusual mode can still defeat Pillow here
            # each step replaces `im`, so no more than two copies of the picture exist at once
            if orientation in _TRANSPOSE:
                im = im.transpose(_TRANSPOSE[orientation])
            if im.mode in _SIXTEEN_BIT:
                im = _top_byte(im)  # convert() would clip every value over 255 to white
            if im.mode != "RGB":
                im = im.convert("RGB")
            if long_side and max(im.size) > long_side:
                ratio = long_side / max(im.size)
                size = (max(1, round(im.width * ratio)), max(1, round(im.height * ratio)))
                im = im.resize(size, Image.Resampling.LANCZOS)
        except Exception as exc:
            raise ImageError(
                f"the image decodes but cannot be turned into an RGB picture ({_short(exc)}); "
                "save it again as an ordinary colour JPEG"
            ) from None
    im.info = {}
    return Decoded(im, full_long / max(im.size))


def _open(data: bytes, problem: str) -> ImageFile.ImageFile:
    """The image through its format's own Pillow plugin, nothing decoded yet.

    Image.open would also apply Pillow's process-wide MAX_IMAGE_PIXELS (a warning above 89 MP, an
    error above 179 MP, so 200 MP phone photos would fail); our callers check their own limit
    against the header before anything is decoded, so no global needs changing.
    """
    found = sniff_format(data)
    plugin = _PILLOW_FORMAT.get(found)
    if plugin is None:
        raise ImageError(f"{problem} (it is {_article(found)}, not an image Pillow can read)")
    factory, _ = Image.OPEN[plugin]
    try:
        return factory(io.BytesIO(data), None)
    except Exception as exc:  # Pillow raises many types for bad headers
        raise ImageError(f"{problem} ({_short(exc)})") from None


def _article(name: str) -> str:
    return ("an " if name[:1].lower() in "aeiou" else "a ") + name


def _orientation(im: Image.Image) -> int:
    """The EXIF (or XMP) orientation from what the header already read; 1 when absent or junk.

    Never im.getexif(): for a PNG it decodes every pixel to look for EXIF after them.
    """
    value = None
    try:
        tags = getattr(im, "tag_v2", None)  # a TIFF's header is its EXIF
        if tags is not None:
            value = tags.get(_ORIENTATION)
        elif isinstance(raw := im.info.get("exif"), bytes):
            value = Image.Exif()
            value.load(raw)
            value = value.get(_ORIENTATION)
    except Exception:  # malformed EXIF is common and only costs the orientation
        value = None
    if value is None:
        xmp = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
        if isinstance(xmp, str):
            xmp = xmp.encode("utf-8", "replace")
        match = _XMP_ORIENTATION.search(xmp) if isinstance(xmp, bytes) else None
        value = int(match[2]) if match else None
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _decode_memory(
    im: ImageFile.ImageFile, data: bytes, full: tuple[int, int]
) -> tuple[int, str]:
    """Bytes a decode of `im` (after draft; `full` its size before) holds at its peak, and what
    they are, in words."""
    width, height = im.size
    # the decoded pixels and one derived copy (upright, RGB, resized), up to 4 bytes a pixel each
    need = 8 * width * height
    why = f"it is decoded at {width}×{height}" + ("" if im.format == "JPEG" else ", full size")
    if im.format == "JPEG" and (im.info.get("progressive") or data.count(b"\xff\xda") > 1):
        # libjpeg keeps every DCT coefficient of a progressive (multi-scan) JPEG until the last
        # scan, at full size whatever the draft scale: 2 bytes a coefficient, per component
        layers = getattr(im, "layer", None) or [(0, 1, 1, 0)] * len(im.getbands())
        h_max = max(h for _, h, _, _ in layers) or 1
        v_max = max(v for _, _, v, _ in layers) or 1
        need += sum(
            math.ceil(full[0] * h / h_max / 8) * math.ceil(full[1] * v / v_max / 8) * 64 * 2
            for _, h, v, _ in layers
        )
        why = "a progressive JPEG is held whole while it decodes"
    return need, why


def _top_byte(im: Image.Image) -> Image.Image:
    """8-bit grey from 16- or 32-bit grey: the top byte of 16-bit values."""
    values = np.asarray(im)
    if im.mode != "I" or values.max(initial=0) > 255:  # "I" may hold 8-bit values already
        values = values >> 8
    return Image.fromarray(np.clip(values, 0, 255).astype(np.uint8), "L")


def _short(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 160 else text[:157] + "..."


class _Budget:
    """Bytes that decoding may hold at once across threads: a weighted semaphore.

    Every decode asks for at most the whole budget, and holds one share at a time, so a wait
    always ends once the decodes ahead of it finish.
    """

    def __init__(self, total: int):
        self._free = total
        self._ready = threading.Condition()

    @contextmanager
    def hold(self, amount: int) -> Iterator[None]:
        with self._ready:
            self._ready.wait_for(lambda: self._free >= amount)
            self._free -= amount
        try:
            yield
        finally:
            with self._ready:
                self._free += amount
                self._ready.notify_all()


_DECODING = _Budget(DECODE_MEMORY)
