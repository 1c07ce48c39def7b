import os
import stat
import zipfile

import pytest

from pipeline.config import IngestParams
from pipeline.findings import Severity
from pipeline.submissions import SubmissionError, discover, read_member
from tests.conftest import face, jpeg_bytes, write_student

PHOTO = jpeg_bytes(face().resize((600, 600)))


def by_student(root):
    subs, loose = discover(root, IngestParams())
    return {s.student: s for s in subs}, loose


def test_folder_and_zip_submissions(tmp_path):
    write_student(tmp_path, "ada", {"a1.jpg": PHOTO, "a2.jpeg": PHOTO})
    with zipfile.ZipFile(tmp_path / "bob.zip", "w") as zf:
        zf.writestr("bob/b1.jpg", PHOTO)  # zipped from a folder: the top folder is stripped
        zf.writestr("bob/attributes.csv", b"file\n")
    subs, loose = by_student(tmp_path)
    assert sorted(subs) == ["ada", "bob"] and loose == []
    assert [e.file for e in subs["ada"].photos] == ["a1.jpg", "a2.jpeg"]
    assert subs["ada"].attributes.file == "attributes.csv"
    bob = subs["bob"]
    assert [e.file for e in bob.photos] == ["b1.jpg"] and bob.photos[0].member == "bob/b1.jpg"
    assert read_member(tmp_path, bob.source, bob.photos[0].member) == PHOTO
    assert read_member(tmp_path, "ada", "a1.jpg") == PHOTO


def test_zip_members_that_escape_are_reported_and_never_written(tmp_path):
    root = tmp_path / "submissions"
    root.mkdir()
    with zipfile.ZipFile(root / "eve.zip", "w") as zf:
        zf.writestr("../evil.jpg", PHOTO)
        zf.writestr("/etc/evil.jpg", PHOTO)
        link = zipfile.ZipInfo("link.jpg")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
        zf.writestr("good.jpg", PHOTO)
    before = sorted(p for p in tmp_path.rglob("*"))
    subs, _ = by_student(root)
    eve = subs["eve"]
    assert [e.file for e in eve.photos] == ["good.jpg"]
    messages = {f.file: f.message for f in eve.findings}
    assert "outside the archive" in messages["../evil.jpg"]
    assert "absolute path" in messages["/etc/evil.jpg"]
    assert "symbolic link" in messages["link.jpg"]
    assert all(f.severity is Severity.ERROR for f in eve.findings)
    assert sorted(p for p in tmp_path.rglob("*")) == before
    assert not (tmp_path / "evil.jpg").exists()


def test_junk_and_nested_zips_are_ignored_with_a_note(tmp_path):
    with zipfile.ZipFile(tmp_path / "cy.zip", "w") as zf:
        zf.writestr("cy/p1.jpg", PHOTO)
        zf.writestr("cy/.DS_Store", b"x")
        zf.writestr("__MACOSX/cy/._p1.jpg", b"x")
        zf.writestr("cy/more.zip", b"PK\x03\x04")
    subs, _ = by_student(tmp_path)
    cy = subs["cy"]
    assert [e.file for e in cy.photos] == ["p1.jpg"]
    notes = {f.file: f for f in cy.findings}
    assert notes[".DS_Store"].severity is Severity.INFO
    assert notes["__MACOSX/cy/._p1.jpg"].severity is Severity.INFO
    assert "nested zips are not opened" in notes["more.zip"].message


def test_unreadable_zip_is_a_finding(tmp_path):
    (tmp_path / "dan.zip").write_bytes(b"this is not a zip")
    subs, _ = by_student(tmp_path)
    assert subs["dan"].photos == []
    assert "not a readable zip" in subs["dan"].findings[0].message


@pytest.mark.skipif(os.name != "posix", reason="symbolic links")
def test_links_are_never_read_and_say_where_they_point(tmp_path):
    secret = tmp_path / "secret.jpg"
    secret.write_bytes(PHOTO)
    root = tmp_path / "submissions"
    folder = write_student(root, "fay", {"p1.jpg": PHOTO})
    (folder / "p2.jpg").symlink_to(secret)
    # a link to a photo of the same submission: not read, so p1.jpg is never "the duplicate"
    (folder / "a0.jpg").symlink_to(folder / "p1.jpg")
    (folder / "loop.jpg").symlink_to(folder / "loop.jpg")
    (folder / "gone.jpg").symlink_to(folder / "nowhere.jpg")
    (folder / "dir").symlink_to(tmp_path, target_is_directory=True)
    subs, _ = by_student(root)
    fay = subs["fay"]
    assert [e.file for e in fay.photos] == ["p1.jpg"]
    rules = {f.file: f for f in fay.findings}
    assert "outside the submission" in rules["p2.jpg"].message
    assert "link to p1.jpg in this submission" in rules["a0.jpg"].message
    assert "link loop" in rules["loop.jpg"].message
    assert "does not exist" in rules["gone.jpg"].message
    assert {rules[f].severity for f in ("p2.jpg", "a0.jpg", "loop.jpg")} == {Severity.ERROR}
    assert "not followed" in rules["dir"].message
    for link in ("p2.jpg", "a0.jpg", "loop.jpg"):
        with pytest.raises(SubmissionError):
            read_member(root, "fay", link)


def test_two_submissions_for_one_student_and_loose_files(tmp_path):
    write_student(tmp_path, "gus", {"p.jpg": PHOTO})
    with zipfile.ZipFile(tmp_path / "gus.zip", "w") as zf:
        zf.writestr("p.jpg", PHOTO)
    (tmp_path / "stray.jpg").write_bytes(PHOTO)
    subs, loose = by_student(tmp_path)
    assert list(subs) == ["gus"]
    assert any("both gus and gus.zip" in f.message for f in loose)
    assert any(f.file == "stray.jpg" for f in loose)


def test_attribute_table_choice(tmp_path):
    write_student(tmp_path, "hal", {"p.jpg": PHOTO}, attributes=None)
    (tmp_path / "hal" / "my_table.csv").write_bytes(b"file\n")
    write_student(tmp_path, "ivy", {"p.jpg": PHOTO}, attributes=None)
    (tmp_path / "ivy" / "one.csv").write_bytes(b"file\n")
    (tmp_path / "ivy" / "two.csv").write_bytes(b"file\n")
    subs, _ = by_student(tmp_path)
    assert subs["hal"].attributes.file == "my_table.csv"  # the only CSV is the table
    assert subs["ivy"].attributes is None
    assert "none is named attributes.csv" in subs["ivy"].findings[0].message
