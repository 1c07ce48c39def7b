"""How `facedata validate` shows its result: triage in the terminal, records as JSON or CSV.

The terminal is for triage: a table per student counting photos (handed in, accepted, accepted
with warnings, rejected), then one line per error, then the warnings collapsed per student and
what they measured ("8 photos: probably smiling — ada_01.jpg, ada_03.jpg, …"); `View` narrows
it (some students, errors only) or widens it (every finding in full). JSON and CSV carry a record
for every photo handed in, in the one schema of pipeline.formats.findings (docs/OUTPUTS.md).

Names and messages come from students: the terminal shows control and bidirectional characters
escaped (pipeline.safe_text.shown) and never reads them as markup, the CSV neutralises cells a
spreadsheet would run as formulas, and JSON escapes them itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from rich.console import Console
from rich.table import Table
from rich.text import Text

from pipeline.downloads import DESCRIPTION, Layout
from pipeline.findings import Finding, Severity
from pipeline.formats.findings import SCHEMA_VERSION, findings_csv_text
from pipeline.formats.manifest import Manifest
from pipeline.rules.measured import QUANTITIES, measurements
from pipeline.safe_text import shown
from pipeline.validate import ValidationResult

SEVERITY_STYLE = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "dim"}
# how a collapsed warning line names what was seen, by the quantity it measured
WARNING_LABELS = {
    "smile": "probably smiling",
    "mouth_open": "mouth open",
    "eyes_open": "eyes nearly closed or opened wide",
    "brows": "eyebrows raised or drawn down",
}
NAMES_SHOWN = 6  # files named on a collapsed warning line


class Detail(StrEnum):
    QUIET = "quiet"  # the summary line only
    TRIAGE = "triage"  # per-student table, errors, warnings collapsed
    VERBOSE = "verbose"  # every finding in full, infos too


@dataclass(frozen=True)
class View:
    """Which part of a result is shown: some students (None: all), errors only, how much."""

    students: frozenset[str] | None = None
    errors_only: bool = False
    detail: Detail = Detail.TRIAGE

    def narrow(self, result: ValidationResult) -> ValidationResult:
        """`result` with only the students this view shows (each with all of its findings, so
        verdicts stay whole); `shows` then picks the findings shown."""
        if self.students is None:
            return result
        keep = self.students
        old = result.manifest
        manifest = Manifest([r for r in old.rows if r.student in keep],
                            [f for f in old.findings if f.student in keep], old.layout,
                            {s: n for s, n in old.names.items() if s in keep})
        return ValidationResult(
            manifest,
            [ph for ph in result.photos if ph.student in keep],
            [f for f in result.findings if f.student in keep],
            {k: v for k, v in result.attributes.items() if k[0] in keep},
            result.attribute_columns,
            {k: v for k, v in result.roster_names.items() if k in keep},
            {k: v for k, v in result.identities.items() if k[0] in keep},
        )

    def shows(self, findings: Iterable[Finding]) -> list[Finding]:
        return [f for f in findings if not self.errors_only or f.severity is Severity.ERROR]


def render_table(result: ValidationResult, console: Console, view: View = View()) -> None:
    result = view.narrow(result)
    if view.detail is not Detail.QUIET:
        _summary_table(result, console)
        if view.detail is Detail.VERBOSE:
            _every_finding(view.shows(result.findings), console)
        else:
            _errors(result, console)
            if not view.errors_only:
                _warnings(result, console)
    layout = result.manifest.layout
    if layout != "folders" and view.detail is not Detail.QUIET:
        console.print(f"Read as {DESCRIPTION[Layout(layout)]} (--layout {layout}).",
                      markup=False, highlight=False)
    console.print(summary_line(result), markup=False, highlight=False)


def summary_line(result: ValidationResult) -> str:
    """One line: students, photos handed in, accepted (with warnings), rejected, and errors
    about whole submissions; counts of photos, not of findings."""
    s = result.summary().values()
    photos, accepted = sum(v["photos"] for v in s), sum(v["accepted"] for v in s)
    warned, rejected = sum(v["accepted_with_warnings"] for v in s), sum(v["rejected"] for v in s)
    other = sum(v["submission_errors"] for v in s)
    line = (f"{len(s)} students, {photos} photos: {accepted} accepted ({warned} with warnings), "
            f"{rejected} rejected")
    if other:
        line += f"; {other} {_plural(other, 'error')} about whole submissions or tables"
    return line + "."


def _summary_table(result: ValidationResult, console: Console) -> None:
    table = Table(title="Submissions (counts are photos)", title_justify="left")
    for name in ("student", "handed in", "accepted", "with warnings", "rejected",
                 "other errors"):
        table.add_column(name, justify="left" if name in ("student", "other errors") else "right")
    photos = {(ph.student, ph.file) for ph in result.photos}
    other: dict[str, list[str]] = {}
    for f in result.findings:
        if f.severity is Severity.ERROR and (f.student, f.file) not in photos:
            rules = other.setdefault(f.student, [])
            if f.rule not in rules:
                rules.append(f.rule)
    names = result.names
    for student, s in result.summary().items():
        table.add_row(
            _text(f"{names[student]} ({student})" if student in names else student),
            str(s["photos"]), str(s["accepted"]),
            str(s["accepted_with_warnings"]), str(s["rejected"]),
            ", ".join(other.get(student, [])),
            style="red" if s["rejected"] or s["submission_errors"] else None,
        )
    console.print(table)


def _errors(result: ValidationResult, console: Console) -> None:
    errors = [f for f in result.findings if f.severity is Severity.ERROR]
    if not errors:
        return
    console.print(Text(f"Errors ({len(errors)})", style="bold red"))
    for f in errors:
        where = f"{f.student}/{f.file}" if f.file else f.student
        line = Text("  ")
        line.append(shown(where), style="bold")
        line.append(f"  {f.rule}", style="red")
        if f.value is not None:
            line.append(f"  {_measured(f)}")
        line.append(f"  {shown(f.message)}")
        console.print(line, no_wrap=True, overflow="ellipsis")


def _warnings(result: ValidationResult, console: Console) -> None:
    groups: dict[tuple[str, str, str], list[str]] = {}
    for f in result.findings:
        if f.severity is Severity.WARNING:
            label = WARNING_LABELS.get(f.quantity) or _first_clause(f.message)
            groups.setdefault((f.student, f.rule, label), []).append(f.file or f.student)
    if not groups:
        return
    console.print(Text(f"Warnings ({sum(map(len, groups.values()))}, collapsed per student)",
                       style="bold yellow"))
    for (student, rule, label), files in groups.items():
        names = ", ".join(shown(n) for n in files[:NAMES_SHOWN])
        if len(files) > NAMES_SHOWN:
            names += ", …"
        what = _plural(len(files), "photo" if _are_photos(result, student, files) else "file")
        line = Text("  ")
        line.append(shown(student), style="bold")
        line.append(f"  {rule}", style="yellow")
        line.append(f"  {len(files)} {what}: {shown(label)} — {names}")
        console.print(line, no_wrap=True, overflow="ellipsis")


def _every_finding(findings: list[Finding], console: Console) -> None:
    if not findings:
        return
    table = Table(title="Findings", title_justify="left")
    for name in ("student", "file", "rule", "severity", "measured", "message"):
        table.add_column(name, overflow="fold")
    for f in findings:
        table.add_row(_text(f.student), _text(f.file), f.rule, f.severity.value, _measured(f),
                      _text(f.message), style=SEVERITY_STYLE[f.severity])
    console.print(table)


def _measured(f: Finding) -> str:
    """"1.17× (limit ≤ 1.00×)": the finding's numbers as people read them."""
    if f.value is None:
        return ""
    return f"{f.shown_value} (limit {f.shown_limit})" if f.limit is not None else f.shown_value


