"""The training step and its data schedule: one process, or one rank of a torchrun job.

The step is the DCGAN example's (one discriminator update, then one generator update on the same
fake batch, with the non-saturating or hinge loss), with DiffAugment on every image the
discriminator sees, real or fake, in both updates, and an EMA of the generator after each step.

Speed (what makes it fast on a GPU, each measured by bench/train_speed.py):
- the whole training set is one uint8 tensor on the device; a batch is an `index_select` and a
  conversion to [-1, 1] there (no DataLoader, no host-to-device copy per step);
- bf16 autocast (when the GPU supports it) and channels-last tensors, so convolutions use the
  tensor cores; losses stay float32; fused Adam (CUDA only);
- no host synchronisation per step: losses and scores go into a device buffer that the caller
  reads (`flush`) every `log_every` steps; the epoch order is drawn once per epoch;
- the discriminator's weights are frozen during the generator update (no wasted weight gradients).
On the CPU the same code runs in float32 with the default memory layout (`Speed.for_device`);
the tests run the GPU settings on the CPU too, so that path is exercised without a GPU.

Epoch: one pass over the training set in a random order drawn from (seed, epoch), the same on
every rank; rank r takes every world-th index of it, so the ranks see disjoint parts. When the set
is smaller than one batch, an epoch is the fewest whole passes that fill one batch. `batch_size`
is the global batch; each of the `world` ranks draws batch_size / world images per step.

Randomness: model initialisation from `seed` (identical on every rank); the noise for z and the
augmentation from torch's generator seeded per rank; checkpoints carry every rank's generator
state so a resumed run draws the same numbers an uninterrupted one would have.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from pipeline.config import TrainParams
from pipeline.devices import ALONE, Rank
from pipeline.gan.data import TrainSet
from pipeline.gan.diffaugment import diff_augment, parse_policy
from pipeline.gan.ema import EMA
from pipeline.gan.losses import get_loss
from pipeline.gan.networks import CONDITIONAL, ModelSpec, build_discriminator, build_generator
from pipeline.gan.samples import to_uint8

STATS = ("g_loss", "d_loss", "real_score", "fake_score")
DEVICE_MEMORY_SHARE = 0.25  # keep the data on the GPU when it takes at most this much free memory


@dataclass(frozen=True)
class Speed:
    """How the step runs on its device: the settings that make it fast on a GPU."""

    autocast: torch.dtype | None  # mixed precision for the networks; None = float32
    channels_last: bool
    fused_adam: bool

    @classmethod
    def for_device(cls, device: torch.device) -> Speed:
        """All three on a GPU (bf16 where it has bf16 units). None of them on the CPU, where
        float32 keeps runs (the demo, the tests) reproducible across processors; bf16 would pay
        only on some (1.3-1.5x for a 32 px DCGAN step on the CI machine's AVX-512-BF16 cores)."""
        if device.type != "cuda":
            return cls(None, False, False)
        return cls(torch.bfloat16 if torch.cuda.is_bf16_supported() else None, True, True)

    @property
    def precision(self) -> str:
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.autocast]


