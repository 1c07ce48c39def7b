"""Differentiable augmentation (Zhao et al. 2020, "DiffAugment"), for images in [-1, 1].

The discriminator of a GAN trained on a few thousand faces memorises them; DiffAugment shows it
only randomly transformed images, real and fake alike, in both the discriminator and the
generator step, and every transform is differentiable so the generator still gets gradients
through it. On FFHQ-1k it cut FID from 62 to 26 (mit-han-lab/data-efficient-gans).

Policies, as in the reference code (DiffAugment_pytorch.py), each drawn per image:
- `color`: brightness + U(-0.5, 0.5); saturation x U(0, 2) around the pixel's channel mean;
  contrast x U(0.5, 1.5) around the image mean.
- `translation`: shift by up to 1/8 of the side in x and y; the uncovered border is 0 (grey).
- `cutout`: set a square half the side wide, at a random place (clipped at the borders), to 0.

Everything runs on the tensor's own device with no host synchronisation, so it is cheap next to
the networks on a GPU. Randomness comes from torch's global generator (seeded by the trainer).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence

import torch

TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


def _uniform(x: torch.Tensor) -> torch.Tensor:
    """One U(0, 1) number per image, shaped to broadcast over C x H x W."""
    return torch.rand(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device)


def color(x: torch.Tensor) -> torch.Tensor:
    x = x + (_uniform(x) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_uniform(x) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform(x) + 0.5) + mean


def _shift(x: torch.Tensor, dim: int, shift: torch.Tensor) -> torch.Tensor:
    """Move every image by its own `shift` pixels along `dim` (2 or 3), zeros coming in."""
    n = x.shape[dim]
    pos = torch.arange(n, device=x.device).view(1, n) - shift.view(-1, 1)  # source index, B x n
    valid = (pos >= 0) & (pos < n)
    index_shape = [x.shape[0], 1, 1, 1]
    index_shape[dim] = n
    index = pos.clamp(0, n - 1).view(index_shape).expand(x.shape)
    return torch.gather(x, dim, index) * valid.view(index_shape).to(x.dtype)


def translation(x: torch.Tensor, ratio: float = TRANSLATION_RATIO) -> torch.Tensor:
    for dim in (2, 3):
        limit = int(x.shape[dim] * ratio + 0.5)
        shift = torch.randint(-limit, limit + 1, (x.shape[0],), device=x.device)
        x = _shift(x, dim, shift)
    return x


def cutout(x: torch.Tensor, ratio: float = CUTOUT_RATIO) -> torch.Tensor:
    keep = None
    for dim in (2, 3):
        n = x.shape[dim]
        size = int(n * ratio + 0.5)
        # the reference's offsets: the square's centre anywhere in [0, n - 1 + (1 - size % 2)]
        start = torch.randint(0, n + (1 - size % 2), (x.shape[0], 1), device=x.device) - size // 2
        pos = torch.arange(n, device=x.device).view(1, n)
        inside = (pos >= start) & (pos < start + size)  # B x n
        shape = [x.shape[0], 1, 1, 1]
        shape[dim] = n
        inside = inside.view(shape)
        keep = inside if keep is None else keep & inside
    assert keep is not None
    return x * (~keep).to(x.dtype)


AUGMENTS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "color": color,
    "translation": translation,
    "cutout": cutout,
}


def parse_policy(text: str | Sequence[str]) -> tuple[str, ...]:
    """"color,translation,cutout" -> the names, in that order ("" -> none). ValueError on an
    unknown name, with the nearest known one."""
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text)]
    names = [n for n in names if n]
    for name in names:
        if name not in AUGMENTS:
            close = difflib.get_close_matches(name, AUGMENTS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"train.diffaugment: unknown augmentation {name!r}{hint} (known: "
                             f"{', '.join(AUGMENTS)}; separate them with commas)")
    return tuple(names)


def diff_augment(x: torch.Tensor, policy: Sequence[str]) -> torch.Tensor:
    """`x` (N x 3 x H x W, in [-1, 1]) with the augmentations of `policy` applied in order,
    each drawn independently per image; differentiable in `x`. An empty policy returns `x`."""
    for name in policy:
        x = AUGMENTS[name](x)
    return x
