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

# The frontal face model behind `estimate_pose`, in units of the eye distance (see its docstring).
NOSE_DEPTH = 0.55  # how far the nose tip stands in front of the eyes/mouth-corners plane
EYE_MOUTH = 1.1  # vertical eye line -> mouth line distance of a frontal face
NOSE_LEVEL = 0.5  # frontal nose tip height between eye line (0) and mouth line (1)
# Quality is measured with the eye distance resampled to this many pixels: the Laplacian's
# variance and the clipped fractions then compare across photo sizes (the limits are calibrated
# at this scale; changing it means recalibrating `min_sharpness`).
EYE_PIXELS = 40
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
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in original pixels after EXIF orientation
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
        import torch  # heavy: imported only by whoever really detects
        from facenet_pytorch import MTCNN

        self.params = params
        device = params.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
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
      NOSE_DEPTH·E·sin θ while E itself shrinks by cos θ: dx/E = NOSE_DEPTH·tan θ, and
      yaw = atan(-dx / (NOSE_DEPTH·E)); positive = nose left of the midline = face turned towards
      the picture's left.
    - pitch: the nose tip's height t between the eye line (0) and the mouth line (1). A frontal
      face has t = NOSE_LEVEL with the lines EYE_MOUTH·E apart; tilting by φ moves the nose tip
      by NOSE_DEPTH·E·sin φ against the lines' cos φ, so t - NOSE_LEVEL =
      (NOSE_DEPTH / EYE_MOUTH)·tan φ and pitch = atan((NOSE_LEVEL - t)·EYE_MOUTH / NOSE_DEPTH);
      positive = nose closer to the eyes = chin up.

    The model's constants are average adult proportions (nose tip ≈ 0.55 eye distances in front
    of the eye/mouth plane; eye-to-mouth ≈ 1.1 eye distances; nose tip about halfway) and agree
    with the frontal photos in tests/data/faces/ (docs/RULES.md). Individual faces differ, so a
    frontal face reads as a few degrees of pitch either way; perspective from a camera held close
    adds to that. Degenerate landmarks (eyes on top of each other) give a pose of 90° each way.
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
    yaw = math.degrees(math.atan(-(n[0] - midline_x) / NOSE_DEPTH))
    if mouth[1] > 1e-6:
        t = n[1] / mouth[1]
        pitch = math.degrees(math.atan((NOSE_LEVEL - t) * mouth[1] / NOSE_DEPTH))
    else:
        pitch = 90.0
    return Pose(round(yaw, 3), round(pitch, 3), round(roll, 3))


def face_quality(image: np.ndarray, landmarks: Any) -> FaceQuality:
    """Sharpness, exposure and expression measures of one face of an RGB uint8 image.

    The measured region is the inner face, built from the landmarks in the face's own frame
    (eye line horizontal): from half an eye distance outside each eye to half an eye distance
    below the mouth, and 0.6 eye distances above the eyes — forehead, eyes, cheeks, nose, mouth;
    little hair or background. It is resampled so the eye distance is EYE_PIXELS pixels.

    - sharpness: variance of the 3×3 Laplacian of the region's luma (0-255 scale);
    - brightness: mean luma (BT.601); clipped_dark / clipped_bright: fraction of pixels with luma
      <= DARK / >= BRIGHT;
    - side_ratio: mean luma of the brighter half / the darker half, the halves split at the nose
      line (a ratio of means rather than OFIQ's histogram intersection: it reads as "2× brighter"
      in a message and is not fooled by two halves of equal brightness but different texture);
    - mouth_ratio: mouth-corner distance / eye distance (a neutral mouth is about 0.8-0.9).
    """
    pts = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    le, re, _, ml, mr = pts
    eye = float(np.hypot(*(re - le)))
    mouth_ratio = float(np.hypot(*(mr - ml))) / eye if eye > 1e-6 else 0.0
    region = _face_region(image, pts)
    luma = region.astype(np.float32)
    n = luma.size
    half = luma.shape[1] // 2
    sides = sorted([float(luma[:, :half].mean()), float(luma[:, half:].mean())])
    return FaceQuality(
        sharpness=round(float(cv2.Laplacian(luma, cv2.CV_32F, ksize=1).var()), 3),
        brightness=round(float(luma.mean()), 3),
        clipped_dark=round(float(np.count_nonzero(luma <= DARK)) / n, 5),
        clipped_bright=round(float(np.count_nonzero(luma >= BRIGHT)) / n, 5),
        side_ratio=round(sides[1] / max(sides[0], 1.0), 4),
        mouth_ratio=round(mouth_ratio, 4),
    )


def _face_region(image: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """The inner face's luma, warped upright at EYE_PIXELS per eye distance, split at the nose."""
    le, re, nose, ml, mr = pts
    eye_vec = re - le
    eye = max(float(np.hypot(*eye_vec)), 1e-6)
    ux = eye_vec / eye  # the face's x axis in the image
    uy = np.array([-ux[1], ux[0]])  # its y axis, down the face
    mid = (le + re) / 2
    mouth_y = float(((ml + mr) / 2 - mid) @ uy)
    nose_x = float((nose - mid) @ ux)
    k = EYE_PIXELS / eye
    # Output frame: the nose line sits at the exact middle so the halves compare like with like.
    half_w = round(EYE_PIXELS)  # 0.5 E beyond each eye = 1 E either side of the centre
    top, bottom = -0.6 * eye, max(mouth_y, 0.5 * eye) + 0.5 * eye
    height = max(8, round((bottom - top) * k))
    origin = mid + ux * nose_x + uy * top  # image point at output (half_w, 0)
    # Affine map output (u, v) -> image: origin + (u - half_w)/k * ux + v/k * uy.
    m = np.array([[ux[0] / k, uy[0] / k, origin[0] - half_w * ux[0] / k],
                  [ux[1] / k, uy[1] / k, origin[1] - half_w * ux[1] / k]])
    gray = cv2.cvtColor(np.ascontiguousarray(image, dtype=np.uint8), cv2.COLOR_RGB2GRAY)
    flags = cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR
    return cv2.warpAffine(gray, m, (2 * half_w, height), flags=flags | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)
