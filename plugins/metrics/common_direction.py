"""Metric ``common_direction``: strength of the dominant direction of weights, updates, gradients and
features.

Per probe point with a weight: ``rho1_W`` (of W_t), ``rho1_dW`` (of W_t - W_0), ``rho1_gradW`` (of the
probe batch gradient); per probe point: ``rho1_H`` and ``erank_H`` of the uncentered feature matrix.
``rho1 = sigma_1^2 / ||M||_F^2``: 1 means rank one, 1/rank means spread evenly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

import condensekit
from condensekit_plugins.metrics.initial_weights import InitialWeights

if TYPE_CHECKING:
    from condensekit.hookspecs import Register


class CommonDirectionParams(BaseModel):
    """Which probe points to measure."""

    model_config = ConfigDict(extra="forbid")
    layers: list[str] | None = Field(None, description="probe points to measure (default: all)")


class CommonDirection:
    """Keeps each probe point's initial weight (W_0) to measure the update W_t - W_0."""

    def __init__(self, params: CommonDirectionParams):
        self.params = params
        self.initial = InitialWeights()

    @condensekit.hookimpl
    def collect_metrics(self, run: Any, probe: Any) -> dict[str, float]:
        import torch

        from condensekit.measures import spectrum

        out: dict[str, Any] = {}  # 0-d tensors, read back once at the end
        grads = probe.weight_grads
        for layer, module in probe.points.items():
            if self.params.layers is not None and layer not in self.params.layers:
                continue
            weight = getattr(module, "weight", None)
            if weight is not None and weight.dim() >= 2:
                w = weight.detach()
                w0 = self.initial.of(layer, w)
                out[f"{layer}/rho1_W"] = spectrum(w, rank=False)["rho1"]
                if probe.step > 0:
                    out[f"{layer}/rho1_dW"] = spectrum(w - w0, rank=False)["rho1"]
                grad = grads.get(layer, {}).get("weight")
                if grad is not None:
                    out[f"{layer}/rho1_gradW"] = spectrum(grad, rank=False)["rho1"]
            features = spectrum(probe.features[layer].flatten(1))  # one SVD for both
            out[f"{layer}/rho1_H"], out[f"{layer}/erank_H"] = features["rho1"], features["erank"]
        numbers = torch.stack(list(out.values())).tolist() if out else []
        return dict(zip(out, numbers, strict=True))


@condensekit.hookimpl
def register_metrics(register: Register) -> None:
    register(
        "common_direction",
        CommonDirection,
        params=CommonDirectionParams,
        summary="rho1 of weights, updates, gradients and features; effective rank",
    )
