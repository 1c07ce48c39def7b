import io
import warnings
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from pipeline.images import DECODE_MEMORY, ImageError, decode, read_header, sniff_format
from tests.conftest import face, jpeg_bytes

PILLOW_DEFAULT_LIMIT = int(1024 * 1024 * 1024 // 4 // 3)  # Image.MAX_IMAGE_PIXELS as shipped


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


def test_nothing_process_wide_is_changed():
    """Pillow's global limit and the warnings filters stay as they were: a verdict must never
    depend on what another thread is decoding."""
    filters = list(warnings.filters)
    exif = Image.Exif()
    exif[0x0112] = 6
    raw = bytearray(exif.tobytes())
    raw[-8:] = b"\xff" * 8  # malformed: Pillow warns while parsing it
    data = jpeg_bytes(face().resize((300, 200)), exif=bytes(raw))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        decode(data, max_pixels=10**9, long_side=640)
        read_header(data)
    assert Image.MAX_IMAGE_PIXELS == PILLOW_DEFAULT_LIMIT
    assert warnings.filters == filters


def test_a_200_megapixel_header_is_ours_to_judge_not_pillows():
    # Pillow's own global limit would refuse anything over 179 MP on open
    raw = bytearray(jpeg_bytes(Image.new("RGB", (64, 64))))
    sof = raw.find(b"\xff\xc0")
    raw[sof + 5 : sof + 9] = (12500).to_bytes(2, "big") + (16000).to_bytes(2, "big")
    header = read_header(bytes(raw))
    assert (header.width, header.height) == (16000, 12500)
    with pytest.raises(ImageError, match="200 megapixels, over the 150 MP limit"):
        decode(bytes(raw), max_pixels=150_000_000, long_side=640)


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")


def test_orientation_comes_from_the_header_only_and_decode_agrees():
    exif = Image.Exif()
    exif[0x0112] = 6
    png = encoded(Image.new("RGB", (80, 60), (200, 10, 10)), "PNG")
    # eXIf before the pixels is read with the header; after them it would take a full decode
    before = png[:33] + png_chunk(b"eXIf", exif.tobytes()) + png[33:]
    after = png[:-12] + png_chunk(b"eXIf", exif.tobytes()) + png[-12:]
    assert read_header(before).orientation == 6 and read_header(before).width == 60
    assert decode(before, max_pixels=10**6).image.size == (60, 80)
    assert read_header(after).orientation == 1
    assert decode(after, max_pixels=10**6).image.size == (80, 60)


def test_decoding_that_would_need_too_much_memory_is_refused_before_it_starts():
    squeeze = zlib.compressobj(9)
    rows = b"".join(squeeze.compress(bytes(15001)) for _ in range(15000)) + squeeze.flush()
    ihdr = (15000).to_bytes(4, "big") * 2 + b"\x08\x00\x00\x00\x00"
    bomb = (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", rows)
            + png_chunk(b"IEND", b""))  # fmt: skip
    assert len(bomb) < 1_000_000  # 225 MP of zeros, decoded: 0.9 GB as RGB
    with pytest.raises(ImageError, match=r"would take 1717 MB.*more than the 256 MB"):
        decode(bomb, max_pixels=250_000_000, long_side=640)
    assert DECODE_MEMORY == 256 * 2**20


def test_a_huge_progressive_jpeg_is_refused_for_its_coefficients():
    raw = bytearray(encoded(Image.new("L", (64, 64), 128), "JPEG", progressive=True))
    sof = raw.find(b"\xff\xc2")
    raw[sof + 5 : sof + 9] = (12000).to_bytes(2, "big") * 2
    with pytest.raises(ImageError, match="progressive JPEG is held whole"):
        decode(bytes(raw), max_pixels=250_000_000, long_side=640)
    ordinary = encoded(face().resize((1200, 900)), "JPEG", progressive=True)
    assert decode(ordinary, max_pixels=10**9, long_side=640).image.size == (640, 480)


def test_16_bit_grey_keeps_its_tones():
    grey = np.asarray(face().convert("L").resize((320, 240))).astype(np.uint16) * 257
    png = cv2.imencode(".png", grey)[1].tobytes()
    assert Image.open(io.BytesIO(png)).mode == "I;16"
    pixels = np.asarray(decode(png, max_pixels=10**9).image)
    assert np.abs(pixels[..., 0].astype(int) - grey // 257).max() <= 1  # not clipped to white
