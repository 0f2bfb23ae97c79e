"""Metrics neural_collapse and gradient_health: the math against slow explicit-loop references."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from condensekit import measures
from condensekit.probe import Probe, hidden_layer_names, probe_points
from condensekit.run import Run
from condensekit.testing import check_metric
from condensekit_plugins.metrics.gradient_health import GradientHealth, GradientHealthParams
from condensekit_plugins.metrics.neural_collapse import NeuralCollapse, NeuralCollapseParams


def _data(
    n_per_class: int = 5, classes: int = 4, dim: int = 7, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(classes).repeat_interleave(n_per_class)
    x = torch.randn(classes, dim, generator=g)[labels] + 0.7 * torch.randn(len(labels), dim, generator=g)
    return x, labels


# ---------------------------------------------------------------- slow references (explicit loops)


def _ref_means(x: np.ndarray, y: np.ndarray) -> tuple[list[int], dict[int, np.ndarray], np.ndarray]:
    classes = sorted(set(y.tolist()))
    means = {}
    for c in classes:
        total = np.zeros(x.shape[1])
        count = 0
        for i in range(len(y)):
            if y[i] == c:
                total += x[i]
                count += 1
        means[c] = total / count
    return classes, means, x.sum(0) / len(y)


def ref_nc1(x: np.ndarray, y: np.ndarray) -> float:
    classes, means, mu_g = _ref_means(x, y)
    d = x.shape[1]
    sw, sb = np.zeros((d, d)), np.zeros((d, d))
    for i in range(len(y)):
        v = x[i] - means[int(y[i])]
        sw += np.outer(v, v) / len(y)
    for c in classes:
        v = means[c] - mu_g
        sb += np.outer(v, v) / len(classes)
    return float(np.trace(sw @ np.linalg.pinv(sb, rcond=measures.NC_SB_RTOL, hermitian=True)) / len(classes))


def ref_nc2(rows: list[np.ndarray]) -> dict[str, float]:
    k = len(rows)
    norms = [math.sqrt(sum(v * v for v in r)) for r in rows]
    mean = sum(norms) / k
    cos = [float(rows[a] @ rows[b]) / (norms[a] * norms[b]) for a in range(k) for b in range(k) if a != b]
    cmean = sum(cos) / len(cos)
    return {
        "equinorm": math.sqrt(sum((n - mean) ** 2 for n in norms) / k) / mean,
        "equiangular": math.sqrt(sum((c - cmean) ** 2 for c in cos) / len(cos)),
        "maxangle": sum(abs(c + 1 / (k - 1)) for c in cos) / len(cos),
    }


def ref_nc3(w: np.ndarray, m: np.ndarray) -> float:
    wn, mn = math.sqrt((w * w).sum()), math.sqrt((m * m).sum())
    return float(
        sum(((w[i, j] / wn - m[i, j] / mn) ** 2) for i in range(w.shape[0]) for j in range(w.shape[1]))
    )


def ref_nc4(x: np.ndarray, y: np.ndarray, pred: np.ndarray) -> float:
    classes, means, _ = _ref_means(x, y)
    wrong = 0
    for i in range(len(y)):
        best = min(classes, key=lambda c: float(((x[i] - means[c]) ** 2).sum()))
        wrong += best != pred[i]
    return wrong / len(y)


# ---------------------------------------------------------------- measures vs references


@pytest.mark.parametrize(("dim", "classes", "seed"), [(7, 4, 0), (3, 5, 1), (40, 3, 2)])
def test_nc1_matches_the_explicit_scatter_matrices(dim: int, classes: int, seed: int) -> None:
    x, y = _data(classes=classes, dim=dim, seed=seed)
    assert measures.nc1_within_between(x, y) == pytest.approx(
        ref_nc1(x.double().numpy(), y.numpy()), rel=1e-8
    )


def test_nc1_with_unbalanced_classes() -> None:
    x, y = _data(classes=3, dim=6)
    x, y = x[2:], y[2:]  # class 0 now has 3 samples, the others 5
    assert measures.nc1_within_between(x, y) == pytest.approx(
        ref_nc1(x.double().numpy(), y.numpy()), rel=1e-8
    )


def test_nc2_nc3_nc4_match_loops() -> None:
    x, y = _data(classes=4, dim=6)
    xn, yn = x.double().numpy(), y.numpy()
    classes, means, mu_g = _ref_means(xn, yn)
    centred = [means[c] - mu_g for c in classes]
    got_means, got_mu, _ = measures.class_means(x, y)
    assert measures.nc2_simplex(got_means - got_mu) == pytest.approx(ref_nc2(centred), rel=1e-9)
    w = torch.randn(4, 6, dtype=torch.float64)
    assert measures.nc3_self_duality(w, got_means - got_mu) == pytest.approx(
        ref_nc3(w.numpy(), np.stack(centred)), rel=1e-9
    )
    pred = torch.randint(0, 4, (len(y),), generator=torch.Generator().manual_seed(3))
    assert measures.nc4_ncc_mismatch(x, y, pred) == pytest.approx(ref_nc4(xn, yn, pred.numpy()))


def test_a_collapsed_configuration_scores_zero_and_a_random_one_does_not() -> None:
    k, d = 4, 6
    etf = torch.eye(k) - 1.0 / k  # simplex equiangular tight frame (centred one-hots), padded to d dims
    means = torch.cat([etf, torch.zeros(k, d - k)], dim=1) * 3.0
    y = torch.arange(k).repeat_interleave(5)
    x = means[y] + 1e-6 * torch.randn(len(y), d)
    assert measures.nc1_within_between(x, y) < 1e-9
    assert all(v < 1e-5 for v in measures.nc2_simplex(means).values())
    assert measures.nc3_self_duality(means * 0.1, means) < 1e-12  # the classifier is the means, up to scale
    assert measures.nc4_ncc_mismatch(x, y, y) == 0.0
    xr, yr = _data(classes=k, dim=d)
    assert measures.nc1_within_between(xr, yr) > 0.05
    assert measures.nc2_simplex(torch.randn(k, d))["maxangle"] > 0.01


# ---------------------------------------------------------------- the plugins


def _probe(depth: int = 3, seed: int = 0) -> tuple[Probe, torch.nn.Module, Run]:
    from condensekit.data import DataInfo
    from condensekit_plugins.models.nets.mlp import MLP

    torch.manual_seed(seed)
    model = MLP(6, 3, depth=depth, width=8, activation_name="relu", norm="none", bias=True)
    x, y = _data(n_per_class=4, classes=3, dim=6, seed=seed)
    points = probe_points(model)
    run = Run(
        spec=None,  # type: ignore[arg-type]
        name="t",
        seed=0,
        device=torch.device("cpu"),
        run_dir=Path("."),
        info=DataInfo(input_shape=(6,), num_classes=3),
        hidden_layers=hidden_layer_names(model, points),
    )
    return Probe(model, x, y, points, 0), model, run


def test_neural_collapse_metric_reads_the_classifier_input() -> None:
    probe, model, run = _probe()
    out = NeuralCollapse(NeuralCollapseParams(layers=["penultimate", "layer1"])).collect_metrics(
        run=run, probe=probe
    )
    with torch.no_grad():
        h = probe.inputs
        for linear, act in zip(model.hidden, model.acts, strict=True):
            h = act(linear(h))
        pred = model.head(h).argmax(1)
    hn, yn = h.double().numpy(), probe.labels.numpy()
    assert out["penultimate/nc1"] == pytest.approx(ref_nc1(hn, yn), rel=1e-7)
    assert out["penultimate/nc4"] == pytest.approx(ref_nc4(hn, yn, pred.numpy()))
    classes, means, mu_g = _ref_means(hn, yn)
    centred = np.stack([means[c] - mu_g for c in classes])
    assert out["penultimate/nc3"] == pytest.approx(
        ref_nc3(model.head.weight.detach().double().numpy(), centred), rel=1e-7
    )
    assert out["penultimate/nc2w_equinorm"] == pytest.approx(
        ref_nc2(list(model.head.weight.detach().double().numpy()))["equinorm"], rel=1e-7
    )
    assert "layer1/nc1" in out and "layer1/nc3" not in out


def test_neural_collapse_unknown_layer_is_a_clear_error() -> None:
    from condensekit.errors import CondensekitError

    probe, _, run = _probe()
    with pytest.raises(CondensekitError, match="no probe point 'layer9'"):
        NeuralCollapse(NeuralCollapseParams(layers=["layer9"])).collect_metrics(run=run, probe=probe)


def test_gradient_health_matches_autograd_and_loops() -> None:
    probe, model, run = _probe(depth=4)
    metric = GradientHealth(GradientHealthParams())
    first = metric.collect_metrics(run=run, probe=probe)
    assert all(first[f"{p}/rel_change"] == 0.0 for p in probe.points)
    loss = F.cross_entropy(model(probe.inputs), probe.labels)  # the mean loss SGD sees
    grads = torch.autograd.grad(loss, [m.weight for m in probe.points.values()])
    for (name, _), g in zip(probe.points.items(), grads, strict=True):
        assert first[f"{name}/wgrad_norm"] == pytest.approx(float(g.norm()), rel=1e-5)
    assert first["grad_ratio_first_last"] == pytest.approx(
        float(grads[0].norm() / grads[-1].norm()), rel=1e-5
    )
    feats = probe.features
    for name in run.hidden_layers:
        h = feats[name]
        dead = (
            sum(all(float(h[i, j]) <= 0 for i in range(h.shape[0])) for j in range(h.shape[1])) / h.shape[1]
        )
        assert first[f"{name}/dead_frac"] == pytest.approx(dead)
    assert "logits/dead_frac" not in first
    with torch.no_grad():  # move one layer by a known amount: 10% of its norm
        w = model.hidden[1].weight
        w.add_(0.1 * w.norm() * torch.ones_like(w) / math.sqrt(w.numel()))
    later = metric.collect_metrics(run=run, probe=Probe(model, probe.inputs, probe.labels, probe.points, 5))
    assert later["layer2/rel_change"] == pytest.approx(0.1, rel=1e-6)
    assert later["layer1/rel_change"] == 0.0


def test_contracts() -> None:
    nc = check_metric("neural_collapse", {"layers": ["penultimate", "layer1"]})
    assert {
        "neural_collapse/penultimate/nc1",
        "neural_collapse/penultimate/nc3",
        "neural_collapse/layer1/nc4",
    } <= set(nc)
    health = check_metric("gradient_health")
    assert "gradient_health/layer1/wgrad_norm" in health and "gradient_health/grad_ratio_first_last" in health
