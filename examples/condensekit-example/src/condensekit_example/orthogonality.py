"""Trick ``orthogonality``: a loss term ``strength * sum ||W W^T - I||^2 / rows`` over hidden weights.

Condensation makes the rows of a layer's weight point the same way; this penalty pushes them apart,
so a recipe can ask whether that removes the stalled first phase.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

import condensekit


class OrthogonalityParams(BaseModel):
    """Strength of the penalty."""

    model_config = ConfigDict(extra="forbid")
    strength: float = Field(0.01, ge=0.0, description="weight of the penalty in the training loss")


class Orthogonality:
    """Instantiated per run; condensekit calls its ``extra_loss`` hook every training step."""

    def __init__(self, params: OrthogonalityParams):
        self.params = params

    @condensekit.hookimpl
    def extra_loss(self, run: Any, model: Any, batch: Any, outputs: Any) -> Any:
        import torch
        from torch import nn

        layers = [m for m in model.modules() if isinstance(m, nn.Linear)][:-1]  # the classifier is left alone
        if not layers or self.params.strength == 0:
            return None
        total = outputs.new_zeros(())
        for layer in layers:
            w = layer.weight
            rows = w.shape[0]
            gram = w @ w.T
            total = total + ((gram - torch.eye(rows, device=w.device, dtype=w.dtype)) ** 2).sum() / rows
        return self.params.strength * total
