"""accepted.csv: the photos validate accepted, with their face, for the crop stage and the report.

Columns, in order: the manifest's (`pipeline.formats.manifest`) without `kind`; FACE_COLUMNS,
the main face in original pixels after EXIF orientation (box `face_x1, face_y1, face_x2,
face_y2`, `face_prob`, the 5 landmarks `<name>_x, <name>_y` for LANDMARKS, the pose `yaw, pitch,
roll` in degrees); IDENTITY, the person the face is (1, 2, ...: photos of one person share the
number, across the whole class; empty when face recognition is off or could not read the photo,
see `pipeline.identities`); then the attribute columns of the vocabulary (trimmed, lower-cased
values). Every column after FIXED_COLUMNS is an attribute.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Protocol

from pipeline.formats.common import read_csv, write_csv
from pipeline.formats.manifest import MANIFEST_COLUMNS, ManifestRow

LANDMARKS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
BOX_COLUMNS = ["face_x1", "face_y1", "face_x2", "face_y2"]
LANDMARK_COLUMNS = [f"{name}_{axis}" for name in LANDMARKS for axis in "xy"]
FACE_COLUMNS = [*BOX_COLUMNS, "face_prob", *LANDMARK_COLUMNS, "yaw", "pitch", "roll"]
IDENTITY = "identity"
FILE_COLUMNS = [c for c in MANIFEST_COLUMNS if c != "kind"]
FIXED_COLUMNS = [*FILE_COLUMNS, *FACE_COLUMNS, IDENTITY]


class Pose(Protocol):
    yaw: float
    pitch: float
    roll: float


class Face(Protocol):
    """What the format needs of a detected face (`pipeline.faces.Face` is one)."""

    box: tuple[float, float, float, float]
    prob: float
    landmarks: tuple[tuple[float, float], ...]
    pose: Pose


def face_columns(face: Face) -> dict[str, float]:
    """The FACE_COLUMNS of one face, rounded as accepted.csv stores them."""
    row = dict(zip(BOX_COLUMNS, (round(v, 2) for v in face.box), strict=True))
    row["face_prob"] = round(face.prob, 4)
    for name, (x, y) in zip(LANDMARKS, face.landmarks, strict=True):
        row[f"{name}_x"], row[f"{name}_y"] = round(x, 2), round(y, 2)
    row.update(yaw=round(face.pose.yaw, 2), pitch=round(face.pose.pitch, 2),
               roll=round(face.pose.roll, 2))
    return row


def write_accepted(path: Path, photos: Iterable[tuple[ManifestRow, Face, Mapping[str, str]]],
                   attribute_columns: Sequence[str],
                   identities: Mapping[tuple[str, str], int] | None = None) -> None:
    """One row per (manifest row, main face, attribute values) in the order given; `identities`
    maps (student, file) to the person in the photo (missing: unknown)."""
    identities = identities or {}
    rows = ({**{c: asdict(file)[c] for c in FILE_COLUMNS}, **face_columns(face),
             IDENTITY: identities.get((file.student, file.file), ""), **attributes}
            for file, face, attributes in photos)
    write_csv(path, [*FIXED_COLUMNS, *attribute_columns], rows)


def identities_of(rows: Iterable[Mapping[str, str]]) -> dict[tuple[str, str], int]:
    """(student, file) -> identity of the rows of accepted.csv that have one (none in a file
    written before the column existed, or with face recognition off)."""
    out = {}
    for row in rows:
        value = (row.get(IDENTITY) or "").strip()
        if value.isdigit():
            out[row["student"], row["file"]] = int(value)
    return out


def read_accepted(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """(the attribute columns, the rows); FormatError when the file or student/file is missing."""
    header, rows = read_csv(path, ["student", "file"], "validate")
    return [c for c in header if c not in FIXED_COLUMNS], rows
