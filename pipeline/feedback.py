"""The feedback stage: one short plain-text message per student, from validate's findings.

Each message is written to the student and short enough to paste into an LMS comment or an
e-mail: how many photos were accepted, each photo to redo with the reason and how to fix it
(photos that fail the same rule share one line), the attribute-table rows to correct, the files
that were not checked, and the warnings, one line per rule. Lists are capped (MAX_NAMES,
MAX_ROWS, MAX_FILES) and say how many more there are, so a message stays a screenful whatever
a student handed in. How to fix each rule lives in ADVICE, one entry per rule id.

A duplicate handed in by another student is not named: the message goes to one student and the
other's name is theirs; the instructor sees both in the report.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from pipeline.findings import Finding, Severity
from pipeline.formats.accepted import read_accepted
from pipeline.formats.feedback import write_feedback
from pipeline.formats.findings import read_findings
from pipeline.formats.manifest import PHOTO, read_manifest_rows
from pipeline.safe_text import shown

MAX_NAMES = 6  # photo names listed on one line before "and N more"
MAX_ROWS = 10  # attribute-table problems listed
MAX_FILES = 5  # files not checked listed
MAX_LINE = 300  # characters of one line (a message quoting a long file name is cut)


@dataclass(frozen=True)
class Advice:
    """What a rule means in a student's words, and what to do about it."""

    problem: str  # after "N photos: "
    fix: str


# One entry per rule id (tests/test_feedback.py checks it against the rule registry).
ADVICE: dict[str, Advice] = {
    "not_jpeg": Advice("not JPEG files", "save or export the photo as JPEG (.jpg); renaming a "
                       "file does not change its format"),
    "corrupt": Advice("damaged or unreadable files", "copy the original photo from your phone "
                      "again and check that it opens"),
    "too_small": Advice("too few pixels", "hand in the original photo, not a screenshot or a "
                        "resized copy"),
    "grayscale": Advice("black and white or tinted", "take the photo in colour, without a "
                        "filter"),
    "no_face": Advice("no face found", "face the camera with your whole face in the frame, in "
                      "good light"),
    "multiple_faces": Advice("more than one face", "make sure only you are in the photo: no "
                             "other people, posters or reflections behind you"),
    "not_frontal": Advice("head turned or tilted", "look straight into the camera and hold "
                          "your head level"),
    "face_too_small": Advice("face too small in the photo", "come closer, so that your head "
                             "fills about half the height of the photo"),
    "face_cut_off": Advice("face cut off at the edge", "keep your whole head, from chin to "
                           "hair, inside the frame"),
    "blurry": Advice("blurry", "hold the phone still and tap the screen to focus on your face"),
    "exposure": Advice("too dark, too bright or unevenly lit", "face a window or a soft light; "
                       "avoid direct sun, hard shadows and light behind you"),
    "expression": Advice("not a neutral expression", "keep a neutral face: mouth closed, eyes "
                         "open, no smile"),
    "count": Advice("the number of photos", "hand in exactly the number of photos asked for"),
    "duplicate": Advice("the same photo twice", "replace each copy with a new photo of your "
                        "own"),
    "attributes": Advice("the attribute table", "correct attributes.csv: one row per photo, "
                         "with its file name and the allowed values"),
    "submission": Advice("files that could not be checked", "hand in only your photos and "
                         "attributes.csv, in one folder or zip, without links or zips inside"),
    "missing": Advice("nothing handed in", "hand in your photos and attributes.csv"),
    "not_on_roster": Advice("not on the class list", "check with your instructor under which "
                            "name or id you are enrolled"),
    "identity": Advice("photos of more than one person", "hand in photos of the one person "
                       "the course asks for"),
}
FALLBACK = Advice("a problem", "see the reason given")
TABLE_RULE = "attributes"
SUBMISSION_RULE = "submission"
IDENTITY_RULE = "identity"


@dataclass(frozen=True)
class FeedbackResult:
    paths: list[Path]  # one message per student, in student order
    to_redo: int  # students whose message asks for something to be redone


def run_feedback(*, manifest: Path, findings: Path, accepted: Path, out_dir: Path) -> \
        FeedbackResult:
    """Write `out_dir/<student>.txt` (`pipeline.formats.feedback`) for every student in the
    manifest or the findings; FormatError when an input is missing or malformed."""
    photos: dict[str, list[str]] = defaultdict(list)
    for row in read_manifest_rows(Path(manifest)):
        if row.kind == PHOTO:
            photos[row.student].append(row.file)
    by_student: dict[str, list[Finding]] = defaultdict(list)
    for f in read_findings(Path(findings)):
        if f.student and f.severity is not Severity.INFO:
            by_student[f.student].append(f)
    accepted_count: dict[str, int] = defaultdict(int)
    for row in read_accepted(Path(accepted))[1]:
        accepted_count[row["student"]] += 1
    students = sorted(set(photos) | set(by_student))
    messages = {
        s: message(s, len(photos[s]), accepted_count[s], by_student[s]) for s in students
    }
    paths = write_feedback(Path(out_dir), messages)
    redo = sum(1 for s in students if _errors(by_student[s]))
    return FeedbackResult(paths, redo)


