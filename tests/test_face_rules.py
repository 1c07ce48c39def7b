"""The face rules of `facedata validate` on real photos and degraded copies, with the real MTCNN."""

from __future__ import annotations

import dataclasses
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from pipeline.config import DetectParams, ValidateParams
from pipeline.faces import Face, FaceAnalyzer, FaceQuality, FaceReport, Pose
from pipeline.findings import Finding, Severity
from pipeline.measure import Photo
from pipeline.rules import PHOTO_RULES, judge_photo

FACES = Path(__file__).parent / "data" / "faces"
FACE_RULES = ["no_face", "multiple_faces", "not_frontal", "face_too_small", "face_cut_off",
              "blurry", "exposure", "expression"]
PARAMS = ValidateParams()
# Degraded copies start from the photo at this size: large enough to be a real submission (over
# the 500 px rule) and still reduced for detection, small enough to keep the tests quick.
START = 1000


@pytest.fixture(scope="module")
def analyzer() -> FaceAnalyzer:
    return FaceAnalyzer(DetectParams(device="cpu"))


@cache
def original(name: str) -> Image.Image:
    im = Image.open(FACES / f"{name}.jpg").convert("RGB")
    if max(im.size) > START:
        im.thumbnail((START, START), Image.Resampling.LANCZOS)
    return im


def measure(analyzer: FaceAnalyzer, im: Image.Image) -> Photo:
    """The Photo the validate stage would build: detection on a ~640 px copy, original sizes."""
    long_side = PARAMS.detect.long_side
    small, scale = im, 1.0
    if max(im.size) > long_side:
        ratio = long_side / max(im.size)
        small = im.resize((round(im.width * ratio), round(im.height * ratio)),
                          Image.Resampling.LANCZOS)
        scale = max(im.size) / max(small.size)
    report = analyzer.analyse([np.asarray(small)], [scale])[0]
    return Photo(student="s1", file="p.jpg", sha256="x", bytes=0, format="JPEG", width=im.width,
                 height=im.height, chroma=20.0, phash="0", faces=report)


def face_findings(photo: Photo, params: ValidateParams = PARAMS) -> dict[str, Finding]:
    return {f.rule: f for f in judge_photo(photo, params) if f.rule in FACE_RULES}


def main_face(photo: Photo) -> Face:
    assert photo.main_face is not None, "the test photo must have a detectable face"
    return photo.main_face


def eye_distance(face: Face) -> float:
    (x1, y1), (x2, y2) = face.landmarks[:2]
    return float(np.hypot(x2 - x1, y2 - y1))


def test_face_rules_registered_in_order_with_severities():
    rules = [r for r in PHOTO_RULES.values() if r.id in FACE_RULES]
    assert [r.id for r in rules] == FACE_RULES
    assert {r.id for r in rules if r.severity is Severity.WARNING} == {"expression"}


@pytest.mark.parametrize("name", ["paul_rudd", "kate_siegel"])
def test_neutral_frontal_portraits_pass_every_face_rule(analyzer, name):
    assert face_findings(measure(analyzer, original(name))) == {}


@pytest.mark.parametrize("name", ["biden_official_2013", "astronaut_collins"])
def test_smiling_frontal_portraits_only_get_the_expression_warning(analyzer, name):
    findings = face_findings(measure(analyzer, original(name)))
    assert list(findings) == ["expression"]
    assert findings["expression"].severity is Severity.WARNING
    assert "smiling" in findings["expression"].message


def test_group_photo_fails_multiple_faces(analyzer):
    findings = face_findings(measure(analyzer, original("multiface")))
    assert findings["multiple_faces"].severity is Severity.ERROR
    assert findings["multiple_faces"].value == "6 faces"


def _face(x: float, size: float) -> Face:
    box = (x, 100.0, x + size, 100.0 + size)
    points = tuple((x + size * u, 100 + size * v) for u, v in
                   [(0.3, 0.4), (0.7, 0.4), (0.5, 0.6), (0.35, 0.8), (0.65, 0.8)])
    return Face(box, 0.999, points, Pose(0.0, 0.0, 0.0))


@pytest.mark.parametrize("second,fails", [(0.2, False), (0.3, False), (0.5, True), (1.0, True)])
def test_multiple_faces_ignores_small_background_faces(second, fails):
    main, other = _face(100, 400), _face(700, 400 * second)
    quality = FaceQuality(500.0, 130.0, 0.0, 0.0, 1.1, 0.85)
    photo = Photo(student="s1", file="p.jpg", sha256="x", bytes=0, format="JPEG", width=1200,
                  height=900, chroma=20.0, phash="0", faces=FaceReport((main, other), quality))
    assert ("multiple_faces" in face_findings(photo)) is fails


@pytest.mark.parametrize("name", ["coffee_no_face", "cat_chelsea"])
def test_no_person_fails_no_face(analyzer, name):
    findings = face_findings(measure(analyzer, original(name)))
    assert list(findings) == ["no_face"]
    assert findings["no_face"].severity is Severity.ERROR


