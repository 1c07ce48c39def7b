"""The one CSV writer and reader: neutralised cells undone on reading, a byte order mark where
asked for and accepted either way, None as an empty cell, a missing column named."""

import pytest

from pipeline.formats.common import FormatError, csv_text, read_csv, write_csv

ROWS = [{"name": "=1+2", "note": "\tindented", "n": -0.05},
        {"name": "\rreturn", "note": "@home", "n": None}]


@pytest.mark.parametrize("bom", [True, False])
def test_round_trip_with_and_without_a_byte_order_mark(tmp_path, bom):
    path = tmp_path / "t.csv"
    write_csv(path, ["name", "note", "n"], ROWS, bom=bom)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf") is bom
    header, rows = read_csv(path, ["name"], "test")
    assert header == ["name", "note", "n"]
    assert rows == [{"name": "=1+2", "note": "\tindented", "n": "-0.05"},
                    {"name": "\rreturn", "note": "@home", "n": ""}]


def test_cells_a_spreadsheet_would_run_are_written_as_text_and_numbers_as_numbers():
    text = csv_text(["name", "note", "n"], ROWS, bom=True)
    assert text.startswith("\ufeffname,note,n\r\n")
    assert "'=1+2,'\tindented,-0.05\r\n" in text
    assert "\"'\rreturn\",'@home,\r\n" in text


def test_a_missing_file_or_column_says_which_stage_to_run(tmp_path):
    with pytest.raises(FormatError, match="run the crop stage first"):
        read_csv(tmp_path / "none.csv", ["a"], "crop")
    write_csv(tmp_path / "t.csv", ["a"], [{"a": 1}], bom=True)
    with pytest.raises(FormatError, match="no column b; run the crop stage again"):
        read_csv(tmp_path / "t.csv", ["a", "b"], "crop")
