"""Typed settings read once from params.yaml; every stage receives only its own section.

Each dataclass's defaults are the documented defaults (docs/RULES.md says why each validation
limit is what it is). Unknown keys are an error with a suggestion, so a typo in params.yaml never
silently falls back to a default. A setting declared with `setting(default, Range)` is checked
when its section is built (by `load_params` or in code): a value outside its range is a
ParamsError that names the key, the range and the value, before any stage starts.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import yaml

T = TypeVar("T")


class ParamsError(ValueError):
    """params.yaml holds a key or value the code does not understand."""


@dataclass(frozen=True)
class Range:
    """The values a setting may take, in the words its error message uses."""

    says: str
    holds: Callable[[Any], bool]


def at_least(low: float) -> Range:
    return Range(f"at least {low}", lambda v: v >= low)


def between(low: float, high: float) -> Range:
    return Range(f"from {low:g} to {high:g}", lambda v: low <= v <= high)


def fraction(*, below_one: bool = False) -> Range:
    if below_one:
        return Range("at least 0 and below 1", lambda v: 0 <= v < 1)
    return Range("from 0 to 1", lambda v: 0 <= v <= 1)


POSITIVE = Range("above 0", lambda v: v > 0)
DEVICE = Range("auto, cpu, cuda or cuda:N", lambda v: re.fullmatch(r"auto|cpu|cuda(:\d+)?", v))


def setting(default: Any, allowed: Range) -> Any:
    """A dataclass field whose value `_Checked` holds against `allowed`."""
    return field(default=default, metadata={"range": allowed})


class _Checked:
    """Checks every `setting(...)` field of a section when it is built."""

    SECTION: ClassVar[str]

    def __post_init__(self) -> None:
        problems = []
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            allowed, value = f.metadata.get("range"), getattr(self, f.name)
            if allowed is not None and not allowed.holds(value):
                problems.append(f"{self.SECTION}.{f.name} must be {allowed.says}, got {value!r}")
        if problems:
            raise ParamsError("; ".join(problems))


@dataclass(frozen=True)
class IngestParams(_Checked):
    SECTION: ClassVar[str] = "ingest"

    # Names that operating systems and archivers add on their own; ignored with a note.
    junk_names: tuple[str, ...] = (".DS_Store", "Thumbs.db", "desktop.ini")
    junk_dirs: tuple[str, ...] = ("__MACOSX",)
    # No camera writes a 64 MB JPEG; anything larger is not read into memory at all.
    max_file_bytes: int = setting(64 * 1024 * 1024, at_least(1))
    # A submission is about 40 photos and a table; listing millions of files would exhaust
    # memory, so a submission with more than this many is reported and not checked.
    max_files: int = setting(1000, at_least(1))
    # An attribute table has one short row per photo (40 rows: about 6 kB); a bigger one is
    # reported and not read, so that a stray export cannot fill memory or the report.
    max_table_bytes: int = setting(1024 * 1024, at_least(1))


@dataclass(frozen=True)
class DetectParams(_Checked):
    """Settings that change what MTCNN reports; they are part of the detection cache key."""

    SECTION: ClassVar[str] = "validate.detect"

    # detection runs on a copy this long; positions come back in originals
    long_side: int = setting(640, at_least(1))
    # px in that copy (~6-8 % of the photo); smaller faces are not sought
    min_face_size: int = setting(40, at_least(1))
    thresholds: tuple[float, float, float] = setting((0.6, 0.7, 0.7), Range(  # MTCNN's defaults
        "three numbers from 0 to 1", lambda v: len(v) == 3 and all(0 <= t <= 1 for t in v)))
    face_prob: float = setting(0.95, fraction())  # faces below it are dropped (real: >= 0.99)
    batch_size: int = setting(16, at_least(1))  # equal-size photos per MTCNN call
    device: str = setting("auto", DEVICE)  # cuda when available, else cpu


@dataclass(frozen=True)
class ValidateParams(_Checked):
    SECTION: ClassVar[str] = "validate"

    images_per_student: int = setting(40, at_least(1))
    min_side: int = setting(500, at_least(1))
    # The one decompression-bomb limit: a header claiming more pixels is refused before anything
    # is decoded, by every stage that decodes (validate, crop, report). 200 MP phones fit.
    max_pixels: int = setting(250_000_000, at_least(1))
    # Attribute-table rows read at most (one per photo is asked); a longer table is reported
    # and not checked, so that its findings cannot flood the outputs.
    max_table_rows: int = setting(1000, at_least(1))
    # Colour beyond a tint (CIELAB units, `pipeline.measure.colourfulness`) at or under which a
    # photo is black and white or toned monochrome; docs/RULES.md, `grayscale`.
    grayscale_max_chroma: float = setting(2.0, at_least(0))
    duplicate_max_distance: int = setting(4, between(0, 64))  # bits of a 64-bit perceptual hash
    # Face rules. docs/RULES.md gives each limit's principle, the separation it sits in on real
    # photos and synthetic series, and the calibration table (bench/calibrate.py).
    # of the main face's size; smaller faces ignored
    multiple_faces_min_fraction: float = setting(0.35, fraction())
    # Pose from the 68-point fit. ISO/IEC 19794-5 passports: yaw and pitch 5, roll 8 degrees; a
    # landmark estimate is good to about 5-10 degrees and faces differ, so the limits sit where a
    # turn, tilt or lean is plain to see.
    # max_turn: yaw and pitch together, the angle between where the face points and the camera.
    max_turn: float = setting(25.0, between(0, 180))
    # the aligned crops undo roll: only a head clearly on one side
    max_roll: float = setting(20.0, between(0, 180))
    # Head length (crown to chin) against the photo: ISO's passport head is 0.70-0.80 of the
    # height; a class photo may show down to the chest (a frame 2.5 head lengths high), not to the
    # waist (3 or more). Width: the same frame turned landscape (4:3), 0.40 * 3/4.
    min_head_height: float = setting(0.40, fraction())
    min_head_width: float = setting(0.30, fraction())
    # Jaw line and forehead to every edge, in eye distances (< 0: past it): a face cut by the
    # frame, with a tolerance of a twentieth of an eye distance for the landmarks' own scatter.
    min_outline_margin: float = -0.05
    # Blur: the width (Gaussian sigma) of the face's edges, in eye distances. The softest good
    # photo reads 0.037; a Gaussian blur of 0.03 eye distances takes every good one to 0.0394+.
    max_edge_width: float = setting(0.039, POSITIVE)
    # mean face luma, 0-255 (low: dark skin must pass)
    min_brightness: float = setting(40.0, between(0, 255))
    max_brightness: float = setting(220.0, between(0, 255))
    max_clipped: float = setting(0.10, fraction())  # of face pixels pure black or pure white
    # Cheeks' median luma, brighter / darker. Photographers call a lighting ratio of 2:1-3:1
    # normal portrait light and 4:1 or more dramatic; 3:1 in light is 3 ** (1 / 2.2) = 1.65 in
    # gamma-encoded luma.
    max_cheek_ratio: float = setting(1.65, at_least(1))
    # The whole photo, before any face is found: its brightest 1 % darker than a quarter of full
    # scale (several stops under), or its darkest 1 % lighter than mid-grey (washed out, fogged).
    min_highlights: float = setting(64.0, between(0, 255))
    max_shadows: float = setting(128.0, between(0, 255))
    # Expression (warning): the mouth's shape a neutral spread towards a smile on average, or the
    # lips apart by 0.15 of the mouth's width, three neutral spreads above a closed mouth
    # (talking, laughing, surprise).
    max_smile: float = 1.0
    max_mouth_open: float = setting(0.15, at_least(0))
    # Eyes (eyelid gap / eye width) and brows (above the eye centres, eye distances): 3 neutral
    # spreads from a neutral face's 0.335 ± 0.055 and 0.32 ± 0.075 (pipeline/faces.py).
    min_eyes_open: float = setting(0.17, at_least(0))  # squeezed shut, closed, a wince
    max_eyes_open: float = setting(0.50, at_least(0))  # opened wide: surprise, fear
    min_brows: float = setting(0.095, at_least(0))  # drawn down: a frown, a scowl
    max_brows: float = setting(0.545, at_least(0))  # raised: surprise
    detect: DetectParams = field(default_factory=DetectParams)


@dataclass(frozen=True)
class CropParams(_Checked):
    SECTION: ClassVar[str] = "crop"

    size: int = setting(256, at_least(1))  # side of the square crops, in pixels
    sheet_count: int = setting(48, at_least(0))  # crops on the contact sheet


@dataclass(frozen=True)
class AugmentParams(_Checked):
    SECTION: ClassVar[str] = "augment"

    seed: int = 0
    copies: int = setting(1, at_least(0))  # augmented copies per crop; 0 = none
    flip_p: float = setting(0.5, fraction())
    rotate_deg: float = setting(3.0, between(0, 180))
    rotate_p: float = setting(0.3, fraction())
    scale: float = setting(0.05, fraction(below_one=True))  # zoom by up to 1 +- scale
    scale_p: float = setting(0.3, fraction())
    brightness: float = setting(0.15, fraction())  # factor 1 +- brightness
    contrast: float = setting(0.15, fraction())
    saturation: float = setting(0.15, fraction())
    hue: float = setting(0.02, between(0, 0.5))  # of the circle
    jitter_p: float = setting(0.5, fraction())


@dataclass(frozen=True)
class ShardParams(_Checked):
    SECTION: ClassVar[str] = "shard"

    val_fraction: float = setting(0.2, fraction(below_one=True))  # of the students
    shard_size: int = setting(1000, at_least(1))  # samples per tar file
    seed: int = 0


@dataclass(frozen=True)
class TrainParams(_Checked):
    """A real run's defaults (DCGAN 64 x 64, the PyTorch example's optimiser); pipeline/train.py
    says what the stage writes. The demo's params.yaml shrinks them to train on a CPU in seconds.
    The model, its sizes, the loss and DiffAugment's policy are checked by the networks, losses
    and augmentations that define them (pipeline/gan/), when the run is set up."""

    SECTION: ClassVar[str] = "train"

    model: str = "dcgan"  # mlp (vanilla) | dcgan | cdcgan (conditioned on the attributes)
    resolution: int = 64  # power of two, 16..256
    latent_dim: int = 100
    g_width: int = 64  # generator channels at full resolution (the example's ngf)
    d_width: int = 64  # discriminator channels at full resolution (ndf)
    loss: str = "bce"  # bce (the seeds') | hinge
    spectral_norm: bool = False  # in the discriminator (drops its BatchNorm)
    diffaugment: str = "color,translation,cutout"  # "" = off
    ema_decay: float = setting(0.999, Range("in [0, 1) (0 = off)", lambda v: 0 <= v < 1))
    steps: int = setting(20000, at_least(1))  # optimiser steps (one D and one G update each)
    batch_size: int = setting(64, at_least(1))  # global: split across torchrun processes
    lr: float = setting(2e-4, POSITIVE)
    betas: tuple[float, float] = setting((0.5, 0.999), Range(
        "two numbers in [0, 1)", lambda v: len(v) == 2 and all(0 <= b < 1 for b in v)))
    log_every: int = setting(100, at_least(1))  # steps between logged means (and host syncs)
    checkpoint_every: int = setting(1000, at_least(1))  # steps between atomic checkpoints
    seed: int = 0
    device: str = setting("auto", DEVICE)  # auto = cuda if there is one (cuda:LOCAL_RANK, torchrun)


@dataclass(frozen=True)
class EvaluateParams(_Checked):
    """pipeline/evaluate.py says what each measure means; FID needs 2048 samples per side."""

    SECTION: ClassVar[str] = "evaluate"

    samples: int = setting(10_000, at_least(1))  # generated images; FID/KID/IS at equal counts
    # the real set: val (students never trained on) or train
    split: str = setting("val", Range("train or val", lambda v: v in ("train", "val")))
    # torch-fidelity's weights-inception-2015-12-05-6726825d.pth; "" = torch's hub cache or the
    # library's download. Without it FID/KID/IS are recorded as unavailable, with the reason.
    inception_weights: str = ""
    require_fid: bool = False  # true: fail when FID is unavailable or not defined
    seed: int = 0
    device: str = setting("auto", DEVICE)  # generator, Inception and MTCNN: auto = cuda if any


@dataclass(frozen=True)
class ReportParams(_Checked):
    SECTION: ClassVar[str] = "report"

    thumb_size: int = setting(160, at_least(1))  # longer side of the thumbnails, in pixels


@dataclass(frozen=True)
class Params:
    ingest: IngestParams = field(default_factory=IngestParams)
    validate: ValidateParams = field(default_factory=ValidateParams)
    crop: CropParams = field(default_factory=CropParams)
    augment: AugmentParams = field(default_factory=AugmentParams)
    shard: ShardParams = field(default_factory=ShardParams)
    train: TrainParams = field(default_factory=TrainParams)
    evaluate: EvaluateParams = field(default_factory=EvaluateParams)
    report: ReportParams = field(default_factory=ReportParams)


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read params.yaml; a missing file means all defaults."""
    path = Path(path)
    if not path.exists():
        return Params()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return build(Params, data, where="")
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML ({exc})") from None
    except ParamsError as exc:
        raise ParamsError(f"{path}: {exc}") from None


