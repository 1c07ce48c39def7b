"""Generator output as pictures: [-1, 1] tensors to uint8, and uint8 batches to one grid image.

Shared by the training loop (sample grids), `facedata generate` and the evaluate stage, so every
grid and every number computed on generated images sees the same pixels.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image

GRID_PADDING = 2  # white pixels between and around the images of a grid


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
