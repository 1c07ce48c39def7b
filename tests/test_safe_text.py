import csv
import io

import pytest

from pipeline.safe_text import cell, cell_row, name_key, shown, uncell, uncell_row


@pytest.mark.parametrize(
    "value",
    ["=1+2", "+cmd", "-x.jpg", "@SUM(A1)", "\tTab", "\rCR", "'=quoted", "'plain", "=", "-"],
)
def test_formula_cells_get_an_apostrophe_and_come_back_exactly(value):
    written = cell(value)
    assert written.startswith("'")
    assert uncell(written) == value


@pytest.mark.parametrize("value", ["-3.1", "+30", "-5", "1e-3", "-.5", "photo.jpg", "", "none"])
def test_numbers_and_plain_text_are_left_alone(value):
    assert cell(value) == value and uncell(cell(value)) == value


def test_non_text_values_pass_through():
    assert cell(-3.1) == -3.1 and cell(None) is None and cell(600) == 600


def test_rows_round_trip_through_a_real_csv_file():
    rows = [{"file": "=HYPERLINK(\"x\")", "yaw": -3.1, "note": "'quoted", "age": "30"}]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, list(rows[0]))
    writer.writeheader()
    writer.writerows(cell_row(r) for r in rows)
    buf.seek(0)
    raw = next(csv.DictReader(io.StringIO(buf.getvalue())))
    assert raw["file"].startswith("'=") and raw["yaw"] == "-3.1"
    assert [uncell_row(r) for r in csv.DictReader(buf)] == [
        {"file": '=HYPERLINK("x")', "yaw": "-3.1", "note": "'quoted", "age": "30"}
    ]


def test_terminal_text_shows_control_and_bidi_characters_escaped():
    assert shown("\x1b[2Jred.jpg") == "\\x1b[2Jred.jpg"
    assert shown("evil\u202egpj.jpg") == "evil\\u202egpj.jpg"
    assert shown("a\nb\tc\x7f") == "a\\x0ab\\x09c\\x7f"
    assert shown("José 😀 ١٢") == "José 😀 ١٢"  # letters, emoji and other scripts stay


def test_names_compare_as_people_read_them():
    nfc, nfd = "Jos\u00e9.jpg", "Jose\u0301.jpg"
    assert nfc != nfd and name_key(nfc) == name_key(nfd)
    assert name_key(" IMG01.JPG ") == name_key("img01.jpg")
    assert name_key("Photos/ a.jpg") == "photos/a.jpg"
    assert name_key("a.jpg") != name_key("b.jpg")
