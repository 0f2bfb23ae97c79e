"""Trick ``grad_clip``: clip the total gradient norm (over all parameters) before each optimizer step.

Uses the ``before_step`` hook, which the core calls between ``backward()`` and ``optimizer.step()``.
Clipping inside ``after_step`` would be too late (the step is taken) and wrapping the optimizer in
``make_optimizer`` would clash with any other trick that builds the optimizer (the hook is firstresult).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

import condensekit

if TYPE_CHECKING:
    from condensekit.hookspecs import Register


class GradClipParams(BaseModel):
    """Clipping threshold."""

    model_config = ConfigDict(extra="forbid")
    max_norm: float = Field(
        1.0, gt=0.0, description="largest allowed L2 norm of all gradients taken together"
    )


class GradClipTrick:
    """``torch.nn.utils.clip_grad_norm_`` on the model's parameters every step."""

    def __init__(self, params: GradClipParams):
        self.params = params
        self.clipped_steps = 0  # how often the threshold was hit (kept for tests and debugging)

    @condensekit.hookimpl
    def before_step(self, run: Any, model: Any, optimizer: Any) -> None:
        import torch

        total = torch.nn.utils.clip_grad_norm_(model.parameters(), self.params.max_norm)
        # reading the norm back would sync the device every step; count only on the CPU
        if total.device.type == "cpu" and float(total) > self.params.max_norm:
            self.clipped_steps += 1


@condensekit.hookimpl
def register_tricks(register: Register) -> None:
    register(
        "grad_clip",
        GradClipTrick,
        params=GradClipParams,
        summary="clip the total gradient norm to max_norm before each step",
    )
