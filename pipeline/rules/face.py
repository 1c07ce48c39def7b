"""Rules about the face: found, alone, frontal, large enough, whole, sharp, well lit, neutral.

They judge the measurements of `pipeline.faces` (MTCNN's faces, then the main face's 68 dense
landmarks: pose, head size, outline, blur, cheeks, mouth) and the photo's tonal range; docs/RULES.md
gives each limit's principle, the separation it sits in, its calibration table on labelled real
photos, and what each measure cannot see.
"""

from __future__ import annotations

import math

from pipeline.config import ValidateParams
from pipeline.faces import Face, FaceQuality, Pose
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
    turn = away_from_camera(pose)
    parts = []
    if turn > p.max_turn:
        axes = [_turn("face turned", pose.yaw, "to the picture's left", "to the picture's right",
                      "yaw"), _turn("face tilted", pose.pitch, "up", "down", "pitch")]
        parts.append(f"{' and '.join(axes)}: {turn:.0f}° away from the camera; the limit is "
                     f"{p.max_turn:g}°")
    if abs(pose.roll) > p.max_roll:
        parts.append(f"{_turn('head tilted', pose.roll, 'clockwise', 'anticlockwise', 'roll')}; "
                     f"the limit is ±{p.max_roll:g}°")
    if not parts:
        return None
    if turn / p.max_turn >= abs(pose.roll) / p.max_roll:
        value, limit = f"{turn:.1f}°", f"≤ {p.max_turn:g}°"
    else:
        value, limit = f"{pose.roll:.1f}° roll", f"±{p.max_roll:g}°"
    return Breach(f"{'; '.join(parts)} — look straight into the camera, head upright",
                  value=value, limit=limit)


def away_from_camera(pose: Pose) -> float:
    """The angle between where the face points and the line of sight to the camera, degrees:
    yaw and pitch together (a face turned 20° and tilted 20° is 28° away)."""
    c = math.cos(math.radians(pose.yaw)) * math.cos(math.radians(pose.pitch))
    return math.degrees(math.acos(max(-1.0, min(1.0, c))))


@photo_rule("face_too_small", Severity.ERROR, Needs.FACE)
def face_too_small(photo: Photo, p: ValidateParams) -> Breach | None:
    q = _quality(photo)
    if q is None or not photo.height or not photo.width:
        return None
    tall, wide = q.head_length / photo.height, q.head_length / photo.width
    if tall >= p.min_head_height and wide >= p.min_head_width:
        return None
    if tall / p.min_head_height <= wide / p.min_head_width:
        what = (f"the head (crown to chin) is only {tall:.0%} of the photo's height "
                f"(limit {p.min_head_height:.0%})")
        value, limit = f"{tall:.0%} of the height", f"≥ {p.min_head_height:.0%}"
    else:
        what = (f"the head (crown to chin) is only {wide:.0%} of the photo's width "
                f"(limit {p.min_head_width:.0%})")
        value, limit = f"{wide:.0%} of the width", f"≥ {p.min_head_width:.0%}"
    return Breach(
        f"{what}: this is a half- or full-body shot; take the photo closer, head and shoulders "
        "filling the frame", value=value, limit=limit)


@photo_rule("face_cut_off", Severity.ERROR, Needs.FACE)
def face_cut_off(photo: Photo, p: ValidateParams) -> Breach | None:
    q = _quality(photo)
    if q is None or q.outline_margin >= p.min_outline_margin:
        return None
    past = -q.outline_margin
    what = (f"the face runs {past:.2f} eye distances past the edge of the photo" if past > 0
            else f"the face comes within {-past:.2f} eye distances of the edge of the photo")
    return Breach(
        f"the face is cut off: {what} (chin, cheeks and forehead must be inside, limit "
        f"{p.min_outline_margin:g}); leave space around the whole head",
        value=f"{q.outline_margin:+.2f}", limit=f"≥ {p.min_outline_margin:g}")


@photo_rule("blurry", Severity.ERROR, Needs.FACE)
def blurry(photo: Photo, p: ValidateParams) -> Breach | None:
    q = _quality(photo)
    if q is None or q.edge_width is None or q.edge_width <= p.max_edge_width:
        return None
    return Breach(
        f"the face is blurred: its edges are {q.edge_width:.3f} eye distances wide (limit "
        f"{p.max_edge_width:g}); hold the camera still, focus on the face, use the original "
        "photo rather than an enlarged copy",
        value=f"{q.edge_width:.3f}", limit=f"≤ {p.max_edge_width:g}")


@photo_rule("exposure", Severity.ERROR, Needs.PIXELS)
def exposure(photo: Photo, p: ValidateParams) -> Breach | None:
    problems = _photo_tones(photo, p) + _face_light(photo, p)  # (message, value, limit)
    if not problems:
        return None
    text = "; ".join(m for m, _, _ in problems)
    return Breach(f"{text} — take the photo in even daylight, no flash or spotlight from one side",
                  value=problems[0][1], limit=problems[0][2])


