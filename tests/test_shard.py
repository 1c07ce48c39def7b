"""The shard stage: exact round trip, split by student, byte-identical reruns, the encoding."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipeline.augment import run_augment
from pipeline.config import AugmentParams, ShardParams
from pipeline.formats.crops import INDEX_COLUMNS
from pipeline.formats.encoding import ONE_HOT, SCALAR, Encoding, make_encoding
from pipeline.formats.shards import read_samples
from pipeline.shard import ShardError, load_encoding, split_students, write_shards

ENCODING = make_encoding([
    ("eye_colour", ONE_HOT, ("brown", "black", "blue")),
    ("gender", ONE_HOT, ("female", "male", "other")),
    ("age", SCALAR, (1, 100)),
    ("identification_mark", "text", ()),
])
EYES = ["brown", "black", "blue"]


def make_crops(root: Path, students: list[str], per_student: int) -> Path:
    """A crops folder as the crop stage leaves it, with attribute columns in index.csv."""
    rng = np.random.default_rng(1)
    rows = []
    for s, student in enumerate(students):
        (root / student).mkdir(parents=True)
        for i in range(per_student):
            rel = f"{student}/photo.{i}.png"  # a dot in the name: keys must still work
            pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / rel)
            rows.append({"student": student, "file": f"photo.{i}.jpg", "crop": rel,
                         "eye_colour": EYES[(s + i) % 3], "gender": "female",
                         "age": str(20 + s), "identification_mark": f"mole {i}"})
    with (root / "index.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, [*INDEX_COLUMNS, "eye_colour", "gender", "age",
                                     "identification_mark"])
        writer.writeheader()
        writer.writerows(rows)
    return root


STUDENTS = ["ana", "ben", "chloé", "dev", "eve"]


@pytest.fixture()
def stage(tmp_path: Path) -> dict[str, Path]:
    crops = make_crops(tmp_path / "crops", STUDENTS, 3)
    augmented = tmp_path / "augmented"
    run_augment(crops, augmented, AugmentParams(copies=1))
    return {"crops": crops, "augmented": augmented, "tmp": tmp_path}


def shards_of(out: Path, split: str) -> list[Path]:
    return sorted(out.glob(f"{split}-*.tar"))


def read_shards(paths: list[Path]):
    """(key, RGB image, json metadata) of every sample in the shards, in stored order."""
    for path in paths:
        for key, png, meta in read_samples(path):
            yield key, Image.open(io.BytesIO(png)).convert("RGB"), meta


def test_shards_round_trip_exactly(stage):
    out = stage["tmp"] / "shards"
    params = ShardParams(val_fraction=0.4, shard_size=4, seed=3)
    index = write_shards(stage["crops"], stage["augmented"], ENCODING, out, params)
    with (stage["crops"] / "index.csv").open(newline="", encoding="utf-8") as fh:
        crops = {(r["student"], r["file"]): r for r in csv.DictReader(fh)}
    with (stage["augmented"] / "index.csv").open(newline="", encoding="utf-8") as fh:
        copies = {(r["student"], r["file"], int(r["copy"])): r["path"] for r in csv.DictReader(fh)}

    seen = []
    for split in ("train", "val"):
        paths = shards_of(out, split)
        assert [p.name for p in paths] == index["splits"][split]["shards"]
        for key, image, meta in read_shards(paths):
            assert "." not in key
            row = crops[meta["student"], meta["file"]]
            if meta["copy"] == 0:
                source = stage["crops"] / row["crop"]
            else:
                source = stage["augmented"] / copies[meta["student"], meta["file"], meta["copy"]]
            assert np.array_equal(np.asarray(image), np.asarray(Image.open(source).convert("RGB")))
            attrs = {c: row[c] for c in ("eye_colour", "gender", "age", "identification_mark")}
            assert meta["attributes"] == attrs
            assert meta["condition"] == ENCODING.encode(attrs)
            seen.append((split, meta["student"], meta["file"], meta["copy"]))
    assert len(seen) == len(set(seen))
    originals = [s for s in seen if s[3] == 0]
    assert len(originals) == len(crops)  # every crop exactly once
    assert {s[0] for s in seen if s[3] != 0} == {"train"}  # augmented copies only train
    for split in ("train", "val"):
        n = sum(1 for s in seen if s[0] == split)
        assert index["splits"][split]["samples"] == n
        assert len(index["splits"][split]["shards"]) == math.ceil(n / params.shard_size)
    assert json.loads((out / "index.json").read_text(encoding="utf-8")) == index
    stored = json.loads((out / "encoding.json").read_text(encoding="utf-8"))
    assert stored == ENCODING.to_json() and Encoding.from_json(stored) == ENCODING


def test_no_student_in_both_splits(stage):
    out = stage["tmp"] / "shards"
    index = write_shards(stage["crops"], stage["augmented"], ENCODING, out,
                         ShardParams(val_fraction=0.4, shard_size=5, seed=0))
    students = {split: {m["student"] for _, _, m in read_shards(shards_of(out, split))}
                for split in ("train", "val")}
    assert students["train"] and students["val"]
    assert not students["train"] & students["val"]
    assert students["train"] | students["val"] == set(STUDENTS)
    assert sorted(students["val"]) == index["splits"]["val"]["students"]
    assert len(students["val"]) == 2  # 0.4 of 5


def test_same_seed_same_bytes_other_seed_other_shards(stage):
    params = ShardParams(val_fraction=0.2, shard_size=6, seed=0)
    outs = []
    for name, p in [("a", params), ("b", params), ("c", dataclasses.replace(params, seed=1))]:
        write_shards(stage["crops"], stage["augmented"], ENCODING, stage["tmp"] / name, p)
        outs.append({f.name: f.read_bytes() for f in sorted((stage["tmp"] / name).iterdir())})
    assert outs[0] == outs[1]
    assert outs[0]["train-000000.tar"] != outs[2]["train-000000.tar"]


def test_tiny_classes_keep_train_non_empty(tmp_path):
    crops = make_crops(tmp_path / "crops", ["solo"], 2)
    empty = tmp_path / "augmented"
    run_augment(crops, empty, AugmentParams(copies=0))
    index = write_shards(crops, empty, ENCODING, tmp_path / "shards", ShardParams(val_fraction=0.5))
    assert index["splits"]["train"]["students"] == ["solo"]
    assert index["splits"]["val"] == {"samples": 0, "originals": 0, "augmented": 0,
                                      "students": [], "shards": [], "bytes": 0}
    assert "val is empty" in index["note"]
    assert split_students(["a", "b"], 0.2, 0)["val"] != []  # 0.2 of 2 rounds to 0: one anyway
    assert split_students(["a", "b"], 0.0, 0)["val"] == []
    assert split_students([], 0.2, 0) == {"train": [], "val": []}


def test_split_depends_on_seed_and_student_only():
    students = [f"s{i:02d}" for i in range(20)]
    split = split_students(students, 0.25, 5)
    assert len(split["val"]) == 5
    assert split_students(students[::-1], 0.25, 5) == split
    assert split_students(students, 0.25, 6) != split


def test_encoding_layout():
    assert [(b.column, b.offset, b.width) for b in ENCODING.blocks] == [
        ("eye_colour", 0, 3), ("gender", 3, 3), ("age", 6, 1)]
    assert ENCODING.left_out == ("identification_mark",)
    vector = ENCODING.encode({"eye_colour": " Blue", "gender": "male", "age": "100"})
    assert vector == [0, 0, 1, 0, 1, 0, 1.0]
    assert ENCODING.encode({"eye_colour": "violet", "gender": "female", "age": "1"}) == [
        0, 0, 0, 1, 0, 0, 0.0]
    assert not ENCODING.known({"eye_colour": "violet", "gender": "female", "age": "1"})


def test_encoding_from_a_vocabulary_file(tmp_path):
    vocab = tmp_path / "attributes.yaml"
    vocab.write_text(
        "columns:\n"
        "  eye_colour: {kind: choice, values: [Brown, black, blue]}\n"
        "  gender: {kind: choice, values: [female, male, other]}\n"
        "  age: {kind: integer, min: 1, max: 100}\n"
        "  identification_mark: {kind: text, max_length: 100}\n", encoding="utf-8")
    assert load_encoding(vocab) == ENCODING
    vocab.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(ShardError, match="expected a mapping `columns:`"):
        load_encoding(vocab)


SCHEMA = Path(__file__).resolve().parents[1] / "schemas" / "attributes.yaml"


def test_encoding_of_the_project_vocabulary():
    encoding = load_encoding(SCHEMA)
    assert encoding.left_out == ("identification_mark",)
    assert len(encoding.blocks) == 16
    age = next(b for b in encoding.blocks if b.column == "age")
    assert age.kind == SCALAR and age.width == 1
    assert all(b.kind == ONE_HOT and b.width >= 2 for b in encoding.blocks if b is not age)
