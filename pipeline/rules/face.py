"""Rules about the face: found, alone, frontal, large enough, whole, sharp, well lit, neutral.

They judge the measurements of `pipeline.faces` (pose from the 5 MTCNN landmarks, quality of the
inner face at a fixed scale); docs/RULES.md says why each default limit is what it is, what it
measured on real photos, and what each heuristic cannot see.
"""

from __future__ import annotations

from pipeline.config import ValidateParams
from pipeline.faces import Face, FaceQuality
from pipeline.findings import Severity
from pipeline.measure import Photo
from pipeline.rules import Breach, Needs, photo_rule


@photo_rule("no_face", Severity.ERROR, Needs.PIXELS)
def no_face(photo: Photo, p: ValidateParams) -> Breach | None:
    if photo.faces is not None and photo.faces.faces:
        return None
    return Breach(
        f"no face was found (face detector, probability ≥ {p.detect.face_prob:g}); hand in a "
        "photo in which the face is large, clearly visible, facing the camera, not covered",
        value="0 faces", limit=f"1 face with probability ≥ {p.detect.face_prob:g}")


@photo_rule("multiple_faces", Severity.ERROR, Needs.FACE)
def multiple_faces(photo: Photo, p: ValidateParams) -> Breach | None:
    main = _main(photo)
    others = [f for f in photo.faces.faces[1:]
              if f.size >= p.multiple_faces_min_fraction * main.size]
    if not others:
        return None
    n = 1 + len(others)
    second = max(f.size for f in others) / main.size
    return Breach(
        f"{n} faces were found (the second largest is {second:.0%} of the size of the main one); "
        "the person must be alone in the photo (faces under "
        f"{p.multiple_faces_min_fraction:.0%} of the main face's size are ignored)",
        value=f"{n} faces", limit="1 face")


@photo_rule("not_frontal", Severity.ERROR, Needs.FACE)
def not_frontal(photo: Photo, p: ValidateParams) -> Breach | None:
    pose = _main(photo).pose
    axes = [  # (how far beyond its limit, message part, value, limit)
        (abs(pose.yaw) / p.max_yaw, _turn("face turned", pose.yaw, "to the picture's left",
                                          "to the picture's right", "yaw", p.max_yaw),
         pose.yaw, p.max_yaw),
        (abs(pose.pitch) / p.max_pitch, _turn("face tilted", pose.pitch, "up", "down", "pitch",
                                              p.max_pitch), pose.pitch, p.max_pitch),
        (abs(pose.roll) / p.max_roll, _turn("head tilted", pose.roll, "clockwise",
                                            "anticlockwise", "roll", p.max_roll),
         pose.roll, p.max_roll),
    ]
    over = sorted((a for a in axes if a[0] > 1), key=lambda a: -a[0])
    if not over:
        return None
    parts = "; ".join(a[1] for a in over)
    _, _, value, limit = over[0]
    return Breach(f"{parts} — look straight into the camera, head upright",
                  value=f"{value:.1f}°", limit=f"±{limit:g}°")


@photo_rule("face_too_small", Severity.ERROR, Needs.FACE)
def face_too_small(photo: Photo, p: ValidateParams) -> Breach | None:
    if not photo.height:
        return None
    x1, y1, x2, y2 = _main(photo).box
    fraction = (y2 - y1) / photo.height
    if fraction >= p.min_face_fraction:
        return None
    return Breach(
        f"the face is only {fraction:.0%} of the photo's height (limit {p.min_face_fraction:.0%}); "
        "take the photo closer, head and shoulders filling the frame",
        value=f"{fraction:.0%}", limit=f"≥ {p.min_face_fraction:.0%}")


