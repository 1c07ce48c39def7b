"""What every format shares: FormatError, and reading and writing a CSV table.

A file another stage wrote is read only through these, so that a missing file or a missing
column always says which stage to run, instead of ending in a KeyError. Every cell is written
through `pipeline.safe_text.cell` (a spreadsheet never runs a student's text as a formula) and
read back through `uncell`, so the files round-trip exactly. The tables made for people to open
in a spreadsheet (the findings) start with a byte order mark (`bom=True`): Excel then reads
accents right instead of guessing a code page. The reader accepts files with and without one.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline.io import atomic_path
from pipeline.safe_text import cell_row, uncell_row

READ_ENCODING = "utf-8-sig"  # a byte order mark, if there is one, is not part of the header
BOM = "\ufeff"


class FormatError(ValueError):
    """A file between stages is missing or not in its documented layout; the message says
    which stage to run."""


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[Mapping[str, Any]],
              *, bom: bool = False) -> None:
    """Write `rows` under a header of `columns`, atomically (a killed run leaves no half file);
    None is written as an empty cell."""
    with atomic_path(Path(path)) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
        fh.write(BOM if bom else "")
        _write(fh, columns, rows)


def csv_text(columns: Sequence[str], rows: Iterable[Mapping[str, Any]], *, bom: bool = False
             ) -> str:
    """What `write_csv` writes, as text."""
    buf = io.StringIO(newline="")
    buf.write(BOM if bom else "")
    _write(buf, columns, rows)
    return buf.getvalue()


def _write(fh, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> None:
    writer = csv.DictWriter(fh, list(columns))
    writer.writeheader()
    writer.writerows(cell_row({k: "" if v is None else v for k, v in row.items()})
                     for row in rows)


def read_csv(path: Path, required: Sequence[str], written_by: str
             ) -> tuple[list[str], list[dict[str, str]]]:
    """The header and the rows (missing cells as "") of a CSV that the stage `written_by`
    wrote; FormatError when the file or one of the `required` columns is missing."""
    path = Path(path)
    if not path.is_file():
        raise FormatError(f"{path} does not exist; run the {written_by} stage first")
    with path.open(newline="", encoding=READ_ENCODING) as fh:
        reader = csv.DictReader(fh)
        header = list(reader.fieldnames or [])
        missing = [c for c in required if c not in header]
        if missing:
            raise FormatError(f"{path} has no column {', '.join(missing)}; run the {written_by} "
                              "stage again")
        return header, [uncell_row(row) for row in reader]
