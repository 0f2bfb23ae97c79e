"""Trick ``warmup``: linear learning-rate warmup over the first ``steps`` optimizer steps.

Step ``t`` (0-based) is taken with ``lr * min(1, (t + 1) / steps)``; after the warmup the optimizer's own
learning rate is restored exactly. Implemented in ``before_step`` (the learning rate of the step about to
be taken), so it composes with any optimizer a ``make_optimizer`` plugin builds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

import condensekit

if TYPE_CHECKING:
    from condensekit.hookspecs import Register


class WarmupParams(BaseModel):
    """Length of the warmup."""

    model_config = ConfigDict(extra="forbid")
    steps: int = Field(100, ge=1, description="number of steps over which the lr rises linearly to its value")


class WarmupTrick:
    """Scales every parameter group's ``lr`` by ``(step + 1) / steps`` during the warmup."""

    def __init__(self, params: WarmupParams):
        self.params = params
        self.base_lrs: list[float] | None = None

    def factor(self, step: int) -> float:
        """The multiplier of the learning rate at 0-based ``step``."""
        return min(1.0, (step + 1) / self.params.steps)

    @condensekit.hookimpl
    def before_step(self, run: Any, model: Any, optimizer: Any) -> None:
        if self.base_lrs is None:
            self.base_lrs = [group["lr"] for group in optimizer.param_groups]
        if run.step > self.params.steps:  # the step after the warmup already restored the base lr
            return
        factor = self.factor(run.step)
        for group, base in zip(optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = base * factor


@condensekit.hookimpl
def register_tricks(register: Register) -> None:
    register(
        "warmup",
        WarmupTrick,
        params=WarmupParams,
        summary="linear learning-rate warmup over the first N steps",
    )
