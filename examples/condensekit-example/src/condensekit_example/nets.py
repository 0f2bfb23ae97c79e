"""The torch module behind ``funnel_mlp``; imported only when a model is built."""

from __future__ import annotations

import torch
from torch import nn


class FunnelMLP(nn.Module):
    """Linear -> activation blocks of shrinking width, then a linear classifier."""

    def __init__(self, in_features: int, num_classes: int, widths: list[int], activation: str):
        super().__init__()
        sizes = [in_features, *widths]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        self.act = nn.ReLU() if activation == "relu" else nn.Tanh()
        self.head = nn.Linear(sizes[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.flatten(1)
        for layer in self.hidden:
            h = self.act(layer(h))
        return self.head(h)

    def probe_points(self) -> dict[str, nn.Module]:
        """Each hidden pre-activation, and the logits (condensekit measures features at these)."""
        points: dict[str, nn.Module] = {f"layer{i + 1}": m for i, m in enumerate(self.hidden)}
        points["logits"] = self.head
        return points
