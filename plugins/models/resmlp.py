"""Model ``resmlp``: a residual MLP with the same depth/width/activation parameters as ``mlp``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

import condensekit
from condensekit_plugins.models.mlp import MLPParams, build_mlp

if TYPE_CHECKING:
    from condensekit.hookspecs import Register


class ResMLPParams(MLPParams):
    """Parameters of the residual MLP: as ``mlp``; ``depth`` counts the stem, the blocks' layers and the
    head."""

    depth: int = Field(
        10, ge=3, le=200, description="number of linear layers: stem + (depth-2) one-linear blocks + head"
    )


def build_resmlp(params: ResMLPParams, info: Any) -> Any:
    return build_mlp(params, info, residual=True)


@condensekit.hookimpl
def register_models(register: Register) -> None:
    register(
        "resmlp",
        build_resmlp,
        params=ResMLPParams,
        summary=(
            "residual MLP; probe points: residual stream after "
            "each block, each block's pre-activation, logits"
        ),
    )
