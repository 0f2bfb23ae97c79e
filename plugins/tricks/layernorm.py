"""Trick ``layernorm``: layer normalization in every hidden layer (the model must have a ``norm`` parameter).

mlp/resmlp get ``nn.LayerNorm`` after each hidden linear layer; ``cnn`` gets GroupNorm with one group after
each convolution (LayerNorm over channels and positions). Models without a ``norm`` parameter (``timm``)
fail validation with a message that says so, never silently.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

import condensekit

if TYPE_CHECKING:
    from condensekit.hookspecs import Register


class LayerNormParams(BaseModel):
    """No parameters: it sets the model's ``norm`` to ``"layer"``."""

    model_config = ConfigDict(extra="forbid")


class LayerNormTrick:
    """Asks the model for ``norm = "layer"``."""

    def __init__(self, params: LayerNormParams):
        self.params = params

    @condensekit.hookimpl
    def model_overrides(self, run: Any) -> dict[str, Any]:
        return {"norm": "layer"}


@condensekit.hookimpl
def register_tricks(register: Register) -> None:
    register(
        "layernorm",
        LayerNormTrick,
        params=LayerNormParams,
        summary="layer normalisation in every hidden layer (model param norm='layer')",
    )
