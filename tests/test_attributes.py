"""Attribute tables: every way a spreadsheet goes wrong becomes a finding, never a traceback."""

import re

import numpy as np
import pytest

from pipeline.attributes import (
    RULE,
    VocabularyError,
    build_schema,
    check_student_attributes,
    load_vocabulary,
    read_attributes_csv,
)
from pipeline.findings import Severity
from tests.conftest import ATTRIBUTE_COLUMNS, SCHEMA, VALID_VALUES

VOCAB = load_vocabulary(SCHEMA)
PHOTOS = ["img01.jpg", "img02.jpg", "img03.jpg"]
COL = {name: i for i, name in enumerate(ATTRIBUTE_COLUMNS)}  # position in a row


def table(rows, header=ATTRIBUTE_COLUMNS, sep=",", newline="\n", bom=False, encoding="utf-8"):
    text = newline.join(sep.join(r) for r in [header, *rows]) + newline
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode(encoding)


def valid_rows(files=PHOTOS):
    return [[f, *VALID_VALUES] for f in files]


def check(data, photos=PHOTOS, vocab=VOCAB, name="attributes.csv"):
    result = check_student_attributes("ada", name, data, photos, vocab)
    # the contract validate relies on: a photo without a usable row has an error of its own
    for photo in photos:
        errors = [f for f in result.findings if f.file == photo and f.severity is Severity.ERROR]
        assert (photo in result.rows) != bool(errors), (photo, result.findings)
    assert all(f.rule == RULE and f.student == "ada" for f in result.findings)
    return result


def on(result, file):
    return [f for f in result.findings if f.file == file]


def test_vocabulary_matches_the_design():
    assert VOCAB.names == ATTRIBUTE_COLUMNS[1:]
    assert VOCAB.column("eye_colour").values == ("brown", "black", "blue", "green", "hazel", "grey")
    assert VOCAB.column("dimples").values == ("yes", "no")
    age, mark = VOCAB.column("age"), VOCAB.column("identification_mark")
    assert (age.kind, age.min, age.max) == ("integer", 1, 100)
    assert (mark.kind, mark.max_length, mark.none) == ("text", 100, "none")


@pytest.mark.parametrize(
    "text, match",
    [
        ("columns:\n  eye_colour: {kind: colour}\n", "eye_colour.*kind"),
        ("columns:\n  dimples: {kind: choice, values: [yes, no]}\n", "dimples.*quotes"),
        ("columns:\n  age: {kind: integer, min: 100, max: 1}\n", "age.*above"),
        ("columns:\n  age: {kind: integer, min: 1, maxi: 9}\n", "unknown setting.*maxi"),
        ("columns:\n  Eye Colour: {kind: choice, values: [blue]}\n", "lower case"),
        ("columns: [a, b\n", "cannot be read as YAML"),
        ("colums:\n  age: {kind: integer, min: 1, max: 9}\n", "columns"),
    ],
)
def test_malformed_vocabulary_is_a_clear_error(tmp_path, text, match):
    bad = tmp_path / "v.yaml"
    bad.write_text(text)
    with pytest.raises(VocabularyError, match=match):
        load_vocabulary(bad)


def test_valid_table_passes_and_values_are_normalised():
    rows = valid_rows()
    rows[0][COL["eye_colour"]] = "  Blue "
    rows[1][COL["age"]] = "30.0"  # what a spreadsheet number cell may become
    rows[2][COL["identification_mark"]] = "Mole on the LEFT cheek"
    result = check(table(rows))
    assert result.findings == []
    assert set(result.rows) == set(PHOTOS)
    assert result.rows["img01.jpg"]["eye_colour"] == "blue"
    assert result.rows["img02.jpg"]["age"] == "30"
    assert result.rows["img03.jpg"]["identification_mark"] == "mole on the left cheek"
    assert list(result.rows["img01.jpg"]) == VOCAB.names


def test_excel_style_table_with_bom_semicolons_crlf_and_trailing_junk():
    header = [" File", "Lip Type", "LIP-COLOUR", *ATTRIBUTE_COLUMNS[3:], "", ""]
    rows = [[*r, "", ""] for r in valid_rows()] + [[""] * len(header)] * 2
    rows[0][COL["identification_mark"]] = '"scar; left cheek"'  # quoted delimiter
    data = table(rows, header=header, sep=";", newline="\r\n", bom=True)
    result = check(data)
    assert result.findings == [] and set(result.rows) == set(PHOTOS)
    assert result.rows["img01.jpg"]["identification_mark"] == "scar; left cheek"


