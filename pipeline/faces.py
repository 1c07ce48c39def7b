"""Face detection with facenet-pytorch's MTCNN, pose from its 5 landmarks, face-region quality.

The caller hands in photos already reduced (longer side about `DetectParams.long_side`, EXIF
orientation applied) together with their scale; everything this module returns about positions
is in ORIGINAL pixels after EXIF orientation, so the numbers mean the same whatever the reduction.
Quality is measured on the reduced photo, but at a fixed face scale (see `face_quality`), so its
limits do not depend on the photo's size either.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from pipeline.config import DetectParams
from pipeline.devices import resolve_device

# The frontal face model behind `estimate_pose`, in units of the eye distance (see its docstring).
NOSE_DEPTH = 0.45  # how far the nose tip stands in front of the eyes/mouth-corners plane
NOSE_LEVEL = 0.58  # frontal nose tip height between the eye line (0) and the mouth line (1)
# Quality is measured with the eye distance resampled to this many pixels, so the Laplacian's
# variance compares across photo sizes. 24 px: a face large enough for `face_too_small` in a 4:3
# or taller photo has at least that in a 640 px reduction, so faces are shrunk (area-averaged),
# not enlarged, which would read as blur. Changing it means recalibrating `min_sharpness`.
EYE_PIXELS = 24
# The face's luma is scaled to this mean before the Laplacian, so that a darker skin tone or a dim
# photo (edges of lower contrast, same focus) does not read as blur.
SHARPNESS_MEAN = 128.0
DARK, BRIGHT = 8, 247  # luma at or beyond these counts as clipped (JPEG noise keeps 0/255 rare)


@dataclass(frozen=True)
class Pose:
    """Head pose in degrees, each 0 for a face looking straight into the camera.

    yaw > 0: face turned towards the picture's left (the person's own right);
    pitch > 0: chin raised (face tilted up); roll > 0: face rotated clockwise as the picture is
    viewed (the eye on the picture's right is lower). Mirroring a photo flips yaw and roll.
    """

    yaw: float
    pitch: float
    roll: float


@dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]  # x1, y1, x2, y2, original pixels after EXIF rotation
    prob: float
    # left eye, right eye, nose, mouth left, mouth right, as MTCNN orders them; (x, y) each.
    # "left" is the picture's left (the person's right eye).
    landmarks: tuple[tuple[float, float], ...]
    pose: Pose

    @property
    def size(self) -> float:
        """Linear size of the box: the square root of its area, in original pixels."""
        x1, y1, x2, y2 = self.box
        return math.sqrt(max(0.0, x2 - x1) * max(0.0, y2 - y1))


@dataclass(frozen=True)
class FaceQuality:
    sharpness: float  # variance of the Laplacian of the face at a fixed scale
    brightness: float  # mean luma of the face region, 0-255
    clipped_dark: float  # fraction of face pixels at or near 0
    clipped_bright: float  # fraction of face pixels at or near 255
    side_ratio: float  # mean luma of the brighter face half / the darker half (>= 1)
    mouth_ratio: float  # mouth-corner distance / eye distance


@dataclass(frozen=True)
class FaceReport:
    faces: tuple[Face, ...]  # every face with prob >= detect.face_prob, largest box first
    quality: FaceQuality | None  # of faces[0]; None when there is no face

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe data; `FaceReport.from_dict(r.to_dict()) == r`."""
        return {
            "faces": [{"box": list(f.box), "prob": f.prob,
                       "landmarks": [list(p) for p in f.landmarks],
                       "pose": [f.pose.yaw, f.pose.pitch, f.pose.roll]} for f in self.faces],
            "quality": None if self.quality is None else [
                self.quality.sharpness, self.quality.brightness, self.quality.clipped_dark,
                self.quality.clipped_bright, self.quality.side_ratio, self.quality.mouth_ratio],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaceReport:
        faces = tuple(
            Face(box=tuple(float(v) for v in f["box"]), prob=float(f["prob"]),
                 landmarks=tuple((float(x), float(y)) for x, y in f["landmarks"]),
                 pose=Pose(*(float(v) for v in f["pose"])))
            for f in data["faces"])
        q = data["quality"]
        return cls(faces, None if q is None else FaceQuality(*(float(v) for v in q)))


NO_FACE = FaceReport((), None)


class FaceAnalyzer:
    """One MTCNN (weights ship inside facenet-pytorch; nothing is downloaded) for many photos."""

    def __init__(self, params: DetectParams):
        from facenet_pytorch import MTCNN  # heavy: imported only by whoever really detects

        self.params = params
        self.device = resolve_device(params.device)
        self.mtcnn = MTCNN(keep_all=True, min_face_size=params.min_face_size,
                           thresholds=list(params.thresholds), device=self.device)

    def analyse(self, images: Sequence[np.ndarray], scales: Sequence[float]) -> list[FaceReport]:
        """One FaceReport per image, in order.

        `images` are RGB uint8 arrays (H, W, 3), already reduced; `scales[i]` is original pixels
        per pixel of `images[i]`. Photos of equal size go through MTCNN together, `batch_size` at
        a time (it cannot batch different sizes).
        """
        if len(images) != len(scales):
            raise ValueError(f"{len(images)} images but {len(scales)} scales")
        groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for i, im in enumerate(images):
            if im.ndim != 3 or im.shape[2] != 3:
                raise ValueError(f"image {i}: expected an RGB array (H, W, 3), got {im.shape}")
            # MTCNN's pyramid is empty (and it fails) below min_face_size: no face fits anyway.
            if min(im.shape[:2]) >= self.params.min_face_size:
                groups[im.shape].append(i)
        reports: list[FaceReport] = [NO_FACE] * len(images)
        step = max(1, self.params.batch_size)
        for indices in groups.values():
            for start in range(0, len(indices), step):
                chunk = indices[start:start + step]
                batch = np.stack([np.ascontiguousarray(images[i], dtype=np.uint8) for i in chunk])
                boxes, probs, points = self.mtcnn.detect(batch, landmarks=True)
                for j, i in enumerate(chunk):
                    reports[i] = self._report(images[i], float(scales[i]),
                                              boxes[j], probs[j], points[j])
        return reports

    def _report(self, image: np.ndarray, scale: float, boxes: Any, probs: Any,
                points: Any) -> FaceReport:
        if boxes is None:  # facenet-pytorch's "no face": (None, [None], None)
            return NO_FACE
        # With numpy 2 a batch comes back as object arrays; make plain float arrays of them.
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        probs = np.asarray(probs, dtype=np.float64).reshape(-1)
        points = np.asarray(points, dtype=np.float64).reshape(-1, 5, 2)
        keep = probs >= self.params.face_prob
        boxes, probs, points = boxes[keep], probs[keep], points[keep]
        if len(boxes) == 0:
            return NO_FACE
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        order = np.argsort(-area, kind="stable")
        boxes, probs, points = boxes[order], probs[order], points[order]
        faces = tuple(
            Face(box=tuple(round(float(v) * scale, 2) for v in b), prob=round(float(p), 6),
                 landmarks=tuple((round(float(x) * scale, 2), round(float(y) * scale, 2))
                                 for x, y in lm),
                 pose=estimate_pose(lm))
            for b, p, lm in zip(boxes, probs, points, strict=True))
        return FaceReport(faces, face_quality(image, points[0]))


def estimate_pose(landmarks: Any) -> Pose:
    """Yaw, pitch and roll in degrees from MTCNN's 5 landmarks (any scale; (x, y) per point).

    Roll is the angle of the eye line: roll = atan2(y_re - y_le, x_re - x_le), positive when the
    eye on the picture's right is lower (face rotated clockwise as viewed). The landmarks are then
    rotated by -roll about the eye midpoint, so a tilted head does not read as yaw or pitch, and
    measured in units of the eye distance E:

    - yaw: the nose tip's horizontal offset dx from the face midline (the average x of the eye
      midpoint and the mouth-corner midpoint). Model: the nose tip stands NOSE_DEPTH·E in front
      of the plane of eyes and mouth corners, so turning the head by θ moves it sideways by
      NOSE_DEPTH·E₀·sin θ while the eye distance shrinks to E = E₀·cos θ: dx/E = NOSE_DEPTH·tan θ,
      and yaw = atan(-dx / (NOSE_DEPTH·E)); positive = nose left of the midline = face turned
      towards the picture's left.
    - pitch: the nose tip's height t between the eye line (0) and the mouth line (1), which lie
      M apart. A frontal face has t = NOSE_LEVEL; tilting by φ moves the nose tip up by
      NOSE_DEPTH·E₀·sin φ while M shrinks to M₀·cos φ, so (NOSE_LEVEL - t)·M = NOSE_DEPTH·E₀·sin φ
      and pitch = asin((NOSE_LEVEL - t)·M / (NOSE_DEPTH·E₀)), with E₀ = E / cos(yaw) (pitch does
      not foreshorten E, yaw does); positive = nose closer to the eye line = chin up.

    The constants are average adult proportions: interpupillary distance ≈ 63 mm, the nose tip
    ≈ 25-30 mm in front of the eyes/mouth-corner plane (0.45 E), pupils-to-nose-tip ≈ 35 mm of
    pupils-to-mouth-corners ≈ 62 mm (0.56); the frontal portraits in tests/data/faces/ give
    t = 0.51-0.61 (docs/RULES.md). Faces differ, so a frontal face reads up to ~8° of pitch
    either way, and a smile (mouth corners raised) reads as a few degrees of chin-down; a camera
    held close adds perspective. Degenerate landmarks (both eyes on one spot) give 90° each way.
    """
    pts = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    le, re, nose, ml, mr = pts
    dx, dy = re - le
    eye = math.hypot(dx, dy)
    if not eye > 1e-6 or not np.isfinite(pts).all():
        return Pose(90.0, 90.0, 90.0)
    roll = math.degrees(math.atan2(dy, dx))
    # Rotate into the face's own frame: eye line horizontal, x along it, y down the face.
    c, s = dx / eye, dy / eye
    rel = (pts - (le + re) / 2) / eye
    local = np.stack([rel[:, 0] * c + rel[:, 1] * s, -rel[:, 0] * s + rel[:, 1] * c], axis=1)
    _, _, n, lm, rm = local
    mouth = (lm + rm) / 2
    midline_x = mouth[0] / 2  # the eye midpoint is at x = 0
    yaw = math.atan(-(n[0] - midline_x) / NOSE_DEPTH)
    if mouth[1] > 1e-6:
        t = n[1] / mouth[1]
        # E here is the foreshortened eye distance: cos(yaw) brings it back to the frontal one.
        sine = (NOSE_LEVEL - t) * mouth[1] * math.cos(yaw) / NOSE_DEPTH
        pitch = math.degrees(math.asin(max(-1.0, min(1.0, sine))))
    else:  # mouth at or above the eye line: no frontal face looks like that
        pitch = 90.0
    yaw = math.degrees(yaw)
    return Pose(round(yaw, 3), round(pitch, 3), round(roll, 3))


def face_quality(image: np.ndarray, landmarks: Any) -> FaceQuality:
    """Sharpness, exposure and expression measures of one face of an RGB uint8 image.

    The measured region is the inner face, a box around the landmarks: from half an eye distance
    (E) outside the outermost eye/mouth corner on each side, 0.6 E above the higher eye to 0.5 E
    below the lower mouth corner — eyes, cheeks, nose, mouth; little hair or background. Its luma
    (BT.601) is resampled so that E is EYE_PIXELS pixels (area averaging when shrinking, which does
    not alias noise into the Laplacian).

    - sharpness: variance of the 3×3 Laplacian of that region, its luma first scaled to a mean
      of SHARPNESS_MEAN (so the number measures focus, not exposure or skin tone);
    - brightness: mean luma; clipped_dark / clipped_bright: fraction of pixels with luma
      <= DARK / >= BRIGHT;
    - side_ratio: mean luma of the brighter half / the darker half, the halves split at the nose
      tip (a ratio of means rather than OFIQ's histogram intersection: it reads as "2× brighter"
      in a message, and skin texture or a beard on one side does not change it much);
    - mouth_ratio: mouth-corner distance / eye distance (a neutral mouth is about 0.8-0.9).
    """
    pts = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    le, re, _, ml, mr = pts
    eye = float(np.hypot(*(re - le)))
    mouth_ratio = float(np.hypot(*(mr - ml))) / eye if eye > 1e-6 else 0.0
    region, split = _face_region(image, pts, max(eye, 1.0))
    luma = region.astype(np.float32)
    n = luma.size
    sides = sorted([float(luma[:, :split].mean()), float(luma[:, split:].mean())])
    gain = SHARPNESS_MEAN / max(float(luma.mean()), 1.0)
    return FaceQuality(
        sharpness=round(float(cv2.Laplacian(luma * gain, cv2.CV_32F, ksize=1).var()), 3),
        brightness=round(float(luma.mean()), 3),
        clipped_dark=round(float(np.count_nonzero(luma <= DARK)) / n, 5),
        clipped_bright=round(float(np.count_nonzero(luma >= BRIGHT)) / n, 5),
        side_ratio=round(sides[1] / max(sides[0], 1.0), 4),
        mouth_ratio=round(mouth_ratio, 4),
    )


def _face_region(image: np.ndarray, pts: np.ndarray, eye: float) -> tuple[np.ndarray, int]:
    """Inner-face luma at EYE_PIXELS per eye distance, and the column of the nose tip in it."""
    h, w = image.shape[:2]
    xs, ys = pts[:, 0], pts[:, 1]
    x0 = int(np.clip(math.floor(min(xs[0], xs[3]) - 0.5 * eye), 0, w - 2))
    x1 = int(np.clip(math.ceil(max(xs[1], xs[4]) + 0.5 * eye), x0 + 2, w))
    y0 = int(np.clip(math.floor(min(ys[0], ys[1]) - 0.6 * eye), 0, h - 2))
    y1 = int(np.clip(math.ceil(max(ys[3], ys[4]) + 0.5 * eye), y0 + 2, h))
    crop = np.ascontiguousarray(image[y0:y1, x0:x1], dtype=np.uint8)
    gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    k = EYE_PIXELS / eye
    size = (max(2, round((x1 - x0) * k)), max(2, round((y1 - y0) * k)))
    gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR)
    split = int(np.clip(round((pts[2, 0] - x0) * k), 1, size[0] - 1))
    return gray, split
