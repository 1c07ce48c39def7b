"""The feedback stage: one message per student from validate's files, written to the student."""

import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pipeline.rules  # noqa: F401  (registers every rule)
from pipeline.feedback import ADVICE, MAX_NAMES, message, run_feedback
from pipeline.findings import Finding, Severity
from pipeline.formats.accepted import FILE_COLUMNS
from pipeline.formats.common import FormatError, write_csv
from pipeline.formats.feedback import feedback_name
from pipeline.formats.findings import write_findings
from pipeline.formats.manifest import MANIFEST_COLUMNS
from pipeline.identities import RULE as IDENTITY_RULE
from pipeline.roster import RULES as ROSTER_RULES
from pipeline.rules import CLASS_RULES, PHOTO_RULES
from pipeline.submissions import RULE as SUBMISSION_RULE
from pipeline.submissions import TABLE_RULE

FACEDATA = shutil.which("facedata", path=str(Path(sys.executable).parent))


def error(student, file, rule, message, **more):
    return Finding(student=student, file=file, rule=rule, severity=Severity.ERROR,
                   message=message, **more)  # fmt: skip


def warning(student, file, rule, message):
    return Finding(student=student, file=file, rule=rule, severity=Severity.WARNING,
                   message=message)  # fmt: skip


def write_class(folder: Path, photos: dict[str, list[str]], accepted: set[tuple[str, str]],
                findings: list[Finding]) -> dict[str, Path]:  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / f"{name}.csv" for name in ("manifest", "findings", "accepted")}
    rows = [dict(student=s, file=f, source=s, member=f, kind="photo", sha256="0" * 64, bytes=1,
                 format="JPEG", width=600, height=800)
            for s, files in photos.items() for f in files]  # fmt: skip
    write_csv(paths["manifest"], MANIFEST_COLUMNS, rows)
    write_findings(findings, paths["findings"])
    write_csv(paths["accepted"], [*FILE_COLUMNS, "age"],
              [{**{k: v for k, v in r.items() if k != "kind"}, "age": "30"}
               for r in rows if (r["student"], r["file"]) in accepted])  # fmt: skip
    return paths


ADA_FINDINGS = [
    error("ada", "a.jpg", "blurry", "the face is blurry (edge width 0.05, limit 0.039)"),
    error("ada", "b.jpg", "duplicate", "grace handed in an identical file of this photo",
          related="grace/g.jpg"),
    error("ada", "c.jpg", "duplicate", "a copy of a.jpg", related="ada/a.jpg"),
    error("ada", "", "count", "handed in 5 photos, fewer than the 6 asked for"),
    error("ada", "d.jpg", TABLE_RULE, 'row 4 of attributes.csv: age "old" is not a whole number'),
    warning("ada", "e.jpg", "expression", "a broad smile"),
    warning("ada", "a.jpg", "expression", "a broad smile"),
    error("ada", "notes.lnk", SUBMISSION_RULE, "notes.lnk is a link and was not read"),
    Finding(student="ada", file="__MACOSX/x", rule=SUBMISSION_RULE, severity=Severity.INFO,
            message="ignored: an operating-system file"),
]


@pytest.fixture
def ada_class(tmp_path):
    photos = {"ada": ["a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg"], "linus": ["l.jpg"]}
    return write_class(tmp_path / "interim", photos, {("ada", "e.jpg"), ("linus", "l.jpg")},
                       ADA_FINDINGS)


def test_every_rule_id_has_advice():
    ids = (set(PHOTO_RULES) | set(CLASS_RULES) | {SUBMISSION_RULE, TABLE_RULE, IDENTITY_RULE}
           | set(ROSTER_RULES))
    assert ids <= set(ADVICE), f"no advice for {sorted(ids - set(ADVICE))}"
    for rule, advice in ADVICE.items():
        assert advice.problem and advice.fix, rule
        assert len(advice.fix) < 120, f"the fix for {rule} is not short"


def test_a_person_shared_with_another_student_is_told_without_naming_them():
    shared = Finding("ada", "", IDENTITY_RULE, Severity.WARNING,
                     "person 3 is in 1 of your photos (a.jpg) and in 1 of bob's (b.jpg): the same "
                     "person", quantity="face_distance", value=0.41, limit=0.6,
                     unit="embedding_distance", comparison=">=", related="bob/b.jpg")
    text = message("ada", 2, 2, [shared])
    assert "bob" not in text and "also in another student's photos" in text
    # shared with many: one line, naming nobody
    many = [Finding("ada", "", IDENTITY_RULE, Severity.WARNING, f"person 3 ... {s}'s ...",
                    related=f"{s}/x.jpg") for s in ("bob", "cy", "dee")]
    text = message("ada", 2, 2, many)
    assert text.count("also in the photos of 3 other students") == 1
    assert not any(s in text for s in ("bob", "cy", "dee"))


