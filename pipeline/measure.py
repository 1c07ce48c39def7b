"""Measure photos once: format, size, colour, perceptual hash, faces. Rules only judge these.

Measurements are cached per file under `.facedata-cache/`, keyed by the file's sha256 and by the
settings that change what is measured (decode size, detector settings) — not by the limits the
rules apply. A second run over an unchanged class therefore only hashes files, and changing a
limit re-judges without decoding or detecting again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import imagehash
import numpy as np

from pipeline.config import ValidateParams
from pipeline.faces import Face, FaceReport
from pipeline.images import DECODABLE, ImageError, decode
from pipeline.io import worker_count

if TYPE_CHECKING:
    from pipeline.attributes import AttributeResult

# Bump when the measuring code changes what it records, so old cache entries are not reused.
# 2: dense landmarks (pose, head size, blur, cheeks, mouth) and the photo's tonal range.
# 3: faces found in the photo and its mirror image; colour beyond a tint; brows, eyes, lips.
# 4: faces looked for inside a border (faces cut by the edge), the main one the largest in view.
MEASURE_VERSION = 4
# Photos decoded at a time, one such chunk ahead of the face detector; bounds memory to a few
# MB per photo. As many as MTCNN takes in one batch (`detect.batch_size`, 16 by default).
CHUNK = 16
# Colour is read on the 640 px copy shrunk this many times (area average): JPEG keeps chroma at
# half resolution and smears it across edges, which in a toned monochrome photo would read as
# colour that does not follow brightness. Brightness is cut into this many bands.
COLOUR_SHRINK = 4
COLOUR_BANDS = 32


@dataclass(frozen=True)
class Photo:
    """Everything the photo rules look at, for one submitted file."""

    student: str
    file: str
    sha256: str
    bytes: int
    format: str  # by content: JPEG, PNG, HEIC, WebP, GIF, ..., or "unknown"
    width: int | None = None  # after EXIF orientation; None when the header is unreadable
    height: int | None = None
    error: str | None = None  # why the photo could not be decoded to the end
    chroma: float | None = None  # colour beyond a tint (`colourfulness`), CIELAB units
    phash: str | None = None
    faces: FaceReport | None = None
    tones: Tones | None = None  # the whole photo's luma range, measured before detection

    @property
    def decoded(self) -> bool:
        return self.error is None and self.chroma is not None

    @property
    def main_face(self) -> Face | None:
        if self.faces is None or not self.faces.faces:
            return None
        return self.faces.faces[0]


@dataclass(frozen=True)
class Tones:
    """Luma (BT.601, 0-255) of the whole decoded photo: where its darkest and brightest 1 % lie.
    It says "too dark" or "washed out" even when no face can be found."""

    shadows: float  # 1st percentile: 1 % of the pixels are at or below it
    highlights: float  # 99th percentile


@dataclass(frozen=True)
class Measurement:
    """The cached part of a Photo: what depends only on the file's bytes and the settings."""

    error: str | None = None
    chroma: float | None = None
    phash: str | None = None
    faces: FaceReport | None = None
    tones: Tones | None = None

    def to_json(self) -> str:
        data = asdict(self)
        data["faces"] = self.faces.to_dict() if self.faces is not None else None
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> Measurement:
        data = json.loads(text)
        faces, tones = data.pop("faces"), data.pop("tones")
        return cls(**data, faces=FaceReport.from_dict(faces) if faces is not None else None,
                   tones=Tones(**tones) if tones is not None else None)


@dataclass(frozen=True)
class Decoding:
    """What decoding one file gave: its measurement so far and, when it decoded, the reduced
    pixels (RGB uint8) the face detector still has to look at, with their scale."""

    measurement: Measurement
    pixels: np.ndarray | None = None
    scale: float = 1.0


@dataclass(frozen=True)
class PhotoFile:
    """What measuring needs to know about a file before reading it."""

    student: str
    file: str
    sha256: str
    bytes: int
    format: str
    width: int | None
    height: int | None
    read: Callable[[], bytes]


@dataclass
class StudentData:
    student: str
    photos: list[Photo] = field(default_factory=list)
    attributes: AttributeResult | None = None  # once the table is parsed


@dataclass
class ClassData:
    students: dict[str, StudentData]


class MeasureCache:
    """One small JSON file per (settings, sha256) under `root`; safe to delete at any time."""

    def __init__(self, root: Path | None, params: ValidateParams):
        settings = {
            "version": MEASURE_VERSION,
            "max_pixels": params.max_pixels,
            "detect": asdict(params.detect) | {"device": None, "batch_size": None},
        }
        key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
        self.dir = Path(root) / key if root is not None else None

    def get(self, sha256: str) -> Measurement | None:
        if self.dir is None:
            return None
        path = self.dir / sha256[:2] / f"{sha256}.json"
        try:
            return Measurement.from_json(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, TypeError, KeyError):
            return None  # missing or unreadable: measure again

    def put(self, sha256: str, m: Measurement) -> None:
        if self.dir is None:
            return
        path = self.dir / sha256[:2] / f"{sha256}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(m.to_json(), encoding="utf-8")
        os.replace(tmp, path)


