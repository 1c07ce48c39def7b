"""accepted.csv: its columns are written once, in order, and read back with the attributes."""

import csv
from dataclasses import dataclass

import pytest

from pipeline.formats.accepted import (
    FACE_COLUMNS,
    FIXED_COLUMNS,
    IDENTITY,
    LANDMARKS,
    identities_of,
    read_accepted,
    write_accepted,
)
from pipeline.formats.common import FormatError
from pipeline.formats.manifest import ManifestRow


@dataclass(frozen=True)
class Pose:
    yaw: float
    pitch: float
    roll: float


@dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]
    prob: float
    landmarks: tuple[tuple[float, float], ...]
    pose: Pose


FACE = Face((10.123, 20.0, 110.0, 140.456), 0.999871,
            tuple((30.0 + 10 * i, 60.006) for i in range(5)), Pose(1.234, -5.0, 0.555))
ROW = ManifestRow("ada", "a 1.jpg", "ada", "a 1.jpg", "photo", "ab" * 32, 1234, "JPEG", 600, 800)


def test_round_trip_keeps_the_documented_column_order(tmp_path):
    path = tmp_path / "accepted.csv"
    write_accepted(path, [(ROW, FACE, {"eye_colour": "brown", "age": "30"})], ["eye_colour", "age"])
    with path.open(newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert header == [*FIXED_COLUMNS, "eye_colour", "age"]
    assert "kind" not in header and header[:2] == ["student", "file"]
    assert len(FACE_COLUMNS) == 4 + 1 + 2 * len(LANDMARKS) + 3
    attributes, rows = read_accepted(path)
    assert attributes == ["eye_colour", "age"]
    (row,) = rows
    assert row["face_x1"] == "10.12" and row["face_prob"] == "0.9999" and row["yaw"] == "1.23"
    assert row["nose_x"] == "50.0" and row["mouth_right_y"] == "60.01"
    assert row["width"] == "600" and row["sha256"] == ROW.sha256 and row["age"] == "30"


def test_a_missing_file_names_the_stage_to_run(tmp_path):
    with pytest.raises(FormatError, match="accepted.csv does not exist; run the validate stage"):
        read_accepted(tmp_path / "accepted.csv")


def test_the_identity_column_is_fixed_not_an_attribute_and_empty_when_unknown(tmp_path):
    path = tmp_path / "accepted.csv"
    other = ManifestRow("bo", "b.jpg", "bo", "b.jpg", "photo", "cd" * 32, 99, "JPEG", 600, 800)
    write_accepted(path, [(ROW, FACE, {"age": "30"}), (other, FACE, {"age": "40"})], ["age"],
                   identities={("ada", "a 1.jpg"): 3})
    attributes, rows = read_accepted(path)
    assert attributes == ["age"] and IDENTITY in FIXED_COLUMNS
    assert [r[IDENTITY] for r in rows] == ["3", ""]
    assert identities_of(rows) == {("ada", "a 1.jpg"): 3}
    # a file written before the column existed has no identities, which is not an error
    assert identities_of([{"student": "ada", "file": "a.jpg"}]) == {}
