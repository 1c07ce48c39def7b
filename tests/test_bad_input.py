"""A corpus of bad input, built here, run through the validator one kind at a time and all
together as one class: no crash, a verdict for every file, the expected rule, an unchanged tree,
bounded memory, and the same verdicts alone, together, and with 1 or 8 worker threads.

Each kind is one student (named after the kind) built by a function below; `@kind` says which
rule each of its files must get, what a message must say, and what must not happen. The alone
runs happen in one subprocess and the class run is the real `facedata` console script, each
under a small wrapper that reports the peak memory of what it ran.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import traceback
import unicodedata
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from pipeline.attributes import load_vocabulary
from pipeline.config import CropParams, ReportParams, ValidateParams, load_params
from pipeline.crop import run_crop
from pipeline.formats.findings import read_findings
from pipeline.formats.manifest import read_manifest
from pipeline.ingest import ingest
from pipeline.report import run_report
from pipeline.safe_text import uncell_row
from pipeline.validate import validate
from tests.conftest import (
    ATTRIBUTE_COLUMNS,
    ROOT,
    SCHEMA,
    VALID_VALUES,
    attributes_csv,
    face,
    is_number,
    jpeg_bytes,
)

PEAK_LIMIT_MB = 1536  # the issue's bound: 1.5 GB for a whole class run
PER_STUDENT = 1  # photos asked per student; most kinds hand in one photo or none
FACEDATA = shutil.which("facedata", path=str(Path(sys.executable).parent))
# Runs a command and writes the peak resident memory of it (and its children) to a file.
PEAK_WRAPPER = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.run(sys.argv[2:]).returncode\n"
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(rc)\n"
)


@dataclass(frozen=True)
class Kind:
    name: str
    build: Callable[[Path, str], None]
    expect: dict[str, set[str]]  # file ("" = the whole submission) -> rules among its findings
    says: dict[str, str] = field(default_factory=dict)  # file -> words one of its messages has
    never: dict[str, set[str]] = field(default_factory=dict)  # file -> banned rules or words
    accepted: frozenset[str] = frozenset()  # photos that must be accepted
    files: tuple[str, ...] = ()  # files in a zip, as they must be named (folders are walked)
    student: str | None = None  # whose verdicts; None: the kind's name
    walk: bool = True  # every file in the kind's folder must get a verdict of its own


KINDS: dict[str, Kind] = {}


def kind(expect=None, says=None, never=None, accepted=(), files=(), student=None, walk=True,
         when=True):  # fmt: skip
    def register(build):
        name = build.__name__.removeprefix("k_")
        if when:
            KINDS[name] = Kind(name, build, {k: set(v) for k, v in (expect or {}).items()},
                               says or {}, {k: set(v) for k, v in (never or {}).items()},
                               frozenset(accepted), tuple(files), student, walk)  # fmt: skip
        return build

    return register


# ---------------------------------------------------------------- material


def seed_of(name: str) -> int:
    return zlib.crc32(name.encode())


def noise_jpeg(name: str, size=(64, 48)) -> bytes:
    """A small photo whose bytes and hash belong to one kind only (too small, no face)."""
    rng = np.random.default_rng(seed_of(name))
    return jpeg_bytes(Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)))


def encoded(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


@cache
def good_photo(variant: int) -> bytes:
    """Photos of one face that pass every rule, each a different picture to the duplicate rule."""
    im = face()
    pictures = [
        lambda: im.resize((600, 600), Image.Resampling.LANCZOS),
        lambda: ImageOps.mirror(im).resize((640, 640)),
        lambda: im.crop((0, 150, 1200, 1050)),
        lambda: face("openface_adams").resize((600, 795), Image.Resampling.LANCZOS),
    ]
    return jpeg_bytes(pictures[variant]())


def folder(where: Path, student: str, files: dict[str, bytes], table: bytes | None = None):
    """A student folder; `table` becomes attributes.csv."""
    path = where / student
    path.mkdir(parents=True)
    for name, data in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(data)
    if table is not None:
        (path / "attributes.csv").write_bytes(table)
    return path


def zipped(where: Path, student: str, members: list[tuple[str, bytes]], **kw) -> Path:
    path = where / f"{student}.zip"
    with zipfile.ZipFile(path, "w", **kw) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


def patch_zip(path: Path, change: Callable[[bytearray, int, int], None]) -> None:
    """Apply `change(data, local_header_at, central_header_at)` to the first member's headers."""
    data = bytearray(path.read_bytes())
    change(data, data.find(b"PK\x03\x04"), data.find(b"PK\x01\x02"))
    path.write_bytes(bytes(data))


def fake_header(data: bytes, marker: bytes, at: int, width: int, height: int) -> bytes:
    raw = bytearray(data)
    pos = raw.find(marker)
    raw[pos + at : pos + at + 4] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(raw)


