"""Calibration behind docs/RULES.md: the face rules' measurements on real photos and degraded
copies, printed as the markdown tables that page shows.

    python bench/face_rules_table.py

Every photo goes the production way: JPEG bytes -> pipeline.images.decode(long_side=640) ->
FaceAnalyzer -> judge_photo with the defaults of params.yaml.
"""

import io
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from pipeline.config import load_params
from pipeline.faces import FaceAnalyzer
from pipeline.images import decode
from pipeline.measure import Photo
from pipeline.rules import judge_photo

FACE_RULES = [
    "no_face",
    "multiple_faces",
    "not_frontal",
    "face_too_small",
    "face_cut_off",
    "blurry",
    "exposure",
    "expression",
]
vp = load_params(Path(__file__).resolve().parents[1] / "params.yaml").validate
an = FaceAnalyzer(vp.detect)


def jpeg(im):
    b = io.BytesIO()
    im.convert("RGB").save(b, "JPEG", quality=92)
    return b.getvalue()


def measure(im):
    d = decode(jpeg(im), max_pixels=vp.max_pixels, long_side=vp.detect.long_side)
    t = time.perf_counter()
    rep = an.analyse([np.asarray(d.image)], [d.scale])[0]
    dt = time.perf_counter() - t
    ph = Photo(
        student="s",
        file="f",
        sha256="x",
        bytes=0,
        format="JPEG",
        width=im.width,
        height=im.height,
        chroma=20.0,
        phash="0",
        faces=rep,
    )
    return ph, dt


def row(tag, im):
    ph, dt = measure(im)
    fs = [f for f in judge_photo(ph, vp) if f.rule in FACE_RULES]
    verdict = (
        ", ".join(f"{f.rule}" + ("(w)" if f.severity.value == "warning" else "") for f in fs)
        or "pass"
    )
    f0 = ph.main_face
    if f0 is None:
        return f"| {tag} | 0 | | | | | | | | | | | {verdict} |"
    q = ph.faces.quality
    x1, y1, x2, y2 = f0.box
    W, H = im.size
    bw, bh = x2 - x1, y2 - y1
    margin = min(x1 / bw, (W - x2) / bw, y1 / bh, (H - y2) / bh)
    return (
        f"| {tag} | {len(ph.faces.faces)} | {f0.pose.yaw:+.1f} | {f0.pose.pitch:+.1f} | "
        f"{f0.pose.roll:+.1f} | "
        f"{bh / H:.2f} | {margin:+.2f} | {q.sharpness:.0f} | {q.brightness:.0f} | "
        f"{max(q.clipped_dark, q.clipped_bright):.3f} | {q.side_ratio:.2f} | "
        f"{q.mouth_ratio:.2f} | {verdict} |"
    )


HEAD = (
    "| photo | faces | yaw | pitch | roll | face h/H | margin | sharpness | brightness "
    "| clipped | side ratio | mouth ratio | face findings |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)
ROOT = Path(__file__).resolve().parents[1]
P = f"{ROOT}/tests/data/faces/"
paths = {
    n: P + n + ".jpg"
    for n in [
        "paul_rudd",
        "kate_siegel",
        "biden_official_2013",
        "astronaut_collins",
        "angelina_jolie",
        "multiface",
        "cameraman_gray",
        "cat_chelsea",
        "coffee_no_face",
    ]
}
shea = ROOT.parent / "shared" / "fixtures" / "faces" / "portraits" / "shea_whigham.jpg"
if shea.exists():  # the shared fixtures sit beside the checkout in this project's workplace
    paths["shea_whigham"] = str(shea)
print("### Real photos\n")
print(HEAD)
for n, p in paths.items():
    print(row(n, Image.open(p).convert("RGB")))
print("\n### Degraded copies\n")
print(HEAD)
for n in [
    m
    for m in [
        "paul_rudd",
        "kate_siegel",
        "biden_official_2013",
        "astronaut_collins",
        "shea_whigham",
    ]
    if m in paths
]:
    im = Image.open(paths[n]).convert("RGB")
    W, H = im.size
    ph, _ = measure(im)
    f = ph.main_face
    x1, y1, x2, y2 = f.box
    E = float(np.hypot(*np.subtract(f.landmarks[1], f.landmarks[0])))
    arr = np.asarray(im, dtype=np.float32)
    xs = np.arange(W, dtype=np.float32)
    light = np.clip(1 - 0.8 * (xs - x1) / (x2 - x1), 0.2, 1.0)[None, :, None]
    variants = {
        "blur σ=0.04E": im.filter(ImageFilter.GaussianBlur(0.04 * E)),
        "blur σ=0.08E": im.filter(ImageFilter.GaussianBlur(0.08 * E)),
        "blur σ=0.15E": im.filter(ImageFilter.GaussianBlur(0.15 * E)),
        "dark ×0.5": Image.fromarray((arr * 0.5).astype(np.uint8)),
        "dark ×0.2": Image.fromarray((arr * 0.2).astype(np.uint8)),
        "bright ×1.6": Image.fromarray(np.clip(arr * 1.6, 0, 255).astype(np.uint8)),
        "side light 1→0.2": Image.fromarray((arr * light).astype(np.uint8)),
        "rotated 15°": im.rotate(15, resample=Image.Resampling.BICUBIC, expand=True),
        "rotated 30°": im.rotate(30, resample=Image.Resampling.BICUBIC, expand=True),
        "mirrored": im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        "top 30% of box cut": im.crop((0, round(y1 + 0.3 * (y2 - y1)), W, H)),
        "left 30% of box cut": im.crop((round(x1 + 0.3 * (x2 - x1)), 0, W, H)),
        "left 50% of box cut": im.crop((round((x1 + x2) / 2), 0, W, H)),
    }
    k = 0.10 * H / (y2 - y1)
    small = im.resize((round(W * k), round(H * k)), Image.Resampling.LANCZOS)
    frame = Image.new("RGB", (W, H), (120, 120, 120))
    frame.paste(small, ((W - small.width) // 2, (H - small.height) // 2))
    variants["face 10% of height"] = frame
    for tag, v in variants.items():
        print(row(f"{n} {tag}", v))
