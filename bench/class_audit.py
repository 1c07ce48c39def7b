"""A whole class through validate, feedback and the report: time per stage, output length.

Makes a class of 40 students × 40 photos (crops of the portraits in tests/data/faces at varied
zoom and exposure, so that real rules fire: about one photo in ten blurred, one in twenty
grayscale, one in twenty too small, a few copies within and across students, and an
attributes.csv per student with an occasional value outside the vocabulary). Then runs

- `facedata validate` (the CLI, cold cache, then again with the cache warm) writing the stage's
  files, and counts the lines it prints on the terminal (a pipe: 160 columns);
- the feedback stage (`run_feedback`), and the length of its messages;
- the report (`run_report`) with the feedback on the cards.

The baseline of the terminal output, in the same run, is one line per error and warning (the
shortest a listing of findings can be): the ratio says how much of it the terminal spares.

    python bench/class_audit.py [--students 40] [--photos 40] [--width 600 --height 800]
                                [--workdir /tmp/facedata-class-audit]
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml
from PIL import Image, ImageEnhance, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.attributes import load_vocabulary  # noqa: E402
from pipeline.config import load_params  # noqa: E402
from pipeline.feedback import run_feedback  # noqa: E402
from pipeline.findings import Severity  # noqa: E402
from pipeline.formats.findings import read_findings  # noqa: E402
from pipeline.report import run_report  # noqa: E402

FACES = ROOT / "tests" / "data" / "faces"
SOURCES = ["biden_official_2013", "astronaut_collins", "kate_siegel", "paul_rudd", "angelina_jolie"]
SCHEMA = ROOT / "schemas" / "attributes.yaml"
FACEDATA = shutil.which("facedata", path=str(Path(sys.executable).parent)) or "facedata"


def photo(rng: random.Random, sources: list[Image.Image], size: tuple[int, int]) -> bytes:
    src = rng.choice(sources)
    zoom = rng.uniform(1.0, 1.3)
    w, h = round(src.width / zoom), round(src.height / zoom)
    x, y = rng.randint(0, src.width - w), rng.randint(0, src.height - h)
    im = src.crop((x, y, x + w, y + h)).resize(size, Image.Resampling.BILINEAR)
    im = ImageEnhance.Brightness(im).enhance(rng.uniform(0.85, 1.15))
    fault = rng.random()
    if fault < 0.10:
        im = im.filter(ImageFilter.GaussianBlur(size[0] / 60))
    elif fault < 0.15:
        im = im.convert("L").convert("RGB")
    elif fault < 0.20:
        im = im.resize((size[0] * 2 // 3, size[1] * 2 // 3))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def make_class(work: Path, students: int, photos: int, size: tuple[int, int]) -> Path:
    rng = random.Random(0)
    sources = [Image.open(FACES / f"{name}.jpg").convert("RGB") for name in SOURCES]
    columns = load_vocabulary(SCHEMA).columns
    subs = work / "submissions"
    previous: bytes | None = None
    for s in range(students):
        folder = subs / f"student{s:02d}"
        folder.mkdir(parents=True)
        rows = [",".join(["file", *(c.name for c in columns)])]
        for i in range(photos):
            name = f"img{i:02d}.jpg"
            data = photo(rng, sources, size)
            if previous is not None and rng.random() < 0.01:
                data = previous  # a copy of the previous photo (sometimes another student's)
            previous = data
            (folder / name).write_bytes(data)
            values = []
            for c in columns:
                if c.kind == "choice":
                    values.append(rng.choice(c.values))
                elif c.kind == "integer":
                    values.append(str(rng.randint(max(c.min, 18), min(c.max, 70))))
                else:
                    values.append(c.none)
            if rng.random() < 0.02:
                values[0] = "unknown"  # outside the vocabulary
            rows.append(",".join([name, *values]))
        (folder / "attributes.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return subs


def timed_validate(work: Path, subs: Path, params: Path) -> tuple[float, list[str]]:
    interim = work / "interim"
    args = [FACEDATA, "validate", subs, "--params", params, "--schema", SCHEMA,
            "--findings", interim / "findings.csv", "--accepted", interim / "accepted.csv",
            "--metrics", interim / "validate.json", "--details", interim / "validate_details.json",
            "--cache-dir", work / "cache", "--exit-zero"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    start = time.perf_counter()
    done = subprocess.run(list(map(str, args)), capture_output=True, text=True, env=env,
                          check=True, timeout=3600)  # fmt: skip
    return time.perf_counter() - start, done.stdout.splitlines()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=40)
    ap.add_argument("--photos", type=int, default=40)
    ap.add_argument("--width", type=int, default=600)
    ap.add_argument("--height", type=int, default=800)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/facedata-class-audit"))
    args = ap.parse_args()
    work = args.workdir
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    start = time.perf_counter()
    subs = make_class(work, args.students, args.photos, (args.width, args.height))
    n = args.students * args.photos
    print(f"made {args.students}×{args.photos} photos of {args.width}×{args.height} "
          f"in {time.perf_counter() - start:.1f} s")  # fmt: skip

    settings = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    settings["validate"]["images_per_student"] = args.photos
    params_file = work / "params.yaml"
    params_file.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    params = load_params(params_file)
    interim = work / "interim"

    cold, lines = timed_validate(work, subs, params_file)
    warm, _ = timed_validate(work, subs, params_file)
    # ingest writes the manifest the report and feedback read
    subprocess.run([FACEDATA, "ingest", str(subs), "--manifest", str(interim / "manifest.csv"),
                    "--findings", str(interim / "ingest_findings.csv"), "--params",
                    str(params_file)], check=True, capture_output=True,
                   env=dict(os.environ, PYTHONPATH=str(ROOT)))  # fmt: skip
    files = dict(manifest=interim / "manifest.csv", findings=interim / "findings.csv",
                 accepted=interim / "accepted.csv")  # fmt: skip
    findings = read_findings(files["findings"])
    listed = sum(1 for f in findings if f.severity is not Severity.INFO)

    start = time.perf_counter()
    result = run_feedback(**files, out_dir=work / "reports" / "feedback")
    feedback_s = time.perf_counter() - start
    texts = [p.read_text(encoding="utf-8") for p in result.paths]

    start = time.perf_counter()
    index = run_report(params.report, max_pixels=params.validate.max_pixels, **files,
                       validate_metrics=interim / "validate.json",
                       validate_details=interim / "validate_details.json", submissions_root=subs,
                       out_dir=work / "reports", feedback=work / "reports" / "feedback")
    report_s = time.perf_counter() - start

    print(f"{n} photos, {listed} errors and warnings, {result.to_redo} of {len(texts)} students "
          "with something to redo")  # fmt: skip
    print()
    print("| stage | seconds | photos/s |")
    print("|---|---:|---:|")
    for name, secs in [("`facedata validate`, cold cache", cold),
                       ("`facedata validate`, warm cache", warm),
                       ("feedback (`run_feedback`)", feedback_s),
                       ("report (`run_report`)", report_s)]:  # fmt: skip
        print(f"| {name} | {secs:.2f} | {n / secs:.0f} |")
    print()
    print("| output | lines | vs one line per finding |")
    print("|---|---:|---:|")
    print(f"| one line per error or warning (baseline) | {listed} | 1.00× |")
    print(f"| `facedata validate` on the terminal | {len(lines)} | {len(lines) / listed:.2f}× |")
    sizes = [len(t.splitlines()) for t in texts]
    chars = [len(t) for t in texts]
    print()
    print(f"feedback per student: median {statistics.median(sizes):.0f} lines / "
          f"{statistics.median(chars):.0f} characters, at most {max(sizes)} lines / "
          f"{max(chars)} characters")  # fmt: skip
    print(f"{index}: {index.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
