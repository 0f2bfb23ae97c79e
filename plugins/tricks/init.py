"""Trick ``init``: re-initialise every Linear and Conv weight with a scheme and a scale; biases to zero.

Applies to every ``nn.Linear`` and ``nn.Conv1d/2d/3d`` in the model, whatever the model's own
initialiser did (timm models included): the trick's job is to control the initialisation. What it does
not undo silently is a model's own *scaling*: a model may declare ``init_gains() -> dict[str, float]``
(module name as in ``named_modules()`` -> the factor its own initialisation multiplies that weight by, e.g.
the residual MLP's ``1/sqrt(blocks)`` on each branch), and the trick multiplies those gains in after the
scheme and scale, unless ``model_gains = false``. It records what each layer got in ``run.initialisation``
(``xavier_normal x1.5``, ``xavier_normal x1 x0.316 (model gain)``), which ``run.json`` keeps in its summary
and the report shows per arm.
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
    model_gains: bool = Field(
        True,
        description="multiply in the gains a model declares for its own scaling (init_gains(), e.g. the "
        "residual MLP's 1/sqrt(blocks) branch scale); false: the scheme and scale alone for every layer",
    )


def declared_gains(model: Any) -> dict[str, float]:
    """The model's ``init_gains()`` (module name -> factor), or none."""
    method = getattr(model, "init_gains", None)
    return {str(name): float(gain) for name, gain in method().items()} if callable(method) else {}


def reinitialise(model: Any, params: InitParams) -> dict[str, str]:
    """Apply the scheme in place; return module name -> what its weight got, for every layer touched."""
    import torch
    from torch import nn

    schemes = {
        "xavier_normal": nn.init.xavier_normal_,
        "xavier_uniform": nn.init.xavier_uniform_,
        "kaiming_normal": lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"),
        "kaiming_uniform": lambda w: nn.init.kaiming_uniform_(w, nonlinearity="relu"),
        "orthogonal": nn.init.orthogonal_,
    }
    gains = declared_gains(model) if params.model_gains else {}
    done: dict[str, str] = {}
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, nn.Linear | nn.Conv1d | nn.Conv2d | nn.Conv3d):
                schemes[params.scheme](m.weight)
                m.weight.mul_(params.scale * gains.get(name, 1.0))
                if params.zero_bias and m.bias is not None:
                    m.bias.zero_()
                done[name] = f"{params.scheme} x{params.scale:g}"
                if name in gains:
                    done[name] += f" x{gains[name]:.3g} (model gain)"
    return done


class InitTrick:
    """Re-initialises the model in ``model_built`` (before it moves to the device)."""

    def __init__(self, params: InitParams):
        self.params = params

    @condensekit.hookimpl
    def model_built(self, run: Any, model: Any) -> None:
        done = reinitialise(model, self.params)
        if not done:
            raise condensekit.CondensekitError(
                f"trick 'init': model {run.spec.model.use!r} has no Linear or Conv layer to initialise"
            )
        run.initialisation.update(done)


@condensekit.hookimpl
def register_tricks(register: Register) -> None:
    register(
        "init", InitTrick, params=InitParams, summary="re-initialise Linear/Conv weights (scheme, scale)"
    )
