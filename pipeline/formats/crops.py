"""The crop stage's folder and the augment stage's folder: the images are listed in index.csv.

Crops (`data/processed/crops/`): `index.csv` with INDEX_COLUMNS (student, file, crop: the PNG's
path inside the folder) and then the attribute columns of accepted.csv, one row per crop;
`failures.csv` with FAILURE_COLUMNS (student, file, error); CONTACT_SHEET.
Augmented copies (`data/processed/augmented/`): `index.csv` with AUGMENTED_COLUMNS (student,
file, copy: 1..augment.copies, path: the PNG's path inside the folder) and then the drawn
parameters of each copy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline.formats.common import read_csv, write_csv

INDEX = "index.csv"
FAILURES = "failures.csv"
CONTACT_SHEET = "contact_sheet.png"
INDEX_COLUMNS = ["student", "file", "crop"]
FAILURE_COLUMNS = ["student", "file", "error"]
AUGMENTED_COLUMNS = ["student", "file", "copy", "path"]


def write_crops_index(folder: Path, rows: Iterable[Mapping[str, Any]],
                      attribute_columns: Sequence[str]) -> None:
    write_csv(Path(folder) / INDEX, [*INDEX_COLUMNS, *attribute_columns], rows)


def write_failures(folder: Path, rows: Iterable[Mapping[str, str]]) -> None:
    write_csv(Path(folder) / FAILURES, FAILURE_COLUMNS, rows)


def read_crops_index(folder: Path) -> list[dict[str, str]]:
    """The rows of the crops' index.csv; FormatError when it is missing or lacks a column."""
    return read_csv(Path(folder) / INDEX, INDEX_COLUMNS, "crop")[1]


def write_augmented_index(folder: Path, rows: Iterable[Mapping[str, Any]],
                          recipe_columns: Sequence[str]) -> None:
    write_csv(Path(folder) / INDEX, [*AUGMENTED_COLUMNS, *recipe_columns], rows)


def read_augmented_index(folder: Path) -> list[dict[str, str]]:
    """The rows of the augmented copies' index.csv; FormatError as read_crops_index."""
    return read_csv(Path(folder) / INDEX, AUGMENTED_COLUMNS, "augment")[1]
