"""Trick ``activation``: swap the model's hidden activation (the model must have an ``activation`` parameter).

Lets one recipe ask "does condensation depend on the activation?" with a grid over
``tricks.activation.name``. mlp, resmlp and cnn take every name below; for ``timm`` it becomes timm's
``act_layer`` keyword, which ViTs and many other timm models take (others reject it when built).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

import condensekit
from condensekit_plugins.models.shared import Activation

if TYPE_CHECKING:
    from condensekit.hookspecs import Register


class ActivationParams(BaseModel):
    """Which activation to use."""

    model_config = ConfigDict(extra="forbid")
    name: Activation = Field(description="the hidden activation every model layer gets")


class ActivationTrick:
    """Asks the model for ``activation = name``."""

    def __init__(self, params: ActivationParams):
        self.params = params

    @condensekit.hookimpl
    def model_overrides(self, run: Any) -> dict[str, Any]:
        return {"activation": self.params.name}


@condensekit.hookimpl
def register_tricks(register: Register) -> None:
    register(
        "activation",
        ActivationTrick,
        params=ActivationParams,
        summary="set the model's hidden activation (model param activation)",
    )
