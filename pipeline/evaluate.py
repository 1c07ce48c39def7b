"""The evaluate stage: how good, how face-like and how original the generator's images are.

Reads the generator (`models/generator.pt`), the shards' `index.json` and the shards of
`evaluate.split` (the real set, val by default: students the generator never saw) and of train
(for the memorization check; only the crops themselves, copy 0, not their augmented copies).
Writes, to the paths it is given, the headline metrics (`metrics/evaluate.json`) and their
details (every number, the notes and the conventions: `pipeline.formats.metrics`), a grid of
the first SAMPLE_GRID generated images (`reports/samples.png`) and the memorization folder
(`reports/memorization/`: side-by-side PNGs of flagged near-copies, `pairs.json`).

Measures, each a function registered by name (`register_measure`, as StyleGAN2-ADA's
`metric_main` registers its metrics), run in the order registered through `calc_measure`, which
times it; each sees one `Context` and returns its part of the record (values, the notes that
explain them, the conventions behind them). Writing images is not a measure's job:
`write_images` does it afterwards. Each next to the conventions that change it:

- FID, KID and Inception Score (`pipeline.metrics_fid`) of `evaluate.samples` generated images
  against the real set; null with the reason when Inception's weights cannot be had or when
  there are too few samples for FID. The stage fails instead only with
  `evaluate.require_fid: true`.
- Face detection rate: the fraction of images in which the validator's detector
  (`pipeline.faces.FaceAnalyzer` with the `validate.detect` settings) finds a face, on the
  generated images and, as the reference, on the real set; images are upscaled to DETECT_SIZE px
  first (MTCNN's pyramid starts at `min_face_size`: a 32-px crop is too small for it), and the
  mean |yaw|, |pitch|, |roll| of the largest face in each, from its landmarks.
- Memorization (`pipeline.memorization`): nearest training crop in pixels, normalised 32-px
  pixels and Inception features.
- Identity (`pipeline.identities`, with `validate.identities`): is a generated face one of the
  training people, in another pose or light? dlib's face embedding of every generated image in
  which the detection measure found a face (upscaled to DETECT_SIZE), against the embeddings of
  the training crops at the size they are stored in; `identity_match_fraction` is the fraction of
  generated images closer than the same-person distance to a training face. The model was
  trained on photos, not on 32- or 64-px faces blown up, so the stage measures what it can still
  tell at the model's resolution on real faces, as it does for the detection rate: the training
  crops themselves reduced to the model's resolution (they must read as training people) and the
  real set's (other people: they must not). The details go to `identities.json` and
  `identity-NNN.png` pairs in the memorization folder.

All images meet at the model's resolution: the real crops (stored at `crop.size`) are reduced to
it with the shards' one resize (`pipeline.formats.shards.RESIZE`, PIL's Lanczos), the generated
ones are used as they come out, quantised to uint8. For the conditional model the conditions
are drawn (seeded) from the training crops' own condition vectors, so the generated set has the
attribute mix of the training set.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from pipeline.config import DetectParams, EvaluateParams, IdentitiesParams
from pipeline.devices import resolve_device
from pipeline.faces import FaceAnalyzer
from pipeline.formats.common import FormatError
from pipeline.formats.metrics import Record, write_record
from pipeline.formats.shards import RESIZE, read_index, read_split
from pipeline.gan.checkpoint import encoding_of, load_generator
from pipeline.gan.samples import grid_image, sample, save_png
from pipeline.identities import FaceSet, Likeness, face_set, likeness, write_likeness_pairs
from pipeline.io import atomic_path
from pipeline.memorization import (
    NEAR_COPY_RULE,
    Memorization,
    check_memorization,
    mirrored,
    unit_embedding,
)
from pipeline.memorization import write_pairs as write_memorization_pairs
from pipeline.metrics_fid import (
    CONVENTIONS,
    FEATURE_DIM,
    Inception,
    Score,
    extract_features,
    frechet_distance,
    inception_score,
    kernel_distance,
    load_inception,
)
from pipeline.progress import Advance, Progress, no_progress

DETECT_SIZE = 160
DETECT_BATCH = 64
IDENTITIES_JSON = "identities.json"
SAMPLE_GRID = 64
UNAVAILABLE = ("unavailable: no Inception weights (the note on inception says why and where to "
               "put them)")

class EvaluateError(ValueError):
    """The stage cannot run as configured; the message says what to change."""


@dataclass(frozen=True)
class RealSet:
    """Crops of one split at the model's resolution."""

    images: torch.Tensor  # uint8 N x 3 x R x R
    keys: list[str]  # "student/file" per crop
    conditions: torch.Tensor | None  # N x width, from the shards' json; None if absent
    stored_size: int  # side of the crops as stored in the shards
    students: int


