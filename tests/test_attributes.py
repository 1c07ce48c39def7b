"""Attribute tables: every way a spreadsheet goes wrong becomes a finding, never a traceback."""

import pytest

from pipeline.attributes import (
    VocabularyError,
    build_schema,
    check_student_attributes,
    load_vocabulary,
)
from pipeline.findings import Severity
from tests.conftest import ATTRIBUTE_COLUMNS, SCHEMA, VALID_VALUES

VOCAB = load_vocabulary(SCHEMA)
PHOTOS = ["img01.jpg", "img02.jpg", "img03.jpg"]


def table(rows, header=ATTRIBUTE_COLUMNS, sep=",", newline="\n", bom=False, encoding="utf-8"):
    text = newline.join(sep.join(r) for r in [header, *rows]) + newline
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding)


def valid_rows(files=PHOTOS):
    return [[f, *VALID_VALUES] for f in files]


def check(data, photos=PHOTOS):
    return check_student_attributes("ada", "attributes.csv", data, photos, VOCAB)


def messages(result):
    return [(f.file, f.severity, f.message) for f in result.findings]


def test_vocabulary_matches_the_design():
    assert VOCAB.names == ATTRIBUTE_COLUMNS[1:]
    assert VOCAB.column("eye_colour").values == ("brown", "black", "blue", "green", "hazel", "grey")
    age = VOCAB.column("age")
    assert (age.kind, age.min, age.max) == ("integer", 1, 100)


def test_malformed_vocabulary_is_a_clear_error(tmp_path):
    bad = tmp_path / "v.yaml"
    bad.write_text("columns:\n  eye_colour: {kind: colour}\n")
    with pytest.raises(VocabularyError, match="eye_colour.*kind"):
        load_vocabulary(bad)


def test_valid_table_passes_and_values_are_normalised():
    rows = valid_rows()
    rows[0][8] = "  Blue "  # eye_colour, as typed
    result = check(table(rows))
    assert result.findings == []
    assert set(result.rows) == set(PHOTOS)
    assert result.rows["img01.jpg"]["eye_colour"] == "blue"


def test_excel_style_table_with_bom_semicolons_and_crlf():
    header = [" File", "Lip Type", *ATTRIBUTE_COLUMNS[2:]]  # spreadsheet-style headers
    data = table(valid_rows(), header=header, sep=";", newline="\r\n", bom=True)
    result = check(data)
    assert result.findings == [] and len(result.rows) == 3


def test_windows_1252_table_is_read_with_a_warning():
    rows = valid_rows()
    rows[0][-1] = "scar über the eyebrow"
    result = check(table(rows, encoding="cp1252"))
    assert len(result.rows) == 3
    assert [f.severity for f in result.findings] == [Severity.WARNING]
    assert "Windows-1252" in result.findings[0].message
    assert result.rows["img01.jpg"]["identification_mark"] == "scar über the eyebrow"


def test_near_miss_gets_a_suggestion_and_far_miss_the_allowed_values():
    rows = valid_rows()
    rows[0][8] = "Brwn"
    rows[1][8] = "purple"
    result = check(table(rows))
    found = {f.file: f for f in result.findings}
    assert found["img01.jpg"].message.startswith('"Brwn" is not an eye_colour')
    assert 'did you mean "brown"?' in found["img01.jpg"].message
    assert "allowed: brown, black, blue" in found["img02.jpg"].message
    assert found["img02.jpg"].value == "purple"
    assert set(result.rows) == {"img03.jpg"}  # photos with a bad row are not accepted


def test_age_type_is_checked_before_its_range():
    rows = valid_rows()
    rows[0][15] = "abc"
    rows[1][15] = "150"
    result = check(table(rows))
    found = {f.file: f.message for f in result.findings}
    assert 'age "abc" is not a whole number' in found["img01.jpg"]
    assert "age 150 is outside 1–100" in found["img02.jpg"]
    assert len(result.findings) == 2  # each reported once


def test_rows_and_photos_that_do_not_match():
    rows = valid_rows(["img01.jpg", "IMG02", "img04.jpg", "img01.jpg"])
    result = check(table(rows))
    found = messages(result)
    assert (
        "img01.jpg",
        Severity.ERROR,
        '"img01.jpg" is listed more than once in attributes.csv (row 2 of attributes.csv); '
        "keep one row per photo",
    ) in found
    # the suggestion is the photo that no row names
    assert any(
        f == "attributes.csv"
        and '"img04.jpg", which was not handed in; did you mean "img03.jpg"' in m
        for f, _, m in found
    )
    assert any(f == "img03.jpg" and "no row for this photo" in m for f, _, m in found)
    assert set(result.rows) == {"img02.jpg"}  # matched without case or extension


def test_missing_and_extra_columns():
    header = [c for c in ATTRIBUTE_COLUMNS if c != "dimples"] + ["eye_color", "notes"]
    rows = [[*r[:4], *r[5:], "blue", "x"] for r in valid_rows()]
    result = check(table(rows, header=header))
    by_value = {f.value: f for f in result.findings}
    assert (
        by_value["missing"].severity is Severity.ERROR
        and "`dimples`" in by_value["missing"].message
    )
    assert by_value["eye_color"].severity is Severity.WARNING
    assert 'did you mean "eye_colour"' in by_value["eye_color"].message
    assert by_value["notes"].severity is Severity.WARNING


def test_empty_cells():
    rows = valid_rows()
    rows[0][0] = ""
    rows[1][8] = ""
    result = check(table(rows))
    found = messages(result)
    assert any("row 2 of attributes.csv has no file name" in m for _, _, m in found)
    assert any(f == "img02.jpg" and "eye_colour is empty" in m for f, _, m in found)
    assert any(f == "img01.jpg" and "no row for this photo" in m for f, _, m in found)


@pytest.mark.parametrize(
    "data, why",
    [
        (b"", "empty"),
        (b"\n\n", "empty"),
        (bytes(range(256)) * 4, "not a text file"),
        (b"just one column\nimg01.jpg\n", "only one column"),
    ],
)
def test_unreadable_tables_are_findings(data, why):
    result = check(data)
    assert result.rows == {}
    assert why in result.findings[0].message
    missing = [f for f in result.findings if f.file in PHOTOS]
    assert len(missing) == 3 and all(f.severity is Severity.ERROR for f in missing)


def test_no_table_at_all():
    result = check_student_attributes("ada", None, None, PHOTOS, VOCAB)
    assert result.findings[0].file == "" and "no attributes.csv" in result.findings[0].message
    assert {f.file for f in result.findings[1:]} == set(PHOTOS)


def test_schema_is_a_real_pandera_schema_built_from_the_vocabulary():
    schema = build_schema(VOCAB, ["file", "eye_colour", "age"])
    assert set(schema.columns) == {"file", "eye_colour", "age"}
    assert schema.columns["file"].unique
