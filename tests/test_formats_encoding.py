"""encoding.json: written beside the shards, read back as stored; anything else is refused."""

import pytest

from pipeline.formats.common import FormatError
from pipeline.formats.encoding import (
    ONE_HOT,
    SCALAR,
    Encoding,
    make_encoding,
    read_encoding,
    write_encoding,
)


def test_round_trip_and_absence(tmp_path):
    encoding = make_encoding([("gender", ONE_HOT, ("female", "male")), ("age", SCALAR, (1, 100)),
                              ("identification_mark", "text", ())])
    assert read_encoding(tmp_path) is None
    write_encoding(tmp_path, encoding)
    stored = read_encoding(tmp_path)
    assert stored == encoding.to_json() and Encoding.from_json(stored) == encoding
    assert stored["width"] == 3 and stored["left_out"] == ["identification_mark"]


def test_an_empty_range_and_a_file_that_is_no_encoding(tmp_path):
    with pytest.raises(ValueError, match="age: the range 5.0..5.0 is empty"):
        make_encoding([("age", SCALAR, (5, 5))])
    (tmp_path / "encoding.json").write_text('{"width": 3}')
    with pytest.raises(FormatError, match="is not an attribute encoding"):
        read_encoding(tmp_path)
