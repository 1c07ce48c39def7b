"""The record every check produces: what is wrong with which file, measured against which limit."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"  # the photo is excluded from the training set
    WARNING = "warning"  # kept, but flagged for the instructor
    INFO = "info"  # something was ignored on purpose (junk files in a zip, ...)


@dataclass(frozen=True)
class Finding:
    student: str
    file: str  # "" when the finding concerns the whole submission
    rule: str
    severity: Severity
    message: str
    value: str = ""
    limit: str = ""
    # "student/file" of the other photo the finding is about: the photo a duplicate copies
    related: str = ""

    def as_row(self) -> dict[str, str]:
        row = asdict(self)
        row["severity"] = self.severity.value
        return row

    @classmethod
    def from_row(cls, row: Mapping[str, str]) -> Finding:
        """The inverse of as_row; ValueError when the severity is not one of Severity's."""
        values = {f.name: row.get(f.name) or "" for f in fields(cls)}
        return cls(**{**values, "severity": Severity(values["severity"])})

