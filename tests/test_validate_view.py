"""How `facedata validate` shows its result: the table, JSON and CSV of a class's findings.

The class here holds findings only (a student whose photos could not be read and a table with a
problem), so the view is tested without measuring a photo; tests/test_cli.py runs it whole.
"""

import csv
import io
import json

from rich.console import Console

from pipeline.findings import Finding, Severity
from pipeline.formats.findings import FINDING_COLUMNS
from pipeline.formats.manifest import Manifest
from pipeline.validate import ValidationResult
from pipeline.validate_view import render_csv, render_json, render_table

FINDINGS = [
    Finding("[red]eve", "=cmd|'/c calc'!A1.jpg", "submission", Severity.ERROR,
            "=cmd|'/c calc'!A1.jpg could not be read: it is a folder, not a file"),
    Finding("[red]eve", "attributes.csv", "attributes", Severity.WARNING,
            "attributes.csv has a column `notes` that is not in the vocabulary"),
    Finding("bob\x1b[2J", "", "count", Severity.ERROR, "handed in 0 photos, 40 are asked for"),
    Finding("bob\x1b[2J", "Thumbs.db", "submission", Severity.INFO, "Thumbs.db was ignored"),
]
RESULT = ValidationResult(Manifest([], FINDINGS), [], FINDINGS, {}, [])


def test_the_table_shows_students_names_as_they_are_and_counts_what_counts():
    console = Console(record=True, width=200)
    render_table(RESULT, console)
    text = console.export_text()
    assert "[red]eve" in text  # not read as markup
    assert "bob\\x1b[2J" in text and "\x1b" not in text  # the escape shown, never run
    assert "2 students, 0 photos: 0 accepted, 2 errors, 1 warnings." in text


def test_json_holds_the_metrics_every_student_and_every_finding():
    data = json.loads(render_json(RESULT))
    assert data["metrics"]["students"] == 2
    assert data["students"]["[red]eve"] == {"photos": 0, "accepted": 0, "errors": 1,
                                            "warnings": 1, "rules": {"submission": 1,
                                                                     "attributes": 1}}
    assert [f["file"] for f in data["findings"]] == [f.file for f in FINDINGS]


def test_csv_cells_a_spreadsheet_would_run_are_neutralised():
    rows = list(csv.reader(io.StringIO(render_csv(RESULT))))
    assert rows[0] == FINDING_COLUMNS
    assert rows[1][1] == "'=cmd|'/c calc'!A1.jpg"
    assert rows[1][4].startswith("'=cmd")
    assert len(rows) == 1 + len(FINDINGS)
