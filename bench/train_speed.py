"""How fast is our GAN training step, against the way the seeds train?

In one run, on the same networks (`pipeline.gan.networks`, the model and widths given) at the
same batch:
  (a) ours: `pipeline.gan.loop.Trainer.train_step` with the whole set as a uint8 tensor on the
      device, DiffAugment and EMA as given, bf16 autocast + channels-last + fused Adam on a GPU,
      no host synchronisation per step;
  (b) reference: the PyTorch DCGAN example's loop: torchvision ImageFolder over PNG crops
      (Resize + CenterCrop + ToTensor + Normalize) through a DataLoader (shuffle, workers),
      float32, BCELoss on a sigmoid output, `.item()` of D(x) and D(G(z)) every step, no
      augmentation, no EMA;
  (c) the ceiling: our step (same precision, layout and optimisers) on one batch made once on
      the device: no data loading, no augmentation, no EMA, only the networks' forward and
      backward passes and the optimiser steps, which no data pipeline can beat.
Prints images/second of each, the ratio to the reference and the share of the ceiling. The
crops are PNGs made from the portraits in tests/data/faces (shifted, mirrored and recoloured so
they differ), at --crop pixels, like the shard stage's. `--json PATH` also writes the figures.

    python bench/train_speed.py                                   # DCGAN-64, batch 512 (GPU)
    python bench/train_speed.py --resolution 32 --batch 32 --width 16 --steps 20   # CPU, tiny
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageEnhance, ImageOps

from pipeline.config import TrainParams
from pipeline.devices import resolve_device
from pipeline.formats.shards import to_uint8_image
from pipeline.gan.data import TrainSet
from pipeline.gan.loop import Trainer
from pipeline.gan.networks import ModelSpec, build_discriminator, build_generator

ROOT = Path(__file__).resolve().parents[1]
FACES = ROOT / "tests" / "data" / "faces"
SOURCES = ["astronaut_collins", "biden_official_2013", "kate_siegel", "paul_rudd",
           "angelina_jolie"]


def make_crops(folder: Path, n: int, side: int, seed: int = 0) -> list[Path]:
    """n PNG face crops of side x side in folder/faces/ (an ImageFolder with one class)."""
    rng = np.random.default_rng(seed)
    out = folder / "faces"
    out.mkdir(parents=True)
    bases = []
    for name in SOURCES:
        with Image.open(FACES / f"{name}.jpg") as im:
            im.draft("RGB", (side * 2, side * 2))
            bases.append(ImageOps.fit(im.convert("RGB"), (side + side // 8,) * 2))
    distinct = []
    for i in range(min(n, 200)):  # decoding cost does not depend on how many are distinct
        im = bases[i % len(bases)]
        dx, dy = rng.integers(0, side // 8 + 1, size=2)
        im = im.crop((int(dx), int(dy), int(dx) + side, int(dy) + side))
        im = ImageOps.mirror(im) if rng.random() < 0.5 else im
        im = ImageEnhance.Color(im).enhance(float(rng.uniform(0.7, 1.3)))
        path = out / f"{i:06d}.png"
        im.save(path, "PNG")
        distinct.append(path.read_bytes())
    paths = []
    for i in range(n):
        path = out / f"{i:06d}.png"
        if i >= len(distinct):
            path.write_bytes(distinct[i % len(distinct)])
        paths.append(path)
    return paths


def describe(device: torch.device) -> str:
    """The GPU's name, or the CPU and its thread count: the machine a figure belongs to."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_ours(paths: list[Path], spec: ModelSpec, params: TrainParams, device: torch.device,
               steps: int, warmup: int) -> tuple[float, str]:
    images = np.stack([to_uint8_image(Image.open(p), spec.resolution) for p in paths])
    data = TrainSet(images=torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
                    conditions=torch.zeros(len(paths), 0), encoding=None, students=1,
                    stored_size=0, fingerprint="")
    trainer = Trainer(spec, params, data, device)
    return timed(trainer, device, steps, warmup, params), trainer.speed.precision


class PremadeBatch(Trainer):
    """Our step on one batch prepared once on the device (the ceiling's loop)."""

    def __init__(self, spec: ModelSpec, params: TrainParams, data: TrainSet,
                 device: torch.device) -> None:
        super().__init__(spec, dataclasses.replace(params, diffaugment="", ema_decay=0.0), data,
                         device)
        self._premade = super()._batch(torch.arange(self.per_rank) % self.n)

    def _batch(self, index: torch.Tensor) -> torch.Tensor:
        return self._premade


def bench_ceiling(paths: list[Path], spec: ModelSpec, params: TrainParams, device: torch.device,
                  steps: int, warmup: int) -> float:
    images = np.stack([to_uint8_image(Image.open(p), spec.resolution) for p in paths])
    data = TrainSet(images=torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
                    conditions=torch.zeros(len(paths), 0), encoding=None, students=1,
                    stored_size=0, fingerprint="")
    return timed(PremadeBatch(spec, params, data, device), device, steps, warmup, params)


def timed(trainer: Trainer, device: torch.device, steps: int, warmup: int,
          params: TrainParams) -> float:
    """Images per second of `steps` train steps after `warmup` untimed ones."""
    for _ in range(warmup):
        trainer.train_step()
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    sync(device)
    return steps * params.batch_size / (time.perf_counter() - start)