def measure_photos(
    files: list[PhotoFile],
    params: ValidateParams,
    cache: MeasureCache,
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
) -> list[Photo]:
    """Measure every file, from the cache where possible; same order as `files`. `workers`
    threads decode (default: one per core); the measurements do not depend on how many."""
    results: dict[str, Measurement] = {}
    todo: dict[str, PhotoFile] = {}
    for f in files:
        if f.sha256 in results or f.sha256 in todo:
            continue
        cached = cache.get(f.sha256)
        if cached is not None:
            results[f.sha256] = cached
        else:
            todo[f.sha256] = f
    copies = Counter(f.sha256 for f in files)
    if progress:
        progress(len(files) - sum(copies[sha] for sha in todo))
    if todo:
        for sha, m in _measure_new(list(todo.values()), params, workers):
            cache.put(sha, m)
            results[sha] = m
            if progress:
                progress(copies[sha])
    return [_photo(f, results[f.sha256]) for f in files]


def _photo(f: PhotoFile, m: Measurement) -> Photo:
    return Photo(f.student, f.file, f.sha256, f.bytes, f.format, f.width, f.height, m.error,
                 m.chroma, m.phash, m.faces, m.tones)


def _measure_new(
    files: list[PhotoFile], params: ValidateParams, workers: int | None = None
) -> Iterator[tuple[str, Measurement]]:
    """Decode in threads (Pillow does not hold the GIL) one chunk ahead of the face detector:
    the first chunk decodes while torch, the MTCNN weights and dlib's model load, each next one
    while the chunk before it is detected."""
    from pipeline.faces import FaceAnalyzer  # loads torch and the MTCNN weights

    chunks = list(_chunks(files, CHUNK))
    with ThreadPoolExecutor(worker_count(workers)) as pool:
        def ahead(i: int) -> list[Future[Decoding]]:
            return [pool.submit(decode_for_measuring, f, params)
                    for f in (chunks[i] if i < len(chunks) else [])]

        pending = ahead(0)
        analyzer = FaceAnalyzer(params.detect)
        for i, chunk in enumerate(chunks):
            decoded = [job.result() for job in pending]
            pending = ahead(i + 1)
            ok = [d for d in decoded if d.pixels is not None]
            reports = iter(analyzer.analyse([d.pixels for d in ok], [d.scale for d in ok])
                           if ok else [])
            for f, d in zip(chunk, decoded, strict=True):
                m = d.measurement
                yield f.sha256, m if d.pixels is None else replace(m, faces=next(reports))


def decode_for_measuring(f: PhotoFile, params: ValidateParams) -> Decoding:
    """Decode as the validator does (`pipeline.images.decode` reduced to `detect.long_side`) and
    measure what needs no face: colour, perceptual hash, tonal range."""
    if f.format not in DECODABLE:
        return Decoding(Measurement())
    try:
        d = decode(f.read(), max_pixels=params.max_pixels, long_side=params.detect.long_side)
    except ImageError as exc:
        return Decoding(Measurement(error=str(exc)))
    except OSError as exc:
        return Decoding(Measurement(error=f"the file could not be read ({exc})"))
    pixels = np.asarray(d.image)
    chroma = colourfulness(pixels)
    # percentiles from the histogram: a sort of 300 000 pixels would cost 15 times as much
    counts = np.bincount(cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY).ravel(), minlength=256)
    shadows, highlights = np.searchsorted(counts.cumsum(), [0.01 * counts.sum(),
                                                            0.99 * counts.sum()])
    m = Measurement(chroma=round(chroma, 3), phash=str(imagehash.phash(d.image)),
                    tones=Tones(float(shadows), float(highlights)))
    return Decoding(m, pixels, d.scale)


def colourfulness(pixels: np.ndarray) -> float:
    """How much colour an RGB uint8 photo has beyond a tint, in CIELAB units (a*, b*).

    A monochrome photo, toned or not (sepia, selenium, a cold cast, a yellowed scan), has one
    colour for each brightness: its chroma is a function of its lightness. So each pixel's chroma
    is compared with the mean chroma of all pixels of its lightness (L* in COLOUR_BANDS bands),
    and the number is the root mean square of the difference: 0 for a grey or toned photo (up to
    JPEG's noise), and the more, the more differently coloured things of the same brightness
    the photo shows (skin against a grey wall, a blue shirt, green leaves)."""
    h, w = pixels.shape[:2]
    small = cv2.resize(np.ascontiguousarray(pixels, dtype=np.uint8),
                       (max(1, w // COLOUR_SHRINK), max(1, h // COLOUR_SHRINK)),
                       interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float64)
    band = np.minimum(lab[:, 0].astype(np.int64) * COLOUR_BANDS // 256, COLOUR_BANDS - 1)
    count = np.maximum(np.bincount(band, minlength=COLOUR_BANDS), 1)
    spread = 0.0
    for channel in (lab[:, 1], lab[:, 2]):  # 8-bit a*, b*: offset by 128, which cancels here
        mean = np.bincount(band, channel, COLOUR_BANDS) / count
        spread += float(np.mean((channel - mean[band]) ** 2))
    return spread ** 0.5


def _chunks(items: list, size: int) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
