"""Model ``funnel_mlp``: an MLP whose hidden width shrinks linearly from ``width`` to ``min_width``."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class FunnelParams(BaseModel):
    """Parameters of the funnel MLP."""

    model_config = ConfigDict(extra="forbid")
    depth: int = Field(4, ge=2, le=50, description="number of linear layers, the classifier included")
    width: int = Field(64, ge=1, description="width of the first hidden layer")
    min_width: int = Field(8, ge=1, description="width of the last hidden layer")
    activation: Literal["relu", "tanh"] = Field("relu", description="hidden activation")


def hidden_widths(params: FunnelParams) -> list[int]:
    """Widths of the ``depth - 1`` hidden layers, linearly from ``width`` down to ``min_width``."""
    count = params.depth - 1
    if count == 1:
        return [params.width]
    step = (params.width - params.min_width) / (count - 1)
    return [max(1, round(params.width - i * step)) for i in range(count)]


def build_funnel(params: FunnelParams, info: Any) -> Any:
    """``factory(params, info)``: torch is imported here, not when condensekit loads the plugin."""
    from condensekit_example.nets import FunnelMLP

    return FunnelMLP(math.prod(info.input_shape), info.num_classes, hidden_widths(params), params.activation)
