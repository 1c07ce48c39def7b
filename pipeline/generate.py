"""`facedata generate`: images from a trained generator, optionally steered by words.

The generator (`pipeline.gan.checkpoint.load_generator`) maps (z, condition | None) to images in
[-1, 1]; here z ~ N(0, I) from a seeded numpy stream, so the same seed gives the same faces.
`truncation` t draws each coordinate of z from the normal truncated to [-t, t]: less varied, more
typical faces as t shrinks; any generator fed normal z accepts it.

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
from pipeline.gan.samples import grid_image, to_uint8
from pipeline.io import atomic_path
from pipeline.prompt import PromptResult, Vocabulary, parse_attrs, parse_prompt
from pipeline.shard import ONE_HOT, Encoding

BATCH_SIZE = 256


class GenerateError(ValueError):
    """A request the model or the files cannot satisfy; the message says what to change."""


@dataclass(frozen=True)
class Generated:
    images: torch.Tensor  # uint8 N x 3 x R x R
    attributes: dict[str, str]  # what was asked for (prompt, then --attr); empty if nothing
    prompt: PromptResult | None
    paths: tuple[Path, ...]  # files written


def latents(n: int, dim: int, seed: int, truncation: float | None = None) -> torch.Tensor:
    """n x dim standard normal z from `seed`, truncated to [-truncation, truncation] if given.

    Drawn row after row from one numpy stream, so the first k of n images are the same images
    whatever n is; the truncated normal comes from its inverse CDF (no redraw loop).
    """
    rng = np.random.default_rng(seed)
    if truncation is None:
        return torch.from_numpy(rng.standard_normal((n, dim))).float()
    if not truncation > 0:
        raise GenerateError(f"--truncation must be above 0, got {truncation}")
    low = float(torch.special.ndtr(torch.tensor(-float(truncation), dtype=torch.float64)))
    u = torch.from_numpy(rng.uniform(low, 1.0 - low, (n, dim)))
    return torch.special.ndtri(u).clamp(-truncation, truncation).float()


def encoding_of(meta: Mapping[str, Any]) -> Encoding | None:
    """The attribute encoding stored with a conditional model, None for an unconditional one."""
    enc = meta.get("encoding")
    if enc is None or isinstance(enc, Encoding):
        return enc
    return Encoding.from_json(enc)


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


def sample(generator: torch.nn.Module, latent_dim: int, n: int, seed: int,
           conditions: torch.Tensor | None = None, truncation: float | None = None,
           device: str | torch.device = "cpu", batch_size: int = BATCH_SIZE) -> torch.Tensor:
    """n images as uint8 N x 3 x R x R from `generator`, in batches, deterministic in `seed`."""
    if n < 1:
        raise GenerateError(f"the number of images must be at least 1, got {n}")
    if conditions is not None and len(conditions) != n:
        raise ValueError(f"{len(conditions)} conditions for {n} images")
    z = latents(n, latent_dim, seed, truncation)
    generator = generator.to(device).eval()
    out = []
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            cond = None if conditions is None else conditions[start:start + batch_size].to(device)
            images = generator(z[start:start + batch_size].to(device), cond)
            out.append(to_uint8(images).cpu())
    images = torch.cat(out)
    if images.dim() != 4 or images.shape[1] != 3:
        raise GenerateError(f"the generator returned {tuple(images.shape)}, not N x 3 x H x W")
    return images


def save_png(image: Image.Image, path: Path) -> None:
    """Write a PNG under a temporary name first: a killed run leaves no half file."""
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")


def generate(model_path: Path, n: int, seed: int, out: Path, truncation: float | None = None,
             prompt: str | None = None, attrs: Sequence[str] = (),
             device: str = "auto") -> Generated:
    """Sample `n` images from the model at `model_path` and write them to `out` (see the module
    docstring). GenerateError / PromptError for requests the model cannot satisfy."""
    model_path = Path(model_path)
    if not model_path.is_file():
        raise GenerateError(f"no model at {model_path}; train one first (facedata train / "
                            "dvc repro train)")
    from pipeline.gan.checkpoint import load_generator

    generator, meta = load_generator(model_path)
    return generate_with(generator, meta, n, seed, out, truncation, prompt, attrs, device,
                         model_name=str(model_path))


def generate_with(generator: torch.nn.Module, meta: Mapping[str, Any], n: int, seed: int,
                  out: Path, truncation: float | None = None, prompt: str | None = None,
                  attrs: Sequence[str] = (), device: str = "auto",
                  model_name: str = "the model") -> Generated:
    """`generate` for a generator already loaded (meta as `load_generator` returns it)."""
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
        vocabulary = Vocabulary.from_encoding(encoding)
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
