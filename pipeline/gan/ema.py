"""An exponential moving average of the generator's weights.

Samples from averaged weights are smoother and more stable than from the last step's (Karras et
al. 2018; Yazıcı et al. 2019), which matters with small data where the raw generator oscillates.
The decay ramps up as min(decay, (1 + t) / (10 + t)) so that a short run (the demo's few hundred
steps) is not dominated by the random initial weights. Buffers (BatchNorm running statistics)
are copied, not averaged. Updates are in-place foreach kernels: no host synchronisation.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        """Move the average towards `model` (the same architecture) after training step `step`."""
        decay = min(self.decay, (1 + step) / (10 + step))
        torch._foreach_lerp_(list(self.model.parameters()), list(model.parameters()), 1 - decay)
        buffers = list(self.model.buffers())
        if buffers:  # the mlp has none
            torch._foreach_copy_(buffers, list(model.buffers()))
