"""Moodle's and Canvas's bulk downloads, zipped and extracted, read as the same class in folders."""

import io
import zipfile
from dataclasses import replace

import pytest

from pipeline.attributes import load_vocabulary
from pipeline.config import IngestParams, ValidateParams
from pipeline.downloads import Layout, LmsName, detect, parse
from pipeline.findings import Severity
from pipeline.ingest import ingest
from pipeline.submissions import find_submissions, read_member
from pipeline.validate import validate
from tests.conftest import SCHEMA, attributes_csv, face, jpeg_bytes

# Three students, two real photos each and an attribute table; verdicts differ between them.
PHOTOS = {
    "100": ("Ada Lovelace", "lovelaceada", ["biden_official_2013", "astronaut_collins"]),
    "200": ("Grace Hopper", "hoppergrace", ["kate_siegel", "paul_rudd"]),
    "300": ("Linus Torvalds", "torvaldslinus", ["coffee_no_face", "angelina_jolie"]),
}


@pytest.fixture(scope="module")
def files():
    """student id -> {file name: bytes} for the whole class."""
    out = {}
    for student, (_, _, faces) in PHOTOS.items():
        names = [f"p{i}.jpg" for i in range(1, len(faces) + 1)]
        out[student] = {n: jpeg_bytes(face(f)) for n, f in zip(names, faces, strict=True)}
        out[student]["attributes.csv"] = attributes_csv(names)
    return out


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def moodle(files, *, in_folders=True, own_zip="200"):
    """A Moodle "Download all submissions": Grace hands in her own zip of a folder."""
    out = {}
    for student, (name, _, _) in PHOTOS.items():
        prefix = f"{name}_{student}_assignsubmission_file_"
        mine = files[student]
        if student == own_zip:
            mine = {"photos.zip": zip_bytes({f"photos/{k}": v for k, v in mine.items()})}
        for file, data in mine.items():
            out[f"{prefix}/{file}" if in_folders else prefix + file] = data
    return out


def canvas(files):
    """A Canvas "Download Submissions": Grace late and zipped, the others file by file."""
    out = {}
    for n, (student, (_, sortable, _)) in enumerate(PHOTOS.items()):
        if student == "200":
            out[f"{sortable}_LATE_{student}_{9000 + n}_photos.zip"] = zip_bytes(files[student])
            continue
        for i, (file, data) in enumerate(files[student].items()):
            out[f"{sortable}_{student}_{8000 + 10 * n + i}_{file}"] = data
    return out


def write_tree(root, members):
    for name, data in members.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def verdicts(root, cache, layout="auto"):
    manifest = ingest(root, IngestParams(layout=layout))
    result = validate(root, manifest, ValidateParams(images_per_student=2),
                      load_vocabulary(SCHEMA), cache)
    judged = {(f.student, f.file, f.rule, f.severity) for f in result.findings
              if f.severity is not Severity.INFO}
    accepted = {(ph.student, ph.file) for ph in result.accepted()}
    return result, (result.students, judged, accepted)


@pytest.fixture(scope="module")
def expected(files, tmp_path_factory):
    root = tmp_path_factory.mktemp("folders")
    write_tree(root, {f"{s}/{f}": d for s, mine in files.items() for f, d in mine.items()})
    cache = tmp_path_factory.mktemp("cache")
    result, seen = verdicts(root, cache)
    assert result.manifest.layout == "folders"
    assert seen[0] == ["100", "200", "300"] and seen[2] and seen[1]  # some pass, some fail
    return cache, seen


@pytest.mark.parametrize("kind", ["moodle", "moodle_flat", "canvas"])
@pytest.mark.parametrize("packed", ["zip", "zip_in_folder", "extracted", "extracted_in_folder",
                                    "zip_of_folder"])
