"""The attribute tables: vocabulary from schemas/attributes.yaml, robust CSV reading, findings.

Every problem becomes an `attributes` finding a student can act on, never an exception. A photo
needs exactly one valid row to be accepted, and every photo that does not get one is named in an
ERROR finding of its own, so the validate stage excludes it:

- a problem with one row (a value outside the vocabulary, an empty cell, a row with too many
  cells, a photo listed twice) is an ERROR on that row's photo; when the row names no photo that
  was handed in, the ERROR is on the table (`file` = the CSV's name);
- a problem with the whole table (none handed in, unreadable, `file` or another column missing,
  a column twice) is an ERROR on the table (`file` = the CSV's name, or "" when there is no CSV),
  and each photo then also gets an ERROR saying it has no usable row and why;
- extra columns are WARNINGs on the table: their values are ignored, and nothing the course asked
  for is lost (a misspelt column is also reported as missing, which is an error);
- a table that is not UTF-8 is a WARNING on the table: it was read as Windows-1252 (or Latin-1),
  which is right for what Excel writes on Windows, but accented letters may have come out wrong.

Rows are matched to photos ignoring case, folders, surrounding spaces and Unicode form
("Photos\\IMG01.JPG" names img01.jpg, a name typed as NFC names the file a Mac wrote as NFD); a
name without its extension ("img01") names the one photo with that stem, since spreadsheets and
students often drop it; a different extension ("img01.jpeg" for img01.jpg) does not match.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
import yaml
from pandera.errors import SchemaErrors

from pipeline.findings import Finding, Severity
from pipeline.safe_text import name_key

RULE = "attributes"
FILE = "file"
KINDS = ("choice", "integer", "text")
_SETTINGS = {"choice": {"values"}, "integer": {"min", "max"}, "text": {"max_length", "none"}}
# Whole numbers as spreadsheets write them: "30", "+30", "-5", and "30.0" from a number cell.
# ASCII digits only: "٣٠" and "３０" are told to write 30 (see _value_message).
_INTEGER = r"^[+-]?[0-9]+(\.0*)?$"
# Control characters other than tab and line ends: text files have none, binary files many.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class VocabularyError(ValueError):
    """schemas/attributes.yaml cannot be used; the message says where and why."""


class TableError(ValueError):
    """The bytes cannot be read as a table at all; the message says why and what to do."""


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # choice | integer | text
    values: tuple[str, ...] = ()  # choice
    min: int = 0  # integer
    max: int = 0
    max_length: int = 0  # text
    none: str = "none"  # text: the word for "nothing to describe"

    def allowed(self) -> str:
        """What this column accepts, in words for a student."""
        if self.kind == "choice":
            return "one of " + ", ".join(self.values)
        if self.kind == "integer":
            return f"a whole number from {self.min} to {self.max}"
        return f'text of at most {self.max_length} characters, or "{self.none}"'


@dataclass(frozen=True)
class Vocabulary:
    columns: tuple[Column, ...]  # in the file's order, without `file`

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


@dataclass
class AttributeResult:
    # photo file (as in photo_files) -> column -> normalised value, for photos with one valid row
    rows: dict[str, dict[str, str]]
    findings: list[Finding] = field(default_factory=list)


@dataclass(frozen=True)
class CsvTable:
    """A table as read: strings only, headers normalised, cells trimmed (case kept for messages)."""

    frame: pd.DataFrame  # index: each row's line number in the file, as a spreadsheet counts
    encoding: str  # utf-8, utf-16, cp1252 or latin-1
    delimiter: str
    long_rows: dict[int, int]  # line -> cells, for rows with more filled cells than the header


def load_vocabulary(path: Path) -> Vocabulary:
    """The vocabulary in `path`; VocabularyError naming the column and setting when malformed."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise VocabularyError(f"{path}: cannot be read as YAML ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("columns"), dict):
        raise VocabularyError(f"{path}: expected a mapping `columns:` of column name -> settings")
    if set(data) != {"columns"}:
        extra = ", ".join(sorted(str(k) for k in set(data) - {"columns"}))
        raise VocabularyError(f"{path}: unknown top-level key(s) {extra}; only `columns:` is read")
    if not data["columns"]:
        raise VocabularyError(f"{path}: `columns:` is empty")
    return Vocabulary(tuple(_column(path, name, spec) for name, spec in data["columns"].items()))


