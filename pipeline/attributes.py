"""The attribute tables: vocabulary from schemas/attributes.yaml, robust CSV reading, findings.

Every problem becomes an `attributes` finding a student can act on. A photo needs exactly one
valid row to be accepted: problems with one photo's row are errors on that photo; problems with
the whole table (no table, unreadable, missing columns) are errors on the submission, and every
photo left without a valid row gets its own error saying so. Extra columns are only warnings:
their data is ignored, nothing is lost that the course asked for.
"""

from __future__ import annotations

import csv
import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pandas as pd
import pandera.pandas as pa
import yaml
from pandera.errors import SchemaErrors

from pipeline.findings import Finding, Severity

RULE = "attributes"
FILE = "file"
KINDS = ("choice", "integer", "text")


class VocabularyError(ValueError):
    """schemas/attributes.yaml cannot be used; the message says where and why."""


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # choice | integer | text
    values: tuple[str, ...] = ()
    min: int = 0
    max: int = 0
    max_length: int = 0
    none: str = "none"

    def allowed(self) -> str:
        if self.kind == "choice":
            return ", ".join(self.values)
        if self.kind == "integer":
            return f"a whole number from {self.min} to {self.max}"
        return f"text of at most {self.max_length} characters, or {self.none!r}"


@dataclass(frozen=True)
class Vocabulary:
    columns: tuple[Column, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


@dataclass
class AttributeResult:
    # photo file -> normalised values, for the photos with exactly one valid row
    rows: dict[str, dict[str, str]]
    findings: list[Finding] = field(default_factory=list)


def load_vocabulary(path: Path) -> Vocabulary:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise VocabularyError(f"{path}: cannot be read as YAML ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("columns"), dict):
        raise VocabularyError(f"{path}: expected a mapping `columns:` of column name -> settings")
    columns = []
    for name, spec in data["columns"].items():
        where = f"{path}: column {name!r}"
        if not isinstance(spec, dict) or spec.get("kind") not in KINDS:
            raise VocabularyError(f"{where}: needs `kind:` one of {', '.join(KINDS)}")
        try:
            if spec["kind"] == "choice":
                values = tuple(str(v).strip().lower() for v in spec["values"])
                if not values:
                    raise VocabularyError(f"{where}: `values` is empty")
                columns.append(Column(name, "choice", values=values))
            elif spec["kind"] == "integer":
                columns.append(Column(name, "integer", min=int(spec["min"]), max=int(spec["max"])))
            else:
                columns.append(Column(name, "text", max_length=int(spec["max_length"]),
                                      none=str(spec.get("none", "none")).lower()))
        except (KeyError, TypeError, ValueError) as exc:
            raise VocabularyError(f"{where}: missing or bad setting ({exc})") from None
    return Vocabulary(tuple(columns))


def normalise_header(name: str) -> str:
    """' Eye Colour ' and 'eye-colour' both mean eye_colour."""
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


class TableError(ValueError):
    """The CSV cannot be read as a table at all."""


def read_attributes_csv(data: bytes) -> tuple[pd.DataFrame, list[int], str | None]:
    """The table as strings (headers normalised, values trimmed; case kept for messages).

    Reads what spreadsheets write: a UTF-8 byte-order mark, `;` or tab delimiters, CRLF line
    ends, quoted fields, trailing empty rows and columns, and Windows-1252 text. Returns the
    frame, each row's line number in the file (as a spreadsheet numbers it), and a note when
    the text was not UTF-8.
    """
    if b"\x00" in data[:4096]:
        raise TableError("it is not a text file (it contains binary data); save the table as "
                         "CSV (comma-separated values) from your spreadsheet")
    note = None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
        note = "the table is not UTF-8 and was read as Windows-1252; check accented characters"
    lines = text.splitlines()
    while lines and not lines[-1].strip(" ,;\t"):
        lines.pop()
    if not lines:
        raise TableError("it is empty; it needs a header row and one row per photo")
    header_line = lines[0]
    delimiter = max([",", ";", "\t"], key=header_line.count)
    if header_line.count(delimiter) == 0:
        raise TableError(f"its header {header_line[:60]!r} has only one column; separate the "
                         "columns with commas")
    records = list(csv.reader(lines, delimiter=delimiter))
    header = [normalise_header(h) for h in records[0]]
    while header and header[-1] == "":  # spreadsheets export empty trailing columns
        header.pop()
    width = len(header)
    rows, line_numbers = [], []
    for number, record in enumerate(records[1:], start=2):
        cells = [c.strip() for c in record]
        if not any(cells):
            continue
        cells = (cells + [""] * width)[:width]
        rows.append(cells)
        line_numbers.append(number)
    frame = pd.DataFrame(rows, columns=header, dtype=str) if rows else pd.DataFrame(
        columns=header, dtype=str)
    return frame, line_numbers, note


def build_schema(vocab: Vocabulary, present: list[str]) -> pa.DataFrameSchema:
    """The pandera schema of the vocabulary's columns that are present in a table.

    Integers are checked as text first (`str_matches`), and the `in_range` check passes anything
    that is not an integer, so "abc" is reported once, as not a number, and "150" once, as out
    of range.
    """
    columns: dict[str, pa.Column] = {
        FILE: pa.Column(str, [pa.Check.str_length(min_value=1)], unique=True),
    }
    for c in vocab.columns:
        if c.name not in present:
            continue
        if c.kind == "choice":
            checks = [pa.Check.isin(list(c.values))]
        elif c.kind == "integer":
            checks = [
                pa.Check.str_matches(r"^\d+$"),
                pa.Check(lambda s, lo=c.min, hi=c.max: ~s.str.fullmatch(r"\d+")
                         | pd.to_numeric(s, errors="coerce").between(lo, hi), name="in_range"),
            ]
        else:
            checks = [pa.Check.str_length(min_value=1, max_value=c.max_length)]
        columns[c.name] = pa.Column(str, checks)
    return pa.DataFrameSchema(columns)


def check_student_attributes(student: str, csv_name: str | None, csv_bytes: bytes | None,
                             photo_files: list[str], vocab: Vocabulary) -> AttributeResult:
    """Judge one student's table against the vocabulary and the photos handed in.

    Row-to-photo matching ignores case, and a name without its extension matches the one photo
    with that stem ("img01" for "IMG01.jpg"), since spreadsheets often drop it.
    """
    result = AttributeResult(rows={})
    table = csv_name or "attributes.csv"
    reason = None
    frame = None
    if csv_bytes is None:
        reason = "there is no attributes.csv"
        result.findings.append(Finding(
            student, "", RULE, Severity.ERROR,
            "no attributes.csv was handed in; add a table with one row per photo and the columns "
            f"{FILE}, {', '.join(vocab.names)}"))
    else:
        try:
            frame, lines, note = read_attributes_csv(csv_bytes)
        except TableError as exc:
            reason = f"{table} cannot be read"
            result.findings.append(Finding(student, table, RULE, Severity.ERROR,
                                           f"{table} cannot be read: {exc}"))
        else:
            if note:
                result.findings.append(Finding(student, table, RULE, Severity.WARNING, note))
            reason = _check_table(student, table, frame, lines, photo_files, vocab, result)
    if reason is not None or frame is None:
        for photo in photo_files:
            if photo not in result.rows and not _has_row_finding(result, student, photo):
                result.findings.append(Finding(
                    student, photo, RULE, Severity.ERROR,
                    f"no attribute row for this photo: {reason or 'see the table finding'}"))
    return result


def _has_row_finding(result: AttributeResult, student: str, photo: str) -> bool:
    return any(f.file == photo and f.severity is Severity.ERROR for f in result.findings)


def _check_table(student: str, table: str, frame: pd.DataFrame, lines: list[int],
                 photo_files: list[str], vocab: Vocabulary, result: AttributeResult) -> str | None:
    """Fill `result`; return why photos lack rows when the whole table is unusable, else None."""
    add = result.findings.append
    expected = [FILE, *vocab.names]
    present = list(frame.columns)
    if FILE not in present:
        add(Finding(student, table, RULE, Severity.ERROR,
                    f"{table} has no `{FILE}` column; its first column must name each photo",
                    value=", ".join(present[:5]), limit=FILE))
        return f"{table} has no `{FILE}` column"
    for name in expected:
        if name not in present:
            hint = _did_you_mean(name, present, set(expected))
            allowed = vocab.column(name).allowed() if name != FILE else "file names"
            add(Finding(student, table, RULE, Severity.ERROR,
                        f"{table} has no column `{name}`{hint}; add it (allowed values: {allowed})",
                        value="missing", limit=name))
    for name in present:
        if name not in expected:
            add(Finding(student, table, RULE, Severity.WARNING,
                        f"{table} has an extra column `{name}` that was ignored"
                        f"{_did_you_mean(name, expected, set())}", value=name))
    if len(set(present)) != len(present):
        dup = next(n for n in present if present.count(n) > 1)
        add(Finding(student, table, RULE, Severity.ERROR,
                    f"{table} has the column `{dup}` twice; keep one", value=dup))
        return f"{table} has a repeated column"
    raw = frame[[c for c in present if c in expected]]
    frame = raw.apply(lambda col: col.str.lower())  # the vocabulary ignores case

    photo_of = _photo_matcher(photo_files)
    bad_rows: set[int] = set()
    schema = build_schema(vocab, present)
    try:
        schema.validate(frame, lazy=True)
    except SchemaErrors as errors:
        for case in errors.failure_cases.itertuples(index=False):
            if case.index is None or pd.isna(case.index):
                continue
            i = int(case.index)
            bad_rows.add(i)
            name = frame.iloc[i][FILE]
            photo = photo_of(name) or ""
            column = str(case.column)
            add(_value_finding(student, table, lines[i], photo, column, str(case.check),
                               str(raw.iloc[i][column]), vocab))

    matched = [photo_of(name) if name else None for name in frame[FILE]]
    # a misnamed row most likely belongs to a photo that no other row names
    rowless = [p for p in photo_files if p not in matched] or photo_files
    seen: dict[str, int] = {}
    for i, (name, photo) in enumerate(zip(frame[FILE], matched, strict=True)):
        if not name:
            continue
        if photo is None:
            close = difflib.get_close_matches(name, [p.lower() for p in rowless], n=1)
            hint = f'; did you mean "{_original(close[0], rowless)}"?' if close else ""
            add(Finding(student, table, RULE, Severity.ERROR,
                        f'row {lines[i]} of {table} names "{name}", which was not handed in{hint}',
                        value=name))
            continue
        if photo in seen:
            continue  # pandera's uniqueness check has reported it
        seen[photo] = i
        if i not in bad_rows:
            result.rows[photo] = {c: frame.iloc[i].get(c, "") for c in vocab.names}
    for photo in photo_files:
        if photo not in seen:
            add(Finding(student, photo, RULE, Severity.ERROR,
                        f"{table} has no row for this photo; add a row with {FILE} = {photo}"))
    return None


def _value_finding(student: str, table: str, line: int, photo: str, column: str, check: str,
                   value: str, vocab: Vocabulary) -> Finding:
    where = f"row {line} of {table}"
    if column == FILE:
        if check.startswith("field_uniqueness"):
            msg = f'"{value}" is listed more than once in {table} ({where}); keep one row per photo'
        else:
            msg = f"{where} has no file name; write the photo's file name in the `{FILE}` column"
        return Finding(student, photo, RULE, Severity.ERROR, msg, value=value, limit="unique")
    col = vocab.column(column)
    if value == "":
        msg = f"{column} is empty in {where}; allowed: {col.allowed()}"
    elif check.startswith("isin"):
        hint = _did_you_mean(value.lower(), list(col.values), set())
        article = "an" if column[0] in "aeiou" else "a"
        msg = (f'"{value}" is not {article} {column} ({where})'
               f'{hint or "; allowed: " + col.allowed()}')
    elif check.startswith("str_matches"):
        msg = f'{column} "{value}" is not a whole number ({where}); write digits, e.g. 30'
    elif check.startswith("in_range"):
        msg = f"{column} {value} is outside {col.min}–{col.max} ({where})"
    else:
        msg = f"{column} in {where} has {len(value)} characters; at most {col.max_length}"
    return Finding(student, photo, RULE, Severity.ERROR, msg, value=value, limit=col.allowed())


def _did_you_mean(word: str, choices: list[str], exclude: set[str]) -> str:
    close = difflib.get_close_matches(word, [c for c in choices if c not in exclude], n=1,
                                      cutoff=0.6)
    return f'; did you mean "{close[0]}"?' if close else ""


def _photo_matcher(photo_files: list[str]):
    exact = {p.lower(): p for p in photo_files}
    base = {PurePosixPath(p).name.lower(): p for p in photo_files}
    stems: dict[str, list[str]] = {}
    for p in photo_files:
        stems.setdefault(PurePosixPath(p).stem.lower(), []).append(p)

    def photo_of(name: str) -> str | None:
        key = name.strip().lower()
        if key in exact:
            return exact[key]
        if key in base:
            return base[key]
        matches = stems.get(key, [])
        return matches[0] if len(matches) == 1 else None

    return photo_of


def _original(lowered: str, photo_files: list[str]) -> str:
    return next(p for p in photo_files if p.lower() == lowered)
