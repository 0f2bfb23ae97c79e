"""Trick ``weight_decay``: L2 regularisation ``l2/2 * ||w||^2``, applied as SGD weight decay."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

import condensekit

if TYPE_CHECKING:
    from condensekit.hookspecs import Register


class WeightDecayParams(BaseModel):
    """L2 strength."""

    model_config = ConfigDict(extra="forbid")
    l2: float = Field(1e-4, ge=0.0, description="L2 coefficient; for plain SGD equal to weight decay")


class WeightDecayTrick:
    """Adds ``weight_decay = l2`` to the optimizer options (the gradient of ``l2/2 ||w||^2``)."""

    def __init__(self, params: WeightDecayParams):
        self.params = params

    @condensekit.hookimpl
    def optimizer_overrides(self, run: Any) -> dict[str, Any]:
        return {"weight_decay": self.params.l2}


@condensekit.hookimpl
def register_tricks(register: Register) -> None:
    register(
        "weight_decay",
        WeightDecayTrick,
        params=WeightDecayParams,
        summary="L2 regularisation (SGD weight decay)",
    )
