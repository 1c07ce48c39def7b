"""The class list (`validate.roster`): who should have handed in, against who did.

A roster is a CSV with a header: the student's id (`id`, `student_id`, `student id`), the name
(`name`, `student`, `full name`) and optionally the e-mail (`email`, `e-mail`, `email address`),
in any order and case; other columns are ignored. A Canvas gradebook export (`Student`, `ID`,
with its `Points Possible` row) reads as it is. A roster that cannot be used is a RosterError
naming the file and what to mend, before anything is checked.

A submission is the roster's student when its key is the student's id (the numeric id of a
Moodle or Canvas download, or a folder named for the id) or, for a folder or zip, when it is
named after the student (`pipeline.safe_text.name_key`: case, accents written two ways and
surrounding spaces do not count). A student on the roster with no submission gets a `missing`
error; a submission that is nobody's on the roster a `not_on_roster` warning.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pipeline.findings import Finding, Severity
from pipeline.safe_text import name_key

MISSING = "missing"
NOT_ON_ROSTER = "not_on_roster"
RULES = (MISSING, NOT_ON_ROSTER)
# A roster is a class list; a larger file is surely something else.
MAX_BYTES = 4 * 1024 * 1024
_HEADERS = {
    "id": ("id", "student_id", "student id", "studentid"),
    "name": ("name", "student", "full name", "full_name", "fullname"),
    "email": ("email", "e-mail", "email address", "mail"),
}
_CANVAS_POINTS_ROW = "points possible"


class RosterError(ValueError):
    """The roster file cannot be used; the message says what to mend."""


@dataclass(frozen=True)
class RosterStudent:
    id: str
    name: str
    email: str = ""


@dataclass(frozen=True)
class Roster:
    path: Path
    students: tuple[RosterStudent, ...]


def load_roster(path: Path) -> Roster:
    """The roster at `path`; RosterError when it cannot be used."""
    return Roster(Path(path), tuple(read_roster(path)))


def read_roster(path: Path) -> list[RosterStudent]:
    """The students of the roster CSV at `path`; RosterError when it cannot be used."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise RosterError(f"roster {path} is over {MAX_BYTES:,} bytes; give a CSV of the class")
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise RosterError(f"roster {path} does not exist; set validate.roster to the class's "
                          "CSV, or to \"\" for none") from None
    except UnicodeDecodeError:
        raise RosterError(f"roster {path} is not UTF-8 text; save it as CSV UTF-8") from None
    except OSError as exc:
        raise RosterError(f"roster {path} cannot be read ({exc.strerror})") from None
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise RosterError(f"roster {path} is not a CSV file ({exc})") from None
    if not rows:
        raise RosterError(f"roster {path} is empty; it needs a header (id,name,email) and a row "
                          "per student")
    header = [h.strip().casefold() for h in rows[0]]
    at = {key: next((i for i, h in enumerate(header) if h in names), None)
          for key, names in _HEADERS.items()}
    if at["id"] is None:
        raise RosterError(f"roster {path} has no id column (its header is {', '.join(rows[0])}); "
                          "name the columns id,name,email")
    students: list[RosterStudent] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(rows[1:], start=2):
        cells = {key: row[i].strip() if i is not None and i < len(row) else ""
                 for key, i in at.items()}
        if not any(c.strip() for c in row):
            continue
        if not cells["id"]:
            if cells["name"].casefold() == _CANVAS_POINTS_ROW:
                continue
            raise RosterError(f"roster {path}, row {number}: no student id; give every student "
                              "the id the submissions are named by")
        key = name_key(cells["id"])
        if key in seen:
            raise RosterError(f"roster {path}: the id {cells['id']} is on rows {seen[key]} and "
                              f"{number}; give each student one row")
        seen[key] = number
        students.append(RosterStudent(cells["id"], cells["name"], cells["email"]))
    if not students:
        raise RosterError(f"roster {path} lists no student; give a row per student under its "
                          "header")
    return students


def roster_names(roster: Iterable[RosterStudent], students: Iterable[str]) -> dict[str, str]:
    """student -> the roster's name for each submission the roster knows by id."""
    by_id = {name_key(r.id): r.name for r in roster if r.name}
    return {s: by_id[name_key(s)] for s in students if name_key(s) in by_id}


def check_roster(roster: Iterable[RosterStudent], students: Iterable[str],
                 names: Mapping[str, str], where: str) -> list[Finding]:
    """`missing` for each roster student no submission is, `not_on_roster` for each submission
    no roster student is; `names` are the names LMS downloads give, `where` the roster's name."""
    roster = list(roster)
    by_key: dict[str, RosterStudent] = {}
    for r in roster:
        by_key.setdefault(name_key(r.id), r)
    for r in roster:
        if r.name:
            by_key.setdefault(name_key(r.name), r)
    found: set[str] = set()
    findings = []
    for student in students:
        r = by_key.get(name_key(student))
        if r is None:
            label = f"{names[student]} ({student})" if names.get(student) else student
            findings.append(Finding(
                student=student, file="", rule=NOT_ON_ROSTER, severity=Severity.WARNING,
                message=f"{label} handed in but is not on the roster {where}; check the id, or "
                        "add the student to the roster"))
        else:
            found.add(r.id)
    for r in roster:
        if r.id not in found:
            label = f"{r.name} ({r.id})" if r.name else r.id
            findings.append(Finding(
                student=r.id, file="", rule=MISSING, severity=Severity.ERROR,
                message=f"{label} is on the roster but handed in nothing"))
    return findings
