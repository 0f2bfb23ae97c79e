"""Trick ``batchnorm``: batch normalisation after every hidden layer (the model must have a ``norm``
parameter)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

import condensekit

if TYPE_CHECKING:
    from condensekit.hookspecs import Register


class BatchNormParams(BaseModel):
    """No parameters: it sets the model's ``norm`` to ``"batch"``."""

    model_config = ConfigDict(extra="forbid")


class BatchNormTrick:
    """Asks the model for ``norm = "batch"``; a model without a ``norm`` parameter is a validation error."""

    def __init__(self, params: BatchNormParams):
        self.params = params

    @condensekit.hookimpl
    def model_overrides(self, run: Any) -> dict[str, Any]:
        return {"norm": "batch"}


@condensekit.hookimpl
def register_tricks(register: Register) -> None:
    register(
        "batchnorm",
        BatchNormTrick,
        params=BatchNormParams,
        summary="batch normalisation in every hidden layer (model param norm='batch')",
    )