def test_excel_sep_line_and_utf16_tab_separated_text():
    sep_line = b"sep=;\r\n" + table(valid_rows(), sep=";", newline="\r\n")
    assert set(check(sep_line).rows) == set(PHOTOS)
    unicode_text = table(valid_rows(), sep="\t", newline="\r\n", encoding="utf-16")
    assert unicode_text[:2] == b"\xff\xfe"
    result = check(unicode_text)
    assert result.findings == [] and set(result.rows) == set(PHOTOS)


@pytest.mark.parametrize("bom", [False, True])
def test_windows_1252_table_is_read_with_a_warning(bom):
    rows = valid_rows()
    rows[0][COL["identification_mark"]] = "Narbe über der Braue – links"
    result = check(table(rows, encoding="cp1252", bom=bom))
    assert set(result.rows) == set(PHOTOS)
    assert [(f.file, f.severity, f.value) for f in result.findings] == [
        ("attributes.csv", Severity.WARNING, None)  # an encoding is no number: the message says
    ]
    assert "Windows-1252" in result.findings[0].message
    assert result.rows["img01.jpg"]["identification_mark"] == "narbe über der braue – links"


def test_near_miss_gets_a_suggestion_and_far_miss_the_allowed_values():
    rows = valid_rows()
    rows[0][COL["eye_colour"]] = "Brwn"
    rows[1][COL["eye_colour"]] = "purple"
    result = check(table(rows))
    (near,), (far,) = on(result, "img01.jpg"), on(result, "img02.jpg")
    assert near.message == (
        'row 2 of attributes.csv: "Brwn" is not an eye_colour; did you mean "brown"?'
    )
    assert (near.severity, near.value, near.limit) == (Severity.ERROR, None, None)
    assert "write one of brown, black, blue, green, hazel, grey" in far.message
    assert '"purple"' in far.message
    assert set(result.rows) == {"img03.jpg"}  # photos with a bad row are not accepted


def test_age_type_is_checked_before_its_range():
    rows = valid_rows(["img01.jpg", "img02.jpg", "img03.jpg", "img04.jpg"])
    for row, age in zip(rows, ["abc", "150", "-5", "12.5"], strict=True):
        row[COL["age"]] = age
    result = check(table(rows), photos=[r[0] for r in rows])
    found = {f.file: f for f in result.findings}
    assert len(result.findings) == 4  # each bad age reported once
    assert 'age "abc" is not a whole number' in found["img01.jpg"].message
    assert "age 150 is outside 1–100" in found["img02.jpg"].message
    assert "age -5 is outside 1–100" in found["img03.jpg"].message
    assert 'age "12.5" is not a whole number' in found["img04.jpg"].message
    assert result.rows == {}


def test_rows_and_photos_that_do_not_match():
    photos = [*PHOTOS, "IMG05.JPG", "img06.jpg"]
    names = ["img01.jpg", "IMG02", "imgO3.jpg", "IMG01.JPG", "Photos\\img05.jpg", "img06.jpeg"]
    result = check(table(valid_rows(names)), photos=photos)
    (twice,) = on(result, "img01.jpg")
    assert twice.message == (
        '"img01.jpg" is listed 2 times in attributes.csv (rows 2, 5); '
        "keep exactly one row per photo"
    )
    unknown = {re.search(r'names "([^"]+)"', f.message)[1]: f.message
               for f in on(result, "attributes.csv")}
    assert unknown["imgO3.jpg"] == (
        'row 4 of attributes.csv names "imgO3.jpg", which was not handed in; '
        'did you mean "img03.jpg"?'
    )
    assert 'did you mean "img06.jpg"?' in unknown["img06.jpeg"]  # other extension: no match
    assert (
        "no row for this photo; add a row with file = img03.jpg"
        in on(result, "img03.jpg")[0].message
    )
    # without case, folders or (for a unique stem) the extension, the row names the photo
    assert set(result.rows) == {"img02.jpg", "IMG05.JPG"}


def test_a_far_misnamed_row_points_at_the_only_photo_without_one():
    result = check(table(valid_rows(["img01.jpg", "img02.jpg", "holiday.jpg"])))
    (row,) = on(result, "attributes.csv")
    assert row.message.endswith('is it "img03.jpg", the only photo without a row?')


