"""pipeline.faces on real photos with the real MTCNN and dlib: faces, positions, pose, measures."""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFilter, ImageOps

from pipeline.config import DetectParams
from pipeline.faces import (
    DENSE_POSE_RANGE,
    EXPRESSION_RANGE,
    NEUTRAL_BROWS,
    NEUTRAL_EYES,
    NOSE_DEPTH,
    NOSE_LEVEL,
    Detections,
    FaceAnalyzer,
    FaceReport,
    Pose,
    both_ways,
    edge_width,
    estimate_pose,
    eyes_and_brows,
)
from pipeline.landmarks import dense_landmarks, face_frame

FACES = Path(__file__).parent / "data" / "faces"
LONG_SIDE = DetectParams().long_side


@pytest.fixture(scope="module")
def analyzer() -> FaceAnalyzer:
    return FaceAnalyzer(DetectParams(device="cpu"))


@cache
def photo(name: str) -> Image.Image:
    return Image.open(FACES / f"{name}.jpg").convert("RGB")


def reduce(im: Image.Image, long_side: int = LONG_SIDE) -> tuple[np.ndarray, float]:
    """What the caller hands to FaceAnalyzer: the photo shrunk to `long_side`, and its scale."""
    ratio = long_side / max(im.size)
    if ratio >= 1:
        return np.asarray(im), 1.0
    small = im.resize((round(im.width * ratio), round(im.height * ratio)),
                      Image.Resampling.LANCZOS)
    return np.asarray(small), max(im.size) / max(small.size)


def analyse(analyzer: FaceAnalyzer, im: Image.Image, long_side: int = LONG_SIDE) -> FaceReport:
    array, scale = reduce(im, long_side)
    return analyzer.analyse([array], [scale])[0]


def eye_distance(landmarks) -> float:
    (x1, y1), (x2, y2) = landmarks[0], landmarks[1]
    return math.hypot(x2 - x1, y2 - y1)


@pytest.mark.parametrize("name", ["paul_rudd", "kate_siegel", "biden_official_2013",
                                  "astronaut_collins"])
def test_frontal_portrait_gives_one_upright_face_in_original_pixels(analyzer, name):
    im = photo(name)
    report = analyse(analyzer, im)
    assert len(report.faces) == 1
    face = report.faces[0]
    assert face.prob >= DetectParams().face_prob
    x1, y1, x2, y2 = face.box
    # Original coordinates: the box lies inside the full-size photo, not the 640 px copy.
    assert 0 <= x1 < x2 <= im.width and 0 <= y1 < y2 <= im.height
    assert (y2 - y1) > 0.15 * im.height
    for x, y in face.landmarks:
        assert x1 <= x <= x2 and y1 <= y <= y2
    (lx, ly), (rx, ry), (nx, ny), (mlx, mly), (mrx, mry) = face.landmarks
    assert lx < nx < rx and max(ly, ry) < ny < min(mly, mry)  # MTCNN's order, picture's left first
    assert abs(face.pose.yaw) < 10 and abs(face.pose.roll) < 8 and abs(face.pose.pitch) < 20
    q = report.quality
    assert q is not None and 0.02 < q.edge_width < 0.05 and q.head_length > (y2 - y1)


@pytest.mark.parametrize("name", ["coffee_no_face", "cat_chelsea"])
def test_no_person_no_face(analyzer, name):
    report = analyse(analyzer, photo(name))
    assert report.faces == () and report.quality is None


def test_images_too_small_for_any_face_give_no_face(analyzer):
    # MTCNN itself fails on images smaller than its minimum face; a tiny thumbnail is not an error
    tiny = [np.zeros((12, 12, 3), np.uint8), np.zeros((600, 20, 3), np.uint8)]
    assert analyzer.analyse(tiny, [1.0, 1.0]) == [FaceReport((), None)] * 2
    with pytest.raises(ValueError, match="RGB"):
        analyzer.analyse([np.zeros((100, 100), np.uint8)], [1.0])


def test_group_photo_lists_every_face_largest_in_view_first(analyzer):
    im = photo("multiface")
    report = analyse(analyzer, im)
    assert len(report.faces) == 6
    inside = [np.clip(f.box, 0, [im.width, im.height] * 2) for f in report.faces]
    areas = [(x2 - x1) * (y2 - y1) for x1, y1, x2, y2 in inside]
    # (two of its faces differ by 0.02 % in area: the boxes are reported rounded to 0.01 px)
    assert all(a >= b * 0.999 for a, b in zip(areas, areas[1:], strict=False))
    assert areas[0] > 1.1 * areas[-1]
    assert all(f.prob >= DetectParams().face_prob for f in report.faces)


