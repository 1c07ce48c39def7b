"""The generators and discriminators, chosen by name through one registry.

Every generator maps `(z, condition | None)` -> images in [-1, 1], N x 3 x R x R (z is N x latent).
Every discriminator maps `(images, condition | None)` -> one raw score (a logit) per image, N;
the losses (`pipeline.gan.losses`) turn logits into probabilities where they need them, so the
"sigmoid discriminator" of the seeds is sigmoid + BCE computed stably as BCE-with-logits.

- `mlp`: the vanilla GAN. Five hidden fully connected layers each way; the generator uses ReLU
  and tanh, the discriminator LeakyReLU(0.2) (and sigmoid, inside the BCE loss).
- `dcgan`: Radford et al.'s DCGAN, as in the PyTorch example, for any power-of-two resolution
  from 16 to 256 (64 is the paper's): the generator goes from a 4 x 4 map up by stride-2
  transposed convolutions with BatchNorm + ReLU, tanh at the end; the discriminator mirrors it
  with stride-2 convolutions, BatchNorm (not on the first layer) and LeakyReLU(0.2). Widths
  double per layer from `g_width` / `d_width` (the example's ngf / ndf = 64).
- `cdcgan`: the DCGAN conditioned on the shards' attribute vector (17 attributes one-hot or
  scaled, ~70 numbers). The generator's BatchNorms are conditional: gamma and beta are linear
  functions of the condition (de Vries et al. 2017; Miyato & Koyama 2018), so the attributes
  steer every layer, not only the input. The discriminator is a projection discriminator
  (Miyato & Koyama 2018): logit = unconditional head(features) + <embed(condition), pooled
  features>. Both are linear in the condition, which suits a multi-hot vector (several
  attributes at once, unlike a class label), and cost a few thousand parameters. Concatenating
  the vector to the input of D is the simpler alternative; the projection paper measured it
  worse, and it makes D's first layer see the condition only as constant planes.

The DCGAN weights start from N(0, 0.02) (BatchNorm scales from N(1, 0.02)), as DCGAN prescribes;
the mlp keeps PyTorch's default (fan-in scaled) initialisation: N(0, 0.02) through six dense
layers shrinks the signal to nothing and the vanilla GAN never leaves D(x) = D(G(z)) = 0.5.
With `spectral_norm` every discriminator layer is spectrally normalised and its BatchNorms are
left out (SN-GAN's discriminator has none; the two fight over the scale of the features).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

MODELS = ("mlp", "dcgan", "cdcgan")
CONDITIONAL = frozenset({"cdcgan"})
MIN_RESOLUTION, MAX_RESOLUTION = 16, 256
MLP_WIDTHS = (4, 8, 16, 16, 16)  # hidden layers of the mlp generator, in units of g_width
LEAK = 0.2
INIT_STD = 0.02


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild a generator/discriminator pair (stored with the weights)."""

    model: str
    resolution: int
    latent_dim: int
    g_width: int
    d_width: int
    condition_dim: int = 0  # width of the condition vector; 0 for unconditional models
    spectral_norm: bool = False

    def check(self) -> None:
        """ValueError with an actionable message when the spec cannot be built."""
        if self.model not in MODELS:
            raise ValueError(f"train.model must be one of {', '.join(MODELS)}, got {self.model!r}")
        r = self.resolution
        if not (MIN_RESOLUTION <= r <= MAX_RESOLUTION and r & (r - 1) == 0):
            raise ValueError(f"train.resolution must be a power of two from {MIN_RESOLUTION} to "
                             f"{MAX_RESOLUTION} (32 or 64 are usual), got {r}")
        for name in ("latent_dim", "g_width", "d_width"):
            if getattr(self, name) < 1:
                raise ValueError(f"train.{name} must be at least 1, got {getattr(self, name)}")
        if self.model in CONDITIONAL and self.condition_dim < 1:
            raise ValueError(f"train.model {self.model} needs condition vectors, but the shards "
                             "carry none (an empty attribute encoding); use dcgan, or re-run "
                             "the shard stage with an attribute vocabulary")
        if self.model not in CONDITIONAL and self.condition_dim:
            raise ValueError(f"{self.model} is unconditional: its condition_dim must be 0")


