import io

import numpy as np
import pytest
from PIL import Image

from pipeline.images import ImageError, decode, read_header, sniff_format
from tests.conftest import face, jpeg_bytes


def encoded(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize(
    "fmt, name",
    [
        ("PNG", "PNG"),
        ("GIF", "GIF"),
        ("WEBP", "WebP"),
        ("BMP", "BMP"),
        ("TIFF", "TIFF"),
        ("JPEG", "JPEG"),
    ],
)
def test_sniff_names_the_real_format(fmt, name):
    im = Image.new("RGB", (32, 24), (200, 30, 30))
    assert sniff_format(encoded(im, fmt)) == name


def test_sniff_heic_text_and_empty():
    heic_head = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"
    assert sniff_format(heic_head) == "HEIC"
    assert sniff_format(b"file,age\nimg.jpg,20\n") == "text"
    assert sniff_format(b"") == "empty file"
    assert sniff_format(bytes(range(256))) == "unknown"


def test_header_applies_exif_orientation():
    im = Image.new("RGB", (800, 600), (10, 200, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways, shown rotated 90°
    data = jpeg_bytes(im, exif=exif.tobytes())
    header = read_header(data)
    assert (header.width, header.height, header.orientation) == (600, 800, 6)
    decoded = decode(data, max_pixels=10**9)
    assert decoded.image.size == (600, 800)
    assert "exif" not in decoded.image.info


def test_decode_reduces_jpeg_and_reports_scale():
    data = jpeg_bytes(face().resize((2400, 2400)))
    d = decode(data, max_pixels=10**9, long_side=640)
    assert max(d.image.size) == 640
    assert d.scale == pytest.approx(2400 / 640)
    full = decode(data, max_pixels=10**9)
    assert full.image.size == (2400, 2400) and full.scale == 1.0


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.999])
def test_truncated_jpeg_does_not_decode(keep):
    data = jpeg_bytes(face())
    with pytest.raises(ImageError, match="does not decode to the end"):
        decode(data[: int(len(data) * keep)], max_pixels=10**9, long_side=640)


def test_garbage_after_a_jpeg_header_does_not_decode():
    data = jpeg_bytes(face())
    rng = np.random.default_rng(0)
    broken = data[:600] + rng.integers(0, 256, 5000, dtype=np.uint8).tobytes()
    with pytest.raises(ImageError):
        decode(broken, max_pixels=10**9)


def test_header_bomb_is_refused_without_decoding():
    raw = bytearray(jpeg_bytes(Image.new("RGB", (64, 64))))
    sof = raw.find(b"\xff\xc0")
    raw[sof + 5 : sof + 9] = (30000).to_bytes(2, "big") * 2  # height, width in the SOF0 segment
    assert read_header(bytes(raw)).width == 30000
    with pytest.raises(ImageError, match="900 megapixels.*refusing to decode"):
        decode(bytes(raw), max_pixels=250_000_000)
