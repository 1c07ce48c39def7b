"""findings.csv (validate) and ingest_findings.csv (ingest): one `pipeline.findings.Finding` a row.

Columns: `student, file, rule, severity, message, value, limit, related` (FINDING_COLUMNS, the
record's fields in order); severity is `error`, `warning` or `info`.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from pipeline.findings import Finding, Severity
from pipeline.formats.common import FormatError, read_csv, write_csv

FINDING_COLUMNS = [f.name for f in fields(Finding)]


def write_findings(findings: list[Finding], path: Path) -> None:
    write_csv(path, FINDING_COLUMNS, (f.as_row() for f in findings))


def read_findings(path: Path, written_by: str = "validate") -> list[Finding]:
    """The findings in `path`; FormatError when it is missing, lacks a column, or a row's
    severity is not one of Severity's."""
    _, rows = read_csv(path, FINDING_COLUMNS, written_by)
    out = []
    for line, row in enumerate(rows, start=2):
        try:
            out.append(Finding.from_row(row))
        except ValueError:
            raise FormatError(f"{path} line {line}: severity {row['severity']!r} is not one of "
                              f"{', '.join(s.value for s in Severity)}") from None
    return out
