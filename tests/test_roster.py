"""The roster: read at the edge, and who is missing or not on it."""

from dataclasses import replace

import pytest

from pipeline.config import IngestParams, ValidateParams
from pipeline.findings import Severity
from pipeline.ingest import ingest
from pipeline.roster import (
    MISSING,
    NOT_ON_ROSTER,
    RosterError,
    RosterStudent,
    check_roster,
    load_roster,
    read_roster,
    roster_names,
)
from pipeline.validate import run_validate
from tests.conftest import SCHEMA, face, jpeg_bytes, write_student


def roster_file(tmp_path, text, name="roster.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_roster_with_one_absent_student_gives_one_missing_finding(tmp_path):
    root = tmp_path / "submissions"
    photo = jpeg_bytes(face().resize((600, 600)))
    write_student(root, "ada", {"p1.jpg": photo})
    write_student(root, "Grace Hopper", {"p1.jpg": photo})  # a folder named for the student
    write_student(root, "eve", {"p1.jpg": photo})  # on no roster
    roster = roster_file(tmp_path, "\ufeffID,Name,E-mail\nada,Ada Lovelace,ada@uni.edu\n"
                                   "g7,Grace Hopper,\nl9,Linus Torvalds,linus@uni.edu\n")
    params = ValidateParams(images_per_student=1, roster=str(roster))
    result = run_validate(root, ingest(root, IngestParams()), SCHEMA, params, tmp_path / "cache")
    missing = [f for f in result.findings if f.rule == MISSING]
    assert [(f.student, f.file, f.severity) for f in missing] == [("l9", "", Severity.ERROR)]
    assert "Linus Torvalds (l9) is on the roster but handed in nothing" == missing[0].message
    extra = [f for f in result.findings if f.rule == NOT_ON_ROSTER]
    assert [(f.student, f.severity) for f in extra] == [("eve", Severity.WARNING)]
    assert "l9" in result.students and result.summary()["l9"]["submission_errors"] == 1
    assert result.names["l9"] == "Linus Torvalds" and result.names["ada"] == "Ada Lovelace"
    assert result.metrics()["rules"][MISSING] == 1 and result.metrics()["rules"][NOT_ON_ROSTER] == 1
    # without a roster, neither
    plain = run_validate(root, ingest(root, IngestParams()), SCHEMA,
                         replace(params, roster=""), tmp_path / "cache")
    assert not {f.rule for f in plain.findings} & {MISSING, NOT_ON_ROSTER}


def test_lms_ids_match_the_roster_ids():
    roster = [RosterStudent("123456", "Ada Lovelace"), RosterStudent("7", "Bob")]
    findings = check_roster(roster, ["123456"], {"123456": "Ada Lovelace"}, "roster.csv")
    assert [(f.student, f.rule) for f in findings] == [("7", MISSING)]
    assert roster_names(roster, ["123456", "99"]) == {"123456": "Ada Lovelace"}
    findings = check_roster(roster, ["123456", "99"], {"99": "Zed"}, "roster.csv")
    assert [(f.student, f.rule) for f in findings] == [("99", NOT_ON_ROSTER), ("7", MISSING)]
    assert "Zed (99) handed in but is not on the roster roster.csv" in findings[0].message


def test_a_canvas_gradebook_export_reads_as_a_roster(tmp_path):
    path = roster_file(tmp_path, "Student,ID,SIS User ID,Section\n"
                                 "    Points Possible,,,\n"
                                 "\"Lovelace, Ada\",12345,S1,A\n")
    assert read_roster(path) == [RosterStudent("12345", "Lovelace, Ada")]
    assert load_roster(path).path == path


@pytest.mark.parametrize(("text", "says"), [
    ("name,email\nAda,a@x\n", "no id column"),
    ("id,name\n", "lists no student"),
    ("", "is empty"),
    ("id,name\n1,Ada\n1,Bob\n", "the id 1 is on rows 2 and 3"),
    ("id,name\n,Ada\n", "row 2: no student id"),
])
def test_a_bad_roster_is_a_clear_error(tmp_path, text, says):
    with pytest.raises(RosterError, match=says):
        read_roster(roster_file(tmp_path, text))


def test_a_roster_that_is_not_there_or_not_text(tmp_path):
    with pytest.raises(RosterError, match="does not exist; set validate.roster"):
        read_roster(tmp_path / "nope.csv")
    (tmp_path / "bin.csv").write_bytes(b"id,name\n\xff\xfe\x00")
    with pytest.raises(RosterError, match="not UTF-8"):
        read_roster(tmp_path / "bin.csv")
