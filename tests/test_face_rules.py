"""The face rules of `facedata validate` on real photos and copies made from them, measured the
validator's way (`pipeline.measure.measure_photos`: decode, MTCNN, dlib's 68 points)."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter, ImageOps

from pipeline.config import ValidateParams
from pipeline.faces import Face, FaceAnalyzer, FaceQuality, FaceReport, Pose
from pipeline.findings import Finding, Severity
from pipeline.images import read_header, sniff_format
from pipeline.measure import (
    MeasureCache,
    Photo,
    PhotoFile,
    decode_for_measuring,
    measure_photos,
)
from pipeline.rules import PHOTO_RULES, judge_photo

FACES = Path(__file__).parent / "data" / "faces"
CALIBRATION = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "calibration"
FACE_RULES = ["no_face", "multiple_faces", "not_frontal", "face_too_small", "face_cut_off",
              "blurry", "exposure", "expression"]
PARAMS = ValidateParams(detect=dataclasses.replace(ValidateParams().detect, device="cpu"))
# Copies start from the photo at this size: a real submission's size (over the 500 px rule),
# still reduced for detection, small enough to keep the tests quick.
START = 1000
# Good photos: they pass every face rule (carell and biden smile: the warning only).
GOOD = ["paul_rudd", "openface_adams", "openface_carell", "biden_official_2013", "angelina_jolie"]
# The blur series: a Gaussian blur of up to SHARP eye distances leaves every good photo sharp
# enough, one of BLURRED or more makes each of them `blurry` (docs/RULES.md, `blurry`).
SHARP = 0.02
BLURRED = 0.03


@cache
def original(name: str) -> Image.Image:
    im = Image.open(FACES / f"{name}.jpg").convert("RGB")
    if max(im.size) > START:
        im.thumbnail((START, START), Image.Resampling.LANCZOS)
    return im


def jpeg(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=95)
    return buf.getvalue()


def photo_file(name: str, data: bytes) -> PhotoFile:
    header = read_header(data)
    return PhotoFile("s1", name, hashlib.sha256(data).hexdigest(), len(data), sniff_format(data),
                     header.width, header.height, lambda: data)


def measure(images: dict[str, Image.Image]) -> dict[str, Photo]:
    """The Photos the validate stage would measure for these pictures (saved as JPEGs)."""
    files = [photo_file(name, jpeg(im)) for name, im in images.items()]
    photos = measure_photos(files, PARAMS, MeasureCache(None, PARAMS))
    return {ph.file: ph for ph in photos}


def face_findings(photo: Photo, params: ValidateParams = PARAMS) -> dict[str, Finding]:
    return {f.rule: f for f in judge_photo(photo, params) if f.rule in FACE_RULES}


def judged(images: dict[str, Image.Image]) -> dict[str, dict[str, Finding]]:
    return {name: face_findings(ph) for name, ph in measure(images).items()}


def main_face(photo: Photo) -> Face:
    assert photo.main_face is not None, "the test photo must have a detectable face"
    return photo.main_face


def eye_distance(face: Face) -> float:
    (x1, y1), (x2, y2) = face.landmarks[:2]
    return float(np.hypot(x2 - x1, y2 - y1))


@cache
def measured(name: str) -> Photo:
    return measure({name: original(name)})[name]


def test_face_rules_registered_in_order_with_severities():
    rules = [r for r in PHOTO_RULES.values() if r.id in FACE_RULES]
    assert [r.id for r in rules] == FACE_RULES
    assert {r.id for r in rules if r.severity is Severity.WARNING} == {"expression"}


def test_good_photos_pass_every_face_rule_smiles_get_the_warning_only():
    found = judged({name: original(name) for name in GOOD})
    assert found["paul_rudd"] == {} and found["openface_adams"] == {}
    assert found["angelina_jolie"] == {}  # turned about 20°: within the 25° limit
    for name in ("biden_official_2013", "openface_carell"):  # open and closed-mouth smiles
        assert list(found[name]) == ["expression"]
        assert found[name]["expression"].severity is Severity.WARNING
        assert "smiling" in found[name]["expression"].message


def test_group_photo_fails_multiple_faces():
    findings = face_findings(measured("multiface"))
    assert findings["multiple_faces"].severity is Severity.ERROR
    f = findings["multiple_faces"]
    assert (f.quantity, f.value, f.comparison, f.limit, f.unit) == ("faces", 6, "==", 1, "count")


def _face(x: float, size: float) -> Face:
    box = (x, 100.0, x + size, 100.0 + size)
    points = tuple((x + size * u, 100 + size * v) for u, v in
                   [(0.3, 0.4), (0.7, 0.4), (0.5, 0.6), (0.35, 0.8), (0.65, 0.8)])
    return Face(box, 0.999, points, Pose(0.0, 0.0, 0.0))


@pytest.mark.parametrize("second,fails", [(0.2, False), (0.3, False), (0.5, True), (1.0, True)])
def test_multiple_faces_ignores_small_background_faces(second, fails):
    main, other = _face(100, 400), _face(700, 400 * second)
    quality = FaceQuality(head_length=800.0, outline_margin=1.0, brightness=130.0,
                          clipped_dark=0.0, clipped_bright=0.0, edge_width=0.03,
                          cheek_ratio=1.1, smile=0.0, mouth_open=0.0, eyes_open=0.33,
                          brows=0.32)
    photo = Photo(student="s1", file="p.jpg", sha256="x", bytes=0, format="JPEG", width=1200,
                  height=900, chroma=20.0, phash="0", faces=FaceReport((main, other), quality))
    assert ("multiple_faces" in face_findings(photo)) is fails


def _beside_the_edge(neighbour: str, shown: float) -> Image.Image:
    """paul_rudd with a neighbour's face beside him, as large as his and level with it, cut by
    the photo's right edge so that `shown` of its face box is in the photo."""
    subject = original("paul_rudd")
    _, top, _, bottom = main_face(measured("paul_rudd")).box
    other = original(neighbour)
    x1, y1, x2, y2 = main_face(measured(neighbour)).box
    k = 0.9 * (bottom - top) / (y2 - y1)
    other = other.resize((round(other.width * k), round(other.height * k)),
                         Image.Resampling.LANCZOS)
    x1, y1, x2 = x1 * k, y1 * k, x2 * k
    upper = round(y1 - top)
    strip = other.crop((round(x1 - 0.4 * (x2 - x1)), upper, round(x1 + shown * (x2 - x1)),
                        upper + subject.height))
    photo = Image.new("RGB", (subject.width + strip.width, subject.height))
    photo.paste(subject, (0, 0))
    photo.paste(strip, (subject.width, 0))
    return photo


