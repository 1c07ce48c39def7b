"""The measurements behind docs/RULES.md: the face rules on real photos, on copies made from the
good ones (blur, light, framing), the blur series over every good photo, and the colour measure
of `grayscale` on desaturated and toned copies, as markdown tables.

    python bench/face_rules_table.py [CALIBRATION_FOLDER]

Every picture goes the validator's way: saved as JPEG (quality 95) and measured by
`pipeline.measure.measure_photos` (the decode `pipeline.images.decode(long_side=640)`, MTCNN,
dlib's 68 points), then `judge_photo` with the limits of params.yaml. The blur series also runs
over the good photos of the calibration set (labelled pass or only too_small, not ambiguous),
read from CALIBRATION_FOLDER (default ../shared/fixtures/calibration); without it, only over
tests/data/faces.
"""

from __future__ import annotations

import csv
import hashlib
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from pipeline.config import load_params
from pipeline.images import read_header, sniff_format
from pipeline.measure import MeasureCache, Photo, PhotoFile, measure_photos
from pipeline.rules import judge_photo
from pipeline.rules.face import away_from_camera

ROOT = Path(__file__).resolve().parents[1]
FACES = ROOT / "tests" / "data" / "faces"
FACE_RULES = {"no_face", "multiple_faces", "not_frontal", "face_too_small", "face_cut_off",
              "blurry", "exposure", "expression"}
REAL = ["paul_rudd", "openface_adams", "openface_carell", "biden_official_2013", "angelina_jolie",
        "kate_siegel", "astronaut_collins", "multiface", "cameraman_gray", "cat_chelsea",
        "coffee_no_face"]
GOOD = ["paul_rudd", "openface_adams", "openface_carell", "biden_official_2013", "angelina_jolie"]
BLUR_STEPS = (0.0, 0.01, 0.02, 0.025, 0.03, 0.04)  # Gaussian sigma, eye distances
VP = load_params(ROOT / "params.yaml").validate


def load(path: Path) -> Image.Image:
    im = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    if max(im.size) > 1000:
        im.thumbnail((1000, 1000), Image.Resampling.LANCZOS)
    return im


def measure(images: dict[str, Image.Image]) -> dict[str, Photo]:
    files = []
    for name, im in images.items():
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=95)
        data = buf.getvalue()
        header = read_header(data)
        files.append(PhotoFile("s", name, hashlib.sha256(data).hexdigest(), len(data),
                               sniff_format(data), header.width, header.height,
                               lambda data=data: data))
    return {ph.file: ph for ph in measure_photos(files, VP, MeasureCache(None, VP))}


def verdict(ph: Photo) -> str:
    fs = [f for f in judge_photo(ph, VP) if f.rule in FACE_RULES]
    marked = [f.rule + ("(w)" if f.severity.value == "warning" else "") for f in fs]
    return ", ".join(marked) or "pass"


def number(v: float | None, fmt: str) -> str:
    return "–" if v is None else format(v, fmt)


HEAD = ("| photo | faces | yaw | pitch | roll | turn | head/H | head/W | outline | edge width | "
        "brightness | clipped | cheeks | smile | open | eyes | brows | face findings |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")


def row(tag: str, ph: Photo) -> str:
    face = ph.main_face
    if face is None:
        return f"| {tag} | 0 |" + " |" * 15 + f" {verdict(ph)} |"
    q = ph.faces.quality
    p = face.pose
    return (f"| {tag} | {len(ph.faces.faces)} | {p.yaw:+.1f} | {p.pitch:+.1f} | {p.roll:+.1f} | "
            f"{away_from_camera(p):.1f} | {q.head_length / ph.height:.2f} | "
            f"{q.head_length / ph.width:.2f} | {q.outline_margin:+.2f} | "
            f"{number(q.edge_width, '.4f')} | {q.brightness:.0f} | "
            f"{max(q.clipped_dark, q.clipped_bright):.3f} | {number(q.cheek_ratio, '.2f')} | "
            f"{number(q.smile, '+.1f')} | {number(q.mouth_open, '.2f')} | "
            f"{number(q.eyes_open, '.2f')} | {number(q.brows, '.2f')} | {verdict(ph)} |")


def eye_distance(ph: Photo) -> float:
    (x1, y1), (x2, y2) = ph.main_face.landmarks[:2]
    return float(np.hypot(x2 - x1, y2 - y1))


