"""The crop stage on real photos: landmarks from the real MTCNN, crops re-detected to check them."""

from __future__ import annotations

import csv
import io
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest
from facenet_pytorch import MTCNN
from PIL import Image, ImageOps

from pipeline.config import CropParams
from pipeline.crop import crop_photo, face_quad, run_crop
from pipeline.formats.accepted import LANDMARKS
from pipeline.formats.crops import read_crops_index

FACES = Path(__file__).parent / "data" / "faces"
MAX_PIXELS = 100_000_000
ATTRIBUTES = {"eye_colour": "brown", "age": "30", "identification_mark": "none"}


@pytest.fixture(scope="module")
def mtcnn() -> MTCNN:
    return MTCNN(device="cpu", keep_all=True)


def detect(mtcnn: MTCNN, image: Image.Image) -> tuple[list[float], float, np.ndarray]:
    """Box, probability and 5 landmarks of the most likely face, in `image`'s pixels."""
    shrink = min(1.0, 640 / max(image.size))
    small = image.resize((round(image.width * shrink), round(image.height * shrink)),
                         Image.Resampling.LANCZOS) if shrink < 1 else image
    boxes, probs, points = mtcnn.detect(small, landmarks=True)
    assert boxes is not None, "MTCNN found no face"
    best = int(np.argmax(probs))
    box = [float(v) / shrink for v in boxes[best]]
    return box, float(probs[best]), np.asarray(points[best], dtype=np.float64) / shrink


def eye_tilt(landmarks: np.ndarray) -> float:
    (lx, ly), (rx, ry) = landmarks[0], landmarks[1]
    return math.degrees(math.atan2(ry - ly, rx - lx))


def jpeg(image: Image.Image, exif: Image.Exif | None = None) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=92, **({"exif": exif} if exif is not None else {}))
    return buf.getvalue()


def accepted_row(mtcnn: MTCNN, student: str, file: str, source: str, member: str,
                 data: bytes) -> dict[str, object]:
    """One accepted.csv row, with landmarks detected on the photo as it is meant to be seen."""
    oriented = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    box, prob, lm = detect(mtcnn, oriented)
    row: dict[str, object] = {"student": student, "file": file, "source": source,
                              "member": member, "width": oriented.width,
                              "height": oriented.height}
    row.update(zip(["face_x1", "face_y1", "face_x2", "face_y2"], box, strict=True))
    row["face_prob"] = prob
    for name, (x, y) in zip(LANDMARKS, lm, strict=True):
        row[f"{name}_x"], row[f"{name}_y"] = x, y
    row.update(yaw=0.0, pitch=0.0, roll=eye_tilt(lm), **ATTRIBUTES)
    return row


