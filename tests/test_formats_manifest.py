"""manifest.csv: rows as ManifestRow, sizes as numbers or None; a bad file says to re-run ingest."""

import pytest

from pipeline.findings import Finding, Severity
from pipeline.formats.common import FormatError
from pipeline.formats.manifest import (
    PHOTO,
    Manifest,
    ManifestRow,
    read_manifest,
    read_manifest_rows,
    write_manifest,
)


def test_round_trip_with_an_unreadable_size(tmp_path):
    rows = [ManifestRow("ada", "a.jpg", "ada.zip", "top/a.jpg", PHOTO, "0" * 64, 10, "JPEG", None,
                        None)]
    skipped = [Finding("ada", ".DS_Store", "submission", Severity.INFO, "ignored")]
    write_manifest(Manifest(rows, skipped), tmp_path / "m.csv", tmp_path / "f.csv")
    again = read_manifest(tmp_path / "m.csv", tmp_path / "f.csv")
    assert again.rows == rows and again.findings == skipped and again.students == ["ada"]


def test_a_manifest_without_a_column_says_to_run_ingest_again(tmp_path):
    (tmp_path / "m.csv").write_text("student,file\nada,a.jpg\n")
    with pytest.raises(FormatError, match="has no column source, .*; run the ingest stage again"):
        read_manifest_rows(tmp_path / "m.csv")


def test_an_lms_download_keeps_names_and_layout_and_an_older_manifest_reads_as_folders(tmp_path):
    rows = [ManifestRow("123", "a.jpg", "", "Ada L_123_assignsubmission_file_/a.jpg", PHOTO,
                        "0" * 64, 10, "JPEG", 600, 600, name="Ada L", layout="moodle")]
    write_manifest(Manifest(rows, [], "moodle", {"123": "Ada L"}), tmp_path / "m.csv",
                   tmp_path / "f.csv")
    again = read_manifest(tmp_path / "m.csv", tmp_path / "f.csv")
    assert again.rows == rows and again.layout == "moodle" and again.names == {"123": "Ada L"}
    text = (tmp_path / "m.csv").read_text().splitlines()
    header = text[0].removesuffix(",name,layout")
    old = [header, text[1].removesuffix(",Ada L,moodle")]
    (tmp_path / "m.csv").write_text("\n".join(old) + "\n")
    again = read_manifest(tmp_path / "m.csv", tmp_path / "f.csv")
    assert again.layout == "folders" and again.names == {} and again.rows[0].name == ""
