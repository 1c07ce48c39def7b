"""The augment stage: reproducible from its seed, independent of order, no black borders."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline.augment import Recipe, apply_recipe, copy_seed, draw_recipe, run_augment
from pipeline.config import AugmentParams
from pipeline.formats.crops import INDEX_COLUMNS

STRONG = AugmentParams(seed=7, copies=2, flip_p=0.5, rotate_deg=3.0, rotate_p=1.0, scale=0.05,
                       scale_p=1.0, jitter_p=1.0)


def textured(seed: int, size: int = 64) -> Image.Image:
    """A picture with structure in every direction, so that every alteration shows."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    base = np.stack([x * 3, y * 3, (x + y) * 2], axis=-1) + rng.integers(0, 40, (size, size, 3))
    return Image.fromarray(base.clip(0, 255).astype(np.uint8))


def make_crops(root: Path, items: list[tuple[str, str]]) -> Path:
    """A crops folder as the crop stage leaves it: PNGs and index.csv."""
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (student, file) in enumerate(items):
        rel = f"{student}/{Path(file).stem}.png"
        (root / student).mkdir(exist_ok=True)
        textured(i).save(root / rel)
        rows.append({"student": student, "file": file, "crop": rel})
    write_index(root, rows)
    return root


def write_index(root: Path, rows: list[dict[str, str]]) -> None:
    with (root / "index.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, INDEX_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


ITEMS = [("alice", "a1.jpg"), ("alice", "a2.jpg"), ("bob", "b1.jpeg")]


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    crops = make_crops(tmp_path / "crops", ITEMS)
    run_augment(crops, tmp_path / "one", STRONG)
    run_augment(crops, tmp_path / "two", STRONG)
    run_augment(crops, tmp_path / "three", dataclasses.replace(STRONG, seed=8))
    one, two, three = files(tmp_path / "one"), files(tmp_path / "two"), files(tmp_path / "three")
    assert len([n for n in one if n.endswith(".png")]) == len(ITEMS) * STRONG.copies
    assert one == two
    assert one.keys() == three.keys()
    pngs = [n for n in one if n.endswith(".png")]
    assert all(one[n] != three[n] for n in pngs)


def test_a_copy_does_not_depend_on_the_other_photos(tmp_path):
    crops = make_crops(tmp_path / "crops", ITEMS)
    run_augment(crops, tmp_path / "all", STRONG)
    with (crops / "index.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    write_index(crops, rows[::-1][:2])  # other order, one photo fewer
    run_augment(crops, tmp_path / "some", STRONG)
    everything, some = files(tmp_path / "all"), files(tmp_path / "some")
    pngs = [n for n in some if n.endswith(".png")]
    assert len(pngs) == 2 * STRONG.copies
    assert all(some[n] == everything[n] for n in pngs)


def test_zero_copies_writes_an_empty_output(tmp_path):
    crops = make_crops(tmp_path / "crops", ITEMS)
    out = tmp_path / "augmented"
    (out / "old").mkdir(parents=True)
    summary = run_augment(crops, out, dataclasses.replace(STRONG, copies=0))
    assert summary["copies"] == 0
    assert [p.name for p in out.iterdir()] == ["index.csv"]
    with (out / "index.csv").open(newline="", encoding="utf-8") as fh:
        assert list(csv.DictReader(fh)) == []


def test_rotation_and_zoom_out_leave_no_black_border():
    bright = Image.new("RGB", (64, 64), (200, 180, 160))
    out = np.asarray(apply_recipe(bright, Recipe(angle=3.0, scale=0.95)))
    assert out.shape == (64, 64, 3) and out.min() > 150


def test_flip_mirrors_and_neutral_recipe_changes_nothing():
    image = textured(0)
    flipped = apply_recipe(image, Recipe(flip=True))
    assert np.array_equal(np.asarray(flipped), np.asarray(image)[:, ::-1])
    assert np.array_equal(np.asarray(apply_recipe(image, Recipe())), np.asarray(image))


def test_defaults_keep_faces_level_and_honour_probabilities():
    params = AugmentParams()
    recipes = [draw_recipe(params, copy_seed(0, "s", f"{i}.jpg", 1)) for i in range(2000)]
    assert max(abs(r.angle) for r in recipes) <= params.rotate_deg <= 5.0
    assert abs(np.mean([r.flip for r in recipes]) - params.flip_p) < 0.05
    assert abs(np.mean([r.angle != 0 for r in recipes]) - params.rotate_p) < 0.05
    assert all(1 - params.scale <= r.scale <= 1 + params.scale for r in recipes)
