"""Rebuild the demo class in data/submissions/ from the public-domain photos in tests/data/faces/.

Run once by hand (`python data/make_demo.py`); the result is committed. Only photos marked
"may ship" are used: the NASA portrait of Eileen Collins, the official 2013 portrait of Joe Biden,
scikit-image's cameraman and coffee. Three students:

- ada/      a folder of 6 good photos (crops, a mirror image, exposure changes) and a valid table;
- grace.zip the same for another person, the table saved as Excel writes it (UTF-8 BOM, ';', CRLF)
            with one misspelt value, plus the junk macOS adds to zips;
- linus/    5 broken items: no face, grayscale, a PNG named .jpg, a truncated JPEG, a copy of
            one of ada's photos; the table misses a row, names a photo that does not exist and
            has a non-numeric age.
"""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

from PIL import Image, ImageEnhance, ImageOps

from pipeline.attributes import load_vocabulary

HERE = Path(__file__).resolve().parent
FACES = HERE.parent / "tests" / "data" / "faces"
OUT = HERE / "submissions"
COLUMNS = ["file", *load_vocabulary(HERE.parent / "schemas" / "attributes.yaml").names]
# one value per vocabulary column, in its order
BIDEN = [
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
COLLINS = [
    "medium",
    "pink",
    "medium",
    "no",
    "small",
    "medium",
    "none",
    "brown",
    "arched",
    "oval",
    "fair",
    "brown",
    "short",
    "none",
    "38",
    "female",
    "none",
]


def jpeg(im: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def table(rows: list[list[str]], sep: str = ",", newline: str = "\n", bom: bool = False) -> bytes:
    text = newline.join(sep.join(r) for r in [COLUMNS, *rows]) + newline
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")


def main() -> None:
    biden = Image.open(FACES / "biden_official_2013.jpg").convert("RGB")
    collins = Image.open(FACES / "astronaut_collins.jpg").convert("RGB")
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)

    ada = {
        "ada_01.jpg": biden,
        "ada_02.jpg": ImageOps.mirror(biden),
        "ada_03.jpg": biden.crop((0, 0, 1000, 1000)),
        "ada_04.jpg": biden.crop((200, 100, 1200, 1100)),
        "ada_05.jpg": ImageEnhance.Brightness(biden.crop((100, 0, 1100, 1000))).enhance(0.9),
        "ada_06.jpg": biden.crop((0, 150, 1200, 1050)),
    }
    folder = OUT / "ada"
    folder.mkdir()
    for name, im in ada.items():
        (folder / name).write_bytes(jpeg(im))
    (folder / "attributes.csv").write_bytes(table([[n, *BIDEN] for n in ada]))

    # Head-and-shoulders crops of the NASA portrait (the whole photo is a half-body shot, which
    # face_too_small rejects), enlarged to phone-photo sizes.
    head = collins.crop((66, 5, 386, 325))
    up = head.resize((700, 700), Image.Resampling.LANCZOS)
    grace = {
        "IMG_2041.jpg": up,
        "IMG_2042.jpg": ImageOps.mirror(up),
        "IMG_2043.jpg": collins.crop((76, 0, 396, 320)).resize(
            (640, 640), Image.Resampling.LANCZOS
        ),
        "IMG_2044.jpg": collins.crop((56, 10, 376, 330)).resize(
            (620, 620), Image.Resampling.LANCZOS
        ),
        "IMG_2045.jpg": ImageEnhance.Brightness(ImageOps.mirror(collins.crop((70, 0, 380, 310))))
        .enhance(1.1)
        .resize((600, 600)),
        "IMG_2046.jpg": ImageEnhance.Contrast(collins.crop((46, 0, 406, 360)))
        .enhance(0.9)
        .resize((650, 650), Image.Resampling.LANCZOS),
    }
    rows = [[n, *COLLINS] for n in grace]
    rows[2][8] = "Brwn"  # eye_colour typed in a hurry
    with zipfile.ZipFile(OUT / "grace.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        for name, im in grace.items():
            zf.writestr(f"grace/{name}", jpeg(im))
        zf.writestr("grace/attributes.csv", table(rows, sep=";", newline="\r\n", bom=True))
        zf.writestr("grace/.DS_Store", b"\x00\x00\x00\x01Bud1")
        zf.writestr("__MACOSX/grace/._IMG_2041.jpg", b"\x00\x05\x16\x07")

    folder = OUT / "linus"
    folder.mkdir()
    (folder / "coffee.jpg").write_bytes((FACES / "coffee_no_face.jpg").read_bytes())
    (folder / "cameraman.jpg").write_bytes((FACES / "cameraman_gray.jpg").read_bytes())
    png = io.BytesIO()
    biden.crop((100, 100, 1100, 1100)).resize((600, 600)).save(png, "PNG")
    (folder / "scan.jpg").write_bytes(png.getvalue())
    whole = jpeg(biden.crop((150, 50, 1150, 1050)))
    (folder / "cut.jpg").write_bytes(whole[: len(whole) * 2 // 3])
    (folder / "me.jpg").write_bytes((OUT / "ada" / "ada_04.jpg").read_bytes())
    linus_rows = [
        [n, *BIDEN] for n in ["coffee.jpg", "cameraman.jpg", "scan.jpg", "me.jpg", "photo6.jpg"]
    ]
    linus_rows[3][15] = "seventy"
    (folder / "attributes.csv").write_bytes(table(linus_rows))


if __name__ == "__main__":
    main()
