"""`facedata generate`: images from a trained generator, optionally steered by words.

The generator (`pipeline.gan.checkpoint.load_generator`) maps (z, condition | None) to images in
[-1, 1]; `pipeline.gan.samples` draws z from the seed (optionally truncated) and samples.

The conditional model (`cdcgan`, whose checkpoint carries the attribute encoding) is steered by
a prompt (`pipeline.prompt.parse_prompt`) and/or exact `--attr column=value` pairs, which win
over the prompt. Attributes nobody asked for are drawn at random per image, uniformly from the
vocabulary (age uniformly over its range), so "young woman" gives young women of every hair
colour rather than one arbitrary default.

Output: `out` ending in `.png` is one grid image; anything else is a folder that receives one
PNG per image (`000000.png`, ...) and `grid.png`. Images are written at the model's resolution,
losslessly, with no metadata.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from pipeline.devices import resolve_device
from pipeline.formats.encoding import ONE_HOT, Encoding
from pipeline.gan.checkpoint import encoding_of, load_generator
from pipeline.gan.samples import GenerateError, grid_image, sample, save_png
from pipeline.prompt import ModelVocabulary, PromptResult, describe, parse_attrs, parse_prompt


@dataclass(frozen=True)
class Generated:
    images: torch.Tensor  # uint8 N x 3 x R x R
    attributes: dict[str, str]  # what was asked for (prompt, then --attr); empty if nothing
    prompt: PromptResult | None
    paths: tuple[Path, ...]  # files written

    @property
    def described(self) -> list[str]:
        """What the prompt was taken as, in lines for the terminal (none without a prompt)."""
        return describe(self.prompt) if self.prompt is not None else []


def random_conditions(encoding: Encoding, fixed: Mapping[str, str], n: int,
                      seed: int) -> torch.Tensor:
    """n condition vectors: the `fixed` attributes in each, every other one drawn at random."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        attrs = dict(fixed)
        for block in encoding.blocks:
            if block.column in attrs:
                continue
            if block.kind == ONE_HOT:
                attrs[block.column] = block.values[int(rng.integers(len(block.values)))]
            else:
                attrs[block.column] = f"{rng.uniform(block.low, block.high):.6g}"
        rows.append(encoding.encode(attrs))
    return torch.tensor(rows, dtype=torch.float32)


def run_generate(model_path: Path, n: int, seed: int, out: Path, truncation: float | None = None,
                 prompt: str | None = None, attrs: Sequence[str] = (),
                 device: str = "auto") -> Generated:
    """Sample `n` images from the model at `model_path` and write them to `out` (see the module
    docstring). GenerateError / PromptError for requests the model cannot satisfy."""
    model_path = Path(model_path)
    if not model_path.is_file():
        raise GenerateError(f"no model at {model_path}; train one first (facedata train / "
                            "dvc repro train)")
    generator, meta = load_generator(model_path)
    return generate_with(generator, meta, n, seed, out, truncation, prompt, attrs, device,
                         model_name=str(model_path))


def generate_with(generator: torch.nn.Module, meta: Mapping[str, Any], n: int, seed: int,
                  out: Path, truncation: float | None = None, prompt: str | None = None,
                  attrs: Sequence[str] = (), device: str = "auto",
                  model_name: str = "the model") -> Generated:
    """`run_generate` for a generator already loaded (meta as `load_generator` returns it)."""
    out = Path(out)
    encoding = encoding_of(meta)
    result = None
    attributes: dict[str, str] = {}
    if encoding is None:
        if prompt or attrs:
            raise GenerateError(f"{model_name} ({meta.get('model', 'unknown')}) is not "
                                "conditional: --prompt and --attr need a model trained with "
                                "train.model: cdcgan")
        conditions = None
    else:
        vocabulary = ModelVocabulary.from_encoding(encoding)
        if prompt:
            result = parse_prompt(prompt, vocabulary)
            attributes.update(result.attributes)
        attributes.update(parse_attrs(attrs, vocabulary))
        conditions = random_conditions(encoding, attributes, n, seed)
    images = sample(generator, int(meta["latent_dim"]), n, seed, conditions, truncation,
                    resolve_device(device))
    paths: list[Path] = []
    if out.suffix.lower() == ".png":
        save_png(grid_image(images), out)
        paths.append(out)
    else:
        out.mkdir(parents=True, exist_ok=True)
        for i, im in enumerate(images):
            path = out / f"{i:06d}.png"
            save_png(Image.fromarray(im.permute(1, 2, 0).numpy(), "RGB"), path)
            paths.append(path)
        save_png(grid_image(images), out / "grid.png")
        paths.append(out / "grid.png")
    return Generated(images, attributes, result, tuple(paths))