def bench_reference(folder: Path, spec: ModelSpec, params: TrainParams, device: torch.device,
                    steps: int, warmup: int, workers: int) -> float:
    """The PyTorch DCGAN example's training loop (examples/dcgan/main.py), timed per batch."""
    import torchvision.datasets as dset
    import torchvision.transforms as transforms

    dataset = dset.ImageFolder(root=str(folder), transform=transforms.Compose([
        transforms.Resize(spec.resolution),
        transforms.CenterCrop(spec.resolution),
        transforms.ToTensor(),
        transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    ]))
    loader = torch.utils.data.DataLoader(dataset, batch_size=params.batch_size, shuffle=True,
                                         num_workers=workers, drop_last=True)
    torch.manual_seed(params.seed)
    net_g = build_generator(spec).to(device)
    net_d = build_discriminator(spec).to(device)
    criterion = torch.nn.BCELoss()
    opt_d = torch.optim.Adam(net_d.parameters(), lr=params.lr, betas=params.betas)
    opt_g = torch.optim.Adam(net_g.parameters(), lr=params.lr, betas=params.betas)
    done, start = 0, None
    while done < warmup + steps:
        for data, _ in loader:
            if done == warmup:
                sync(device)
                start = time.perf_counter()
            net_d.zero_grad()
            real = data.to(device)
            b = real.size(0)
            label = torch.full((b,), 1.0, device=device)
            output = torch.sigmoid(net_d(real)).view(-1)
            err_real = criterion(output, label)
            err_real.backward()
            output.mean().item()  # D_x
            noise = torch.randn(b, spec.latent_dim, device=device)
            fake = net_g(noise)
            label.fill_(0.0)
            output = torch.sigmoid(net_d(fake.detach())).view(-1)
            err_fake = criterion(output, label)
            err_fake.backward()
            output.mean().item()  # D_G_z1
            opt_d.step()
            net_g.zero_grad()
            label.fill_(1.0)
            output = torch.sigmoid(net_d(fake)).view(-1)
            err_g = criterion(output, label)
            err_g.backward()
            output.mean().item()  # D_G_z2
            opt_g.step()
            done += 1
            if done == warmup + steps:
                break
    sync(device)
    assert start is not None
    return steps * params.batch_size / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="dcgan", choices=["mlp", "dcgan"])
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--width", type=int, default=64, help="g_width and d_width")
    ap.add_argument("--latent", type=int, default=100)
    ap.add_argument("--steps", type=int, default=100, help="timed steps of each loop")
    ap.add_argument("--reference-steps", type=int, default=None,
                    help="timed steps of the reference (default: --steps)")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--images", type=int, default=4096, help="crops in the set")
    ap.add_argument("--crop", type=int, default=256, help="side of the PNG crops")
    ap.add_argument("--diffaugment", default=TrainParams.diffaugment)
    ap.add_argument("--ema", type=float, default=TrainParams.ema_decay)
    ap.add_argument("--workers", type=int, default=4, help="reference DataLoader workers")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()

    device = resolve_device(args.device)
    spec = ModelSpec(args.model, args.resolution, args.latent, args.width, args.width)
    params = dataclasses.replace(TrainParams(), model=args.model, resolution=args.resolution,
                                 latent_dim=args.latent, g_width=args.width,
                                 d_width=args.width, batch_size=args.batch,
                                 diffaugment=args.diffaugment, ema_decay=args.ema,
                                 log_every=max(args.steps, 1))
    images = max(args.images, args.batch)
    with tempfile.TemporaryDirectory(prefix="facedata-train-bench-") as tmp:
        paths = make_crops(Path(tmp), images, args.crop)
        ours, precision = bench_ours(paths, spec, params, device, args.steps, args.warmup)
        ceiling = bench_ceiling(paths, spec, params, device, args.steps, args.warmup)
        reference = bench_reference(Path(tmp), spec, params, device,
                                    args.reference_steps or args.steps, args.warmup,
                                    args.workers)

    print(f"device: {describe(device)}; torch {torch.__version__}")
    print(f"{args.model} {args.resolution}x{args.resolution}, batch {args.batch}, widths "
          f"{args.width}, latent {args.latent}; {images} PNG crops of {args.crop} px; "
          f"ours: diffaugment '{args.diffaugment}', ema {args.ema}")
    rows = [("ours: uint8 set on device, no per-step sync", precision, ours),
            ("reference: DCGAN example, DataLoader over PNGs", "fp32", reference),
            ("ceiling: our step on one premade batch", precision, ceiling)]
    print(f"| {'loop':<48} | precision | {'img/s':>9} | ratio | of ceiling |")
    print(f"|{'-' * 50}|-----------|{'-' * 11}|-------|------------|")
    for label, prec, rate in rows:
        print(f"| {label:<48} | {prec:<9} | {rate:>9.0f} | {rate / reference:>4.1f}x | "
              f"{rate / ceiling:>9.0%} |")
    if args.json:
        args.json.write_text(json.dumps({
            "device": describe(device), "torch": torch.__version__, "precision": precision,
            "setting": f"{args.model} {args.resolution}px, batch {args.batch}, widths "
                       f"{args.width}", "ours": ours, "reference": reference,
            "ceiling": ceiling}, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
