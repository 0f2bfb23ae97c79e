"""Run a model and capture every probe point's output with forward hooks (shared by the model tests)."""

from __future__ import annotations

import torch
from torch import nn


def capture(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Run ``model`` on ``x`` and return the logits and every probe point's output (via forward hooks)."""
    outputs: dict[str, torch.Tensor] = {}
    handles = [
        module.register_forward_hook(lambda _m, _i, out, name=name: outputs.__setitem__(name, out))
        for name, module in model.probe_points().items()
    ]
    try:
        logits = model(x)
    finally:
        for handle in handles:
            handle.remove()
    return logits, outputs
