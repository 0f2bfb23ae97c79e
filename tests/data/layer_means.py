"""A small local metric for the dashboard tests: per-layer similarity and energy shares, with their layer
means.

It logs what the agreed ``condensation`` names look like (``<layer>/feat_inter``, ``<layer>/share_common``,
``share_class``, ``share_sample`` and ``mean/<quantity>`` over ``run.hidden_layers``) and declares the shares
in ``MetricReport.compare``, so the dashboard tests do not depend on a shipped metric.
"""

from __future__ import annotations

from typing import Any

import condensekit

QUANTITIES = ("feat_inter", "share_common", "share_class", "share_sample")


class LayerMeans:
    def __init__(self, params: Any):
        self.params = params

    @condensekit.hookimpl
    def collect_metrics(self, run: Any, probe: Any) -> dict[str, float]:
        import torch

        from condensekit import measures

        out: dict[str, float] = {}
        y = probe.labels
        for layer, x in probe.features.items():
            x = measures.flatten(x)
            out[f"{layer}/feat_inter"] = measures.pair_similarity(x, y)["inter"]
            u = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
            ubar = u.mean(0)
            means = torch.stack([u[y == c].mean(0) for c in y.unique()])[torch.searchsorted(y.unique(), y)]
            out[f"{layer}/share_common"] = float(ubar.pow(2).sum())
            out[f"{layer}/share_class"] = float((means - ubar).pow(2).sum(1).mean())
            out[f"{layer}/share_sample"] = float((u - means).pow(2).sum(1).mean())
        for q in QUANTITIES:
            values = [out[f"{layer}/{q}"] for layer in run.hidden_layers if f"{layer}/{q}" in out]
            if values:
                out[f"mean/{q}"] = sum(values) / len(values)
        return out


@condensekit.hookimpl
def register_metrics(register: Any) -> None:
    report = condensekit.MetricReport(
        series=("feat_inter",),
        headline="feat_inter",
        compare=("share_common", "share_class", "share_sample"),
        describe={"feat_inter": "inter-class feature similarity"},
    )
    register(
        "layer_means",
        LayerMeans,
        summary="feature similarity and energy shares per layer, with layer means",
        report=report,
    )
