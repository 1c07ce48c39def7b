"""Memorization check: a copying generator is flagged, a noise generator is not."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from pipeline.memorization import (
    NEAR_COPY_PERCENTILE,
    check_memorization,
    mirrored,
    pixels32_embedding,
    write_pairs,
)
from tests.conftest import FACES

PHOTOS = ["astronaut_collins", "biden_official_2013", "kate_siegel", "paul_rudd",
          "angelina_jolie", "cameraman_gray", "cat_chelsea", "coffee_no_face"]


def photo_patches(n_per_photo: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    """Distinct real-photo squares (random position and scale) as uint8 N x 3 x size x size."""
    rng = np.random.default_rng(seed)
    out = []
    for name in PHOTOS:
        with Image.open(FACES / f"{name}.jpg") as im:
            im = im.convert("RGB")
            im.thumbnail((256, 256))
            for _ in range(n_per_photo):
                side = int(rng.integers(64, min(im.size)))
                x = int(rng.integers(0, im.size[0] - side + 1))
                y = int(rng.integers(0, im.size[1] - side + 1))
                patch = im.crop((x, y, x + side, y + side)).resize((size, size),
                                                                   Image.Resampling.LANCZOS)
                out.append(torch.from_numpy(np.asarray(patch).copy()).permute(2, 0, 1))
    return torch.stack(out)


@pytest.fixture(scope="module")
def train() -> torch.Tensor:
    return photo_patches(6)


def test_a_copying_generator_is_flagged(train):
    rng = np.random.default_rng(1)
    picks = rng.choice(len(train), 12, replace=False)
    copies = train[picks].clone()
    copies[6:] = mirrored(copies[6:])  # augment flips crops: a mirrored copy is still a copy
    result = check_memorization(copies, train)
    for name in ("pixels", "pixels32"):
        space = result.spaces[name]
        assert sorted(space.flagged.tolist()) == list(range(12)), name
        assert np.allclose(space.distances, 0, atol=1e-4)
        assert (space.neighbours == picks).all()
        assert space.neighbour_mirrored.tolist() == [False] * 6 + [True] * 6
    assert result.summary()["flagged_any"] == 12


def test_a_relit_copy_is_flagged_in_normalised_pixels(train):
    # Brighter and lower contrast, as augment's colour jitter does: far in raw pixels, a copy
    # after per-image standardisation.
    relit = (train[:8].float() * 0.7 + 60).round().clamp(0, 255).to(torch.uint8)
    result = check_memorization(relit, train)
    assert len(result.spaces["pixels32"].flagged) == 8
    assert (result.spaces["pixels32"].neighbours == np.arange(8)).all()
    assert (result.spaces["pixels"].distances > 20).all()  # grey levels RMS: no copy by eye


def test_a_noise_generator_is_not_flagged(train):
    noise = torch.randint(0, 256, (32, 3, 32, 32), dtype=torch.uint8,
                          generator=torch.Generator().manual_seed(0))
    result = check_memorization(noise, train)
    assert result.flagged() == []
    assert all(s.summary()["flagged"] == 0 for s in result.spaces.values())


def test_threshold_is_the_train_sets_own_nearest_neighbour_percentile(train):
    result = check_memorization(train[:4], train)
    space = result.spaces["pixels32"]
    assert space.threshold == pytest.approx(np.percentile(space.train_nn, NEAR_COPY_PERCENTILE))
    emb = pixels32_embedding(train)
    d = torch.cdist(emb, torch.cat([emb, pixels32_embedding(mirrored(train))]))
    m = len(train)
    d[torch.arange(m), torch.arange(m)] = float("inf")
    d[torch.arange(m), torch.arange(m) + m] = float("inf")
    assert np.allclose(np.sort(space.train_nn), np.sort(d.min(1).values.numpy()), atol=1e-5)


def test_a_duplicated_training_crop_does_not_zero_the_threshold(train):
    doubled = torch.cat([train, train[:1]])
    result = check_memorization(train[:2], doubled)
    for space in result.spaces.values():
        assert space.threshold is not None and space.threshold > 0
        assert len(space.flagged) == 2


def test_extra_spaces_and_unavailable_ones_are_reported(train):
    feats = pixels32_embedding(train)  # any embedding will do for the plumbing
    result = check_memorization(train[:3], train,
                                {"other": (feats[:3], feats, pixels32_embedding(mirrored(train)))},
                                {"inception": "no weights"})
    summary = result.summary()
    assert summary["other"]["flagged"] == 3
    assert summary["inception"] is None and result.unavailable == {"inception": "no weights"}


def test_pairs_are_written_side_by_side(train, tmp_path):
    copies = train[[3, 7]]
    noise = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    generated = torch.cat([noise, copies])
    keys = [f"student{i // 6}/photo{i}.jpg" for i in range(len(train))]
    result = check_memorization(generated, train)
    records = write_pairs(result, generated, train, keys, tmp_path)
    assert [r["generated"] for r in records] == [2, 3]
    assert records[0]["pixels"]["train"] == keys[3] and records[1]["pixels"]["train"] == keys[7]
    with Image.open(tmp_path / records[0]["png"]) as im:
        assert im.width > 2 * im.height - 40  # two thumbnails side by side
        left = np.asarray(im.crop((0, 0, 128, 128)).resize((32, 32), Image.Resampling.NEAREST))
    assert np.array_equal(left, generated[2].permute(1, 2, 0).numpy())


def test_mismatched_resolutions_are_an_error(train):
    with pytest.raises(ValueError, match="resolution"):
        check_memorization(torch.zeros(2, 3, 64, 64, dtype=torch.uint8), train)