def test_a_neighbours_face_cut_by_the_edge_fails_multiple_faces():
    """A second person's face with 40 % of it cut off by the frame is still a second person:
    MTCNN finds it because it looks at the photo inside a grey border (`pipeline.faces.FRAME`;
    with a border of 1 px it finds none of these three). The subject stays the main face, and
    nothing else fires."""
    for neighbour in ("openface_adams", "biden_official_2013", "angelina_jolie"):
        photo = measure({"pair.jpg": _beside_the_edge(neighbour, 0.6)})["pair.jpg"]
        findings = face_findings(photo)
        assert set(findings) - {"expression"} == {"multiple_faces"}, neighbour
        main, other = photo.faces.faces[:2]
        seam = original("paul_rudd").width
        assert main.box[2] < seam < other.box[0], neighbour
        assert other.box[2] > photo.width, neighbour  # its box runs past the edge


@pytest.mark.parametrize("name", ["coffee_no_face", "cat_chelsea"])
def test_no_person_fails_no_face(name):
    findings = face_findings(measured(name))
    assert list(findings) == ["no_face"]
    assert findings["no_face"].severity is Severity.ERROR


def test_turned_face_fails_not_frontal():
    # A real head turned towards the picture's right (the cameraman looks into his camera's
    # viewfinder, face in near profile). A perspective warp of a frontal photo would not do: it
    # moves the nose with the eyes, where a real turn moves the nose tip in front of them.
    finding = face_findings(measured("cameraman_gray"))["not_frontal"]
    assert "(yaw)" in finding.message and "picture's right" in finding.message
    assert (finding.quantity, finding.unit, finding.comparison) == ("turn", "deg", "<=")
    assert finding.limit == PARAMS.max_turn and finding.value > PARAMS.max_turn
    assert finding.shown_limit == f"≤ {PARAMS.max_turn:g}°"


@pytest.mark.parametrize("angle", [30, -30])
def test_rotated_portrait_fails_on_roll_only(angle):
    im = original("openface_adams").rotate(angle, resample=Image.Resampling.BICUBIC, expand=True,
                                          fillcolor=(128, 128, 128))
    photo = measure({"r.jpg": im})["r.jpg"]
    finding = face_findings(photo)["not_frontal"]
    assert "(roll)" in finding.message and "(yaw)" not in finding.message
    assert abs(main_face(photo).pose.roll) > PARAMS.max_roll
    # the limit is the parameter's, not a constant of the rule
    assert "not_frontal" not in face_findings(photo, dataclasses.replace(PARAMS, max_roll=45.0))


