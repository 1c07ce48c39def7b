"""Which torch device a stage runs on."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def resolve_device(name: str) -> torch.device:
    """"auto" -> cuda when there is one, else cpu; any other name as torch spells it."""
    import torch  # imported here: validating from the cache must not pay for loading torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)