@photo_rule("face_cut_off", Severity.ERROR, Needs.FACE)
def face_cut_off(photo: Photo, p: ValidateParams) -> Breach | None:
    if not photo.width or not photo.height:
        return None
    face = _main(photo)
    w, h = photo.width, photo.height
    outside = sum(not (0 <= x <= w and 0 <= y <= h) for x, y in face.landmarks)
    x1, y1, x2, y2 = face.box
    bw, bh = max(x2 - x1, 1e-6), max(y2 - y1, 1e-6)
    margins = {"left": x1 / bw, "right": (w - x2) / bw, "top": y1 / bh, "bottom": (h - y2) / bh}
    edge, margin = min(margins.items(), key=lambda kv: kv[1])
    if not outside and margin >= p.min_face_margin:
        return None
    if outside:
        what = f"{outside} of the 5 landmarks (eyes, nose, mouth corners) lie outside the photo"
    elif margin < 0:
        what = f"the face runs {-margin:.0%} of its size past the {edge} edge"
    else:
        what = f"the face is only {margin:.0%} of its size from the {edge} edge"
    if p.min_face_margin < 0:
        rule = f"the face box may run at most {-p.min_face_margin:.0%} of its size past an edge"
    else:
        rule = f"the face box must stay {p.min_face_margin:.0%} of its size inside every edge"
    return Breach(
        f"the face is cut off: {what} ({rule}); leave space around the whole head",
        value=f"{margin:.0%} at the {edge}", limit=f"≥ {p.min_face_margin:.0%}")


@photo_rule("blurry", Severity.ERROR, Needs.FACE)
def blurry(photo: Photo, p: ValidateParams) -> Breach | None:
    q = _quality(photo)
    if q is None or q.sharpness >= p.min_sharpness:
        return None
    return Breach(
        f"the face is blurred (sharpness {q.sharpness:.0f}, limit {p.min_sharpness:g}: variance of "
        "the Laplacian at a fixed face size); hold the camera still, focus on the face, use the "
        "original photo rather than an enlarged copy",
        value=f"{q.sharpness:.0f}", limit=f"≥ {p.min_sharpness:g}")


@photo_rule("exposure", Severity.ERROR, Needs.FACE)
def exposure(photo: Photo, p: ValidateParams) -> Breach | None:
    q = _quality(photo)
    if q is None:
        return None
    problems = []  # (message, value, limit), most basic first
    if q.brightness < p.min_brightness:
        problems.append((f"the face is too dark (mean brightness {q.brightness:.0f} of 255, "
                         f"limit {p.min_brightness:g})", f"{q.brightness:.0f}",
                         f"≥ {p.min_brightness:g}"))
    if q.brightness > p.max_brightness:
        problems.append((f"the face is too bright (mean brightness {q.brightness:.0f} of 255, "
                         f"limit {p.max_brightness:g})", f"{q.brightness:.0f}",
                         f"≤ {p.max_brightness:g}"))
    for clipped, colour in ((q.clipped_dark, "black"), (q.clipped_bright, "white")):
        if clipped > p.max_clipped:
            problems.append((f"{clipped:.0%} of the face is pure {colour}, detail lost "
                             f"(limit {p.max_clipped:.0%})", f"{clipped:.0%} {colour}",
                             f"≤ {p.max_clipped:.0%}"))
    if q.side_ratio > p.max_side_ratio:
        problems.append((f"one half of the face is {q.side_ratio:.1f}× as bright as the other "
                         f"(limit {p.max_side_ratio:g}×)", f"{q.side_ratio:.2f}×",
                         f"≤ {p.max_side_ratio:g}×"))
    if not problems:
        return None
    text = "; ".join(m for m, _, _ in problems)
    return Breach(f"{text} — take the photo in even daylight, no flash or spotlight from one side",
                  value=problems[0][1], limit=problems[0][2])


@photo_rule("expression", Severity.WARNING, Needs.FACE)
def expression(photo: Photo, p: ValidateParams) -> Breach | None:
    q = _quality(photo)
    if q is None or q.mouth_ratio <= p.max_mouth_ratio:
        return None
    return Breach(
        f"the mouth is {q.mouth_ratio:.2f}× as wide as the eye distance (limit "
        f"{p.max_mouth_ratio:.2f}×): probably smiling; the photos should show a neutral "
        "expression", value=f"{q.mouth_ratio:.2f}×", limit=f"≤ {p.max_mouth_ratio:.2f}×")


def _main(photo: Photo) -> Face:
    face = photo.main_face
    assert face is not None and photo.faces is not None  # Needs.FACE guarantees it
    return face


def _quality(photo: Photo) -> FaceQuality | None:
    return photo.faces.quality if photo.faces is not None else None


def _turn(what: str, angle: float, positive: str, negative: str, axis: str,
          limit: float) -> str:
    direction = positive if angle > 0 else negative
    return f"{what} {abs(angle):.0f}° {direction} ({axis}); the limit is ±{limit:g}°"
