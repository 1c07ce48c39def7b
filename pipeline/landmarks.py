"""Dense face landmarks (dlib's 68-point shape predictor) on MTCNN's box, and head pose from them.

The model file ships in the `face-recognition-models` package and is read from disk; nothing is
downloaded. Its training data (iBUG 300-W) is licensed for non-commercial research only (see the
README). The 68 points follow the iBUG 300-W layout: jaw 0-16, brows 17-26, nose 27-35, eyes
36-47, mouth 48-67, "left" being the picture's left.

A photo and its mirror image must get the same verdict, so the fit is made symmetric: the
predictor runs on the face and on its mirror image (with the mirrored box), and the two fits,
the second mirrored back with left and right points swapped, are averaged. The face is turned
upright (by the lean of MTCNN's eye line) before it is fitted, as dlib's training faces are.
"""

from __future__ import annotations

import importlib.util
import math
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

PREDICTOR = "shape_predictor_68_face_landmarks.dat"
# dlib's predictor was trained on the boxes of dlib's own HOG detector, which are squares about
# 6 % wider than MTCNN's box and centred 7 % of their side lower (the median over the 106 faces
# of shared/fixtures that both detectors found; the spread is ±8 % in size, ±5 % in position).
BOX_SCALE = 1 / 0.94
BOX_DROP = 0.07
# The same box from the face's own points: 1.12 times the eye distance plus the eyes-to-mouth
# distance, centred between eyes and mouth, 0.06 of the eyes-to-mouth distance higher (medians
# over the same faces, from MTCNN's 5 points). Fitting a second time in this box makes the result
# depend on the face rather than on MTCNN's box, which moves by up to a tenth of its size between
# a photo and its mirror image.
FIT_SCALE = 1.12
FIT_RAISE = 0.06

# Which point each point becomes in a mirror image (jaw, brows, nose, eyes, mouth reversed).
MIRROR = np.array(
    [*range(16, -1, -1), *range(26, 16, -1), 27, 28, 29, 30, *range(35, 30, -1),
     45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40,
     *range(54, 47, -1), *range(59, 54, -1), *range(64, 59, -1), *range(67, 64, -1)])

# A mean adult face in millimetres (x to the picture's right, y down, z away from the camera;
# origin between the eyes), from average adult proportions: outer eye corners 90 mm apart, inner
# 32 mm, the nose tip 40 mm in front of the outer eye corners, the base of the nose 43 mm below
# the eye line. The nose tip's height (33 mm below the eye line) is the one that makes the
# frontal portraits of tests/data/faces read a pitch of 0 on average. Only points that do not
# move with expression are fitted: no mouth, no brows, no chin (an open mouth moves it).
MEAN_FACE = {
    27: (0.0, -8.0, 22.0),  # nose bridge
    30: (0.0, 33.0, 0.0),  # nose tip
    31: (-12.0, 40.0, 18.0), 33: (0.0, 43.0, 14.0), 35: (12.0, 40.0, 18.0),  # nostrils, base
    36: (-45.0, 0.0, 40.0), 39: (-16.0, 0.0, 30.0),  # eye corners, the picture's left eye
    42: (16.0, 0.0, 30.0), 45: (45.0, 0.0, 40.0),
}
POSE_POINTS = tuple(MEAN_FACE)
_OBJECT = np.array([MEAN_FACE[i] for i in POSE_POINTS], dtype=np.float64)


