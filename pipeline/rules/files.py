"""Rules about the file itself: what it really is, whether it decodes, its size and colour."""

from __future__ import annotations

from pathlib import PurePosixPath

from pipeline.config import ValidateParams
from pipeline.findings import Severity
from pipeline.measure import Photo
from pipeline.rules import Breach, Needs, photo_rule


@photo_rule("not_jpeg", Severity.ERROR, Needs.FILE)
def not_jpeg(photo: Photo, p: ValidateParams) -> Breach | None:
    if photo.format == "JPEG":
        return None
    ext = PurePosixPath(photo.file).suffix.lower() or "(none)"
    if photo.format in ("text", "unknown", "empty file", "PDF", "ZIP"):
        what = {
            "text": "a text file",
            "unknown": "not an image",
            "empty file": "an empty file",
            "PDF": "a PDF document",
            "ZIP": "a zip archive",
        }[photo.format]
        msg = f"this file is {what}, not a JPEG photo; hand in the photo itself as .jpg"
    else:
        msg = (
            f"this is a {photo.format} file (extension {ext}), not a JPEG; "
            "export or convert it to JPEG (.jpg) and hand it in again"
        )
    return Breach(msg, value=photo.format, limit="JPEG")


@photo_rule("corrupt", Severity.ERROR, Needs.FILE)
def corrupt(photo: Photo, p: ValidateParams) -> Breach | None:
    if photo.error is None:
        return None
    return Breach(photo.error, value="does not decode", limit="decodes to the end")


@photo_rule("too_small", Severity.ERROR, Needs.FILE)
def too_small(photo: Photo, p: ValidateParams) -> Breach | None:
    if photo.width is None or photo.height is None:
        return None
    short = min(photo.width, photo.height)
    if short >= p.min_side:
        return None
    return Breach(
        f"the photo is {photo.width}×{photo.height} px; its shorter side {short} px is under "
        f"{p.min_side} px — hand in the camera's original, not a resized copy",
        value=f"{short} px",
        limit=f"≥ {p.min_side} px",
    )


@photo_rule("grayscale", Severity.ERROR, Needs.PIXELS)
def grayscale(photo: Photo, p: ValidateParams) -> Breach | None:
    assert photo.chroma is not None
    if photo.chroma > p.grayscale_max_chroma:
        return None
    return Breach(
        f"the photo is black and white or a single tint such as sepia (its colour beyond a tint "
        f"is {photo.chroma:.1f}, limit {p.grayscale_max_chroma:g}); hand in a colour photo "
        "without a black-and-white, sepia or vintage filter",
        value=f"{photo.chroma:.1f}",
        limit=f"> {p.grayscale_max_chroma:g}",
    )