def load_split(shards_dir: Path, split: str, resolution: int) -> RealSet:
    """The original crops (copy 0) of `split`, reduced to `resolution` with the shards' RESIZE."""
    try:
        index = read_index(shards_dir)
        info = index.split(split)
        if not info.get("originals"):
            note = index.note
            raise EvaluateError(f"the {split} split has no crops{': ' + note if note else ''}; "
                                "set evaluate.split to a split that has some")
        crops = read_split(index, split, resolution, originals_only=True)
    except FormatError as exc:
        raise EvaluateError(str(exc)) from None
    keys = [f"{s}/{f}" for s, f in zip(crops.students, crops.files, strict=True)]
    has_conditions = all(c is not None for c in crops.conditions)
    return RealSet(
        images=torch.from_numpy(crops.images).permute(0, 3, 1, 2).contiguous(),
        keys=keys,
        conditions=torch.tensor(crops.conditions, dtype=torch.float32) if has_conditions else None,
        stored_size=crops.stored_size,
        students=len(set(crops.students)),
    )


@dataclass(frozen=True)
class Detection:
    rate: float
    images: int
    faces: int
    mean_abs_yaw: float | None
    mean_abs_pitch: float | None
    mean_abs_roll: float | None
    # the largest face's box in each image, in the pixels it was detected at; None: no face
    boxes: list[tuple[float, float, float, float] | None] = field(default_factory=list)


def upscaled(images: torch.Tensor, size: int = DETECT_SIZE) -> Iterator[list[np.ndarray]]:
    """uint8 N x 3 x R x R images as H x W x 3 arrays at `size` px (bilinear, as the detector
    sees them), DETECT_BATCH at a time."""
    for start in range(0, len(images), DETECT_BATCH):
        batch = images[start:start + DETECT_BATCH]
        if batch.shape[-1] != size or batch.shape[-2] != size:
            batch = F.interpolate(batch.float(), size=(size, size), mode="bilinear",
                                  align_corners=False).clamp(0, 255).round().to(torch.uint8)
        yield list(batch.permute(0, 2, 3, 1).numpy())


def detect_faces(images: torch.Tensor, analyzer: FaceAnalyzer,
                 advance: Advance | None = None, size: int = DETECT_SIZE) -> Detection:
    """The validator's detector on uint8 N x 3 x R x R images upscaled to `size` px
    (bilinear): the fraction with a face above its probability limit, and the mean absolute
    pose of the largest face in each. `advance(n)` after each batch."""
    poses = []
    boxes: list[tuple[float, float, float, float] | None] = []
    for arrays in upscaled(images, size):
        for report in analyzer.analyse(arrays, [1.0] * len(arrays)):
            boxes.append(report.faces[0].box if report.faces else None)
            if report.faces:
                pose = report.faces[0].pose
                poses.append((abs(pose.yaw), abs(pose.pitch), abs(pose.roll)))
        if advance is not None:
            advance(len(arrays))
    means = np.mean(poses, axis=0).round(3).tolist() if poses else [None, None, None]
    found = len(poses)
    return Detection(round(found / len(images), 6), len(images), found, *means, boxes)


