"""The activation modules behind the shared activation names
(:data:`condensekit_plugins.models.shared.Activation`)."""

from __future__ import annotations

from torch import nn


def make_activation(name: str, leaky_slope: float = 0.01) -> nn.Module:
    """A fresh activation module by its shared name.

    Args:
        name: ``relu``, ``leaky_relu``, ``gelu``, ``tanh``, ``sigmoid``, ``silu`` or ``identity``.
        leaky_slope: the negative slope of ``leaky_relu`` (the MLPs use 0.1, the CNN torch's default 0.01).
    """
    if name == "leaky_relu":
        return nn.LeakyReLU(leaky_slope)
    return {
        "relu": nn.ReLU,
        "gelu": nn.GELU,
        "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid,
        "silu": nn.SiLU,
        "identity": nn.Identity,
    }[name]()