def _column(path: Path, name: object, spec: object) -> Column:
    where = f"{path}: column {name!r}"
    if not isinstance(name, str) or normalise_header(name) != name or name == FILE:
        raise VocabularyError(
            f"{where}: a column name is lower case with underscores, and not {FILE!r}"
        )
    if not isinstance(spec, dict) or spec.get("kind") not in KINDS:
        raise VocabularyError(f"{where}: needs `kind:` one of {', '.join(KINDS)}")
    kind = spec["kind"]
    unknown = set(spec) - _SETTINGS[kind] - {"kind"}
    if unknown:
        raise VocabularyError(
            f"{where}: unknown setting(s) {', '.join(sorted(map(str, unknown)))}; a {kind} "
            f"column takes {', '.join(sorted(_SETTINGS[kind]))}"
        )
    if kind == "choice":
        raw = spec.get("values")
        if not isinstance(raw, list) or not raw:
            raise VocabularyError(f"{where}: `values:` must be a non-empty list of words")
        if any(isinstance(v, bool) for v in raw):
            raise VocabularyError(
                f'{where}: YAML read a value as true/false; put quotes around it ("yes", "no")'
            )
        values = tuple(str(v).strip().lower() for v in raw)
        if "" in values or len(set(values)) != len(values):
            raise VocabularyError(f"{where}: `values:` holds an empty or repeated word")
        return Column(name, kind, values=values)
    if kind == "integer":
        low, high = spec.get("min"), spec.get("max")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high)):
            raise VocabularyError(f"{where}: needs whole numbers `min:` and `max:`")
        if low > high:
            raise VocabularyError(f"{where}: `min:` {low} is above `max:` {high}")
        return Column(name, kind, min=low, max=high)
    length, none = spec.get("max_length"), spec.get("none", "none")
    if not isinstance(length, int) or isinstance(length, bool) or length < 1:
        raise VocabularyError(f"{where}: needs `max_length:`, a whole number of at least 1")
    if not isinstance(none, str) or not none.strip():
        raise VocabularyError(f"{where}: `none:` must be a word, such as none")
    return Column(name, kind, max_length=length, none=none.strip().lower())