@dataclass
class Context:
    """What every measure sees (StyleGAN2-ADA's MetricOptions): the generated and real images,
    the settings, and what an earlier measure leaves for a later one."""

    fake: torch.Tensor  # uint8 N x 3 x R x R, generated
    real: RealSet
    train: RealSet
    params: EvaluateParams
    detect: DetectParams
    inception: Inception
    device: torch.device
    conditioned: bool  # the generator was given conditions drawn from the training crops
    progress: Progress
    # Inception embeddings (generated, train, mirrored train) for the memorization check
    spaces: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = field(
        default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)  # space -> why it was skipped
    memorization: Memorization | None = None  # for the pair images
    # the identity check: its settings, the training crops at the size they are stored in, the
    # detection measure's faces (generated, real) and the result, for identities.json
    identities: IdentitiesParams | None = None
    reference: RealSet | None = None
    boxes: dict[str, list[tuple[float, float, float, float] | None]] = field(
        default_factory=dict)
    identity: IdentityCheck | None = None

    @cached_property
    def analyzer(self) -> FaceAnalyzer:
        """The validator's detector on this run's device, one for every measure that detects."""
        return FaceAnalyzer(replace(self.detect, device=str(self.device)))


Measure = Callable[[Context], Record]
MEASURES: dict[str, Measure] = {}  # name -> measure, run in the order registered


def register_measure(fn: Measure) -> Measure:
    MEASURES[fn.__name__] = fn
    return fn


def calc_measure(name: str, context: Context, timing: dict[str, float]) -> Record:
    """The record of measure `name`, with the seconds it took put into `timing`."""
    started = time.perf_counter()
    result = MEASURES[name](context)
    timing[name] = time.perf_counter() - started
    return result


@register_measure
def inception(c: Context) -> Record:
    """FID, KID and IS against the real set; leaves Inception's embeddings for memorization."""
    if c.inception.available:
        assert c.inception.module is not None

        def features(images: torch.Tensor, name: str) -> Any:
            advance = c.progress(f"Inception features: {name}", len(images))
            return extract_features(c.inception.module, images, c.device, advance=advance)

        f_real = features(c.real.images, f"{c.params.split} crops")
        f_fake = features(c.fake, "generated")
        record = _inception_record(f_real, f_fake, c.params.seed)
        f_train = f_real if c.train is c.real else features(c.train.images, "train crops")
        f_mirror = features(mirrored(c.train.images), "mirrored train crops")
        c.spaces["inception"] = (unit_embedding(f_fake.pool), unit_embedding(f_train.pool),
                                 unit_embedding(f_mirror.pool))
    else:
        record = _inception_record(None, None, c.params.seed)
        c.unavailable["inception"] = UNAVAILABLE
    record.values["inception"] = {"available": c.inception.available,
                                  "weights": c.inception.source, "sha256": c.inception.sha256}
    if c.inception.reason:
        record.notes["inception"] = c.inception.reason
    return record


@register_measure
def detection(c: Context) -> Record:
    """The face detection rate and pose of the generated images, and of the real set."""
    analyzer = c.analyzer
    got = detect_faces(c.fake, analyzer, c.progress("Face detection: generated", len(c.fake)))
    ref = detect_faces(c.real.images, analyzer,
                       c.progress(f"Face detection: {c.params.split} crops", len(c.real.images)))
    c.boxes.update(generated=got.boxes, real=ref.boxes)
    values = {"detection": {
        "rate": got.rate, "rate_real": ref.rate, "prob_limit": c.detect.face_prob,
        "faces": got.faces, "faces_real": ref.faces,
        "mean_abs_yaw": got.mean_abs_yaw, "mean_abs_pitch": got.mean_abs_pitch,
        "mean_abs_roll": got.mean_abs_roll, "mean_abs_yaw_real": ref.mean_abs_yaw,
        "mean_abs_pitch_real": ref.mean_abs_pitch, "mean_abs_roll_real": ref.mean_abs_roll,
        "upscaled_to": DETECT_SIZE,
    }}
    notes = {"detection.rate_real": "the same detector on the real crops: what a perfect "
             "generator would reach"}
    return Record(values, notes)


