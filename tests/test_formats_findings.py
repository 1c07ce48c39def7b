"""findings.csv: the Finding record's fields as columns; a bad row names its line."""

import pytest

from pipeline.findings import Finding, Severity
from pipeline.formats.common import FormatError
from pipeline.formats.findings import FINDING_COLUMNS, read_findings, write_findings


def test_round_trip(tmp_path):
    findings = [Finding("ada", "a.jpg", "blurry", Severity.ERROR, "too soft", "41", ">= 60"),
                Finding("", "notes.txt", "submission", Severity.WARNING, 'a "quoted", message')]
    write_findings(findings, tmp_path / "findings.csv")
    assert read_findings(tmp_path / "findings.csv") == findings


def test_a_severity_outside_the_three_names_its_line(tmp_path):
    path = tmp_path / "findings.csv"
    rows = ["ada,a.jpg,blurry,error,m,,,", "ada,b.jpg,x,fatal,m,,,"]
    path.write_text("\n".join([",".join(FINDING_COLUMNS), *rows]) + "\n")
    with pytest.raises(FormatError, match="line 3: severity 'fatal' is not one of error, warning"):
        read_findings(path)
    with pytest.raises(FormatError, match="run the ingest stage first"):
        read_findings(tmp_path / "ingest_findings.csv", "ingest")