def test_missing_and_extra_columns():
    header = [c for c in ATTRIBUTE_COLUMNS if c not in ("dimples", "eye_colour")]
    header += ["eye_color", "notes"]
    rows = [
        [v for c, v in zip(ATTRIBUTE_COLUMNS, r, strict=True) if c in header] for r in valid_rows()
    ]
    rows = [[*r, "blue", "x"] for r in rows]
    result = check(table(rows, header=header))
    whole = {re.search(r"column `([^`]+)`", f.message)[1]: f for f in on(result, "attributes.csv")}
    assert whole["dimples"].severity is Severity.ERROR
    assert "no column `dimples`; add it, holding one of yes, no" in whole["dimples"].message
    assert 'no column `eye_colour`; did you mean "eye_color"?' in whole["eye_colour"].message
    assert whole["eye_color"].severity is Severity.WARNING
    assert 'did you mean "eye_colour"?' in whole["eye_color"].message
    assert whole["notes"].severity is Severity.WARNING and "remove it" in whole["notes"].message
    # without those columns no photo has usable attributes
    assert result.rows == {}
    assert "lacks the column(s) dimples, eye_colour" in on(result, "img01.jpg")[0].message


def test_extra_column_alone_is_only_a_warning():
    rows = [[*r, "taken in the garden"] for r in valid_rows()]
    result = check(table(rows, header=[*ATTRIBUTE_COLUMNS, "Notes"]))
    assert [(f.severity, "column `notes`" in f.message) for f in result.findings] == [
        (Severity.WARNING, True)
    ]
    assert set(result.rows) == set(PHOTOS) and "notes" not in result.rows["img01.jpg"]


def test_no_file_column_and_repeated_column():
    header = ["File Name", *ATTRIBUTE_COLUMNS[1:]]
    result = check(table(valid_rows(), header=header))
    assert 'no `file` column; did you mean "file_name"?' in result.findings[0].message
    assert result.rows == {} and len(result.findings) == 1 + len(PHOTOS)
    repeated = check(
        table([[*r, "blue"] for r in valid_rows()], header=[*ATTRIBUTE_COLUMNS, "Eye Colour"])
    )
    assert "the column `eye_colour` more than once" in repeated.findings[0].message


def test_empty_cells():
    rows = valid_rows()
    rows[0][0] = ""
    rows[1][COL["eye_colour"]] = ""
    rows[2][COL["identification_mark"]] = ""
    result = check(table(rows))
    assert 'row 2 of attributes.csv has no file name (it is probably "img01.jpg"' in (
        on(result, "attributes.csv")[0].message
    )
    assert "eye_colour is empty; write one of brown" in on(result, "img02.jpg")[0].message
    assert 'identification_mark is empty; write text of at most 100 characters, or "none"' in (
        on(result, "img03.jpg")[0].message
    )
    assert "no row for this photo" in on(result, "img01.jpg")[0].message
    assert result.rows == {}


def test_row_with_an_unquoted_delimiter_in_a_value():
    rows = valid_rows()
    rows[0][COL["identification_mark"]] = "scar, left cheek"
    result = check(table(rows))
    (found,) = on(result, "img01.jpg")
    assert "has 19 cells but the header has 18 columns" in found.message
    assert 'contains "," must be put in double quotes' in found.message
    assert set(result.rows) == {"img02.jpg", "img03.jpg"}


def test_too_long_text():
    rows = valid_rows()
    rows[0][COL["identification_mark"]] = "x" * 101
    (found,) = check(table(rows)).findings
    assert "identification_mark has 101 characters, more than 100" in found.message


def test_header_only_table():
    result = check(table([]))
    assert [f.file for f in result.findings] == PHOTOS
    assert all("no row for this photo" in f.message for f in result.findings)


@pytest.mark.parametrize(
    "data, why",
    [
        (b"", "it is empty"),
        (b"\r\n \n;;\n", "it is empty"),
        (bytes(range(256)) * 4, "not a text file"),
        (np.random.default_rng(0).bytes(4096), "not a text file"),
        (b"PK\x03\x04" + bytes(200), "Excel workbook (.xlsx)"),
        (b"just one column\nimg01.jpg\n", "only one column"),
    ],
)
def test_unreadable_tables_are_findings(data, why):
    result = check(data)
    assert result.rows == {}
    first = result.findings[0]
    assert (first.file, first.severity) == ("attributes.csv", Severity.ERROR)
    assert first.message.startswith("attributes.csv cannot be read: ") and why in first.message
    assert (
        len(on(result, "img01.jpg")) == 1 and "cannot be read" in on(result, "img01.jpg")[0].message
    )


