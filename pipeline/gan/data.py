"""The training set: every sample of the train shards as ONE uint8 tensor N x 3 x R x R.

A class is small (8000 crops x 64 x 64 x 3 = 98 MB), so the whole set is decoded once, reduced
to the training resolution and kept as a tensor the trainer moves to the GPU: no DataLoader, no
per-step decoding. Crops are reduced with the shards' one resize (`pipeline.formats.shards`,
RESIZE: PIL's Lanczos, which antialiases when shrinking; the evaluate stage reduces the real images
with the same, so FID compares like with like); the tensor stays uint8 and becomes [-1, 1] floats
per batch on the device.

Reads the train split of the shards and `encoding.json` (stored with a conditional generator so
prompts can be mapped onto conditions later). Augmented copies are part of the train split and are
used like the originals.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from pipeline.formats.common import FormatError
from pipeline.formats.encoding import read_encoding
from pipeline.formats.shards import read_index, read_split
from pipeline.gan import TrainError


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
    try:
        index = read_index(shards_dir)
        encoding = read_encoding(shards_dir)
        split = read_split(index, "train", resolution)
    except FormatError as exc:
        raise TrainError(str(exc)) from None
    if not len(split.images):
        raise TrainError(f"the train split in {shards_dir} has no images (index.json: "
                         f"{index.note or 'no samples'}); add students or check the crops")
    cond = _condition_tensor(split.conditions, encoding)
    data = torch.from_numpy(split.images).permute(0, 3, 1, 2).contiguous()
    digest = hashlib.sha256()
    digest.update(data.numpy().data)
    digest.update(cond.numpy().data)
    return TrainSet(images=data, conditions=cond, encoding=encoding,
                    students=len(set(split.students)), stored_size=split.stored_size,
                    fingerprint=digest.hexdigest())


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