def _photo_tones(photo: Photo, p: ValidateParams) -> list[tuple[str, str, str]]:
    """The whole photo's tonal range: said even when no face could be found in it."""
    t = photo.tones
    if t is None:
        return []
    problems = []
    if t.highlights < p.min_highlights:
        problems.append((f"the whole photo is too dark (its brightest parts reach only "
                         f"{t.highlights:.0f} of 255, limit {p.min_highlights:g})",
                         f"highlights {t.highlights:.0f}", f"≥ {p.min_highlights:g}"))
    if t.shadows > p.max_shadows:
        problems.append((f"the whole photo is washed out (even its darkest parts are "
                         f"{t.shadows:.0f} of 255, limit {p.max_shadows:g})",
                         f"shadows {t.shadows:.0f}", f"≤ {p.max_shadows:g}"))
    return problems


def _face_light(photo: Photo, p: ValidateParams) -> list[tuple[str, str, str]]:
    q = _quality(photo)
    if q is None:
        return []
    problems = []
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
    if q.cheek_ratio is not None and q.cheek_ratio > p.max_cheek_ratio:
        problems.append((f"one cheek is {q.cheek_ratio:.1f}× as bright as the other "
                         f"(limit {p.max_cheek_ratio:g}×): light from one side",
                         f"{q.cheek_ratio:.2f}×", f"≤ {p.max_cheek_ratio:g}×"))
    return problems


@photo_rule("expression", Severity.WARNING, Needs.FACE)
def expression(photo: Photo, p: ValidateParams) -> Breach | None:
    q = _quality(photo)
    if q is None or q.smile is None or q.mouth_open is None:
        return None
    seen = []  # (message, value, limit), the plainest first
    if q.smile > p.max_smile:
        seen.append((f"the mouth's corners are raised and drawn out ({q.smile:.1f} neutral "
                     f"spreads towards a smile, limit {p.max_smile:g}): probably smiling",
                     f"smile {q.smile:.1f}", f"≤ {p.max_smile:g}"))
    if q.mouth_open > p.max_mouth_open:
        seen.append((f"the lips are apart by {q.mouth_open:.0%} of the mouth's width (limit "
                     f"{p.max_mouth_open:.0%}): talking, laughing or surprised",
                     f"open {q.mouth_open:.0%}", f"≤ {p.max_mouth_open:.0%}"))
    if q.eyes_open is not None and q.eyes_open < p.min_eyes_open:
        seen.append((f"the eyes are nearly closed (open {q.eyes_open:.2f} of their width, limit "
                     f"{p.min_eyes_open:g}; an open eye: about 0.33): squeezed, wincing or "
                     "blinking", f"eyes {q.eyes_open:.2f}", f"≥ {p.min_eyes_open:g}"))
    if q.eyes_open is not None and q.eyes_open > p.max_eyes_open:
        seen.append((f"the eyes are opened wide ({q.eyes_open:.2f} of their width, limit "
                     f"{p.max_eyes_open:g}; a relaxed eye: about 0.33): surprised or staring",
                     f"eyes {q.eyes_open:.2f}", f"≤ {p.max_eyes_open:g}"))
    if q.brows is not None and q.brows > p.max_brows:
        seen.append((f"the eyebrows are raised ({q.brows:.2f} eye distances above the eyes, "
                     f"limit {p.max_brows:g}; relaxed: about 0.32)", f"brows {q.brows:.2f}",
                     f"≤ {p.max_brows:g}"))
    if q.brows is not None and q.brows < p.min_brows:
        seen.append((f"the eyebrows are drawn down ({q.brows:.2f} eye distances above the eyes, "
                     f"limit {p.min_brows:g}; relaxed: about 0.32): frowning",
                     f"brows {q.brows:.2f}", f"≥ {p.min_brows:g}"))
    if not seen:
        return None
    return Breach(f"{'; '.join(m for m, _, _ in seen)} — the photos should show a neutral "
                  "expression: mouth closed and relaxed, eyes open, brows at rest",
                  value=seen[0][1], limit=seen[0][2])


def _main(photo: Photo) -> Face:
    face = photo.main_face
    assert face is not None and photo.faces is not None  # Needs.FACE guarantees it
    return face


def _quality(photo: Photo) -> FaceQuality | None:
    return photo.faces.quality if photo.faces is not None else None


def _turn(what: str, angle: float, positive: str, negative: str, axis: str) -> str:
    direction = positive if angle > 0 else negative
    return f"{what} {abs(angle):.0f}° {direction} ({axis})"
