"""Files the training stage writes: resumable checkpoints and the final generator.

Both are written atomically (a temporary sibling, flushed to disk, then `os.replace`), so a run
killed at any moment leaves either the previous file or the new one, never half of one. Both are
plain dictionaries of tensors, numbers, strings and lists, loaded with `weights_only=True`: opening
a file cannot run code.

`generator.pt` (FORMAT): `spec` (the `ModelSpec` fields: model, resolution, latent_dim, g_width,
d_width, condition_dim, spectral_norm), `encoding` (encoding.json of the shards for a conditional
model, else None), `ema` (whether the weights are the moving average), `steps`, `train` (the
train params), `state_dict` (float32, contiguous, CPU).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pipeline.formats.encoding import Encoding
from pipeline.gan import TrainError
from pipeline.gan.networks import ModelSpec, build_generator
from pipeline.io import atomic_path

FORMAT = "facedata-generator/1"
CHECKPOINT_FORMAT = "facedata-train-checkpoint/1"


def save_atomic(obj: dict[str, Any], path: Path) -> None:
    """torch.save `obj` to `path` so that `path` is always either the old or the new file."""
    with atomic_path(Path(path)) as tmp:
        with open(tmp, "wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    save_atomic({"format": CHECKPOINT_FORMAT, **state}, path)


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """A checkpoint written by `save_checkpoint`; TrainError when it is not one."""
    state = _load(Path(path), device, "training checkpoint")
    if state.get("format") != CHECKPOINT_FORMAT:
        raise TrainError(f"{path} is not a facedata training checkpoint")
    return state


def cpu_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """Weights as float32, contiguous (not channels-last), CPU tensors: portable anywhere."""
    return {k: (v.detach().float() if v.is_floating_point() else v.detach()).cpu().contiguous()
            for k, v in module.state_dict().items()}


def save_generator(generator: nn.Module, spec: ModelSpec, path: Path,
                   encoding: dict[str, Any] | None, ema: bool, steps: int,
                   train: dict[str, Any]) -> None:
    """Write `generator.pt` (see the module docstring) atomically."""
    save_atomic({
        "format": FORMAT,
        "spec": dataclasses.asdict(spec),
        "encoding": encoding,
        "ema": ema,
        "steps": steps,
        "train": train,
        "state_dict": cpu_state_dict(generator),
    }, path)


def load_generator(path: Path, device: torch.device | str = "cpu"
                   ) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the generator saved at `path`, in eval mode on `device`, and its metadata.

    The module maps `(z, condition | None)` to images in [-1, 1], N x 3 x R x R, where z is
    N x meta["latent_dim"] (standard normal during training) and condition is None for an
    unconditional model, or N x meta["condition_dim"] float vectors laid out as
    meta["encoding"] says (`encoding_of(meta)`) for `cdcgan`.

    meta: "model" (mlp | dcgan | cdcgan), "resolution", "latent_dim", "condition_dim",
    "g_width", "d_width", "spectral_norm", "encoding" (dict or None), "ema" (weights are the
    moving average), "steps" (training steps done), "train" (the train params used).
    TrainError (a ValueError) when the file is missing or not a facedata generator.
    """
    path = Path(path)
    saved = _load(path, "cpu", "generator")
    if saved.get("format") != FORMAT or "spec" not in saved or "state_dict" not in saved:
        raise TrainError(f"{path} is not a facedata generator (no {FORMAT} header); train one "
                         "with facedata train")
    try:
        spec = ModelSpec(**saved["spec"])
        generator = build_generator(spec)
        generator.load_state_dict(saved["state_dict"])
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TrainError(f"{path}: the generator cannot be rebuilt ({exc}); it was written by "
                         "an incompatible version, retrain it") from None
    meta = {**saved["spec"], "encoding": saved.get("encoding"), "ema": saved.get("ema"),
            "steps": saved.get("steps"), "train": saved.get("train")}
    return generator.to(device).eval(), meta


def encoding_of(meta: Mapping[str, Any]) -> Encoding | None:
    """The attribute encoding stored with a conditional model, None for an unconditional one."""
    enc = meta.get("encoding")
    if enc is None or isinstance(enc, Encoding):
        return enc
    return Encoding.from_json(enc)


def _load(path: Path, device: torch.device | str, what: str) -> dict[str, Any]:
    if not path.is_file():
        raise TrainError(f"no {what} at {path}")
    try:
        data = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged or foreign file
        raise TrainError(f"{path} cannot be read as a {what} ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    if not isinstance(data, dict):
        raise TrainError(f"{path} is not a facedata {what}")
    return data
