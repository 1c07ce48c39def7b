"""How well does dlib's face recognition tell people apart on this project's real photos?

dlib documents 99.38 % of LFW's pairs judged right with a same-person distance of 0.6
(dlib.net, face_recognition.py). This bench embeds every photo of the shared fixtures
(`../shared/fixtures/faces` and tests/data/faces) and of the calibration set
(`../shared/fixtures/calibration`, read by path; skipped with a message when absent) as the
validator does — the 640 px copy, MTCNN's main face, the 68-point fit, the aligned chip,
`pipeline.identities.embed` — and prints, as markdown:

1. the distance distributions of same-person and different-person pairs (min, median, max, and
   the fraction on the wrong side of the same-person distance), with the closest different pair
   against the farthest same pair. Who is who: the file names and labels name some people
   (PEOPLE below, each checked by eye); every other photo is taken as its own person, which was
   checked by looking at every pair closer than 0.5. Same-photo pairs are made from the fixture
   portraits (mirrored, re-cropped, darkened, re-compressed, halved). Different-people pairs are
   also split by the calibration labels' descriptions: both East Asian, both children;
2. what the model can still tell at a GAN's resolution, as the evaluate stage asks it: the
   crop stage's aligned crops (256 px) reduced to R px with the shards' resize and upscaled
   bilinearly to 160 px (as evaluate's detector sees generated images), against the 256 px
   crops: the crop itself, another photo of the same person, other people;
3. the cost per photo on this machine: MTCNN on the 640 px copy and its mirror image, one batch
   (the validator's detector),
   and each step of recognition: the 68-point fit and chip, dlib's network in this process and
   on one worker process per core.

    python bench/identity_separation.py [--calibration DIR] [--faces DIR] [--resolutions 32 64]
                                        [--limit 0.6]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import os
import platform
import re
import time
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from pipeline.config import ValidateParams
from pipeline.crop import crop_photo
from pipeline.faces import FaceAnalyzer, estimate_pose
from pipeline.formats.shards import to_uint8_image
from pipeline.identities import chip_of, distances, embed, embed_all
from pipeline.images import ImageError, decode

ROOT = Path(__file__).resolve().parents[1]
CALIBRATION = ROOT.parent / "shared" / "fixtures" / "calibration"
FACES = ROOT.parent / "shared" / "fixtures" / "faces"
STORED = 256  # the crop stage's default size
UPSCALED = 160  # pipeline.evaluate.DETECT_SIZE
# People the file names, the labels and a look at the photos agree on.
PEOPLE = {
    "John Lennon": ["openface_lennon-1.jpg", "openface_lennon-2.jpg"],
    "Eric Clapton": ["openface_clapton-1.jpg", "openface_clapton-2.jpg"],
    "Audrey Hepburn": ["codeformer_Hepburn01.png", "codeformer_Hepburn02.png"],
    "Robert Downey Jr.": ["insightface_d1.jpeg", "insightface_d2.jpeg", "insightface_d3.jpeg",
                          "insightface_d4.jpeg", "sam_2468.jpg"],
    "Liu Yifei": ["insightface_yifei.jpg", "insightface_open_eyes.png",
                  "insightface_close_eyes.jpeg"],
}
# John Lennon as a boy: the same person decades earlier, counted on its own.
CHILDHOOD = ("codeformer_169_John_Lennon_00.png", "John Lennon")
# One photo tiled nine times: the same photo, not another one.
SAME_PHOTO = [("facealign_aflw-test.jpg", "facealign_aflw-test-grid3x3.jpg")]
# Three photos of young women whose identity could not be told by eye: no pair among them counts.
UNSURE = {"insightface_woman_search.jpeg", "insightface_face_sample.png",
          "insightface_rgb_fake.jpg"}
CHILD = re.compile(r"\b(boy|girl|toddler|child|baby|childhood)\b", re.IGNORECASE)


@dataclass
class Face:
    name: str
    person: str
    group: set[str]  # "east asian", "child", from the calibration labels
    embedding: np.ndarray
    crop: Image.Image  # the crop stage's aligned crop, STORED px
    detect_s: float
    chip_s: float


def photos(calibration: Path, faces: Path) -> list[tuple[str, bytes, set[str]]]:
    """(name, bytes, groups) of every photo, each file content once."""
    found: dict[str, tuple[str, bytes, set[str]]] = {}
    folders = [ROOT / "tests" / "data" / "faces", faces / "portraits", faces / "group"]
    for folder in folders:
        for path in sorted(folder.glob("*.jpg")) if folder.is_dir() else []:
            data = path.read_bytes()
            found.setdefault(hashlib.sha256(data).hexdigest(), (path.name, data, set()))
    labels = calibration / "labels.csv"
    if labels.is_file():
        with labels.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                data = (calibration / row["file"]).read_bytes()
                groups = {"east asian"} if "east asian" in row["description"].lower() else set()
                if CHILD.search(row["description"]):
                    groups.add("child")
                sha = hashlib.sha256(data).hexdigest()
                found[sha] = (row["file"], data, groups | found.get(sha, ("", b"", set()))[2])
    else:
        print(f"(no calibration set at {calibration}: fixtures only)")
    return list(found.values())


def measure(items: list[tuple[str, bytes, set[str]]]) -> tuple[list[Face], float, float]:
    """Each photo's main face as validate embeds it; and the network's seconds per face in this
    process and on worker processes."""
    params = ValidateParams()
    analyzer = FaceAnalyzer(params.detect)
    person_of = {f: p for p, files in PEOPLE.items() for f in files}
    faces, chips = [], []
    for name, data, groups in items:
        try:
            d = decode(data, max_pixels=params.max_pixels, long_side=params.detect.long_side)
        except ImageError:
            continue
        pixels = np.asarray(d.image)
        start = time.perf_counter()
        analyzer.mtcnn.detect(np.stack([pixels, pixels[:, ::-1]]))  # as the validator: both ways
        detect_s = time.perf_counter() - start
        (report,) = analyzer.analyse([pixels], [d.scale])
        if not report.faces:
            continue
        start = time.perf_counter()
        chip = chip_of(pixels, [v / d.scale for v in report.faces[0].box],
                       estimate_pose(report.faces[0].landmarks).roll)
        chip_s = time.perf_counter() - start
        crop = crop_photo(data, np.array(report.faces[0].landmarks), STORED, params.max_pixels)
        chips.append(chip)
        faces.append(Face(name, person_of.get(name, name), groups, np.zeros(0), crop, detect_s,
                          chip_s))
    embed(chips[:1])  # load the model
    start = time.perf_counter()
    here = embed(chips)
    network_s = (time.perf_counter() - start) / len(chips)
    start = time.perf_counter()
    pooled = np.stack([e for _, e in embed_all(enumerate(chips), len(chips))])
    pool_s = (time.perf_counter() - start) / len(chips)
    assert np.array_equal(here, pooled), "worker processes gave other numbers"
    for f, e in zip(faces, here, strict=True):
        f.embedding = e
    return faces, network_s, pool_s


def relation(a: Face, b: Face) -> str | None:
    """What two faces are to each other: "same" person in another photo, the "boy" and the man,
    the same photo "tiled", "different" people, or None (not known: two of UNSURE)."""
    names = {a.name, b.name}
    if names <= UNSURE:
        return None
    if any(names == set(p) for p in SAME_PHOTO):
        return "tiled"
    if CHILDHOOD[0] in names and {a.person, b.person} == {CHILDHOOD[1], CHILDHOOD[0]}:
        return "boy"
    return "same" if a.person == b.person else "different"


def pairs(faces: list[Face]) -> dict[str, list[float]]:
    """Distances of every pair of faces, by kind."""
    out: dict[str, list[float]] = {k: [] for k in (
        "same person, another photo", "same person as a boy and as an adult",
        "same photo, tiled", "different people", "— both East Asian", "— both children",
        "— the rest")}
    kinds = {"same": "same person, another photo", "boy": "same person as a boy and as an adult",
             "tiled": "same photo, tiled", "different": "different people"}
    d = distances(np.stack([f.embedding for f in faces]), np.stack([f.embedding for f in faces]))
    for (i, a), (j, b) in combinations(enumerate(faces), 2):
        kind = relation(a, b)
        if kind is None:
            continue
        out[kinds[kind]].append(d[i, j])
        if kind == "different":
            group = ("— both East Asian" if "east asian" in a.group & b.group
                     else "— both children" if "child" in a.group & b.group else "— the rest")
            out[group].append(d[i, j])
    return out


def edited_copies(faces: list[Face]) -> list[float]:
    """Each fixture portrait against edited copies of itself (same photo, same person)."""
    params = ValidateParams()
    analyzer = FaceAnalyzer(params.detect)
    out = []
    for path in sorted((ROOT / "tests" / "data" / "faces").glob("*.jpg")):
        im = Image.open(path).convert("RGB")
        w, h = im.size
        versions = [im, ImageOps.mirror(im), im.crop((w // 10, h // 12, w - w // 10, h)),
                    ImageEnhance.Brightness(im).enhance(0.6), im.resize((w // 2, h // 2))]
        embeddings = []
        for k, version in enumerate(versions + [im]):
            buf = io.BytesIO()
            version.save(buf, "JPEG", quality=30 if k == len(versions) else 90)
            d = decode(buf.getvalue(), max_pixels=params.max_pixels, long_side=640)
            pixels = np.asarray(d.image)
            (report,) = analyzer.analyse([pixels], [1.0])
            if not report.faces or len(report.faces) > 1:
                break  # no face, or a group photo: not a portrait
            main = report.faces[0]
            roll = estimate_pose(main.landmarks).roll
            embeddings.append(embed([chip_of(pixels, main.box, roll)])[0])
        else:
            out += list(distances(embeddings[:1], np.stack(embeddings[1:]))[0])
    return out


def crop_embeddings(faces: list[Face], resolution: int | None) -> dict[int, np.ndarray]:
    """The embedding of each face's crop: as stored, or reduced to `resolution` with the shards'
    resize and upscaled bilinearly to UPSCALED px, as evaluate sees generated images."""
    import torch
    import torch.nn.functional as F

    analyzer = FaceAnalyzer(ValidateParams().detect)
    found = []
    for i, f in enumerate(faces):
        image = np.asarray(f.crop)
        if resolution is not None:
            t = torch.from_numpy(to_uint8_image(f.crop, resolution).copy()).permute(2, 0, 1)
            image = F.interpolate(t[None].float(), size=(UPSCALED, UPSCALED), mode="bilinear",
                                  align_corners=False).clamp(0, 255).round().to(
                torch.uint8)[0].permute(1, 2, 0).numpy()
        (report,) = analyzer.analyse([image], [1.0])
        if report.faces:
            found.append((i, chip_of(image, report.faces[0].box)))
    return dict(embed_all(found, len(found)))


def against_stored(faces: list[Face], small: dict[int, np.ndarray],
                   stored: dict[int, np.ndarray]) -> dict[str, list[float]]:
    """Distances of the `small` crops' embeddings to the `stored` crops', by kind."""
    out: dict[str, list[float]] = {"itself": [], "same person, another photo": [],
                                   "different people": []}
    kinds = {"same": "same person, another photo", "different": "different people"}
    for i, e in small.items():
        for j, ref in stored.items():
            kind = "itself" if i == j else kinds.get(relation(faces[i], faces[j]) or "")
            if kind is not None:
                out[kind].append(float(np.linalg.norm(e - ref)))
    return out


def row(name: str, values: list[float], same: bool, limit: float) -> str:
    if not values:
        return f"| {name} | 0 | – | – | – | – |"
    v = np.asarray(values)
    wrong = np.mean(v >= limit) if same else np.mean(v < limit)
    return (f"| {name} | {len(v)} | {v.min():.3f} | {np.median(v):.3f} | {v.max():.3f} | "
            f"{wrong:.1%} |")


def main() -> None:
    # torch only here and in crop_embeddings: the worker processes that embed_all spawns import
    # this file as their main module, and should start as light as under `facedata`.
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calibration", type=Path, default=CALIBRATION)
    ap.add_argument("--faces", type=Path, default=FACES)
    ap.add_argument("--resolutions", type=int, nargs="*", default=[32, 64])
    ap.add_argument("--limit", type=float, default=ValidateParams().identities.same_person_distance,
                    help="the same-person distance to judge the pairs by")
    args = ap.parse_args()
    limit = args.limit
    load = os.getloadavg()[0]
    faces, network_s, pool_s = measure(photos(args.calibration, args.faces))
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"load average {load:.2f} at the start, {os.getloadavg()[0]:.2f} after embedding")
    print(f"{len(faces)} faces; same-person distance {limit:g} (dlib: 99.38 % of LFW's pairs "
          f"right at 0.6)\n")
    print("| pairs | count | min | median | max | wrong side of the limit |")
    print("|---|---:|---:|---:|---:|---:|")
    kinds = pairs(faces)
    for name, values in kinds.items():
        print(row(name, values, not name.startswith(("different", "—")), limit))
    print(row("same photo, edited copies (mirror, crop, dark, JPEG q30, half size)",
              edited_copies(faces), True, limit))
    same = kinds["same person, another photo"]
    different = kinds["different people"]
    print(f"\nfarthest same-person pair {max(same):.3f}, closest different pair "
          f"{min(different):.3f}; pairs misjudged at {limit:g}: "
          f"{sum(d >= limit for d in same) + sum(d < limit for d in different)} of "
          f"{len(same) + len(different)}")

    print(f"\n| crop at | faces found | vs its own {STORED} px crop: median, max, over the limit | "
          "another photo of the person: median, over | other people: min, under |")
    print("|---|---:|---|---|---|")
    stored = crop_embeddings(faces, None)
    for r in [*args.resolutions, None]:
        small = stored if r is None else crop_embeddings(faces, r)
        got = against_stored(faces, small, stored)
        own, other, diff = (np.asarray(got[k]) for k in ("itself", "same person, another photo",
                                                          "different people"))
        print(f"| {r or STORED} px | {len(small)} of {len(faces)} | "
              f"{np.median(own):.3f}, {own.max():.3f}, {np.mean(own >= limit):.1%} | "
              f"{np.median(other):.3f}, {np.mean(other >= limit):.1%} | "
              f"{diff.min():.3f}, {np.mean(diff < limit):.2%} |")

    detect = np.median([f.detect_s for f in faces])
    chip = np.median([f.chip_s for f in faces])
    print("\n| step, per photo (640 px copy) | ms |")
    print("|---|---:|")
    print(f"| MTCNN on the photo and its mirror, one batch (the validator's detector) | "
          f"{1000 * detect:.1f} |")
    print(f"| recognition: 68-point fit + aligned chip | {1000 * chip:.1f} |")
    print(f"| recognition: dlib's network, this process | {1000 * network_s:.1f} |")
    print(f"| recognition: dlib's network, {os.cpu_count()} worker processes (throughput, with "
          f"their start) | {1000 * pool_s:.1f} |")


if __name__ == "__main__":
    main()
