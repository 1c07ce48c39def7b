"""The crop stage: one aligned, square face crop per accepted photo, FFHQ-style.

The oriented square ("quad") comes from the 5 MTCNN landmarks exactly as in FFHQ's
`recreate_aligned_images` (NVlabs/ffhq-dataset): its sides follow the eye line, its size is the
larger of 2 x eye distance and 1.8 x eye-to-mouth distance, its centre sits a tenth of the way from
the eye centre to the mouth centre. Where the quad leaves the photo, the photo is mirrored
(reflect padding) and, as FFHQ does, the mirrored part is blurred and faded towards the median
colour so that the GAN does not learn mirrored ears and shoulders.

Only as much resolution as the crop needs is decoded: the photo is decoded so that the quad
spans about 2 x `crop.size` pixels (JPEG DCT scaling makes this cheap), warped at that size with
bicubic sampling and reduced to `crop.size` with Lanczos, a proper anti-aliased 2:1 reduction.
Photos are read, decoded, warped and PNG-encoded on a pool of threads (one per core: Pillow,
OpenCV and zlib release the GIL); the crops are written, checked and indexed in the order of
accepted.csv, so the outputs do not depend on the number of threads.

Outputs, all under the stage's output folder (default `data/processed/crops/`):
`<student>/<file without extension>.png` (RGB, lossless, no metadata), `index.csv` (student,
file, crop, then the attribute columns of accepted.csv, one row per crop written),
`failures.csv` (student, file, error) and `contact_sheet.png` (the first `crop.sheet_count`
crops as thumbnails).
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
from PIL import Image

from pipeline.config import CropParams
from pipeline.formats.accepted import LANDMARK_COLUMNS, read_accepted
from pipeline.formats.crops import CONTACT_SHEET, write_crops_index, write_failures
from pipeline.images import decode
from pipeline.io import atomic_path, worker_count
from pipeline.progress import Progress, no_progress, track
from pipeline.submissions import read_member

SUPERSAMPLE = 2  # render the quad at this multiple of the output size, then reduce with Lanczos
SHEET_THUMB = 128


class CropError(ValueError):
    """One photo cannot be cropped; the message says why."""


@dataclass(frozen=True)
class Quad:
    """An oriented square in image pixels (pixel centres at integer coordinates)."""

    center: np.ndarray  # (2,)
    x: np.ndarray  # half of the top side, pointing to the crop's right
    y: np.ndarray  # half of the left side, pointing down the crop

    @property
    def size(self) -> float:
        return 2.0 * float(np.hypot(*self.x))

    def scaled(self, factor: float) -> Quad:
        return Quad(self.center * factor, self.x * factor, self.y * factor)


def face_quad(landmarks: np.ndarray) -> Quad:
    """FFHQ's oriented crop square from 5 landmarks (left eye, right eye, nose, mouth corners)."""
    lm = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    eye_left, eye_right, _nose, mouth_left, mouth_right = lm
    eye_avg = (eye_left + eye_right) * 0.5
    eye_to_eye = eye_right - eye_left
    mouth_avg = (mouth_left + mouth_right) * 0.5
    eye_to_mouth = mouth_avg - eye_avg
    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    norm = np.hypot(*x)
    if not np.isfinite(norm) or norm < 1e-6:
        raise CropError("the landmarks are degenerate (eyes and mouth coincide)")
    x /= norm
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1, 1]
    center = eye_avg + eye_to_mouth * 0.1
    return Quad(center, x, y)


def align(image: Image.Image, quad: Quad, size: int) -> Image.Image:
    """Sample `quad` of `image` into a `size` x `size` RGB image, reflect-padding outside it."""
    render = size * SUPERSAMPLE
    src = np.asarray(image.convert("RGB"))
    corner = quad.center - quad.x - quad.y
    # Affine map from output pixel centres (u, v) to source coordinates.
    ax, ay = 2.0 * quad.x / render, 2.0 * quad.y / render
    matrix = np.stack([ax, ay, corner + 0.5 * (ax + ay)], axis=1).astype(np.float64)
    out = cv2.warpAffine(src, matrix, (render, render),
                         flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_REFLECT_101)
    out = _soften_padding(out, matrix, src.shape[1], src.shape[0], quad.size)
    return Image.fromarray(out, "RGB").resize((size, size), Image.Resampling.LANCZOS)


