"""Peak memory of a whole class run, with phone photos only and with the worst a student can
hand in, against the 1.5 GB a class run may take.

Each run is the real console script as dvc runs it (`facedata ingest`, then `facedata validate
--manifest`), on a cold cache, under a wrapper process that reads the peak resident memory of
everything it ran (getrusage RUSAGE_CHILDREN). The classes, made in --workdir:

  phone:   S students × P different 12 MP JPEGs (validate_speed's portraits, each file made
           unique by a JPEG comment, so every one is decoded and detected);
  hostile: the same, with each student's last 8 photos replaced by what costs most memory:
           a 225 MP PNG that really decodes to zeros (refused by the decode budget), a PNG and
           a progressive JPEG whose headers claim 3600 and 144 MP, a real 40 MP progressive
           JPEG (decoded: libjpeg holds every coefficient), a 16-bit grey 12 MP PNG (decoded at
           full size), a CMYK 12 MP JPEG, a 12 MP JPEG padded to 63 MB (read whole) and a 65 MB
           file (refused unread); and a 1 MB attribute table each;
  corpus:  every kind of tests/test_bad_input.py as one class (one student per kind).

    python bench/peak_memory.py [--students 40] [--photos 40] [--workdir /tmp/facedata-peak]
"""

from __future__ import annotations

import argparse
import io
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

from PIL import Image
from validate_speed import ROOT, make_class

sys.path.insert(0, str(ROOT))
from tests import test_bad_input as corpus  # noqa: E402
from tests.conftest import attributes_csv, face  # noqa: E402

FACEDATA = shutil.which("facedata", path=str(Path(sys.executable).parent))
LIMIT_MB = corpus.PEAK_LIMIT_MB


def with_comment(jpeg: bytes, text: str) -> bytes:
    """The same picture, different bytes: a COM segment after the start-of-image marker."""
    body = text.encode()
    return jpeg[:2] + b"\xff\xfe" + (len(body) + 2).to_bytes(2, "big") + body + jpeg[2:]


def with_text_chunk(png: bytes, text: str) -> bytes:
    body = b"id\0" + text.encode()
    chunk = len(body).to_bytes(4, "big") + b"tEXt" + body + zlib.crc32(b"tEXt" + body).to_bytes(
        4, "big"
    )
    return png[:33] + chunk + png[33:]  # after the signature and IHDR


def jpeg(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=92, **kw)
    return buf.getvalue()


