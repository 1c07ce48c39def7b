"""reports/feedback/ (feedback): one UTF-8 plain-text message per student, `<name>.txt`.

The file name comes from the student id by `feedback_name`: the id itself when it is already a
safe lower-case name (letters, digits, `.`, `_`, `-`, not starting with a dot), else the id
reduced to such characters plus `-` and 8 hex digits of its SHA-1, so that two ids never share a
file, not even on a file system that ignores case. Student ids come from folder, zip and LMS
names, so they may hold anything; nothing is ever written outside the folder.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from pipeline.io import atomic_path

SUFFIX = ".txt"
_UNSAFE = re.compile(r"[^a-z0-9._-]+")
MAX_STEM = 80  # characters kept of an id; the hash keeps longer ones apart
# Names Windows refuses for a file whatever the extension.
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
             *(f"lpt{i}" for i in range(1, 10))}  # fmt: skip


def feedback_name(student: str) -> str:
    """The file name of `student`'s message (see the module docstring)."""
    stem = _UNSAFE.sub("_", student.lower()).lstrip(".")[:MAX_STEM]
    if stem and stem == student and stem not in _RESERVED:
        return stem + SUFFIX
    digest = hashlib.sha1(student.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    return f"{stem or 'student'}-{digest}{SUFFIX}"


def write_feedback(folder: Path, messages: Mapping[str, str]) -> list[Path]:
    """Write one file per student (student id -> message) and remove the `.txt` files of
    students no longer in `messages`; the paths written, in the order given."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for student, text in messages.items():
        target = folder / feedback_name(student)
        with atomic_path(target) as tmp:
            tmp.write_text(text, encoding="utf-8", newline="\n")
        written.append(target)
    keep = {p.name for p in written}
    for stale in folder.glob("*" + SUFFIX):
        if stale.name not in keep and stale.is_file():
            stale.unlink()
    return written


def read_feedback(folder: Path, students: Iterable[str]) -> dict[str, str]:
    """Each student's message that is in `folder` (students without a file are left out)."""
    out = {}
    for student in students:
        path = Path(folder) / feedback_name(student)
        try:
            out[student] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # not written yet, or not by the feedback stage: the card says so
    return out