def test_face_prob_limit_drops_weak_detections():
    strict = FaceAnalyzer(DetectParams(device="cpu", face_prob=0.99999))
    loose = FaceAnalyzer(DetectParams(device="cpu", face_prob=0.5))
    a, s = reduce(photo("multiface"))
    n_strict = len(strict.analyse([a], [s])[0].faces)
    n_loose = len(loose.analyse([a], [s])[0].faces)
    assert n_strict < n_loose


def test_boxes_agree_in_original_pixels_whatever_the_reduction(analyzer):
    """The same photo reduced to 640 and to 400 px gives the same box in original pixels."""
    im = photo("paul_rudd")
    big, small = analyse(analyzer, im, 640).faces[0], analyse(analyzer, im, 400).faces[0]
    size = big.size
    assert np.allclose(big.box, small.box, atol=0.05 * size)
    eye = eye_distance(big.landmarks)
    assert np.allclose(big.landmarks, small.landmarks, atol=0.1 * eye)
    # A photo handed in at half the size gives half the coordinates.
    half = im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS)
    halved = analyse(analyzer, half).faces[0]
    assert np.allclose(np.array(halved.box) * 2, big.box, atol=0.05 * size)


def test_measures_are_taken_at_a_fixed_face_scale(analyzer):
    """Shrinking the photo must not change the measures much (the limits are photo-size free)."""
    im = photo("paul_rudd")
    q640, q400 = analyse(analyzer, im, 640).quality, analyse(analyzer, im, 400).quality
    assert q640 is not None and q400 is not None
    assert q400.edge_width == pytest.approx(q640.edge_width, rel=0.1)
    assert q400.brightness == pytest.approx(q640.brightness, abs=5)
    # head length in original pixels, whatever the reduction
    assert q400.head_length == pytest.approx(q640.head_length, rel=0.05)


def test_batches_mixed_sizes_in_order(analyzer):
    """Equal sizes share one MTCNN call; results come back in input order, as if one by one."""
    paul, coffee, kate = reduce(photo("paul_rudd")), reduce(photo("coffee_no_face")), \
        reduce(photo("kate_siegel"))
    kate_same_size = np.asarray(Image.fromarray(kate[0]).resize(
        (paul[0].shape[1], paul[0].shape[0]), Image.Resampling.LANCZOS))
    images = [paul[0], coffee[0], kate_same_size, paul[0]]
    scales = [paul[1], coffee[1], 1.0, paul[1]]
    batched = analyzer.analyse(images, scales)
    single = [analyzer.analyse([im], [s])[0] for im, s in zip(images, scales, strict=True)]
    assert batched[1].faces == ()
    for b, s in zip(batched, single, strict=True):
        assert len(b.faces) == len(s.faces)
        for fb, fs in zip(b.faces, s.faces, strict=True):
            assert np.allclose(fb.box, fs.box, atol=0.5)
    assert batched[0] == batched[3]


def test_report_round_trips_through_json(analyzer):
    for name in ("multiface", "coffee_no_face", "biden_official_2013"):
        report = analyse(analyzer, photo(name))
        text = json.dumps(report.to_dict(), allow_nan=False)
        assert FaceReport.from_dict(json.loads(text)) == report


def test_rotated_photo_reads_as_roll_not_yaw(analyzer):
    """PIL rotates counter-clockwise: a +30° turn of the picture is a roll of about -30°."""
    im = photo("kate_siegel")
    for angle in (30, -30):
        rotated = im.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
        pose = analyse(analyzer, rotated).faces[0].pose
        assert pose.roll == pytest.approx(-angle, abs=5)
        assert abs(pose.yaw) < 15


def test_mirror_image_flips_yaw_and_roll(analyzer):
    # Angelina Jolie's face is turned about 20° towards the picture's right; tilting the picture
    # by 10° adds a known roll, so both signs are checked on a real face.
    im = photo("angelina_jolie").rotate(10, resample=Image.Resampling.BICUBIC, expand=True)
    pose = analyse(analyzer, im).faces[0].pose
    mirrored = analyse(analyzer, ImageOps.mirror(im)).faces[0].pose
    assert pose.yaw < -10 and mirrored.yaw > 10  # turned to the picture's right, then left
    assert mirrored.yaw == pytest.approx(-pose.yaw, abs=6)
    assert pose.roll == pytest.approx(-10, abs=4)
    assert mirrored.roll == pytest.approx(-pose.roll, abs=4)
    assert mirrored.pitch == pytest.approx(pose.pitch, abs=8)


