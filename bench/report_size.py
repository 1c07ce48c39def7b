"""How big is the report of a full class, and how long does it take to render?

Makes a class of 40 students × 40 photos (JPEGs of `--width`×`--height`, varied crops and
exposures of the portraits in tests/data/faces, so thumbnails compress like real photos), with
every fourth student handing in a zip, and writes the stage inputs the way ingest/validate do
(manifest, findings with errors, warnings and a cross-student duplicate, accepted with random
attributes, validate.json). Then times `run_report` and prints the size of reports/index.html
against the 50 MB limit. When Chromium is installed it also times a headless load + screenshot.

    python bench/report_size.py [--students 40] [--photos 40] [--width 768 --height 1024]
                                [--workdir /tmp/facedata-report-bench]
"""

from __future__ import annotations

import argparse
import io
import random
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from PIL import Image, ImageEnhance

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.config import load_params  # noqa: E402
from pipeline.findings import Finding, Severity  # noqa: E402
from pipeline.formats.accepted import FILE_COLUMNS  # noqa: E402
from pipeline.formats.common import write_csv  # noqa: E402
from pipeline.formats.findings import FINDING_COLUMNS  # noqa: E402
from pipeline.formats.manifest import MANIFEST_COLUMNS  # noqa: E402
from pipeline.formats.metrics import Record, write_record  # noqa: E402
from pipeline.report import run_report  # noqa: E402

FACES = ROOT / "tests" / "data" / "faces"
SOURCES = ["biden_official_2013", "astronaut_collins", "kate_siegel", "paul_rudd", "angelina_jolie"]
VOCABULARY = {
    "lip_type": ["thin", "medium", "full"],
    "lip_colour": ["pink", "red", "brown", "dark"],
    "forehead": ["narrow", "medium", "broad"],
    "dimples": ["yes", "no"],
    "ear": ["small", "medium", "large"],
    "eye_size": ["small", "medium", "large"],
    "eye_defect": ["none", "glasses", "squint", "other"],
    "eye_colour": ["brown", "black", "blue", "green", "hazel", "grey"],
    "eyebrow_style": ["thin", "thick", "arched", "straight", "bushy"],
    "jaw_line": ["round", "square", "pointed", "oval"],
    "skin_colour": ["fair", "light", "medium", "olive", "brown", "dark"],
    "hair_colour": ["black", "brown", "blonde", "red", "grey", "white", "other"],
    "hair_style": ["short", "medium", "long", "curly", "wavy", "straight", "bald", "tied"],
    "beard_mustache": ["none", "beard", "mustache", "both", "stubble"],
    "age": [str(a) for a in range(18, 70)],
    "gender": ["female", "male", "other"],
    "identification_mark": ["none", "mole on left cheek", "scar"],
}


