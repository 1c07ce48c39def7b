"""The findings schema (findings.csv, the CLI's CSV): a row per finding and per other photo,
numbers as numbers, a byte order mark, formula-looking cells neutralised; a bad row names its
line."""

import csv

import pytest

from pipeline.findings import Finding, Severity, Verdict
from pipeline.formats.common import FormatError
from pipeline.formats.findings import (
    FINDING_COLUMNS,
    findings_csv_text,
    read_findings,
    write_findings,
)

FINDINGS = [
    Finding("ada", "a.jpg", "face_cut_off", Severity.ERROR, "cut off", quantity="outline_margin",
            value=-0.05, limit=0.1, unit="eye_distances", comparison=">="),
    Finding("ada", "a.jpg", "expression", Severity.WARNING, "-smiling", quantity="smile",
            value=1.4, limit=1.05, unit="spreads", comparison="<="),
    Finding("", "notes.txt", "submission", Severity.WARNING, 'a "quoted", message'),
    Finding("=bob", "@b.jpg", "corrupt", Severity.ERROR, "\tdoes not decode"),
]
VERDICTS = {("ada", "a.jpg"): Verdict.REJECTED, ("ada", "b.jpg"): Verdict.ACCEPTED,
            ("=bob", "@b.jpg"): Verdict.REJECTED}


def test_round_trip_with_a_byte_order_mark(tmp_path):
    path = tmp_path / "findings.csv"
    write_findings(FINDINGS, path, VERDICTS)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert read_findings(path) == FINDINGS  # the photo rows without a finding left out


def test_every_photo_has_a_row_with_its_verdict_and_numbers_stay_numbers(tmp_path):
    path = tmp_path / "findings.csv"
    write_findings(FINDINGS, path, VERDICTS)
    with path.open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == FINDING_COLUMNS
    assert [(r["student"], r["file"], r["verdict"], r["rule"]) for r in rows] == [
        ("ada", "a.jpg", "rejected", "face_cut_off"),
        ("ada", "a.jpg", "rejected", "expression"),
        ("", "notes.txt", "", "submission"),
        ("'=bob", "'@b.jpg", "rejected", "corrupt"),
        ("ada", "b.jpg", "accepted", ""),
    ]
    cut = rows[0]
    assert (cut["value"], cut["limit"], cut["unit"], cut["comparison"]) == (
        "-0.05", "0.1", "eye_distances", ">=")  # a negative number is a number, not a formula
    assert rows[1]["message"] == "'-smiling" and rows[3]["message"] == "'\tdoes not decode"


def test_the_text_for_stdout_is_the_file(tmp_path):
    path = tmp_path / "findings.csv"
    write_findings(FINDINGS, path, VERDICTS)
    assert findings_csv_text(FINDINGS, VERDICTS) == path.read_bytes().decode("utf-8")


def test_a_file_without_a_byte_order_mark_reads_too(tmp_path):
    path = tmp_path / "findings.csv"
    path.write_text(findings_csv_text(FINDINGS).removeprefix("\ufeff"), encoding="utf-8")
    assert read_findings(path) == FINDINGS


@pytest.mark.parametrize("cells, error", [
    (["fatal", ""], "line 3: 'fatal' is not a valid Severity"),
    (["error", "1.2x"], "line 3: could not convert string to float"),
])  # fmt: skip
def test_a_bad_row_names_its_line(tmp_path, cells, error):
    path = tmp_path / "findings.csv"
    columns = FINDING_COLUMNS
    good = dict.fromkeys(columns, "") | {"student": "ada", "file": "a.jpg", "rule": "blurry",
                                         "severity": "error", "message": "m"}
    bad = good | {"severity": cells[0], "value": cells[1]}
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, columns)
        writer.writeheader()
        writer.writerows([good, bad])
    with pytest.raises(FormatError, match=error):
        read_findings(path)
    with pytest.raises(FormatError, match="run the ingest stage first"):
        read_findings(tmp_path / "ingest_findings.csv", "ingest")