class Trainer:
    """Models, optimisers, EMA and the data of one training run, advanced by `train_step`."""

    def __init__(self, spec: ModelSpec, params: TrainParams, data: TrainSet,
                 device: torch.device, rank: Rank = ALONE, speed: Speed | None = None) -> None:
        if params.batch_size % rank.world:
            raise ValueError(f"train.batch_size ({params.batch_size}) must be a multiple of the "
                             f"number of processes ({rank.world})")
        self.spec, self.params, self.device, self.rank = spec, params, device, rank
        cuda = device.type == "cuda"
        self.speed = speed or Speed.for_device(device)
        self.memory_format = (torch.channels_last if self.speed.channels_last
                              else torch.contiguous_format)
        if cuda:
            torch.backends.cudnn.benchmark = True

        torch.manual_seed(params.seed)  # the same initial weights on every rank
        self.g = build_generator(spec).to(device, memory_format=self.memory_format)
        self.d = build_discriminator(spec).to(device, memory_format=self.memory_format)
        self.ema = EMA(self.g, params.ema_decay) if params.ema_decay > 0 else None
        adam: dict[str, Any] = {"lr": params.lr, "betas": tuple(params.betas)}
        if self.speed.fused_adam:
            adam["fused"] = True
        self.opt_g = torch.optim.Adam(self.g.parameters(), **adam)
        self.opt_d = torch.optim.Adam(self.d.parameters(), **adam)
        self.g_train: nn.Module = self.g
        self.d_train: nn.Module = self.d
        if rank.world > 1:
            ids = [device.index] if cuda else None
            self.g_train = DistributedDataParallel(self.g, device_ids=ids)
            self.d_train = DistributedDataParallel(self.d, device_ids=ids)
        self.loss = get_loss(params.loss)
        self.policy = parse_policy(params.diffaugment)
        self._seed_noise(step=0)

        self.n = len(data.images)
        self.images = self._place(data.images)
        conditional = spec.model in CONDITIONAL
        self.conditions = data.conditions.to(device) if conditional else None
        self.per_rank = params.batch_size // rank.world
        self.passes = -(-params.batch_size // self.n)  # > 1 only when the set is under a batch
        self.steps_per_epoch = self.n * self.passes // params.batch_size
        self.step = 0
        self._order: torch.Tensor | None = None
        self._order_epoch = -1
        self._stats = torch.zeros(max(1, params.log_every), len(STATS), device=device)
        self._flushed = 0

    # ------------------------------------------------------------------ data

    def _place(self, images: torch.Tensor) -> torch.Tensor:
        """The uint8 set on the device when it fits easily; pinned host memory otherwise."""
        if self.device.type != "cuda":
            return images
        free, _ = torch.cuda.mem_get_info(self.device)
        if images.numel() <= DEVICE_MEMORY_SHARE * free:
            return images.to(self.device)
        return images.pin_memory()

    def epoch_order(self, epoch: int) -> torch.Tensor:
        """This rank's sample indices for `epoch`, steps_per_epoch x per_rank of them."""
        g = torch.Generator().manual_seed(self.params.seed * 1_000_003 + epoch)
        order = torch.cat([torch.randperm(self.n, generator=g) for _ in range(self.passes)])
        order = order[self.rank.rank::self.rank.world][: self.steps_per_epoch * self.per_rank]
        if self.images.device.type == "cuda":
            return order.pin_memory().to(self.device, non_blocking=True)
        return order

    def _batch(self, index: torch.Tensor) -> torch.Tensor:
        x = self.images.index_select(0, index)
        if x.device != self.device:
            x = x.to(self.device, non_blocking=True)
        x = x.to(torch.float32, memory_format=self.memory_format)
        return x.mul_(2.0 / 255.0).sub_(1.0)

    # ------------------------------------------------------------------ the step

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.speed.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.speed.autocast)

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        return diff_augment(x, self.policy) if self.policy else x

    def train_step(self) -> None:
        """One discriminator and one generator update; no host synchronisation."""
        epoch, i = divmod(self.step, self.steps_per_epoch)
        if epoch != self._order_epoch:
            self._order, self._order_epoch = self.epoch_order(epoch), epoch
        assert self._order is not None
        index = self._order[i * self.per_rank:(i + 1) * self.per_rank]
        real = self._batch(index)
        c = None if self.conditions is None else self.conditions.index_select(
            0, index.to(self.conditions.device))
        z = torch.randn(self.per_rank, self.spec.latent_dim, device=self.device)

        with self._autocast():
            fake = self.g_train(z, c)
            d_real = self.d_train(self._augment(real), c)
            d_fake = self.d_train(self._augment(fake.detach()), c)
            loss_d = self.loss.discriminator(d_real, d_fake)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()

        # The generator's gradient flows through D; D's own weight gradients are not needed.
        # The plain module (not the DDP wrapper) is used so DDP expects no gradients from D here.
        self.d.requires_grad_(False)
        with self._autocast():
            loss_g = self.loss.generator(self.d(self._augment(fake), c))
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        self.d.requires_grad_(True)

        if self.ema is not None:
            self.ema.update(self.g, self.step)
        with torch.no_grad():
            self._stats[self.step % len(self._stats)] = torch.stack([
                loss_g.detach(), loss_d.detach(),
                torch.sigmoid(d_real.detach().float()).mean(),
                torch.sigmoid(d_fake.detach().float()).mean()])
        self.step += 1

    def flush(self) -> list[tuple[int, list[float]]]:
        """(step index, [g_loss, d_loss, real_score, fake_score]) of every step since the last
        flush, averaged over the ranks. Synchronises; every rank must call it at the same step.

        real_score / fake_score are the mean of sigmoid(D(x)) / sigmoid(D(G(z))) over the batch
        before the discriminator update (the DCGAN example's D(x) and D(G(z))).
        """
        first, last = self._flushed, self.step
        if last - first > len(self._stats):
            raise RuntimeError(f"flush every {len(self._stats)} steps at least")
        rows = self._stats.clone()
        if self.rank.world > 1:
            dist.all_reduce(rows)
            rows /= self.rank.world
        values = rows.cpu().tolist()
        self._flushed = last
        return [(s, values[s % len(values)]) for s in range(first, last)]

    # ------------------------------------------------------------------ sampling

    def sampler(self) -> nn.Module:
        """The generator to sample from: the moving average when there is one."""
        return self.ema.model if self.ema is not None else self.g

    @torch.no_grad()
    def sample(self, z: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
        """uint8 N x 3 x R x R on the CPU from the sampling generator in eval mode."""
        model = self.sampler()
        was_training = model.training
        model.eval()
        try:
            with self._autocast():
                images = model(z.to(self.device),
                               None if condition is None else condition.to(self.device))
        finally:
            model.train(was_training)
        return to_uint8(images).cpu()

    # ------------------------------------------------------------------ checkpoints

    def _rng_state(self) -> dict[str, torch.Tensor | None]:
        cuda = self.device.type == "cuda"
        return {"cpu": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state(self.device) if cuda else None}

    def _seed_noise(self, step: int) -> None:
        """Each rank its own noise stream (used on a fresh start, or when the number of ranks
        changed since the checkpoint)."""
        torch.manual_seed(hash((self.params.seed, self.rank.rank, step)) & 0x7FFF_FFFF)

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs. Collective with several ranks (every rank's RNG
        state is gathered); the result is complete on rank 0."""
        rng: list[Any] = [self._rng_state()]
        if self.rank.world > 1:
            rng = [None] * self.rank.world
            dist.all_gather_object(rng, self._rng_state())
        return {
            "step": self.step,
            "generator": self.g.state_dict(),
            "discriminator": self.d.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "ema": None if self.ema is None else self.ema.model.state_dict(),
            "rng": [{k: (None if v is None else v.cpu()) for k, v in r.items()} for r in rng],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.g.load_state_dict(state["generator"])
        self.d.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        if self.ema is not None:
            if state.get("ema") is not None:
                self.ema.model.load_state_dict(state["ema"])
            else:
                self.ema.model.load_state_dict(self.g.state_dict())
        self.step = self._flushed = int(state["step"])
        rng = state.get("rng") or []
        if len(rng) == self.rank.world:
            mine = rng[self.rank.rank]
            torch.set_rng_state(mine["cpu"].cpu())
            if mine.get("cuda") is not None and self.device.type == "cuda":
                torch.cuda.set_rng_state(mine["cuda"].cpu(), self.device)
        else:
            self._seed_noise(self.step)