def test_blur_series_fails_blurry_from_a_stated_radius_on_and_never_before():
    """Every good photo blurred by a Gaussian of sigma k eye distances (the eye distance of the
    photo itself): sharp up to SHARP, `blurry` from BLURRED on."""
    steps = (0.0, 0.01, SHARP, BLURRED, 0.04, 0.06)
    images = {}
    for name in GOOD:
        eye = eye_distance(main_face(measured(name)))
        im = original(name)
        for k in steps:
            images[f"{name} {k}"] = im.filter(ImageFilter.GaussianBlur(k * eye)) if k else im
    found = judged(images)
    for key, findings in found.items():
        k = float(key.rsplit(" ", 1)[1])
        assert ("blurry" in findings) is (k >= BLURRED), (key, findings.get("blurry"))
    assert all("blurred" in f["blurry"].message for f in found.values() if "blurry" in f)


def test_half_body_recrop_of_a_portrait_fails_face_too_small():
    """kate_siegel is a three-quarter-length press photo. Cropped to head and shoulders (down to
    the chest, 2.3 head lengths high) it is a good portrait; cropped to the waist (3.3 head
    lengths) it is a half-body shot."""
    im = original("kate_siegel")
    photo = measured("kate_siegel")
    q = photo.faces.quality
    assert q is not None
    head = q.head_length
    left_eye, right_eye = main_face(photo).landmarks[:2]
    cx, eye_y = (left_eye[0] + right_eye[0]) / 2, (left_eye[1] + right_eye[1]) / 2
    crown = eye_y - head / 2
    crops = {}
    for name, height in (("head and shoulders", 2.3 * head), ("half body", 3.3 * head)):
        top = max(0.0, crown - 0.15 * head)
        width = min(0.8 * height, im.width)
        left = min(max(0.0, cx - width / 2), im.width - width)
        crops[name] = im.crop(tuple(round(v) for v in (left, top, left + width, top + height)))
    found = judged({**crops, "three-quarter": im})
    assert "face_too_small" not in found["head and shoulders"]
    for name in ("half body", "three-quarter"):
        finding = found[name]["face_too_small"]
        assert "of the photo's height" in finding.message
        assert "half- or full-body" in finding.message


def test_small_face_in_a_wide_frame_fails_face_too_small_by_width():
    # A head-and-shoulders portrait pasted into a panorama as tall as itself: the head fills the
    # height, but not the picture.
    im = original("openface_adams")
    wide = Image.new("RGB", (im.width * 4, im.height), (90, 110, 90))
    wide.paste(im, (im.width * 2, 0))
    finding = judged({"wide.jpg": wide})["wide.jpg"]["face_too_small"]
    assert "of the photo's width" in finding.message
    assert (finding.quantity, finding.unit, finding.comparison) == ("head_width", "fraction", ">=")
    assert finding.value < finding.limit == PARAMS.min_head_width


def test_darkened_and_washed_out_copies_fail_exposure():
    arr = np.asarray(original("paul_rudd"), dtype=np.float32)
    found = judged({
        "dark.jpg": Image.fromarray((arr * 0.2).astype(np.uint8)),  # ~2.3 stops under
        "washed.jpg": Image.fromarray((255 - (255 - arr) * 0.3).astype(np.uint8)),  # fogged
        "bright.jpg": Image.fromarray(np.clip(arr * 1.8, 0, 255).astype(np.uint8)),
    })
    assert "too dark" in found["dark.jpg"]["exposure"].message
    assert "washed out" in found["washed.jpg"]["exposure"].message
    assert "pure white" in found["bright.jpg"]["exposure"].message


def test_a_photo_too_dark_to_find_a_face_in_still_gets_exposure():
    """Exposure is judged on the whole photo before detection, so the student is told what to
    fix, not only that no face was found."""
    arr = np.asarray(original("openface_adams"), dtype=np.float32)
    findings = judged({"night.jpg": Image.fromarray((arr * 0.04).astype(np.uint8))})["night.jpg"]
    assert "no_face" in findings
    assert "the whole photo is too dark" in findings["exposure"].message
    light = findings["exposure"]
    assert (light.quantity, light.unit, light.comparison) == ("highlights", "luma", ">=")
    assert light.value < light.limit == PARAMS.min_highlights


