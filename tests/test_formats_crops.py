"""The crops' and the augmented copies' index.csv: what is missing says which stage to run."""

import pytest

from pipeline.formats.common import FormatError
from pipeline.formats.crops import (
    read_augmented_index,
    read_crops_index,
    write_augmented_index,
    write_crops_index,
)


def test_round_trip_with_the_extra_columns(tmp_path):
    write_crops_index(tmp_path, [{"student": "ada", "file": "a.jpg", "crop": "ada/a.png",
                                  "age": "30"}], ["age"])
    assert read_crops_index(tmp_path) == [{"student": "ada", "file": "a.jpg", "crop": "ada/a.png",
                                           "age": "30"}]
    write_augmented_index(tmp_path, [], ["flip"])
    assert read_augmented_index(tmp_path) == []


def test_errors_name_the_stage_that_writes_the_folder(tmp_path):
    with pytest.raises(FormatError, match="run the crop stage first"):
        read_crops_index(tmp_path / "crops")
    with pytest.raises(FormatError, match="run the augment stage first"):
        read_augmented_index(tmp_path / "augmented")
    (tmp_path / "index.csv").write_text("student,file\nada,a.jpg\n")
    with pytest.raises(FormatError, match="has no column crop; run the crop stage again"):
        read_crops_index(tmp_path)
