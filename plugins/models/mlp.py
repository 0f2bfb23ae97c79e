"""Model ``mlp``: a plain deep MLP, Xavier-normal initialised as in the papers."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

import condensekit
from condensekit_plugins.models.shared import Activation

if TYPE_CHECKING:
    from condensekit.hookspecs import Register


class MLPParams(BaseModel):
    """Parameters of the plain MLP (also used by ``resmlp``)."""

    model_config = ConfigDict(extra="forbid")
    depth: int = Field(10, ge=2, le=200, description="number of linear layers, the classifier included")
    width: int = Field(256, ge=1, le=65536, description="units per hidden layer")
    activation: Activation = Field("relu", description="hidden activation")
    norm: Literal["none", "batch", "layer"] = Field(
        "none", description="normalisation after each hidden linear layer"
    )
    bias: bool = Field(True, description="linear layers have biases")
    dropout: float = Field(
        0.0, ge=0, lt=1, description="dropout probability after each hidden activation (0: none)"
    )


def build_mlp(params: MLPParams, info: Any, residual: bool = False) -> Any:
    """The plain MLP of these parameters for this data, or with ``residual`` the residual MLP (``resmlp``)."""
    from condensekit_plugins.models.nets.mlp import MLP, ResMLP

    return (ResMLP if residual else MLP)(
        math.prod(info.input_shape),
        info.num_classes,
        params.depth,
        params.width,
        params.activation,
        params.norm,
        params.bias,
        dropout=params.dropout,
    )


@condensekit.hookimpl
def register_models(register: Register) -> None:
    register(
        "mlp",
        build_mlp,
        params=MLPParams,
        summary="plain MLP; probe points: each hidden pre-activation and the logits",
    )