def _side_light(im: Image.Image, box, towards: str) -> Image.Image:
    """Light falling from full on one edge of the face box to a fifth on the other, like a lamp
    at the side in a dark room."""
    x1, _, x2, _ = box
    xs = np.arange(im.width, dtype=np.float32)
    t = (xs - x1) / (x2 - x1) if towards == "right" else (x2 - xs) / (x2 - x1)
    light = np.clip(1 - 0.8 * t, 0.2, 1.0)[None, :, None]
    return Image.fromarray((np.asarray(im, dtype=np.float32) * light).astype(np.uint8))


def test_a_lighting_gradient_fails_exposure_while_the_original_passes():
    """Each good photo passes; ramped from either side it fails at least once: a photo already lit
    from one side and ramped from the other is evened out (and looks it). paul_rudd, evenly lit,
    fails both ways."""
    ramps = {}
    for name in GOOD:
        photo = measured(name)
        assert "exposure" not in face_findings(photo)
        for towards in ("left", "right"):
            ramps[f"{name} {towards}"] = _side_light(original(name), photo.main_face.box, towards)
    found = judged(ramps)
    for name in GOOD:
        failed = [key for key in (f"{name} left", f"{name} right") if "exposure" in found[key]]
        assert failed, name
        assert all("one cheek is" in found[key]["exposure"].message for key in failed)
    assert "exposure" in found["paul_rudd left"] and "exposure" in found["paul_rudd right"]


@pytest.mark.parametrize("side", ["left", "top", "bottom"])
def test_face_partly_out_of_the_frame_fails_face_cut_off(side):
    im = original("paul_rudd")
    x1, y1, x2, y2 = main_face(measured("paul_rudd")).box
    w, h = x2 - x1, y2 - y1
    crop = {"left": (x1 + 0.3 * w, 0, im.width, im.height),
            "top": (0, y1 + 0.3 * h, im.width, im.height),
            "bottom": (0, 0, im.width, y2 - 0.3 * h)}[side]
    findings = judged({"cut.jpg": im.crop(tuple(round(v) for v in crop))})["cut.jpg"]
    assert "face_cut_off" in findings or "no_face" in findings
    assert all(f.severity is Severity.ERROR for r, f in findings.items() if r != "expression")


def test_mirror_image_is_judged_alike():
    im = original("openface_carell")
    found = judged({"a.jpg": im, "b.jpg": ImageOps.mirror(im)})
    assert set(found["a.jpg"]) == set(found["b.jpg"])


def _calibration_rows() -> list[dict[str, str]]:
    with (CALIBRATION / "labels.csv").open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.skipif(not (CALIBRATION / "labels.csv").is_file(),
                    reason=f"the labelled calibration set is not at {CALIBRATION}")
def test_every_calibration_photo_gets_the_same_verdict_as_its_mirror_image():
    """Each photo of shared/fixtures/calibration, decoded as the validator does, and the mirror
    image of the decoded pixels: the same findings, rule for rule, ambiguous photos included
    (they sit at a limit, where a measure that is not symmetric would flip first)."""
    analyzer = FaceAnalyzer(PARAMS.detect)
    differ = []
    for row in _calibration_rows():
        data = (CALIBRATION / row["file"]).read_bytes()
        f = photo_file(row["file"], data)
        d = decode_for_measuring(f, PARAMS)
        if d.pixels is None:
            continue
        mirror = np.ascontiguousarray(d.pixels[:, ::-1])
        found = []
        for report in analyzer.analyse([d.pixels, mirror], [d.scale, d.scale]):
            ph = Photo(f.student, f.file, f.sha256, f.bytes, f.format, f.width, f.height,
                       chroma=d.measurement.chroma, phash=d.measurement.phash, faces=report,
                       tones=d.measurement.tones)
            found.append({x.rule for x in judge_photo(ph, PARAMS)})
        if found[0] != found[1]:
            differ.append((row["file"], sorted(found[0] ^ found[1])))
    assert differ == [], f"findings change with a mirror image: {differ}"


@pytest.mark.skipif(not (CALIBRATION / "labels.csv").is_file(),
                    reason=f"the labelled calibration set is not at {CALIBRATION}")
def test_closed_eyes_get_the_expression_warning_and_an_open_faced_portrait_does_not():
    """Two calibration photos read by path: a smiling woman with her eyes closed
    (insightface_close_eyes.jpeg) is told her eyes are nearly closed; a neutral portrait
    (openface_adams.jpg) gets no expression warning at all."""
    files = [photo_file(n, (CALIBRATION / n).read_bytes())
             for n in ("insightface_close_eyes.jpeg", "openface_adams.jpg")]
    closed, neutral = (face_findings(ph) for ph in measure_photos(files, PARAMS,
                                                                   MeasureCache(None, PARAMS)))
    assert "eyes are nearly closed" in closed["expression"].message
    assert "expression" not in neutral
