"""Trick ``momentum``: heavy-ball momentum for the SGD optimizer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

import condensekit

if TYPE_CHECKING:
    from condensekit.hookspecs import Register


class MomentumParams(BaseModel):
    """Momentum coefficient."""

    model_config = ConfigDict(extra="forbid")
    beta: float = Field(0.9, ge=0.0, lt=1.0, description="momentum coefficient of SGD")
    nesterov: bool = Field(False, description="use Nesterov momentum")


class MomentumTrick:
    """Adds ``momentum`` (and ``nesterov``) to the optimizer options."""

    def __init__(self, params: MomentumParams):
        self.params = params

    @condensekit.hookimpl
    def optimizer_overrides(self, run: Any) -> dict[str, Any]:
        return {"momentum": self.params.beta, "nesterov": self.params.nesterov}


@condensekit.hookimpl
def register_tricks(register: Register) -> None:
    register("momentum", MomentumTrick, params=MomentumParams, summary="SGD with momentum beta")
