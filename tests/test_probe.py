"""The probe: right features and gradients, and no side effects on training."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

from condensekit.probe import Probe, choose_probe_indices, hidden_layer_names, probe_points
from condensekit_plugins.metrics.condensation import Condensation, CondensationParams
from condensekit_plugins.models.nets.mlp import MLP, ResMLP


def tiny_mlp(norm: str = "none") -> MLP:
    torch.manual_seed(0)
    return MLP(in_features=6, num_classes=3, depth=4, width=8, activation_name="tanh", norm=norm, bias=True)


def test_probe_indices_are_class_balanced_and_seeded():
    labels = torch.arange(5).repeat(30)
    idx = choose_probe_indices(labels, per_class=4, max_samples=512, seed=3)
    assert torch.bincount(labels[idx]).tolist() == [4] * 5
    assert torch.equal(idx, choose_probe_indices(labels, 4, 512, seed=3))
    assert not torch.equal(idx, choose_probe_indices(labels, 4, 512, seed=4))
    capped = choose_probe_indices(labels, per_class=20, max_samples=10, seed=0)
    assert len(capped) == 10


def test_probe_points_default_and_declared():
    mlp = tiny_mlp()
    assert list(probe_points(mlp)) == ["layer1", "layer2", "layer3", "logits"]
    assert hidden_layer_names(mlp, probe_points(mlp)) == ["layer1", "layer2", "layer3"]
    plain = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2))
    points = probe_points(plain)
    assert list(points) == ["0", "2"] and hidden_layer_names(plain, points) == ["0"]
    res = ResMLP(6, 3, depth=4, width=8, activation_name="relu", norm="none", bias=True)
    assert list(probe_points(res)) == ["stem", "block1", "block1.fc", "block2", "block2.fc", "logits"]


def test_features_and_feature_grads_match_per_sample_reference():
    model = tiny_mlp()
    x, y = torch.randn(12, 6), torch.randint(0, 3, (12,))
    probe = Probe(model, x, y, probe_points(model), step=0)
    # features: re-run the layers by hand
    h = model.hidden[0](x)
    assert torch.allclose(probe.features["layer1"], h)
    assert torch.allclose(probe.layer_inputs["layer2"], torch.tanh(h))
    # per-sample feature gradient of loss_i w.r.t. h_i, by torch.func on the rest of the network

    def loss_from_layer1(h1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        out = torch.tanh(h1)
        for linear in model.hidden[1:]:
            out = torch.tanh(linear(out))
        return F.cross_entropy(model.head(out).unsqueeze(0), t.unsqueeze(0))

    ref = vmap(grad(loss_from_layer1))(h.detach(), y)
    assert torch.allclose(probe.feature_grads["layer1"], ref, atol=1e-6)
    assert probe.loss == pytest.approx(float(F.cross_entropy(model(x), y)), rel=1e-5)


def test_wgrad_of_metric_matches_torch_func_on_whole_model():
    model = tiny_mlp().double()
    x, y = torch.randn(10, 6, dtype=torch.float64), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    probe = Probe(model, x, y, probe_points(model), step=0)
    out = Condensation(CondensationParams()).collect_metrics(run=None, probe=probe)
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss_of(p: dict[str, torch.Tensor], xi: torch.Tensor, ti: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(functional_call(model, p, (xi.unsqueeze(0),)), ti.unsqueeze(0))

    grads = vmap(grad(loss_of), in_dims=(None, 0, 0))(params, x, y)
    per_sample = torch.cat([grads["hidden.1.weight"].flatten(1), grads["hidden.1.bias"]], dim=1)
    ref, count = 0.0, 0
    for i in range(len(y)):
        for j in range(i + 1, len(y)):
            if y[i] != y[j]:
                ref += float(F.cosine_similarity(per_sample[i], per_sample[j], dim=0))
                count += 1
    assert out["layer2/wgrad_inter"] == pytest.approx(ref / count, abs=1e-9)
    assert {
        "layer1/feat_inter",
        "layer1/grad_inter",
        "layer1/feat_inter_centered",
        "logits/feat_classmean",
    } <= set(out)


def test_probe_leaves_training_state_untouched():
    model = tiny_mlp(norm="batch")
    model.head.weight.grad = torch.full_like(model.head.weight, 7.0)
    bn = model.norms[0]
    before_mean, before_count = bn.running_mean.clone(), bn.num_batches_tracked.clone()
    x, y = torch.randn(8, 6) * 3 + 1, torch.randint(0, 3, (8,))
    rng_before = torch.get_rng_state()
    probe = Probe(model, x, y, probe_points(model), step=5)
    _ = probe.feature_grads, probe.weight_grads
    assert torch.equal(bn.running_mean, before_mean) and torch.equal(bn.num_batches_tracked, before_count)
    assert torch.equal(model.head.weight.grad, torch.full_like(model.head.weight, 7.0))
    assert torch.equal(torch.get_rng_state(), rng_before)
    assert model.training
    # the same model in train mode would have moved the running statistics: the check above can fail
    model(x)
    assert not torch.equal(bn.running_mean, before_mean)


def test_probe_turns_dropout_off_and_restores_modes():
    model = nn.Sequential(nn.Linear(4, 16), nn.Dropout(0.9), nn.Linear(16, 2))
    model.train()
    x, y = torch.randn(6, 4), torch.tensor([0, 1, 0, 1, 0, 1])
    first = Probe(model, x, y, probe_points(model), 0).features["2"]
    second = Probe(model, x, y, probe_points(model), 0).features["2"]
    assert torch.equal(first, second)  # dropout off: deterministic
    assert model[1].training


def test_a_probe_with_wanted_quantities_runs_without_a_graph_until_gradients_are_asked_for():
    model = tiny_mlp()
    x, y = torch.randn(12, 6), torch.randint(0, 3, (12,))
    full = Probe(model, x, y, probe_points(model), step=0)
    lean = Probe(model, x, y, probe_points(model), step=0, wanted=frozenset({"feat_inter"}))
    assert full.wanted is None and lean.wanted == {"feat_inter"}
    assert lean.features  # the forward pass
    assert lean._outputs is not None and not any(t.requires_grad for t in lean._outputs.values())
    for name in full.features:
        assert torch.equal(lean.features[name], full.features[name])
    # a metric that ignores `wanted` and asks for gradients still gets them, the same
    for name, g in full.feature_grads.items():
        assert torch.equal(lean.feature_grads[name], g)
    assert torch.equal(lean.weight_grads["layer2"]["weight"], full.weight_grads["layer2"]["weight"])


def test_condensation_computes_only_what_is_wanted_and_the_same_numbers():
    model = tiny_mlp()
    x, y = torch.randn(30, 6), torch.arange(30) % 3
    points = probe_points(model)

    class Run:
        hidden_layers = ["layer1", "layer2", "layer3"]

    metric = Condensation(CondensationParams())
    full = metric.collect_metrics(Run(), Probe(model, x, y, points, step=0))
    lean = metric.collect_metrics(Run(), Probe(model, x, y, points, step=0, wanted=frozenset({"feat_inter"})))
    assert lean and {key.rpartition("/")[2] for key in lean} == {"feat_inter"}
    assert "mean/feat_inter" in lean
    assert all(lean[key] == full[key] for key in lean)  # bit for bit: a refined point is a scheduled one


# ------------------------------------------ found unpinned by the mutation check: each names its mutants


class Twice(nn.Module):
    """One Linear applied twice: its weight gradient is a sum over both calls."""

    def __init__(self) -> None:
        super().__init__()
        self.shared, self.logits = nn.Linear(4, 4), nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(torch.tanh(self.shared(torch.tanh(self.shared(x)))))

    def probe_points(self) -> dict[str, nn.Module]:
        return {"shared": self.shared, "logits": self.logits}


def test_weight_gradients_of_a_layer_called_twice_are_the_autograd_ones() -> None:  # probe-08
    torch.manual_seed(0)
    model, x, y = Twice(), torch.randn(9, 4), torch.arange(9) % 3
    grads = Probe(model, x, y, model.probe_points(), step=0).weight_grads
    loss = nn.functional.cross_entropy(model(x), y, reduction="sum")
    weight, bias = torch.autograd.grad(loss, [model.shared.weight, model.shared.bias])
    assert torch.allclose(grads["shared"]["weight"], weight, atol=1e-6) and torch.allclose(
        grads["shared"]["bias"], bias, atol=1e-6
    )


# held-out mutants (scripts/mutants_later.py)


def test_half_precision_logits_give_a_float32_probe_loss() -> None:  # probe-12
    torch.manual_seed(0)
    model = nn.Linear(6, 5).to(torch.bfloat16)
    x, y = torch.randn(60, 6).to(torch.bfloat16), torch.arange(60) % 5
    probe = Probe(model, x, y, {"logits": model}, step=0)
    exact = nn.functional.cross_entropy(model(x).detach().double(), y).item()
    assert probe.loss == pytest.approx(exact, rel=1e-6)


def test_more_classes_than_probe_samples_still_gives_one_sample_per_class() -> None:  # probe-13
    from condensekit.probe import choose_probe_indices

    labels = torch.arange(100) % 10
    chosen = choose_probe_indices(labels, per_class=5, max_samples=4, seed=0)
    assert sorted(labels[chosen].tolist()) == list(range(10))


class NoisyNet(nn.Module):
    """Draws random numbers in forward (like a noise layer), so a probe without its own RNG fork would shift
    training."""

    def __init__(self) -> None:
        super().__init__()
        self.first, self.logits = nn.Linear(4, 5), nn.Linear(5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(torch.tanh(self.first(x + 0.1 * torch.randn_like(x))))


# mutants: fork removed, detach removed
def test_the_probe_leaves_the_rng_stream_alone_and_hands_out_detached_features() -> None:
    torch.manual_seed(0)
    model = NoisyNet()
    probe = Probe(model, torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2]), probe_points(model), step=0)
    before = torch.get_rng_state()
    features = probe.features
    grads = probe.feature_grads
    assert torch.equal(torch.get_rng_state(), before)
    assert features and all(not t.requires_grad and t.grad_fn is None for t in features.values())
    assert all(not t.requires_grad for t in grads.values())
    assert all(p.grad is None for p in model.parameters())  # the optimizer's gradients untouched


class DropoutNet(nn.Module):
    """Linear -> in-place ReLU -> heavy dropout -> Linear: the probe must see the pre-activation, without
    dropout."""

    def __init__(self) -> None:
        super().__init__()
        self.first, self.act, self.drop, self.logits = (
            nn.Linear(4, 8),
            nn.ReLU(inplace=True),
            nn.Dropout(0.9),
            nn.Linear(8, 3),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(self.drop(self.act(self.first(x))))

    def probe_points(self) -> dict[str, nn.Module]:
        return {"first": self.first, "logits": self.logits}


# mutants: dropout left on, no copy
def test_probe_features_are_pre_activation_copies_computed_without_dropout() -> None:
    torch.manual_seed(0)
    model, x = DropoutNet(), torch.randn(12, 4)
    probe = Probe(model, x, torch.arange(12) % 3, probe_points(model), step=0)
    with torch.no_grad():
        pre = model.first(x)
        expected_logits = model.logits(torch.relu(pre))  # dropout off, nothing else changed
    assert torch.allclose(probe.features["first"], pre)  # negatives kept: the in-place ReLU acted on a copy
    assert (probe.features["first"] < 0).any()
    assert torch.allclose(probe.logits, expected_logits, atol=1e-6)
    assert model.training and model.drop.training  # modes restored
