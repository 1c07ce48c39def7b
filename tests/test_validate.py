"""The validate stage end to end: outputs, and that the cache changes speed, never verdicts."""

import csv
import json
from dataclasses import replace
from pathlib import Path

from PIL import Image, ImageOps

from pipeline.attributes import load_vocabulary
from pipeline.config import DetectParams, IngestParams, ValidateParams
from pipeline.formats.accepted import FACE_COLUMNS
from pipeline.ingest import ingest
from pipeline.validate import validate, write_outputs
from tests.conftest import SCHEMA, face, jpeg_bytes, write_student


def make_class(root):
    im = face()
    write_student(
        root,
        "ada",
        {
            "p1.jpg": jpeg_bytes(im),
            "p2.jpg": jpeg_bytes(ImageOps.mirror(im).resize((700, 700), Image.Resampling.LANCZOS)),
            "p3.jpg": jpeg_bytes(face("astronaut_collins").resize((450, 450))),
        },
    )


def run(root, cache, **limits):
    params = replace(ValidateParams(images_per_student=3), **limits)
    return validate(root, ingest(root, IngestParams()), params, load_vocabulary(SCHEMA), cache)


def cache_files(cache):
    return {p: p.stat().st_mtime_ns for p in cache.rglob("*.json")}


def test_warm_run_gives_identical_verdicts_and_measures_nothing(tmp_path):
    root, cache = tmp_path / "subs", tmp_path / "cache"
    make_class(root)
    cold = run(root, cache)
    stored = cache_files(cache)
    assert len(stored) == 3
    warm = run(root, cache)
    assert warm.findings == cold.findings and warm.photos == cold.photos
    assert cache_files(cache) == stored  # nothing was measured again

    (root / "ada" / "p4.jpg").write_bytes(jpeg_bytes(face().crop((0, 0, 1000, 1000))))
    grown = run(root, cache, images_per_student=4)
    assert "p4.jpg" in {p.file for p in grown.photos if p.main_face is not None}
    after = cache_files(cache)
    assert len(after) == 4 and {p: after[p] for p in stored} == stored  # only the new photo


def test_changing_a_limit_rejudges_without_measuring(tmp_path):
    root, cache = tmp_path / "subs", tmp_path / "cache"
    make_class(root)
    run(root, cache)
    stored = cache_files(cache)
    strict = run(root, cache, min_side=800)
    assert {f.file for f in strict.findings if f.rule == "too_small"} == {"p2.jpg", "p3.jpg"}
    assert cache_files(cache) == stored
    run(root, cache, detect=replace(DetectParams(), long_side=480))
    assert len(cache_files(cache)) == 6  # detector settings are part of the key


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_outputs(tmp_path):
    root = tmp_path / "subs"
    make_class(root)
    result = run(root, tmp_path / "cache")
    out = tmp_path / "out"
    write_outputs(result, out / "findings.csv", out / "accepted.csv", out / "validate.json",
                  out / "details.json")
    rows = read_rows(out / "accepted.csv")
    assert {r["file"] for r in rows} == {"p1.jpg", "p2.jpg"}
    p1 = next(r for r in rows if r["file"] == "p1.jpg")
    assert set(FACE_COLUMNS) <= set(p1)
    # landmarks in original pixels: the 1200 px portrait's eyes sit inside its face box
    x1, x2 = float(p1["face_x1"]), float(p1["face_x2"])
    assert x1 < float(p1["left_eye_x"]) < float(p1["right_eye_x"]) < x2
    assert x2 > 640  # beyond the 640 px detection copy
    assert p1["eye_colour"] == "blue" and p1["age"] == "70"
    # the headlines DVC compares, and every count with its notes beside them
    assert json.loads((out / "validate.json").read_text()) == {"photos": 3, "accepted": 2}
    details = json.loads((out / "details.json").read_text())
    assert details["values"]["rules"]["too_small"] == 1
    assert details["values"]["findings"]["errors"] >= 1 and details["values"]["rejected"] == 1
    assert "docs/RULES.md" in details["notes"]["rules"]
    findings = read_rows(out / "findings.csv")
    assert any(f["rule"] == "too_small" and f["file"] == "p3.jpg" for f in findings)


def test_exif_rotated_phone_portrait_passes(tmp_path):
    """Stored sideways with orientation 6, as phones do: turned upright before detection."""
    root = tmp_path / "subs"
    upright = face().resize((900, 700), Image.Resampling.LANCZOS)  # landscape, so w≠h
    exif = Image.Exif()
    exif[0x0112] = 6  # the viewer rotates it 90° clockwise
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what the sensor wrote
    write_student(root, "ada", {"phone.jpg": jpeg_bytes(stored, exif=exif.tobytes())})
    result = run(root, tmp_path / "cache", images_per_student=1)
    errors = [f for f in result.findings if f.severity.value == "error"]
    assert errors == []
    photo = result.accepted()[0]
    assert (photo.width, photo.height) == upright.size
    assert abs(photo.main_face.pose.roll) < 8
