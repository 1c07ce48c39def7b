"""How long is `facedata validate`'s terminal output for a whole class, per view?

Makes a class of 40 students × 40 photos from measurements (nothing is decoded or detected: the
real rules judge made-up measurements), with about the problems a real class hands in: blurred,
turned, small and cut-off photos, smiles and open mouths, two students a few photos short. Then
renders the terminal output at 160 columns (what a pipe or a file gets) for each view and prints
its line count against the full listing of every finding (the baseline), and the number of
50-line screens.

    python bench/triage_size.py [--students 40] [--photos 40] [--seed 0]
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

from rich.console import Console

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.config import ValidateParams  # noqa: E402
from pipeline.faces import Face, FaceQuality, FaceReport, Pose  # noqa: E402
from pipeline.findings import Severity  # noqa: E402
from pipeline.formats.manifest import PHOTO, Manifest, ManifestRow  # noqa: E402
from pipeline.measure import ClassData, Photo, StudentData, Tones  # noqa: E402
from pipeline.rules import judge_class, judge_photo  # noqa: E402
from pipeline.validate import ValidationResult  # noqa: E402
from pipeline.validate_view import Detail, View, render_table  # noqa: E402

SCREEN = 50  # lines
GOOD = FaceQuality(head_length=700, outline_margin=0.6, brightness=125, clipped_dark=0.0,
                   clipped_bright=0.0, edge_width=0.012, cheek_ratio=1.1, smile=0.0,
                   mouth_open=0.02, eyes_open=0.33, brows=0.32)
# (chance per photo, what is wrong) - about what a real class hands in
PROBLEMS = [(0.05, {"edge_width": 0.05}), (0.03, {"outline_margin": -0.3}),
            (0.02, {"head_length": 200}), (0.10, {"smile": 2.0}), (0.04, {"mouth_open": 0.3})]


def make_class(students: int, photos: int, seed: int, params: ValidateParams) -> ValidationResult:
    rng = random.Random(seed)
    made, rows = [], []
    for s in range(students):
        student = f"student{s:02d}"
        n = photos - 2 if s in (3, 17) else photos
        for i in range(n):
            quality, yaw = GOOD, rng.uniform(-8, 8)
            for chance, change in PROBLEMS:
                if rng.random() < chance:
                    quality = replace(quality, **change)
            if rng.random() < 0.03:
                yaw = 40.0
            face = Face((300, 300, 800, 800), 0.99, ((0, 0),) * 5, Pose(yaw, 2, 1))
            ph = Photo(student, f"{student}_{i:02d}.jpg", f"{s:032x}{i:032x}", 200_000, "JPEG",
                       1000, 1000, chroma=14.0, phash=None, faces=FaceReport((face,), quality),
                       tones=Tones(8, 245))
            made.append(ph)
            rows.append(ManifestRow(student, ph.file, student, ph.file, PHOTO, ph.sha256,
                                    ph.bytes, "JPEG", 1000, 1000))
    data = ClassData({p.student: StudentData(p.student) for p in made})
    for ph in made:
        data.students[ph.student].photos.append(ph)
    findings = [f for ph in made for f in judge_photo(ph, params)] + judge_class(data, params)
    findings.sort(key=lambda f: (f.student, f.file, f.severity is not Severity.ERROR))
    return ValidationResult(Manifest(rows, []), made, findings, {}, [])


def lines_of(result: ValidationResult, view: View) -> tuple[int, float]:
    console = Console(record=True, width=160, file=io.StringIO())
    start = time.perf_counter()
    render_table(result, console, view)
    seconds = time.perf_counter() - start
    return len(console.export_text().splitlines()), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--photos", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    params = ValidateParams(images_per_student=args.photos)
    result = make_class(args.students, args.photos, args.seed, params)
    counts = {sev: sum(f.severity is sev for f in result.findings) for sev in Severity}
    print(f"{args.students} students × {args.photos} photos: {len(result.photos)} photos, "
          f"{counts[Severity.ERROR]} errors and {counts[Severity.WARNING]} warnings (findings)")
    views = {
        "every finding in full (--verbose, baseline)": View(detail=Detail.VERBOSE),
        "triage (default)": View(),
        "triage, --errors-only": View(errors_only=True),
        "one student (--student student03)": View(students=frozenset({"student03"})),
        "--quiet": View(detail=Detail.QUIET),
    }
    base, _ = lines_of(result, views["every finding in full (--verbose, baseline)"])
    print(f"{'view':46} {'lines':>6} {'screens':>8} {'vs baseline':>12} {'render s':>9}")
    for name, view in views.items():
        n, seconds = lines_of(result, view)
        print(f"{name:46} {n:6d} {n / SCREEN:8.1f} {n / base:11.2f}× {seconds:9.3f}")


if __name__ == "__main__":
    main()