def _first_clause(message: str) -> str:
    for stop in (";", " — ", ":"):
        message = message.split(stop)[0]
    return message


def _are_photos(result: ValidationResult, student: str, files: Iterable[str]) -> bool:
    photos = {ph.file for ph in result.photos if ph.student == student}
    return all(f in photos for f in files)


def _plural(n: int, word: str) -> str:
    return word if n == 1 else word + "s"


def _text(value: str) -> Text:
    """A cell from a student: never read as rich markup, control characters escaped."""
    return Text(shown(value))


def render_json(result: ValidationResult, view: View = View()) -> str:
    """The metrics (of the whole class), each student's counts, a record for every photo handed
    in (verdict, the rules it broke, every measurement with its unit) and every finding."""
    metrics = result.metrics()
    result = view.narrow(result)
    verdicts = result.verdicts()
    shown_findings = view.shows(result.findings)
    broken: dict[tuple[str, str], dict[str, list[str]]] = {}
    for f in shown_findings:
        if f.severity is not Severity.INFO:
            rules = broken.setdefault((f.student, f.file), {"errors": [], "warnings": []})
            rules["errors" if f.severity is Severity.ERROR else "warnings"].append(f.rule)
    photos = []
    for ph in result.photos:
        key = (ph.student, ph.file)
        photos.append({
            "student": ph.student, "file": ph.file, "verdict": verdicts[key].value,
            **broken.get(key, {"errors": [], "warnings": []}),
            "measurements": measurements(ph),
        })
    findings = [{**f.as_row(), "verdict": verdicts[(f.student, f.file)].value
                 if (f.student, f.file) in verdicts else ""} for f in shown_findings]
    document = {
        "schema": SCHEMA_VERSION,
        "metrics": metrics,
        "units": QUANTITIES,
        "students": result.summary(),
        "names": result.names,  # student -> name: the roster's, or an LMS download's
        "photos": photos,
        "findings": findings,
    }
    return json.dumps(document, indent=2) + "\n"  # non-ASCII escaped: bidi controls too


def render_csv(result: ValidationResult, view: View = View()) -> str:
    """findings.csv's schema: a row per finding shown, a row for every other photo handed in."""
    result = view.narrow(result)
    return findings_csv_text(view.shows(result.findings), result.verdicts())
