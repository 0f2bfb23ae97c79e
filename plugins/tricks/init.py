"""Trick ``init``: re-initialise every Linear and Conv weight with a scheme and a scale; biases to zero.

Applies to every ``nn.Linear`` and ``nn.Conv1d/2d/3d`` in the model, whatever the model's own
initialiser did (timm models included): the trick's job is to control the initialisation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

import condensekit

if TYPE_CHECKING:
    from condensekit.hookspecs import Register


class InitParams(BaseModel):
    """Initialisation scheme and scale."""

    model_config = ConfigDict(extra="forbid")
    scheme: Literal["xavier_normal", "xavier_uniform", "kaiming_normal", "kaiming_uniform", "orthogonal"] = (
        Field("xavier_normal", description="weight initialisation scheme")
    )
    scale: float = Field(
        1.0, gt=0.0, description="multiplies the initial weights (the std for normal schemes)"
    )
    zero_bias: bool = Field(True, description="set biases to zero")


def reinitialise(model: Any, params: InitParams) -> int:
    """Apply the scheme in place; return the number of layers touched."""
    import torch
    from torch import nn

    schemes = {
        "xavier_normal": nn.init.xavier_normal_,
        "xavier_uniform": nn.init.xavier_uniform_,
        "kaiming_normal": lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"),
        "kaiming_uniform": lambda w: nn.init.kaiming_uniform_(w, nonlinearity="relu"),
        "orthogonal": nn.init.orthogonal_,
    }
    count = 0
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Linear | nn.Conv1d | nn.Conv2d | nn.Conv3d):
                schemes[params.scheme](m.weight)
                m.weight.mul_(params.scale)
                if params.zero_bias and m.bias is not None:
                    m.bias.zero_()
                count += 1
    return count


class InitTrick:
    """Re-initialises the model in ``model_built`` (before it moves to the device)."""

    def __init__(self, params: InitParams):
        self.params = params

    @condensekit.hookimpl
    def model_built(self, run: Any, model: Any) -> None:
        if reinitialise(model, self.params) == 0:
            raise condensekit.CondensekitError(
                f"trick 'init': model {run.spec.model.use!r} has no Linear or Conv layer to initialise"
            )


@condensekit.hookimpl
def register_tricks(register: Register) -> None:
    register(
        "init", InitTrick, params=InitParams, summary="re-initialise Linear/Conv weights (scheme, scale)"
    )