def test_a_download_gives_the_students_and_verdicts_of_plain_folders(
        files, expected, tmp_path, kind, packed):
    members = canvas(files) if kind == "canvas" else moodle(files, in_folders=kind == "moodle")
    members["__MACOSX/._x"] = b"junk"
    if packed == "extracted":
        root = write_tree(tmp_path / "download", members)
    elif packed == "extracted_in_folder":  # an unzip tool's folder named for the zip
        root = tmp_path / "submissions"
        write_tree(root / "Course-Assignment 1-123", members)
    elif packed == "zip_of_folder":  # the extracted download zipped again
        root = tmp_path / "again.zip"
        root.write_bytes(zip_bytes({f"download/{k}": v for k, v in members.items()}))
    else:
        (tmp_path / "in").mkdir()
        root = tmp_path / "in" / "download.zip"
        root.write_bytes(zip_bytes(members))
        if packed == "zip_in_folder":
            root = root.parent
    cache, seen = expected
    result, got = verdicts(root, cache)
    assert got == seen
    layout = "canvas" if kind == "canvas" else "moodle"
    assert result.manifest.layout == layout and result.metrics()["layout"] == layout
    shown = 1 if kind == "canvas" else 0  # Canvas names files by the sortable name
    assert result.names == {s: names[shown] for s, names in PHOTOS.items()}
    # the same layout asked for by name reads the same
    assert verdicts(root, cache, layout)[1] == seen


def test_a_late_canvas_submission_is_noted_and_every_file_reads_back(files, tmp_path):
    root = tmp_path / "canvas.zip"
    root.write_bytes(zip_bytes(canvas(files)))
    found = find_submissions(root, IngestParams())
    assert found.layout is Layout.CANVAS and found.detected and found.findings == []
    subs = {s.student: s for s in found.submissions}
    assert [f.message for f in subs["200"].findings] == [
        "the LMS marks this submission late (after the due date)"]
    assert subs["100"].findings == []
    for sub in subs.values():
        for entry in [*sub.photos, sub.attributes]:
            assert read_member(root, entry.source, entry.member) == files[sub.student][entry.file]


def test_canvas_resubmissions_keep_their_numbered_names(tmp_path):
    photo = jpeg_bytes(face())
    write_tree(tmp_path, {"lovelaceada_100_1_p1.jpg": photo, "lovelaceada_100_2_p1-1.jpg": photo,
                          "stray.txt": b"x"})
    found = find_submissions(tmp_path, IngestParams(layout="canvas"))
    [sub] = found.submissions
    assert [e.file for e in sub.photos] == ["p1-1.jpg", "p1.jpg"] and sub.name == "lovelaceada"
    [stray] = found.findings
    assert stray.file == "stray.txt" and stray.severity is Severity.WARNING
    assert "Canvas" in stray.message


def test_one_student_in_two_moodle_folders_is_one_student(tmp_path):
    photo = jpeg_bytes(face())
    write_tree(tmp_path, {
        "Ada Lovelace_100_assignsubmission_file_/p1.jpg": photo,
        "Ada Lovelace_100_assignsubmission_onlinetext_/onlinetext.html": b"<p>hi</p>",
    })
    [sub] = find_submissions(tmp_path, IngestParams()).submissions
    assert sub.student == "100" and [e.file for e in sub.photos] == ["p1.jpg"]
    assert [f.file for f in sub.findings] == ["onlinetext.html"]  # not a photo: a warning


def test_the_safe_zip_rules_hold_inside_a_download(tmp_path):
    inner = zip_bytes({"../up.jpg": b"x", "deeper.zip": zip_bytes({"p.jpg": b"y"})})
    root = tmp_path / "moodle.zip"
    root.write_bytes(zip_bytes({
        "Ada Lovelace_100_assignsubmission_file_/../../escape.jpg": b"x",
        "Ada Lovelace_100_assignsubmission_file_/own.zip": inner,
        "Bob_200_assignsubmission_file_/broken.zip": b"not a zip",
    }))
    found = find_submissions(root, IngestParams())
    subs = {s.student: s for s in found.submissions}
    says = {f.file: f.message for f in subs["100"].findings}
    assert "points outside" in says["Ada Lovelace_100_assignsubmission_file_/../../escape.jpg"]
    assert "points outside" in says["../up.jpg"]
    assert "nested zips are not opened" in says["deeper.zip"]  # one level only
    assert subs["100"].photos == []
    assert "not a readable zip" in subs["200"].findings[0].message
    assert list(tmp_path.iterdir()) == [root]  # nothing was extracted