def message(student: str, handed_in: int, accepted: int, findings: list[Finding]) -> str:
    """The message to `student` (findings without INFO ones), deterministic for a given input."""
    redo, warned, submission, table, files = _sorted_out(findings)
    lines = [f"Hello {shown(student)},", ""]
    if handed_in:
        lines.append(f"Your photos were checked: {handed_in} handed in, {accepted} accepted, "
                     f"{handed_in - accepted} not accepted.")
    else:
        lines.append("No photos from you were received.")
    blocks = [
        ("Your submission:", _submission(submission)),
        ("Photos to redo:", _grouped(redo)),
        ("Attribute table, rows to correct:", _capped(
            [_line(f"{f.file}: {f.message}" if f.file else f.message) for f in table],
            MAX_ROWS, "more rows")),
        ("Files that were not checked:", _capped(
            [_line(f"{f.file}: {f.message}") for f in files], MAX_FILES, "more files")),
        ("Warnings (not a reason to redo):", _grouped(warned)),
    ]
    for title, items in blocks:
        if items:
            lines += ["", title, *items]
    todo = [what for what, group in (("new photos for those to redo", redo + submission + files),
                                     ("a corrected attribute table", table)) if _errors(group)]
    lines += ["", f"Please hand in {' and '.join(todo)}." if todo else
              "Nothing to redo. Thank you!"]
    return "\n".join(lines) + "\n"


def _errors(findings: list[Finding]) -> bool:
    return any(f.severity is Severity.ERROR for f in findings)


def _sorted_out(findings: list[Finding]) -> tuple[list[Finding], ...]:
    """(photo errors, photo warnings, whole-submission findings, table findings, other files)."""
    redo, warned, submission, table, files = [], [], [], [], []
    for f in sorted(findings, key=lambda f: (f.severity is not Severity.ERROR, f.rule, f.file,
                                             f.message)):  # fmt: skip
        if f.rule == TABLE_RULE:
            table.append(f)
        elif not f.file:
            submission.append(f)
        elif f.rule == SUBMISSION_RULE:
            files.append(f)
        else:
            (redo if f.severity is Severity.ERROR else warned).append(f)
    return redo, warned, submission, table, files


def _grouped(findings: list[Finding]) -> list[str]:
    """One line per rule: the photo and its reason when alone, else the photos' names."""
    by_rule: dict[str, list[Finding]] = defaultdict(list)
    for f in findings:
        by_rule[f.rule].append(f)
    lines = []
    for rule in sorted(by_rule):
        group = by_rule[rule]
        advice = _advice(rule)
        names = sorted({f.file for f in group})
        if len(names) == 1:
            reasons = "; ".join(dict.fromkeys(_reason(f).rstrip(". ") for f in group))
            lines.append(_line(f"{names[0]}: {reasons}", advice))
            continue
        listed = ", ".join(names[:MAX_NAMES])
        more = f" and {len(names) - MAX_NAMES} more" if len(names) > MAX_NAMES else ""
        lines.append(_line(f"{len(names)} photos, {advice.problem}: {listed}{more}", advice))
    return lines


def _submission(findings: list[Finding]) -> list[str]:
    """A line per finding about the whole submission; a person shared with other students is
    one line, which names none of them (the validator's messages do, for the instructor)."""
    shared = [f for f in findings if f.rule == IDENTITY_RULE and f.related]
    lines = [_line(_reason(f), _advice(f.rule)) for f in findings if f not in shared]
    others = {f.related.split("/", 1)[0] for f in shared}
    if others:
        where = ("another student's photos" if len(others) == 1 else
                 f"the photos of {len(others)} other students")
        lines.insert(0, _line(f"a person in your photos is also in {where}",
                              _advice(IDENTITY_RULE)))
    return lines


def _reason(f: Finding) -> str:
    if f.rule == "duplicate" and f.related and not f.related.startswith(f"{f.student}/"):
        return "the same photo was also handed in by another student"
    if f.rule == "duplicate" and f.related:
        return f"a copy of {f.related.split('/', 1)[1]}"
    return f.message


def _advice(rule: str) -> Advice:
    return ADVICE.get(rule, FALLBACK)


def _line(text: str, advice: Advice | None = None) -> str:
    text = shown(text).rstrip(". ")
    if len(text) > MAX_LINE:
        text = text[: MAX_LINE - 1] + "…"
    end = "" if text.endswith(("?", "!", "…")) else "."
    return f"- {text}{end}" + (f" Fix: {advice.fix}." if advice else "")


def _capped(lines: list[str], cap: int, what: str) -> list[str]:
    return lines[:cap] + ([f"- and {len(lines) - cap} {what}."] if len(lines) > cap else [])
