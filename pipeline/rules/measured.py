"""Every measurement the photo rules judge, by the quantity names their findings use.

`measurements(photo)` is what a script reads beside a photo's verdict (`facedata validate -f
json`): the same numbers, in the same units, that a finding's `value` holds when a rule is
broken, so a limit can be re-thought from the class's own distribution.
"""

from __future__ import annotations

from pipeline.measure import Photo
from pipeline.rules.face import away_from_camera

# quantity -> unit (pipeline.findings.UNITS); the order is the order a record lists them in
QUANTITIES: dict[str, str] = {
    "width": "px", "height": "px", "short_side": "px", "chroma": "chroma",
    "shadows": "luma", "highlights": "luma", "faces": "count", "face_probability": "probability",
    "yaw": "deg", "pitch": "deg", "roll": "deg", "turn": "deg",
    "head_height": "fraction", "head_width": "fraction", "outline_margin": "eye_distances",
    "edge_width": "eye_distances", "brightness": "luma", "clipped_dark": "fraction",
    "clipped_bright": "fraction", "cheek_ratio": "ratio", "smile": "spreads",
    "mouth_open": "fraction", "eyes_open": "ratio", "brows": "eye_distances",
}  # fmt: skip


def measurements(photo: Photo) -> dict[str, float]:
    """The photo's measured quantities (those it could be measured on), rounded to 4 digits."""
    m: dict[str, float | None] = {"width": photo.width, "height": photo.height,
                                  "chroma": photo.chroma}
    if photo.width and photo.height:
        m["short_side"] = min(photo.width, photo.height)
    if photo.tones is not None:
        m["shadows"], m["highlights"] = photo.tones.shadows, photo.tones.highlights
    if photo.faces is not None:
        m["faces"] = len(photo.faces.faces)
    face = photo.main_face
    if face is not None:
        m.update(face_probability=face.prob, yaw=face.pose.yaw, pitch=face.pose.pitch,
                 roll=face.pose.roll, turn=away_from_camera(face.pose))
    q = photo.faces.quality if photo.faces is not None else None
    if q is not None:
        if photo.width and photo.height:
            m["head_height"] = q.head_length / photo.height
            m["head_width"] = q.head_length / photo.width
        for name in ("outline_margin", "edge_width", "brightness", "clipped_dark",
                     "clipped_bright", "cheek_ratio", "smile", "mouth_open", "eyes_open", "brows"):
            m[name] = getattr(q, name)
    return {k: float(f"{v:.4g}") if isinstance(v, float) else v
            for k in QUANTITIES if (v := m.get(k)) is not None}
