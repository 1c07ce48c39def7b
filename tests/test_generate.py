"""Sampling (pipeline.gan.samples), truncation, conditions from words, and the files
`facedata generate` writes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from pipeline.formats.encoding import ONE_HOT, SCALAR, make_encoding
from pipeline.gan.samples import GenerateError, latents, sample
from pipeline.generate import generate_with, random_conditions, run_generate
from pipeline.prompt import PromptError

LATENT = 8
ENCODING = make_encoding([
    ("hair_colour", ONE_HOT, ("black", "brown", "blonde")),
    ("eye_colour", ONE_HOT, ("brown", "blue")),
    ("gender", ONE_HOT, ("female", "male")),
    ("age", SCALAR, (1, 100)),
])


class Painter(nn.Module):
    """An unconditional generator: a fixed random map from z to 3 x 8 x 8 images in [-1, 1]."""

    def __init__(self):
        super().__init__()
        self.net = nn.Linear(LATENT, 3 * 8 * 8)
        torch.nn.init.normal_(self.net.weight, generator=torch.Generator().manual_seed(0))
        torch.nn.init.zeros_(self.net.bias)

    def forward(self, z, condition=None):
        assert condition is None
        return torch.tanh(self.net(z)).reshape(len(z), 3, 8, 8)


class ConditionPainter(nn.Module):
    """A conditional generator that paints its condition vector into row 0 of channel 0
    (1 -> white, 0 -> black), so a test can read back what it was asked for."""

    def forward(self, z, condition):
        out = torch.zeros(len(z), 3, 4, ENCODING.width)
        out[:, 0, 0, :] = condition * 2 - 1
        out[:, 1] = z[:, :1, None].clamp(-1, 1)
        return out


def read_conditions(images: torch.Tensor) -> torch.Tensor:
    return images[:, 0, 0, :].float() / 255


META = {"model": "dcgan", "resolution": 8, "latent_dim": LATENT}
CMETA = {"model": "cdcgan", "resolution": 4, "latent_dim": LATENT,
         "encoding": ENCODING.to_json()}


def test_latents_are_seeded_and_truncation_bounds_them():
    assert torch.equal(latents(5, LATENT, 3), latents(5, LATENT, 3))
    assert not torch.equal(latents(5, LATENT, 3), latents(5, LATENT, 4))
    z = latents(2000, LATENT, 0, truncation=0.5)
    assert z.abs().max() <= 0.5 and z.std() > 0.2  # redrawn inside the bounds, not clipped
    assert latents(2000, LATENT, 0).abs().max() > 2
    with pytest.raises(GenerateError, match="above 0"):
        latents(2, LATENT, 0, truncation=0)


def test_sample_is_deterministic_and_batched():
    a = sample(Painter(), LATENT, 10, seed=1, batch_size=3)
    b = sample(Painter(), LATENT, 10, seed=1, batch_size=10)
    assert a.dtype == torch.uint8 and a.shape == (10, 3, 8, 8)
    assert torch.equal(a, b)
    assert not torch.equal(a, sample(Painter(), LATENT, 10, seed=2))


def test_unconditional_grid_and_single_files(tmp_path):
    result = generate_with(Painter(), META, 5, 0, tmp_path / "grid.png")
    assert result.paths == (tmp_path / "grid.png",)
    with Image.open(tmp_path / "grid.png") as im:
        assert im.size == (3 * 10 + 2, 2 * 10 + 2)  # 3 x 2 cells of 8 px, 2 px gaps
        cell = np.asarray(im)[2:10, 2:10]
    assert np.array_equal(cell, result.images[0].permute(1, 2, 0).numpy())

    folder = generate_with(Painter(), META, 3, 0, tmp_path / "out")
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["000000.png", "000001.png", "000002.png", "grid.png"]
    with Image.open(tmp_path / "out" / "000001.png") as im:
        assert np.array_equal(np.asarray(im), folder.images[1].permute(1, 2, 0).numpy())
        assert not im.info.get("exif")
    assert torch.equal(folder.images, result.images[:3])  # same seed, same faces


def test_prompt_on_an_unconditional_model_is_an_error(tmp_path):
    with pytest.raises(GenerateError, match="not conditional"):
        generate_with(Painter(), META, 2, 0, tmp_path / "g.png", prompt="young woman")
    assert not (tmp_path / "g.png").exists()


def test_the_prompt_reaches_the_generator(tmp_path):
    result = generate_with(ConditionPainter(), CMETA, 40, 0, tmp_path / "g.png",
                           prompt="young woman with black hair and a tattoo")
    assert result.attributes == {"age": "24", "gender": "female", "hair_colour": "black"}
    assert result.prompt.unknown == ("tattoo",)
    got = read_conditions(result.images)
    asked = torch.tensor(ENCODING.encode({"hair_colour": "black", "gender": "female",
                                          "age": "24"}))
    for block in ("hair_colour", "gender"):
        b = next(b for b in ENCODING.blocks if b.column == block)
        cols = slice(b.offset, b.offset + b.width)
        assert torch.equal(got[:, cols], asked[cols].expand(40, -1))
    age = next(b for b in ENCODING.blocks if b.column == "age").offset
    assert torch.allclose(got[:, age], asked[age].expand(40), atol=1 / 255)
    # eye colour was not asked for: drawn at random, one-hot, both values appear
    eyes = got[:, 3:5]
    assert torch.equal(eyes.sum(1), torch.ones(40))
    assert 0 < eyes[:, 0].sum() < 40


def test_attr_wins_over_the_prompt_and_bad_values_list_the_allowed(tmp_path):
    result = generate_with(ConditionPainter(), CMETA, 4, 0, tmp_path / "g.png",
                           prompt="black hair", attrs=["hair_colour=blonde"])
    assert result.attributes == {"hair_colour": "blonde"}
    assert (read_conditions(result.images)[:, 0:3] == torch.tensor([0.0, 0.0, 1.0])).all()
    with pytest.raises(PromptError, match="allowed: black, brown, blonde"):
        generate_with(ConditionPainter(), CMETA, 4, 0, tmp_path / "h.png",
                      attrs=["hair_colour=green"])


def test_random_conditions_keep_what_was_fixed():
    rows = random_conditions(ENCODING, {"gender": "male"}, 30, seed=0)
    assert rows.shape == (30, ENCODING.width)
    assert (rows[:, 5:7] == torch.tensor([0.0, 1.0])).all()
    assert len({tuple(r[:3].tolist()) for r in rows}) == 3  # hair colour varies
    assert torch.equal(rows, random_conditions(ENCODING, {"gender": "male"}, 30, seed=0))


def test_a_missing_model_file_is_a_clear_error(tmp_path):
    with pytest.raises(GenerateError, match="no model at"):
        run_generate(tmp_path / "generator.pt", 2, 0, tmp_path / "g.png")
