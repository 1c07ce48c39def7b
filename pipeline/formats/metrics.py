"""metrics/<stage>.json and metrics/details/<stage>.json: what validate, train and evaluate
measured (each stage -> the report, and DVC).

`metrics/<stage>.json` is what DVC shows and compares (`dvc metrics show`, `dvc metrics diff`,
`dvc exp show`): the stage's few HEADLINES, flat, under short keys, numbers and booleans only,
floats rounded to SIGNIFICANT digits. Keys are unique across the stages (DVC shows the union of
all keys as one table) and short, so the demo's table fits in 120 columns. A headline the run
could not measure (FID without Inception's weights) is left out, never written as null or text:
its details note says why.

`metrics/details/<stage>.json` is a stage output (cached by DVC, not a metric): one object,
`{"values": {...}, "notes": {...}, "conventions": {...}}`:
- values: every number and fact of the run, nested (the headlines at full precision);
- notes: the dotted key of a value -> what to know reading it (why it is missing, what it means);
- conventions: a name -> a choice that changes the numbers (resize filter, sample counts, the
  real set), to be written next to them wherever they are shown.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.formats.common import FormatError
from pipeline.io import atomic_path

SIGNIFICANT = 4  # digits of a float headline: more only shows noise


@dataclass(frozen=True)
class Headline:
    key: str  # in metrics/<stage>.json
    source: str  # dotted key of the value in the details' values
    meaning: str  # what the report says about it
    reference: str | None = None  # dotted key of the same measure on the real images


HEADLINES: dict[str, tuple[Headline, ...]] = {
    "validate": (
        Headline("photos", "photos", "Photos handed in."),
        Headline("accepted", "accepted", "Photos accepted into the training set."),
    ),
    "train": (
        Headline("g_loss", "g_loss", "Generator loss, mean of the last train.log_every steps."),
        Headline("d_loss", "d_loss",
                 "Discriminator loss, mean of the last train.log_every steps."),
    ),
    "evaluate": (
        Headline("fid", "fid", "Fréchet Inception Distance to the real set; lower is better. "
                 "Grows as the sample count falls and depends on the resize filter and JPEG vs "
                 "PNG: compare only runs that agree on all three (see the conventions). "
                 "Undefined below 2048 samples per side."),
        Headline("kid", "kid_mean", "Kernel Inception Distance; lower is better. Unbiased, so "
                 "usable with few samples."),
        Headline("is", "inception_score_mean", "Inception Score of the generated images; "
                 "higher is better. It measures ImageNet-class confidence and variety, not face "
                 "realism.", reference="inception_score_real_mean"),
        Headline("face_rate", "detection.rate",
                 "Fraction of generated images in which MTCNN finds a face.",
                 reference="detection.rate_real"),
        Headline("copies", "memorization.flagged_any",
                 "Generated images flagged as near-copies of a training crop."),
        Headline("id_match", "identity_match_fraction",
                 "Fraction of generated images whose face is a training person's, in any pose "
                 "or light (dlib's face recognition: closer than the same-person distance). The "
                 "two rows below say what it can tell at this resolution."),
    ),
}


@dataclass
class Record:
    """What one stage measured: values, the notes that explain them, the conventions behind
    them (the layout of a details file)."""

    values: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    conventions: dict[str, str] = field(default_factory=dict)

    def update(self, other: Record) -> None:
        self.values.update(other.values)
        self.notes.update(other.notes)
        self.conventions.update(other.conventions)

    def value(self, dotted: str) -> Any:
        """The value at a dotted key ("detection.rate"); None when there is none."""
        node: Any = self.values
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node

    def to_json(self) -> dict[str, Any]:
        return {"values": self.values, "notes": self.notes, "conventions": self.conventions}


def headline(stage: str, record: Record) -> dict[str, int | float | bool]:
    """The HEADLINES of `stage` that `record` has a number for, as metrics/<stage>.json holds
    them."""
    out: dict[str, int | float | bool] = {}
    for h in HEADLINES[stage]:
        value = record.value(h.source)
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            continue
        if not isinstance(value, int | float):
            raise TypeError(f"{stage} headline {h.key} ({h.source}) is {value!r}, not a number")
        out[h.key] = value if isinstance(value, int) else float(f"{value:.{SIGNIFICANT}g}")
    return out


def write_record(stage: str, record: Record, metrics_path: Path, details_path: Path) -> None:
    """metrics/<stage>.json (the headlines) and its details file, each atomically. A value that
    is not a finite number (a loss that diverged) is written as null, with a note saying so."""
    notes = dict(record.notes)
    values = _finite(record.values, "", notes)
    details = Record(values, notes, record.conventions).to_json()
    for path, data in ((details_path, details), (metrics_path, headline(stage, record))):
        with atomic_path(Path(path)) as tmp:
            text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)
            tmp.write_text(text + "\n", encoding="utf-8")


def _finite(value: Any, key: str, notes: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _finite(v, f"{key}.{k}" if key else k, notes) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v, key, notes) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        notes.setdefault(key, f"not a finite number ({value})")
        return None
    return value


def read_metrics(path: Path, stage: str) -> dict[str, int | float | bool]:
    """metrics/<stage>.json; FormatError when it is missing or not a flat object of numbers."""
    data = _read_object(Path(path), stage)
    if not all(isinstance(v, int | float) for v in data.values()):
        raise FormatError(f"{path} holds more than numbers; run the {stage} stage again")
    return data


def read_details(path: Path, stage: str) -> Record:
    """metrics/details/<stage>.json; FormatError when it is missing or not in its layout."""
    data = _read_object(Path(path), stage)
    parts = [data.get(k) for k in ("values", "notes", "conventions")]
    if not all(isinstance(p, dict) for p in parts):
        raise FormatError(f"{path} has no values, notes and conventions; run the {stage} stage "
                          "again")
    return Record(*parts)


def _read_object(path: Path, stage: str) -> dict[str, Any]:
    if not path.is_file():
        raise FormatError(f"{path} does not exist; run the {stage} stage first")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"{path} cannot be read ({exc}); run the {stage} stage again") from None
    if not isinstance(data, dict):
        raise FormatError(f"{path} does not hold a JSON object; run the {stage} stage again")
    return data
