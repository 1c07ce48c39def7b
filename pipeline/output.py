"""How `facedata validate` shows its result: a rich table, JSON or CSV."""

from __future__ import annotations

import csv
import io
import json

from rich.console import Console
from rich.table import Table
from rich.text import Text

from pipeline.findings import FINDING_COLUMNS, Severity
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
            Text(student),  # Text: names and messages from students are never read as markup
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
                Text(f.student),
                Text(f.file),
                f.rule,
                f.severity.value,
                Text(f.message),
                style=SEVERITY_STYLE[f.severity],
            )
        console.print(findings)
    m = result.metrics()
    console.print(
        f"{m['students']} students, {m['photos']} photos: {m['accepted']} accepted, "
        f"{m['findings']['errors']} errors, {m['findings']['warnings']} warnings."
    )


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
        writer.writerow(f.as_row())
    return buf.getvalue()
