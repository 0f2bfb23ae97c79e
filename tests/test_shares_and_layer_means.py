"""Energy shares (docs/metrics.md) against an explicit per-sample loop, and the layer means of the
condensation metric."""

from __future__ import annotations

import math

import pytest
import torch

from condensekit import measures
from condensekit.probe import Probe, hidden_layer_names, probe_points
from condensekit_plugins.metrics.condensation import Condensation, CondensationParams, layer_means
from condensekit_plugins.models.nets.mlp import MLP, ResMLP


def loop_shares(x: torch.Tensor, labels: list[int]) -> dict[str, float]:
    """Slow reference: unit vectors one sample at a time, zero features dropped, means by explicit sums."""
    units, ys = [], []
    for i in range(len(x)):
        v = x[i].flatten().double()
        norm = math.sqrt(sum(float(t) ** 2 for t in v))
        if norm > 0:
            units.append(v / norm)
            ys.append(labels[i])
    n = len(units)
    ubar = sum(units) / n
    class_mean = {c: sum(u for u, y in zip(units, ys, strict=True) if y == c) / ys.count(c) for c in set(ys)}
    common = float(ubar @ ubar)
    cls = sum(float((class_mean[y] - ubar) @ (class_mean[y] - ubar)) for y in ys) / n
    sample = sum(float((u - class_mean[y]) @ (u - class_mean[y])) for u, y in zip(units, ys, strict=True)) / n
    return {"common": common, "class": cls, "sample": sample}


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(23, 3, 4, generator=g).double() + 0.4
    y = torch.randint(0, 4, (23,), generator=g)
    return x, y


def test_shares_match_the_loop_and_sum_to_one(batch):
    x, y = batch
    got = measures.energy_shares(x, y)
    ref = loop_shares(x, y.tolist())
    for k in ref:
        assert got[k] == pytest.approx(ref[k], abs=1e-12)
    assert sum(got.values()) == pytest.approx(1.0, abs=1e-12)
    assert all(v >= 0 for v in got.values())


def test_shares_tie_to_feat_all_when_no_feature_is_zero(batch):
    x, y = batch
    n = len(y)
    shares, sim = measures.energy_shares(x, y), measures.pair_similarity(x, y)
    assert sim["all"] == pytest.approx((n * shares["common"] - 1) / (n - 1), abs=1e-10)


def test_zero_features_are_dropped(batch):
    x, y = batch
    with_zeros = torch.cat([x, torch.zeros(3, 3, 4, dtype=x.dtype)])
    labels = torch.cat([y, torch.tensor([0, 1, 2])])
    got = measures.energy_shares(with_zeros, labels)
    assert got == pytest.approx(measures.energy_shares(x, y), abs=1e-12)
    assert got == pytest.approx(loop_shares(with_zeros, labels.tolist()), abs=1e-12)
    assert all(
        math.isnan(v) for v in measures.energy_shares(torch.zeros(4, 3), torch.tensor([0, 1, 0, 1])).values()
    )


def test_shares_move_the_right_way_on_constructed_features():
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    same = torch.ones(6, 5, dtype=torch.float64)  # every sample on one direction: all common
    assert measures.energy_shares(same, y) == pytest.approx(
        {"common": 1.0, "class": 0.0, "sample": 0.0}, abs=1e-12
    )
    eye = torch.eye(3, dtype=torch.float64)[y]  # one orthogonal direction per class, nothing per sample
    shares = measures.energy_shares(eye, y)
    assert shares["sample"] == pytest.approx(0.0, abs=1e-12)
    assert shares["common"] == pytest.approx(1 / 3) and shares["class"] == pytest.approx(2 / 3)
    # a shared offset raises share_common and feat_inter, and takes energy from the class part
    offset = measures.energy_shares(eye + 3.0, y)
    assert offset["common"] > 0.9 and offset["class"] < shares["class"]


def tiny_resmlp() -> ResMLP:
    torch.manual_seed(0)
    return ResMLP(6, 3, depth=4, width=8, activation_name="relu", norm="none", bias=True)


def test_layer_means_are_means_over_hidden_layers_only():
    values = {
        "a/feat_inter": 0.2,
        "b/feat_inter": 0.4,
        "logits/feat_inter": 0.9,
        "a/wgrad_inter": 0.5,
        "a@mean/feat_inter": 0.1,
        "b@mean/feat_inter": 0.3,
        "b@cls/feat_inter": 0.7,
        "grad_ratio": 3.0,
    }
    means = layer_means(values, ["a", "b"])
    assert means == pytest.approx(
        {
            "mean/feat_inter": 0.3,
            "mean/wgrad_inter": 0.5,
            "mean@mean/feat_inter": 0.2,
            "mean@cls/feat_inter": 0.7,
        }
    )
    assert math.isnan(layer_means({"a/x": math.nan, "b/x": 1.0}, ["a", "b"])["mean/x"])


@pytest.mark.parametrize("make", [lambda: MLP(6, 3, 4, 8, "tanh", "none", True), tiny_resmlp])
def test_the_metric_logs_shares_and_their_layer_means(make):
    torch.manual_seed(1)
    model = make()
    x, y = torch.randn(12, 6), torch.arange(3).repeat(4)
    points = probe_points(model)
    hidden = hidden_layer_names(model, points)
    probe = Probe(model, x, y, points, step=0)
    out = Condensation(CondensationParams()).collect_metrics(run=None, probe=probe)
    for layer in points:
        total = sum(out[f"{layer}/share_{k}"] for k in ("common", "class", "sample"))
        assert total == pytest.approx(1.0, abs=1e-9)
        ref = loop_shares(probe.features[layer], y.tolist())
        assert out[f"{layer}/share_common"] == pytest.approx(ref["common"], abs=1e-6)
    per_layer = {q for key in out if (q := key.rpartition("/")[2]) and key.split("/")[0] in hidden}
    assert {f"mean/{q}" for q in per_layer} <= set(out)
    for q in ("feat_inter", "share_common", "grad_inter"):
        assert out[f"mean/{q}"] == pytest.approx(
            sum(out[f"{layer}/{q}"] for layer in hidden) / len(hidden), abs=1e-12
        )
    assert out["mean/feat_inter"] != pytest.approx(out["logits/feat_inter"])  # the logits are left out