def build(cls: type[T], data: Any, where: str) -> T:
    """Make dataclass `cls` from a mapping, checking keys and converting values to field types."""
    if not isinstance(data, dict):
        raise ParamsError(f"{where or 'top level'}: expected a mapping of settings, got {data!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(str(key), known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(sorted(known))}"
        raise ParamsError(f"{where or 'top level'}: unknown setting {key!r}{hint}")
    values = {
        name: _convert(hints[name], value, f"{where}.{name}" if where else name)
        for name, value in data.items()
    }
    return cls(**values)


def _convert(hint: Any, value: Any, where: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return build(hint, value, where)
    origin = typing.get_origin(hint)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ParamsError(f"{where}: expected a list, got {value!r}")
        args = typing.get_args(hint)
        inner = args[0] if args else Any
        return tuple(_convert(inner, v, where) for v in value)
    if origin in (typing.Union, types.UnionType):
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ParamsError(f"{where}: expected true or false, got {value!r}")
        return value
    if hint in (int, float, str):
        if hint is int and isinstance(value, float) and not value.is_integer():
            raise ParamsError(f"{where}: expected a whole number, got {value!r}")
        try:
            return hint(value)
        except (TypeError, ValueError):
            raise ParamsError(f"{where}: expected {hint.__name__}, got {value!r}") from None
    return value


def as_dict(obj: Any) -> dict[str, Any]:
    """Plain dict of a params dataclass (for cache keys and metrics files)."""
    return dataclasses.asdict(obj)
