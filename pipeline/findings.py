"""The record every check produces: what is wrong with which file, measured against which limit."""

from __future__ import annotations

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

    def as_row(self) -> dict[str, str]:
        row = asdict(self)
        row["severity"] = self.severity.value
        return row


FINDING_COLUMNS = [f.name for f in fields(Finding)]