@register_measure
def memorization(c: Context) -> Record:
    """The nearest training crop of every generated image, in each space."""
    c.memorization = check_memorization(c.fake, c.train.images, c.spaces, c.unavailable)
    notes = {f"memorization.{space}": why for space, why in c.memorization.unavailable.items()}
    return Record({"memorization": c.memorization.summary()}, notes,
                  {"near_copy_rule": NEAR_COPY_RULE})


@dataclass(frozen=True)
class IdentityCheck:
    """Generated faces against the training people, and the same check on real crops at the
    model's resolution: the training crops themselves and the real set's other people."""

    generated: Likeness
    checks: dict[str, Likeness]  # "train", and the real set's split when it is not train
    reference: FaceSet
    reference_size: int
    same_person: float

    def report(self, train_keys: list[str], resolution: int) -> dict[str, Any]:
        """identities.json, but the pairs."""
        return {
            "same_person_distance": self.same_person,
            "model": "dlib_face_recognition_resnet_model_v1: 99.38 % of LFW's pairs right at "
                     "0.6 (dlib's figure), on photos",
            "reference": (f"{len(self.reference.embeddings)} faces found in the "
                          f"{self.reference.images} original training crops, at "
                          f"{self.reference_size} px"),
            "generated": {**self.generated.summary(), "at": f"{resolution} px, upscaled "
                          f"bilinearly to {DETECT_SIZE} px"},
            "self_check": {name: {**check.summary(), "expect": (
                "1: the training crops themselves, at the model's resolution"
                if name == "train" else "0: other people (students never trained on)")}
                for name, check in self.checks.items()},
            "samples": [{"generated": i,
                         "distance": None if n < 0 else round(float(d), 4),
                         "nearest": None if n < 0 else train_keys[n]}
                        for i, (d, n) in enumerate(zip(self.generated.distance,
                                                       self.generated.nearest, strict=True))],
        }


@register_measure
def identity(c: Context) -> Record:
    """The fraction of generated images whose face is a training person's (see the module
    docstring); nothing when face recognition is off or there is no reference set."""
    if c.identities is None or not c.identities.enabled or c.reference is None:
        return Record()
    analyzer = c.analyzer
    same = c.identities.same_person_distance
    size = c.reference.stored_size or int(c.reference.images.shape[-1])

    def faces(images: torch.Tensor, name: str, boxes: list | None = None,
              at: int = DETECT_SIZE) -> FaceSet:
        if boxes is None:
            boxes = detect_faces(images, analyzer, c.progress(f"Face detection: {name}",
                                                              len(images)), at).boxes
        found = [(i, box) for i, box in enumerate(boxes) if box is not None]
        advance = c.progress(f"Face recognition: {name}", len(found))

        def each() -> Iterator[tuple[int, np.ndarray, Any]]:
            for start, arrays in zip(range(0, len(images), DETECT_BATCH), upscaled(images, at),
                                     strict=True):
                for k, array in enumerate(arrays):
                    if boxes[start + k] is not None:
                        yield start + k, array, boxes[start + k]
                        advance(1)

        return face_set(each(), len(found), len(images))

    reference = faces(c.reference.images, f"train crops at {size} px", at=size)
    checks = {"train": likeness(faces(c.train.images, "train crops"), reference, same)}
    if c.real is not c.train:
        checks[c.params.split] = likeness(
            faces(c.real.images, f"{c.params.split} crops", c.boxes.get("real")), reference, same)
    generated = likeness(faces(c.fake, "generated", c.boxes.get("generated")), reference, same)
    c.identity = IdentityCheck(generated, checks, reference, size, same)
    return Record({"identity_match_fraction": generated.fraction()})


@dataclass(frozen=True)
class Evaluation:
    record: Record  # what metrics/evaluate.json and its details hold
    fake: torch.Tensor
    memorization: Memorization
    identity: IdentityCheck | None = None


