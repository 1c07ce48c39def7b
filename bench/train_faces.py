"""Does the trainer learn faces? How often MTCNN finds one in its samples, over a training run.

Builds the training set the pipeline would: the portraits in tests/data/faces, decoded and
detected as the validator does, cropped by the crop stage's `crop_photo` on MTCNN's landmarks,
each with --copies augmented copies drawn by the augment stage's recipes (flips, small
rotations and zooms, colour jitter). Trains `pipeline.gan.loop.Trainer` on it (DiffAugment and
EMA as given) and every --every steps measures the face detection rate of the evaluate stage
(`pipeline.evaluate.detect_faces`: the validator's MTCNN settings, images upscaled to 160 px)
on --samples images from the sampling generator (the EMA). The baselines, measured in the same
run: the real crops' rate (what a perfect generator would reach) and the untrained generator's
(step 0). Saves the last sample grid to --out; `--json PATH` also writes the table.

A handful of identities is enough to tell a trainer that learns from one that does not; it is
not a test of diversity (the generator will reproduce these few faces).

    python bench/train_faces.py                         # GPU: 64 px, widths 64, batch 512
    python bench/train_faces.py --resolution 32 --width 32 --latent 64 --batch 64 \\
        --steps 3000 --every 500                        # CPU, a few minutes
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch
from train_speed import FACES, SOURCES, describe, sync

from pipeline.augment import apply_recipe, copy_seed, draw_recipe
from pipeline.config import AugmentParams, DetectParams, TrainParams, ValidateParams
from pipeline.crop import crop_photo
from pipeline.devices import resolve_device
from pipeline.evaluate import detect_faces
from pipeline.faces import FaceAnalyzer
from pipeline.gan.data import TrainSet
from pipeline.gan.loop import Trainer
from pipeline.gan.networks import ModelSpec
from pipeline.gan.samples import grid_image
from pipeline.images import decode

PORTRAITS = sorted(SOURCES)
MAX_PIXELS = ValidateParams().max_pixels


def training_set(analyzer: FaceAnalyzer, resolution: int, copies: int,
                 augment: AugmentParams) -> torch.Tensor:
    """uint8 N x 3 x R x R: each portrait's aligned crop and its augmented copies."""
    crops = []
    for name in PORTRAITS:
        data = (FACES / f"{name}.jpg").read_bytes()
        small = decode(data, max_pixels=MAX_PIXELS, long_side=analyzer.params.long_side)
        report = analyzer.analyse([np.asarray(small.image)], [small.scale])[0]
        crop = crop_photo(data, np.asarray(report.faces[0].landmarks), resolution, MAX_PIXELS)
        crops.append(crop)
        crops += [apply_recipe(crop, draw_recipe(augment, copy_seed(augment.seed, "bench", name,
                                                                      copy)))
                  for copy in range(1, copies + 1)]
    return torch.from_numpy(np.stack([np.asarray(c) for c in crops])).permute(0, 3, 1, 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--width", type=int, default=64, help="g_width and d_width")
    ap.add_argument("--latent", type=int, default=100)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--every", type=int, default=500, help="steps between measurements")
    ap.add_argument("--copies", type=int, default=200, help="augmented copies per portrait")
    ap.add_argument("--samples", type=int, default=256, help="generated images per measurement")
    ap.add_argument("--diffaugment", default=TrainParams.diffaugment)
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--out", type=Path, default=Path("train_faces.png"), help="last sample grid")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--json", type=Path, help="also write the table here")
    args = ap.parse_args()

    device = resolve_device(args.device)
    analyzer = FaceAnalyzer(DetectParams(device=str(device)))
    images = training_set(analyzer, args.resolution, args.copies, AugmentParams())
    data = TrainSet(images=images, conditions=torch.zeros(len(images), 0), encoding=None,
                    students=len(PORTRAITS), stored_size=args.resolution, fingerprint="")
    spec = ModelSpec("dcgan", args.resolution, args.latent, args.width, args.width)
    params = dataclasses.replace(TrainParams(), model="dcgan", resolution=args.resolution,
                                 latent_dim=args.latent, g_width=args.width, d_width=args.width,
                                 batch_size=args.batch, diffaugment=args.diffaugment,
                                 ema_decay=args.ema, log_every=args.every)
    trainer = Trainer(spec, params, data, device)
    z = torch.randn(args.samples, args.latent, generator=torch.Generator().manual_seed(1))
    real = detect_faces(images[torch.randperm(len(images))[:args.samples]], analyzer)

    rows = []
    seconds = 0.0
    while True:
        samples = trainer.sample(z, None)
        found = detect_faces(samples, analyzer)
        logged = [values for _, values in trainer.flush()]  # the steps since the last row
        stats = np.mean(logged, axis=0).tolist() if logged else [float("nan")] * 4
        rows.append((trainer.step, seconds, *stats, found.rate))
        print(f"step {trainer.step}: detection rate {found.rate:.3f}", flush=True)
        if trainer.step >= args.steps:
            break
        sync(device)
        start = time.perf_counter()
        for _ in range(args.every):
            trainer.train_step()
        sync(device)
        seconds += time.perf_counter() - start
    args.out.parent.mkdir(parents=True, exist_ok=True)
    grid_image(samples).save(args.out)

    print(f"device: {describe(device)}; torch {torch.__version__}; {trainer.speed.precision}")
    print(f"dcgan {args.resolution}x{args.resolution}, widths {args.width}, latent {args.latent},"
          f" batch {args.batch}; {len(images)} crops of {len(PORTRAITS)} people; diffaugment "
          f"'{args.diffaugment}', ema {args.ema}; {args.samples} samples per measurement")
    print(f"real crops: detection rate {real.rate:.3f} (the ceiling); last grid: {args.out}")
    print("| step | train s | img/s | g_loss | d_loss | D(x) | D(G(z)) | detection rate | "
          "vs real |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for step, secs, g, d, dx, dgz, rate in rows:
        speed = f"{step * args.batch / secs:.0f}" if secs else "-"
        print(f"| {step} | {secs:.0f} | {speed} | {g:.3f} | {d:.3f} | {dx:.3f} | {dgz:.3f} | "
              f"{rate:.3f} | {rate / real.rate if real.rate else float('nan'):.2f}x |")
    if args.json:
        args.json.write_text(json.dumps({
            "device": describe(device), "torch": torch.__version__,
            "precision": trainer.speed.precision, "resolution": args.resolution,
            "batch": args.batch, "real_rate": real.rate,
            "rows": [dict(zip(("step", "seconds", "g_loss", "d_loss", "real_score",
                               "fake_score", "rate"), row, strict=True)) for row in rows],
        }, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
