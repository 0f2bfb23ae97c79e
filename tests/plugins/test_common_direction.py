"""The ``common_direction`` metric: rho1 of the weights and of their change since step 0."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn


def test_rho1_dw_measures_the_update_not_the_weight() -> None:  # mutant: rho1_dW on W_t instead of W_t - W_0
    from condensekit_plugins.metrics.common_direction import CommonDirection, CommonDirectionParams

    torch.manual_seed(0)
    layer = nn.Linear(8, 6)
    metric = CommonDirection(CommonDirectionParams())

    def probe(step: int) -> SimpleNamespace:
        return SimpleNamespace(
            step=step, points={"l": layer}, weight_grads={}, features={"l": torch.randn(10, 6)}
        )

    metric.collect_metrics(run=None, probe=probe(0))  # remembers W_0
    with torch.no_grad():
        layer.weight += torch.outer(torch.randn(6), torch.randn(8))  # W_t = W_0 + u v^T
    out = metric.collect_metrics(run=None, probe=probe(5))
    assert out["l/rho1_dW"] == pytest.approx(1.0, abs=1e-5)
    assert out["l/rho1_W"] < 0.95