def model_dir() -> Path:
    """Folder of face-recognition-models' model files, found without importing the package (its
    __init__ imports pkg_resources, which current setuptools no longer has)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the face-recognition-models package is not installed: "
                           "pip install face-recognition-models")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


@cache
def _predictor() -> Any:
    import dlib  # heavy: imported only by whoever fits landmarks

    path = model_dir() / PREDICTOR
    if not path.is_file():
        raise RuntimeError(f"dlib's landmark model is missing: {path}")
    return dlib.shape_predictor(str(path))


def dense_landmarks(image: np.ndarray, box: Any, roll: float = 0.0) -> np.ndarray:
    """68 (x, y) points, in `image`'s pixels, of the face in MTCNN box `box` (x1, y1, x2, y2)
    whose eye line leans by `roll` degrees (`pipeline.faces.Pose`): the face is turned upright
    about the box's centre first, as dlib's training faces are, so a head leaning far to one
    side is fitted as well as an upright one. Then a first fit in the box dlib expects from
    MTCNN's, a second in the box the first fit implies, each the mean of the fit on the face and
    on its mirror image."""
    x1, y1, x2, y2 = (float(v) for v in box)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    side = (x2 - x1) * BOX_SCALE
    image = np.ascontiguousarray(image, dtype=np.uint8)
    turn = None
    if roll:
        # positive angles turn the picture anticlockwise as viewed: undoes a clockwise lean
        turn = cv2.getRotationMatrix2D((cx, cy), roll, 1.0)
        image = cv2.warpAffine(image, turn, (image.shape[1], image.shape[0]),
                               flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    mirror = np.ascontiguousarray(image[:, ::-1])
    points = _symmetric_fit(image, mirror, cx, cy + BOX_DROP * side, side)
    left, right = eye_centres(points)
    eyes, mouth = (left + right) / 2, (points[48] + points[54]) / 2
    spread = float(np.hypot(*(right - left)) + np.hypot(*(mouth - eyes)))
    centre = (eyes + mouth) / 2 - FIT_RAISE * (mouth - eyes)
    points = _symmetric_fit(image, mirror, centre[0], centre[1], FIT_SCALE * spread)
    if turn is None:
        return points
    back = cv2.invertAffineTransform(turn)
    return points @ back[:, :2].T + back[:, 2]


def _symmetric_fit(image: np.ndarray, mirror: np.ndarray, cx: float, cy: float,
                   side: float) -> np.ndarray:
    import dlib

    predictor = _predictor()
    w = image.shape[1]
    fits = []
    # mirrored pixel column c is column (w - 1 - c) of the photo (pixel centres)
    for im, centre in ((image, cx), (mirror, (w - 1) - cx)):
        rect = dlib.rectangle(round(centre - side / 2), round(cy - side / 2),
                              round(centre + side / 2), round(cy + side / 2))
        shape = predictor(im, rect)
        fits.append(np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64))
    back = fits[1][MIRROR]
    back[:, 0] = (w - 1) - back[:, 0]
    return (fits[0] + back) / 2


def eye_centres(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the picture's left eye (points 36-41) and right eye (42-47)."""
    return points[36:42].mean(axis=0), points[42:48].mean(axis=0)


def face_frame(points: np.ndarray) -> tuple[np.ndarray, float]:
    """The points in the face's own frame, in eye distances: origin between the eye centres, x
    along the eye line towards the picture's right, y down the face; and the eye distance."""
    left, right = eye_centres(points)
    dx, dy = right - left
    eye = math.hypot(dx, dy)
    if not eye > 1e-6:
        return np.zeros_like(points), 0.0
    c, s = dx / eye, dy / eye
    rel = (points - (left + right) / 2) / eye
    return np.stack([rel[:, 0] * c + rel[:, 1] * s, -rel[:, 0] * s + rel[:, 1] * c], axis=1), eye


def head_pose(points: np.ndarray, shape: tuple[int, ...]) -> tuple[float, float, float]:
    """Yaw, pitch and roll in degrees (signs as `pipeline.faces.Pose` says) from the 68 points of
    a face in an image of `shape`, by fitting MEAN_FACE with `cv2.solvePnP` (a pinhole camera
    with a focal length of the image's longer side, about a phone's 26 mm lens). The rotation is
    taken relative to the line of sight to the face, not the optical axis, so a face off the
    centre of a wide frame that looks into the lens reads as frontal. Roll is the angle of the
    eye line."""
    h, w = shape[:2]
    f = float(max(h, w))
    camera = np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1]], dtype=np.float64)
    image_points = np.ascontiguousarray(points[list(POSE_POINTS)], dtype=np.float64)
    left, right = eye_centres(points)
    roll = math.degrees(math.atan2(right[1] - left[1], right[0] - left[0]))
    # Start from a frontal face at the distance its eye corners' spread implies: without a guess
    # the solver often lands on the mirror-image solution behind the camera.
    span = float(np.hypot(*(points[45] - points[36])))
    if not span > 1e-6 or not np.isfinite(image_points).all():
        return 90.0, 90.0, 90.0
    dist = f * 90.0 / span
    centre = image_points.mean(axis=0)
    guess = np.array([[(centre[0] - w / 2) * dist / f], [(centre[1] - h / 2) * dist / f], [dist]])
    ok, rvec, tvec = cv2.solvePnP(_OBJECT, image_points, camera, None, rvec=np.zeros((3, 1)),
                                  tvec=guess, useExtrinsicGuess=True,
                                  flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        return 90.0, 90.0, round(roll, 3)
    rotation = _towards_line_of_sight(tvec.ravel()) @ cv2.Rodrigues(rvec)[0]
    # rotation = Rz(roll) Ry(yaw) Rx(-pitch) in the camera's frame (x right, y down, z ahead)
    yaw = math.degrees(math.asin(max(-1.0, min(1.0, -rotation[2, 0]))))
    pitch = -math.degrees(math.atan2(rotation[2, 1], rotation[2, 2]))
    return round(yaw, 3), round(pitch, 3), round(roll, 3)


def _towards_line_of_sight(t: np.ndarray) -> np.ndarray:
    """The inverse of the rotation that turns the optical axis onto the direction `t`."""
    t = t / np.linalg.norm(t)
    z = np.array([0.0, 0.0, 1.0])
    v = np.cross(z, t)
    s, c = float(np.linalg.norm(v)), float(z @ t)
    if s < 1e-9:
        return np.eye(3)
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return (np.eye(3) + vx + vx @ vx * ((1 - c) / s**2)).T