def test_turned_face_fails_not_frontal(analyzer):
    # A real head turned towards the picture's right (the cameraman looks into his camera's
    # viewfinder, face in near profile). A perspective warp of a frontal photo would not do: it
    # moves the nose with the eyes, where a real turn moves the nose tip in front of them.
    findings = face_findings(measure(analyzer, original("cameraman_gray")))
    finding = findings["not_frontal"]
    assert "(yaw)" in finding.message and "picture's right" in finding.message
    assert finding.limit == f"±{PARAMS.max_yaw:g}°"
    assert float(finding.value.rstrip("°")) < -PARAMS.max_yaw


@pytest.mark.parametrize("angle", [30, -30])
def test_rotated_portrait_fails_on_roll_only(analyzer, angle):
    im = original("kate_siegel").rotate(angle, resample=Image.Resampling.BICUBIC, expand=True,
                                       fillcolor=(128, 128, 128))
    photo = measure(analyzer, im)
    finding = face_findings(photo)["not_frontal"]
    assert "(roll)" in finding.message and "(yaw)" not in finding.message
    assert abs(float(finding.value.rstrip("°"))) > PARAMS.max_roll
    # the limit is the parameter's, not a constant of the rule
    assert "not_frontal" not in face_findings(photo, dataclasses.replace(PARAMS, max_roll=45.0))


@pytest.mark.parametrize("name", ["kate_siegel", "paul_rudd"])
def test_heavy_blur_fails_blurry(analyzer, name):
    im = original(name)
    sigma = 0.15 * eye_distance(main_face(measure(analyzer, im)))  # in the photo's own pixels
    findings = face_findings(measure(analyzer, im.filter(ImageFilter.GaussianBlur(sigma))))
    assert "blurry" in findings
    assert float(findings["blurry"].value) < PARAMS.min_sharpness


def test_darkened_copy_fails_exposure(analyzer):
    arr = np.asarray(original("paul_rudd"), dtype=np.float32)
    photo = measure(analyzer, Image.fromarray((arr * 0.2).astype(np.uint8)))  # ~2.3 stops under
    finding = face_findings(photo)["exposure"]
    assert "too dark" in finding.message and finding.limit == f"≥ {PARAMS.min_brightness:g}"


def test_overexposed_copy_fails_exposure(analyzer):
    arr = np.asarray(original("kate_siegel"), dtype=np.float32)
    photo = measure(analyzer, Image.fromarray(np.clip(arr * 1.8, 0, 255).astype(np.uint8)))
    assert "pure white" in face_findings(photo)["exposure"].message


@pytest.mark.parametrize("name", ["kate_siegel", "paul_rudd"])
def test_light_from_one_side_fails_exposure(analyzer, name):
    im = original(name)
    x1, _, x2, _ = main_face(measure(analyzer, im)).box
    # full light on the face's left edge falling to a fifth on its right edge, like a lamp at
    # the side in a dark room
    xs = np.arange(im.width, dtype=np.float32)
    light = np.clip(1 - 0.8 * (xs - x1) / (x2 - x1), 0.2, 1.0)[None, :, None]
    lit = Image.fromarray((np.asarray(im, dtype=np.float32) * light).astype(np.uint8))
    finding = face_findings(measure(analyzer, lit))["exposure"]
    assert "as bright as the other" in finding.message
    assert finding.limit == f"≤ {PARAMS.max_side_ratio:g}×"


def test_small_face_in_a_large_frame_fails_face_too_small(analyzer):
    # A close-up shrunk to a quarter in a 1500×2000 frame: the face is about 10% of the height,
    # still over MTCNN's min_face_size in the 640 px copy (below that, no_face speaks instead).
    im = original("paul_rudd")
    frame = Image.new("RGB", (1500, 2000), (90, 110, 90))
    frame.paste(im.resize((im.width // 4, im.height // 4), Image.Resampling.LANCZOS), (600, 900))
    photo = measure(analyzer, frame)
    assert list(face_findings(photo)) == ["face_too_small"]
    x1, y1, x2, y2 = main_face(photo).box
    assert 0 < (y2 - y1) / photo.height < PARAMS.min_face_fraction


@pytest.mark.parametrize("side", ["left", "top", "bottom"])
def test_face_partly_out_of_the_frame_fails_face_cut_off(analyzer, side):
    im = original("paul_rudd")
    x1, y1, x2, y2 = main_face(measure(analyzer, im)).box
    w, h = x2 - x1, y2 - y1
    crop = {"left": (x1 + 0.3 * w, 0, im.width, im.height),
            "top": (0, y1 + 0.3 * h, im.width, im.height),
            "bottom": (0, 0, im.width, y2 - 0.3 * h)}[side]
    findings = face_findings(measure(analyzer, im.crop(tuple(round(v) for v in crop))))
    assert "face_cut_off" in findings
    assert findings["face_cut_off"].severity is Severity.ERROR


def test_face_half_out_of_the_frame_is_an_error(analyzer):
    # With half the face gone MTCNN no longer finds it at all: no_face speaks instead.
    im = original("kate_siegel")
    x1, _, x2, _ = main_face(measure(analyzer, im)).box
    findings = face_findings(measure(analyzer, im.crop((round((x1 + x2) / 2), 0, im.width,
                                                        im.height))))
    assert {"face_cut_off", "no_face"} & set(findings)
    assert all(f.severity is Severity.ERROR for f in findings.values())


def test_mirror_image_is_judged_alike(analyzer):
    im = original("paul_rudd")
    mirrored = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    assert face_findings(measure(analyzer, mirrored)) == face_findings(measure(analyzer, im))