def normalise_header(name: str) -> str:
    """' Eye Colour ' and 'eye-colour' both mean eye_colour."""
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def read_attributes_csv(data: bytes, max_rows: int | None = None) -> CsvTable:
    """The table in `data`, or TableError saying why it is no table and what to do.

    A table with more than `max_rows` rows below its header is refused as a whole (it is read
    no further than that), as is one whose quotes never close.

    Reads what spreadsheets write: a UTF-8 byte-order mark, UTF-16 ("Unicode text"), Windows-1252
    or Latin-1 when the bytes are not UTF-8, `,` `;` or tab delimiters (whichever the header
    uses most, or Excel's `sep=;` first line), CRLF line ends, quoted fields, and empty rows and
    empty trailing columns, which are dropped. Empty-named columns with nothing in them are
    dropped too; ones with values are kept under the name "(column N)".
    """
    text, encoding = _decode(data)
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip(" \t,;")), None)
    if first is None:
        raise TableError("it is empty; it needs a header row and one row per photo")
    hint = re.fullmatch(r'\s*"?sep=(.)"?\s*', lines[first])
    if hint:
        delimiter = hint.group(1)
    else:
        delimiter = max([",", ";", "\t"], key=lines[first].count)
        if lines[first].count(delimiter) == 0:
            raise TableError(
                f"its header {lines[first][:60]!r} has only one column; the first row must name "
                f"the columns ({FILE}, lip_type, ...) separated by commas"
            )
    records = _records(text, delimiter, max_rows, before=1 + bool(hint))[1 if hint else 0 :]
    if not records:
        raise TableError("it has no header row; the first row must name the columns")
    _, header_cells = records[0]
    header = [normalise_header(h) for h in header_cells]
    while header and header[-1] == "":  # spreadsheets export empty trailing columns
        header.pop()
    width = len(header)
    rows, lines_of_rows, long_rows = [], [], {}
    for line, record in records[1:]:
        cells = [c.strip() for c in record]
        if not any(cells):
            continue
        filled = len(cells) - next((i for i, c in enumerate(reversed(cells)) if c), len(cells))
        if filled > width:
            long_rows[line] = filled
        rows.append((cells + [""] * width)[:width])
        lines_of_rows.append(line)
    frame = pd.DataFrame(
        rows or None, columns=header, index=pd.Index(lines_of_rows, name="line"), dtype=str
    )
    keep = [i for i, name in enumerate(header) if name or (frame.iloc[:, i] != "").any()]
    frame = frame.iloc[:, keep]
    frame.columns = [
        name or f"(column {i + 1})" for i, name in zip(keep, frame.columns, strict=True)
    ]
    return CsvTable(frame, encoding, delimiter, long_rows)


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith(b"PK\x03\x04"):
        raise TableError(
            "it is an Excel workbook (.xlsx) or a zip archive, not a CSV; in your spreadsheet "
            "use File > Save As > CSV and hand in that file"
        )
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise TableError("it is an old Excel workbook (.xls), not a CSV; use File > Save As > CSV")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text, encoding = data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            raise TableError(
                "it claims to be UTF-16 text but is not; save it again as CSV"
            ) from None
    else:
        # a UTF-8 mark on a file that is not UTF-8 after all (edited later by another program)
        body = data.removeprefix(codecs.BOM_UTF8)
        for encoding in ("utf-8", "cp1252", "latin-1"):  # latin-1 decodes any bytes
            try:
                text = body.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
    control = len(_CONTROL.findall(text))
    if control > max(2, len(text) // 100):
        raise TableError(
            "it is not a text file (it holds binary data); save the table from your "
            "spreadsheet as CSV (comma-separated values)"
        )
    return text, encoding


def _records(
    text: str, delimiter: str, max_rows: int | None = None, before: int = 1
) -> list[tuple[int, list[str]]]:
    """(line where the record starts, cells) for every record, blank ones left out; TableError
    past `max_rows` records after the first `before` (the header and Excel's `sep=` line)."""
    opened = _unclosed_quote(text, delimiter)
    if opened is not None:
        raise TableError(
            f'line {opened} opens a quote (") that is never closed, so everything after it '
            "reads as one value; close the quote or remove it"
        )
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    out = []
    start = 1
    try:
        for record in reader:
            if any(cell.strip() for cell in record):
                out.append((start, record))
                if max_rows is not None and len(out) > max_rows + before:
                    raise TableError(
                        f"it has more than {max_rows} rows; it was not checked — keep one row "
                        "per photo, under the header row"
                    )
            start = reader.line_num + 1
    except csv.Error as exc:
        raise TableError(
            f"line {reader.line_num} cannot be read ({exc}); check its quotes"
        ) from None
    return out


def _unclosed_quote(text: str, delimiter: str) -> int | None:
    """The line of a quoted value that the text never closes, read as the csv module reads it
    (a quote opens a value only at its start; "" inside is a quote); None when all close."""
    tokens = re.compile('"|\r\n|\r|\n|' + re.escape(delimiter))
    quoted, opened, line, field_start, skip = False, 0, 1, 0, -1
    for m in tokens.finditer(text):
        at, token = m.start(), m.group()
        if at == skip:
            continue
        if token == '"':
            if not quoted:
                if at == field_start:
                    quoted, opened = True, line
            elif text.startswith('"', at + 1):
                skip = at + 1  # an escaped quote
            else:
                quoted = False
        elif token == delimiter:
            if not quoted:
                field_start = m.end()
        else:
            line += 1
            if not quoted:
                field_start = m.end()
    return opened if quoted else None


def build_schema(vocab: Vocabulary, present: list[str]) -> pa.DataFrameSchema:
    """The pandera schema of `file` and the vocabulary's columns present in a table.

    The frame it checks holds lower-cased strings, and in `file` the key of the photo a row
    names (see check_student_attributes). Types come before values: an integer column is checked
    as text first (`str_matches`) and its range check passes anything that is not a whole
    number, so "abc" is reported once, as not a number, and "150" once, as out of range.
    """
    columns = {
        FILE: pa.Column(
            str,
            [
                pa.Check.str_length(min_value=1),
                # not unique=True: several empty cells are each reported as empty, not as twins
                pa.Check(lambda s: (s == "") | ~s.duplicated(keep=False), name="unique"),
            ],
        )
    }
    for c in vocab.columns:
        if c.name not in present:
            continue
        if c.kind == "choice":
            checks = [pa.Check.isin(list(c.values))]
        elif c.kind == "integer":
            checks = [
                pa.Check.str_matches(_INTEGER),
                pa.Check(
                    lambda s, lo=c.min, hi=c.max: (
                        ~s.str.fullmatch(_INTEGER)
                        | pd.to_numeric(s, errors="coerce").between(lo, hi)
                    ),
                    name="in_range",
                ),
            ]
        else:
            checks = [pa.Check.str_length(min_value=1, max_value=c.max_length)]
        columns[c.name] = pa.Column(str, checks)
    return pa.DataFrameSchema(columns)


def check_student_attributes(
    student: str,
    csv_name: str | None,
    csv_bytes: bytes | None,
    photo_files: list[str],
    vocab: Vocabulary,
    max_rows: int | None = None,
) -> AttributeResult:
    """Judge one student's table against the vocabulary and the photos handed in.

    `rows` holds each photo in `photo_files` that has exactly one row, valid in every column;
    every other photo has an ERROR finding with `file` = that photo (see the module docstring
    for which finding goes where). A `csv_name` without `csv_bytes` is a table handed in that
    could not be read: its own finding (made where the reading failed) says why, so only the
    photos get one here. Never raises on bad input.
    """
    table = csv_name or "attributes.csv"
    result = AttributeResult(rows={})
    if csv_bytes is None and csv_name is not None:
        why = f"{table} could not be read"
    elif csv_bytes is None:
        result.findings.append(
            Finding(
                student,
                "",
                RULE,
                Severity.ERROR,
                f"no {table} was handed in; add {table} with the header row "
                f"{FILE},{','.join(vocab.names)} and one row per photo",
                value="missing",
                limit=table,
            )
        )
        why = f"no {table} was handed in"
    else:
        try:
            read = read_attributes_csv(csv_bytes, max_rows)
        except TableError as exc:
            result.findings.append(
                Finding(student, table, RULE, Severity.ERROR, f"{table} cannot be read: {exc}")
            )
            why = f"{table} cannot be read"
        else:
            why = _check_table(student, table, read, photo_files, vocab, result)
    for photo in photo_files:
        if photo not in result.rows and not any(
            f.file == photo and f.severity is Severity.ERROR for f in result.findings
        ):
            result.findings.append(
                Finding(
                    student,
                    photo,
                    RULE,
                    Severity.ERROR,
                    f"this photo has no usable attribute row because {why}; "
                    f"fix {table} (see its finding)",
                )
            )
    return result


@dataclass
class _Table:
    """One student's table under check: what was read, and where its findings go."""

    student: str
    name: str  # the CSV's file name, as findings and messages call it
    read: CsvTable
    vocab: Vocabulary
    result: AttributeResult

    @property
    def present(self) -> list[str]:
        return list(self.read.frame.columns)

    def add(self, file: str, message: str, value: str = "", limit: str = "",
            sev: Severity = Severity.ERROR) -> None:
        self.result.findings.append(Finding(self.student, file, RULE, sev, message, value, limit))


@dataclass(frozen=True)
class _Rows:
    """The table's rows matched to the photos handed in."""

    names: pd.Series  # line -> the name in `file`, as written
    photo: dict[int, str | None]  # line -> the photo a named row names, None for no photo
    rowless: list[str]  # photos no row names

    def file_of(self, line: int, table: str) -> str:
        """Where a finding on a row goes: its photo, else the table."""
        return self.photo.get(line) or table


def _check_table(
    student: str,
    table: str,
    read: CsvTable,
    photo_files: list[str],
    vocab: Vocabulary,
    result: AttributeResult,
) -> str:
    """Add the table's findings and usable rows to `result`; return why other photos lack one."""
    t = _Table(student, table, read, vocab, result)
    _check_encoding(t)
    unusable = _check_header(t)
    if unusable:
        return unusable
    missing = _check_columns(t)
    rows = _match_rows(t, photo_files)
    checked = _checked_frame(t, rows)
    bad_lines = _check_long_rows(t, rows) | _check_values(t, rows, checked)
    _check_names(t, rows, photo_files)
    if missing:
        return f"{table} lacks the column(s) {', '.join(missing)}"
    for line, photo in rows.photo.items():
        if photo is not None and line not in bad_lines:
            values = checked.loc[line]
            result.rows[photo] = {c: _normalised(vocab.column(c), values[c]) for c in vocab.names}
    return "its row in the table has a problem"


# ---------------------------------------------------------------- the header


def _check_encoding(t: _Table) -> None:
    if t.read.encoding in ("cp1252", "latin-1"):
        as_read = "Windows-1252" if t.read.encoding == "cp1252" else "Latin-1"
        t.add(
            t.name,
            f"{t.name} is not UTF-8 and was read as {as_read}; check that accented letters came "
            'out right, and next time save it as "CSV UTF-8"',
            value=t.read.encoding,
            limit="utf-8",
            sev=Severity.WARNING,
        )


def _check_header(t: _Table) -> str | None:
    """Why no row of the table can be read (no `file` column, a column twice), else None."""
    present = t.present
    if FILE not in present:
        t.add(
            t.name,
            f"{t.name} has no `{FILE}` column{_did_you_mean(FILE, present)}; its first column "
            "must be `file`, holding each photo's file name",
            value=", ".join(present[:6]),
            limit=FILE,
        )
        return f"{t.name} has no `{FILE}` column"
    twice = sorted({n for n in present if present.count(n) > 1})
    if twice:
        t.add(
            t.name,
            f"{t.name} has the column `{twice[0]}` more than once (headers ignore case, spaces "
            "and hyphens); keep one",
            value=twice[0],
            limit="each column once",
        )
        return f"{t.name} has a repeated column"
    return None


def _check_columns(t: _Table) -> list[str]:
    """Findings for the vocabulary's columns missing and for columns outside it; the missing."""
    present = t.present
    missing = [n for n in t.vocab.names if n not in present]
    extra = [n for n in present if n not in [FILE, *t.vocab.names]]
    for name in missing:
        t.add(
            t.name,
            f"{t.name} has no column `{name}`{_did_you_mean(name, extra)}; add it, holding "
            f"{t.vocab.column(name).allowed()}",
            value=name,
            limit="required",
        )
    for name in extra:
        # a warning: its values are ignored, nothing the course asked for is lost
        t.add(
            t.name,
            f"{t.name} has a column `{name}` that is not in the vocabulary; its values were "
            f"ignored{_did_you_mean(name, missing) or '; remove it'}",
            value=name,
            limit="not in the vocabulary",
            sev=Severity.WARNING,
        )
    return missing


# ---------------------------------------------------------------- rows and photos


def _match_rows(t: _Table, photo_files: list[str]) -> _Rows:
    photo_of = _photo_matcher(photo_files)
    names = t.read.frame[FILE]
    photo = {line: photo_of(name) for line, name in names.items() if name}
    return _Rows(names, photo, [p for p in photo_files if p not in photo.values()])


def _checked_frame(t: _Table, rows: _Rows) -> pd.DataFrame:
    """What the schema checks: the values lower-cased, and in `file` the photo a row names.

    So "img01" and "IMG01.jpg" are the same photo twice, while IMG01.jpg and img01.jpg handed in
    side by side are two photos; a name that names no photo is compared as a person reads it,
    and never equals a photo's."""
    raw, present = t.read.frame, t.present
    checked = pd.DataFrame({c: raw[c].str.lower() for c in [FILE, *t.vocab.names] if c in present})
    checked[FILE] = pd.Series(
        [
            (rows.photo.get(line) or "\0" + name_key(name)) if name else ""
            for line, name in rows.names.items()
        ],
        index=raw.index,
        dtype=str,
    )
    return checked


def _check_long_rows(t: _Table, rows: _Rows) -> set[int]:
    """Findings for rows with more cells than the header; their lines."""
    for line, cells in t.read.long_rows.items():
        t.add(
            rows.file_of(line, t.name),
            f"row {line} of {t.name} has {cells} cells but the header has {len(t.present)} "
            f'columns; a value that contains "{t.read.delimiter}" must be put in double quotes',
            value=str(cells),
            limit=str(len(t.present)),
        )
    return set(t.read.long_rows)


def _check_names(t: _Table, rows: _Rows, photo_files: list[str]) -> None:
    """Findings for rows that name no photo handed in, and for photos that no row names."""
    for line, name in rows.names.items():
        if name and rows.photo[line] is None:
            # a misnamed row most likely belongs to a photo that no row names
            close = _closest(name, rows.rowless or photo_files)
            if close:
                fix = f'did you mean "{close}"?'
            elif len(rows.rowless) == 1:
                fix = f'is it "{rows.rowless[0]}", the only photo without a row?'
            else:
                fix = "write the name of one of your photos"
            t.add(
                t.name,
                f'row {line} of {t.name} names "{name}", which was not handed in; {fix}',
                value=name,
                limit="a photo handed in",
            )
    for photo in rows.rowless:
        t.add(
            photo,
            f"{t.name} has no row for this photo; add a row with {FILE} = {photo}",
            value="no row",
            limit="one row per photo",
        )


# ---------------------------------------------------------------- values: pandera's failure cases


def _check_values(t: _Table, rows: _Rows, checked: pd.DataFrame) -> set[int]:
    """Findings for every failure case of the schema; the lines with a bad value."""
    schema = build_schema(t.vocab, t.present)
    try:
        schema.validate(checked, lazy=True)
    except SchemaErrors as errors:
        return _translate_failures(t, rows, schema, errors.failure_cases)
    return set()


def _translate_failures(
    t: _Table, rows: _Rows, schema: pa.DataFrameSchema, cases: pd.DataFrame
) -> set[int]:
    """One finding per bad cell (its first failed check) and one per photo listed twice."""
    bad_lines: set[int] = set()
    twins: dict[str, list[int]] = {}
    reported: set[tuple[int, str]] = set()
    for case in cases.itertuples(index=False):
        column = str(case.column)
        if case.index is None or pd.isna(case.index) or column not in t.present:
            t.add(
                t.name,
                f"{t.name} breaks the check {case.check} on {column}: {case.failure_case}",
                value=str(case.failure_case),
                limit=str(case.check),
            )
            continue
        line = int(case.index)
        bad_lines.add(line)
        check = _check_name(schema, column, case)
        if column == FILE and check == "unique":
            twins.setdefault(str(case.failure_case), []).append(line)
        elif (line, column) not in reported:
            reported.add((line, column))
            value = str(t.read.frame.at[line, column])
            t.add(
                rows.file_of(line, t.name),
                _value_message(t.name, line, column, check, value, t.vocab, rows.rowless),
                value=value,
                limit=t.vocab.column(column).allowed() if column != FILE else "a file name",
            )
    for lines in twins.values():
        _report_twins(t, rows, sorted(lines))
    return bad_lines


def _check_name(schema: pa.DataFrameSchema, column: str, case) -> str:
    """The name a failure case's check was registered under (`isin`, `unique`, ...)."""
    number = case.check_number
    return str(case.check) if pd.isna(number) else schema.columns[column].checks[int(number)].name


def _report_twins(t: _Table, rows: _Rows, lines: list[int]) -> None:
    first = rows.names[lines[0]]
    t.add(
        rows.file_of(lines[0], t.name),
        f'"{first}" is listed {len(lines)} times in {t.name} (rows '
        f"{', '.join(map(str, lines))}); keep exactly one row per photo",
        value=first,
        limit="one row per photo",
    )


def _value_message(
    table: str,
    line: int,
    column: str,
    check: str,
    value: str,
    vocab: Vocabulary,
    rowless: list[str],
) -> str:
    where = f"row {line} of {table}"
    if column == FILE:
        guess = (
            f' (it is probably "{rowless[0]}", the only photo without a row)'
            if len(rowless) == 1
            else ""
        )
        return f"{where} has no file name{guess}; write the photo's file name in `{FILE}`"
    col = vocab.column(column)
    if value == "":
        return f"{where}: {column} is empty; write {col.allowed()}"
    if check == "isin":
        article = "an" if column[0] in "aeiou" else "a"
        near = _did_you_mean(value.lower(), list(col.values))
        return f'{where}: "{value}" is not {article} {column}{near or "; write " + col.allowed()}'
    if check == "str_matches":
        written = _other_digits(value)
        if written:
            return f'{where}: {column} "{value}" is written in {written}; write it as {int(value)}'
        return f'{where}: {column} "{value}" is not a whole number; write {col.allowed()}'
    if check == "in_range":
        return f"{where}: {column} {value} is outside {col.min}–{col.max}; write {col.allowed()}"
    return f"{where}: {column} has {len(value)} characters, more than {col.max_length}; shorten it"


def _other_digits(value: str) -> str | None:
    """ "Arabic-Indic digits" when `value` is a whole number written in other digits than 0-9."""
    if value.isascii():
        return None
    try:
        int(value)  # Python reads any script's decimal digits
    except ValueError:
        return None
    scripts = {unicodedata.name(c, "").rsplit(" DIGIT", 1)[0].title() for c in value if c.isdigit()}
    return f"{' and '.join(sorted(scripts))} digits"


def _normalised(col: Column, value: str) -> str:
    # "30.0" and "+30" are accepted as 30; the training set stores them the one way
    return str(int(float(value))) if col.kind == "integer" else value


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = _closest(word, choices)
    return f'; did you mean "{close}"?' if close else ""


def _closest(word: str, choices: list[str]) -> str | None:
    """The choice most like `word` ignoring case, in its own spelling; None when none is close."""
    lowered = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[close[0]] if close else None


def _photo_matcher(photo_files: list[str]) -> Callable[[str], str | None]:
    """A function from a row's file name to the photo it names, or None."""

    def base(name: str) -> str:
        return name_key(re.split(r"[\\/]", name)[-1])

    exact = {p: p for p in photo_files}
    keyed: dict[str, list[str]] = {}
    stems: dict[str, list[str]] = {}
    for p in photo_files:
        for key in {name_key(p), base(p)}:
            keyed.setdefault(key, []).append(p)
        stems.setdefault(base(p).rsplit(".", 1)[0], []).append(p)

    def photo_of(name: str) -> str | None:
        if name in exact:
            return name
        short = base(name)
        for found in (keyed.get(name_key(name)), keyed.get(short), stems.get(short)):
            if found is not None and len(found) == 1:
                return found[0]
        return None  # unknown, or ambiguous (two photos differ only in case or folder)

    return photo_of
