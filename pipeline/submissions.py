"""Find each student's submission (a folder or `<student>.zip`) and read its files safely.

Nothing is ever extracted or written: zip members are read into memory by name, after checking
that the name could not point outside the submission (absolute paths, `..`, links). Every file
that is skipped becomes a finding, so an instructor sees what was ignored and why.
"""

from __future__ import annotations

import os
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from pipeline.config import IngestParams
from pipeline.findings import Finding, Severity

RULE = "submission"


@dataclass(frozen=True)
class Entry:
    """One file of a submission. `file` is how students and reports name it."""

    student: str
    file: str  # path inside the student's submission, '/'-separated
    source: str  # the folder or zip, relative to the submissions root
    member: str  # path inside that folder or zip


@dataclass
class Submission:
    student: str
    source: str
    photos: list[Entry] = field(default_factory=list)
    attributes: Entry | None = None
    findings: list[Finding] = field(default_factory=list)

    def add(self, severity: Severity, file: str, message: str, rule: str = RULE) -> None:
        self.findings.append(Finding(self.student, file, rule, severity, message))

    def ignored(self, file: str, why: str) -> None:
        self.add(Severity.INFO, file, f"{file} was ignored: {why}")


class SubmissionError(ValueError):
    """A file cannot be read from a submission."""


def discover(root: Path, params: IngestParams) -> tuple[list[Submission], list[Finding]]:
    """List every student's files under `root`; findings for what does not belong to any student."""
    root = Path(root)
    if not root.is_dir():
        raise SubmissionError(f"{root} is not a folder of submissions")
    loose: list[Finding] = []
    by_student: dict[str, Submission] = {}
    for path in sorted(root.iterdir(), key=lambda p: p.name):
        name = path.name
        if name in params.junk_names or name in params.junk_dirs or name.startswith("."):
            continue
        if path.is_symlink():
            loose.append(
                Finding(
                    name,
                    "",
                    RULE,
                    Severity.ERROR,
                    f"{name} is a symbolic link; submissions must be real folders or zips",
                )
            )
            continue
        if path.is_dir():
            student, sub = name, _scan_folder(root, path, params)
        elif path.suffix.lower() == ".zip":
            student, sub = path.stem, _scan_zip(root, path, params)
        else:
            loose.append(
                Finding(
                    "",
                    name,
                    RULE,
                    Severity.WARNING,
                    f"{name} is not inside a student folder or zip and was not checked",
                )
            )
            continue
        if student in by_student:
            loose.append(
                Finding(
                    student,
                    "",
                    RULE,
                    Severity.ERROR,
                    f"{student} handed in both {by_student[student].source} and "
                    f"{sub.source}; only {by_student[student].source} was checked. "
                    "Keep one of them.",
                )
            )
            continue
        by_student[student] = sub
    return list(by_student.values()), loose


def read_member(root: Path, source: str, member: str, max_bytes: int | None = None) -> bytes:
    """Bytes of one file of a submission (a folder or a zip under `root`)."""
    root = Path(root)
    container = root / source
    if source.lower().endswith(".zip") and container.is_file():
        with zipfile.ZipFile(container) as zf:
            info = zf.getinfo(member)
            if max_bytes is not None and info.file_size > max_bytes:
                raise SubmissionError(f"{member} is {info.file_size} bytes, over {max_bytes}")
            return zf.read(info)
    path = (container / member).resolve()
    if not path.is_relative_to(container.resolve()):
        raise SubmissionError(f"{source}/{member} points outside the submission")
    if max_bytes is not None and path.stat().st_size > max_bytes:
        raise SubmissionError(f"{member} is {path.stat().st_size} bytes, over {max_bytes}")
    return path.read_bytes()