def test_a_zip_that_is_no_download_says_so(tmp_path):
    root = tmp_path / "class.zip"
    root.write_bytes(zip_bytes({"ada/p1.jpg": b"x"}))
    found = find_submissions(root, IngestParams())
    assert found.submissions == [] and "neither a Moodle nor a Canvas" in found.findings[0].message


def test_a_class_in_folders_stays_in_folders(tmp_path):
    write_tree(tmp_path, {"ada/p1.jpg": b"x", "bob.zip": zip_bytes({"p.jpg": b"y"})})
    found = find_submissions(tmp_path, IngestParams())
    assert found.layout is Layout.FOLDERS and [s.student for s in found.submissions] == [
        "ada", "bob"]


@pytest.mark.parametrize(("layout", "entry", "expected"), [
    (Layout.MOODLE, "Ada Lovelace_123456_assignsubmission_file_",
     LmsName("123456", "Ada Lovelace", "")),
    (Layout.MOODLE, "Ada Lovelace_123456_assignsubmission_file_p1.jpg",
     LmsName("123456", "Ada Lovelace", "p1.jpg")),
    (Layout.MOODLE, "Participant 42_assignsubmission_file_", LmsName("42", "Participant", "")),
    (Layout.MOODLE, "Ada 2_123_assignsubmission_file_x.jpg", LmsName("123", "Ada 2", "x.jpg")),
    (Layout.MOODLE, "ada", None),
    (Layout.CANVAS, "lovelaceada_12345_67890_p1.jpg", LmsName("12345", "lovelaceada", "p1.jpg")),
    (Layout.CANVAS, "lovelaceada_LATE_12345_67890_p_1.jpg",
     LmsName("12345", "lovelaceada", "p_1.jpg", late=True)),
    (Layout.CANVAS, "lovelaceada_12345_p1.jpg", None),
    (Layout.CANVAS, "ada_01.jpg", None),
])
def test_parse(layout, entry, expected):
    assert parse(layout, entry) == expected


def test_detect_needs_half_the_names():
    moodle_names = ["A_1_assignsubmission_file_", "B_2_assignsubmission_file_"]
    assert detect(moodle_names) is Layout.MOODLE
    assert detect([*moodle_names, "notes.txt"]) is Layout.MOODLE
    assert detect([*moodle_names, "x", "y", "z"]) is Layout.FOLDERS
    assert detect(["a_1_2_p.jpg"]) is Layout.CANVAS
    assert detect(["ada", "bob.zip", "ada_01.jpg"]) is Layout.FOLDERS
    assert detect([]) is Layout.FOLDERS


def test_an_unknown_layout_is_refused_when_params_are_built():
    with pytest.raises(ValueError, match="ingest.layout must be auto, folders, moodle or canvas"):
        replace(IngestParams(), layout="blackboard")


def test_a_link_in_an_extracted_download_is_not_followed(tmp_path):
    root = tmp_path / "download"
    write_tree(root, {"Ada Lovelace_100_assignsubmission_file_/p1.jpg": jpeg_bytes(face())})
    (root / "Bob_200_assignsubmission_file_").symlink_to(tmp_path)
    found = find_submissions(root, IngestParams())
    assert [s.student for s in found.submissions] == ["100"]
    [link] = found.findings
    assert (link.student, link.severity) == ("200", Severity.ERROR)
    assert "symbolic link" in link.message
