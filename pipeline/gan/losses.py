"""GAN losses by name, on raw discriminator logits.

- `bce`: the seeds' (and the DCGAN example's) loss. The discriminator minimises
  BCE(sigmoid(D(x)), 1) + BCE(sigmoid(D(G(z))), 0); the generator minimises the
  non-saturating BCE(sigmoid(D(G(z))), 1). Written as softplus of the logits, which is the
  same number without the overflow of sigmoid followed by log.
- `hinge`: Lim & Ye / Miyato et al.: D minimises mean(relu(1 - D(x))) + mean(relu(1 + D(G(z))));
  G minimises -mean(D(G(z))). The usual partner of spectral norm and DiffAugment.

Losses are computed in float32 whatever precision the networks ran in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Loss:
    discriminator: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (real, fake) logits
    generator: Callable[[torch.Tensor], torch.Tensor]  # fake logits


def _bce_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.softplus(-real.float()).mean() + F.softplus(fake.float()).mean()


def _bce_g(fake: torch.Tensor) -> torch.Tensor:
    return F.softplus(-fake.float()).mean()


def _hinge_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 - real.float()).mean() + F.relu(1.0 + fake.float()).mean()


def _hinge_g(fake: torch.Tensor) -> torch.Tensor:
    return -fake.float().mean()


LOSSES: dict[str, Loss] = {
    "bce": Loss(_bce_d, _bce_g),
    "hinge": Loss(_hinge_d, _hinge_g),
}


def get_loss(name: str) -> Loss:
    """The loss called `name`; ValueError naming the known ones otherwise."""
    try:
        return LOSSES[name]
    except KeyError:
        raise ValueError(f"train.loss must be one of {', '.join(LOSSES)}, got {name!r}") from None
