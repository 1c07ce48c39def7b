"""pipeline.landmarks: dlib's 68 points on MTCNN's box, their mirror symmetry, pose by solvePnP."""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from pipeline.config import DetectParams
from pipeline.faces import FaceAnalyzer
from pipeline.landmarks import (
    MEAN_FACE,
    MIRROR,
    PREDICTOR,
    dense_landmarks,
    face_frame,
    head_pose,
    model_dir,
)

FACES = Path(__file__).parent / "data" / "faces"


@pytest.fixture(scope="module")
def analyzer() -> FaceAnalyzer:
    return FaceAnalyzer(DetectParams(device="cpu"))


@cache
def reduced(name: str) -> np.ndarray:
    im = Image.open(FACES / f"{name}.jpg").convert("RGB")
    im.thumbnail((640, 640), Image.Resampling.LANCZOS)
    return np.asarray(im)


def mtcnn_box(analyzer: FaceAnalyzer, image: np.ndarray) -> np.ndarray:
    boxes, _ = analyzer.mtcnn.detect(image)
    return np.asarray(boxes[0], dtype=np.float64)


def test_the_model_file_ships_with_face_recognition_models():
    assert (model_dir() / PREDICTOR).stat().st_size > 90_000_000


def test_mirror_map_swaps_left_and_right_and_is_its_own_inverse():
    assert sorted(MIRROR) == list(range(68))
    assert all(MIRROR[MIRROR[i]] == i for i in range(68))
    assert MIRROR[36] == 45 and MIRROR[48] == 54 and MIRROR[8] == 8 and MIRROR[30] == 30


@pytest.mark.parametrize("name", ["paul_rudd", "biden_official_2013", "openface_adams"])
def test_68_points_lie_where_the_face_parts_are(analyzer, name):
    image = reduced(name)
    box = mtcnn_box(analyzer, image)
    points = dense_landmarks(image, box)
    assert points.shape == (68, 2)
    x1, y1, x2, y2 = box
    size = x2 - x1
    inside = ((points[:, 0] > x1 - 0.2 * size) & (points[:, 0] < x2 + 0.2 * size)
              & (points[:, 1] > y1 - 0.2 * size) & (points[:, 1] < y2 + 0.2 * size))
    assert inside.all()
    local, eye = face_frame(points)
    assert eye > 20
    # the picture's left eye is left of the right one, the nose between, the mouth below it,
    # the chin lowest
    assert local[36:42, 0].mean() < local[27:36, 0].mean() < local[42:48, 0].mean()
    assert 0 < local[33, 1] < local[51, 1] < local[57, 1] < local[8, 1]


def test_fit_of_a_mirror_image_is_the_mirror_of_the_fit(analyzer):
    """The fit is symmetric by construction: the same box mirrored gives the same points
    mirrored (so a photo and its mirror image measure alike)."""
    image = reduced("openface_carell")
    w = image.shape[1]
    box = mtcnn_box(analyzer, image)
    points = dense_landmarks(image, box)
    mirrored_box = np.array([(w - 1) - box[2], box[1], (w - 1) - box[0], box[3]])
    mirrored = dense_landmarks(np.ascontiguousarray(image[:, ::-1]), mirrored_box)
    back = mirrored[MIRROR].copy()
    back[:, 0] = (w - 1) - back[:, 0]
    assert np.allclose(back, points, atol=1e-6)


def _project(yaw: float, pitch: float, roll: float, shape=(480, 640)) -> np.ndarray:
    """The 68 points of MEAN_FACE (only its points and the eye centres are defined) as a camera
    sees the face turned by yaw, pitch, roll (signs as pipeline.faces.Pose) 600 mm away."""
    h, w = shape
    f = float(max(h, w))
    camera = np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1]])
    a, b, c = (math.radians(v) for v in (yaw, pitch, roll))
    ry = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    rx = np.array([[1, 0, 0], [0, math.cos(-b), -math.sin(-b)], [0, math.sin(-b), math.cos(-b)]])
    rz = np.array([[math.cos(c), -math.sin(c), 0], [math.sin(c), math.cos(c), 0], [0, 0, 1]])
    model = {**MEAN_FACE}
    for corners, lids in (((36, 39), (37, 38, 40, 41)), ((42, 45), (43, 44, 46, 47))):
        centre = np.mean([MEAN_FACE[i] for i in corners], axis=0)
        model.update({i: tuple(centre) for i in lids})
    points = np.full((68, 2), np.nan)
    ids = sorted(model)
    rvec, _ = cv2.Rodrigues(rz @ ry @ rx)
    image, _ = cv2.projectPoints(np.array([model[i] for i in ids], dtype=np.float64), rvec,
                                 np.array([0.0, 0.0, 600.0]), camera, None)
    points[ids] = image.reshape(-1, 2)
    return points


@pytest.mark.parametrize("yaw,pitch,roll", [(0, 0, 0), (20, 0, 0), (-30, 0, 0), (0, 15, 0),
                                            (0, -20, 0), (0, 0, 12), (15, -10, 5)])
def test_head_pose_recovers_the_pose_of_the_mean_face(yaw, pitch, roll):
    got = head_pose(_project(yaw, pitch, roll), (480, 640))
    assert got[0] == pytest.approx(yaw, abs=1.0)
    assert got[1] == pytest.approx(pitch, abs=1.0)
    assert got[2] == pytest.approx(roll, abs=1.5)  # the eye line, seen in perspective


def test_a_real_turned_face_reads_as_yaw_towards_its_side(analyzer):
    # Angelina Jolie's face is turned about 20° towards the picture's right: yaw < 0.
    image = reduced("angelina_jolie")
    yaw, _, _ = head_pose(dense_landmarks(image, mtcnn_box(analyzer, image)), image.shape)
    assert -30 < yaw < -10
    mirror = np.ascontiguousarray(image[:, ::-1])
    yaw_m, _, _ = head_pose(dense_landmarks(mirror, mtcnn_box(analyzer, mirror)), mirror.shape)
    assert yaw_m == pytest.approx(-yaw, abs=3)


@pytest.mark.parametrize("angle", [25, 45, -60])
def test_a_head_leaning_far_to_one_side_is_fitted_upright(analyzer, angle):
    """A portrait rotated by `angle` (PIL: anticlockwise), fitted with the lean MTCNN's eyes
    give: the eye line reads the rotation (roll = -angle) and the face, in its own frame, has
    the shape of the upright face's fit, even at 60°, where dlib alone fits a frontal face
    shape to a head on its side."""
    upright = reduced("paul_rudd")
    ref = face_frame(dense_landmarks(upright, mtcnn_box(analyzer, upright)))[0]
    turned = np.asarray(Image.fromarray(upright).rotate(angle, resample=Image.Resampling.BICUBIC,
                                                        expand=True))
    boxes, _, points = analyzer.mtcnn.detect(turned, landmarks=True)
    (lx, ly), (rx, ry) = points[0][:2]
    lean = math.degrees(math.atan2(ry - ly, rx - lx))
    dense = dense_landmarks(turned, boxes[0], lean)
    assert head_pose(dense, turned.shape)[2] == pytest.approx(-angle, abs=4)
    assert np.abs(face_frame(dense)[0] - ref).mean() < 0.03  # eye distances