def png_of_size(width: int, height: int, valid_pixels: bool) -> bytes:
    """A greyscale PNG claiming width × height; with `valid_pixels` its data really decodes to
    that many zeros (a decompression bomb of a few hundred kB)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (len(body).to_bytes(4, "big") + kind + body
                + zlib.crc32(kind + body).to_bytes(4, "big"))  # fmt: skip

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + b"\x08\x00\x00\x00\x00"
    if valid_pixels:
        squeeze = zlib.compressobj(9)
        row = bytes(width + 1)
        body = b"".join(squeeze.compress(row) for _ in range(height)) + squeeze.flush()
    else:
        body = zlib.compress(bytes(1000))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body)
            + chunk(b"IEND", b""))  # fmt: skip


def table(rows: list[list[str]], header: list[str] | None = None, sep=",") -> str:
    lines = [sep.join(header or ATTRIBUTE_COLUMNS)] + [sep.join(r) for r in rows]
    return "\n".join(lines) + "\n"


def row(file: str, **values) -> list[str]:
    cells = dict(zip(ATTRIBUTE_COLUMNS[1:], VALID_VALUES, strict=True)) | values
    return [file, *cells.values()]


# ---------------------------------------------------------------- the file system


@kind(expect={"p.jpg": {"submission"}}, says={"p.jpg": "named pipe"})
def k_fifo(where, s):
    path = folder(where, s, {})
    os.mkfifo(path / "p.jpg")


@kind(expect={"attributes.csv": {"attributes"}, "a.jpg": {"attributes"}},
      never={"": {"was handed in"}})  # fmt: skip
def k_fifo_table(where, s):
    path = folder(where, s, {"a.jpg": noise_jpeg(s)})
    os.mkfifo(path / "attributes.csv")


@kind(expect={"s.jpg": {"submission"}}, says={"s.jpg": "socket"})
def k_socket(where, s):
    path = folder(where, s, {})
    here = os.getcwd()
    os.chdir(path)  # a socket's path must be short: bind it by its relative name
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind("s.jpg")
    finally:
        os.chdir(here)


@kind(expect={"zero.jpg": {"submission"}}, says={"zero.jpg": "outside the submission"})
def k_link_to_dev_zero(where, s):
    os.symlink("/dev/zero", folder(where, s, {}) / "zero.jpg")


@kind(expect={"random.jpg": {"submission"}})
def k_link_to_dev_urandom(where, s):
    os.symlink("/dev/urandom", folder(where, s, {}) / "random.jpg")


@kind(expect={"null.jpg": {"submission"}}, says={"null.jpg": "a device"},
      when=os.geteuid() == 0)  # fmt: skip
def k_char_device(where, s):
    os.mknod(folder(where, s, {}) / "null.jpg", stat.S_IFCHR | 0o600, os.makedev(1, 3))


@kind(expect={"loop.jpg": {"submission"}}, says={"loop.jpg": "link loop"})
def k_symlink_loop(where, s):
    path = folder(where, s, {})
    os.symlink("loop.jpg", path / "loop.jpg")


@kind(expect={"a.jpg": {"submission"}, "b.jpg": {"submission"}}, says={"a.jpg": "link loop"})
def k_symlink_loop_of_two(where, s):
    path = folder(where, s, {})
    os.symlink("b.jpg", path / "a.jpg")
    os.symlink("a.jpg", path / "b.jpg")


@kind(expect={"gone.jpg": {"submission"}}, says={"gone.jpg": "does not exist"})
def k_dangling_link(where, s):
    os.symlink("nowhere.jpg", folder(where, s, {}) / "gone.jpg")


@kind(expect={"stolen.jpg": {"submission"}}, says={"stolen.jpg": "outside the submission"})
def k_link_outside(where, s):
    os.symlink(ROOT / "tests" / "data" / "faces" / "paul_rudd.jpg",
               folder(where, s, {}) / "stolen.jpg")  # fmt: skip


@kind(expect={"a_copy.jpg": {"submission"}}, accepted={"z_real.jpg"},
      never={"z_real.jpg": {"duplicate"}})  # fmt: skip
def k_link_to_own_photo(where, s):
    path = folder(where, s, {"z_real.jpg": good_photo(0)},
                  attributes_csv(["z_real.jpg", "a_copy.jpg"]))  # fmt: skip
    os.symlink("z_real.jpg", path / "a_copy.jpg")


@kind(expect={"elsewhere": {"submission"}, "": {"count"}}, says={"elsewhere": "not followed"})
def k_linked_folder(where, s):
    os.symlink(ROOT / "tests", folder(where, s, {}) / "elsewhere", target_is_directory=True)


@kind(expect={"again": {"submission"}}, says={"again": "not followed"})
def k_folder_link_loop(where, s):
    os.symlink(".", folder(where, s, {}) / "again", target_is_directory=True)


@kind(expect={"": {"submission"}}, student="link_as_student", says={"": "symbolic link"})
def k_student_is_a_link(where, s):
    os.symlink(ROOT / "tests" / "data", where / "link_as_student")


@kind(expect={"pipe.zip": {"submission"}}, student="", says={"pipe.zip": "named pipe"})
def k_zip_that_is_a_pipe(where, s):
    os.mkfifo(where / "pipe.zip")


@kind(expect={"stray.jpg": {"submission"}}, student="")
def k_loose_file(where, s):
    (where / "stray.jpg").write_bytes(noise_jpeg(s))


@kind()
def k_empty_class(where, s):
    pass  # the submissions folder holds nothing: a valid, empty class


@kind(expect={"": {"submission", "count", "attributes"}}, says={"": "is empty"})
def k_empty_folder(where, s):
    folder(where, s, {})


@kind(expect={"": {"submission", "count"}}, says={"": "is empty"})
def k_only_empty_subfolders(where, s):
    (folder(where, s, {}) / "a" / "b" / "c").mkdir(parents=True)


@kind(expect={"1/2/3/4/5/6/7/8/9": {"submission"}}, says={"1/2/3/4/5/6/7/8/9": "deep"},
      walk=False)  # fmt: skip
def k_deeply_nested(where, s):
    folder(where, s, {"/".join(map(str, range(1, 13))) + "/p.jpg": noise_jpeg(s)})


@kind(expect={"": {"submission"}}, says={"": "more than 1000 files"}, walk=False)
def k_too_many_files(where, s):
    path = folder(where, s, {})
    for i in range(1001):
        (path / f"p{i:04d}.jpg").write_bytes(b"")


@kind(expect={"big.jpg": {"submission"}}, says={"big.jpg": "more than the"})
def k_file_over_the_size_limit(where, s):
    with (folder(where, s, {}) / "big.jpg").open("wb") as fh:
        fh.write(b"\xff\xd8\xff\xe0")
        fh.truncate(65 * 2**20)  # sparse: costs no disk, and is never read


@kind(expect={"caf\\xe9.jpg": {"submission", "too_small"}}, says={"caf\\xe9.jpg": "UTF-8"})
def k_name_not_utf8(where, s):
    path = folder(where, s, {})
    with open(os.fsencode(path) + b"/caf\xe9.jpg", "wb") as fh:
        fh.write(noise_jpeg(s))


@kind(expect={"p.jpg": {"too_small"}}, student="stud\\xe9nt")
def k_student_name_not_utf8(where, s):
    base = os.fsencode(where) + b"/stud\xe9nt"
    os.mkdir(base)
    with open(base + b"/p.jpg", "wb") as fh:
        fh.write(noise_jpeg(s))


@kind(expect={"img01.jpg": {"submission"}}, says={"img01.jpg": "upper/lower case"},
      never={"IMG01.jpg": {"listed"}, "img01.jpg": {"listed"}})  # fmt: skip
def k_names_differ_in_case(where, s):
    folder(where, s, {"IMG01.jpg": noise_jpeg(s), "img01.jpg": noise_jpeg(s + "b")},
           attributes_csv(["IMG01.jpg", "img01.jpg"]))  # fmt: skip


NFC, NFD = unicodedata.normalize("NFC", "José.jpg"), unicodedata.normalize("NFD", "José.jpg")


@kind(expect={NFD: {"too_small"}}, never={NFD: {"attributes"}})
def k_nfd_name_nfc_table(where, s):
    folder(where, s, {NFD: noise_jpeg(s)}, attributes_csv([NFC]))


@kind(expect={" spaced.jpg ": {"too_small"}}, never={" spaced.jpg ": {"attributes"}})
def k_spaces_around_the_name(where, s):
    folder(where, s, {" spaced.jpg ": noise_jpeg(s)}, attributes_csv(["spaced.jpg"]))


ESC_NAME = "\x1b[2J\x1b[31mred.jpg"
BIDI_NAME = "evil\u202egpj.jpg"


@kind(expect={ESC_NAME: {"too_small"}, BIDI_NAME: {"too_small"}})
def k_control_and_bidi_in_names(where, s):
    folder(where, s, {ESC_NAME: noise_jpeg(s), BIDI_NAME: noise_jpeg(s + "b")},
           attributes_csv([ESC_NAME, BIDI_NAME]))  # fmt: skip


HTML_NAME = "<img src=x onerror=alert(1)>.jpg"


@kind(expect={HTML_NAME: {"too_small"}})
def k_html_in_a_name(where, s):
    folder(where, s, {HTML_NAME: noise_jpeg(s)}, attributes_csv([HTML_NAME]))


@kind(expect={"two\nlines.jpg": {"too_small"}})
def k_newline_in_a_name(where, s):
    folder(where, s, {"two\nlines.jpg": noise_jpeg(s)}, attributes_csv(['"two\nlines.jpg"']))


FORMULAS = ("=1+2.jpg", "+cmd.jpg", "-x.jpg", "@SUM(A1).jpg", "\tTab.jpg")


@kind(expect={n: {"too_small"} for n in FORMULAS})
def k_formula_names(where, s):
    folder(where, s, {n: noise_jpeg(s + n) for n in FORMULAS})


@kind(expect={"a" * 246 + ".jpg": {"too_small"}})
def k_longest_name(where, s):
    folder(where, s, {"a" * 246 + ".jpg": noise_jpeg(s)})


@kind(expect={".DS_Store": {"submission"}, "._p.jpg": {"submission"}, "": {"count"}})
def k_only_hidden_files(where, s):
    folder(where, s, {".DS_Store": b"\0\0\0\1Bud1", "._p.jpg": b"\0\5\26\7"})


@kind(expect={"p.jpg": {"too_small"}},
      never={"p.jpg": {"attributes"}, "docs/attributes.csv": {"not_jpeg"}})
def k_table_in_a_subfolder(where, s):
    folder(where, s, {"p.jpg": noise_jpeg(s), "docs/attributes.csv": attributes_csv(["p.jpg"])})


@kind(expect={"attributes.xlsx": {"attributes"}}, says={"attributes.xlsx": "Excel"},
      never={"attributes.xlsx": {"not_jpeg"}})  # fmt: skip
def k_table_as_xlsx(where, s):
    folder(where, s, {"p.jpg": noise_jpeg(s), "attributes.xlsx": b"PK\x03\x04" + bytes(200)})


@kind(expect={"attributes.xls": {"attributes"}}, says={"attributes.xls": "old Excel"})
def k_table_as_xls(where, s):
    folder(where, s, {"p.jpg": noise_jpeg(s), "attributes.xls": b"\xd0\xcf\x11\xe0" + bytes(600)})


@kind(expect={"notes.txt": {"submission"}, "clip.mp4": {"submission"}, "cv.pdf": {"submission"}},
      says={"clip.mp4": "a video"}, never={"notes.txt": {"not_jpeg"}})  # fmt: skip
def k_files_that_are_not_photos(where, s):
    folder(where, s, {"notes.txt": b"my photos", "clip.mp4": b"\0\0\0\x18ftypmp42",
                      "cv.pdf": b"%PDF-1.4"})  # fmt: skip


@kind(expect={"": {"submission"}}, says={"": "handed in both"})
def k_folder_and_zip(where, s):
    folder(where, s, {"p.jpg": noise_jpeg(s)})
    zipped(where, s, [("p.jpg", noise_jpeg(s + "z"))])


# ---------------------------------------------------------------- files that are not photos


@kind(expect={"p.jpg": {"not_jpeg"}})
def k_png_named_jpg(where, s):
    folder(where, s, {"p.jpg": encoded(Image.new("RGB", (600, 600), (9, 99, 199)), "PNG")})


@kind(expect={"p.jpg": {"corrupt"}})
def k_truncated_jpeg(where, s):
    data = good_photo(1)
    folder(where, s, {"p.jpg": data[: len(data) // 2]})


@kind(expect={"p.jpg": {"corrupt"}})
def k_jpeg_without_end_marker(where, s):
    folder(where, s, {"p.jpg": jpeg_bytes(face("kate_siegel"))[:-2]})


@kind(expect={"p.jpg": {"corrupt"}})
def k_garbage_after_header(where, s):
    rng = np.random.default_rng(seed_of(s))
    folder(where, s, {"p.jpg": good_photo(2)[:600] + rng.bytes(5000)})


@kind(expect={"p.jpg": {"not_jpeg"}}, says={"p.jpg": "empty file"})
def k_empty_file(where, s):
    folder(where, s, {"p.jpg": b""})


@kind(expect={"p.jpg": {"not_jpeg"}})
def k_random_bytes(where, s):
    folder(where, s, {"p.jpg": np.random.default_rng(seed_of(s)).bytes(4096)})


@kind(expect={"p.jpg": {"not_jpeg"}}, says={"p.jpg": "text file"})
def k_text_named_jpg(where, s):
    folder(where, s, {"p.jpg": b"this is not a photo\n"})


@kind(expect={"p.jpg": {"not_jpeg"}}, says={"p.jpg": "HEIC"})
def k_heic_named_jpg(where, s):
    folder(where, s, {"p.jpg": b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + bytes(100)})


@kind(expect={"p.jpg": {"not_jpeg"}}, says={"p.jpg": "PDF"})
def k_pdf_named_jpg(where, s):
    folder(where, s, {"p.jpg": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"})


@kind(expect={"p.jpg": {"not_jpeg"}}, says={"p.jpg": "GIF"})
def k_animated_gif(where, s):
    frames = [Image.new("P", (600, 600), i) for i in range(3)]
    folder(where, s, {"p.jpg": encoded(frames[0], "GIF", save_all=True, append_images=frames[1:])})


@kind(expect={"p.jpg": {"not_jpeg"}}, says={"p.jpg": "WebP"})
def k_webp_named_jpg(where, s):
    folder(where, s, {"p.jpg": encoded(face("paul_rudd"), "WEBP")})


@kind(expect={"p.jpg": {"not_jpeg"}}, says={"p.jpg": "TIFF"})
def k_tiff_named_jpg(where, s):
    folder(where, s, {"p.jpg": encoded(Image.new("RGB", (600, 600), (1, 2, 250)), "TIFF")})


@kind(expect={"p.jpg": {"not_jpeg"}}, says={"p.jpg": "BMP"})
def k_bmp_named_jpg(where, s):
    folder(where, s, {"p.jpg": encoded(Image.new("RGB", (600, 600), (250, 2, 1)), "BMP")})


@kind(expect={"p.jpg": {"corrupt"}}, says={"p.jpg": "decompression bomb"})
def k_jpeg_header_bomb(where, s):
    small = jpeg_bytes(Image.new("RGB", (64, 64), (5, 6, 7)))
    folder(where, s, {"p.jpg": fake_header(small, b"\xff\xc0", 5, 30000, 30000)})


@kind(expect={"p.png": {"corrupt", "not_jpeg"}}, says={"p.png": "decompression bomb"})
def k_png_bomb_60000(where, s):
    folder(where, s, {"p.png": png_of_size(60000, 60000, valid_pixels=False)})


@kind(expect={"p.png": {"corrupt", "not_jpeg"}}, says={"p.png": "more than the"})
def k_png_bomb_under_the_pixel_limit(where, s):
    folder(where, s, {"p.png": png_of_size(15000, 15000, valid_pixels=True)})


@kind(expect={"p.jpg": {"corrupt"}}, says={"p.jpg": "progressive"})
def k_huge_progressive_jpeg(where, s):
    small = encoded(Image.new("L", (64, 64), 128), "JPEG", progressive=True)
    folder(where, s, {"p.jpg": fake_header(small, b"\xff\xc2", 5, 12000, 12000)})


def grey16_png(im: Image.Image) -> bytes:
    grey = np.asarray(im.convert("L")).astype(np.uint16) * 257
    return cv2.imencode(".png", grey)[1].tobytes()


@kind(expect={"p.png": {"not_jpeg", "grayscale"}}, never={"p.png": {"no_face"}})
def k_16bit_grey_png(where, s):
    folder(where, s, {"p.png": grey16_png(ImageOps.mirror(face("kate_siegel")).resize((640, 640)))})


@kind(expect={"p.png": {"not_jpeg"}}, never={"p.png": {"no_face", "grayscale"}})
def k_16bit_colour_png(where, s):
    rgb = np.asarray(face("kate_siegel").resize((640, 640))).astype(np.uint16) * 257
    folder(where, s, {"p.png": cv2.imencode(".png", rgb[:, :, ::-1])[1].tobytes()})


@kind(expect={"p.jpg": {"grayscale"}}, never={"p.jpg": {"corrupt"}})
def k_grey_jpeg(where, s):
    folder(where, s, {"p.jpg": encoded(ImageOps.mirror(face("paul_rudd")).convert("L"), "JPEG")})


@kind(never={"p.jpg": {"corrupt", "not_jpeg"}})
def k_cmyk_jpeg(where, s):
    folder(where, s, {"p.jpg": encoded(face("angelina_jolie").convert("CMYK"), "JPEG")},
           attributes_csv(["p.jpg"]))  # fmt: skip


def broken_exif_photo(variant: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 1
    exif[0x010F] = "camera"
    raw = bytearray(exif.tobytes())
    raw[-8:] = b"\xff" * 8  # the IFD's last entry points far past its end
    return jpeg_bytes(Image.open(io.BytesIO(good_photo(variant))), exif=bytes(raw))


@kind(accepted={"p.jpg"}, never={"p.jpg": {"corrupt"}})
def k_malformed_exif(where, s):
    folder(where, s, {"p.jpg": broken_exif_photo(3)}, attributes_csv(["p.jpg"]))


@kind(expect={"p.jpg": {"too_small"}}, says={"p.jpg": "64×48"})
def k_orientation_out_of_range(where, s):
    exif = Image.Exif()
    exif[0x0112] = 99
    folder(where, s, {"p.jpg": jpeg_bytes(Image.open(io.BytesIO(noise_jpeg(s))), exif=exif)})


@kind(expect={"p.jpg": {"too_small"}}, says={"p.jpg": "1×1"})
def k_one_pixel(where, s):
    folder(where, s, {"p.jpg": jpeg_bytes(Image.new("RGB", (1, 1), (200, 10, 10)))})


@kind(expect={"p.jpg": {"too_small"}}, never={"p.jpg": {"corrupt"}})
def k_jpeg_with_a_zip_appended(where, s):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("hidden.txt", "polyglot")
    folder(where, s, {"p.jpg": noise_jpeg(s) + buf.getvalue()})


@kind(expect={"p.jpg": {"too_small"}}, never={"p.jpg": {"corrupt"}})
def k_malformed_mpo_header(where, s):
    data = noise_jpeg(s)
    app2 = b"MPF\0" + b"MM\0*\0\0\0\x08" + b"\xff" * 40  # a multi-picture header that lies
    folder(where, s, {"p.jpg": data[:2] + b"\xff\xe2" + (len(app2) + 2).to_bytes(2, "big")
                      + app2 + data[2:]})  # fmt: skip


# ---------------------------------------------------------------- zips


@kind(expect={"": {"submission"}}, says={"": "not a readable zip"})
def k_not_a_zip(where, s):
    (where / f"{s}.zip").write_bytes(b"I am a text file")


@kind(expect={"": {"submission"}}, says={"": "not a readable zip"})
def k_truncated_zip(where, s):
    path = zipped(where, s, [("p.jpg", noise_jpeg(s)), ("q.jpg", noise_jpeg(s + "q"))])
    path.write_bytes(path.read_bytes()[:300])


@kind(expect={"p.jpg": {"submission"}}, files=("p.jpg",), says={"p.jpg": "damaged"})
def k_zip_bad_crc(where, s):
    path = zipped(where, s, [("p.jpg", noise_jpeg(s))])
    patch_zip(path, lambda d, local, central: d.__setitem__(local + 30 + 5 + 100, 0x55))


@kind(expect={"p.jpg": {"submission"}}, files=("p.jpg",))
def k_zip_damaged_deflate(where, s):
    path = zipped(where, s, [("p.jpg", noise_jpeg(s) * 4)], compression=zipfile.ZIP_DEFLATED)

    def damage(d, local, central):
        start = local + 30 + 5
        d[start + 10 : start + 60] = bytes(range(50))

    patch_zip(path, damage)


@kind(expect={"p.jpg": {"submission"}}, files=("p.jpg",))
def k_zip_size_field_lies_small(where, s):
    path = zipped(where, s, [("p.jpg", noise_jpeg(s))])
    patch_zip(path, lambda d, local, central: d.__setitem__(slice(central + 24, central + 28),
                                                            (100).to_bytes(4, "little")))


@kind(expect={"p.jpg": {"submission"}}, files=("p.jpg",), says={"p.jpg": "more than the"})
def k_zip_size_field_lies_huge(where, s):
    path = zipped(where, s, [("p.jpg", noise_jpeg(s))])
    patch_zip(path, lambda d, local, central: d.__setitem__(slice(central + 24, central + 28),
                                                            (2**32 - 2).to_bytes(4, "little")))


@kind(expect={"p.jpg": {"submission"}}, files=("p.jpg",), says={"p.jpg": "password"})
def k_zip_encrypted_member(where, s):
    path = zipped(where, s, [("p.jpg", noise_jpeg(s))])

    def encrypt(d, local, central):
        d[local + 6] |= 1
        d[central + 8] |= 1

    patch_zip(path, encrypt)


@kind(expect={"p.jpg": {"submission"}}, files=("p.jpg",), says={"p.jpg": "compressed"})
def k_zip_unknown_compression(where, s):
    path = zipped(where, s, [("p.jpg", noise_jpeg(s))])

    def method(d, local, central):
        d[local + 8 : local + 10] = (93).to_bytes(2, "little")  # Zstandard, newer than 3.11
        d[central + 10 : central + 12] = (93).to_bytes(2, "little")

    patch_zip(path, method)


SLIPS = ("../evil.jpg", "/etc/evil.jpg", "link.jpg")


@kind(expect={name: {"submission"} for name in SLIPS}, files=SLIPS)
def k_zip_slip_and_links(where, s):
    path = where / f"{s}.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("../evil.jpg", noise_jpeg(s))
        zf.writestr("/etc/evil.jpg", noise_jpeg(s + "e"))
        link = zipfile.ZipInfo("link.jpg")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")


@kind(expect={"p.jpg": {"submission", "too_small"}}, files=("p.jpg",), says={"p.jpg": "2 files"})
def k_zip_member_twice(where, s):
    with pytest.warns(UserWarning, match="Duplicate name"):
        zipped(where, s, [("p.jpg", noise_jpeg(s)), ("p.jpg", noise_jpeg(s + "2"))])


@kind(expect={"café.jpg": {"too_small"}}, never={"café.jpg": {"attributes"}}, files=("café.jpg",))
def k_zip_utf8_names_without_the_flag(where, s):
    placeholder = "cafXX.jpg"
    path = zipped(where, s, [(placeholder, noise_jpeg(s)),
                             ("attributes.csv", attributes_csv(["café.jpg"]))])  # fmt: skip
    data = path.read_bytes().replace(placeholder.encode(), "café.jpg".encode())
    path.write_bytes(data)  # same length, and no UTF-8 flag: what Windows' zip writes


@kind(expect={"café.jpg": {"too_small"}}, files=("café.jpg",))
def k_zip_cp437_names(where, s):
    path = zipped(where, s, [("cafX.jpg", noise_jpeg(s))])
    path.write_bytes(path.read_bytes().replace(b"cafX.jpg", b"caf\x82.jpg"))  # é in cp437


@kind(expect={"": {"submission", "count"}}, says={"": "is empty"})
def k_empty_zip(where, s):
    zipped(where, s, [])


@kind(expect={"": {"submission", "count"}}, says={"": "is empty"})
def k_zip_of_folders_only(where, s):
    path = where / f"{s}.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(zipfile.ZipInfo("photos/"), b"")
        zf.writestr(zipfile.ZipInfo("photos/more/"), b"")


@kind(expect={"inner.zip": {"submission"}}, files=("inner.zip",), says={"inner.zip": "nested"})
def k_nested_zip(where, s):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("p.jpg", noise_jpeg(s))
    zipped(where, s, [("inner.zip", buf.getvalue())])


@kind(expect={"": {"submission"}}, says={"": "more than 1000 files"})
def k_zip_with_too_many_members(where, s):
    zipped(where, s, [(f"p{i:04d}.jpg", b"") for i in range(1001)])


@kind(expect={"bomb.jpg": {"submission"}}, files=("bomb.jpg",), says={"bomb.jpg": "more than the"})
def k_zip_bomb_member(where, s):
    path = where / f"{s}.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("bomb.jpg", "w") as fh:
        for _ in range(65):
            fh.write(bytes(2**20))  # 65 MB of zeros, 64 kB zipped


@kind(expect={"__MACOSX/p/._p.jpg": {"submission"}, "p.jpg": {"too_small"}},
      files=("__MACOSX/p/._p.jpg", "p.jpg"))  # fmt: skip
def k_zip_from_a_mac(where, s):
    zipped(where, s, [(f"{s}/p.jpg", noise_jpeg(s)), ("__MACOSX/p/._p.jpg", b"\0\5\26\7")])


# ---------------------------------------------------------------- attribute tables


def photo_and_table(where, s, data: bytes | str, name="attributes.csv"):
    data = data.encode() if isinstance(data, str) else data
    folder(where, s, {"p.jpg": noise_jpeg(s), name: data})


@kind(expect={"": {"attributes"}, "p.jpg": {"attributes"}}, says={"": "no attributes.csv"})
def k_no_table(where, s):
    folder(where, s, {"p.jpg": noise_jpeg(s)})


@kind(expect={"attributes.csv": {"attributes"}}, says={"attributes.csv": "empty"})
def k_empty_table(where, s):
    photo_and_table(where, s, b"")


@kind(expect={"p.jpg": {"attributes"}}, says={"p.jpg": "no row for this photo"})
def k_header_only(where, s):
    photo_and_table(where, s, table([]))


@kind(never={"p.jpg": {"attributes"}})
def k_utf16_table(where, s):
    photo_and_table(where, s, table([row("p.jpg")]).encode("utf-16"))


@kind(never={"p.jpg": {"attributes"}})
def k_semicolons_bom_crlf(where, s):
    text = table([row("p.jpg")], sep=";").replace("\n", "\r\n")
    photo_and_table(where, s, b"\xef\xbb\xbf" + text.encode())


@kind(never={"p.jpg": {"attributes"}})
def k_excel_sep_line(where, s):
    photo_and_table(where, s, "sep=;\n" + table([row("p.jpg")], sep=";"))


@kind(expect={"attributes.csv": {"attributes"}}, says={"attributes.csv": "Windows-1252"})
def k_cp1252_table(where, s):
    photo_and_table(where, s, table([row("p.jpg", identification_mark="grain de beauté")])
                    .encode("cp1252"))  # fmt: skip


@kind(expect={"attributes.csv": {"attributes"}}, says={"attributes.csv": "never closed"},
      never={"p.jpg": {"characters"}})  # fmt: skip
def k_unclosed_quote(where, s):
    rows = [row("p.jpg", identification_mark='"scar on the left')]
    photo_and_table(where, s, table(rows + [row(f"x{i}.jpg") for i in range(5)]))


@kind(expect={"attributes.csv": {"attributes"}, "p.jpg": {"attributes"}},
      says={"attributes.csv": "more than the"}, never={"": {"was handed in"}})  # fmt: skip
def k_table_over_the_byte_limit(where, s):
    rows = [row("p.jpg")] + [row(f"x{i:06d}.jpg") for i in range(12000)]
    photo_and_table(where, s, table(rows))


@kind(expect={"attributes.csv": {"attributes"}}, says={"attributes.csv": "more than 1000 rows"})
def k_table_with_too_many_rows(where, s):
    photo_and_table(where, s, table([[f"x{i}"] for i in range(1500)]))


@kind(expect={"attributes.csv": {"attributes"}, "p.jpg": {"attributes"}},
      says={"attributes.csv": "outside"}, never={"": {"was handed in"}})  # fmt: skip
def k_table_behind_a_link(where, s):
    path = folder(where, s, {"p.jpg": noise_jpeg(s)})
    os.symlink(SCHEMA, path / "attributes.csv")


@kind(expect={"p.jpg": {"attributes"}}, says={"p.jpg": "write it as 30"})
def k_arabic_indic_age(where, s):
    photo_and_table(where, s, table([row("p.jpg", age="٣٠")]))


@kind(expect={"p.jpg": {"attributes"}}, says={"p.jpg": "write it as 30"})
def k_full_width_age(where, s):
    photo_and_table(where, s, table([row("p.jpg", age="３０")]))


@kind(expect={"attributes.csv": {"attributes"}}, says={"attributes.csv": "not a text file"})
def k_binary_table(where, s):
    photo_and_table(where, s, np.random.default_rng(seed_of(s)).bytes(3000))


@kind(expect={"p.jpg": {"attributes"}}, says={"p.jpg": "more than 100"})
def k_overlong_value(where, s):
    photo_and_table(where, s, table([row("p.jpg", identification_mark="x" * 10_000)]))


@kind(expect={"attributes.csv": {"attributes"}, "p.jpg": {"attributes"}})
def k_missing_and_extra_columns(where, s):
    photo_and_table(where, s, "file,eye_colour,favourite_food\np.jpg,brwn,pizza\n")


@kind(expect={"attributes.csv": {"attributes"}}, says={"attributes.csv": "which was not handed in"})
def k_row_for_a_photo_not_handed_in(where, s):
    photo_and_table(where, s, table([row("p.jpg"), row("ghost.jpg")]))


@kind(expect={"p.jpg": {"attributes"}})
def k_nul_bytes_in_table(where, s):
    photo_and_table(where, s, table([row("p.jpg", eye_colour="bl\0ue")]))


@kind(accepted={"p.jpg"})
def k_formula_in_a_value(where, s):
    mark = '=HYPERLINK("http://x";"y")'
    folder(where, s, {"p.jpg": good_photo(1)},
           table([row("p.jpg", identification_mark=mark)]).encode())


@kind(accepted={"=p.jpg"})
def k_formula_file_name_accepted(where, s):
    folder(where, s, {"=p.jpg": good_photo(2)}, table([row("=p.jpg")]).encode())


# ---------------------------------------------------------------- running


def files_of(kind: Kind, where: Path) -> set[tuple[str, str]]:
    """Every (student, file) the kind handed in, which must each get a verdict."""
    student = kind.name if kind.student is None else kind.student
    found = {(student, f) for f in kind.expect} | {(student, f) for f in kind.files}
    found |= {(student, f) for f in kind.accepted}
    top = where / kind.name
    if kind.walk and top.is_dir() and not top.is_symlink():
        for dirpath, dirnames, filenames in os.walk(top):
            links = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
            for name in filenames + links:
                rel = os.path.relpath(os.path.join(dirpath, name), top).replace(os.sep, "/")
                found.add((student, rel.encode("utf-8", "surrogateescape").decode(
                    "utf-8", "backslashreplace")))  # fmt: skip
    return found


def tree_state(root: Path) -> dict[str, str]:
    """What is in `root`, read without opening anything but regular files."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as fh:
                    state[path] = hashlib.sha256(fh.read()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                state[path] = "link " + os.readlink(path)
            else:
                state[path] = f"mode {stat.filemode(st.st_mode)} {st.st_mtime_ns}"
    return state


def verdicts_of(findings, accepted, tables) -> dict[tuple[str, str], dict]:
    """(student, file) -> its rules, messages, whether it was accepted or read as the table."""
    out: dict[tuple[str, str], dict] = {}
    for f in findings:
        v = out.setdefault((f.student, f.file), {"rules": set(), "messages": [], "accepted": False})
        v["rules"].add(f"{f.rule}:{f.severity.value}")
        v["messages"].append(f.message)
    for key, verdict in [*((k, True) for k in accepted), *((k, "table") for k in tables)]:
        out.setdefault(key, {"rules": set(), "messages": [], "accepted": False})
        out[key]["accepted"] = verdict
    return out


def as_json(verdicts) -> dict:
    return {json.dumps(k): {**v, "rules": sorted(v["rules"])} for k, v in verdicts.items()}


def from_json(data) -> dict:
    return {tuple(json.loads(k)): {**v, "rules": set(v["rules"])} for k, v in data.items()}


def run_in_process(root: Path, cache_dir, workers=None) -> dict:
    params = load_params(root.parent / "params.yaml")
    manifest = ingest(root, params.ingest, workers=workers)
    result = validate(root, manifest, params.validate, load_vocabulary(SCHEMA), cache_dir,
                      workers=workers)  # fmt: skip
    tables = {(r.student, r.file) for r in manifest.rows if r.kind == "attributes"}
    return verdicts_of(result.findings, {(p.student, p.file) for p in result.accepted()}, tables)


def run_alone(out: str, cache_dir: str, *roots: str) -> None:
    """Every kind alone, each in its own submissions folder; for the subprocess."""
    results = {}
    for root in map(Path, roots):
        try:
            results[root.parent.name] = {"verdicts": as_json(run_in_process(root, Path(cache_dir)))}
        except Exception:
            results[root.parent.name] = {"error": traceback.format_exc()}
    Path(out).write_text(json.dumps(results), encoding="utf-8")


def with_peak(cmd: list[str], work: Path, **kw) -> tuple[subprocess.CompletedProcess, float]:
    """Run `cmd`; its peak resident memory in MB, measured by a wrapper process of its own."""
    peak = work / f"peak-{len(list(work.glob('peak-*')))}.txt"
    done = subprocess.run([sys.executable, "-c", PEAK_WRAPPER, str(peak), *cmd], **kw)
    return done, int(peak.read_text()) / 1024


def project(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "params.yaml").write_text(f"validate:\n  images_per_student: {PER_STUDENT}\n")
    (path / "submissions").mkdir()
    return path / "submissions"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    base = tmp_path_factory.mktemp("corpus")
    alone = {}
    together = project(base / "together")
    for name, k in KINDS.items():
        alone[name] = project(base / "alone" / name)
        k.build(alone[name], name)
        k.build(together, name)
    before = {name: tree_state(root) for name, root in alone.items()}
    return {"base": base, "alone": alone, "together": together, "before": before,
            "together_before": tree_state(together)}  # fmt: skip


@pytest.fixture(scope="module")
def alone_runs(corpus):
    base = corpus["base"]
    out = base / "alone.json"
    code = "import sys; from tests.test_bad_input import run_alone; run_alone(*sys.argv[1:])"
    args = [str(out), str(base / "cache-alone"), *map(str, corpus["alone"].values())]
    done, peak = with_peak([sys.executable, "-c", code, *args], base, cwd=ROOT, timeout=900,
                           capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text(encoding="utf-8")), peak


@pytest.fixture(scope="module")
def class_run(corpus):
    """The real console script on the whole corpus as one class, as dvc runs it: ingest, then
    validate on its manifest."""
    cwd = corpus["together"].parent
    (cwd / "schemas").mkdir(exist_ok=True)
    shutil.copy(SCHEMA, cwd / "schemas" / "attributes.yaml")
    script = (f"{FACEDATA} ingest submissions --manifest out/manifest.csv "
              f"--findings out/ingest_findings.csv && {FACEDATA} validate submissions "
              "--manifest out/manifest.csv --ingest-findings out/ingest_findings.csv "
              "--findings out/findings.csv --accepted out/accepted.csv "
              "--metrics out/validate.json --details out/validate_details.json")  # fmt: skip
    done, peak = with_peak(["sh", "-c", script], cwd, cwd=cwd, timeout=900,
                           capture_output=True, text=True)  # fmt: skip
    findings = read_findings(cwd / "out" / "findings.csv")
    with (cwd / "out" / "accepted.csv").open(newline="", encoding="utf-8") as fh:
        accepted = {(r["student"], r["file"]) for r in map(uncell_row, csv.DictReader(fh))}
    manifest = read_manifest(cwd / "out" / "manifest.csv", cwd / "out" / "ingest_findings.csv")
    tables = {(r.student, r.file) for r in manifest.rows if r.kind == "attributes"}
    return done, peak, verdicts_of(findings, accepted, tables)


def mine(kind: Kind, verdicts: dict) -> dict:
    student = kind.name if kind.student is None else kind.student
    if student == "":  # a file outside any student's folder: only this kind's
        names = set(kind.expect) | set(kind.files)
        return {k: v for k, v in verdicts.items() if k[0] == "" and k[1] in names}
    return {k: v for k, v in verdicts.items() if k[0] == student}


def check_kind(kind: Kind, verdicts: dict, where: Path) -> None:
    student = kind.name if kind.student is None else kind.student
    mine_ = mine(kind, verdicts)
    missing = sorted(f for f in files_of(kind, where) if f not in mine_)
    assert not missing, f"files without a verdict: {missing}; verdicts: {mine_}"
    for file, rules in kind.expect.items():
        got = {r.split(":")[0] for r in mine_[(student, file)]["rules"]}
        assert rules <= got, f"{file!r}: expected {rules}, got {mine_[(student, file)]}"
    for file, words in kind.says.items():
        messages = " | ".join(mine_[(student, file)]["messages"])
        assert words in messages, f"{file!r}: no message says {words!r}: {messages}"
    for file, banned in kind.never.items():
        for v_key, v in mine_.items():
            if file and v_key[1] != file:
                continue
            rules = {r.split(":")[0] for r in v["rules"]}
            text = " | ".join(v["messages"])
            assert not (banned & rules) and not any(b in text for b in banned), (file, v)
    for file in kind.accepted:
        assert mine_[(student, file)]["accepted"] is True, (file, mine_[(student, file)])


def test_the_corpus_has_at_least_60_kinds():
    assert len(KINDS) >= 60, len(KINDS)


@pytest.mark.parametrize("name", sorted(KINDS))
def test_each_kind_alone(name, corpus, alone_runs):
    results, _ = alone_runs
    outcome = results[name]
    assert "error" not in outcome, outcome.get("error")
    check_kind(KINDS[name], from_json(outcome["verdicts"]), corpus["alone"][name])
    assert tree_state(corpus["alone"][name]) == corpus["before"][name]


def test_alone_runs_stay_within_memory(alone_runs):
    _, peak = alone_runs
    assert peak < PEAK_LIMIT_MB, f"{peak:.0f} MB"


def test_everything_together_is_one_class_that_fails(corpus, class_run):
    done, peak, verdicts = class_run
    assert done.returncode == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout
    assert peak < PEAK_LIMIT_MB, f"{peak:.0f} MB"
    for k in KINDS.values():
        check_kind(k, verdicts, corpus["together"])
    assert tree_state(corpus["together"]) == corpus["together_before"]


def test_verdicts_are_the_same_alone_and_together(alone_runs, class_run):
    results, _ = alone_runs
    _, _, together = class_run

    def judged(verdicts: dict) -> dict:
        # who else is in the class is what the identity findings are about: the kinds share
        # the corpus's good photos, so together they share people, and say so
        out = {key: ({r for r in v["rules"] if not r.startswith("identity:")}, v["accepted"])
               for key, v in verdicts.items()}
        return {key: v for key, v in out.items() if v[0] or v[1] or key[1]}

    for name, k in KINDS.items():
        alone = judged(mine(k, from_json(results[name]["verdicts"])))
        assert judged(mine(k, together)) == alone, name


@pytest.mark.filterwarnings("ignore::UserWarning:PIL")  # Pillow's own notes on malformed EXIF
def test_verdicts_do_not_depend_on_the_number_of_threads(corpus, class_run):
    _, _, from_cli = class_run
    runs = [run_in_process(corpus["together"], None, workers=n) for n in (1, 8)]
    plain = [{key: (v["rules"], v["accepted"]) for key, v in r.items()} for r in runs]
    assert plain[0] == plain[1]
    assert plain[0] == {key: (v["rules"], v["accepted"]) for key, v in from_cli.items()}


def test_the_terminal_table_shows_names_escaped(class_run):
    done, _, _ = class_run
    assert "\x1b" not in done.stdout and "\u202e" not in done.stdout
    assert "\\x1b[2J\\x1b[31mred.jpg" in done.stdout and "evil\\u202egpj.jpg" in done.stdout


def test_csv_outputs_neutralise_formulas_and_round_trip(corpus, class_run):
    out = corpus["together"].parent / "out"
    with (out / "findings.csv").open(newline="", encoding="utf-8") as fh:
        cells = [c for r in csv.reader(fh) for c in r]
    assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r")]
    assert not [c for c in cells if c[:1] == "-" and not is_number(c)]
    assert "'=1+2.jpg" in cells and "'-x.jpg" in cells
    with (out / "accepted.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    marks = {(r["student"], r["file"]): r["identification_mark"] for r in rows}
    assert marks[("formula_file_name_accepted", "'=p.jpg")] == "none"
    assert marks[("formula_in_a_value", "p.jpg")] == "'=hyperlink(\"http://x\";\"y\")"
    assert rows and all(is_number(r[axis]) for r in rows for axis in ("yaw", "pitch", "roll"))


def test_a_read_error_while_listing_never_stops_the_class(tmp_path):
    """An unlistable folder inside a submission is a finding (root can list anything: skipped)."""
    if os.geteuid() == 0:
        pytest.skip("root reads every folder")
    root = project(tmp_path)
    path = folder(root, "ada", {"p.jpg": noise_jpeg("ada")})
    (path / "locked").mkdir()
    (path / "locked").chmod(0)
    try:
        verdicts = run_in_process(root, None)
    finally:
        (path / "locked").chmod(0o700)
    assert any("cannot be listed" in m for v in verdicts.values() for m in v["messages"])


def test_the_crop_stage_finds_a_photo_named_like_a_formula(corpus, class_run, tmp_path):
    out = corpus["together"].parent / "out"
    run_crop(out / "accepted.csv", corpus["together"], tmp_path / "crops", CropParams(size=64),
             ValidateParams().max_pixels)  # fmt: skip
    assert (tmp_path / "crops" / "formula_file_name_accepted" / "=p.png").is_file()


@pytest.mark.filterwarnings("ignore::UserWarning:PIL")  # Pillow's own notes on malformed EXIF
def test_the_report_of_the_class_escapes_what_students_wrote(corpus, class_run, tmp_path):
    out = corpus["together"].parent / "out"
    page = run_report(ReportParams(), max_pixels=ValidateParams().max_pixels,
                      manifest=out / "manifest.csv", findings=out / "findings.csv",
                      accepted=out / "accepted.csv", validate_metrics=out / "validate.json",
                      validate_details=out / "validate_details.json",
                      submissions_root=corpus["together"], out_dir=tmp_path)  # fmt: skip
    html = page.read_text(encoding="utf-8")
    assert "<img src=x onerror" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;.jpg" in html
