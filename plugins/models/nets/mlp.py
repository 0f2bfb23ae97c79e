"""Plain and residual MLPs, with the probe points docs/metrics.md names for them."""

from __future__ import annotations

import math

import torch
from torch import nn

from condensekit_plugins.models.nets.activations import make_activation


def activation(name: str) -> nn.Module:
    """The MLPs' activations; their ``leaky_relu`` has slope 0.1."""
    return make_activation(name, leaky_slope=0.1)


def norm_layer(kind: str, width: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm1d(width)
    if kind == "layer":
        return nn.LayerNorm(width)
    return nn.Identity()


def dropout_layer(p: float) -> nn.Module:
    """``nn.Dropout(p)``, or an identity for ``p == 0`` so the default network is exactly the plain one."""
    return nn.Dropout(p) if p > 0 else nn.Identity()


def xavier_normal_(model: nn.Module) -> None:
    """The papers' default: Xavier-normal weights, zero biases."""
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_normal_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class MLP(nn.Module):
    """``depth`` linear layers (the classifier included): Linear -> norm -> activation, repeated.

    Probe points are the hidden linear layers' outputs (the pre-activations, before any norm) named
    ``layer1 .. layer{depth-1}``, plus ``logits``.
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        depth: int,
        width: int,
        activation_name: str,
        norm: str,
        bias: bool,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.hidden = nn.ModuleList()
        self.norms = nn.ModuleList()
        self.acts = nn.ModuleList()
        self.drops = nn.ModuleList()
        fan_in = in_features
        for _ in range(depth - 1):
            self.hidden.append(nn.Linear(fan_in, width, bias=bias))
            self.norms.append(norm_layer(norm, width))
            self.acts.append(activation(activation_name))
            self.drops.append(dropout_layer(dropout))
            fan_in = width
        self.head = nn.Linear(fan_in, num_classes, bias=bias)
        xavier_normal_(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.flatten(1)
        for linear, norm, act, drop in zip(self.hidden, self.norms, self.acts, self.drops, strict=True):
            h = drop(act(norm(linear(h))))
        return self.head(h)

    def probe_points(self) -> dict[str, nn.Module]:
        points: dict[str, nn.Module] = {f"layer{i + 1}": m for i, m in enumerate(self.hidden)}
        points["logits"] = self.head
        return points

    def probe_activations(self) -> dict[str, nn.Module]:
        """The activation acting on each hidden layer's output (after its norm): where a unit can be dead."""
        return {f"layer{i + 1}": act for i, act in enumerate(self.acts)}


class ResidualBlock(nn.Module):
    """Pre-activation residual block with one linear layer: ``h + fc(act(norm(h)))``."""

    def __init__(self, width: int, activation_name: str, norm: str, bias: bool, dropout: float = 0.0):
        super().__init__()
        self.norm = norm_layer(norm, width)
        self.act = activation(activation_name)
        self.drop = dropout_layer(dropout)
        self.fc = nn.Linear(width, width, bias=bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.fc(self.drop(self.act(self.norm(h))))


class ResMLP(nn.Module):
    """Residual MLP with ``depth`` linear layers: a stem, ``depth - 2`` one-linear blocks and a head.

    Probe points: ``stem`` (start of the residual stream), ``block{i}`` (the stream after block i),
    ``block{i}.fc`` (the block's pre-activation branch output) and ``logits``. The branch scale
    ``1/sqrt(depth)`` keeps the stream's variance bounded at initialisation.
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        depth: int,
        width: int,
        activation_name: str,
        norm: str,
        bias: bool,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.stem = nn.Linear(in_features, width, bias=bias)
        self.blocks = nn.ModuleList(
            ResidualBlock(width, activation_name, norm, bias, dropout) for _ in range(depth - 2)
        )
        self.final_norm = norm_layer(norm, width)
        self.final_act = activation(activation_name)
        self.final_drop = dropout_layer(dropout)
        self.head = nn.Linear(width, num_classes, bias=bias)
        xavier_normal_(self)
        with torch.no_grad():
            for block in self.blocks:
                block.fc.weight.mul_(1.0 / math.sqrt(max(1, depth - 2)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x.flatten(1))
        for block in self.blocks:
            h = block(h)
        return self.head(self.final_drop(self.final_act(self.final_norm(h))))

    def probe_points(self) -> dict[str, nn.Module]:
        points: dict[str, nn.Module] = {"stem": self.stem}
        for i, block in enumerate(self.blocks):
            points[f"block{i + 1}"] = block
            points[f"block{i + 1}.fc"] = block.fc
        points["logits"] = self.head
        return points

    def probe_activations(self) -> dict[str, nn.Module]:
        """None: each probe point is the residual stream or a branch added to it, not an activation's own
        input."""
        return {}
