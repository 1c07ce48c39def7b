"""Typed settings read once from params.yaml; every stage receives only its own section.

Each dataclass's defaults are the documented defaults (docs/RULES.md says why each validation
limit is what it is). Unknown keys are an error with a suggestion, so a typo in params.yaml never
silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


class ParamsError(ValueError):
    """params.yaml holds a key or value the code does not understand."""


@dataclass(frozen=True)
class IngestParams:
    # Names that operating systems and archivers add on their own; ignored with a note.
    junk_names: tuple[str, ...] = (".DS_Store", "Thumbs.db", "desktop.ini")
    junk_dirs: tuple[str, ...] = ("__MACOSX",)
    # No camera writes a 64 MB JPEG; anything larger is not read into memory at all.
    max_file_bytes: int = 64 * 1024 * 1024


@dataclass(frozen=True)
class DetectParams:
    """Settings that change what MTCNN reports; they are part of the detection cache key."""

    long_side: int = 640
    min_face_size: int = 40
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)
    face_prob: float = 0.95
    batch_size: int = 16
    device: str = "auto"


@dataclass(frozen=True)
class ValidateParams:
    images_per_student: int = 40
    min_side: int = 500
    max_pixels: int = 250_000_000
    grayscale_max_chroma: float = 4.0
    duplicate_max_distance: int = 4
    # face rules: calibrated in docs/RULES.md
    multiple_faces_min_fraction: float = 0.35
    max_yaw: float = 20.0
    max_pitch: float = 25.0
    max_roll: float = 12.0
    min_face_fraction: float = 0.18
    min_face_margin: float = 0.0
    min_sharpness: float = 60.0
    min_brightness: float = 60.0
    max_brightness: float = 200.0
    max_clipped: float = 0.10
    max_side_ratio: float = 1.8
    max_mouth_ratio: float = 1.05
    detect: DetectParams = field(default_factory=DetectParams)


@dataclass(frozen=True)
class CropParams:
    size: int = 256
    sheet_count: int = 48


@dataclass(frozen=True)
class AugmentParams:
    seed: int = 0
    copies: int = 1
    flip_p: float = 0.5
    rotate_deg: float = 3.0
    rotate_p: float = 0.3
    scale: float = 0.05
    scale_p: float = 0.3
    brightness: float = 0.15
    contrast: float = 0.15
    saturation: float = 0.15
    hue: float = 0.02
    jitter_p: float = 0.5


@dataclass(frozen=True)
class ShardParams:
    val_fraction: float = 0.2
    shard_size: int = 1000
    seed: int = 0


@dataclass(frozen=True)
class TrainParams:
    model: str = "dcgan"
    resolution: int = 64
    latent_dim: int = 100
    steps: int = 2000
    batch_size: int = 64
    seed: int = 0


@dataclass(frozen=True)
class EvaluateParams:
    samples: int = 10_000
    split: str = "val"
    inception_weights: str = ""
    require_fid: bool = False
    seed: int = 0


@dataclass(frozen=True)
class ReportParams:
    thumb_size: int = 160


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
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return build(Params, data, where=path.name)


def build(cls: type[T], data: Any, where: str) -> T:
    """Make dataclass `cls` from a mapping, checking keys and converting values to the field types."""
    if not isinstance(data, dict):
        raise ParamsError(f"{where}: expected a mapping of settings, got {data!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(str(key), known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(sorted(known))}"
        raise ParamsError(f"{where}: unknown setting {key!r}{hint}")
    values = {name: _convert(hints[name], value, f"{where}.{name}") for name, value in data.items()}
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