def _scan_folder(root: Path, folder: Path, params: IngestParams) -> Submission:
    student = folder.name
    sub = Submission(student, folder.name)
    base = folder.resolve()
    names: list[str] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        here = Path(dirpath)
        kept_dirs = []
        for d in sorted(dirnames):
            rel = (here / d).relative_to(folder).as_posix()
            if d in params.junk_dirs:
                sub.ignored(rel, "it is an operating-system folder")
            elif (here / d).is_symlink():
                sub.add(
                    Severity.WARNING,
                    rel,
                    f"{rel} is a linked folder and was not followed",
                )
            else:
                kept_dirs.append(d)
        dirnames[:] = kept_dirs
        for f in sorted(filenames):
            path = here / f
            rel = path.relative_to(folder).as_posix()
            if path.is_symlink():
                target = path.resolve()
                if not target.is_relative_to(base) or not target.is_file():
                    sub.add(
                        Severity.ERROR,
                        rel,
                        f"{rel} is a link to a file outside the submission and was not read; "
                        "hand in the photo itself",
                    )
                    continue
            names.append(rel)
    _classify(sub, names, params)
    return sub


def _scan_zip(root: Path, path: Path, params: IngestParams) -> Submission:
    student = path.stem
    sub = Submission(student, path.name)
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        sub.add(
            Severity.ERROR,
            path.name,
            f"{path.name} is not a readable zip archive ({exc}); "
            "zip the folder again and hand it in",
        )
        return sub
    safe: dict[str, str] = {}  # member name -> name inside the submission
    for info in infos:
        name = info.filename
        if info.is_dir():
            continue
        problem = _unsafe_member(info)
        if problem:
            sub.add(
                Severity.ERROR,
                name,
                f"zip member {name!r} {problem}; it was not read",
            )
            continue
        if info.flag_bits & 0x1:
            sub.add(
                Severity.ERROR,
                name,
                f"{name} is password-protected; zip it without a password",
            )
            continue
        safe[name] = name
    # A zip made by right-clicking a folder holds everything under that one folder: strip it.
    real = [
        PurePosixPath(n).parts for n in safe if PurePosixPath(n).parts[0] not in params.junk_dirs
    ]
    tops = {parts[0] for parts in real}
    if len(tops) == 1 and all(len(parts) > 1 for parts in real):
        top = tops.pop()
        safe = {
            m: (PurePosixPath(m).relative_to(top).as_posix() if m.startswith(top + "/") else m)
            for m in safe
        }
    names = list(safe.values())
    member_of = {v: k for k, v in safe.items()}
    _classify(sub, names, params, member_of)
    return sub


def _unsafe_member(info: zipfile.ZipInfo) -> str | None:
    name = info.filename.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "has an absolute path"
    if ".." in PurePosixPath(name).parts:
        return "points outside the archive ('..')"
    mode = info.external_attr >> 16
    if info.create_system == 3 and stat.S_ISLNK(mode):
        return "is a symbolic link"
    return None


def _classify(
    sub: Submission, names: list[str], params: IngestParams, member_of: dict[str, str] | None = None
) -> None:
    """Sort a submission's files into photos, the attribute table and ignored files."""
    student = sub.student
    csvs: list[str] = []
    for rel in sorted(names):
        parts = PurePosixPath(rel).parts
        base = parts[-1]
        if any(p in params.junk_dirs for p in parts) or base in params.junk_names:
            sub.ignored(rel, "it is an operating-system file")
        elif base.startswith("."):
            sub.ignored(rel, "hidden files are not part of a submission")
        elif base.lower().endswith(".zip"):
            sub.add(
                Severity.WARNING,
                rel,
                f"{rel} is a zip inside the submission; nested zips are not "
                "opened — put its photos in the submission itself",
            )
        elif base.lower().endswith(".csv") and len(parts) == 1:
            csvs.append(rel)
        else:
            member = member_of[rel] if member_of else rel
            sub.photos.append(Entry(student, rel, sub.source, member))
    if not csvs:
        return
    chosen = next((c for c in csvs if c.lower() == "attributes.csv"), None)
    if chosen is None and len(csvs) == 1:
        chosen = csvs[0]
    if chosen is None:
        sub.add(
            Severity.ERROR,
            "",
            f"several CSV files ({', '.join(csvs)}) and none is named "
            "attributes.csv; name the attribute table attributes.csv",
            rule="attributes",
        )
        return
    for other in csvs:
        if other != chosen:
            sub.ignored(other, f"the attribute table is {chosen}")
    member = member_of[chosen] if member_of else chosen
    sub.attributes = Entry(student, chosen, sub.source, member)
