"""The names a learning-management system gives the files of a bulk download, read back.

- **Moodle**, "Download all submissions": a zip of one folder per student and submission plugin,
  `Full Name_123456_assignsubmission_file_/`, holding the files the student uploaded (or the
  student's own zip). Without "Download submissions in folders" the files lie flat, each named
  `Full Name_123456_assignsubmission_file_<original name>`. 123456 is Moodle's participant id (it
  stays the same for a student across downloads of one assignment); with blind marking the name
  is `Participant 123456`.
- **Canvas**, "Download Submissions": a flat zip of `name_12345_67890_<original name>`, `name`
  the student's sortable name in lower case without spaces or punctuation (`lovelaceada`), 12345
  the Canvas user id and 67890 the file's attachment id; `name_LATE_12345_67890_...` when the
  submission came after the due date. A file the student uploaded again under the same name keeps
  Canvas's numbering (`photo-1.jpg`), and a download holds only each student's latest attempt.

Everything here is pure: `parse` names a file's student, `detect` chooses a layout from the
names at the top of a download. `pipeline.submissions` reads the files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Layout(StrEnum):
    AUTO = "auto"  # chosen from the names by `detect`
    FOLDERS = "folders"  # one folder or zip per student, named for the student
    MOODLE = "moodle"
    CANVAS = "canvas"


DESCRIPTION = {
    Layout.FOLDERS: "one folder or zip per student",
    Layout.MOODLE: "a Moodle \"Download all submissions\"",
    Layout.CANVAS: "a Canvas \"Download Submissions\"",
}
# Name, then participant id; greedy, so a name that ends in digits keeps them.
_MOODLE = re.compile(
    r"(?P<name>.+)[_ ](?P<id>\d+)_assignsubmission_(?P<plugin>[a-z]+)_(?P<rest>.*)", re.DOTALL)
_CANVAS = re.compile(r"(?P<name>[^_/]+?)(?P<late>_LATE)?_(?P<id>\d+)_(?P<attachment>\d+)_"
                     r"(?P<rest>.+)", re.DOTALL)


@dataclass(frozen=True)
class LmsName:
    """Whose a top-level entry of a download is, and what the student called it."""

    student: str  # the LMS's numeric id: the key every output names the student by
    name: str  # the student's name as the LMS shows it
    rest: str  # the original file name (flat), or "" for a Moodle folder
    late: bool = False


def parse(layout: Layout, entry: str) -> LmsName | None:
    """The student of a top-level file or folder of a `layout` download; None when the name is
    not one that LMS writes."""
    if layout is Layout.MOODLE:
        m = _MOODLE.fullmatch(entry)
        if m is None:
            return None
        return LmsName(m["id"], m["name"].strip(), m["rest"])
    if layout is Layout.CANVAS:
        m = _CANVAS.fullmatch(entry)
        if m is None or "/" in m["rest"]:
            return None
        return LmsName(m["id"], m["name"], m["rest"], late=bool(m["late"]))
    return None


def detect(entries: Iterable[str]) -> Layout:
    """The layout whose names most of the top-level `entries` are (at least half), else folders.

    A class in folders never matches by accident: a Moodle name needs `_assignsubmission_`, a
    Canvas one two numbers between underscores before the file's own name."""
    names = list(entries)
    for layout in (Layout.MOODLE, Layout.CANVAS):
        hits = sum(parse(layout, name) is not None for name in names)
        if names and hits * 2 >= len(names):
            return layout
    return Layout.FOLDERS
