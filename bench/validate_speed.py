"""How fast is `facedata validate` on phone-size photos, against the naive way?

Makes N 4000×3000 JPEGs (12 MP, like a phone camera) by upscaling the real portraits in
tests/data/faces, then times in one run:
  (a) naive: PIL opens each photo at full size and facenet-pytorch's MTCNN().detect runs on it
      (measured on a subset, since it is slow; the rate is what is compared);
  (b) ingest + validate cold: empty cache, JPEG draft decode, batched detection (each photo and
      its mirror image);
  (c) ingest + validate warm: the same again (the cache is filled; files are only hashed);
both in process and as whole `facedata validate` commands (which add Python start-up and
imports), and prints images/second and the ratios. All runs must give identical findings. Last,
what each model costs per photo on the 640 px copies (`model_costs`): MTCNN on the photo alone,
with its mirror image, and both inside the validator's grey border, and dlib's symmetric
68-point fit on the main face; and the load of dlib's model. Run it on a quiet machine
(`uptime`): other processes on the 2 cores slow the runs unequally.

The class above is made of five portraits, so its photos are near-duplicates of each other and
none is accepted: face recognition, which runs on accepted photos only, costs nothing there.
A second class measures it: distinct photos that pass (the portraits of tests/data/faces and
the calibration photos labelled good, read by path from `--calibration`, skipped with a message
when absent), each scaled to a long side of 4000 px, timed the naive way and cold in process
with `validate.identities` on and off.

    python bench/validate_speed.py [--photos 40] [--naive 6] [--workdir /tmp/facedata-bench]
                                   [--params params.yaml]
                                   [--calibration ../shared/fixtures/calibration]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml
from PIL import Image, ImageEnhance, ImageOps

ROOT = Path(__file__).resolve().parents[1]
FACES = ROOT / "tests" / "data" / "faces"
SOURCES = ["biden_official_2013", "astronaut_collins", "kate_siegel", "paul_rudd", "angelina_jolie"]
SIZE = (4000, 3000)
CALIBRATION = ROOT.parent / "shared" / "fixtures" / "calibration"
PORTRAITS = ["angelina_jolie", "astronaut_collins", "biden_official_2013", "kate_siegel",
             "paul_rudd", "openface_adams", "openface_carell", "openface_lennon-1",
             "openface_lennon-2"]
LONG_SIDE = 4000


def make_class(root: Path, n: int, per_student: int = 10) -> None:
    """n different 12 MP JPEGs, `per_student` per student folder."""
    root.mkdir(parents=True)
    for i in range(n):
        src = Image.open(FACES / f"{SOURCES[i % len(SOURCES)]}.jpg").convert("RGB")
        scale = max(SIZE[0] / src.width, SIZE[1] / src.height) * (1.0 + 0.02 * (i // 5))
        big = src.resize(
            (round(src.width * scale), round(src.height * scale)), Image.Resampling.BICUBIC
        )
        left = (big.width - SIZE[0]) // 2
        top = (big.height - SIZE[1]) // 2
        big = big.crop((left, top, left + SIZE[0], top + SIZE[1]))
        big = ImageEnhance.Brightness(big).enhance(0.95 + 0.01 * (i % 10))
        folder = root / f"student{i // per_student:02d}"
        folder.mkdir(exist_ok=True)
        buf = io.BytesIO()
        big.save(buf, "JPEG", quality=92)
        (folder / f"img{i:03d}.jpg").write_bytes(buf.getvalue())


def passing_sources(calibration: Path) -> list[Path]:
    """Distinct photos an instructor accepts: the portraits of tests/data/faces, then the
    calibration photos labelled good (pass, or only too_small, which the upscaling mends), not
    ambiguous, that are not among those portraits."""
    found = [FACES / f"{name}.jpg" for name in PORTRAITS]
    labels = calibration / "labels.csv"
    if not labels.is_file():
        print(f"no calibration set at {calibration}: the class of photos that pass has only "
              f"the {len(found)} portraits of tests/data/faces")
        return found
    with labels.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if (row["expected"] in ("pass", "too_small") and row["ambiguous"] == "false"
                    and not (FACES / row["file"]).exists()):
                found.append(calibration / row["file"])
    return found


def make_passing_class(root: Path, sources: list[Path], per_student: int = 10) -> None:
    """Each source once, EXIF orientation applied, scaled to a long side of LONG_SIDE px, with
    an attributes.csv row for each photo (the demo's first row: values of the vocabulary), so
    that a photo that passes the photo rules is accepted."""
    with (ROOT / "data" / "submissions" / "ada" / "attributes.csv").open(
            newline="", encoding="utf-8") as fh:
        header, row = list(csv.reader(fh))[:2]
    root.mkdir(parents=True)
    tables: dict[Path, list[list[str]]] = {}
    for i, path in enumerate(sources):
        src = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
        scale = LONG_SIDE / max(src.size)
        big = src.resize((round(src.width * scale), round(src.height * scale)),
                         Image.Resampling.BICUBIC)
        folder = root / f"student{i // per_student:02d}"
        folder.mkdir(exist_ok=True)
        big.save(folder / f"img{i:03d}.jpg", "JPEG", quality=92)
        tables.setdefault(folder, []).append([f"img{i:03d}.jpg", *row[1:]])
    for folder, rows in tables.items():
        with (folder / "attributes.csv").open("w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows([header, *rows])


def identities_off(params_yaml: Path, work: Path) -> Path:
    """A copy of the settings with `validate.identities.enabled: false`."""
    data = yaml.safe_load(params_yaml.read_text(encoding="utf-8"))
    data.setdefault("validate", {}).setdefault("identities", {})["enabled"] = False
    path = work / "params-identities-off.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def cold_in_process(subs: Path, cache: Path, params_yaml: Path) -> tuple[Timer, list[dict]]:
    """`facedata_inprocess` on an empty cache, with dlib's models loaded again as in a new
    process (the runs before this one left them loaded)."""
    from pipeline.identities import _model
    from pipeline.landmarks import _predictor

    _predictor.cache_clear()
    _model.cache_clear()
    shutil.rmtree(cache, ignore_errors=True)
    return facedata_inprocess(subs, cache, params_yaml)


def fresh_class(work: Path, n: int) -> Path:
    """`work` emptied, then `work`/submissions made by make_class; returns that folder."""
    shutil.rmtree(work, ignore_errors=True)
    subs = work / "submissions"
    print(f"making {n} photos of {SIZE[0]}×{SIZE[1]} in {subs} ...", flush=True)
    make_class(subs, n)
    return subs


class Timer:
    """Wall-clock and CPU seconds (this process's threads and the children it waited for) of
    the code inside `with`. On a machine shared with other jobs the wall clock of torch code
    suffers far more than its CPU time, so both are printed."""

    def __enter__(self) -> Timer:
        self.start = (time.perf_counter(), _cpu())
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.start[0]
        self.cpu = _cpu() - self.start[1]


def _cpu() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def naive(photos: list[Path]) -> Timer:
    from facenet_pytorch import MTCNN

    mtcnn = MTCNN(keep_all=True, device="cpu")
    with Timer() as t:
        for p in photos:
            img = Image.open(p).convert("RGB")
            mtcnn.detect(img, landmarks=True)
    return t


def facedata_inprocess(subs: Path, cache: Path, params_yaml: Path) -> tuple[Timer, list[dict]]:
    """ingest + validate as `facedata validate` runs them, timed inside one process."""
    from pipeline.attributes import load_vocabulary
    from pipeline.config import load_params
    from pipeline.ingest import ingest
    from pipeline.validate import validate

    params = load_params(params_yaml)
    vocab = load_vocabulary(ROOT / "schemas" / "attributes.yaml")
    with Timer() as t:
        manifest = ingest(subs, params.ingest)
        result = validate(subs, manifest, params.validate, vocab, cache)
    return t, [f.as_row() for f in result.findings]


def facedata_cli(subs: Path, cache: Path, params_yaml: Path) -> tuple[Timer, str]:
    exe = Path(sys.executable).with_name("facedata")
    cmd = [
        str(exe),
        "validate",
        str(subs),
        "--format",
        "json",
        "--cache-dir",
        str(cache),
        "--schema",
        str(ROOT / "schemas" / "attributes.yaml"),
        "--params",
        str(params_yaml),
    ]
    with Timer() as t:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode not in (0, 1):
        sys.exit(f"facedata failed ({out.returncode}): {out.stderr}")
    return t, out.stdout


def model_costs(photos: list[Path]) -> dict[str, float]:
    """What each model costs, on the 640 px copies the validator measures: seconds to load
    dlib's 68-point model, and per photo: MTCNN on the photo alone, on the photo and its mirror
    image (one batch), the same inside the grey border `pipeline.faces.framed` (what
    `FaceAnalyzer.analyse` runs), and the symmetric 68-point fit of the main face
    (`pipeline.landmarks.dense_landmarks`)."""
    import numpy as np

    from pipeline.config import load_params
    from pipeline.faces import FaceAnalyzer, border, framed
    from pipeline.images import decode
    from pipeline.landmarks import _predictor, dense_landmarks

    params = load_params(ROOT / "params.yaml").validate
    _predictor.cache_clear()
    start = time.perf_counter()
    _predictor()
    load = time.perf_counter() - start
    analyzer = FaceAnalyzer(params.detect)
    pixels = [np.asarray(decode(p.read_bytes(), max_pixels=params.max_pixels,
                                long_side=params.detect.long_side).image) for p in photos]
    analyzer.mtcnn.detect(pixels[0][None])  # warm-up: the first call sets up torch
    start = time.perf_counter()
    found = [analyzer.mtcnn.detect(px[None])[0][0] for px in pixels]
    single = time.perf_counter() - start
    start = time.perf_counter()
    for px in pixels:
        analyzer.mtcnn.detect(np.stack([px, np.ascontiguousarray(px[:, ::-1])]))
    pair = time.perf_counter() - start
    start = time.perf_counter()
    for px in pixels:
        inside = framed(px, border(px.shape))
        analyzer.mtcnn.detect(np.stack([inside, np.ascontiguousarray(inside[:, ::-1])]))
    bordered = time.perf_counter() - start
    faces = [(px, boxes[0]) for px, boxes in zip(pixels, found, strict=True) if boxes is not None]
    start = time.perf_counter()
    for px, box in faces:
        dense_landmarks(px, box)
    fit = time.perf_counter() - start
    n = len(pixels)
    return {"dlib load": load, "MTCNN photo": single / n, "MTCNN photo + mirror": pair / n,
            "MTCNN both, in the border": bordered / n, "68-point fit": fit / max(len(faces), 1)}


def print_table(title: str, rows: list[tuple[str, int, Timer]]) -> None:
    """One row per method: photos, seconds, rate, and the rate against the first row's (the
    naive loop), by the wall clock and by CPU time."""
    _, naive_n, naive_t = rows[0]
    print(f"{title:40s} {'photos':>6s} {'seconds':>8s} {'img/s':>7s} {'vs naive':>9s} "
          f"{'CPU s':>8s} {'vs naive':>9s}")
    for name, n, t in rows:
        print(f"{name:40s} {n:6d} {t.wall:8.2f} {n / t.wall:7.2f} "
              f"{n / t.wall / (naive_n / naive_t.wall):8.1f}× {t.cpu:8.2f} "
              f"{n / t.cpu / (naive_n / naive_t.cpu):8.1f}×")


def main() -> None:
    # torch is imported here, not at the top: face recognition's worker processes are spawned
    # and import this file as their main module, as they import the light `facedata` script
    # in a real run; a top-level torch would add its import to every worker's start.
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=40)
    ap.add_argument("--naive", type=int, default=6, help="photos timed the naive way")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/facedata-bench"))
    ap.add_argument("--params", type=Path, default=ROOT / "params.yaml",
                    help="settings (e.g. a copy with validate.identities.enabled: false)")
    ap.add_argument("--calibration", type=Path, default=CALIBRATION,
                    help="the labelled calibration set, source of the photos that pass")
    args = ap.parse_args()

    work = args.workdir
    subs, cache = fresh_class(work, args.photos), work / "cache"
    load_before = os.getloadavg()[0]
    photos = sorted(subs.rglob("*.jpg"))

    t_naive = naive(photos[: args.naive])
    t_cold, cold = facedata_inprocess(subs, cache, args.params)
    t_warm, warm = facedata_inprocess(subs, cache, args.params)
    shutil.rmtree(cache)
    t_cli_cold, cli_cold = facedata_cli(subs, cache, args.params)
    t_cli_warm, cli_warm = facedata_cli(subs, cache, args.params)
    # the CLI's JSON adds each finding's photo verdict (docs/OUTPUTS.md): compared without it
    cli = [[{k: v for k, v in f.items() if k != "verdict"} for f in json.loads(out)["findings"]]
           for out in (cli_cold, cli_warm)]
    same = cold == warm == cli[0] == cli[1]

    rows = [
        ("naive: full-size PIL + MTCNN.detect", args.naive, t_naive),
        ("validate, cold cache (in process)", len(photos), t_cold),
        ("validate, warm cache (in process)", len(photos), t_warm),
        ("`facedata validate` CLI, cold cache", len(photos), t_cli_cold),
        ("`facedata validate` CLI, warm cache", len(photos), t_cli_warm),
    ]
    print(
        f"\nmachine: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, torch {torch.__version__}, "
        f"threads {torch.get_num_threads()}, cuda {torch.cuda.is_available()}; 1-minute load "
        f"{load_before:.2f} before the runs, {os.getloadavg()[0]:.2f} after"
    )
    print_table("method", rows)
    print(
        f"warm vs cold: {t_cold.wall / t_warm.wall:.1f}× in process, "
        f"{t_cli_cold.wall / t_cli_warm.wall:.1f}× as whole commands; identical findings in all "
        f"four runs: {same}"
    )
    print(
        "(in process: ingest + validate, imports done; CLI: the whole command, including "
        "Python start-up and imports; CPU s: the process's and its children's CPU time, which "
        "other jobs on the machine disturb less than the wall clock)"
    )
    cost = model_costs(photos)
    per_photo = t_cold.wall / len(photos)
    print(f"a cold photo in process: {per_photo * 1000:.0f} ms; dlib's 68-point model loads in "
          f"{cost['dlib load']:.2f} s once per run")
    for what in ("MTCNN photo", "MTCNN photo + mirror", "MTCNN both, in the border",
                 "68-point fit"):
        print(f"  {what:25s} {cost[what] * 1000:6.1f} ms per photo "
              f"({cost[what] / per_photo:.0%} of a cold photo)")
    print("  (the validator runs MTCNN on each photo and its mirror image in one batch, inside "
          "a grey border, and the 68-point fit twice, each on the face and its mirror image)")

    passing = work / "passing"
    sources = passing_sources(args.calibration)[: args.photos]
    print(f"\nmaking {len(sources)} distinct photos that pass, long side {LONG_SIDE} px, in "
          f"{passing} ...", flush=True)
    make_passing_class(passing, sources)
    pphotos = sorted(passing.rglob("*.jpg"))
    p_naive = naive(pphotos[: args.naive])
    p_on, on = cold_in_process(passing, work / "cache-passing", args.params)
    p_off, off = cold_in_process(passing, work / "cache-passing",
                                 identities_off(args.params, work))
    names = {(p.parent.name, p.name) for p in pphotos}
    rejected = {(f["student"], f["file"]) for f in off if f["severity"] == "error"} & names
    accepted = len(pphotos) - len(rejected)
    same = [f for f in on if f["rule"] != "identity"] == off
    print_table("method (photos that pass)",
                [("naive: full-size PIL + MTCNN.detect", args.naive, p_naive),
                 ("validate cold, identities on", len(pphotos), p_on),
                 ("validate cold, identities off", len(pphotos), p_off)])
    print(f"{accepted} of {len(pphotos)} accepted, each embedded when identities are on: "
          f"{(p_on.wall - p_off.wall) / max(accepted, 1) * 1000:.0f} ms a face of wall clock; "
          f"the same findings apart from the identity ones: {same}")


if __name__ == "__main__":
    main()
