"""The shards: what write_split writes, read_split gives back at one resolution with RESIZE."""

import json

import numpy as np
import pytest
from PIL import Image

from pipeline.formats.common import FormatError
from pipeline.formats.shards import (
    ShardSample,
    read_index,
    read_samples,
    read_split,
    to_uint8_image,
    write_index,
    write_split,
)


def crop(path, seed: int, side: int = 24):
    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def shards(tmp_path, copies=(0, 1, 0), side: int = 24):
    samples = [ShardSample(f"s{i}", f"p.{i}.jpg", copy, crop(tmp_path / f"{i}.png", i, side),
                           {"age": str(20 + i)}, [0.5 * i])
               for i, copy in enumerate(copies)]
    out = tmp_path / "shards"
    out.mkdir()
    entry = write_split(out, "train", samples, 2, ["s0", "s1", "s2"])
    write_index(out, {"splits": {"train": entry}})
    return out, samples, entry


def test_the_entry_of_index_json_and_the_samples(tmp_path):
    out, samples, entry = shards(tmp_path)
    assert entry == {"samples": 3, "originals": 2, "augmented": 1, "students": ["s0", "s1", "s2"],
                     "shards": ["train-000000.tar", "train-000001.tar"],
                     "bytes": sum((out / s).stat().st_size for s in entry["shards"])}
    key, png, meta = next(read_samples(out / "train-000000.tar"))
    assert key == "000000_s0_p-0_0" and png == samples[0].png.read_bytes()
    assert meta == {"student": "s0", "file": "p.0.jpg", "copy": 0, "attributes": {"age": "20"},
                    "condition": [0.0]}


def test_read_split_reduces_every_image_with_the_one_resize(tmp_path):
    out, samples, _ = shards(tmp_path)
    every = read_split(read_index(out), "train", 16)
    assert every.images.shape == (3, 16, 16, 3) and every.stored_size == 24
    assert np.array_equal(every.images[1], to_uint8_image(Image.open(samples[1].png), 16))
    originals = read_split(read_index(out), "train", 16, originals_only=True)
    assert originals.students == ["s0", "s2"] and originals.conditions == [[0.0], [1.0]]


def test_errors_say_what_to_run(tmp_path):
    with pytest.raises(FormatError, match="index.json does not exist; run the shard stage first"):
        read_index(tmp_path)
    out, _, _ = shards(tmp_path)
    with pytest.raises(FormatError, match="has no split 'val'; re-run the shard stage"):
        read_index(out).split("val")
    index = json.loads((out / "index.json").read_text())
    (out / "index.json").write_text(json.dumps(index["splits"]))
    with pytest.raises(FormatError, match="is not a shard index"):
        read_index(out)


def test_a_crop_that_is_not_square_is_refused(tmp_path):
    samples = [ShardSample("s", "p.jpg", 0, tmp_path / "wide.png", {}, [])]
    Image.new("RGB", (24, 16)).save(samples[0].png)
    write_index(tmp_path, {"splits": {"train": write_split(tmp_path, "train", samples, 5, ["s"])}})
    with pytest.raises(FormatError, match="the crop is 24 x 16, not square; re-run the crop"):
        read_split(read_index(tmp_path), "train", 16)
