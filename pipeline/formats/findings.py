"""findings.csv (validate), ingest_findings.csv (ingest) and `facedata validate -f csv/json`.

One schema for all of them (docs/OUTPUTS.md): a row per `pipeline.findings.Finding`, and, where
validate writes it, a row with an empty `rule` for each photo handed in that has no finding, so
that every photo has a record. Columns (FINDING_COLUMNS): `student, file, verdict`, then the
finding's fields in order: `rule, severity, message, quantity, value, limit, unit, comparison,
related`. `verdict` is the photo's (`accepted`, `accepted_with_warnings`, `rejected`), "" on a row
about no photo (a whole submission, an attribute table, a file that is no photo). `value` and
`limit` are numbers (empty when the finding measures none); severity is `error`, `warning` or
`info`. The files start with a byte order mark, so that a spreadsheet reads them as UTF-8.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import fields
from pathlib import Path

from pipeline.findings import Finding, Severity, Verdict
from pipeline.formats.common import FormatError, csv_text, read_csv, write_csv

FINDING_FIELDS = [f.name for f in fields(Finding)]
FINDING_COLUMNS = ["student", "file", "verdict", *FINDING_FIELDS[2:]]
SCHEMA_VERSION = 2  # 2: verdicts, a row per photo, value/limit as numbers with unit/comparison

Verdicts = Mapping[tuple[str, str], Verdict]  # (student, file) -> verdict, in the photos' order


def finding_rows(findings: list[Finding], verdicts: Verdicts | None = None
                 ) -> Iterator[dict[str, object]]:
    """The rows of the schema: each finding with its photo's verdict, then a row for each photo
    in `verdicts` that has no finding."""
    verdicts = verdicts or {}
    named = set()
    for f in findings:
        key = (f.student, f.file)
        named.add(key)
        verdict = verdicts.get(key)
        yield {**f.as_row(), "verdict": verdict.value if verdict else ""}
    for (student, file), verdict in verdicts.items():
        if (student, file) not in named:
            yield {"student": student, "file": file, "verdict": verdict.value}


def write_findings(findings: list[Finding], path: Path, verdicts: Verdicts | None = None) -> None:
    write_csv(path, FINDING_COLUMNS, finding_rows(findings, verdicts), bom=True)


def findings_csv_text(findings: list[Finding], verdicts: Verdicts | None = None) -> str:
    """What write_findings writes, as text (for stdout)."""
    return csv_text(FINDING_COLUMNS, finding_rows(findings, verdicts), bom=True)


def read_findings(path: Path, written_by: str = "validate") -> list[Finding]:
    """The findings in `path` (the rows of photos without one left out); FormatError when it is
    missing, lacks a column, a row's severity is not one of Severity's or a number is not one."""
    _, rows = read_csv(path, FINDING_COLUMNS, written_by)
    out = []
    for line, row in enumerate(rows, start=2):
        if not row["rule"]:
            continue
        try:
            out.append(Finding.from_row(row))
        except ValueError as exc:
            raise FormatError(f"{path} line {line}: {exc} (severity one of "
                              f"{', '.join(s.value for s in Severity)}, value and limit numbers); "
                              f"run the {written_by} stage again") from None
    return out
