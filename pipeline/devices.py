"""Which torch device a stage runs on, and where a process stands in a torchrun job.

One policy for every stage: "auto" is the GPU when there is one, else the CPU; "cpu", "cuda" and
"cuda:N" are taken as asked, and asking for a GPU that is not there is an error, not a silent
fall back to the CPU. (config.py checks the spelling when params.yaml is read.)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


class DeviceError(ValueError):
    """The device asked for is not there; the message says what to set instead."""


def resolve_device(name: str, setting: str = "device") -> torch.device:
    """"auto" -> cuda when there is one, else cpu; any other name as torch spells it.

    DeviceError, naming `setting` (e.g. "train.device"), for a name torch does not know or a GPU
    that is not visible.
    """
    import torch  # imported here: validating from the cache must not pay for loading torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DeviceError(f"{setting} must be auto, cpu, cuda or cuda:N, got {name!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"{setting} is {name} but no GPU is visible; use auto or cpu")
    return device


@dataclass(frozen=True)
class Rank:
    """Where this process stands in a torchrun job (rank 0 of 1 when alone)."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


ALONE = Rank()  # a process outside a torchrun job


def join_processes(device: torch.device) -> tuple[Rank, torch.device, bool]:
    """This process's rank and device; joins the torchrun group when WORLD_SIZE > 1 (NCCL on
    GPUs, one per process as cuda:LOCAL_RANK; gloo on CPUs). The bool says whether this call
    started the group, so the caller knows to end it."""
    import torch
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return ALONE, device, False
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device("cuda", local) if device.type == "cuda" else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    owns = not dist.is_initialized()
    if owns:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Rank(rank, world), device, owns