@pytest.fixture(scope="module")
def cropped(tmp_path_factory: pytest.TempPathFactory, mtcnn: MTCNN) -> dict[str, object]:
    """A class of three: a folder, a zip, and a folder with an EXIF-rotated photo and a bad one."""
    root = tmp_path_factory.mktemp("submissions")
    astronaut = Image.open(FACES / "astronaut_collins.jpg").convert("RGB")
    biden = Image.open(FACES / "biden_official_2013.jpg").convert("RGB")
    kate = Image.open(FACES / "kate_siegel.jpg").convert("RGB")
    tilted = biden.rotate(20, resample=Image.Resampling.BICUBIC, expand=True)
    # Stored lying on its side; EXIF orientation 6 says "rotate 90° clockwise to view".
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "PhoneMaker"
    sideways = jpeg(astronaut.transpose(Image.Transpose.ROTATE_90), exif)

    rows = []
    folder = root / "alice"
    folder.mkdir()
    for file, data in [("astronaut.jpg", jpeg(astronaut)), ("tilted.JPG", jpeg(tilted))]:
        (folder / file).write_bytes(data)
        rows.append(accepted_row(mtcnn, "alice", file, "alice", file, data))
    with zipfile.ZipFile(root / "bob.zip", "w") as zf:
        for file, data in [("biden.jpg", jpeg(biden)), ("kate.jpeg", jpeg(kate))]:
            zf.writestr(f"bob/{file}", data)
            rows.append(accepted_row(mtcnn, "bob", file, "bob.zip", f"bob/{file}", data))
    folder = root / "carol"
    folder.mkdir()
    (folder / "sideways.jpg").write_bytes(sideways)
    rows.append(accepted_row(mtcnn, "carol", "sideways.jpg", "carol", "sideways.jpg", sideways))
    # Validated once, damaged since: the crop stage must say so and go on.
    good = jpeg(kate)
    (folder / "cut.jpg").write_bytes(good[: len(good) // 2])
    rows.append(accepted_row(mtcnn, "carol", "cut.jpg", "carol", "cut.jpg", good))
    rows.append({**rows[-1], "file": "gone.jpg", "member": "gone.jpg"})

    accepted = root.parent / "accepted.csv"
    with accepted.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    out = root.parent / "processed" / "crops"
    summary = run_crop(accepted, root, out, CropParams(size=256, sheet_count=4), MAX_PIXELS)
    return {"root": root, "out": out, "summary": summary, "input": {r["file"]: r for r in rows}}


def redetect(mtcnn: MTCNN, path: Path) -> np.ndarray:
    return detect(mtcnn, Image.open(path).convert("RGB"))[2]


def test_rotated_portrait_comes_out_level(cropped, mtcnn):
    assert abs(cropped["input"]["tilted.JPG"]["roll"]) > 10  # the input really is tilted
    lm = redetect(mtcnn, cropped["out"] / "alice" / "tilted.png")
    assert abs(eye_tilt(lm)) < 4.0


def test_exif_rotated_photo_comes_out_upright_without_exif(cropped, mtcnn):
    path = cropped["out"] / "carol" / "sideways.png"
    with Image.open(path) as im:
        assert im.format == "PNG" and im.mode == "RGB" and im.size == (256, 256)
        assert len(im.getexif()) == 0 and "exif" not in im.info
    lm = redetect(mtcnn, path)
    assert abs(eye_tilt(lm)) < 4.0
    assert lm[3][1] > lm[0][1]  # mouth below the eyes: upright, not upside down


def test_eyes_land_at_the_same_place_across_photos(cropped, mtcnn):
    eyes = np.stack([redetect(mtcnn, cropped["out"] / rel)[:2] for rel in
                     ("alice/astronaut.png", "bob/biden.png", "bob/kate.png")])
    spread = eyes.max(axis=0) - eyes.min(axis=0)  # per eye, per axis, in pixels at 256
    assert spread.max() < 5.0, eyes


def test_index_failures_and_sheet(cropped):
    out, summary = cropped["out"], cropped["summary"]
    index = read_crops_index(out)
    assert [(r["student"], r["crop"]) for r in index] == [
        ("alice", "alice/astronaut.png"), ("alice", "alice/tilted.png"),
        ("bob", "bob/biden.png"), ("bob", "bob/kate.png"), ("carol", "carol/sideways.png")]
    assert all(r["eye_colour"] == "brown" and r["age"] == "30" for r in index)
    assert "face_x1" not in index[0] and "left_eye_x" not in index[0]
    with (out / "failures.csv").open(newline="", encoding="utf-8") as fh:
        failures = {r["file"]: r["error"] for r in csv.DictReader(fh)}
    assert set(failures) == {"cut.jpg", "gone.jpg"}
    assert "does not decode to the end" in failures["cut.jpg"]
    assert "gone.jpg" in failures["gone.jpg"] and "not found" in failures["gone.jpg"]
    assert summary["crops"] == 5 and summary["failed"] == 2 and summary["photos"] == 7
    with Image.open(out / "contact_sheet.png") as sheet:
        assert sheet.size == (2 * 128, 2 * 128)  # sheet_count=4 thumbnails
    assert sorted(p.name for p in out.parent.iterdir()) == ["crops"]  # no temp folder left


def test_rerun_replaces_the_output(cropped, tmp_path):
    out = tmp_path / "crops"
    (out / "stale").mkdir(parents=True)
    accepted = tmp_path / "accepted.csv"
    rows = [cropped["input"]["astronaut.jpg"]]
    with accepted.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    run_crop(accepted, cropped["root"], out, CropParams(size=64, sheet_count=1), MAX_PIXELS)
    assert not (out / "stale").exists()
    with Image.open(out / "alice" / "astronaut.png") as im:
        assert im.size == (64, 64)


def test_outputs_do_not_depend_on_the_number_of_threads(cropped, tmp_path):
    accepted = cropped["root"].parent / "accepted.csv"
    outputs = []
    for workers in (1, 4):
        out = tmp_path / f"crops-{workers}"
        run_crop(accepted, cropped["root"], out, CropParams(size=64, sheet_count=4), MAX_PIXELS,
                 workers=workers)
        outputs.append({p.relative_to(out).as_posix(): p.read_bytes()
                        for p in sorted(out.rglob("*")) if p.is_file()})
    assert outputs[0] == outputs[1]
    assert {"index.csv", "failures.csv", "contact_sheet.png", "bob/kate.png"} <= set(outputs[0])
    assert b"cut.jpg" in outputs[0]["failures.csv"]


def test_reduced_decode_matches_full_decode():
    photo = (FACES / "kate_siegel.jpg").read_bytes()
    # Plausible landmarks for this photo (left eye, right eye, nose, mouth corners).
    lm = np.array([[440, 690], [680, 690], [560, 820], [460, 930], [660, 930]], dtype=float)
    reduced = crop_photo(photo, lm, 128, MAX_PIXELS, long_side=1612)
    full = crop_photo(photo, lm, 128, MAX_PIXELS, long_side=None)
    diff = np.abs(np.asarray(reduced, dtype=float) - np.asarray(full, dtype=float))
    assert diff.mean() < 3.0


def test_quad_leaving_the_photo_is_mirrored_not_black():
    # A bright photo with a face-sized landmark set in its corner: most of the quad lies outside.
    rng = np.random.default_rng(0)
    pixels = (180 + rng.integers(-20, 20, (300, 300, 3))).clip(0, 255).astype(np.uint8)
    data = jpeg(Image.fromarray(pixels))
    lm = np.array([[20, 20], [80, 20], [50, 50], [25, 85], [75, 85]], dtype=float)
    quad = face_quad(lm)
    assert (quad.center - np.abs(quad.x) - np.abs(quad.y) < 0).all()  # quad leaves the photo
    crop = np.asarray(crop_photo(data, lm, 64, MAX_PIXELS, long_side=300))
    assert crop.min() > 100
