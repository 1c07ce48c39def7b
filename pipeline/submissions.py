"""Find each student's submission (a folder or `<student>.zip`, or a student's part of a Moodle
or Canvas bulk download, `find_submissions`) and read its files safely.

Nothing is ever extracted or written, and every file handed in ends up either as a photo, as the
attribute table, or in a finding that says why it was not read:

- Only regular files are read. A named pipe, socket or device is reported and never opened (a
  pipe blocks forever, /dev/zero never ends); reading opens with O_NONBLOCK and O_NOFOLLOW and
  checks again what it opened. A symbolic link is resolved, with loop protection, only to say
  where it points: it is never read, so nothing outside a submission is read and no photo is
  counted twice through a link to it.
- Zip members are read into memory by name, after checking that the name could not point
  outside the submission (absolute paths, `..`, links); every error the zip library can raise
  (bad CRC, damaged data, a size that lies, encryption, an unknown compression method) becomes a
  finding on that member. Names written without the zip's UTF-8 flag are decoded as UTF-8 when
  they are UTF-8 (Windows and many tools write them so) and as cp437 otherwise; a name twice in
  one zip is reported.
- A download's zip is read in place like any other; a student's own zip inside it is read into
  memory (one level: a zip in that one is reported, not opened), under the same rules.
- A submission holding more than `max_files` files, or folders nested deeper than `MAX_DEPTH`,
  is reported and not checked: its listing alone could exhaust memory.
- Names that differ only in case, Unicode form or surrounding spaces are reported (Windows and
  macOS cannot hold both); a file name that is not valid UTF-8 is shown with its bad bytes as
  `\\xNN` (and read back by that name).
"""

from __future__ import annotations

import errno
import functools
import io
import lzma
import os
import re
import stat
import struct
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from pipeline.config import IngestParams
from pipeline.downloads import DESCRIPTION, Layout, detect, parse
from pipeline.findings import Finding, Severity
from pipeline.safe_text import name_key

