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

        from condensekit.measures import spectra

        matrices: dict[str, Any] = {}  # key -> the matrix whose spectrum gives it
        grads = probe.weight_grads
        for layer, module in probe.points.items():
            if self.params.layers is not None and layer not in self.params.layers:
                continue
            weight = getattr(module, "weight", None)
            if weight is not None and weight.dim() >= 2:
                w = weight.detach()
                w0 = self.initial.of(layer, w)
                matrices[f"{layer}/rho1_W"] = w
                if probe.step > 0:
                    matrices[f"{layer}/rho1_dW"] = w - w0
                grad = grads.get(layer, {}).get("weight")
                if grad is not None:
                    matrices[f"{layer}/rho1_gradW"] = grad
            matrices[f"{layer}/H"] = probe.features[layer].flatten(1)  # one spectrum for rho1_H and erank_H
        values: dict[str, Any] = {}  # 0-d tensors, read back once at the end
        for keys, stack in _stacks(matrices):
            found = spectra(stack, rank=any(key.endswith("/H") for key in keys))
            for i, key in enumerate(keys):
                if key.endswith("/H"):
                    layer = key[: -len("/H")]
                    values[f"{layer}/rho1_H"], values[f"{layer}/erank_H"] = (
                        found["rho1"][i],
                        found["erank"][i],
                    )
                else:
                    values[key] = found["rho1"][i]
        ordered = [key for key in _key_order(matrices) if key in values]
        numbers = torch.stack([values[key] for key in ordered]).tolist() if ordered else []
        return dict(zip(ordered, numbers, strict=True))


def _stacks(matrices: dict[str, Any]) -> list[tuple[list[str], Any]]:
    """The matrices grouped by shape (as 2-D ``(rows, -1)``), each group stacked: one batched spectrum per
    shape."""
    import torch

    groups: dict[tuple[Any, ...], list[str]] = {}
    for key, m in matrices.items():
        flat = m.reshape(m.shape[0], -1)
        groups.setdefault((tuple(flat.shape), flat.dtype, flat.device), []).append(key)
    return [
        (keys, torch.stack([matrices[key].reshape(shape) for key in keys]))
        for (shape, _, _), keys in groups.items()
    ]


def _key_order(matrices: dict[str, Any]) -> list[str]:
    """The keys as the metric logs them, per layer in probe-point order: rho1_W, rho1_dW, rho1_gradW,
    rho1_H, erank_H."""
    out = []
    for key in matrices:
        if key.endswith("/H"):
            layer = key[: -len("/H")]
            out += [f"{layer}/rho1_H", f"{layer}/erank_H"]
        else:
            out.append(key)
    return out


@condensekit.hookimpl
def register_metrics(register: Register) -> None:
    register(
        "common_direction",
        CommonDirection,
        params=CommonDirectionParams,
        summary="rho1 of weights, updates, gradients and features; effective rank",
    )
