"""Metric ``feature_spread``: how spread out the features are at each probe point.

Per probe point: ``erank`` (effective rank of the features), ``norm`` (mean feature norm) and
``separation`` (mean intra-class minus mean inter-class cosine: near 0 when every sample looks alike).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

import condensekit


class FeatureSpreadParams(BaseModel):
    """Which probe points to measure."""

    model_config = ConfigDict(extra="forbid")
    layers: list[str] | None = Field(None, description="probe points to measure (default: all)")


class FeatureSpread:
    """Instantiated per run; ``collect_metrics`` is called at the steps of its ``every`` schedule."""

    def __init__(self, params: FeatureSpreadParams):
        self.params = params

    @condensekit.hookimpl
    def collect_metrics(self, run: Any, probe: Any) -> dict[str, float]:
        from condensekit import measures

        out: dict[str, float] = {}
        for layer, h in probe.features.items():
            if self.params.layers is not None and layer not in self.params.layers:
                continue
            flat = measures.flatten(h)
            sims = measures.pair_similarity(flat, probe.labels)
            out[f"{layer}/erank"] = measures.effective_rank(flat)
            out[f"{layer}/norm"] = measures.mean_norm(flat)
            out[f"{layer}/separation"] = sims["intra"] - sims["inter"]
        return out
