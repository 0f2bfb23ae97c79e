"""Trick ``dropout``: dropout after every hidden activation (the model must have a ``dropout`` parameter).

mlp and resmlp take it (``nn.Dropout`` after each hidden activation). The probe reads features with
dropout switched off, so the measured similarities are those of the deterministic network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

import condensekit

if TYPE_CHECKING:
    from condensekit.hookspecs import Register


class DropoutParams(BaseModel):
    """Dropout probability."""

    model_config = ConfigDict(extra="forbid")
    p: float = Field(0.1, ge=0.0, lt=1.0, description="probability of zeroing a hidden unit during training")


class DropoutTrick:
    """Asks the model for ``dropout = p``; a model without that parameter fails validation with a clear
    message."""

    def __init__(self, params: DropoutParams):
        self.params = params

    @condensekit.hookimpl
    def model_overrides(self, run: Any) -> dict[str, Any]:
        return {"dropout": self.params.p}


@condensekit.hookimpl
def register_tricks(register: Register) -> None:
    register(
        "dropout",
        DropoutTrick,
        params=DropoutParams,
        summary="dropout after each hidden activation (model param dropout)",
    )
