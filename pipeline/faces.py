"""Face detection with facenet-pytorch's MTCNN, then the main face's measures from dlib's 68 points.

MTCNN looks at each photo and at its mirror image, each inside a grey border (FRAME) so that a
face cut by the edge is found too, and the faces of the two are made one symmetric answer
(`both_ways`), so that nothing measured depends on which way round a photo is.
The caller hands in photos already reduced (longer side about `DetectParams.long_side`, EXIF
orientation applied) together with their scale; everything this module returns about positions
is in ORIGINAL pixels after EXIF orientation, so the numbers mean the same whatever the reduction.
The main face (the largest box in view) gets dense landmarks (`pipeline.landmarks`), a head pose
fitted to a 3-D mean face and the measures the rules judge (`face_quality`), taken on the reduced
photo but at a fixed face scale, so their limits do not depend on the photo's size. Other faces keep
the 5-point pose (`estimate_pose`), which only `multiple_faces` and the evaluate stage look at.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

from pipeline.config import DetectParams
from pipeline.devices import resolve_device
from pipeline.landmarks import dense_landmarks, face_frame, head_pose

# The frontal face model behind `estimate_pose`, in units of the eye distance (see its docstring).
NOSE_DEPTH = 0.45  # how far the nose tip stands in front of the eyes/mouth-corners plane
NOSE_LEVEL = 0.58  # frontal nose tip height between the eye line (0) and the mouth line (1)
# Beyond this yaw (as the 5 MTCNN points read it) dlib's 68-point fit, trained on mostly frontal
# faces, no longer follows the face's pose (it collapses towards a frontal shape from about
# 40°); the 5 points speak instead, and the cheeks (one of them turning away) are not compared.
# 30°, beyond `max_turn`: a face switched is rejected anyway. (Roll needs no such limit: the fit
# is made on the face turned upright, `pipeline.landmarks.dense_landmarks`.)
DENSE_POSE_RANGE = 30.0
# Up to this yaw both mouth corners and both eyes are in view (the far ones go behind the cheek
# and the nose from about 50°), so the expression is still read.
EXPRESSION_RANGE = 45.0
# Quality is measured with the eye distance resampled to this many pixels, so the numbers compare
# across photo sizes. 24 px: a face large enough for `face_too_small` has more than that in a
# 640 px reduction, so faces are shrunk (area-averaged), never enlarged.
EYE_PIXELS = 24
# A face found in a photo and one found in its mirror image are the same face when their boxes
# overlap this much (intersection over union); MTCNN's box moves by up to a tenth of its size
# between the two, which leaves an overlap of about 0.8.
MATCH_IOU = 0.5
# MTCNN looks at each photo inside a border of this fraction of its longer side (20 px at 640),
# mid-grey: the value MTCNN's input scaling makes 0, as its own convolutions pad. A face cut by
# the photo's edge has no window of MTCNN's centred on it, and the cascade drops it (the
# neighbour's half face at the edge of insightface_1996 in the calibration set, found neither in
# the photo nor in its mirror image); with the border its windows reach past the edge, and its
# box with them. On that photo (448 px) 12 px is the least that finds the face both ways; the
# border adds 13-15 % to the pixels MTCNN scans.
FRAME = 1 / 32
# Blur is measured at this eye distance: a Gaussian blur of 0.03 eye distances is then one pixel,
# the scale at which an edge's width can still be read.
BLUR_EYE_PIXELS = 32
# The hairline sits about one nose length (brows to the base of the nose) above the brows (the
# face's thirds); the outline for `face_cut_off` stops at three quarters of that, so a frame that
# cuts the hair or the very top of the forehead, as a tight crop does, does not count as cut.
FOREHEAD = 0.75
DARK, BRIGHT = 8, 247  # luma at or beyond these counts as clipped (JPEG noise keeps 0/255 rare)
# A neutral mouth in the face's frame (the medians of the 47 faces labelled neutral in the
# calibration set, close to average adult proportions), and how much neutral mouths differ
# (robust standard deviations): mouth corners at 0.34 of the way from the base of the nose to the
# chin, level with the middle of the lips, the mouth 0.80 eye distances wide (50 of 63 mm).
NEUTRAL_MOUTH = {"corner_height": (0.34, 0.045), "corner_lift": (0.0, 0.04),
                 "width": (0.80, 0.07)}
# Eyes and brows of a neutral face, measured the same way (medians and robust standard
# deviations of the same 47 faces): the eyes open 0.335 ± 0.055 of their width (average adult
# eyes: a fissure 10 mm high and 30 mm wide, 0.33), the brows 0.32 ± 0.075 eye distances above
# the eye centres (20 of 63 mm). The `expression` limits sit 3 spreads from these.
NEUTRAL_EYES = (0.335, 0.055)
NEUTRAL_BROWS = (0.32, 0.075)


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
    """What the rules judge about the main face, measured on its 68 dense landmarks."""

    head_length: float  # crown to chin, original pixels: twice the eye line to chin distance
    outline_margin: float  # face outline to the nearest edge, eye distances (< 0: past it)
    brightness: float  # mean luma of the inner face, 0-255
    clipped_dark: float  # fraction of inner-face pixels at or near 0
    clipped_bright: float  # fraction of inner-face pixels at or near 255
    # None where the measure cannot be read: blur on a face with fewer than BLUR_EYE_PIXELS
    # between the eyes in the reduced photo; cheeks on a face turned beyond DENSE_POSE_RANGE,
    # mouth, eyes and brows beyond EXPRESSION_RANGE.
    edge_width: float | None  # blur: Gaussian sigma of the face's sharpest edges, eye distances
    cheek_ratio: float | None  # median luma of the brighter cheek / the darker cheek (>= 1)
    smile: float | None  # mouth shape against a neutral mouth, neutral spreads (> 0: a smile)
    mouth_open: float | None  # gap between the inner lips / mouth width
    eyes_open: float | None  # eyelid gap / eye width, both eyes' mean (`eyes_and_brows`)
    brows: float | None  # brows above the eye centres, eye distances (`eyes_and_brows`)


@dataclass(frozen=True)
class FaceReport:
    # every face with prob >= detect.face_prob, the largest in view first (box inside the photo)
    faces: tuple[Face, ...]
    quality: FaceQuality | None  # of faces[0]; None when there is no face

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe data; `FaceReport.from_dict(r.to_dict()) == r`."""
        return {
            "faces": [{"box": list(f.box), "prob": f.prob,
                       "landmarks": [list(p) for p in f.landmarks],
                       "pose": [f.pose.yaw, f.pose.pitch, f.pose.roll]} for f in self.faces],
            "quality": None if self.quality is None else asdict(self.quality),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaceReport:
        faces = tuple(
            Face(box=tuple(float(v) for v in f["box"]), prob=float(f["prob"]),
                 landmarks=tuple((float(x), float(y)) for x, y in f["landmarks"]),
                 pose=Pose(*(float(v) for v in f["pose"])))
            for f in data["faces"])
        q = data["quality"]
        return cls(faces, None if q is None else FaceQuality(
            **{k: None if v is None else float(v) for k, v in q.items()}))


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
        a time (it cannot batch different sizes), each with its mirror image: what is measured
        is a symmetric function of the two (`both_ways`), so that a photo and its mirror image
        get the same verdict.
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
        step = self.params.batch_size  # at least 1: config.py checks it
        for indices in groups.values():
            for start in range(0, len(indices), step):
                chunk = indices[start:start + step]
                pad = border(images[chunk[0]].shape)
                pictures = [framed(images[i], pad) for i in chunk]
                batch = np.stack(pictures + [p[:, ::-1] for p in pictures])
                boxes, probs, points = self.mtcnn.detect(batch, landmarks=True)
                n = len(chunk)
                for j, i in enumerate(chunk):
                    found = both_ways(Detections.of(boxes[j], probs[j], points[j]),
                                      Detections.of(boxes[n + j], probs[n + j], points[n + j]),
                                      pictures[j].shape[1]).shifted(-pad)
                    reports[i] = self._report(images[i], float(scales[i]), found)
        return reports

    def _report(self, image: np.ndarray, scale: float, found: Detections) -> FaceReport:
        keep = found.probs >= self.params.face_prob
        boxes, probs, points = found.boxes[keep], found.probs[keep], found.points[keep]
        if len(boxes) == 0:
            return NO_FACE
        # the main face is the largest in view: a neighbour's face cut by the photo's edge, whose
        # box runs past it (FRAME), is not measured in the subject's place
        h, w = image.shape[:2]
        inside = np.clip(boxes, 0, [w, h, w, h])
        area = (inside[:, 2] - inside[:, 0]) * (inside[:, 3] - inside[:, 1])
        order = np.argsort(-area, kind="stable")
        boxes, probs, points = boxes[order], probs[order], points[order]
        five = estimate_pose(points[0])
        dense = dense_landmarks(image, boxes[0], five.roll)
        poses = [main_pose(dense, five, image.shape), *map(estimate_pose, points[1:])]
        faces = tuple(
            Face(box=tuple(round(float(v) * scale, 2) for v in b), prob=round(float(p), 6),
                 landmarks=tuple((round(float(x) * scale, 2), round(float(y) * scale, 2))
                                 for x, y in lm),
                 pose=pose)
            for b, p, lm, pose in zip(boxes, probs, points, poses, strict=True))
        return FaceReport(faces, face_quality(image, dense, scale, abs(five.yaw)))


@dataclass(frozen=True)
class Detections:
    """MTCNN's faces in one image: boxes (n, 4), probabilities (n,), 5 points (n, 5, 2)."""

    boxes: np.ndarray
    probs: np.ndarray
    points: np.ndarray

    @classmethod
    def of(cls, boxes: Any, probs: Any, points: Any) -> Detections:
        """From what facenet-pytorch returns for one image (None for "no face"; with numpy 2 a
        batch comes back as object arrays)."""
        if boxes is None:
            return cls(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2)))
        return cls(np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
                   np.asarray(probs, dtype=np.float64).reshape(-1),
                   np.asarray(points, dtype=np.float64).reshape(-1, 5, 2))

    def shifted(self, by: float) -> Detections:
        """The same faces with every coordinate moved by `by` pixels (both axes)."""
        return Detections(self.boxes + by, self.probs, self.points + by)

    def mirrored(self, width: int) -> Detections:
        """The same faces in the mirror image of a picture `width` pixels wide: pixel column c
        becomes (width - 1) - c, and left and right swap (eyes, mouth corners; box edges)."""
        boxes = np.stack([(width - 1) - self.boxes[:, 2], self.boxes[:, 1],
                          (width - 1) - self.boxes[:, 0], self.boxes[:, 3]], axis=1)
        points = self.points[:, [1, 0, 2, 4, 3]].copy()
        points[..., 0] = (width - 1) - points[..., 0]
        return Detections(boxes, self.probs, points)


