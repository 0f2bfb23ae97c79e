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

    def probe_groups(self) -> dict[str, list[str]]:
        """The layer mean averages the hidden pre-activations; the logits are their own group."""
        return {"hidden": [f"layer{i + 1}" for i in range(len(self.hidden))], "logits": ["logits"]}

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
    ``block{i}.fc`` (the block's branch output, added to the stream) and ``logits``. The layer mean averages
    the stream (``stem`` and every ``block{i}``: what each block's activation reads); the branch outputs
    are the group ``branch``. Each branch's weight is scaled by ``1/sqrt(blocks)`` (``blocks = depth - 2``)
    on top of Xavier-normal, which keeps the stream's variance bounded at initialisation; the model declares
    that gain (:meth:`init_gains`) so that the ``init`` trick keeps it.
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
        self.branch_gain = 1.0 / math.sqrt(max(1, depth - 2))
        xavier_normal_(self)
        with torch.no_grad():
            for block in self.blocks:
                block.fc.weight.mul_(self.branch_gain)

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

    def probe_groups(self) -> dict[str, list[str]]:
        """The stream (stem and block outputs) in the layer mean; the branch outputs and logits apart."""
        blocks = range(1, len(self.blocks) + 1)
        return {
            "hidden": ["stem", *(f"block{i}" for i in blocks)],
            "branch": [f"block{i}.fc" for i in blocks],
            "logits": ["logits"],
        }

    def init_gains(self) -> dict[str, float]:
        """Module name -> the factor this model's own initialisation multiplies its weight by: each branch's
        ``1/sqrt(blocks)``."""
        return {f"blocks.{i}.fc": self.branch_gain for i in range(len(self.blocks))}

    def probe_activations(self) -> dict[str, nn.Module]:
        """None: each probe point is the residual stream or a branch added to it, not an activation's own
        input."""
        return {}