RULE = "submission"
TABLE_RULE = "attributes"
# Folders inside a submission are looked into this deep; a photo is never further down.
MAX_DEPTH = 8
SPREADSHEETS = {".xlsx", ".xlsm", ".xls", ".ods", ".numbers"}
# Files that are surely not photos, in words; anything else is judged as a photo by its content.
NOT_PHOTOS = {
    **dict.fromkeys((".txt", ".md", ".rtf", ".json", ".xml", ".yaml", ".yml", ".tsv"),
                    "a text file"),
    **dict.fromkeys((".doc", ".docx", ".odt", ".pages", ".pdf", ".ppt", ".pptx"), "a document"),
    **dict.fromkeys((".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".3gp"), "a video"),
    **dict.fromkeys((".mp3", ".wav", ".m4a", ".aac", ".ogg"), "a sound file"),
    **dict.fromkeys((".rar", ".7z", ".tar", ".gz", ".tgz", ".bz2", ".xz"), "an archive"),
    **dict.fromkeys((".html", ".htm", ".py", ".ipynb", ".js", ".exe", ".lnk", ".url"),
                    "a web page or program"),
}
# What the zip library raises for a damaged, hostile or unusual archive, member by member.
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, lzma.LZMAError, EOFError,
              NotImplementedError, RuntimeError, ValueError, OSError, struct.error)
_ESCAPED_BYTE = re.compile(rb"\\x([0-9a-f]{2})")


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
    name: str = ""  # the student's name as an LMS download shows it; "" for a folder or zip
    photos: list[Entry] = field(default_factory=list)
    attributes: Entry | None = None
    findings: list[Finding] = field(default_factory=list)

    def add(self, severity: Severity, file: str, message: str, rule: str = RULE) -> None:
        self.findings.append(Finding(self.student, file, rule, severity, message))

    def ignored(self, file: str, why: str) -> None:
        self.add(Severity.INFO, file, f"{file} was ignored: {why}")


class SubmissionError(OSError):
    """A file cannot be read from a submission; the message says why."""


class TooLarge(SubmissionError):
    """A file is over the size limit it was read with."""


@dataclass(frozen=True)
class _File:
    """A file found in a submission: its name there, the name to read it by, why it cannot be."""

    name: str
    member: str
    problem: str | None = None
    source: str | None = None  # the folder or zip it is read from, when not the submission's


def discover(root: Path, params: IngestParams) -> tuple[list[Submission], list[Finding]]:
    """List every student's files under `root`; findings for what does not belong to any student."""
    root = Path(root)
    if not root.is_dir():
        raise SubmissionError(f"{root} is not a folder of submissions")
    loose: list[Finding] = []
    by_student: dict[str, Submission] = {}

    def note(student: str, file: str, severity: Severity, message: str) -> None:
        loose.append(Finding(student, file, RULE, severity, message))

    for path in sorted(root.iterdir(), key=lambda p: p.name):
        name = as_text(path.name)
        if name in params.junk_names or name in params.junk_dirs or name.startswith("."):
            continue
        try:
            mode = path.lstat().st_mode
        except OSError as exc:
            note("", name, Severity.ERROR, f"{name} cannot be looked at ({exc.strerror})")
            continue
        if stat.S_ISLNK(mode):
            note(
                name,
                "",
                Severity.ERROR,
                f"{name} is a symbolic link; submissions must be real folders or zips",
            )
            continue
        if stat.S_ISDIR(mode):
            student, sub = name, _scan_folder(path, params)
        elif stat.S_ISREG(mode) and path.suffix.lower() == ".zip":
            student, sub = name[: -len(".zip")], _scan_zip(path, params)
        elif not stat.S_ISREG(mode):
            note("", name, Severity.ERROR,
                 f"{name} is {_kind(mode)}, not a folder or zip; it was not opened")
            continue
        else:
            note("", name, Severity.WARNING,
                 f"{name} is not inside a student folder or zip and was not checked")
            continue
        if student in by_student:
            first = by_student[student].source
            note(student, "", Severity.ERROR,
                 f"{student} handed in both {first} and {sub.source}; only {first} was checked. "
                 "Keep one of them.")
            continue
        if not sub.photos and sub.attributes is None and not sub.findings:
            sub.add(Severity.ERROR, "", f"{sub.source} is empty: nothing was handed in")
        by_student[student] = sub
    return list(by_student.values()), loose


@dataclass
class Found:
    """A class as `find_submissions` read it, and the layout it was read as."""

    submissions: list[Submission]
    findings: list[Finding]  # what belongs to no student
    layout: Layout
    detected: bool  # chosen from the names (`ingest.layout: auto`)


def find_submissions(root: Path, params: IngestParams) -> Found:
    """Every student's files under `root`, laid out as `params.layout` says or as the names show.

    `root` is a folder of student folders and zips, an LMS bulk download (its zip, the zip alone
    in a folder, or the folder it was extracted to); pipeline/downloads.py says what Moodle's and
    Canvas's look like. Students of a download are keyed by the LMS's numeric id and keep their
    name; a student's own zip in a download is opened (one level)."""
    root = Path(root)
    layout, detected = Layout(params.layout), params.layout == Layout.AUTO
    base, under = _one_folder_down(root, params)
    download, prefix = (root, "") if _is_file(root) else (_lone_zip(base, params), under)
    if download is not None and download != root:
        prefix = "/".join(p for p in (under, as_text(download.name)) if p)
    tops: list[str] | None = None
    infos: list[zipfile.ZipInfo] = []
    strip = ""
    if download is not None:
        try:
            with zipfile.ZipFile(download) as zf:
                infos = zf.infolist()[: params.max_files * 1000]
        except ZIP_ERRORS as exc:
            if download == root:
                problem = (f"{as_text(root.name)} is not a readable zip archive ({exc}); "
                           "download it again")
                return Found([], [Finding("", "", RULE, Severity.ERROR, problem)], layout,
                             detected)
            download = None
        else:
            names = [n for n in (_zip_name(i) for i in infos if not i.is_dir())
                     if not _junk(n.split("/")[0], params)]
            tops = sorted({n.split("/")[0] for n in names})
            # the extracted download zipped again: everything in one folder that is no student's
            if len(tops) == 1 and detect(tops) is Layout.FOLDERS and all("/" in n for n in names):
                strip = tops[0] + "/"
                tops = sorted({n.removeprefix(strip).split("/")[0] for n in names})
    if detected:
        layout = detect(tops if tops is not None else _top_names(base, params))
    if layout is Layout.FOLDERS and download == root:
        problem = (f"{as_text(root.name)} is neither a Moodle nor a Canvas download; extract it "
                   "and give the folder of student folders and zips")
        return Found([], [Finding("", "", RULE, Severity.ERROR, problem)], layout, detected)
    if layout is Layout.FOLDERS:
        subs, loose = discover(root, params)
        return Found(subs, loose, layout, detected)
    groups: dict[str, _Group] = {}
    loose: list[Finding] = []
    if download is None:
        _group_folder(base, under, layout, params, groups, loose)
    else:
        _group_zip(infos, prefix, strip, layout, params, groups, loose)
    return Found([_submission(g, root, params) for _, g in sorted(groups.items())], loose,
                 layout, detected)


def _one_folder_down(root: Path, params: IngestParams) -> tuple[Path, str]:
    """The folder a download was extracted into, when `root` holds only that folder (an unzip
    tool's `Course-Assignment-123/`), and its name; else `root` and ""."""
    if not root.is_dir() or root.is_symlink():
        return root, ""
    inside = [p for p in root.iterdir() if not _junk(as_text(p.name), params)]
    if len(inside) != 1 or inside[0].is_symlink() or not inside[0].is_dir():
        return root, ""
    only = inside[0]
    if parse(Layout.MOODLE, as_text(only.name)) or parse(Layout.CANVAS, as_text(only.name)):
        return root, ""  # a class of one student's folder
    if detect(_top_names(only, params)) is Layout.FOLDERS:
        return root, ""
    return only, as_text(only.name)


@dataclass
class _Group:
    """The files of one student of a download, gathered from every entry that names them."""

    sub: Submission
    files: list[_File] = field(default_factory=list)
    late: bool = False


def _top_names(root: Path, params: IngestParams) -> list[str]:
    return [as_text(p.name) for p in root.iterdir() if not _junk(as_text(p.name), params)]


def _junk(name: str, params: IngestParams) -> bool:
    return name in params.junk_names or name in params.junk_dirs or name.startswith(".")


def _lone_zip(root: Path, params: IngestParams) -> Path | None:
    """The zip a folder holds alone: an LMS download put in data/submissions/ as it came."""
    if not root.is_dir():
        return None
    names = [p for p in root.iterdir() if not _junk(as_text(p.name), params)]
    if len(names) == 1 and names[0].suffix.lower() == ".zip" and _is_file(names[0]):
        # a class of one student's own zip, named as a download names it, is not a download
        return names[0] if detect([as_text(names[0].name)]) is Layout.FOLDERS else None
    return None


def _group(groups: dict[str, _Group], layout: Layout, entry: str, source: str,
           loose: list[Finding]) -> _Group | None:
    who = parse(layout, entry)
    if who is None:
        loose.append(Finding("", entry, RULE, Severity.WARNING,
                             f"{entry} is not named as {DESCRIPTION[layout]} names a student's "
                             "files and was not checked"))
        return None
    group = groups.setdefault(who.student, _Group(Submission(who.student, source, who.name)))
    group.late |= who.late
    return group


def _group_folder(base: Path, under: str, layout: Layout, params: IngestParams,
                  groups: dict[str, _Group], loose: list[Finding]) -> None:
    """An extracted download (`base`, the folder `under` the submissions): each entry is a
    student's folder or one of their files."""
    for path in sorted(base.iterdir(), key=lambda p: p.name):
        name = as_text(path.name)
        source = "/".join(p for p in (under, name) if p)
        if _junk(name, params):
            continue
        try:
            mode = path.lstat().st_mode
        except OSError as exc:
            loose.append(Finding("", name, RULE, Severity.ERROR,
                                 f"{name} cannot be looked at ({exc.strerror})"))
            continue
        if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
            who = parse(layout, name)
            loose.append(Finding(who.student if who else "", name, RULE, Severity.ERROR,
                                 f"{name} is {_kind(mode)}, not a folder or file; it was not "
                                 "opened"))
            continue
        group = _group(groups, layout, name, source if stat.S_ISDIR(mode) else under, loose)
        if group is None:
            continue
        if stat.S_ISDIR(mode):
            files = _list_folder(path, group.sub, params) or []
            group.files.extend(_File(f.name, f.member, f.problem, source) for f in files)
        else:
            group.files.append(_File(parse(layout, name).rest, name, None, under))


def _group_zip(infos: list[zipfile.ZipInfo], prefix: str, strip: str, layout: Layout,
               params: IngestParams, groups: dict[str, _Group], loose: list[Finding]) -> None:
    """A download's zip: each member lies in a student's folder or is named for the student
    (below the one folder `strip` names, when everything is in it)."""
    named: dict[str, list[tuple[str, zipfile.ZipInfo]]] = {}
    tops: dict[str, _Group | None] = {}  # a folder that is no student's is reported once
    for info in infos:
        if info.is_dir():
            continue
        name = _zip_name(info).removeprefix(strip)
        top, _, inside = name.partition("/")
        if _junk(top, params):
            continue
        if top not in tops:
            tops[top] = _group(groups, layout, top, prefix, loose)
        group = tops[top]
        if group is None:
            continue
        problem = _unsafe_member(info)
        if problem:
            group.sub.add(Severity.ERROR, name, f"zip member {name!r} {problem}; it was not read")
            continue
        named.setdefault(group.sub.student, []).append(
            (inside or parse(layout, top).rest, info))
    for student, members in named.items():
        group = groups[student]
        group.files.extend(_last_of_each_name(group.sub, members, prefix))


def _submission(group: _Group, root: Path, params: IngestParams) -> Submission:
    sub = group.sub
    if len(group.files) > params.max_files:
        _too_many(sub, params)
        return sub
    files = _open_zips(sub, group.files, root, params)
    _classify(sub, files, params)
    if not sub.photos and sub.attributes is None and not sub.findings:
        sub.add(Severity.ERROR, "", f"{sub.name or sub.student} handed in nothing")
    if group.late:
        sub.add(Severity.INFO, "", "the LMS marks this submission late (after the due date)")
    return sub


def _open_zips(sub: Submission, files: list[_File], root: Path,
               params: IngestParams) -> list[_File]:
    """A student's own zip in a download, replaced by its files (named as inside it, or under
    the zip's name where the student also handed in a file of that name)."""
    taken = {f.name for f in files if not f.name.lower().endswith(".zip")}
    out = []
    for f in files:
        if f.problem is not None or not f.name.lower().endswith(".zip"):
            out.append(f)
            continue
        source = "/".join(p for p in (_source(sub, f), f.member) if p)
        try:
            zipped = _zip_of(root, source)
        except SubmissionError as exc:
            sub.add(Severity.ERROR, f.name, f"{f.name} could not be read: {exc}")
            continue
        except OSError as exc:
            sub.add(Severity.ERROR, f.name, f"{f.name} could not be read ({exc.strerror})")
            continue
        inner = _list_zip(zipped, sub, params, f.name, source) or []
        for g in inner:
            name = g.name if g.name not in taken else f"{f.name}/{g.name}"
            out.append(_File(name, g.member, g.problem, source))
    return out


def read_member(root: Path, source: str, member: str, max_bytes: int | None = None) -> bytes:
    """Bytes of one file of a submission (a folder or a zip under `root`, or a zip inside a zip
    when `root` or a folder above `source` is an LMS download's zip).

    Raises SubmissionError, whatever went wrong: the file is missing, is not a regular file, is
    over `max_bytes`, or cannot be read from its zip.
    """
    root = Path(root)
    zipped = _zip_of(root, source)
    if zipped is not None:
        return _read_zip_member(zipped, member, max_bytes, source or root.name)
    container = _fs_path(root, source)
    path = _fs_path(container, member)
    try:
        inside = path.resolve().is_relative_to(container.resolve())
    except (OSError, RuntimeError):  # a link loop
        inside = False
    if not inside:
        raise SubmissionError(f"{source}/{member} points outside the submission")
    return _read_file(path, max_bytes)


def _zip_of(root: Path, source: str) -> Path | io.BytesIO | None:
    """The zip `source` names under `root`; None when it is a folder. The first regular `.zip`
    file on the way down (or `root` itself) is on disk; what `source` names inside it is a zip
    handed in inside that one (one level: nested zips go no deeper), read into memory."""
    outer, inner = None, ""
    if _is_file(root):
        outer, inner = root, source
    else:
        here = root
        parts = PurePosixPath(source).parts if source else ()
        for i, part in enumerate(parts):
            here = _fs_path(here, part)
            if part.lower().endswith(".zip") and _is_file(here):
                outer, inner = here, "/".join(parts[i + 1:])
                break
    if outer is None:
        return None
    if not inner:
        return outer
    try:
        info = outer.stat()
    except OSError as exc:  # removed since it was looked at
        raise SubmissionError(exc.strerror or str(exc)) from None
    return io.BytesIO(_nested_zip(str(outer), inner, info.st_mtime_ns, info.st_size))


# A student's zip inside an LMS download's zip is read whole into memory once for all its files;
# the last few are kept (threads read a class student by student).
NESTED_ZIP_BYTES = 1024 * 1024 * 1024


@functools.lru_cache(maxsize=4)
def _nested_zip(outer: str, inner: str, mtime_ns: int, size: int) -> bytes:
    return _read_zip_member(Path(outer), inner, NESTED_ZIP_BYTES, Path(outer).name)


def as_text(name: str) -> str:
    """A file-system name as text any file can hold: bytes that are not UTF-8 (os.listdir hands
    them over as surrogate escapes) are written as \\xNN."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _fs_path(folder: Path, name: str) -> Path:
    """`folder / name`, or the file whose name `as_text` wrote as `name`."""
    path = folder / name
    if "\\x" in name and not os.path.lexists(path):
        raw = _ESCAPED_BYTE.sub(lambda m: bytes([int(m[1], 16)]), name.encode("utf-8"))
        path = folder / os.fsdecode(raw)
    return path


def _is_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def _read_file(path: Path, max_bytes: int | None) -> bytes:
    try:
        mode = path.lstat().st_mode
        if not stat.S_ISREG(mode):
            raise SubmissionError(f"it is {_kind(mode)}, not a file")
        flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(path, flags)
    except SubmissionError:
        raise
    except FileNotFoundError:
        raise SubmissionError(f"{as_text(path.name)} was not found (moved or deleted?)") from None
    except OSError as exc:
        raise SubmissionError(exc.strerror or str(exc)) from None
    with os.fdopen(fd, "rb") as fh:
        try:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode):  # replaced since it was looked at
                raise SubmissionError(f"it is {_kind(info.st_mode)}, not a file")
            _check_size(info.st_size, max_bytes)
            data = fh.read() if max_bytes is None else fh.read(max_bytes + 1)
        except SubmissionError:
            raise
        except OSError as exc:
            raise SubmissionError(exc.strerror or str(exc)) from None
    _check_size(len(data), max_bytes)
    return data


def _read_zip_member(container: Path | io.BytesIO, member: str, max_bytes: int | None,
                     label: str) -> bytes:
    try:
        zf = _zip_file(container)
        info = zf.getinfo(member)
        if info.flag_bits & 0x1:
            raise SubmissionError("it is password-protected; zip it without a password")
        _check_size(info.file_size, max_bytes)
        # the library stops at the size the zip declares and checks the CRC at the end,
        # so a member whose size field lies fails here instead of growing without bound
        data = zf.read(info)
    except KeyError:
        raise SubmissionError(f"{member} is not in {label} any more") from None
    except SubmissionError:
        raise
    except ZIP_ERRORS as exc:
        raise SubmissionError(_zip_problem(exc)) from None
    _check_size(len(data), max_bytes)
    return data


def _zip_file(container: Path | io.BytesIO) -> zipfile.ZipFile:
    """The zip, its directory read once for all its members while the file stays the same: a
    download's zip holds a whole class, and reading its directory for every photo would cost
    time in the square of the class's size."""
    if isinstance(container, io.BytesIO):
        return zipfile.ZipFile(container)
    info = container.stat()
    return _zip_on_disk(str(container), info.st_ino, info.st_mtime_ns, info.st_size)


@functools.lru_cache(maxsize=8)
def _zip_on_disk(path: str, inode: int, mtime_ns: int, size: int) -> zipfile.ZipFile:
    # reading members of one ZipFile from several threads is safe: each read takes its lock
    return zipfile.ZipFile(path)


def _check_size(size: int, max_bytes: int | None) -> None:
    if max_bytes is not None and size > max_bytes:
        raise TooLarge(f"it is {size:,} bytes, more than the {max_bytes:,} allowed")


def _zip_problem(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, NotImplementedError):
        return f"it is compressed in a way this tool cannot read ({text}); zip it again"
    if isinstance(exc, RuntimeError) and "encrypted" in text:
        return "it is password-protected; zip it without a password"
    if isinstance(exc, EOFError):
        return "the zip ends in the middle of it (the zip was cut off); zip it again"
    return f"it is damaged inside the zip ({text}); zip the folder again and hand it in"


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    return "not a regular file"


def _scan_folder(folder: Path, params: IngestParams) -> Submission:
    sub = Submission(as_text(folder.name), as_text(folder.name))
    files = _list_folder(folder, sub, params)
    if files is not None:
        _classify(sub, files, params)
    return sub


def _list_folder(folder: Path, sub: Submission, params: IngestParams) -> list[_File] | None:
    """Every file under `folder`, named relative to it; None (reported) when there are too many."""
    base = folder.resolve()
    files: list[_File] = []
    pending = [(folder, "")]
    while pending:
        here, prefix = pending.pop()
        try:
            with os.scandir(here) as listing:
                entries = []
                for entry in listing:
                    entries.append(entry)
                    if len(files) + len(entries) > params.max_files:
                        _too_many(sub, params)
                        return None
        except OSError as exc:
            sub.add(Severity.ERROR, prefix.rstrip("/"),
                    f"{prefix or sub.source} cannot be listed ({exc.strerror}); nothing in it "
                    "was checked")
            continue
        subfolders = []
        for entry in sorted(entries, key=lambda e: e.name):
            rel = prefix + as_text(entry.name)
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError as exc:
                files.append(_File(rel, rel, f"cannot be looked at ({exc.strerror})"))
                continue
            if stat.S_ISDIR(mode):
                if entry.name in params.junk_dirs:
                    sub.ignored(rel, "it is an operating-system folder")
                elif rel.count("/") >= MAX_DEPTH:
                    sub.add(Severity.WARNING, rel,
                            f"{rel} is nested more than {MAX_DEPTH} folders deep and was not "
                            "looked into; put the photos at the top of the submission")
                else:
                    subfolders.append((Path(entry.path), rel + "/"))
            elif stat.S_ISLNK(mode):
                problem = _link_problem(Path(entry.path), base)
                if problem is None:
                    sub.add(Severity.WARNING, rel, f"{rel} is a linked folder and was not followed")
                else:
                    files.append(_File(rel, rel, problem))
            elif stat.S_ISREG(mode):
                files.append(_File(rel, rel))
            else:
                files.append(_File(rel, rel, f"is {_kind(mode)}, not a file, and was not read"))
            if rel != prefix + entry.name:
                sub.add(Severity.WARNING, rel,
                        f"the name {rel} is not valid UTF-8 text (its odd bytes are shown as "
                        "\\xNN); rename it with ordinary letters")
        pending.extend(reversed(subfolders))
    return files


def _link_problem(link: Path, base: Path) -> str | None:
    """Why a symbolic link to a file is not read; None for a link to a folder (not followed)."""
    try:
        target = Path(os.path.realpath(link, strict=True))
    except (OSError, RuntimeError) as exc:
        if isinstance(exc, RuntimeError) or getattr(exc, "errno", None) == errno.ELOOP:
            return "is a symbolic link that leads back to itself (a link loop) and was not read"
        return f"is a link to {as_text(os.readlink(link))}, which does not exist"
    if target.is_dir():
        return None
    if not target.is_relative_to(base):
        return (
            "is a link to something outside the submission and was not read; "
            "hand in the file itself"
        )
    inside = as_text(target.relative_to(base).as_posix())
    return (
        f"is a link to {inside} in this submission and was not read, so that no photo counts "
        "twice; hand in each photo once, as a file"
    )


def _too_many(sub: Submission, params: IngestParams) -> None:
    sub.add(Severity.ERROR, "",
            f"{sub.source} holds more than {params.max_files} files; nothing in it was checked "
            "— hand in only the photos and the attribute table")


def _scan_zip(path: Path, params: IngestParams) -> Submission:
    sub = Submission(as_text(path.stem), as_text(path.name))
    files = _list_zip(path, sub, params)
    if files is not None:
        _classify(sub, files, params)
    return sub


def _list_zip(zipped: Path | io.BytesIO, sub: Submission, params: IngestParams,
              label: str | None = None, source: str | None = None) -> list[_File] | None:
    """Every member of a student's zip that is safe to read, named without the one folder a
    right-click zip puts everything in; None (reported) when it cannot be listed."""
    label = label or sub.source
    try:
        entries = _zip_entry_count(zipped)
        if entries is not None and entries > params.max_files:
            _too_many(sub, params)
            return None
        with zipfile.ZipFile(zipped) as zf:
            infos = zf.infolist()
    except ZIP_ERRORS as exc:
        sub.add(
            Severity.ERROR,
            "" if source is None else label,
            f"{label} is not a readable zip archive ({exc}); "
            "zip the folder again and hand it in",
        )
        return None
    if len(infos) > params.max_files:
        _too_many(sub, params)
        return None
    named: list[tuple[str, zipfile.ZipInfo]] = []
    for info in infos:
        if info.is_dir():
            continue
        name = _zip_name(info)
        problem = _unsafe_member(info)
        if problem:
            sub.add(Severity.ERROR, name, f"zip member {name!r} {problem}; it was not read")
        else:
            named.append((name, info))
    files = _last_of_each_name(sub, named, source)
    # A zip made by right-clicking a folder holds everything under that one folder: strip it.
    real = [PurePosixPath(f.name).parts for f in files]
    real = [parts for parts in real if parts[0] not in params.junk_dirs]
    tops = {parts[0] for parts in real}
    if len(tops) == 1 and all(len(parts) > 1 for parts in real):
        top = tops.pop() + "/"
        files = [_File(f.name.removeprefix(top), f.member, f.problem, f.source) for f in files]
    return files


def _last_of_each_name(sub: Submission, named: list[tuple[str, zipfile.ZipInfo]],
                       source: str | None) -> list[_File]:
    """The library reads the last member of a name: earlier ones are reported, not read."""
    times = Counter(name for name, _ in named)
    last = {name: info for name, info in named}
    for name, n in times.items():
        if n > 1:
            sub.add(Severity.WARNING, name,
                    f"the zip holds {n} files named {name}; only the last one was checked — "
                    "give every photo its own name")
    return [_File(name, info.filename, _zip_member_problem(info), source)
            for name, info in last.items()]


def _zip_name(info: zipfile.ZipInfo) -> str:
    """The member's name as its author wrote it: without the UTF-8 flag the library decodes
    cp437 (the zip standard's default), but most tools that leave the flag off write UTF-8."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("utf-8")
    except UnicodeError:
        return info.filename


def _zip_member_problem(info: zipfile.ZipInfo) -> str | None:
    if info.flag_bits & 0x1:
        return "is password-protected; zip it without a password"
    return None


def _zip_entry_count(path: Path | io.BytesIO) -> int | None:
    """How many members the zip's end record announces, read before the library builds an
    object for every one of them; None when there is no plain end record to read."""
    if isinstance(path, io.BytesIO):
        tail = path.getbuffer()[-(22 + 0xFFFF):].tobytes()
    else:
        with path.open("rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - 22 - 0xFFFF))
            tail = fh.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + 22 > len(tail):
        return None
    (count,) = struct.unpack_from("<H", tail, at + 10)
    return None if count == 0xFFFF else count  # 0xFFFF: a zip64 count, which the library reads


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


def _classify(sub: Submission, files: list[_File], params: IngestParams) -> None:
    """Sort a submission's files into photos, the attribute table and reported files."""
    tables: list[_File] = []
    seen: dict[str, str] = {}  # name_key -> the first name with it
    for f in sorted(files, key=lambda f: f.name):
        parts = PurePosixPath(f.name).parts
        base = parts[-1]
        suffix = PurePosixPath(base).suffix.lower()
        if any(p in params.junk_dirs for p in parts) or base in params.junk_names:
            sub.ignored(f.name, "it is an operating-system file")
            continue
        if base.startswith("."):
            sub.ignored(f.name, "hidden files are not part of a submission")
            continue
        key = name_key(f.name)
        if key in seen:
            sub.add(
                Severity.WARNING,
                f.name,
                f"{f.name} and {seen[key]} differ only in upper/lower case, accents written two "
                "ways or spaces; Windows and macOS cannot hold both — rename one",
            )
        else:
            seen[key] = f.name
        if suffix == ".csv" or suffix in SPREADSHEETS:
            tables.append(f)
        elif suffix == ".zip":
            sub.add(Severity.WARNING, f.name,
                    f"{f.name} is a zip inside the submission; nested zips are not opened — put "
                    "its photos in the submission itself")
        elif suffix in NOT_PHOTOS:
            sub.add(Severity.WARNING, f.name,
                    f"{f.name} is {NOT_PHOTOS[suffix]}, not a photo, and was not checked; hand "
                    "in only the photos and the attribute table")
        elif f.problem is not None:
            sub.add(Severity.ERROR, f.name, f"{f.name} {f.problem}")
        else:
            sub.photos.append(Entry(sub.student, f.name, _source(sub, f), f.member))
    _choose_table(sub, tables)


def _choose_table(sub: Submission, tables: list[_File]) -> None:
    """The attribute table: attributes.csv (at the top before in a folder), else the only CSV,
    else the only spreadsheet (whose finding then says to save it as CSV)."""
    if not tables:
        return
    csvs = [t for t in tables if t.name.lower().endswith(".csv")]
    named = sorted(
        (t for t in csvs if name_key(PurePosixPath(t.name).name) == "attributes.csv"),
        key=lambda t: t.name.count("/"),
    )
    if named:
        chosen = named[0]
    elif len(csvs) == 1 or (not csvs and len(tables) == 1):
        chosen = (csvs or tables)[0]
    else:
        several = csvs or tables
        sub.add(Severity.ERROR, "",
                f"several tables ({', '.join(t.name for t in several)}) and none is named "
                "attributes.csv; name the attribute table attributes.csv",
                rule=TABLE_RULE)
        return
    for other in tables:
        if other is not chosen:
            sub.ignored(other.name, f"the attribute table is {chosen.name}")
    if chosen.problem is not None:
        sub.add(Severity.ERROR, chosen.name, f"{chosen.name} {chosen.problem}",
                rule=TABLE_RULE)
        return
    sub.attributes = Entry(sub.student, chosen.name, _source(sub, chosen), chosen.member)


def _source(sub: Submission, f: _File) -> str:
    return sub.source if f.source is None else f.source