def border(shape: tuple[int, ...]) -> int:
    """The width in pixels of the border MTCNN looks at an image of `shape` inside (FRAME)."""
    return max(1, round(FRAME * max(shape[:2])))


def framed(image: np.ndarray, pad: int) -> np.ndarray:
    """`image` (RGB uint8) inside a mid-grey border `pad` pixels wide."""
    return cv2.copyMakeBorder(np.ascontiguousarray(image, dtype=np.uint8), pad, pad, pad, pad,
                              cv2.BORDER_CONSTANT, value=(128, 128, 128))


def both_ways(photo: Detections, mirror: Detections, width: int) -> Detections:
    """The faces of a photo as found in it and in its mirror image (`mirror`, in the mirror's
    pixels), made one symmetric answer: faces are paired by overlap (intersection over union at
    least MATCH_IOU, best pairs first); a pair's box and points are the mean of the two, its
    probability the mean of the two, a face found in one image only counting 0 in the other
    (so a detection at MTCNN's own noise level, found one way only, falls under face_prob).
    The mirror image's answer is this one mirrored, so no limit can tell them apart."""
    back = mirror.mirrored(width)
    overlap = _iou(photo.boxes, back.boxes)
    pairs, free_a, free_b = [], set(range(len(photo.probs))), set(range(len(back.probs)))
    for flat in np.argsort(-overlap, axis=None, kind="stable"):
        i, j = np.unravel_index(flat, overlap.shape)
        if overlap[i, j] < MATCH_IOU:
            break
        if i in free_a and j in free_b:
            pairs.append((i, j))
            free_a.discard(i)
            free_b.discard(j)
    boxes = [(photo.boxes[i] + back.boxes[j]) / 2 for i, j in pairs]
    probs = [(photo.probs[i] + back.probs[j]) / 2 for i, j in pairs]
    points = [(photo.points[i] + back.points[j]) / 2 for i, j in pairs]
    for source, free in ((photo, free_a), (back, free_b)):
        for i in sorted(free):
            boxes.append(source.boxes[i])
            probs.append(source.probs[i] / 2)
            points.append(source.points[i])
    if not boxes:
        return photo
    return Detections(np.array(boxes), np.array(probs), np.array(points))


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box of `a` with every box of `b` (x1, y1, x2, y2)."""
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def main_pose(dense: np.ndarray, five: Pose, shape: tuple[int, ...]) -> Pose:
    """The pose of the 68-point fit (`pipeline.landmarks.head_pose`), except its yaw where the
    5-point pose `five` reads a yaw beyond DENSE_POSE_RANGE: a near profile, where the 68-point
    fit no longer follows the face."""
    yaw, pitch, roll = head_pose(dense, shape)
    if abs(five.yaw) > DENSE_POSE_RANGE:
        yaw = five.yaw
    return Pose(yaw, pitch, roll)


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


def face_quality(image: np.ndarray, dense: np.ndarray, scale: float = 1.0,
                 yaw: float = 0.0) -> FaceQuality:
    """The measures of one face of an RGB uint8 image from its 68 dense landmarks (in `image`'s
    pixels; `scale` = original pixels per pixel of `image`; `yaw`: how far the face is turned,
    degrees, which decides what can be read, see `FaceQuality`).

    - head_length: twice the distance from the eye line to the chin (the eyes sit halfway
      between chin and crown), in original pixels;
    - outline_margin: how close the face's outline comes to the picture's edges, in eye
      distances, negative when it runs past one (dlib places the points of a face cut by the
      frame outside it). The outline is the jaw line (points 0-16, cheek to chin) and the
      forehead up to FOREHEAD nose lengths above the brows;
    - edge_width: `edge_width` of the face (brows to jaw) at BLUR_EYE_PIXELS per eye distance;
    - brightness, clipped_dark, clipped_bright: mean luma (BT.601) of the inner face
      (`_face_region`) and the fractions at or beyond DARK / BRIGHT;
    - cheek_ratio: `cheek_ratio`;
    - smile, mouth_open: `mouth_shape`; eyes_open, brows: `eyes_and_brows`.
    """
    local, eye = face_frame(dense)
    eye = max(eye, 1.0)
    gray = cv2.cvtColor(np.ascontiguousarray(image, dtype=np.uint8), cv2.COLOR_RGB2GRAY)
    inner = _face_region(gray, dense, eye).astype(np.float32)
    smile, mouth_open = mouth_shape(local)
    eyes_open, brows = eyes_and_brows(local)
    cheeks, seen = abs(yaw) <= DENSE_POSE_RANGE, abs(yaw) <= EXPRESSION_RANGE
    blur = None
    if eye >= BLUR_EYE_PIXELS:
        region = _resampled(gray, dense[np.r_[1:16, 17:27]], eye, BLUR_EYE_PIXELS)
        blur = round(edge_width(region) / BLUR_EYE_PIXELS, 5)
    n = inner.size
    return FaceQuality(
        head_length=round(2 * float(local[8, 1]) * eye * scale, 2),
        outline_margin=round(_outline_margin(dense, eye, image.shape), 4),
        brightness=round(float(inner.mean()), 3),
        clipped_dark=round(float(np.count_nonzero(inner <= DARK)) / n, 5),
        clipped_bright=round(float(np.count_nonzero(inner >= BRIGHT)) / n, 5),
        edge_width=blur,
        cheek_ratio=_rounded(cheek_ratio(gray, dense, eye), 4) if cheeks else None,
        smile=round(smile, 3) if seen else None,
        mouth_open=round(mouth_open, 4) if seen else None,
        eyes_open=round(eyes_open, 4) if seen else None,
        brows=round(brows, 4) if seen else None,
    )


def edge_width(gray: np.ndarray) -> float:
    """How wide the sharpest edges of a grey image are, as the sigma (in pixels) of the Gaussian
    blur that would make a perfect step edge that wide.

    A step of contrast C blurred by a Gaussian of sigma s has a steepest slope of C / (s·√(2π)):
    for the 3 % steepest pixels (in a face: eyelids, lips, nostrils, brows: edges every face has)
    the slope is compared with the local contrast (the range of a 5×5 neighbourhood), so neither
    the face's contrast nor its exposure changes the number, only how spread its edges are.
    Up to about 1.2 pixels the number is the blur's sigma (with the Sobel filter's own spread of
    about 0.7 px); beyond, the 5×5 window no longer holds the whole edge and the number grows
    more slowly, but it keeps growing.
    """
    g = gray.astype(np.float32)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3) / 8
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3) / 8
    slope = np.hypot(gx, gy)
    kernel = np.ones((5, 5), np.uint8)
    contrast = cv2.dilate(g, kernel) - cv2.erode(g, kernel)
    steep = (slope >= np.quantile(slope, 0.97)) & (contrast > 8)
    if np.count_nonzero(steep) < 10:  # a flat patch: nothing to read, as blurred as can be
        return 9.9
    ratio = float(np.median(slope[steep] / contrast[steep]))
    return 1 / (math.sqrt(2 * math.pi) * ratio)


def cheek_ratio(gray: np.ndarray, dense: np.ndarray, eye: float) -> float | None:
    """Median luma of the brighter cheek over the darker one (>= 1), the cheeks taken as the skin
    right under each eye: as wide as the eye (its corners), from 0.15 eye distances under the
    lower lid down to the base of the nose. Hair over the outer cheek, a beard, the background
    and the nose's own shadow stay outside; the median ignores a stray strand or a highlight.
    (OFIQ compares the two halves' histograms; a ratio of medians reads as "2× as bright".)
    None when a cheek lies outside the photo."""
    medians = []
    for corners in (dense[36:42], dense[42:48]):
        x0, x1 = corners[:, 0].min(), corners[:, 0].max()
        y0, y1 = corners[:, 1].max() + 0.15 * eye, dense[33, 1]
        patch = _patch(gray, x0, y0, x1, y1)
        if not patch.size:
            return None
        medians.append(float(np.median(patch)))
    low, high = sorted(medians)
    return high / max(low, 1.0)


def mouth_shape(local: np.ndarray) -> tuple[float, float]:
    """(smile, mouth_open) from the 68 points in the face's frame (`face_frame`).

    A smile pulls the mouth corners up towards the nose and out towards the cheeks, above the
    line where the lips meet. Three measures of that: the corners' height between the base of
    the nose (0) and the chin (1); how far the corners sit above the middle of the lips, in mouth
    widths; the mouth's width in eye distances. Each is expressed in neutral spreads from a
    neutral mouth (NEUTRAL_MOUTH) and `smile` is their mean: 0 for a typical neutral mouth, 1 for
    one a spread towards a smile on average. `mouth_open`: the gap between the inner lips over
    the mouth's width (talking, singing, surprise, a laugh)."""
    y = local[:, 1]
    width = max(float(local[54, 0] - local[48, 0]), 1e-6)
    corners = (y[48] + y[54]) / 2
    lips_meet = (y[62] + y[66]) / 2
    span = max(float(y[8] - y[33]), 1e-6)
    towards_smile = {  # each measure's distance from neutral, positive towards a smile
        "corner_height": NEUTRAL_MOUTH["corner_height"][0] - (corners - y[33]) / span,
        "corner_lift": (lips_meet - (y[60] + y[64]) / 2) / width - NEUTRAL_MOUTH["corner_lift"][0],
        "width": width - NEUTRAL_MOUTH["width"][0],
    }
    smile = np.mean([v / NEUTRAL_MOUTH[k][1] for k, v in towards_smile.items()])
    return float(smile), float((y[66] - y[62]) / width)


def eyes_and_brows(local: np.ndarray) -> tuple[float, float]:
    """(eyes_open, brows) from the 68 points in the face's frame (`face_frame`).

    eyes_open: the gap between the eyelids over the eye's width (corner to corner), each eye the
    mean of its two lid pairs (points 37-41, 38-40; 43-47, 44-46), both eyes averaged: about a
    third for an open eye, under a fifth for eyes squeezed or closed, over half for eyes opened
    wide. brows: how far the brows (points 17-26) sit above the line through the eye centres,
    in eye distances: raised in surprise, drawn down in a frown or a scowl."""
    openness = []
    for a in (36, 42):
        eye = local[a:a + 6]
        width = max(float(np.hypot(*(eye[3] - eye[0]))), 1e-6)
        openness.append((float(np.hypot(*(eye[1] - eye[5]))) + float(np.hypot(*(eye[2] - eye[4]))))
                        / (2 * width))
    return float(np.mean(openness)), float(-local[17:27, 1].mean())


def _outline_margin(dense: np.ndarray, eye: float, shape: tuple[int, ...]) -> float:
    h, w = shape[:2]
    brows = (dense[21] + dense[22]) / 2
    forehead = brows - FOREHEAD * (dense[33] - brows)
    outline = np.vstack([dense[0:17], forehead[None]])
    margins = np.concatenate([outline[:, 0], (w - 1) - outline[:, 0], outline[:, 1],
                              (h - 1) - outline[:, 1]])
    return float(margins.min()) / eye


def _patch(gray: np.ndarray, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """The pixels from (x0, y0) to (x1, y1), both included. Columns are rounded from the
    middle out, so that the patch of a mirror image is the mirror image of the patch."""
    h, w = gray.shape[:2]
    centre, half = (x0 + x1) / 2, (x1 - x0) / 2
    left, right = round(centre - half), round(centre + half)
    left, right = int(np.clip(left, 0, w)), int(np.clip(right + 1, 0, w))
    top, bottom = int(np.clip(round(y0), 0, h)), int(np.clip(round(y1) + 1, 0, h))
    return gray[top:bottom, left:right]


def _resampled(gray: np.ndarray, points: np.ndarray, eye: float, eye_pixels: int) -> np.ndarray:
    """The bounding box of `points`, resampled so that the eye distance is `eye_pixels`."""
    (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
    return _at_scale(_patch(gray, x0, y0, x1, y1), eye_pixels / eye)


def _face_region(gray: np.ndarray, dense: np.ndarray, eye: float) -> np.ndarray:
    """Inner-face luma at EYE_PIXELS per eye distance: a box from half an eye distance outside
    the outer eye and mouth corners, 0.6 above the eyes to 0.5 below the mouth corners (eyes,
    cheeks, nose, mouth; little hair or background)."""
    corners = dense[[36, 45, 48, 54]]
    top = min(dense[36:42, 1].mean(), dense[42:48, 1].mean()) - 0.6 * eye
    bottom = corners[2:, 1].max() + 0.5 * eye
    crop = _patch(gray, corners[:, 0].min() - 0.5 * eye, top, corners[:, 0].max() + 0.5 * eye,
                  bottom)
    return _at_scale(crop, EYE_PIXELS / eye)


def _at_scale(crop: np.ndarray, k: float) -> np.ndarray:
    """`crop` resized by `k`: area-averaged when shrinking (no aliasing), linear when enlarging;
    at least 8 × 8 pixels (a crop that is all but outside the photo is read as mid-grey)."""
    if min(crop.shape[:2]) < 2:
        return np.full((8, 8), 128, np.uint8)
    size = (max(8, round(crop.shape[1] * k)), max(8, round(crop.shape[0] * k)))
    return cv2.resize(crop, size, interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR)


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)