def _project(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """The 5 landmarks of the model face in `estimate_pose`'s docstring, seen from afar."""
    m = 1.0  # eye line to mouth line, in eye distances
    points = np.array([[-0.5, 0.0, 0.0], [0.5, 0.0, 0.0], [0.0, NOSE_LEVEL * m, NOSE_DEPTH],
                       [-0.4, m, 0.0], [0.4, m, 0.0]])  # x right, y down, z towards the camera
    a, b, c = (math.radians(v) for v in (yaw, pitch, roll))
    # yaw > 0 turns the nose towards the picture's left (x decreases)
    turn = np.array([[math.cos(a), 0, -math.sin(a)], [0, 1, 0], [math.sin(a), 0, math.cos(a)]])
    # pitch > 0 raises the chin: the nose tip (z > 0) moves up (y decreases)
    tilt = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    points = points @ (turn @ tilt).T
    # roll > 0 is clockwise as the picture is viewed (y points down)
    spin = np.array([[math.cos(c), -math.sin(c)], [math.sin(c), math.cos(c)]])
    return 100 + 80 * points[:, :2] @ spin.T


@pytest.mark.parametrize("yaw,pitch,roll", [(0, 0, 0), (30, 0, 0), (-45, 0, 0), (0, 20, 0),
                                            (0, -20, 0), (0, 0, 25), (15, 0, -40), (25, 10, 5)])
def test_estimate_pose_inverts_its_own_model(yaw, pitch, roll):
    pose = estimate_pose(_project(yaw, pitch, roll))
    assert pose.yaw == pytest.approx(yaw, abs=1.5)
    assert pose.pitch == pytest.approx(pitch, abs=3)
    assert pose.roll == pytest.approx(roll, abs=0.5)


def test_degenerate_landmarks_read_as_not_frontal():
    assert estimate_pose([(5.0, 5.0)] * 5) == Pose(90.0, 90.0, 90.0)


def test_measures_respond_to_what_they_measure(analyzer):
    a, s = reduce(photo("paul_rudd"))
    base = analyzer.analyse([a], [s])[0].quality
    blurred = analyzer.analyse([np.asarray(Image.fromarray(a).filter(ImageFilter.GaussianBlur(6)))],
                               [s])[0].quality
    dark = analyzer.analyse([(a * 0.3).astype(np.uint8)], [s])[0].quality
    ramp = np.linspace(1.0, 0.2, a.shape[1])[None, :, None]
    side = analyzer.analyse([(a * ramp).astype(np.uint8)], [s])[0].quality
    assert blurred.edge_width > base.edge_width * 1.2
    # edge width is a ratio of slope to local contrast: darkening is not blur
    assert dark.edge_width == pytest.approx(base.edge_width, rel=0.1)
    assert dark.brightness == pytest.approx(base.brightness * 0.3, rel=0.05)
    assert side.cheek_ratio > base.cheek_ratio + 0.3
    assert base.cheek_ratio >= 1 and 0 <= base.clipped_dark <= 1 and 0 <= base.clipped_bright <= 1


def test_smile_measure_sees_a_closed_mouth_smile(analyzer):
    """openface_carell smiles with his mouth closed; openface_adams and paul_rudd are neutral."""
    smile = {n: analyse(analyzer, photo(n)).quality for n in ("openface_carell", "openface_adams",
                                                                "paul_rudd")}
    assert smile["openface_carell"].smile > 2
    assert smile["openface_adams"].smile < 1 and smile["paul_rudd"].smile < 1
    assert all(q.mouth_open < 0.1 for q in smile.values())


def test_edge_width_reads_the_width_of_a_blurred_step():
    """A step edge blurred by a Gaussian of sigma s reads as about s (with the 3x3 Sobel's own
    spread), whatever its contrast; wider than the 5x5 window it grows more slowly, but grows."""
    step = np.zeros((64, 64), np.float32)
    step[:, 32:] = 200
    for sigma in (0.5, 1.0):
        blurred = cv2.GaussianBlur(step, (0, 0), sigma)
        assert edge_width(blurred) == pytest.approx(math.hypot(sigma, 0.7), rel=0.1)
        assert edge_width(blurred * 0.3) == pytest.approx(edge_width(blurred), rel=0.02)
    widths = [edge_width(cv2.GaussianBlur(step, (0, 0), s)) for s in (1.0, 1.5, 2.0, 3.0)]
    assert widths == sorted(widths) and len(set(widths)) == 4
    assert edge_width(np.full((32, 32), 90, np.float32)) == 9.9  # nothing to read


def test_turned_faces_fall_back_to_the_5_point_pose(analyzer):
    """Beyond DENSE_POSE_RANGE (the cameraman in near profile) the 68 points do not follow the
    face: the pose is the 5 points', the cheeks are not compared, and beyond EXPRESSION_RANGE
    neither mouth, eyes nor brows are read."""
    report = analyse(analyzer, photo("cameraman_gray"))
    face = report.faces[0]
    assert face.pose.yaw == pytest.approx(estimate_pose(np.array(face.landmarks)).yaw, abs=0.1)
    assert abs(face.pose.yaw) > DENSE_POSE_RANGE
    assert abs(face.pose.yaw) > EXPRESSION_RANGE
    assert report.quality.smile is None and report.quality.cheek_ratio is None
    assert report.quality.eyes_open is None and report.quality.brows is None


def _detections(*faces: tuple[tuple[float, float, float, float], float]) -> Detections:
    boxes = np.array([b for b, _ in faces], dtype=np.float64).reshape(-1, 4)
    points = np.stack([np.array([[b[0] + 0.3 * (b[2] - b[0]), b[1] + 0.4 * (b[3] - b[1])],
                                 [b[0] + 0.7 * (b[2] - b[0]), b[1] + 0.4 * (b[3] - b[1])],
                                 [b[0] + 0.5 * (b[2] - b[0]), b[1] + 0.6 * (b[3] - b[1])],
                                 [b[0] + 0.35 * (b[2] - b[0]), b[1] + 0.8 * (b[3] - b[1])],
                                 [b[0] + 0.65 * (b[2] - b[0]), b[1] + 0.8 * (b[3] - b[1])]])
                       for b, _ in faces]) if faces else np.zeros((0, 5, 2))
    return Detections(boxes, np.array([p for _, p in faces], dtype=np.float64), points)


def test_both_ways_pairs_the_faces_of_a_photo_and_its_mirror_image_symmetrically():
    """The same face found a little differently in a photo 400 px wide and in its mirror image
    is one face, its box and probability the means; a face found one way only counts half. The
    mirror image's answer is the photo's, mirrored."""
    photo = _detections(((100, 50, 200, 170), 0.99), ((300, 60, 340, 110), 0.97))
    mirror = _detections(((196, 55, 304, 172), 0.93))  # the first face, found in the mirror
    found = both_ways(photo, mirror, 400)
    assert len(found.probs) == 2
    assert found.boxes[0] == pytest.approx([97.5, 52.5, 201.5, 171])
    assert found.probs.tolist() == pytest.approx([0.96, 0.485])  # the second: under face_prob
    back = both_ways(mirror, photo, 400).mirrored(400)
    np.testing.assert_allclose(back.boxes, found.boxes)
    np.testing.assert_allclose(back.points, found.points)
    np.testing.assert_allclose(back.probs, found.probs)
    assert both_ways(_detections(), _detections(), 400).probs.size == 0


def test_a_neutral_face_has_its_eyes_open_and_brows_at_rest(analyzer):
    """The good neutral portraits read eyes and brows within two neutral spreads of the neutral
    face of pipeline/faces.py, clear of the limits at 3 spreads (openface_adams's wide-open eyes
    read 0.416-0.419 as MTCNN's box moves with the border around the photo, 1.5 spreads)."""
    for name in ("paul_rudd", "openface_adams"):
        q = analyse(analyzer, photo(name)).quality
        assert abs(q.eyes_open - NEUTRAL_EYES[0]) < 2 * NEUTRAL_EYES[1]
        assert abs(q.brows - NEUTRAL_BROWS[0]) < 2 * NEUTRAL_BROWS[1]


def test_eyes_and_brows_follow_the_lids_and_brows(analyzer):
    """On the 68 points of a real face: the lids brought together (each upper-lid point onto
    the lower-lid point under it) take eyes_open to 0; the brows raised by a tenth of an eye
    distance raise brows by 0.1, and nothing else."""
    array, _ = reduce(photo("paul_rudd"))
    boxes, _ = analyzer.mtcnn.detect(array)
    local, _ = face_frame(dense_landmarks(array, boxes[0]))
    eyes, brows = eyes_and_brows(local)
    closed = local.copy()
    for upper, lower in ((37, 41), (38, 40), (43, 47), (44, 46)):
        closed[[upper, lower]] = local[[upper, lower]].mean(axis=0)
    raised = local.copy()
    raised[17:27, 1] -= 0.1
    assert eyes_and_brows(closed)[0] == pytest.approx(0.0, abs=1e-9)
    assert eyes_and_brows(raised) == pytest.approx((eyes, brows + 0.1))