def _soften_padding(out: np.ndarray, matrix: np.ndarray, width: int, height: int,
                    qsize: float) -> np.ndarray:
    """FFHQ's treatment of mirrored borders: blur them and fade them to the median colour."""
    render = out.shape[0]
    grid = np.arange(render, dtype=np.float64)
    u, v = np.meshgrid(grid, grid)
    sx = matrix[0, 0] * u + matrix[0, 1] * v + matrix[0, 2]
    sy = matrix[1, 0] * u + matrix[1, 1] * v + matrix[1, 2]
    # Signed distance beyond the photo's edge along each axis, in units of FFHQ's pad width
    # (0.3 quad sizes): 0 on the edge, 1 at the pad's outer end, negative inside.
    pad = 0.3 * qsize
    mask = np.maximum(np.maximum(-sx, sx - (width - 1)), np.maximum(-sy, sy - (height - 1))) / pad
    if mask.max() <= 0:
        return out
    img = out.astype(np.float32)
    blurred = cv2.GaussianBlur(img, (0, 0), sigmaX=0.02 * render)
    img += (blurred - img) * np.clip(mask * 3.0 + 1.0, 0.0, 1.0)[..., None].astype(np.float32)
    median = np.median(img, axis=(0, 1))
    img += (median - img) * np.clip(mask, 0.0, 1.0)[..., None].astype(np.float32)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def landmarks_of(row: dict[str, str]) -> np.ndarray:
    """The 5 landmarks of an accepted.csv row as a 5 x 2 array; CropError when one is missing."""
    try:
        values = [float(row[column]) for column in LANDMARK_COLUMNS]
    except (KeyError, TypeError, ValueError):
        raise CropError("the row has no usable landmarks (re-run validate)") from None
    lm = np.array(values, dtype=np.float64).reshape(5, 2)
    if not np.isfinite(lm).all():
        raise CropError("the row has no usable landmarks (re-run validate)")
    return lm


def crop_photo(data: bytes, landmarks: np.ndarray, size: int, max_pixels: int,
               long_side: int | None = None) -> Image.Image:
    """The aligned crop of one photo; `landmarks` in original pixels after EXIF orientation.

    `long_side` is the photo's longer side after orientation (from the manifest); when given, the
    photo is decoded only as large as the crop needs.
    """
    quad = face_quad(landmarks)
    target = None
    if long_side:
        needed = math.ceil(long_side * size * SUPERSAMPLE / quad.size)
        target = needed if needed < long_side else None
    decoded = decode(data, max_pixels=max_pixels, long_side=target)
    return align(decoded.image, quad.scaled(1.0 / decoded.scale), size)


def crop_name(file: str) -> PurePosixPath:
    """Where a photo's crop goes inside its student's folder: the name with `.png`."""
    path = PurePosixPath(file)
    if path.is_absolute() or ".." in path.parts or not path.name:
        raise CropError(f"{file!r} is not a plain file name inside the submission")
    return path.with_suffix(".png")


@dataclass(frozen=True)
class _Made:
    png: bytes
    thumb: Image.Image  # for the contact sheet


def _make(row: dict[str, str], submissions_root: Path, size: int,
          max_pixels: int) -> _Made | Exception:
    """One photo's crop as PNG bytes, or the exception that stopped it (raised later, in order)."""
    try:
        data = read_member(submissions_root, row["source"], row["member"])
        crop = crop_photo(data, landmarks_of(row), size, max_pixels, _long_side(row))
        buf = io.BytesIO()
        crop.save(buf, format="PNG")
        return _Made(buf.getvalue(),
                     crop.resize((SHEET_THUMB, SHEET_THUMB), Image.Resampling.LANCZOS))
    except Exception as exc:  # one bad photo must not stop the others
        return exc


