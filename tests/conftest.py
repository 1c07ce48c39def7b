"""Shared helpers: real photos from tests/data/faces, JPEG bytes made in the test, tiny classes."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
FACES = ROOT / "tests" / "data" / "faces"
SCHEMA = ROOT / "schemas" / "attributes.yaml"
DEMO = ROOT / "data" / "submissions"

ATTRIBUTE_COLUMNS = [
    "file",
    "lip_type",
    "lip_colour",
    "forehead",
    "dimples",
    "ear",
    "eye_size",
    "eye_defect",
    "eye_colour",
    "eyebrow_style",
    "jaw_line",
    "skin_colour",
    "hair_colour",
    "hair_style",
    "beard_mustache",
    "age",
    "gender",
    "identification_mark",
]
VALID_VALUES = [
    "medium",
    "pink",
    "broad",
    "no",
    "medium",
    "medium",
    "none",
    "blue",
    "thin",
    "square",
    "fair",
    "white",
    "short",
    "none",
    "70",
    "male",
    "none",
]


def jpeg_bytes(im: Image.Image, quality: int = 90, **kwargs) -> bytes:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=quality, **kwargs)
    return buf.getvalue()


def face(name: str = "biden_official_2013") -> Image.Image:
    return Image.open(FACES / f"{name}.jpg").convert("RGB")


def attributes_csv(files: list[str]) -> bytes:
    rows = [",".join(ATTRIBUTE_COLUMNS)] + [",".join([f, *VALID_VALUES]) for f in files]
    return ("\n".join(rows) + "\n").encode()


def write_student(
    root: Path, student: str, photos: dict[str, bytes], attributes: bytes | None | str = "auto"
) -> Path:
    """A student folder with these photos and, by default, a valid attribute row for each."""
    folder = root / student
    folder.mkdir(parents=True)
    for name, data in photos.items():
        (folder / name).write_bytes(data)
    if attributes == "auto":
        attributes = attributes_csv(list(photos))
    if attributes is not None:
        (folder / "attributes.csv").write_bytes(attributes)
    return folder


def is_number(text: str) -> bool:
    """Whether a CSV cell reads as a number (a spreadsheet takes it as one, not as a formula)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def tree_digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="session", autouse=True)
def demo_submissions_untouched():
    """Nothing may ever write inside data/submissions/: checked around the whole test run."""
    before = tree_digest(DEMO)
    yield
    assert tree_digest(DEMO) == before, "a test or command modified data/submissions/"
