"""The finding record: numbers with a unit and a comparison, shown to people in one way; the
verdict a photo's findings give it."""

import numpy as np
import pytest

from pipeline.findings import Finding, Severity, Verdict, shown_number, verdict


def test_numbers_are_plain_and_shown_with_their_unit():
    f = Finding("ada", "a.jpg", "exposure", Severity.ERROR, "light from one side",
                quantity="cheek_ratio", value=np.float32(1.1734561), limit=1.0, unit="ratio",
                comparison="<=")
    assert type(f.value) is float and f.value == 1.17346 and f.limit == 1
    assert (f.shown_value, f.shown_limit) == ("1.17×", "≤ 1×")
    assert f.as_row()["value"] == 1.17346


@pytest.mark.parametrize("value, unit, exact, text", [
    (0.2134, "fraction", False, "21%"),
    (0.35, "fraction", True, "35%"),
    (31.24, "deg", False, "31.2°"),
    (-0.051, "eye_distances", False, "-0.051 eye distances"),
    (480, "px", True, "480 px"),
    (None, "px", False, ""),
])  # fmt: skip
def test_shown_number(value, unit, exact, text):
    assert shown_number(value, unit, exact) == text


def test_from_row_reads_csv_text_and_refuses_what_is_no_number():
    row = {"student": "ada", "file": "a.jpg", "rule": "blurry", "severity": "error",
           "message": "m", "quantity": "edge_width", "value": "0.041", "limit": "0.03",
           "unit": "eye_distances", "comparison": "<=", "related": ""}
    f = Finding.from_row(row)
    assert (f.value, f.limit) == (0.041, 0.03) and Finding.from_row(f.as_row()) == f
    with pytest.raises(ValueError):
        Finding.from_row({**row, "value": "≤ 1.00×"})
    with pytest.raises(ValueError, match="unit"):
        Finding("a", "b", "r", Severity.ERROR, "m", value=1, unit="furlongs")
    with pytest.raises(ValueError, match="comparison"):
        Finding("a", "b", "r", Severity.ERROR, "m", value=1, comparison="=<")


def test_a_photos_verdict():
    warn = Finding("a", "b.jpg", "expression", Severity.WARNING, "smiling")
    error = Finding("a", "b.jpg", "blurry", Severity.ERROR, "blurred")
    assert verdict([], True) is Verdict.ACCEPTED
    assert verdict([warn], True) is Verdict.ACCEPTED_WITH_WARNINGS
    assert verdict([warn, error], True) is Verdict.REJECTED
    assert verdict([], False) is Verdict.REJECTED  # no face to train on