def run_crop(accepted_csv: Path, submissions_root: Path, out_dir: Path, params: CropParams,
             max_pixels: int, workers: int | None = None,
             progress: Progress = no_progress) -> dict[str, float]:
    """Crop every photo of accepted.csv into `out_dir` (replaced as a whole when done).

    A photo that cannot be read or cropped is listed in failures.csv; the others go on.
    `workers`: threads (default: one per core). Returns counts and throughput for metrics.
    """
    attribute_columns, rows = read_accepted(Path(accepted_csv))
    out_dir = Path(out_dir)
    index: list[dict[str, str]] = []
    failures: list[dict[str, str]] = []
    sheet: list[Image.Image] = []
    seen: dict[str, str] = {}  # crop path -> the photo it was made from
    start = time.perf_counter()
    make = partial(_make, submissions_root=Path(submissions_root), size=params.size,
                   max_pixels=max_pixels)
    with atomic_path(out_dir) as tmp, ThreadPoolExecutor(workers or worker_count()) as pool:
        tmp.mkdir(parents=True)
        for row, made in track(zip(rows, pool.map(make, rows), strict=True), progress, "crop",
                               len(rows)):
            student, file = row.get("student", ""), row.get("file", "")
            try:
                rel = PurePosixPath(student) / crop_name(file)
                if not student or "/" in student or student.startswith("."):
                    raise CropError(f"{student!r} is not a usable student id")
                if rel.as_posix() in seen:
                    raise CropError(f"its crop would overwrite that of {seen[rel.as_posix()]} "
                                    "(same name, other extension); rename one of them")
                if isinstance(made, Exception):
                    raise made
            except Exception as exc:
                failures.append({"student": student, "file": file, "error": _message(exc)})
                continue
            seen[rel.as_posix()] = file
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(made.png)
            index.append({"student": student, "file": file, "crop": rel.as_posix(),
                          **{c: row[c] for c in attribute_columns}})
            if len(sheet) < params.sheet_count:
                sheet.append(made.thumb)
        seconds = time.perf_counter() - start
        write_crops_index(tmp, index, attribute_columns)
        write_failures(tmp, failures)
        contact_sheet(sheet).save(tmp / CONTACT_SHEET, format="PNG")
    return {
        "photos": len(rows),
        "crops": len(index),
        "failed": len(failures),
        "seconds": round(seconds, 3),
        "crops_per_second": round(len(index) / seconds, 2) if seconds > 0 else 0.0,
    }


def contact_sheet(thumbs: Sequence[Image.Image]) -> Image.Image:
    """The thumbnails on a grid, row by row (a grey tile when there are none)."""
    if not thumbs:
        return Image.new("RGB", (SHEET_THUMB, SHEET_THUMB), (128, 128, 128))
    cols = math.ceil(math.sqrt(len(thumbs)))
    rows = math.ceil(len(thumbs) / cols)
    sheet = Image.new("RGB", (cols * SHEET_THUMB, rows * SHEET_THUMB), (128, 128, 128))
    for i, thumb in enumerate(thumbs):
        sheet.paste(thumb, ((i % cols) * SHEET_THUMB, (i // cols) * SHEET_THUMB))
    return sheet


def _long_side(row: dict[str, str]) -> int | None:
    try:
        return max(int(row["width"]), int(row["height"]))
    except (KeyError, TypeError, ValueError):
        return None  # decode at full size; slower, same result


def _message(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"{exc.args[0]!r} was not found in the submission (was it changed after validate?)"
    if isinstance(exc, FileNotFoundError):
        return f"{exc.filename} was not found (was the submission changed after validate?)"
    return str(exc) or type(exc).__name__
