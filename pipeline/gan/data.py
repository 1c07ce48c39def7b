"""The training set: every sample of the train shards as ONE uint8 tensor N x 3 x R x R.

A class is small (8000 crops x 64 x 64 x 3 = 98 MB), so the whole set is decoded once, reduced
to the training resolution and kept as a tensor the trainer moves to the GPU: no DataLoader, no
per-step decoding. Crops are reduced with PIL's Lanczos filter, which antialiases when
shrinking (the same filter the evaluate stage uses for the real images, so FID compares like
with like); the tensor stays uint8 and becomes [-1, 1] floats per batch on the device.

Reads `<shards>/index.json` (the train split's shard names), the shards
(`<key>.png` + `<key>.json` with `condition`) and `<shards>/encoding.json` (stored with a
conditional generator so prompts can be mapped onto conditions later). Augmented copies are part
of the train split and are used like the originals.
"""

from __future__ import annotations

import hashlib
import io
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from pipeline.gan import TrainError
from pipeline.io import worker_count
from pipeline.shard import ShardError, read_samples

RESIZE = "PIL Lanczos"  # named once: the filter changes what the generator learns (and FID)


@dataclass(frozen=True)
class TrainSet:
    images: torch.Tensor  # uint8 N x 3 x R x R, CPU
    conditions: torch.Tensor  # float32 N x C; C = 0 when the shards carry no condition
    encoding: dict[str, Any] | None  # encoding.json as stored; None when there is none
    students: int
    stored_size: int  # side of the crops in the shards
    fingerprint: str  # sha256 of the tensors: ties a checkpoint to the data it was trained on


def load_train_set(shards_dir: Path, resolution: int) -> TrainSet:
    """Decode the train split of `shards_dir` at `resolution` (TrainError when it cannot)."""
    shards_dir = Path(shards_dir)
    index_path = shards_dir / "index.json"
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
        names = list(index["splits"]["train"]["shards"])
    except FileNotFoundError:
        raise TrainError(f"{index_path} does not exist; run the shard stage first") from None
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise TrainError(f"{index_path} is not a shard index with a train split ({exc!r}); "
                         "re-run the shard stage") from None
    encoding = _read_encoding(shards_dir / "encoding.json")
    images: list[np.ndarray] = []
    conditions: list[list[float] | None] = []
    students: set[str] = set()
    sizes: set[int] = set()
    with ThreadPoolExecutor(worker_count()) as pool:
        for name in names:
            try:
                samples = list(read_samples(shards_dir / name))
            except ShardError as exc:
                raise TrainError(str(exc)) from None
            for key, _, meta in samples:
                condition = meta.get("condition")
                if condition is not None and not (
                        isinstance(condition, list)
                        and all(isinstance(v, int | float) for v in condition)):
                    raise TrainError(f"{name}: sample {key}: condition is not a list of numbers")
                conditions.append(condition)
                students.add(str(meta.get("student", "?")))
            for array, side in pool.map(
                    lambda s, shard=name: _decode(s[1], resolution, f"{shard}: sample {s[0]}"),
                    samples):
                images.append(array)
                sizes.add(side)
    if not images:
        raise TrainError(f"the train split in {shards_dir} has no images (index.json: "
                         f"{index.get('note', 'no samples')}); add students or check the crops")
    cond = _condition_tensor(conditions, encoding)
    data = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    digest = hashlib.sha256()
    digest.update(data.numpy().data)
    digest.update(cond.numpy().data)
    return TrainSet(images=data, conditions=cond, encoding=encoding, students=len(students),
                    stored_size=max(sizes), fingerprint=digest.hexdigest())


def to_uint8_image(image: Image.Image, resolution: int) -> np.ndarray:
    """RGB H x W x 3 uint8 at `resolution` squared, reduced with RESIZE."""
    image = image.convert("RGB")
    if image.size != (resolution, resolution):
        image = image.resize((resolution, resolution), Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.uint8)


def _decode(png: bytes, resolution: int, where: str) -> tuple[np.ndarray, int]:
    try:
        with Image.open(io.BytesIO(png)) as im:
            im.load()
            image = im.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise TrainError(f"{where}: the image cannot be decoded ({exc}); re-run the shard "
                         "stage") from None
    if image.width != image.height:
        raise TrainError(f"{where}: the crop is {image.width} x {image.height}, not square; "
                         "re-run the crop stage")
    return to_uint8_image(image, resolution), image.width


def _read_encoding(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TrainError(f"{path} cannot be read ({exc}); re-run the shard stage") from None
    if not isinstance(data, dict) or not isinstance(data.get("blocks"), list):
        raise TrainError(f"{path} is not an attribute encoding (no blocks); re-run the shard "
                         "stage")
    return data


def _condition_tensor(conditions: list[list[float] | None],
                      encoding: dict[str, Any] | None) -> torch.Tensor:
    present = [c for c in conditions if c is not None]
    if not present:
        return torch.zeros(len(conditions), 0)
    widths = {len(c) for c in present}
    if len(present) != len(conditions) or len(widths) != 1:
        raise TrainError(f"the train shards mix samples with and without conditions, or of "
                         f"different widths ({sorted(widths)}); re-run the shard stage")
    width = widths.pop()
    if encoding is not None and int(encoding.get("width", width)) != width:
        raise TrainError(f"the shards' conditions are {width} wide but encoding.json says "
                         f"{encoding.get('width')}; re-run the shard stage")
    return torch.tensor(present, dtype=torch.float32)