def init_weights(module: nn.Module) -> None:
    """DCGAN's initialisation: N(0, 0.02) weights, BatchNorm scales N(1, 0.02), zero biases."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
        nn.init.normal_(module.weight, 0.0, INIT_STD)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d | nn.BatchNorm1d) and module.affine:
        nn.init.normal_(module.weight, 1.0, INIT_STD)
        nn.init.zeros_(module.bias)


def _maybe_sn(layer: nn.Module, on: bool, dcgan_init: bool = True) -> nn.Module:
    if dcgan_init:
        init_weights(layer)  # before wrapping: the parametrisation then normalises these weights
    return _spectral_norm(layer) if on else layer


class MLPGenerator(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.resolution = spec.resolution
        widths = [spec.latent_dim, *(spec.g_width * m for m in MLP_WIDTHS)]
        layers: list[nn.Module] = []
        for a, b in zip(widths, widths[1:], strict=False):
            layers += [nn.Linear(a, b), nn.ReLU(inplace=True)]
        layers += [nn.Linear(widths[-1], 3 * spec.resolution**2), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(z).view(-1, 3, self.resolution, self.resolution)


class MLPDiscriminator(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        widths = [3 * spec.resolution**2, *(spec.d_width * m for m in reversed(MLP_WIDTHS))]
        layers: list[nn.Module] = [nn.Flatten()]
        for a, b in zip(widths, widths[1:], strict=False):
            layers += [_maybe_sn(nn.Linear(a, b), spec.spectral_norm, dcgan_init=False),
                       nn.LeakyReLU(LEAK, inplace=True)]
        layers.append(_maybe_sn(nn.Linear(widths[-1], 1), spec.spectral_norm, dcgan_init=False))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x).view(-1)


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm whose scale and shift are linear in the condition: x̂ (1 + γ(c)) + β(c)."""

    def __init__(self, channels: int, condition_dim: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gamma = nn.Linear(condition_dim, channels)
        self.beta = nn.Linear(condition_dim, channels)

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        gamma = self.gamma(condition).to(x.dtype)[:, :, None, None]
        beta = self.beta(condition).to(x.dtype)[:, :, None, None]
        return self.bn(x) * (1 + gamma) + beta


def _levels(resolution: int) -> int:
    """Stride-2 stages between the 4 x 4 map and the image (64 -> 4)."""
    return int(math.log2(resolution)) - 2


class DCGANGenerator(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.condition_dim = spec.condition_dim
        n = _levels(spec.resolution)
        channels = [spec.g_width * 2 ** (n - 1 - i) for i in range(n)]  # 64: 8w, 4w, 2w, w
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        previous = spec.latent_dim
        for i, c in enumerate(channels):
            stride, padding = (1, 0) if i == 0 else (2, 1)  # 1x1 -> 4x4, then doubling
            self.convs.append(nn.ConvTranspose2d(previous, c, 4, stride, padding, bias=False))
            self.norms.append(ConditionalBatchNorm2d(c, spec.condition_dim) if spec.condition_dim
                              else nn.BatchNorm2d(c))
            previous = c
        self.out = nn.ConvTranspose2d(previous, 3, 4, 2, 1, bias=False)
        self.apply(init_weights)

    def forward(self, z: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        if self.condition_dim and (condition is None or condition.shape[-1] != self.condition_dim):
            got = "none" if condition is None else f"width {condition.shape[-1]}"
            raise ValueError(f"this generator is conditional: it needs condition vectors of "
                             f"width {self.condition_dim}, got {got}")
        x = z.view(z.shape[0], -1, 1, 1)
        for conv, norm in zip(self.convs, self.norms, strict=True):
            x = conv(x)
            x = norm(x, condition) if self.condition_dim else norm(x)
            x = torch.relu(x)
        return torch.tanh(self.out(x))


class DCGANDiscriminator(nn.Module):
    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        sn = spec.spectral_norm
        n = _levels(spec.resolution)
        layers: list[nn.Module] = []
        previous = 3
        for i in range(n):
            c = spec.d_width * 2**i
            layers.append(_maybe_sn(nn.Conv2d(previous, c, 4, 2, 1, bias=False), sn))
            if i > 0 and not sn:  # DCGAN: no BatchNorm on the input layer
                bn = nn.BatchNorm2d(c)
                init_weights(bn)
                layers.append(bn)
            layers.append(nn.LeakyReLU(LEAK, inplace=True))
            previous = c
        self.features = nn.Sequential(*layers)  # ends at 4 x 4
        self.head = _maybe_sn(nn.Conv2d(previous, 1, 4, 1, 0, bias=False), sn)
        self.embed = (_maybe_sn(nn.Linear(spec.condition_dim, previous, bias=False), sn)
                      if spec.condition_dim else None)

    def forward(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x)
        logit = self.head(h).view(-1)
        if self.embed is not None:
            if condition is None:
                raise ValueError("this discriminator is conditional: it needs condition vectors")
            pooled = h.sum(dim=(2, 3))
            logit = logit + (self.embed(condition).to(pooled.dtype) * pooled).sum(dim=1)
        return logit


GENERATORS: dict[str, Callable[[ModelSpec], nn.Module]] = {
    "mlp": MLPGenerator,
    "dcgan": DCGANGenerator,
    "cdcgan": DCGANGenerator,
}
DISCRIMINATORS: dict[str, Callable[[ModelSpec], nn.Module]] = {
    "mlp": MLPDiscriminator,
    "dcgan": DCGANDiscriminator,
    "cdcgan": DCGANDiscriminator,
}


def build_generator(spec: ModelSpec) -> nn.Module:
    """The generator of `spec`, freshly initialised (ValueError when the spec is impossible)."""
    spec.check()
    return GENERATORS[spec.model](spec)


def build_discriminator(spec: ModelSpec) -> nn.Module:
    """The discriminator of `spec`, freshly initialised."""
    spec.check()
    return DISCRIMINATORS[spec.model](spec)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
