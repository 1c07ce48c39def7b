"""The record every check produces: what is wrong with which file, measured against which limit.

A finding's measurement is numbers, so that a script can use it: `value` (what was measured),
`limit` (the setting it was judged against), `unit` (one of UNITS) and `comparison`, what the
value must be to pass (`value <comparison> limit`). A finding about something that is not a
number (a PNG, a missing column) has none of them: its message says it. `shown_value` and
`shown_limit` are the one place those numbers become text for people ("1.17×", "≤ 1.00×").
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"  # the photo is excluded from the training set
    WARNING = "warning"  # kept, but flagged for the instructor
    INFO = "info"  # something was ignored on purpose (junk files in a zip, ...)


class Verdict(StrEnum):
    """What became of one photo handed in."""

    ACCEPTED = "accepted"
    ACCEPTED_WITH_WARNINGS = "accepted_with_warnings"
    REJECTED = "rejected"  # an error finding, or no face to train on


# unit -> (how a measured number in it is written, what follows it); limits are written exactly
UNITS: dict[str, tuple[str, str]] = {
    "px": (".0f", " px"),
    "deg": (".1f", "°"),
    "ratio": (".2f", "×"),
    "fraction": (".0%", ""),  # 0.35 -> 35%
    "bits": (".0f", " bits"),
    "count": (".0f", ""),
    "luma": (".0f", " of 255"),  # BT.601 luma, 0-255
    "chroma": (".1f", ""),  # CIELAB chroma beyond a tint
    "eye_distances": (".3f", " eye distances"),
    "spreads": (".2f", " spreads"),  # spreads of a neutral mouth's shape
    "probability": (".2f", ""),
    "embedding_distance": (".2f", ""),  # dlib's face descriptors, Euclidean (pipeline.identities)
}
# what the value must be to pass -> as people write it
COMPARISONS: dict[str, str] = {"<=": "≤", ">=": "≥", "==": "=", "<": "<", ">": ">"}


@dataclass(frozen=True)
class Finding:
    student: str
    file: str  # "" when the finding concerns the whole submission
    rule: str
    severity: Severity
    message: str
    quantity: str = ""  # what was measured (`turn`, `head_height`, ...), "" when no number
    value: float | None = None
    limit: float | None = None
    unit: str = ""  # one of UNITS
    comparison: str = ""  # one of COMPARISONS: the value passes when `value <comparison> limit`
    # "student/file" of the other photo the finding is about: the photo a duplicate copies
    related: str = ""

    def __post_init__(self) -> None:
        for name in ("value", "limit"):
            object.__setattr__(self, name, _plain(getattr(self, name)))
        if self.unit and self.unit not in UNITS:
            raise ValueError(f"unit {self.unit!r} is not one of {', '.join(UNITS)}")
        if self.comparison and self.comparison not in COMPARISONS:
            raise ValueError(f"comparison {self.comparison!r} is not one of "
                             f"{', '.join(COMPARISONS)}")

    @property
    def shown_value(self) -> str:
        return shown_number(self.value, self.unit)

    @property
    def shown_limit(self) -> str:
        if self.limit is None:
            return ""
        limit = shown_number(self.limit, self.unit, exact=True)
        return f"{COMPARISONS.get(self.comparison, self.comparison)} {limit}".strip()

    def as_row(self) -> dict[str, object]:
        """The record as plain data (numbers stay numbers, None for none)."""
        row = asdict(self)
        row["severity"] = self.severity.value
        return row

    @classmethod
    def from_row(cls, row: Mapping[str, object]) -> Finding:
        """The inverse of as_row, also from a CSV row's text; ValueError when the severity is
        not one of Severity's or a number is not a number."""
        text = {f.name: row.get(f.name) for f in fields(cls)}
        values = {k: "" if v is None else v for k, v in text.items()}
        for name in ("value", "limit"):
            values[name] = _number(text[name])
        return cls(**{**values, "severity": Severity(values["severity"])})


def shown_number(value: float | None, unit: str, exact: bool = False) -> str:
    """`value` in `unit` as people read it ("" for none): a measurement to the digits that
    matter, a limit (`exact`) as it is set ("0.35" as 35%, "1.05" as 1.05×)."""
    if value is None:
        return ""
    spec, suffix = UNITS.get(unit, ("g", ""))
    if unit == "fraction":
        return f"{value * 100:.4g}%" if exact else f"{value:{spec}}"
    return f"{value:{'g' if exact else spec}}{suffix}"


def verdict(findings: Iterable[Finding], has_face: bool) -> Verdict:
    """A photo's verdict from its own findings: an error (or no face to train on) rejects it."""
    severities = {f.severity for f in findings}
    if Severity.ERROR in severities or not has_face:
        return Verdict.REJECTED
    if Severity.WARNING in severities:
        return Verdict.ACCEPTED_WITH_WARNINGS
    return Verdict.ACCEPTED


def _plain(value: float | None) -> float | int | None:
    """A plain Python number to 6 significant digits (an integer where it is one), so a record
    reads 31.2467 or 3, not numpy's float32 or 31.246713905232."""
    if value is None:
        return None
    number = float(f"{float(value):.6g}")
    return int(number) if number.is_integer() else number


def _number(value: object) -> float | None:
    if value is None or value == "":
        return None
    number = float(value)  # ValueError for text
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number
