"""Who is in the photos: face embeddings, identities across the class, and their findings.

The model is dlib's face recognition ResNet (`dlib_face_recognition_resnet_model_v1.dat`, shipped
in the `face-recognition-models` package and read from disk; its author released it into the
public domain). It maps a 150 x 150 face chip, aligned from the face's 68 landmarks the way
`dlib.get_face_chip` aligns it, to 128 numbers. dlib's documentation (dlib.net,
face_recognition.py): "When using a distance threshold of 0.6, the dlib model obtains an accuracy
of 99.38% on the standard LFW face recognition benchmark": two photos whose embeddings lie closer
than 0.6 (Euclidean) show the same person. It was trained on about 3 million faces of 7485
people (FaceScrub, VGG and photos from the web), mostly adults; bench/identity_separation.py
measures how far that holds on the project's fixtures and calibration photos (README, RULES.md):
different children and different East Asian faces lie closer than other different people.

The 68 points come from `pipeline.landmarks.dense_landmarks` on MTCNN's box, the same fit the
face rules use, on the same reduced copy of the photo (`detect.long_side`), so no second
landmark model runs. Validate embeds only the photos it accepted, after judging them, and caches
each embedding per file content (`EmbeddingCache`): a re-run embeds nothing, a new photo one.

Identities are clusters of embeddings (`cluster`): average linkage, two groups of photos being
one person while the mean distance between them is below `validate.identities.
same_person_distance`. Not connected components (single linkage): in a class of 40 x 40 photos
one chance pair of different people closer than 0.6 among a million would chain them into one
person; not complete linkage either, which splits one person as soon as their two least alike
photos (another year, another light) are over the limit. The mean over all pairs moves little
for one stray pair either way.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import signal
import threading
from collections import defaultdict, deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from itertools import combinations, islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from pipeline.config import ValidateParams
from pipeline.findings import Finding, Severity
from pipeline.images import ImageError, decode
from pipeline.io import worker_count
from pipeline.landmarks import dense_landmarks, model_dir
from pipeline.progress import Progress, no_progress
from pipeline.submissions import SubmissionError

if TYPE_CHECKING:  # measure loads the face detector's modules; a worker process needs none
    from pipeline.measure import PhotoFile

T = TypeVar("T")

MODEL = "dlib_face_recognition_resnet_model_v1.dat"
CHIP_SIZE = 150  # the model's input, in pixels
CHIP_PADDING = 0.25  # dlib's default margin around the face, the one the model was trained with
DIMENSIONS = 128
RULE = "identity"
# Bump when the embedding of a photo changes (the chip, the model), so old cache entries are
# not reused; the measurement's own settings (detector, decode size) are in the key already.
EMBEDDING_VERSION = 2  # 2: the 68 points fitted upright (verdicts2)
CHUNK = 32  # photos decoded ahead of the network
BATCH = 8  # chips per call of the network (and per task of a worker process)
# dlib holds the GIL while its network runs (about 0.1 s a face on one core of the CI machine),
# so more than this many faces are embedded on worker processes, one per core; fewer do not pay
# for starting them (about half a second each).
POOL_MIN = 24
NAMES_SHOWN = 5  # file names a finding lists per person before "and N more"


@cache
def _model() -> Any:
    import dlib  # heavy: imported only by whoever embeds faces

    path = model_dir() / MODEL
    if not path.is_file():
        raise RuntimeError(f"dlib's face recognition model is missing: {path}")
    return dlib.face_recognition_model_v1(str(path))


def face_chip(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The CHIP_SIZE-px RGB chip the model reads, aligned by `dlib.get_face_chip` from the 68
    `points` (x, y in `image`'s pixels) of one face of the RGB uint8 `image`."""
    import dlib

    image = np.ascontiguousarray(image, dtype=np.uint8)
    parts = [dlib.point(round(float(x)), round(float(y))) for x, y in points]
    (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
    rect = dlib.rectangle(round(float(x0)), round(float(y0)), round(float(x1)), round(float(y1)))
    shape = dlib.full_object_detection(rect, parts)
    return dlib.get_face_chip(image, shape, size=CHIP_SIZE, padding=CHIP_PADDING)


def chip_of(image: np.ndarray, box: Sequence[float], roll: float = 0.0) -> np.ndarray:
    """The chip of the face in MTCNN box `box` (x1, y1, x2, y2 in `image`'s pixels) whose eye
    line leans by `roll` degrees (the 68 points fitted upright, as the face rules fit them)."""
    return face_chip(image, dense_landmarks(image, box, roll))


def embed(chips: Sequence[np.ndarray]) -> np.ndarray:
    """N x DIMENSIONS embeddings of N chips, in this process."""
    if not len(chips):
        return np.zeros((0, DIMENSIONS))
    batch = [np.ascontiguousarray(c, dtype=np.uint8) for c in chips]
    vectors = _model().compute_face_descriptor(batch)
    return np.stack([np.asarray(v, dtype=np.float64) for v in vectors])


def embed_all(chips: Iterable[tuple[T, np.ndarray]], count: int) -> Iterator[tuple[T, np.ndarray]]:
    """(key, embedding) for each of the `count` (key, chip) pairs of `chips`, in order, as they
    come: in this process, or on worker processes (one per core) when `count` is at least
    POOL_MIN. Workers are spawned, not forked: a fresh interpreter that imports this module and
    dlib only, whatever threads torch runs in this one."""
    batches = _batched(iter(chips), BATCH)
    workers = worker_count()
    if count < POOL_MIN or workers < 2:
        for batch in batches:
            keys, items = zip(*batch, strict=True)
            yield from zip(keys, embed(items), strict=True)
        return
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        pending: deque = deque()
        for batch in batches:
            keys, items = zip(*batch, strict=True)
            with _workers_ignore_ctrl_c():  # a submit may start a worker
                pending.append((keys, pool.submit(embed, list(items))))
            while len(pending) > 2 * workers:  # bounds the chips held in memory
                done_keys, future = pending.popleft()
                yield from zip(done_keys, future.result(), strict=True)
        for done_keys, future in pending:
            yield from zip(done_keys, future.result(), strict=True)


@contextmanager
def _workers_ignore_ctrl_c() -> Iterator[None]:
    """Ctrl-C reaches every process of the terminal's group. A process started while SIGINT is
    ignored keeps it ignored through exec, and Python then installs no KeyboardInterrupt for
    it, so a worker started in here never prints a traceback of its own, even in its start-up;
    the parent, which handles SIGINT again right after, stops the pool."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may change a signal's handler
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _batched(items: Iterator[T], size: int) -> Iterator[list[T]]:
    while batch := list(islice(items, size)):
        yield batch


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distance of every row of `a` to every row of `b`."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.sqrt(np.clip(squared, 0.0, None))


def cluster(embeddings: np.ndarray, same_person: float) -> np.ndarray:
    """A label per row (0, 1, ... in order of first appearance): average-linkage clusters whose
    mean pairwise distance is at most `same_person` (see the module docstring for why)."""
    n = len(embeddings)
    if n < 2:
        return np.zeros(n, dtype=np.int64)
    from scipy.cluster.hierarchy import fcluster, linkage  # 0.3 s to import; scikit-learn's 1.4

    raw = fcluster(linkage(np.asarray(embeddings, np.float64), method="average"),
                   t=same_person, criterion="distance")
    first: dict[int, int] = {}
    return np.array([first.setdefault(int(r), len(first)) for r in raw], dtype=np.int64)


# ---------------------------------------------------------------- the validate step


class EmbeddingCache:
    """One small .npy file per (settings, sha256), beside the measurements; safe to delete."""

    def __init__(self, root: Path | None, params: ValidateParams):
        from pipeline.measure import MeasureCache

        measured = MeasureCache(root, params).dir  # the box and points come from it
        settings = {"version": EMBEDDING_VERSION, "model": MODEL, "chip": CHIP_SIZE,
                    "padding": CHIP_PADDING, "measurement": measured.name if measured else None}
        key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
        self.dir = Path(root) / f"identities-{key}" if root is not None else None

    def _path(self, sha256: str) -> Path | None:
        return None if self.dir is None else self.dir / sha256[:2] / f"{sha256}.npy"

    def get(self, sha256: str) -> np.ndarray | None:
        path = self._path(sha256)
        if path is None:
            return None
        try:
            values = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None  # missing or unreadable: embed again
        ok = values.shape == (DIMENSIONS,) and values.dtype == np.float64
        return values if ok and np.isfinite(values).all() else None

    def put(self, sha256: str, embedding: np.ndarray) -> None:
        path = self._path(sha256)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        with tmp.open("wb") as fh:
            np.save(fh, np.asarray(embedding, dtype=np.float64), allow_pickle=False)
        os.replace(tmp, path)


@dataclass(frozen=True)
class AcceptedFace:
    """An accepted photo, its main face's MTCNN box (original pixels after EXIF rotation) and
    the lean of its eye line (degrees; MTCNN's 5 points), which the 68-point fit undoes."""

    file: PhotoFile
    box: tuple[float, float, float, float]
    roll: float = 0.0

    @property
    def key(self) -> tuple[str, str]:
        return self.file.student, self.file.file


@dataclass(frozen=True)
class Identities:
    """Who is in the accepted photos: an identity number (1, 2, ...) per photo recognised, and
    the findings about them."""

    of: dict[tuple[str, str], int]  # (student, file) -> identity
    findings: list[Finding]


NO_IDENTITIES = Identities({}, [])


def recognise(faces: Sequence[AcceptedFace], params: ValidateParams, cache_dir: Path | None,
              progress: Progress = no_progress, workers: int | None = None) -> Identities:
    """Embed the main face of every accepted photo (from the cache where possible), cluster the
    class into identities, and report people shared between students and students whose photos
    show several people. Nothing at all when `validate.identities.enabled` is false."""
    settings = params.identities
    if not settings.enabled or not faces:
        return NO_IDENTITIES
    embeddings, findings = _embeddings(faces, params, EmbeddingCache(cache_dir, params),
                                       progress, workers)
    keys = sorted(embeddings)
    vectors = np.stack([embeddings[k] for k in keys]) if keys else np.zeros((0, DIMENSIONS))
    labels = cluster(vectors, settings.same_person_distance)
    of = {k: int(label) + 1 for k, label in zip(keys, labels, strict=True)}
    findings += shared_people(of, embeddings, settings.same_person_distance,
                              Severity(settings.shared_severity))
    findings += several_people(of, Severity(settings.mixed_severity))
    return Identities(of, findings)


def _embeddings(faces: Sequence[AcceptedFace], params: ValidateParams, cache: EmbeddingCache,
                progress: Progress, workers: int | None
                ) -> tuple[dict[tuple[str, str], np.ndarray], list[Finding]]:
    found: dict[str, np.ndarray] = {}
    todo: dict[str, AcceptedFace] = {}
    for f in faces:
        sha = f.file.sha256
        if sha not in found and sha not in todo:
            cached = cache.get(sha)
            if cached is not None:
                found[sha] = cached
            else:
                todo[sha] = f
    problems: dict[str, str] = {}
    if todo:
        advance = progress("Recognising faces", len(todo))

        def chips() -> Iterator[tuple[str, np.ndarray]]:
            for sha, chip in _chips(list(todo.values()), params, workers):
                if isinstance(chip, str):
                    problems[sha] = chip
                    advance(1)
                else:
                    yield sha, chip

        for sha, embedding in embed_all(chips(), len(todo)):
            found[sha] = embedding
            cache.put(sha, embedding)
            advance(1)
    findings = [
        Finding(f.file.student, f.file.file, RULE, Severity.INFO,
                f"the face could not be recognised: {problems[f.file.sha256]}")
        for f in faces if f.file.sha256 in problems
    ]
    return {f.key: found[f.file.sha256] for f in faces if f.file.sha256 in found}, findings


def _chips(faces: list[AcceptedFace], params: ValidateParams, workers: int | None
           ) -> Iterator[tuple[str, np.ndarray | str]]:
    """(sha256, chip or why there is none) per face, in order: each photo decoded as the
    validator decodes it (so that MTCNN's box fits), on `workers` threads (Pillow and OpenCV
    release the GIL), a CHUNK at a time to bound memory."""

    def one(f: AcceptedFace) -> np.ndarray | str:
        try:
            d = decode(f.file.read(), max_pixels=params.max_pixels,
                       long_side=params.detect.long_side)
        except (ImageError, SubmissionError, OSError) as exc:
            return f"it could not be read again ({exc})"
        return chip_of(np.asarray(d.image), [v / d.scale for v in f.box], f.roll)

    with ThreadPoolExecutor(worker_count(workers)) as pool:
        for start in range(0, len(faces), CHUNK):
            chunk = faces[start:start + CHUNK]
            for f, chip in zip(chunk, pool.map(one, chunk), strict=True):
                yield f.file.sha256, chip


# ---------------------------------------------------------------- findings


def shared_people(of: Mapping[tuple[str, str], int], embeddings: Mapping[tuple[str, str],
                  np.ndarray], same_person: float, severity: Severity) -> list[Finding]:
    """For every person in the photos of two students, a finding in each submission naming the
    other student, the photos of both and the closest pair of them."""
    photos: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for (student, file), identity in sorted(of.items()):
        photos[identity][student].append(file)
    findings = []
    for identity, by_student in sorted(photos.items()):
        for a, b in combinations(sorted(by_student), 2):
            d = distances(*(np.stack([embeddings[s, f] for f in by_student[s]]) for s in (a, b)))
            ia, ib = np.unravel_index(int(np.argmin(d)), d.shape)
            closest = {a: by_student[a][ia], b: by_student[b][ib]}
            for me, other in ((a, b), (b, a)):
                theirs = _files(by_student[other], f"of {other}'s")
                message = (
                    f"person {identity} is in {_files(by_student[me], 'of your photos')} and in "
                    f"{theirs}: the same person, by face recognition (the closest pair, your "
                    f"{closest[me]} and {other}'s {closest[other]}, lies {d[ia, ib]:.2f} apart; "
                    f"same person below {same_person:g})")
                # passes (different people) when the distance is at least the same-person one
                findings.append(Finding(me, "", RULE, severity, message,
                                        quantity="face_distance", value=float(d[ia, ib]),
                                        limit=same_person, unit="embedding_distance",
                                        comparison=">=", related=f"{other}/{closest[other]}"))
    return findings


def several_people(of: Mapping[tuple[str, str], int], severity: Severity) -> list[Finding]:
    """For every student whose accepted photos show more than one person, a finding saying how
    many and which photos show whom."""
    by_student: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    for (student, file), identity in sorted(of.items()):
        by_student[student][identity].append(file)
    findings = []
    for student, people in sorted(by_student.items()):
        if len(people) < 2:
            continue
        order = sorted(people, key=lambda i: (-len(people[i]), i))
        total = sum(len(v) for v in people.values())
        who = "; ".join(f"person {i} in {_files(people[i], 'photos')}" for i in order)
        message = (f"your {total} accepted photos show {len(people)} different people (face "
                   f"recognition; the course asks for photos of one person): {who}")
        findings.append(Finding(student, "", RULE, severity, message, quantity="people",
                                value=len(people), limit=1, unit="count", comparison="<="))
    return findings


def _files(files: Sequence[str], what: str) -> str:
    """'2 of your photos (a.jpg, b.jpg)': how many, then the first NAMES_SHOWN names."""
    shown = ", ".join(files[:NAMES_SHOWN])
    more = f" and {len(files) - NAMES_SHOWN} more" if len(files) > NAMES_SHOWN else ""
    if what == "photos" and len(files) == 1:
        what = "photo"
    return f"{len(files)} {what} ({shown}{more})"


# ---------------------------------------------------------------- generated faces (evaluate)

MAX_PAIRS = 32  # side-by-side PNGs of the closest generated faces and their training people
PERCENTILES = (0, 5, 50, 95, 100)


@dataclass(frozen=True)
class FaceSet:
    """The embeddings of the faces found in a set of images."""

    embeddings: np.ndarray  # faces x DIMENSIONS
    image: np.ndarray  # faces: the image each face is the main face of
    images: int  # how many images were looked at


def face_set(faces: Iterable[tuple[int, np.ndarray, Sequence[float]]], count: int,
             images: int) -> FaceSet:
    """Embeddings of `count` faces, each given as (index of its image, the RGB uint8 image, the
    MTCNN box of its main face in that image's pixels), among `images` images."""
    chips = ((i, chip_of(image, box)) for i, image, box in faces)
    found = list(embed_all(chips, count))
    if not found:
        return FaceSet(np.zeros((0, DIMENSIONS)), np.zeros(0, np.int64), images)
    return FaceSet(np.stack([e for _, e in found]), np.array([i for i, _ in found]), images)


@dataclass(frozen=True)
class Likeness:
    """Each image's face against the training people: the distance to the nearest training
    face, and whose it is."""

    distance: np.ndarray  # per image; NaN where no face was found
    nearest: np.ndarray  # per image: the training image of the nearest face; -1 where no face
    same_person: float

    @property
    def faces(self) -> int:
        return int(np.count_nonzero(self.nearest >= 0))

    def matched(self) -> np.ndarray:
        """Images whose face is closer than `same_person` to a training face, closest first."""
        hits = np.flatnonzero(self.distance < self.same_person)  # NaN compares False
        return hits[np.argsort(self.distance[hits], kind="stable")]

    def fraction(self) -> float:
        """Of all the images (a face or not), those that show a training person."""
        return round(len(self.matched()) / len(self.distance), 6) if len(self.distance) else 0.0

    def summary(self) -> dict[str, Any]:
        found = self.distance[self.nearest >= 0]
        return {
            "images": len(self.distance), "faces": self.faces,
            "matched": len(self.matched()), "fraction": self.fraction(),
            "fraction_of_faces": (round(len(self.matched()) / self.faces, 6) if self.faces
                                  else None),
            "nearest_distance": ({f"p{p}": round(float(np.percentile(found, p)), 4)
                                  for p in PERCENTILES} if len(found) else None),
        }


def likeness(queries: FaceSet, reference: FaceSet, same_person: float) -> Likeness:
    """The nearest `reference` face of every image of `queries`."""
    distance = np.full(queries.images, np.nan)
    nearest = np.full(queries.images, -1, dtype=np.int64)
    if len(queries.embeddings) and len(reference.embeddings):
        d = distances(queries.embeddings, reference.embeddings)
        best = d.argmin(axis=1)
        distance[queries.image] = d[np.arange(len(best)), best]
        nearest[queries.image] = reference.image[best]
    return Likeness(distance, nearest, same_person)


def write_likeness_pairs(result: Likeness, generated: np.ndarray, train: np.ndarray,
                         train_keys: Sequence[str], out_dir: Path,
                         prefix: str = "identity") -> list[dict[str, Any]]:
    """Side by side (generated | nearest training crop) of the MAX_PAIRS generated faces
    closest to a training person, matched or not, as `<prefix>-NNN.png` in `out_dir` (images
    N x H x W x 3 uint8); one record per PNG."""
    found = np.flatnonzero(result.nearest >= 0)
    closest = found[np.argsort(result.distance[found], kind="stable")][:MAX_PAIRS]
    records = []
    for rank, i in enumerate(closest):
        j, d = int(result.nearest[i]), float(result.distance[i])
        same = d < result.same_person
        png = f"{prefix}-{rank:03d}.png"
        verdict = "same person" if same else "not the same person"
        _side_by_side(generated[i], train[j], f"{d:.2f}: {verdict}").save(out_dir / png)
        records.append({"generated": int(i), "train": train_keys[j], "distance": round(d, 4),
                        "same_person": bool(same), "png": png})
    return records


def _side_by_side(a: np.ndarray, b: np.ndarray, caption: str) -> Any:
    from PIL import Image  # here: a worker process that embeds needs neither PIL nor torch

    from pipeline.memorization import pair_sheet

    return pair_sheet(*(Image.fromarray(np.ascontiguousarray(x)) for x in (a, b)), caption,
                      Image.Resampling.LANCZOS)
