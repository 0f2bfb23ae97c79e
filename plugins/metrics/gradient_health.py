"""Metric ``gradient_health``: is the first phase just vanishing gradients or dead units?

Keys, per probe point ``<layer>`` with a weight matrix (or conv kernel):

* ``<layer>/wgrad_norm``: ``||dL/dW||_F`` of the mean cross-entropy on the probe batch.
* ``<layer>/fgrad_norm``: mean over probe samples of ``|d loss_i / d h_i|`` at the layer's output.
* ``<layer>/rel_change``: ``||W_t - W_0||_F / ||W_0||_F`` (``W_0``: the weight at the first measurement).
* ``<layer>/dead_frac``: share of units whose activation input is <= 0 on every probe sample, for the
  points followed by a ReLU-like activation (``probe.activation_inputs``: read after a normalization
  between the layer and its activation); the dead ReLU units. Not logged for logits, residual streams or
  tanh/sigmoid/identity layers, where "dead" means nothing.

and ``grad_ratio_first_last``: ``wgrad_norm`` of the first probe point over that of the last one
(the classifier); far below 1 means the gradient vanishes on its way down.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

import condensekit
from condensekit_plugins.metrics.initial_weights import InitialWeights

if TYPE_CHECKING:
    from condensekit.hookspecs import Register


class GradientHealthParams(BaseModel):
    """Which probe points to measure."""

    model_config = ConfigDict(extra="forbid")
    layers: list[str] | None = Field(None, description="probe points to measure (default: all with a weight)")


class GradientHealth:
    """Keeps each layer's first measured weight to report the relative change since then."""

    def __init__(self, params: GradientHealthParams):
        self.params = params
        self.initial = InitialWeights()

    @condensekit.hookimpl
    def collect_metrics(self, run: Any, probe: Any) -> dict[str, float]:
        import torch

        from condensekit import measures

        n = len(probe.labels)
        wgrads, fgrads, dead_inputs = probe.weight_grads, probe.feature_grads, probe.activation_inputs
        out: dict[str, Any] = {}  # 0-d tensors, read back once at the end
        norms: list[str] = []  # the wgrad_norm keys, first layer to last
        for layer, module in probe.points.items():
            weight = getattr(module, "weight", None)
            if (
                (self.params.layers is not None and layer not in self.params.layers)
                or weight is None
                or weight.dim() < 2
            ):
                continue
            w = weight.detach()
            w0 = self.initial.of(layer, w)
            grad = wgrads.get(layer, {}).get("weight")
            if grad is not None:  # probe.weight_grads is of the summed loss; the mean loss is what SGD sees
                norms.append(f"{layer}/wgrad_norm")
                out[norms[-1]] = torch.linalg.vector_norm(grad.double()) / n
            if layer in fgrads:
                out[f"{layer}/fgrad_norm"] = measures.flatten(fgrads[layer]).norm(dim=1).mean()
            out[f"{layer}/rel_change"] = (w - w0).double().norm() / (w0.double().norm() + measures.EPS)
            if layer in dead_inputs:
                dead = (measures.flatten(dead_inputs[layer]) <= 0).all(dim=0).double().mean()
                out[f"{layer}/dead_frac"] = torch.where(
                    torch.isfinite(dead_inputs[layer]).all(), dead, math.nan
                )
        values = dict(zip(out, torch.stack(list(out.values())).tolist(), strict=True)) if out else {}
        if len(norms) >= 2:
            first, last = values[norms[0]], values[norms[-1]]
            if last > 0 and math.isfinite(first):
                values["grad_ratio_first_last"] = first / last
        return values


REPORT = condensekit.MetricReport(
    figures=[
        condensekit.Figure(
            name="gradient_health",
            title="Gradient health: vanishing gradients, dead units, weight change",
            caption=(
                "Condensation (first panel) beside gradient norms, dead "
                "units and weight change (metric `gradient_health`)."
            ),
            panels=[
                condensekit.Panel("grad_ratio_first_last", "|dL/dW| first / last layer", log=True),
                condensekit.Panel("wgrad_norm", "|dL/dW| (mean over layers)", log=True),
                condensekit.Panel("dead_frac", "dead units (mean over hidden layers)"),
                condensekit.Panel("rel_change", "|W - W0| / |W0| (mean over layers)"),
            ],
        )
    ],
    series=["wgrad_norm", "fgrad_norm", "rel_change", "dead_frac"],
)


@condensekit.hookimpl
def register_metrics(register: Register) -> None:
    register(
        "gradient_health",
        GradientHealth,
        params=GradientHealthParams,
        summary="per-layer gradient norms, dead units, relative weight change",
        report=REPORT,
    )