def evaluate_model(generator: torch.nn.Module, meta: dict[str, Any], real: RealSet,
                   train: RealSet, params: EvaluateParams, detect: DetectParams,
                   inception: Inception, progress: Progress = no_progress,
                   identities: IdentitiesParams | None = None,
                   reference: RealSet | None = None) -> Evaluation:
    """Every registered measure, in order, for one generator (writes nothing). The identity
    check runs with `identities` on and `reference`, the training crops at their stored size."""
    started = time.perf_counter()
    device = resolve_device(params.device, "evaluate.device")
    conditioned = encoding_of(meta) is not None
    fake = _generate(generator, meta, real, train, params, device, conditioned)
    context = Context(fake, real, train, params, detect, inception, device, conditioned, progress,
                      identities=identities, reference=reference)
    timing = {"generate": time.perf_counter() - started}
    record = Record({
        "split": params.split,
        "real_images": len(real.images),
        "real_students": real.students,
        "generated_images": len(fake),
        "train_images": len(train.images),
        "model": meta.get("model"),
        "resolution": int(fake.shape[-1]),
        "seed": params.seed,
    })
    for name in MEASURES:
        record.update(calc_measure(name, context, timing))
    record.conventions.update(_conventions(context))
    timing["total"] = time.perf_counter() - started
    record.values["timing_s"] = {k: round(v, 3) for k, v in timing.items()}
    record.values["device"] = str(device)
    assert context.memorization is not None
    return Evaluation(record, fake, context.memorization, context.identity)


def _generate(generator: torch.nn.Module, meta: dict[str, Any], real: RealSet, train: RealSet,
              params: EvaluateParams, device: torch.device, conditioned: bool) -> torch.Tensor:
    """`evaluate.samples` images; a conditional model gets conditions drawn (seeded) from the
    training crops' own."""
    conditions = None
    if conditioned:
        if train.conditions is None:
            raise EvaluateError("the model is conditional but the training shards carry no "
                                "condition vectors; re-run the shard stage")
        pick = np.random.default_rng(params.seed).integers(len(train.images), size=params.samples)
        conditions = train.conditions[torch.from_numpy(pick)]
    fake = sample(generator, int(meta["latent_dim"]), params.samples, params.seed, conditions,
                  device=device)
    if fake.shape[1:] != real.images.shape[1:]:
        raise EvaluateError(f"the generator makes {tuple(fake.shape[1:])} images but the real "
                            f"crops were prepared as {tuple(real.images.shape[1:])}")
    return fake


def _conventions(c: Context) -> dict[str, str]:
    """What the numbers assume, written next to them."""
    fake, real, split = c.fake, c.real, c.params.split
    return {
        **CONVENTIONS,
        "real_set": (f"{split} split: {len(real.images)} original crops (no augmented copies) "
                     f"of {real.students} students, stored at {real.stored_size} px, reduced to "
                     f"{fake.shape[-1]} px with {RESIZE}"),
        "samples": (f"{len(fake)} generated (seed {c.params.seed}) vs {len(real.images)} real"
                    + ("; conditions drawn from the training crops' own" if c.conditioned
                       else "")),
        "detection": (f"the validator's MTCNN settings (validate.detect) on images upscaled "
                      f"bilinearly to {DETECT_SIZE} px; a face counts at probability >= "
                      f"{c.detect.face_prob}"),
    }