def phone_photos(n: int) -> list[bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        make_class(Path(tmp) / "s", n, per_student=n)
        return [p.read_bytes() for p in sorted((Path(tmp) / "s").rglob("*.jpg"))]


def hostile_photos() -> list[tuple[str, bytes | int]]:
    """(name, bytes) of what costs most memory; an int is the size of a sparse file of zeros
    after a JPEG header (read whole when under the file limit)."""
    big = face().resize((7300, 5475), Image.Resampling.BICUBIC)
    grey = face("kate_siegel").resize((4000, 3000), Image.Resampling.BICUBIC)
    return [
        ("bomb_225mp.png", corpus.png_of_size(15000, 15000, valid_pixels=True)),
        ("bomb_3600mp.png", corpus.png_of_size(60000, 60000, valid_pixels=False)),
        ("progressive_144mp.jpg", corpus.fake_header(
            jpeg(Image.new("L", (64, 64), 128), progressive=True), b"\xff\xc2", 5, 12000, 12000)),
        ("progressive_40mp.jpg", jpeg(big, progressive=True)),
        ("grey16_12mp.png", corpus.grey16_png(grey)),
        ("cmyk_12mp.jpg", jpeg(grey.convert("RGB").convert("CMYK"))),
        ("padded_63mb.jpg", 63 * 2**20),
        ("over_limit_65mb.jpg", 65 * 2**20),
    ]  # fmt: skip


def make_phone_class(root: Path, students: int, photos: list[bytes], hostile=None) -> None:
    table = attributes_csv([f"x{i:06d}.jpg" for i in range(9000)])[: 1024 * 1024]
    for s in range(students):
        folder = root / f"student{s:02d}"
        folder.mkdir(parents=True)
        names = []
        for i, data in enumerate(photos):
            name = f"img{i:02d}.jpg"
            if hostile and i >= len(photos) - len(hostile):
                name, data = hostile[i - (len(photos) - len(hostile))]
            names.append(name)
            path = folder / name
            if isinstance(data, int):  # a JPEG header, then zeros to `data` bytes (sparse)
                path.write_bytes(with_comment(photos[0], f"{s}/{i}"))
                with path.open("r+b") as fh:
                    fh.truncate(data)
            elif name.endswith(".png"):
                path.write_bytes(with_text_chunk(data, f"{s}/{i}"))
            else:
                path.write_bytes(with_comment(data, f"{s}/{i}"))
        rows = attributes_csv(names)
        (folder / "attributes.csv").write_bytes(table if hostile else rows)


def run_class(work: Path, name: str) -> tuple[int, float, float]:
    """(exit code of validate, seconds, peak MB) of ingest + validate on work/name."""
    cwd = work / name
    (cwd / "schemas").mkdir(exist_ok=True)
    shutil.copy(ROOT / "schemas" / "attributes.yaml", cwd / "schemas")
    script = (f"{FACEDATA} ingest submissions --manifest out/manifest.csv "
              f"--findings out/ingest_findings.csv && {FACEDATA} validate submissions "
              "--manifest out/manifest.csv --ingest-findings out/ingest_findings.csv "
              "--findings out/findings.csv --accepted out/accepted.csv --metrics out/validate.json "
              "--details out/validate_details.json -f json -o out/audit.json")  # fmt: skip
    start = time.perf_counter()
    done, peak = corpus.with_peak(["sh", "-c", script], cwd, cwd=cwd, capture_output=True,
                                  text=True)  # fmt: skip
    took = time.perf_counter() - start
    if done.returncode not in (0, 1):
        print(done.stderr[-2000:])
    return done.returncode, took, peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=40)
    ap.add_argument("--photos", type=int, default=40)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/facedata-peak"))
    args = ap.parse_args()
    work = args.workdir
    shutil.rmtree(work, ignore_errors=True)
    print(f"making {args.photos} photos of 12 MP and the hostile files ...", flush=True)
    photos = phone_photos(args.photos)
    hostile = hostile_photos()
    rows = []
    for name in ("phone", "hostile", "corpus"):
        root = corpus.project(work / name)
        if name != "corpus":
            (work / name / "params.yaml").write_text(
                f"validate:\n  images_per_student: {args.photos}\n"
            )
        if name == "corpus":
            for kind_name, kind in corpus.KINDS.items():
                kind.build(root, kind_name)
        else:
            make_phone_class(root, args.students, photos, hostile if name == "hostile" else None)
        files = sum(1 for p in root.rglob("*") if not p.is_dir())
        print(f"{name}: {files} files; running ingest + validate ...", flush=True)
        rows.append((name, files, *run_class(work, name)))

    print(f"\n| class | files | exit | seconds | peak MB | limit {LIMIT_MB} MB |")
    print("|---|---:|---:|---:|---:|---|")
    for name, files, code, took, peak in rows:
        ok = "OK" if peak < LIMIT_MB else "OVER"
        print(f"| {name} | {files} | {code} | {took:.0f} | {peak:.0f} | {ok} |")
    base = rows[0][4]
    print(f"\npeak, hostile / phone: {rows[1][4] / base:.2f}×; corpus / phone: "
          f"{rows[2][4] / base:.2f}×")  # fmt: skip
    print(f"machine: {platform.processor() or platform.machine()}, "
          f"{subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores")


if __name__ == "__main__":
    main()
