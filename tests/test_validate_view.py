"""How `facedata validate` shows its result: triage in the terminal, a record per photo in JSON
and CSV.

The class is made of measurements (no photo is decoded or detected here) judged by the real
rules; tests/test_cli.py runs the whole command on real photos.
"""

import csv
import io
import json
from dataclasses import replace

import pytest
from rich.console import Console

from pipeline.config import ValidateParams
from pipeline.faces import Face, FaceQuality, FaceReport, Pose
from pipeline.findings import Finding, Severity
from pipeline.formats.findings import FINDING_COLUMNS
from pipeline.formats.manifest import PHOTO, Manifest, ManifestRow
from pipeline.measure import ClassData, Photo, StudentData, Tones
from pipeline.rules import judge_class, judge_photo
from pipeline.validate import ValidationResult
from pipeline.validate_view import Detail, View, render_csv, render_json, render_table

PARAMS = ValidateParams(images_per_student=3)
QUALITY = FaceQuality(head_length=500, outline_margin=0.5, brightness=120, clipped_dark=0.0,
                      clipped_bright=0.0, edge_width=0.01, cheek_ratio=1.1, smile=0.0,
                      mouth_open=0.0, eyes_open=0.33, brows=0.32)


def photo(student: str, file: str, face: bool = True, **quality) -> Photo:
    faces = FaceReport((Face((100, 100, 500, 500), 0.99, ((0, 0),) * 5, Pose(2, -3, 1)),),
                       replace(QUALITY, **quality)) if face else FaceReport((), None)
    return Photo(student, file, f"{student}{file}", 1000, "JPEG", 800, 800, chroma=12.0,
                 phash=None, faces=faces, tones=Tones(10, 240))


def judged(photos: list[Photo], extra: list[Finding] = ()) -> ValidationResult:
    rows = [ManifestRow(p.student, p.file, p.student, p.file, PHOTO, p.sha256, p.bytes, p.format,
                        p.width, p.height) for p in photos]
    data = ClassData({s: StudentData(s) for s in sorted({p.student for p in photos})})
    for p in photos:
        data.students[p.student].photos.append(p)
    findings = [*extra, *(f for p in photos for f in judge_photo(p, PARAMS)),
                *judge_class(data, PARAMS)]
    findings.sort(key=lambda f: (f.student, f.file, f.severity is not Severity.ERROR))
    return ValidationResult(Manifest(rows, list(extra)), photos, findings, {}, [])


# ada: 3 photos, one rejected (cut off: a negative margin), two smiling; bob: 2 photos (the
# count is wrong), one with no face; "=eve" (a formula-looking name): one good photo of 3.
RESULT = judged(
    [photo("ada", "ada_01.jpg", smile=2.0), photo("ada", "ada_02.jpg", outline_margin=-0.25),
     photo("ada", "ada_03.jpg", smile=1.6), photo("bob", "b1.jpg"),
     photo("bob", "b2.jpg", face=False), photo("=eve", "@e1.jpg")],
    [Finding("bob\x1b[2J", "Thumbs.db", "submission", Severity.INFO, "Thumbs.db was ignored")],
)


def text(view: View | None = None) -> str:
    console = Console(record=True, width=160)
    render_table(RESULT, console, view or View())
    return console.export_text()


def test_the_summary_counts_photos_not_findings():
    out = text()
    assert "│ ada        │         3 │        2 │             2 │        1 │" in out
    # 6 photos: 4 accepted, 2 of them with warnings; 2 rejected; the count errors of bob and eve
    assert out.splitlines()[-1] == ("4 students, 6 photos: 4 accepted (2 with warnings), 2 "
                                    "rejected; 2 errors about whole submissions or tables.")