def _inception_record(f_real: Any, f_fake: Any, seed: int) -> Record:
    """fid, kid_*, inception_score_* as flat keys; null where there is no value, with a note
    that says why (or what else to know)."""
    if f_real is None:
        missing = Score(None, note=UNAVAILABLE)
        fid, kid, is_fake, is_real, subset = missing, missing, missing, missing, None
    else:
        fid = frechet_distance(f_real.pool, f_fake.pool)
        kid, subset = kernel_distance(f_real.pool, f_fake.pool, seed)
        is_fake = inception_score(f_fake.logits, seed)
        is_real = inception_score(f_real.logits, seed)
    values = {
        "fid": _round(fid.value),
        "kid_mean": _round(kid.value), "kid_std": _round(kid.std), "kid_subset_size": subset,
        "inception_score_mean": _round(is_fake.value), "inception_score_std": _round(is_fake.std),
        "inception_score_real_mean": _round(is_real.value),
    }
    notes = {key: score.note for key, score in
             (("fid", fid), ("kid_mean", kid), ("inception_score_mean", is_fake)) if score.note}
    return Record(values, notes)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def write_images(evaluation: Evaluation, train: RealSet, samples_png: Path,
                 memorization_dir: Path, reference: RealSet | None = None) -> None:
    """The first SAMPLE_GRID generated images as one grid, and the memorization folder: a
    side-by-side PNG per flagged near-copy and pairs.json (replaced as a whole); with the
    identity check, identities.json and identity-NNN.png pairs of the generated faces closest to
    a training person (beside the crop from `reference`, the training crops as stored)."""
    save_png(grid_image(evaluation.fake[:SAMPLE_GRID]), Path(samples_png))
    with atomic_path(Path(memorization_dir)) as tmp:
        records = write_memorization_pairs(evaluation.memorization, evaluation.fake,
                                           train.images, train.keys, tmp)
        (tmp / "pairs.json").write_text(json.dumps(records, indent=2) + "\n", encoding="utf-8")
        check = evaluation.identity
        if check is not None:
            shown = reference if reference is not None else train
            report = check.report(train.keys, int(evaluation.fake.shape[-1]))
            report["pairs"] = write_likeness_pairs(
                check.generated, evaluation.fake.permute(0, 2, 3, 1).numpy(),
                shown.images.permute(0, 2, 3, 1).numpy(), train.keys, tmp)
            (tmp / IDENTITIES_JSON).write_text(json.dumps(report, indent=2) + "\n",
                                               encoding="utf-8")


def check_require_fid(params: EvaluateParams, inception: Inception, real_count: int) -> None:
    """With `evaluate.require_fid: true`, fail before any work when FID cannot come out."""
    if not params.require_fid:
        return
    if not inception.available:
        raise EvaluateError(f"evaluate.require_fid is true but FID is unavailable: "
                            f"{inception.reason}")
    need = FEATURE_DIM
    if params.samples < need or real_count < need:
        raise EvaluateError(f"evaluate.require_fid is true but FID needs at least {need} "
                            f"samples per side: evaluate.samples is {params.samples} and the "
                            f"{params.split} split has {real_count} crops")


def run_evaluate(model_path: Path, shards_dir: Path, metrics_path: Path, details_path: Path,
                 samples_png: Path, memorization_dir: Path, params: EvaluateParams,
                 detect: DetectParams, progress: Progress = no_progress,
                 identities: IdentitiesParams | None = None) -> Record:
    """The stage: load, measure, write `metrics_path` and `details_path`, the sample grid and
    the memorization folder; returns the record. EvaluateError (a message to show, not a
    traceback) when it cannot run. `identities` (validate.identities) turns the identity check
    on."""
    model_path = Path(model_path)
    if not model_path.is_file():
        raise EvaluateError(f"no model at {model_path}; run the train stage first")
    generator, meta = load_generator(model_path)
    resolution = int(meta["resolution"])
    real = load_split(shards_dir, params.split, resolution)
    train = real if params.split == "train" else load_split(shards_dir, "train", resolution)
    inception = load_inception(params.inception_weights,
                               resolve_device(params.device, "evaluate.device"))
    check_require_fid(params, inception, len(real.images))
    reference = None
    if identities is not None and identities.enabled:  # the training crops as stored
        reference = (train if train.stored_size == resolution
                     else load_split(shards_dir, "train", train.stored_size))
    evaluation = evaluate_model(generator, meta, real, train, params, detect, inception,
                                progress=progress, identities=identities, reference=reference)
    write_images(evaluation, train, samples_png, memorization_dir, reference)
    write_record("evaluate", evaluation.record, metrics_path, details_path)
    return evaluation.record
