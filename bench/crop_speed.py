"""How fast is the crop stage on phone-size photos, on one thread against one per core?

Makes N 4000×3000 JPEGs (12 MP) from the portraits in tests/data/faces (validate_speed's
`fresh_class`), measures them once with the validator to get every face's landmarks (all photos
with a face are cropped, whatever the rules say: this times cropping, not judging), then times
`pipeline.crop.run_crop` with one thread (the baseline: how the stage ran before) and with its
default (one thread per core), checks that both wrote identical files, and prints crops/second
and the ratio.

    python bench/crop_speed.py [--photos 40] [--size 256] [--workdir /tmp/facedata-crop-bench]
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

from validate_speed import ROOT, SIZE, fresh_class

from pipeline.attributes import load_vocabulary
from pipeline.config import CropParams, load_params
from pipeline.crop import run_crop
from pipeline.formats.accepted import write_accepted
from pipeline.ingest import ingest
from pipeline.io import worker_count
from pipeline.validate import validate


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=40)
    ap.add_argument("--size", type=int, default=256, help="crop.size")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/facedata-crop-bench"))
    args = ap.parse_args()

    work = args.workdir
    subs = fresh_class(work, args.photos)
    params = load_params(ROOT / "params.yaml")
    vocab = load_vocabulary(ROOT / "schemas" / "attributes.yaml")
    result = validate(subs, ingest(subs, params.ingest), params.validate, vocab,
                      work / "cache")
    manifest = {(r.student, r.file): r for r in result.manifest.rows}
    accepted = work / "accepted.csv"
    write_accepted(accepted, [(manifest[ph.student, ph.file], ph.main_face, {})
                              for ph in result.photos if ph.main_face is not None], [])

    crop = CropParams(size=args.size, sheet_count=48)
    runs = []
    for label, workers in (("one thread (baseline)", 1),
                           (f"one per core ({worker_count()})", None)):
        out = work / f"crops-{workers or 'default'}"
        start = time.perf_counter()
        summary = run_crop(accepted, subs, out, crop, params.validate.max_pixels, workers)
        runs.append((label, summary["crops"], time.perf_counter() - start, files_of(out)))
    same = runs[0][3] == runs[1][3]

    print(f"\nmachine: {platform.processor() or platform.machine()}, {worker_count()} cores; "
          f"{args.photos} photos of {SIZE[0]}×{SIZE[1]}, crops of {args.size} px; "
          f"identical outputs: {same}")
    base = runs[0][1] / runs[0][2]
    print(f"| {'crop stage':<24} | crops | seconds | crops/s | ratio |")
    print(f"|{'-' * 26}|------:|--------:|--------:|------:|")
    for label, crops, seconds, _ in runs:
        rate = crops / seconds
        print(f"| {label:<24} | {crops:5d} | {seconds:7.2f} | {rate:7.1f} | {rate / base:4.2f}× |")


if __name__ == "__main__":
    main()
