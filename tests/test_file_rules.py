"""File-level and class-level rules, each triggered and passed by real files made here."""

import io
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageOps

from pipeline.attributes import load_vocabulary
from pipeline.config import IngestParams, ValidateParams
from pipeline.ingest import ingest
from pipeline.validate import validate
from tests.conftest import SCHEMA, face, jpeg_bytes, write_student

GOOD = face().resize((600, 600), Image.Resampling.LANCZOS)


def run(root, tmp_path, **limits):
    params = replace(ValidateParams(), **limits)
    manifest = ingest(root, IngestParams())
    return validate(root, manifest, params, load_vocabulary(SCHEMA), tmp_path / "cache")


def findings(result, rule):
    return {(f.student, f.file): f for f in result.findings if f.rule == rule}


def png_bytes(im):
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def test_each_file_rule_fails_its_photo_and_passes_a_good_one(tmp_path):
    root = tmp_path / "subs"
    whole = jpeg_bytes(GOOD)
    gray = jpeg_bytes(GOOD.convert("L"))
    photos = {
        "good.jpg": whole,
        "png.jpg": png_bytes(GOOD),
        "notes.jpg": b"these are my photos\n",
        "cut.jpg": whole[: len(whole) // 2],
        "small.jpg": jpeg_bytes(face().resize((480, 640))),
        "gray.jpg": gray,
        "gray_rgb.jpg": jpeg_bytes(Image.open(io.BytesIO(gray)).convert("RGB").rotate(1)),
    }
    write_student(root, "ada", photos)
    result = run(root, tmp_path, images_per_student=len(photos))

    not_jpeg = findings(result, "not_jpeg")
    assert set(not_jpeg) == {("ada", "png.jpg"), ("ada", "notes.jpg")}
    assert "PNG file" in not_jpeg[("ada", "png.jpg")].message
    assert "text file" in not_jpeg[("ada", "notes.jpg")].message
    assert set(findings(result, "corrupt")) == {("ada", "cut.jpg")}
    small = findings(result, "too_small")
    assert set(small) == {("ada", "small.jpg")}
    assert (small[("ada", "small.jpg")].value, small[("ada", "small.jpg")].limit) == (
        "480 px",
        "≥ 500 px",
    )
    assert set(findings(result, "grayscale")) == {("ada", "gray.jpg"), ("ada", "gray_rgb.jpg")}
    assert findings(result, "count") == {}
    assert ("ada", "good.jpg") in {(p.student, p.file) for p in result.accepted()}


def toned(im: Image.Image, tint: tuple[float, float, float]) -> Image.Image:
    """The photo in black and white, then toned: each channel of the grey scaled by `tint`."""
    grey = np.asarray(ImageOps.grayscale(im), dtype=np.float64)
    return Image.fromarray(np.clip(np.stack([grey * t for t in tint], axis=2), 0, 255)
                           .astype(np.uint8))


def test_toned_monochrome_fails_grayscale_and_a_pale_colour_copy_passes(tmp_path):
    """Sepia and a cold cast are colour that only follows brightness: `grayscale` fires; a copy
    with half its saturation, paler than any real colour photo of the calibration set, does not
    (docs/RULES.md, `grayscale`). paul_rudd is the palest colour portrait of tests/data/faces."""
    im = face("paul_rudd").resize((600, 600), Image.Resampling.LANCZOS)
    photos = {
        "colour.jpg": jpeg_bytes(im),
        "pale.jpg": jpeg_bytes(ImageEnhance.Color(im).enhance(0.5)),
        "faded.jpg": jpeg_bytes(ImageEnhance.Color(im).enhance(0.1)),
        "sepia.jpg": jpeg_bytes(toned(im, (1.0, 0.85, 0.65))),
        "cold.jpg": jpeg_bytes(toned(im, (0.85, 0.95, 1.0))),
    }
    root = tmp_path / "subs"
    write_student(root, "ada", photos)
    result = run(root, tmp_path, images_per_student=len(photos))
    grey = findings(result, "grayscale")
    assert set(grey) == {("ada", "faded.jpg"), ("ada", "sepia.jpg"), ("ada", "cold.jpg")}
    assert "sepia" in grey[("ada", "sepia.jpg")].message


def test_exif_orientation_is_applied_before_the_size_rule(tmp_path):
    root = tmp_path / "subs"
    exif = Image.Exif()
    exif[0x0112] = 6
    sideways = jpeg_bytes(GOOD.resize((640, 600)).rotate(90, expand=True), exif=exif.tobytes())
    write_student(root, "ada", {"turned.jpg": sideways})
    result = run(root, tmp_path, images_per_student=1, min_side=620)
    small = findings(result, "too_small")[("ada", "turned.jpg")]
    assert "640×600" in small.message  # as shown, not as stored (600×640)


def test_count(tmp_path):
    root = tmp_path / "subs"
    write_student(
        root, "ada", {"a.jpg": jpeg_bytes(GOOD), "b.jpg": jpeg_bytes(ImageOps.mirror(GOOD))}
    )
    short = findings(run(root, tmp_path, images_per_student=3), "count")[("ada", "")]
    assert short.value == "2" and "fewer than the 3" in short.message
    assert findings(run(root, tmp_path, images_per_student=2), "count") == {}


def test_duplicates_within_and_across_students(tmp_path):
    root = tmp_path / "subs"
    original = jpeg_bytes(GOOD)
    resaved = jpeg_bytes(GOOD.resize((560, 560)), quality=70)  # same photo, re-encoded smaller
    mirrored = jpeg_bytes(ImageOps.mirror(GOOD))  # a different picture to a perceptual hash
    other = jpeg_bytes(face().crop((0, 150, 1200, 1050)).resize((800, 600)))
    write_student(root, "ada", {"a1.jpg": original, "a2.jpg": resaved, "a3.jpg": mirrored})
    write_student(root, "bob", {"b1.jpg": other, "b2.jpg": mirrored})
    dups = findings(run(root, tmp_path, images_per_student=3), "duplicate")

    assert set(dups) == {("ada", "a2.jpg"), ("ada", "a3.jpg"), ("bob", "b2.jpg")}
    within = dups[("ada", "a2.jpg")]
    assert "near-identical copy of a1.jpg" in within.message
    assert within.value.startswith("hash distance")
    across_ada, across_bob = dups[("ada", "a3.jpg")], dups[("bob", "b2.jpg")]
    assert "bob handed in an identical file of this photo (bob/b2.jpg)" in across_ada.message
    assert "ada handed in an identical file of this photo (ada/a3.jpg)" in across_bob.message
    assert across_bob.value == "identical bytes"
    assert [dups[k].related for k in sorted(dups)] == ["ada/a1.jpg", "bob/b2.jpg", "ada/a3.jpg"]


@pytest.mark.parametrize("limit, flagged", [(0, False), (4, True)])
def test_duplicate_limit_is_the_hash_distance(tmp_path, limit, flagged):
    root = tmp_path / "subs"
    brighter = GOOD.point(lambda v: min(255, int(v * 1.08)))
    write_student(root, "ada", {"a1.jpg": jpeg_bytes(GOOD), "a2.jpg": jpeg_bytes(brighter)})
    dups = findings(
        run(root, tmp_path, images_per_student=2, duplicate_max_distance=limit), "duplicate"
    )
    assert (("ada", "a2.jpg") in dups) is flagged


def test_blank_frames_are_not_copies_of_each_other_unless_identical(tmp_path):
    """Flat images all hash alike; only identical bytes may make a copying accusation."""
    root = tmp_path / "subs"
    black = jpeg_bytes(Image.new("RGB", (600, 600)))
    write_student(root, "ada", {"cap.jpg": black})
    write_student(root, "bob", {"cap.jpg": jpeg_bytes(Image.new("RGB", (700, 600), (90, 90, 90)))})
    write_student(root, "cy", {"cap.jpg": black})
    dups = findings(run(root, tmp_path, images_per_student=1), "duplicate")
    assert set(dups) == {("ada", "cap.jpg"), ("cy", "cap.jpg")}
    assert dups[("ada", "cap.jpg")].value == "identical bytes"