def test_no_table_at_all():
    result = check_student_attributes("ada", None, None, PHOTOS, VOCAB)
    first = result.findings[0]
    assert (first.file, first.severity) == ("", Severity.ERROR)
    assert first.message.startswith("no attributes.csv was handed in; add attributes.csv")
    assert [f.file for f in result.findings[1:]] == PHOTOS and result.rows == {}


def test_reader_keeps_line_numbers_and_case():
    data = b'\n\nfile,Eye Colour\n\nIMG01.jpg,"Bl\nue"\nimg02.jpg,Brown\n'
    frame = read_attributes_csv(data).frame
    assert list(frame.columns) == ["file", "eye_colour"]
    assert list(frame.index) == [5, 7]  # as a spreadsheet numbers the lines
    assert frame.loc[7, "eye_colour"] == "Brown"


def test_schema_is_built_from_the_vocabulary(tmp_path):
    yaml_text = SCHEMA.read_text() + "  nose: {kind: choice, values: [small, big]}\n"
    (tmp_path / "v.yaml").write_text(yaml_text)
    vocab = load_vocabulary(tmp_path / "v.yaml")
    schema = build_schema(vocab, [*ATTRIBUTE_COLUMNS, "nose"])
    assert list(schema.columns) == [*ATTRIBUTE_COLUMNS, "nose"]
    rows = [[*r, nose] for r, nose in zip(valid_rows(), ["big", "Small", "huge"], strict=True)]
    result = check(table(rows, header=[*ATTRIBUTE_COLUMNS, "nose"]), vocab=vocab)
    assert set(result.rows) == {"img01.jpg", "img02.jpg"}
    assert '"huge" is not a nose; write one of small, big' in on(result, "img03.jpg")[0].message


def test_an_unclosed_quote_is_named_as_such_not_as_a_long_value():
    rows = valid_rows()
    rows[0][COL["identification_mark"]] = '"scar on the left'
    result = check(table(rows))
    [problem] = on(result, "attributes.csv")
    assert 'line 2 opens a quote (") that is never closed' in problem.message
    assert not any("characters" in f.message for f in result.findings)
    rows[0][COL["identification_mark"]] = '"a ""quoted"" scar"'  # closed, with escaped quotes
    rows[1][COL["identification_mark"]] = "6'2\" tall"  # a quote inside a value is just text
    assert check(table(rows)).findings == []


@pytest.mark.parametrize(
    "age, script",
    [("٣٠", "Arabic-Indic"), ("３０", "Fullwidth"), ("۳۰", "Extended Arabic-Indic"),
     ("३०", "Devanagari")],
)  # fmt: skip
def test_ages_in_other_digits_are_told_how_to_write_them(age, script):
    rows = valid_rows()
    rows[0][COL["age"]] = age
    [problem] = on(check(table(rows)), "img01.jpg")
    assert f'age "{age}" is written in {script} digits; write it as 30' in problem.message


def test_a_table_with_too_many_rows_is_refused_whole():
    rows = valid_rows() + [[f"x{i}.jpg", *VALID_VALUES] for i in range(20)]
    result = check_student_attributes("ada", "attributes.csv", table(rows), PHOTOS, VOCAB, 10)
    [problem] = on(result, "attributes.csv")
    assert "more than 10 rows" in problem.message and result.rows == {}
    assert set(check_student_attributes("ada", "attributes.csv", table(rows), PHOTOS, VOCAB,
                                        23).rows) == set(PHOTOS)  # fmt: skip


def test_rows_match_names_as_people_write_them():
    photos = ["Jose\u0301.jpg", " spaced.jpg", "IMG01.jpg", "img01.jpg"]  # NFD, as a Mac writes
    rows = [[f, *VALID_VALUES] for f in ["Jos\u00e9.jpg", "spaced.jpg", "IMG01.jpg", "img01.jpg"]]
    result = check(table(rows), photos=photos)
    assert result.findings == [] and set(result.rows) == set(photos)


def test_a_table_that_could_not_be_read_is_not_called_missing():
    result = check_student_attributes("ada", "attributes.csv", None, PHOTOS, VOCAB)
    assert {f.file for f in result.findings} == set(PHOTOS)  # the table's own finding is ingest's
    assert all("attributes.csv could not be read" in f.message for f in result.findings)
    missing = check_student_attributes("ada", None, None, PHOTOS, VOCAB)
    assert any("no attributes.csv was handed in" in f.message for f in missing.findings)
