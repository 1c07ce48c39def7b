"""Text from students, made safe where it goes: spreadsheet cells, the terminal, name matching.

- **CSV cells.** A spreadsheet runs a cell that starts with `=`, `+`, `-`, `@`, tab or carriage
  return as a formula (OWASP, "CSV injection"). `cell` puts an apostrophe before such a cell, and
  before a cell that already starts with one, so that `uncell` undoes it exactly: the pipeline's
  own CSVs round-trip, and a photo named `=x.jpg` is still found by the stages that read them.
  Numbers are left alone: -3.1 is a yaw, not a formula.
- **Terminal.** Control characters (an ESC sequence can recolour or clear the screen) and the
  bidirectional controls (U+202E shows `gpj.exe` as `exe.jpg`) are shown escaped, as `\\x1b` or
  `\\u202e`, so what an instructor reads is what the file is really called.
- **Names.** `name_key` is how two names written by people are compared: Unicode form (NFC, as
  Windows and Linux write it; macOS writes NFD), case and surrounding spaces do not count.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_ESCAPE = "'"
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", re.ASCII)
# C0 and C1 controls and DEL, the bidirectional embeddings, overrides, isolates and marks, and
# the line and paragraph separators (they break a table row as a newline does).
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


def cell(value: Any) -> Any:
    """`value` as a CSV cell no spreadsheet runs as a formula (non-text values unchanged)."""
    if not isinstance(value, str) or not value or _NUMBER.fullmatch(value):
        return value
    if value.startswith(_FORMULA_START) or value.startswith(_ESCAPE):
        return _ESCAPE + value
    return value


def uncell(text: str) -> str:
    """The inverse of `cell` for a cell read back as text."""
    return text[1:] if text.startswith(_ESCAPE) else text


def cell_row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: cell(v) for k, v in row.items()}


def uncell_row(row: Mapping[str, str | None]) -> dict[str, str]:
    """A row of csv.DictReader, undone; missing cells read as ""."""
    return {k: uncell(v or "") for k, v in row.items() if k is not None}


def shown(text: str) -> str:
    """`text` for a terminal: control and bidirectional characters written as escapes."""
    return _UNSAFE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def name_key(name: str) -> str:
    """What two names must share to be the same name as a person reads it."""
    parts = unicodedata.normalize("NFC", name).split("/")
    return "/".join(part.strip() for part in parts).casefold()
