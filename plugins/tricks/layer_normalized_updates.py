"""Trick ``layer_normalized_updates``: every layer's gradient rescaled to unit norm before the step.

With the core's plain SGD the update of each parameter tensor (each layer's weight, and its bias) is
then exactly ``lr * g / |g|``: every layer moves by the same distance ``lr`` whatever the size of its
gradient. This is the control of the ``vanishing_vs_condensation`` recipe: if the first phase were only
vanishing gradients in the lower layers, equalising the step size of every layer would remove it.

Why ``before_step`` (normalise the gradient) and not ``make_optimizer`` or an ``after_step`` correction:
``make_optimizer`` is firstresult, so an optimizer wrapper would silently replace (or be replaced by) any
other optimizer plugin; an ``after_step`` correction must keep a copy of every parameter and undoes part
of what momentum or weight decay just did. Normalising the gradient composes with every optimizer: with
momentum or weight decay the normalised quantity is the gradient, not the final update (block-normalised
gradient descent, Yu et al. 2017), which the recipe states.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

import condensekit

if TYPE_CHECKING:
    from condensekit.hookspecs import Register


class LayerNormalizedUpdatesParams(BaseModel):
    """Options of the per-layer gradient normalisation."""

    model_config = ConfigDict(extra="forbid")
    eps: float = Field(1e-12, gt=0.0, description="added to each gradient norm (a zero gradient stays zero)")
    include_bias: bool = Field(
        True, description="also normalise 1-d parameters (biases, norm scales); else leave them"
    )


class LayerNormalizedUpdatesTrick:
    """Divides each parameter tensor's ``.grad`` by its L2 norm."""

    def __init__(self, params: LayerNormalizedUpdatesParams):
        self.params = params

    @condensekit.hookimpl
    def before_step(self, run: Any, model: Any, optimizer: Any) -> None:
        import torch

        with torch.no_grad():
            for p in model.parameters():
                if p.grad is None or (p.dim() < 2 and not self.params.include_bias):
                    continue
                p.grad.div_(p.grad.norm() + self.params.eps)


@condensekit.hookimpl
def register_tricks(register: Register) -> None:
    register(
        "layer_normalized_updates",
        LayerNormalizedUpdatesTrick,
        params=LayerNormalizedUpdatesParams,
        summary="rescale each layer's gradient to unit norm, so each layer's SGD step is lr",
    )
