"""How `facedata validate` shows its result: a rich table, JSON or CSV.

Names and messages come from students: the table shows control and bidirectional characters
escaped (pipeline.safe_text.shown), the CSV neutralises cells a spreadsheet would run as formulas
(pipeline.safe_text.cell), and JSON escapes them itself.
"""

from __future__ import annotations

import csv
import io
import json

from rich.console import Console
from rich.table import Table
from rich.text import Text

from pipeline.findings import Severity
from pipeline.formats.findings import FINDING_COLUMNS
from pipeline.safe_text import cell_row, shown
from pipeline.validate import ValidationResult

SEVERITY_STYLE = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "dim"}


def render_table(result: ValidationResult, console: Console) -> None:
    summary = result.summary()
    table = Table(title="Submissions", title_justify="left")
    for name in ("student", "photos", "accepted", "errors", "warnings", "rules broken"):
        table.add_column(name, justify="left" if name in ("student", "rules broken") else "right")
    for student, s in summary.items():
        rules = ", ".join(f"{r}×{n}" if n > 1 else r for r, n in sorted(s["rules"].items()))
        style = "red" if s["errors"] else None
        table.add_row(
            _text(student),
            str(s["photos"]),
            str(s["accepted"]),
            str(s["errors"]),
            str(s["warnings"]),
            rules,
            style=style,
        )
    console.print(table)
    if result.findings:
        findings = Table(title="Findings", title_justify="left")
        for name in ("student", "file", "rule", "severity", "message"):
            findings.add_column(name, overflow="fold")
        for f in result.findings:
            findings.add_row(
                _text(f.student),
                _text(f.file),
                f.rule,
                f.severity.value,
                _text(f.message),
                style=SEVERITY_STYLE[f.severity],
            )
        console.print(findings)
    m = result.metrics()
    console.print(
        f"{m['students']} students, {m['photos']} photos: {m['accepted']} accepted, "
        f"{m['findings']['errors']} errors, {m['findings']['warnings']} warnings."
    )


def _text(value: str) -> Text:
    """A cell from a student: never read as rich markup, control characters escaped."""
    return Text(shown(value))


def render_json(result: ValidationResult) -> str:
    summary = {s: {**v, "rules": dict(v["rules"])} for s, v in result.summary().items()}
    return (
        json.dumps(
            {
                "metrics": result.metrics(),
                "students": summary,
                "findings": [f.as_row() for f in result.findings],
            },
            indent=2,
        )
        + "\n"
    )


def render_csv(result: ValidationResult) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, FINDING_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for f in result.findings:
        writer.writerow(cell_row(f.as_row()))
    return buf.getvalue()
