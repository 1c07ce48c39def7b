"""The real `facedata` console script: exit codes, formats, output files, the demo class."""

import csv
import io
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from tests.conftest import (
    DEMO,
    ROOT,
    SCHEMA,
    attributes_csv,
    face,
    is_number,
    jpeg_bytes,
    write_student,
)

FACEDATA = shutil.which("facedata", path=str(Path(sys.executable).parent))


def facedata(*args, cwd):
    return subprocess.run(
        [FACEDATA, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def good_photos():
    im = face()
    return {
        "p1.jpg": jpeg_bytes(im.resize((600, 600), Image.Resampling.LANCZOS)),
        "p2.jpg": jpeg_bytes(ImageOps.mirror(im).resize((640, 640))),
        "p3.jpg": jpeg_bytes(im.crop((0, 150, 1200, 1050))),
    }


def project(tmp_path, per_student):
    (tmp_path / "params.yaml").write_text(f"validate:\n  images_per_student: {per_student}\n")
    (tmp_path / "schemas").mkdir()
    shutil.copy(SCHEMA, tmp_path / "schemas" / "attributes.yaml")
    return tmp_path


def test_clean_class_exits_0_and_warnings_do_not_count(tmp_path, good_photos):
    cwd = project(tmp_path, 3)
    write_student(cwd / "subs", "ada", good_photos)
    (cwd / "subs" / "stray.txt").write_text("left here by accident")  # a warning, not an error
    out = facedata("validate", "subs", "-f", "json", cwd=cwd)
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout)
    assert report["metrics"]["accepted"] == 3
    assert {f["severity"] for f in report["findings"]} <= {"warning", "info"}
    assert any(f["file"] == "stray.txt" for f in report["findings"])
    # a record for every photo handed in, accepted ones too, with what was measured
    assert sorted(p["file"] for p in report["photos"]) == sorted(good_photos)
    assert {p["verdict"] for p in report["photos"]} <= {"accepted", "accepted_with_warnings"}
    assert all(abs(p["measurements"]["yaw"]) < 25 for p in report["photos"])


def test_failing_photo_exits_1_in_every_format(tmp_path, good_photos):
    cwd = project(tmp_path, 3)
    photos = dict(good_photos)
    photos["p3.jpg"] = jpeg_bytes(face().resize((300, 300)))
    write_student(cwd / "subs", "ada", photos)

    table = facedata("validate", "subs", cwd=cwd)
    assert table.returncode == 1
    assert "too_small" in table.stdout and "shorter side 300 px" in table.stdout

    out = facedata("validate", "subs", "--format", "csv", "--output", "audit.csv", cwd=cwd)
    assert out.returncode == 1 and out.stdout == ""
    rows = list(csv.DictReader(io.StringIO((cwd / "audit.csv").read_text(encoding="utf-8-sig"))))
    small = [r for r in rows if r["rule"] == "too_small"]
    assert small[0]["file"] == "p3.jpg" and small[0]["verdict"] == "rejected"
    assert (small[0]["value"], small[0]["comparison"], small[0]["limit"], small[0]["unit"]) == (
        "300", ">=", "500", "px")
    verdicts = {r["file"]: r["verdict"] for r in rows}
    assert verdicts["p3.jpg"] == "rejected"  # (this face smiles a little: a warning, kept)
    assert {verdicts["p1.jpg"], verdicts["p2.jpg"]} <= {"accepted", "accepted_with_warnings"}


@pytest.mark.parametrize(
    "args, message",
    [
        (["validate", "missing"], "is not a folder"),
        (["validate", "subs", "--format", "xml"], "Invalid value"),
        (["validate", "subs", "--schema", "nope.yaml"], "no attribute vocabulary"),
        # no file is guessed beside another: what goes together is given together
        (["validate", "subs", "--manifest", "m.csv"], "--ingest-findings is missing"),
        (["validate", "subs", "--findings", "f.csv"],
         "--accepted, --metrics, --details is missing"),
        (["validate", "subs", "--manifest", "m.csv", "--ingest-findings", "i.csv"],
         "m.csv does not exist; run `facedata ingest` first"),
        # a file that is no vocabulary: validate's entry point says why, the CLI exits 2
        (["validate", "subs", "--schema", "params.yaml"], "expected a mapping `columns:`"),
    ],
)
def test_usage_errors_exit_2(tmp_path, args, message):
    cwd = project(tmp_path, 3)
    (cwd / "subs").mkdir()
    out = facedata(*args, cwd=cwd)
    assert out.returncode == 2
    assert message in out.stderr


def test_bad_params_exit_2(tmp_path):
    cwd = project(tmp_path, 3)
    (cwd / "subs").mkdir()
    (cwd / "params.yaml").write_text("validate:\n  min_sise: 3\n")
    out = facedata("validate", "subs", cwd=cwd)
    assert out.returncode == 2 and "did you mean 'min_side'" in out.stderr


def test_demo_class_shows_every_planted_problem(tmp_path):
    """The demo class is read in place (the session fixture checks it is left untouched)."""
    out = facedata(
        "validate",
        DEMO,
        "-f",
        "json",
        "--params",
        ROOT / "params.yaml",
        "--schema",
        SCHEMA,
        "--cache-dir",
        tmp_path / "cache",
        cwd=tmp_path,
    )
    assert out.returncode == 1, out.stderr
    found = {(f["student"], f["file"], f["rule"]) for f in json.loads(out.stdout)["findings"]}
    expected = {
        ("linus", "coffee.jpg", "no_face"),
        ("linus", "cameraman.jpg", "grayscale"),
        ("linus", "scan.jpg", "not_jpeg"),
        ("linus", "cut.jpg", "corrupt"),
        ("linus", "me.jpg", "duplicate"),
        ("ada", "ada_04.jpg", "duplicate"),
        ("linus", "", "count"),
        ("grace", "IMG_2043.jpg", "attributes"),
        ("grace", ".DS_Store", "submission"),
    }
    assert expected <= found, expected - found
    assert not any(s == "ada" and r not in ("duplicate", "expression") for s, _, r in found)


def test_names_that_look_like_markup_are_shown_as_they_are(tmp_path, good_photos):
    """Rich reads [brackets] as styling; a student's names must neither vanish nor crash it."""
    cwd = project(tmp_path, 2)
    photos = {"[bold]p1.jpg": good_photos["p1.jpg"], "[i]p2.jpg": good_photos["p2.jpg"]}
    table = attributes_csv([*photos, "[/]ghost.jpg"])  # "[/]" alone makes rich raise
    write_student(cwd / "subs", "[red]eve", photos, attributes=table)
    out = facedata("validate", "subs", cwd=cwd)
    assert out.returncode == 1, out.stderr
    for name in ("[bold]p1.jpg", "[i]p2.jpg", "[/]ghost.jpg", "[red]eve"):
        assert name in out.stdout


def test_runs_from_any_folder_with_the_projects_vocabulary(tmp_path, good_photos):
    write_student(tmp_path / "subs", "ada", good_photos)  # no schemas/ and no params.yaml here
    out = facedata("validate", "subs", "-f", "json", "--cache-dir", tmp_path / "c", cwd=tmp_path)
    assert out.returncode == 1, out.stderr  # only the count (40 by default) fails
    failed = {f["rule"] for f in json.loads(out.stdout)["findings"] if f["severity"] == "error"}
    assert failed == {"count"}


def test_an_empty_class_is_a_valid_class(tmp_path):
    cwd = project(tmp_path, 3)
    (cwd / "subs").mkdir()
    out = facedata("validate", "subs", "-f", "json", cwd=cwd)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["metrics"]["students"] == 0
    table = facedata("validate", "subs", cwd=cwd)
    assert table.returncode == 0 and "0 students, 0 photos" in table.stdout


def test_a_manifest_that_is_not_one_is_a_usage_error(tmp_path):
    cwd = project(tmp_path, 3)
    (cwd / "subs").mkdir()
    (cwd / "manifest.csv").write_text("this,is\nnot,a manifest\n")
    (cwd / "ingest_findings.csv").write_text("this,is\nnot,a findings table\n")
    out = facedata("validate", "subs", "--manifest", "manifest.csv",
                   "--ingest-findings", "ingest_findings.csv", cwd=cwd)
    assert out.returncode == 2 and "run the ingest stage again" in out.stderr


@pytest.mark.parametrize(
    "args",
    [
        # the measurement cache cannot be made: a file stands where its folder must go
        ["validate", "subs", "--cache-dir", "blocker"],
        # ingest's output folder is a file
        ["ingest", "subs", "--manifest", "blocker/manifest.csv"],
    ],
)
def test_an_unexpected_error_is_one_line_a_log_and_exit_3(tmp_path, good_photos, args):
    cwd = project(tmp_path, 3)
    write_student(cwd / "subs", "ada", good_photos)
    (cwd / "blocker").write_text("a file, not a folder")
    out = facedata(*args, cwd=cwd)
    assert out.returncode == 3, out.stdout + out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    [line] = [ln for ln in out.stderr.splitlines() if "unexpected error" in ln]
    log = Path(line.split("the full traceback is in ")[1].split(",")[0])
    assert "Traceback (most recent call last)" in log.read_text(encoding="utf-8")
    assert f"facedata {args[0]}" in log.read_text(encoding="utf-8")
    log.unlink()


def test_ctrl_c_exits_130_with_one_line_and_the_next_run_continues(tmp_path):
    """Ctrl-C during validation: exit code 130 (not 1, which says "photos fail"), one line and
    no traceback; the photos measured before it are in the cache and the same command then
    finishes the class."""
    cwd = project(tmp_path, 48)
    im = face().resize((600, 600))
    photos = {f"p{i:02d}.jpg": jpeg_bytes(im.rotate(i / 4), quality=80 + i % 15)
              for i in range(48)}  # all different files: each is measured
    write_student(cwd / "subs", "ada", photos)
    cache = cwd / "cache"
    args = [FACEDATA, "validate", "subs", "-f", "json", "--cache-dir", str(cache)]
    # as from a terminal: a test run started in the background of a script inherits SIGINT
    # ignored, which would pass on to the command
    run = subprocess.Popen(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 300
    while not list(cache.rglob("*.json")) and run.poll() is None:
        assert time.monotonic() < deadline, "no photo was measured in 300 s"
        time.sleep(0.05)
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=300)
    assert run.returncode == 130, out + err
    assert "interrupted (exit code 130)" in err
    assert "Traceback" not in out + err and "Aborted" not in err
    measured = len(list(cache.rglob("*.json")))
    assert 0 < measured < 48

    again = facedata(*args[1:], cwd=cwd)
    assert again.returncode in (0, 1), again.stdout + again.stderr
    assert {p["file"] for p in json.loads(again.stdout)["photos"]} == set(photos)
    assert len(list(cache.rglob("*.json"))) == 48


def test_an_lms_download_zip_with_a_roster(tmp_path, good_photos):
    """A Canvas zip given as it came, named students in the table, a roster's absentee."""
    import zipfile

    cwd = project(tmp_path, 3)
    with zipfile.ZipFile(cwd / "canvas.zip", "w") as zf:
        for i, (name, data) in enumerate(good_photos.items()):
            zf.writestr(f"lovelaceada_101_{i}_{name}", data)
        zf.writestr("lovelaceada_101_9_attributes.csv", attributes_csv(list(good_photos)))
    (cwd / "roster.csv").write_text("id,name\n101,Ada Lovelace\n102,Grace Hopper\n")
    (cwd / "params.yaml").write_text("validate:\n  images_per_student: 3\n  roster: roster.csv\n")
    out = facedata("validate", "canvas.zip", "-o", "table.txt", cwd=cwd)
    assert out.returncode == 1, out.stdout + out.stderr  # Grace is missing: an error
    table = (cwd / "table.txt").read_text(encoding="utf-8")
    assert "Ada Lovelace (101)" in table and "Read as a Canvas" in table  # the roster's name
    assert "Grace Hopper (102) is on the roster but handed in nothing" in table
    out = facedata("validate", "canvas.zip", "--layout", "moodle", "-f", "json", cwd=cwd)
    report = json.loads(out.stdout)
    assert report["metrics"]["layout"] == "moodle" and report["metrics"]["photos"] == 0
    (cwd / "roster.csv").write_text("name\nAda\n")
    out = facedata("validate", "canvas.zip", cwd=cwd)
    assert out.returncode == 2 and "no id column" in out.stderr, out.stderr


def test_triage_flags(tmp_path, good_photos):
    cwd = project(tmp_path, 3)
    write_student(cwd / "subs", "ada", good_photos)
    small = face("paul_rudd").resize((300, 300))
    write_student(cwd / "subs", "bob", {"b1.jpg": jpeg_bytes(small)})
    out = facedata("validate", "subs", cwd=cwd)
    assert out.returncode == 1
    last = out.stdout.splitlines()[-1]  # photos counted, not findings
    assert last.startswith("2 students, 4 photos: 3 accepted (") and "1 rejected; 1 error" in last
    assert "  bob/b1.jpg  too_small  300 px (limit ≥ 500 px)" in out.stdout

    quiet = facedata("validate", "subs", "--quiet", cwd=cwd)
    assert quiet.stdout.splitlines() == [last]
    ada = facedata("validate", "subs", "--student", "ada", "-f", "json", cwd=cwd)
    assert ada.returncode == 0  # the exit code is the students shown
    assert {p["student"] for p in json.loads(ada.stdout)["photos"]} == {"ada"}
    both = facedata("validate", "subs", "--student", "ada", "--student", "bob", "--errors-only",
                    cwd=cwd)
    assert both.returncode == 1 and "Warnings" not in both.stdout and "too_small" in both.stdout
    verbose = facedata("validate", "subs", "--verbose", cwd=cwd)
    assert "Findings" in verbose.stdout and "not a resized copy" in verbose.stdout

    for args, message in [(["--quiet", "--verbose"], "cannot go together"),
                          (["--student", "zed"], "no student zed")]:
        wrong = facedata("validate", "subs", *args, cwd=cwd)
        assert wrong.returncode == 2 and message in wrong.stderr


def test_formula_looking_cells_are_neutralised_in_every_csv(tmp_path, good_photos):
    """Names and values a spreadsheet would run (OWASP: = + - @ tab CR) go through the real
    command; the CLI's CSV is findings.csv, byte for byte, with a byte order mark."""
    cwd = project(tmp_path, 4)
    names = ["=1+2.jpg", "+p.jpg", "-p.jpg"]
    photos = dict(zip(names, good_photos.values(), strict=True))
    table = attributes_csv([*names, "@SUM(A1).jpg"]).decode()
    table = table.replace(",none\n", ',"=HYPERLINK(""http://x"",""y"")"\n', 1)
    write_student(cwd / "subs", "@eve", photos, attributes=table.encode())
    out = facedata("validate", "subs", "-f", "csv", "-o", "audit.csv", "--findings", "f.csv",
                   "--accepted", "a.csv", "--metrics", "m.json", "--details", "d.json", cwd=cwd)
    assert out.returncode == 1, out.stderr
    audit = (cwd / "audit.csv").read_bytes()
    assert audit.startswith(b"\xef\xbb\xbf") and audit == (cwd / "f.csv").read_bytes()
    cells = [c for r in csv.reader(io.StringIO(audit.decode("utf-8-sig"))) for c in r]
    risky = [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert all(is_number(c) for c in risky), risky  # -0.05 stays a number
    assert {"'@eve", "'=1+2.jpg", "'+p.jpg", "'-p.jpg"} <= set(cells)
    assert any('"@SUM(A1).jpg", which was not handed in' in c for c in cells)
    accepted = (cwd / "a.csv").read_text(encoding="utf-8")
    assert "'=hyperlink(" in accepted.lower() and "\n=" not in accepted and ",=" not in accepted


def test_help_reads_like_click(tmp_path):
    """Flags without `<bool>`, arguments in the usage line as NAME or [NAME], not `{name}`."""
    commands = ["", "ingest", "validate", "crop", "augment", "shard", "report", "train",
                "evaluate", "generate"]
    for command in commands:
        out = facedata(*command.split(), "--help", cwd=tmp_path)
        assert out.returncode == 0, command
        assert "<bool>" not in out.stdout and "{" not in out.stdout, (command, out.stdout)
    usage = facedata("validate", "--help", cwd=tmp_path).stdout
    assert "Usage: facedata validate [OPTIONS] SUBMISSIONS" in usage
    assert "[SUBMISSIONS]" in facedata("ingest", "--help", cwd=tmp_path).stdout