def copies(name: str, im: Image.Image, ph: Photo) -> dict[str, Image.Image]:
    face = ph.main_face
    x1, y1, x2, y2 = face.box
    W, H = im.size
    E = eye_distance(ph)
    arr = np.asarray(im, dtype=np.float32)
    xs = np.arange(W, dtype=np.float32)
    out = {f"{name} blur σ={k:g}E": im.filter(ImageFilter.GaussianBlur(k * E))
           for k in (0.02, 0.03, 0.04)}
    for towards, t in (("right", (xs - x1) / (x2 - x1)), ("left", (x2 - xs) / (x2 - x1))):
        light = np.clip(1 - 0.8 * t, 0.2, 1.0)[None, :, None]
        out[f"{name} side light 1→0.2 falling {towards}"] = Image.fromarray(
            (arr * light).astype(np.uint8))
    out.update({
        f"{name} dark ×0.5": Image.fromarray((arr * 0.5).astype(np.uint8)),
        f"{name} dark ×0.2": Image.fromarray((arr * 0.2).astype(np.uint8)),
        f"{name} dark ×0.04": Image.fromarray((arr * 0.04).astype(np.uint8)),
        f"{name} bright ×1.6": Image.fromarray(np.clip(arr * 1.6, 0, 255).astype(np.uint8)),
        f"{name} washed out": Image.fromarray((255 - (255 - arr) * 0.3).astype(np.uint8)),
        f"{name} rotated 15°": im.rotate(15, resample=Image.Resampling.BICUBIC, expand=True),
        f"{name} rotated 30°": im.rotate(30, resample=Image.Resampling.BICUBIC, expand=True),
        f"{name} mirrored": im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        f"{name} top 30% of box cut": im.crop((0, round(y1 + 0.3 * (y2 - y1)), W, H)),
        f"{name} left 30% of box cut": im.crop((round(x1 + 0.3 * (x2 - x1)), 0, W, H)),
    })
    wide = Image.new("RGB", (W * 4, H), (120, 120, 120))
    wide.paste(im, (W * 2, 0))
    out[f"{name} in a 4× wide panorama"] = wide
    k = 0.10 * H / (y2 - y1)
    small = im.resize((round(W * k), round(H * k)), Image.Resampling.LANCZOS)
    frame = Image.new("RGB", (W, H), (120, 120, 120))
    frame.paste(small, ((W - small.width) // 2, (H - small.height) // 2))
    out[f"{name} face 10% of height"] = frame
    return out


def calibration(folder: Path, wanted) -> dict[str, Image.Image]:
    """The calibration photos not labelled ambiguous whose set of labels `wanted` accepts."""
    labels = folder / "labels.csv"
    if not labels.is_file():
        return {}
    with labels.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return {f"calibration/{r['file']}": load(folder / r["file"]) for r in rows
            if r["ambiguous"] != "true" and wanted(set(r["expected"].split("|")))}


def blur_series(images: dict[str, Image.Image], photos: dict[str, Photo]) -> None:
    series = {}
    for name, im in images.items():
        ph = photos[name]
        if ph.main_face is None:
            continue
        E = eye_distance(ph)
        for k in BLUR_STEPS[1:]:
            series[f"{name} {k}"] = im.filter(ImageFilter.GaussianBlur(k * E))
    blurred = measure(series)
    print("| photo | " + " | ".join(f"σ = {k:g} E" for k in BLUR_STEPS) + " |")
    print("|---|" + "---:|" * len(BLUR_STEPS))
    table = {}
    for name in images:
        if photos[name].main_face is None:
            continue
        widths = [photos[name].faces.quality.edge_width] + [
            blurred[f"{name} {k}"].faces.quality.edge_width
            if blurred[f"{name} {k}"].faces is not None and blurred[f"{name} {k}"].main_face
            else None for k in BLUR_STEPS[1:]]
        table[name] = widths
        print(f"| {name} | " + " | ".join(number(w, ".4f") for w in widths) + " |")
    limit = VP.max_edge_width
    for i, k in enumerate(BLUR_STEPS):
        column = [w[i] for w in table.values() if w[i] is not None]
        fails = sum(v > limit for v in column)
        print(f"\nσ = {k:g} E: widest {max(column):.4f}, narrowest {min(column):.4f}; "
              f"{fails} of {len(column)} over the limit {limit:g}", end="")
    print()


def blur_metrics_compared(good: dict[str, Image.Image], bad: dict[str, Image.Image]) -> None:
    """The edge width against scikit-image's blur_effect (Crete et al. 2007) on the same face
    region (brows to jaw at 32 px per eye distance), on good and on visibly blurred photos."""
    from skimage.measure import blur_effect

    from pipeline.faces import BLUR_EYE_PIXELS, FaceAnalyzer, _resampled, edge_width
    from pipeline.images import decode
    from pipeline.landmarks import dense_landmarks, face_frame

    analyzer = FaceAnalyzer(VP.detect)
    values: dict[str, list[tuple[float, float]]] = {"good": [], "labelled blurry": []}
    for kind, images in (("good", good), ("labelled blurry", bad)):
        for im in images.values():
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=95)
            pixels = np.asarray(decode(buf.getvalue(), max_pixels=VP.max_pixels,
                                       long_side=VP.detect.long_side).image)
            boxes, _ = analyzer.mtcnn.detect(pixels)
            if boxes is None:
                continue
            dense = dense_landmarks(pixels, boxes[0])
            _, eye = face_frame(dense)
            gray = np.asarray(Image.fromarray(pixels).convert("L"))
            region = _resampled(gray, dense[np.r_[1:16, 17:27]], eye, BLUR_EYE_PIXELS)
            values[kind].append((edge_width(region) / BLUR_EYE_PIXELS, blur_effect(region)))
    print("| photos | n | edge width | blur_effect |\n|---|---:|---|---|")
    for kind, v in values.items():
        a = np.array(v)
        print(f"| {kind} | {len(a)} | {a[:, 0].min():.4f}–{a[:, 0].max():.4f} | "
              f"{a[:, 1].min():.2f}–{a[:, 1].max():.2f} |")


def toned(im: Image.Image, tint: tuple[float, float, float]) -> Image.Image:
    grey = np.asarray(ImageOps.grayscale(im), dtype=np.float64)
    return Image.fromarray(np.clip(np.stack([grey * t for t in tint], axis=2), 0, 255)
                           .astype(np.uint8))


def colour_series(images: dict[str, Image.Image]) -> None:
    """`pipeline.measure.colourfulness` (the `grayscale` rule's measure) of each photo, of copies
    with a part of its saturation left, in grey, and toned sepia and cold, saved as JPEGs."""
    from PIL import ImageEnhance

    made = {}
    for name, im in images.items():
        made[f"{name}"] = im
        for k in (0.5, 0.3, 0.2, 0.1):
            made[f"{name} {k:.0%}"] = ImageEnhance.Color(im).enhance(k)
        made[f"{name} grey"] = ImageOps.grayscale(im).convert("RGB")
        made[f"{name} sepia"] = toned(im, (1.0, 0.85, 0.65))
        made[f"{name} cold"] = toned(im, (0.85, 0.95, 1.0))
    photos = measure(made)
    print("| photo | original | saturation 50 % | 30 % | 20 % | 10 % | grey | sepia-toned grey | "
          "cold-toned grey |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in images:
        tags = [name] + [f"{name} {k:.0%}" for k in (0.5, 0.3, 0.2, 0.1)] + [
            f"{name} {t}" for t in ("grey", "sepia", "cold")]
        print(f"| {name} | " + " | ".join(f"{photos[t].chroma:.2f}" for t in tags) + " |")


def main() -> None:
    folder = (Path(sys.argv[1]) if len(sys.argv) > 1
              else ROOT.parent / "shared" / "fixtures" / "calibration")
    real = {name: load(FACES / f"{name}.jpg") for name in REAL}
    photos = measure(real)
    print("### Real photos (tests/data/faces/)\n")
    print(HEAD)
    for name in REAL:
        print(row(name, photos[name]))
    print("\n### Copies of the good photos\n")
    print(HEAD)
    for name in GOOD[:3]:
        made = copies(name, real[name], photos[name])
        measured = measure(made)
        for tag in made:
            print(row(tag, measured[tag]))
    print("\n### Blur series over every good photo (edge width, eye distances)\n")
    goods = {name: real[name] for name in GOOD} | calibration(
        folder, lambda labels: labels <= {"pass", "too_small"})
    blur_series(goods, photos | measure({k: v for k, v in goods.items() if k not in photos}))
    print("\n### Colour beyond a tint (`grayscale`, CIELAB units)\n")
    colour_series({name: real[name] for name in REAL if name != "cameraman_gray"})
    blurred = calibration(folder, lambda labels: "blurry" in labels)
    if blurred:
        print("\n### Edge width against scikit-image's blur_effect\n")
        blur_metrics_compared(goods, blurred)


if __name__ == "__main__":
    main()