def test_errors_one_line_each_then_warnings_collapsed():
    lines = text().splitlines()
    errors = lines.index("Errors (4)")
    assert lines[errors + 2].startswith("  ada/ada_02.jpg  face_cut_off  -0.250 eye distances "
                                        "(limit ≥ -0.05 eye distances)  the face is cut off")
    assert any(ln.startswith("  bob  count  2 (limit = 3)  handed in 2 photos") for ln in lines)
    assert any(ln.startswith("  bob/b2.jpg  no_face") for ln in lines)
    assert all(len(ln) <= 160 for ln in lines)
    assert ("  ada  expression  2 photos: probably smiling — ada_01.jpg, ada_03.jpg"
            in lines[lines.index("Warnings (2, collapsed per student)") + 1])
    assert "Thumbs.db" not in "\n".join(lines)  # notes only in --verbose


def test_errors_only_students_quiet_and_verbose():
    only = text(View(errors_only=True))
    assert "Errors (4)" in only and "Warnings" not in only
    bob = text(View(students=frozenset({"bob"})))
    assert "ada" not in bob and bob.splitlines()[-1].startswith("1 students, 2 photos: 1 accepted")
    assert text(View(detail=Detail.QUIET)).count("\n") == 1
    verbose = text(View(detail=Detail.VERBOSE))
    assert "Thumbs.db was ignored" in verbose and "bob\\x1b[2J" in verbose
    assert "\x1b" not in verbose  # the escape shown, never run


def test_json_has_a_record_for_every_photo_with_verdict_and_measurements():
    data = json.loads(render_json(RESULT))
    photos = {(p["student"], p["file"]): p for p in data["photos"]}
    assert set(photos) == {(p.student, p.file) for p in RESULT.photos}
    assert {k: p["verdict"] for k, p in photos.items()} == {
        ("ada", "ada_01.jpg"): "accepted_with_warnings", ("ada", "ada_02.jpg"): "rejected",
        ("ada", "ada_03.jpg"): "accepted_with_warnings", ("bob", "b1.jpg"): "accepted",
        ("bob", "b2.jpg"): "rejected", ("=eve", "@e1.jpg"): "accepted"}
    good = photos[("bob", "b1.jpg")]["measurements"]
    assert good["yaw"] == 2 and good["head_height"] == 0.625 and good["smile"] == 0
    assert data["units"]["yaw"] == "deg"
    cut = next(f for f in data["findings"] if f["rule"] == "face_cut_off")
    assert (cut["value"], cut["limit"], cut["unit"], cut["comparison"], cut["verdict"]) == (
        -0.25, -0.05, "eye_distances", ">=", "rejected")
    assert data["students"]["ada"] == {"photos": 3, "accepted": 2, "accepted_with_warnings": 2,
                                       "rejected": 1, "submission_errors": 0}
    only = json.loads(render_json(RESULT, View(errors_only=True)))
    assert len(only["photos"]) == 6 and {f["severity"] for f in only["findings"]} == {"error"}


def test_csv_has_the_findings_schema_a_bom_and_neutral_cells():
    out = render_csv(RESULT)
    assert out.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(out.removeprefix("\ufeff"))))
    assert list(rows[0]) == FINDING_COLUMNS
    assert {(r["student"], r["file"]) for r in rows} >= {("'=eve", "'@e1.jpg"), ("bob", "b1.jpg")}
    cut = next(r for r in rows if r["rule"] == "face_cut_off")
    assert (cut["value"], cut["limit"]) == ("-0.25", "-0.05")  # numbers, not formulas
    accepted = [r for r in rows if not r["rule"]]
    assert {(r["file"], r["verdict"]) for r in accepted} == {("b1.jpg", "accepted"),
                                                            ("'@e1.jpg", "accepted")}


@pytest.mark.parametrize("view", [View(), View(errors_only=True), View(detail=Detail.VERBOSE)])
def test_an_empty_class(view):
    console = Console(record=True, width=160)
    render_table(ValidationResult(Manifest([], []), [], [], {}, []), console, view)
    assert console.export_text().splitlines()[-1] == (
        "0 students, 0 photos: 0 accepted (0 with warnings), 0 rejected.")
