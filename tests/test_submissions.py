import os
import stat
import subprocess
import sys
import zipfile

import pytest

from pipeline.config import IngestParams
from pipeline.findings import Severity
from pipeline.submissions import SubmissionError, discover, read_member
from tests.conftest import ROOT, face, jpeg_bytes, write_student

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


@pytest.mark.skipif(os.name != "posix", reason="named pipes and device links")
def test_pipes_and_devices_are_never_opened(tmp_path):
    folder = write_student(tmp_path, "gil", {"p.jpg": PHOTO})
    os.mkfifo(folder / "pipe.jpg")
    (folder / "zero.jpg").symlink_to("/dev/zero")
    # in a subprocess, so that a read that blocks or never ends fails the test instead of hanging
    code = (
        "import sys; from pipeline.submissions import read_member, SubmissionError\n"
        "for name in ('pipe.jpg', 'zero.jpg'):\n"
        "    try: read_member(sys.argv[1], 'gil', name)\n"
        "    except SubmissionError as exc: print(name, exc)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                          text=True, timeout=60, env=env)  # fmt: skip
    assert "pipe.jpg it is a named pipe (FIFO), not a file" in done.stdout, done.stderr
    assert "zero.jpg points outside the submission" in done.stdout
    subs, _ = by_student(tmp_path)
    notes = {f.file: f.message for f in subs["gil"].findings}
    assert "named pipe" in notes["pipe.jpg"] and "outside the submission" in notes["zero.jpg"]
    assert [e.file for e in subs["gil"].photos] == ["p.jpg"]


def test_a_name_that_is_not_utf8_is_shown_escaped_and_read_back(tmp_path):
    folder = write_student(tmp_path, "hu", {})
    with open(os.fsencode(folder) + b"/caf\xe9.jpg", "wb") as fh:
        fh.write(PHOTO)
    subs, _ = by_student(tmp_path)
    entry = subs["hu"].photos[0]
    assert entry.file == "caf\\xe9.jpg"
    assert entry.file.encode("utf-8")  # writable anywhere
    assert read_member(tmp_path, entry.source, entry.member) == PHOTO
    assert any("not valid UTF-8" in f.message for f in subs["hu"].findings)


def patched(path, old: bytes, new: bytes):
    path.write_bytes(path.read_bytes().replace(old, new))


def test_zip_names_as_their_authors_wrote_them(tmp_path):
    with zipfile.ZipFile(tmp_path / "ike.zip", "w") as zf:
        zf.writestr("cafXX.jpg", PHOTO)  # ASCII: written without the UTF-8 flag
        zf.writestr("dosX.jpg", PHOTO)
    patched(tmp_path / "ike.zip", b"cafXX.jpg", "café.jpg".encode())  # UTF-8, flag unset
    patched(tmp_path / "ike.zip", b"dosX.jpg", b"dos\x82.jpg")  # cp437, as old DOS zips
    subs, _ = by_student(tmp_path)
    ike = subs["ike"]
    assert sorted(e.file for e in ike.photos) == ["café.jpg", "dosé.jpg"]
    assert all(read_member(tmp_path, "ike.zip", e.member) == PHOTO for e in ike.photos)


def test_zip_member_errors_are_submission_errors(tmp_path):
    with zipfile.ZipFile(tmp_path / "jo.zip", "w") as zf:
        zf.writestr("a.jpg", PHOTO)
    data = bytearray((tmp_path / "jo.zip").read_bytes())
    data[30 + 5 + 200] ^= 0xFF  # a byte of the stored photo: its CRC no longer matches
    (tmp_path / "jo.zip").write_bytes(bytes(data))
    with pytest.raises(SubmissionError, match="damaged inside the zip.*CRC"):
        read_member(tmp_path, "jo.zip", "a.jpg")
    with pytest.raises(SubmissionError, match="not in jo.zip"):
        read_member(tmp_path, "jo.zip", "b.jpg")
    with pytest.raises(SubmissionError, match="more than the 100 allowed"):
        read_member(tmp_path, "jo.zip", "a.jpg", max_bytes=100)


def test_names_twice_and_names_that_differ_only_in_case_are_reported(tmp_path):
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(
        tmp_path / "kim.zip", "w"
    ) as zf:
        zf.writestr("a.jpg", b"first")
        zf.writestr("a.jpg", PHOTO)
    write_student(tmp_path, "lee", {"IMG01.jpg": PHOTO, "img01.jpg": PHOTO})
    subs, _ = by_student(tmp_path)
    kim = subs["kim"]
    assert [e.file for e in kim.photos] == ["a.jpg"]
    assert read_member(tmp_path, "kim.zip", kim.photos[0].member) == PHOTO  # the last one
    assert any("2 files named a.jpg" in f.message for f in kim.findings)
    lee = subs["lee"]
    assert [e.file for e in lee.photos] == ["IMG01.jpg", "img01.jpg"]  # both checked
    assert any("upper/lower case" in f.message for f in lee.findings if f.file == "img01.jpg")


def test_what_is_not_a_photo_is_reported_not_judged(tmp_path):
    write_student(tmp_path, "max", {"p.jpg": PHOTO, "notes.txt": b"hi", "clip.mov": b"\0"},
                  attributes=None)  # fmt: skip
    (tmp_path / "max" / "docs").mkdir()
    (tmp_path / "max" / "docs" / "attributes.csv").write_bytes(b"file\n")
    (tmp_path / "max" / "attributes.xlsx").write_bytes(b"PK\x03\x04")
    write_student(tmp_path, "ned", {"p.jpg": PHOTO}, attributes=None)
    (tmp_path / "ned" / "attributes.xlsx").write_bytes(b"PK\x03\x04")
    subs, _ = by_student(tmp_path)
    assert [e.file for e in subs["max"].photos] == ["p.jpg"]
    assert subs["max"].attributes.file == "docs/attributes.csv"
    notes = {f.file: f for f in subs["max"].findings}
    assert "a video, not a photo" in notes["clip.mov"].message
    assert notes["attributes.xlsx"].severity is Severity.INFO
    assert subs["ned"].attributes.file == "attributes.xlsx"  # its finding will say: save as CSV


def test_empty_and_oversized_submissions_are_reported(tmp_path):
    (tmp_path / "oli").mkdir()
    zipfile.ZipFile(tmp_path / "pam.zip", "w").close()
    crowded = tmp_path / "quinn"
    crowded.mkdir()
    for i in range(12):
        (crowded / f"{i}.jpg").write_bytes(b"")
    with zipfile.ZipFile(tmp_path / "rod.zip", "w") as zf:
        for i in range(12):
            zf.writestr(f"{i}.jpg", b"")
    subs, _ = discover(tmp_path, IngestParams(max_files=10))
    said = {s.student: " ".join(f.message for f in s.findings) for s in subs}
    assert "oli is empty" in said["oli"] and "pam.zip is empty" in said["pam"]
    assert "more than 10 files" in said["quinn"] and "more than 10 files" in said["rod"]
    assert all(not s.photos for s in subs)
