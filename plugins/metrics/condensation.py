"""Metric ``condensation``: similarities of features, feature gradients and weight gradients (docs/metrics.md).

Per probe point ``<layer>`` it logs ``<layer>/feat_inter``, ``feat_intra``, ``feat_all``,
``feat_inter_centered``, ``feat_classmean``, the energy shares ``share_common``, ``share_class``,
``share_sample``, ``grad_inter``, ``grad_intra``, ``wgrad_inter`` (for Linear/Conv2d points), ``grad_norm``
and ``dead_frac``. Features with spatial or token axes are also reported with those axes averaged, as
``<layer>@mean/...``; for models with a class token (``model.cls_token_index``), the class token alone as
``<layer>@cls/...``. At every measured step it also logs the layer means ``mean/<quantity>`` (the mean of
``<layer>/<quantity>`` over the run's hidden layers, logits excluded) and, for the variants,
``mean@mean/<quantity>`` and ``mean@cls/<quantity>``, so arms with different layer names overlay in one
chart. With batch-coupled layers (BatchNorm) the feature gradient is that of the summed probe loss, not a
per-sample gradient.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

import condensekit

if TYPE_CHECKING:
    from condensekit.hookspecs import Register


class CondensationParams(BaseModel):
    """Which parts of the condensation measurement to compute."""

    model_config = ConfigDict(extra="forbid")
    layers: list[str] | None = Field(None, description="probe points to measure (default: all)")
    gradients: bool = Field(True, description="feature-gradient similarities and gradient norms")
    weight_gradients: bool = Field(True, description="per-sample weight-gradient similarity (wgrad_inter)")
    variants: bool = Field(True, description="also report spatial/token-mean and class-token variants")


def feature_variants(name: str, x: Any, g: Any, cls_index: int | None, prefix_tokens: int = 0) -> list[tuple[str, Any, Any]]:
    """(name, features, grads) for the flattened tensor and its mean / class-token variants.

    Token features ``(N, T, D)`` are averaged over the patch tokens only (the first ``prefix_tokens``,
    class and register tokens, are left out, as timm's average pooling does).
    """
    out = [(name, x, g)]
    if x.dim() == 4:  # (N, C, H, W): average over positions
        out.append((f"{name}@mean", x.mean(dim=(2, 3)), None if g is None else g.mean(dim=(2, 3))))
    elif x.dim() == 3:  # (N, T, D): average over patch tokens
        start = prefix_tokens if x.shape[1] > prefix_tokens else 0
        out.append((f"{name}@mean", x[:, start:].mean(dim=1), None if g is None else g[:, start:].mean(dim=1)))
        if cls_index is not None:
            out.append((f"{name}@cls", x[:, cls_index], None if g is None else g[:, cls_index]))
    return out


class Condensation:
    """Computes the per-layer similarity measures on the probe."""

    def __init__(self, params: CondensationParams):
        self.params = params

    @condensekit.hookimpl
    def collect_metrics(self, run: Any, probe: Any) -> dict[str, float]:
        from condensekit import measures

        y = probe.labels
        features = probe.features
        grads = probe.feature_grads if self.params.gradients else {}
        names = [n for n in features if self.params.layers is None or n in self.params.layers]
        cls_index = getattr(probe.model, "cls_token_index", None)
        prefix_tokens = int(getattr(probe.model, "num_prefix_tokens", 0) or 0)
        out: dict[str, float] = {}
        for layer in names:
            x, g = features[layer], grads.get(layer)
            variants = feature_variants(layer, x, g, cls_index, prefix_tokens) if self.params.variants else [(layer, x, g)]
            for key, xv, gv in variants:
                sim = measures.pair_similarity(xv, y)
                out.update({f"{key}/feat_{k}": v for k, v in sim.items()})
                out.update({f"{key}/share_{k}": v for k, v in measures.energy_shares(xv, y).items()})
                out[f"{key}/feat_inter_centered"] = measures.pair_similarity(measures.centered(xv), y)["inter"]
                out[f"{key}/feat_classmean"] = measures.classmean_similarity(xv, y)
                if gv is not None:
                    gsim = measures.pair_similarity(gv, y)
                    out[f"{key}/grad_inter"], out[f"{key}/grad_intra"] = gsim["inter"], gsim["intra"]
                    out[f"{key}/grad_norm"] = measures.mean_norm(gv)
            out[f"{layer}/dead_frac"] = measures.dead_fraction(x)
            if self.params.weight_gradients and g is not None:
                value = weight_grad_similarity(probe.points[layer], probe.layer_inputs.get(layer), g, y)
                if value is not None:
                    out[f"{layer}/wgrad_inter"] = value
        from condensekit.probe import hidden_layer_names

        hidden = getattr(run, "hidden_layers", None) or hidden_layer_names(probe.model, probe.points)
        out.update(layer_means(out, hidden))
        return out


def layer_means(values: dict[str, float], hidden: list[str]) -> dict[str, float]:
    """``mean/<quantity>``: the mean of ``<layer>/<quantity>`` over the hidden layers that logged it.

    Likewise ``mean@mean/<quantity>`` and ``mean@cls/<quantity>`` over the hidden layers' ``@mean`` and
    ``@cls`` variants. A NaN in one layer makes the mean NaN: it is not hidden.
    """
    layers = set(hidden)
    groups: dict[str, list[float]] = {}
    for key, value in values.items():
        point, _, quantity = key.rpartition("/")
        layer, at, variant = point.rpartition("@") if point.endswith(("@mean", "@cls")) else (point, "", "")
        if layer in layers:
            groups.setdefault(f"mean{at}{variant}/{quantity}", []).append(value)
    return {key: sum(vals) / len(vals) for key, vals in groups.items()}


def weight_grad_similarity(module: Any, a: Any, g: Any, labels: Any) -> float | None:
    """``wgrad_inter`` of a Linear or Conv2d probe point from its input ``a`` and output gradient ``g``."""
    import torch.nn.functional as F
    from torch import nn

    from condensekit import measures

    if a is None:
        return None
    bias = getattr(module, "bias", None) is not None
    if isinstance(module, nn.Linear):
        if g.dim() == 2:
            return measures.linear_weight_grad_similarity(g, a, labels, bias=bias)
        # token-wise linear (N, T, D): the weight gradient sums over tokens, like conv positions
        return measures.conv_weight_grad_similarity(g.transpose(1, 2), a.transpose(1, 2), labels, bias=bias)
    if isinstance(module, nn.Conv2d) and module.groups == 1 and isinstance(module.padding, tuple):
        cols = F.unfold(a, module.kernel_size, dilation=module.dilation, padding=module.padding, stride=module.stride)
        return measures.conv_weight_grad_similarity(g.flatten(2), cols, labels, bias=bias)
    return None


QUANTITIES = {
    "feat_inter": "inter-class feature similarity (mean cosine between features of samples of different classes)",
    "feat_intra": "intra-class feature similarity",
    "feat_all": "feature similarity over all pairs",
    "feat_inter_centered": "inter-class similarity of centered features",
    "feat_classmean": "similarity of the class-mean features",
    "share_common": "energy share of the direction common to all samples (|mean unit feature|^2)",
    "share_class": "energy share of the class means around the common direction (class information)",
    "share_sample": "energy share left to each sample around its class mean",
    "grad_inter": "inter-class feature-gradient similarity",
    "grad_intra": "intra-class feature-gradient similarity",
    "wgrad_inter": "inter-class per-sample weight-gradient similarity",
    "grad_norm": "mean feature-gradient norm",
    "dead_frac": "share of units inactive on every probe sample",
}
REPORT = condensekit.MetricReport(
    figures=[condensekit.Figure(
        name="centered",
        title="Uncentered vs centered inter-class similarity (mean over hidden layers)",
        caption="Uncentered (left) beside centered (right) inter-class similarity: condensation is the rise that comes "
        "with the stalled loss; a shared offset raises only the uncentered value.",
        panels=[condensekit.Panel("feat_inter", "feat_inter (uncentered)"), condensekit.Panel("feat_inter_centered", "feat_inter_centered")],
        lead_with_summary=False,
    ), condensekit.Figure(
        name="shares",
        title="Energy shares of the unit features (mean over hidden layers)",
        caption="Where the unit features' energy sits: common to all samples, in the class means, or left to each "
        "sample (they sum to 1). Condensation is share_common rising while share_class falls; a shared offset that "
        "leaves share_class intact is not a loss of class information.",
        panels=[condensekit.Panel("share_common", "share_common"), condensekit.Panel("share_class", "share_class"),
                condensekit.Panel("share_sample", "share_sample")],
        lead_with_summary=False,
    )],
    series=list(QUANTITIES),
    headline="feat_inter",
    describe=QUANTITIES,
    compare=("share_common", "share_class", "share_sample"),  # the dashboard overlays their layer means across arms
)  # fmt: skip


@condensekit.hookimpl
def register_metrics(register: Register) -> None:
    register(
        "condensation", Condensation, params=CondensationParams,
        summary="feature / feature-gradient / weight-gradient similarity per layer", default=True, report=REPORT,
    )  # fmt: skip
