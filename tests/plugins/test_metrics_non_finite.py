"""A diverging run must not crash in a metric (issue 10): non-finite features give NaN values, never an
exception."""

from __future__ import annotations

import math

import pytest
import torch

from condensekit import measures
from condensekit.manager import get_plugin_manager
from condensekit.probe import Probe, probe_points
from condensekit_plugins.models.nets.cnn import CNNConfig, build
from condensekit_plugins.models.nets.mlp import MLP

SHIPPED = sorted(
    e.name
    for e in get_plugin_manager().catalogue
    if e.kind == "metrics" and e.plugin.startswith("condensekit_plugins.")
)


def poisoned(model: torch.nn.Module, value: float) -> torch.nn.Module:
    with torch.no_grad():
        first = next(p for p in model.parameters() if p.dim() >= 2)
        first.view(-1)[:3] = value
    return model


MODELS = {
    "mlp": lambda: MLP(6, 3, 4, 8, "relu", "none", True),
    "mlp_bn": lambda: MLP(6, 3, 4, 8, "relu", "batch", True),
    "cnn": lambda: build(
        CNNConfig(in_channels=1, image_size=(6, 6), num_classes=3, depth=2, channels=4), residual=False
    ),
}


@pytest.mark.parametrize("value", [math.nan, math.inf])
@pytest.mark.parametrize("model_name", sorted(MODELS))
@pytest.mark.parametrize("metric", SHIPPED)
def test_a_metric_on_non_finite_features_returns_nan_instead_of_raising(
    metric: str, model_name: str, value: float
) -> None:
    torch.manual_seed(0)
    model = poisoned(MODELS[model_name](), value)
    shape = (9, 6) if model_name.startswith("mlp") else (9, 1, 6, 6)
    x, y = torch.randn(*shape), torch.tensor([0, 1, 2] * 3)
    entry = get_plugin_manager().catalogue.get("metrics", metric)
    obj = entry.build({})
    out = obj.collect_metrics(run=None, probe=Probe(model, x, y, probe_points(model), step=3))
    assert out, "a metric still reports its keys"
    assert any(not math.isfinite(v) for v in out.values()), "non-finite features must show, not be hidden"


def test_the_measures_return_nan_on_non_finite_input() -> None:
    y = torch.tensor([0, 1, 0, 1])
    bad = torch.randn(4, 5)
    bad[1, 2] = math.nan
    worse = torch.randn(4, 5)
    worse[0, 0] = math.inf
    for x in (bad, worse):
        assert all(math.isnan(v) for v in measures.pair_similarity(x, y).values())
        assert all(math.isnan(v) for v in measures.energy_shares(x, y).values())
        assert math.isnan(measures.classmean_similarity(x, y))
        assert math.isnan(measures.common_direction_strength(x))
        assert math.isnan(measures.effective_rank(x))
        assert math.isnan(measures.dead_fraction(x))
        assert math.isnan(measures.nc1_within_between(x, y))
        assert math.isnan(measures.nc4_ncc_mismatch(x, y, y))
        assert math.isnan(measures.linear_weight_grad_similarity(x, torch.randn(4, 3), y))