def photo(rng: random.Random, sources: list[Image.Image], size: tuple[int, int]) -> bytes:
    src = rng.choice(sources)
    zoom = rng.uniform(1.0, 1.4)
    w, h = round(src.width / zoom), round(src.height / zoom)
    x, y = rng.randint(0, src.width - w), rng.randint(0, src.height - h)
    im = src.crop((x, y, x + w, y + h)).resize(size, Image.Resampling.BILINEAR)
    im = ImageEnhance.Brightness(im).enhance(rng.uniform(0.8, 1.2))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def make_class(work: Path, students: int, photos: int, size: tuple[int, int]) -> dict[str, Path]:
    rng = random.Random(0)
    sources = [Image.open(FACES / f"{name}.jpg").convert("RGB") for name in SOURCES]
    subs = work / "submissions"
    subs.mkdir(parents=True)
    manifest, findings, accepted = [], [], []
    for s in range(students):
        student = f"student{s:02d}"
        files = {f"img{i:02d}.jpg": photo(rng, sources, size) for i in range(photos)}
        if s % 4 == 3:
            source = f"{student}.zip"
            with zipfile.ZipFile(subs / source, "w") as zf:
                for name, data in files.items():
                    zf.writestr(name, data)
        else:
            source = student
            (subs / student).mkdir()
            for name, data in files.items():
                (subs / student / name).write_bytes(data)
        for i, (name, data) in enumerate(files.items()):
            row = dict(student=student, file=name, source=source, member=name, kind="photo",
                       sha256=f"{s:032x}{i:032x}", bytes=len(data), format="JPEG",
                       width=size[0], height=size[1])  # fmt: skip
            manifest.append(row)
            if rng.random() < 0.15:
                findings.append(Finding(
                    student, name, "blurry", Severity.ERROR, "the face is blurry",
                    quantity="edge_width", value=0.041, limit=0.03, unit="eye_distances",
                    comparison="<=").as_row())  # fmt: skip
                continue
            if rng.random() < 0.1:
                findings.append(Finding(
                    student, name, "expression", Severity.WARNING, "a broad smile",
                    quantity="smile", value=1.1, limit=1.0, unit="spreads",
                    comparison="<=").as_row())  # fmt: skip
            values = {k: rng.choice(v) for k, v in VOCABULARY.items()}
            accepted.append({**{k: v for k, v in row.items() if k != "kind"}, **values})
    # one photo handed in by two students
    for me, other in [("student01", "student02"), ("student02", "student01")]:
        findings.append(Finding(
            me, "img00.jpg", "duplicate", Severity.ERROR, f"{other} handed in an identical file "
            f"of this photo ({other}/img00.jpg); every photo must be your own and appear once",
            quantity="hash_distance", value=0, limit=4, unit="bits", comparison=">",
            related=f"{other}/img00.jpg").as_row())  # fmt: skip
    accepted = [r for r in accepted if (r["student"], r["file"]) not in
                {("student01", "img00.jpg"), ("student02", "img00.jpg")}]  # fmt: skip

    interim = work / "interim"
    interim.mkdir()
    paths = {
        "manifest": interim / "manifest.csv",
        "findings": interim / "findings.csv",
        "accepted": interim / "accepted.csv",
        "validate_metrics": interim / "validate.json",
        "validate_details": interim / "validate_details.json",
    }
    write_csv(paths["manifest"], MANIFEST_COLUMNS, manifest)
    write_csv(paths["findings"], FINDING_COLUMNS, findings)
    write_csv(paths["accepted"], [*FILE_COLUMNS, *VOCABULARY], accepted)
    n = len(manifest)
    counts = {"students": students, "photos": n, "accepted": len(accepted),
              "rejected": n - len(accepted), "acceptance_rate": len(accepted) / n}
    write_record("validate", Record(counts), paths["validate_metrics"], paths["validate_details"])
    paths["submissions_root"] = subs
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=40)
    ap.add_argument("--photos", type=int, default=40)
    ap.add_argument("--width", type=int, default=768)
    ap.add_argument("--height", type=int, default=1024)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/facedata-report-bench"))
    args = ap.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    start = time.perf_counter()
    paths = make_class(args.workdir, args.students, args.photos, (args.width, args.height))
    print(f"made {args.students}×{args.photos} photos of {args.width}×{args.height} "
          f"in {time.perf_counter() - start:.1f} s")  # fmt: skip

    all_params = load_params(ROOT / "params.yaml")
    params = all_params.report
    out = args.workdir / "reports"
    start = time.perf_counter()
    index = run_report(params, max_pixels=all_params.validate.max_pixels, out_dir=out, **paths)
    took = time.perf_counter() - start
    size = index.stat().st_size
    n = args.students * args.photos
    print(f"run_report: {took:.2f} s ({n / took:.0f} photos/s), thumb_size {params.thumb_size}")
    print(f"{index}: {size / 1e6:.1f} MB ({size / n / 1e3:.1f} kB per photo); limit 50 MB: "
          f"{'OK' if size < 50e6 else 'OVER'}")  # fmt: skip

    chromium = shutil.which("chromium")
    if chromium:
        shot = args.workdir / "report.png"
        start = time.perf_counter()
        subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             f"--user-data-dir={args.workdir / 'profile'}", f"--screenshot={shot}",
             "--window-size=1280,1600", index.as_uri()],
            capture_output=True, check=True, timeout=300,
        )  # fmt: skip
        print(f"headless Chromium load + screenshot: {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