def test_one_message_per_student_saying_what_to_redo_and_how(ada_class, tmp_path):
    out = tmp_path / "reports" / "feedback"
    result = run_feedback(**ada_class, out_dir=out)
    assert result.paths == [out / "ada.txt", out / "linus.txt"] and result.to_redo == 1
    text = (out / "ada.txt").read_text(encoding="utf-8")
    assert text.startswith("Hello ada,\n")
    assert "5 handed in, 1 accepted, 4 not accepted" in text
    redo = text.split("Photos to redo:\n")[1].split("\n\n")[0].splitlines()
    # one line per rule: the two duplicates share one, the blurry photo has its reason and fix
    assert redo[0] == ("- a.jpg: the face is blurry (edge width 0.05, limit 0.039). Fix: "
                       f"{ADVICE['blurry'].fix}.")  # fmt: skip
    assert redo[1].startswith("- 2 photos, the same photo twice: b.jpg, c.jpg.")
    assert len(redo) == 2
    assert "handed in 5 photos, fewer than the 6 asked for. Fix:" in text
    assert 'd.jpg: row 4 of attributes.csv: age "old" is not a whole number' in text
    assert "notes.lnk" in text and "__MACOSX" not in text  # info notes are not for the student
    assert "2 photos, not a neutral expression: a.jpg, e.jpg." in text
    assert text.rstrip().endswith(
        "Please hand in new photos for those to redo and a corrected attribute table.")
    linus = (out / "linus.txt").read_text(encoding="utf-8")
    assert "1 handed in, 1 accepted, 0 not accepted" in linus and "Nothing to redo" in linus


def test_another_students_name_is_not_given_away(ada_class, tmp_path):
    run_feedback(**ada_class, out_dir=tmp_path / "fb")
    text = (tmp_path / "fb" / "ada.txt").read_text(encoding="utf-8")
    assert "grace" not in text


def test_a_whole_class_of_one_fault_stays_a_few_lines():
    photos = [f"img{i:02d}.jpg" for i in range(40)]
    findings = [error("ada", p, "blurry", f"the face is blurry ({i})") for i, p in
                enumerate(photos)]  # fmt: skip
    findings += [error("ada", p, TABLE_RULE, f"row {i} is wrong") for i, p in enumerate(photos)]
    text = message("ada", 40, 0, findings)
    assert len(text.splitlines()) < 25 and len(text) < 1500
    names = ", ".join(photos[:MAX_NAMES])
    assert f"- 40 photos, blurry: {names} and {40 - MAX_NAMES} more. Fix:" in text
    assert "- and 30 more rows." in text


def test_the_same_input_in_any_order_gives_the_same_bytes(tmp_path):
    photos = {"ada": ["a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg"]}
    shuffled = ADA_FINDINGS[:]
    random.Random(1).shuffle(shuffled)
    first = run_feedback(**write_class(tmp_path / "1", photos, set(), ADA_FINDINGS),
                         out_dir=tmp_path / "out1")  # fmt: skip
    second = run_feedback(**write_class(tmp_path / "2", photos, set(), shuffled),
                          out_dir=tmp_path / "out2")  # fmt: skip
    assert [p.read_bytes() for p in first.paths] == [p.read_bytes() for p in second.paths]


def test_student_text_with_control_characters_is_shown_escaped(tmp_path):
    evil = "x\x1b[2Jy.jpg"
    paths = write_class(tmp_path / "i", {"Zoë \u202e": [evil]}, set(),
                        [error("Zoë \u202e", evil, "corrupt", f"{evil} does not decode")])
    [path] = run_feedback(**paths, out_dir=tmp_path / "fb").paths
    assert path.name == feedback_name("Zoë \u202e") and path.parent == tmp_path / "fb"
    text = path.read_text(encoding="utf-8")
    assert "\x1b" not in text and "\u202e" not in text
    assert "x\\x1b[2Jy.jpg" in text and "Hello Zoë \\u202e," in text


def test_a_student_with_no_photos_is_told_so(tmp_path):
    paths = write_class(tmp_path / "i", {}, set(),
                        [error("ada", "", "missing", "nothing was handed in")])
    [path] = run_feedback(**paths, out_dir=tmp_path / "fb").paths
    text = path.read_text(encoding="utf-8")
    assert "No photos from you were received." in text and ADVICE["missing"].fix in text


def test_missing_validate_output_is_a_clear_error(ada_class, tmp_path):
    ada_class["findings"].unlink()
    with pytest.raises(FormatError, match="findings.csv does not exist; run the validate stage"):
        run_feedback(**ada_class, out_dir=tmp_path / "fb")
    assert not (tmp_path / "fb").exists()


def test_the_command_writes_the_folder_and_exits_2_on_missing_input(ada_class, tmp_path):
    args = [FACEDATA, "feedback", "--manifest", ada_class["manifest"], "--findings",
            ada_class["findings"], "--accepted", ada_class["accepted"], "--out-dir",
            tmp_path / "fb"]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "feedback: 2 messages, 1 with something to redo" in done.stderr
    assert sorted(p.name for p in (tmp_path / "fb").iterdir()) == ["ada.txt", "linus.txt"]
    ada_class["accepted"].unlink()
    failed = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert failed.returncode == 2 and "accepted.csv does not exist" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_two_findings_of_one_rule_on_one_photo_are_one_photo():
    findings = [error("ada", "a.jpg", "exposure", "the photo is too dark"),
                error("ada", "a.jpg", "exposure", "the face is too dark")]  # fmt: skip
    text = message("ada", 1, 0, findings)
    redo = text.split("Photos to redo:\n")[1].split("\n\n")[0]
    assert redo.startswith("- a.jpg: the face is too dark; the photo is too dark. Fix:")
    assert len(redo.splitlines()) == 1
