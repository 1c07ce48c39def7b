"""Images from a generator: seeded latents, batched sampling, uint8 pixels, grids, PNG files.

Shared by the training loop (sample grids), `facedata generate` and the evaluate stage, so every
grid and every number computed on generated images sees the same pixels.

z ~ N(0, I) comes from a seeded numpy stream, so the same seed gives the same faces. Truncation t
draws each coordinate of z from the normal truncated to [-t, t]: less varied, more typical faces
as t shrinks; any generator fed normal z accepts it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pipeline.io import atomic_path

GRID_PADDING = 2  # white pixels between and around the images of a grid
BATCH_SIZE = 256


class GenerateError(ValueError):
    """A request the model or the files cannot satisfy; the message says what to change."""


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


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Generator output in [-1, 1] -> uint8 0-255 (values outside are clipped)."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def grid_image(images: torch.Tensor, columns: int | None = None) -> Image.Image:
    """uint8 N x 3 x H x W -> one RGB image, `columns` wide (default: about square)."""
    n, _, h, w = images.shape
    columns = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / columns)
    pad = GRID_PADDING
    sheet = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, 3), 255, np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, columns)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        sheet[y:y + h, x:x + w] = im.permute(1, 2, 0).numpy()
    return Image.fromarray(sheet, "RGB")


def save_png(image: Image.Image, path: Path) -> None:
    """Write a PNG under a temporary name first: a killed run leaves no half file."""
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
