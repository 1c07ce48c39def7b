"""The augment stage: `augment.copies` randomly altered copies of every crop, reproducibly.

Each copy's random draws come from its own generator, seeded from (augment.seed, student, file,
copy number), so a copy never depends on which other photos are in the class or in what order
they are processed. The warps and colour changes are torchvision.transforms.v2's functional ops;
only the parameters are drawn here, in a fixed order, and written to the index so that any copy
can be explained. Rotation and scaling happen around the crop centre on a mirrored border, so no
black corners appear; the defaults keep rotation to a few degrees, because the GAN should learn
upright, level faces (the crop stage aligns them precisely for that reason).

Outputs under the stage's folder (default `data/processed/augmented/`):
`<student>/<crop name without .png>_aug<k>.png` for k = 1..copies and `index.csv` (student,
file, copy, path, and the drawn parameters). With `augment.copies: 0` only the header of
index.csv is written.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path, PurePosixPath

import numpy as np
import torch
import torchvision.transforms.v2.functional as F
from PIL import Image
from torchvision.transforms.v2 import InterpolationMode

from pipeline.config import AugmentParams
from pipeline.formats.crops import read_crops_index, write_augmented_index
from pipeline.io import atomic_path
from pipeline.progress import Progress, no_progress, track


@dataclass(frozen=True)
class Recipe:
    """What was done to one copy; neutral values mean the step was skipped."""

    flip: bool = False
    angle: float = 0.0  # degrees, counter-clockwise
    scale: float = 1.0
    brightness: float = 1.0
    contrast: float = 1.0
    saturation: float = 1.0
    hue: float = 0.0


RECIPE_COLUMNS = [f.name for f in fields(Recipe)]


def copy_seed(seed: int, student: str, file: str, copy: int) -> int:
    """A 64-bit seed for one copy that depends only on its identity, not on processing order."""
    digest = hashlib.sha256(f"{seed}\0{student}\0{file}\0{copy}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def draw_recipe(params: AugmentParams, seed: int) -> Recipe:
    """Draw one copy's parameters; every draw happens whether or not its step is taken, so
    changing one probability does not reshuffle the other steps."""
    rng = np.random.Generator(np.random.PCG64(seed))
    u = rng.random(11)
    flip = bool(u[0] < params.flip_p)
    angle = (2 * u[2] - 1) * params.rotate_deg if u[1] < params.rotate_p else 0.0
    scale = 1 + (2 * u[4] - 1) * params.scale if u[3] < params.scale_p else 1.0
    if u[5] < params.jitter_p:
        brightness = 1 + (2 * u[6] - 1) * params.brightness
        contrast = 1 + (2 * u[7] - 1) * params.contrast
        saturation = 1 + (2 * u[8] - 1) * params.saturation
        hue = (2 * u[9] - 1) * params.hue
    else:
        brightness = contrast = saturation = 1.0
        hue = 0.0
    return Recipe(flip, float(angle), float(scale), float(brightness), float(contrast),
                  float(saturation), float(hue))


def apply_recipe(image: Image.Image, recipe: Recipe) -> Image.Image:
    """`image` altered as `recipe` says, same size, RGB."""
    t = F.pil_to_tensor(image.convert("RGB"))
    if recipe.flip:
        t = F.horizontal_flip(t)
    if recipe.angle != 0.0 or recipe.scale != 1.0:
        t = _warp(t, recipe.angle, recipe.scale)
    if recipe.brightness != 1.0:
        t = F.adjust_brightness(t, recipe.brightness)
    if recipe.contrast != 1.0:
        t = F.adjust_contrast(t, recipe.contrast)
    if recipe.saturation != 1.0:
        t = F.adjust_saturation(t, recipe.saturation)
    if recipe.hue != 0.0:
        t = F.adjust_hue(t, recipe.hue)
    return F.to_pil_image(t)


def _warp(t: torch.Tensor, angle: float, scale: float) -> torch.Tensor:
    """Rotate and scale about the centre, filling the revealed border with the mirrored image."""
    _, h, w = t.shape
    half = max(h, w) / 2
    rad = math.radians(abs(angle))
    # An output corner maps back to half*(cos+sin)/scale from the centre: pad to cover it.
    pad = math.ceil(half * (math.cos(rad) + math.sin(rad)) / scale - half) + 2
    pad = max(2, min(pad, min(h, w) - 1))  # reflect padding cannot exceed the image itself
    padded = F.pad(t, [pad, pad, pad, pad], padding_mode="reflect")
    warped = F.affine(padded, angle=angle, translate=[0, 0], scale=scale, shear=[0.0, 0.0],
                      interpolation=InterpolationMode.BILINEAR)
    return F.center_crop(warped, [h, w])


def run_augment(crops_dir: Path, out_dir: Path, params: AugmentParams,
                progress: Progress = no_progress) -> dict[str, int]:
    """Write `params.copies` augmented copies of every crop listed in `crops_dir`/index.csv.

    `out_dir` is replaced as a whole when done. Returns counts for metrics.
    """
    crops_dir, out_dir = Path(crops_dir), Path(out_dir)
    rows = read_crops_index(crops_dir) if params.copies > 0 else []
    index: list[dict[str, object]] = []
    with atomic_path(out_dir) as tmp:
        tmp.mkdir(parents=True)
        for row in track(rows, progress, "augment", len(rows)):
            crop = PurePosixPath(row["crop"])
            with Image.open(crops_dir / crop) as im:
                image = im.convert("RGB")
            for copy in range(1, params.copies + 1):
                recipe = draw_recipe(params, copy_seed(params.seed, row["student"], row["file"],
                                                       copy))
                rel = crop.with_name(f"{crop.stem}_aug{copy}.png")
                target = tmp / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                apply_recipe(image, recipe).save(target, format="PNG")
                index.append({"student": row["student"], "file": row["file"], "copy": copy,
                              "path": rel.as_posix(), **asdict(recipe)})
        write_augmented_index(tmp, index, RECIPE_COLUMNS)
    return {"crops": len(rows), "copies": len(index)}
