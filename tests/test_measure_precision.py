"""float32 where sums are short, float64 where they need it: the values stay within 1e-6 of float64.

And the probe's economy: one forward and one backward for every probe point, weight gradients of plain
linear layers without a second backward, and the batched measures equal to the one-layer ones.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from condensekit import measures
from condensekit.measures import ClassIndex, similarity_statistics
from condensekit.probe import Probe, probe_points
from condensekit_plugins.metrics.condensation import Condensation, CondensationParams
from condensekit_plugins.models.nets.cnn import CNNConfig, build
from condensekit_plugins.models.nets.mlp import MLP, ResMLP


def metric_values(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    return Condensation(CondensationParams()).collect_metrics(
        run=None, probe=Probe(model, x, y, probe_points(model), step=0)
    )


def condensed_mlp() -> MLP:
    """A deep ReLU MLP with large positive biases: features share a big common part (nearly condensed)."""
    torch.manual_seed(0)
    model = MLP(12, 4, 6, 64, "relu", "none", True)
    with torch.no_grad():
        for layer in model.hidden[1:]:
            layer.bias.fill_(3.0)
    return model


def vit() -> nn.Module:
    from condensekit.data import DataInfo
    from condensekit.manager import get_plugin_manager

    torch.manual_seed(0)
    return (
        get_plugin_manager()
        .catalogue.get("models", "timm")
        .build({"name": "vit_micro"}, DataInfo(input_shape=(1, 8, 8), num_classes=4))
    )


MODELS = {
    "vit": vit,  # wide flattened token features whose gradients are nearly parallel within a class
    "mlp": lambda: MLP(12, 4, 6, 64, "relu", "none", True),
    "condensed_mlp": condensed_mlp,
    "resmlp": lambda: ResMLP(12, 4, 5, 32, "gelu", "layer", True),
    "cnn": lambda: build(
        CNNConfig(in_channels=3, image_size=(4, 3), num_classes=4, depth=3, channels=4), residual=True
    ),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_float32_values_are_within_1e6_of_float64(name: str) -> None:
    torch.manual_seed(1)
    model = MODELS[name]()
    x = {"cnn": torch.randn(40, 3, 4, 3), "vit": torch.rand(40, 1, 8, 8) * 16}.get(name, torch.randn(40, 12))
    y = torch.arange(4).repeat(10)
    single = metric_values(model, x, y)
    double = metric_values(copy.deepcopy(model).double(), x.double(), y)
    assert single.keys() == double.keys()
    worst = max(abs(single[k] - double[k]) for k in single)
    assert worst < 1e-6, max(single, key=lambda k: abs(single[k] - double[k]))
    if name == "condensed_mlp":
        assert single["layer5/feat_inter"] > 0.99  # the case where float32 centering would lose digits
        assert abs(single["layer5/feat_inter_centered"]) > 1e-3


def centered(x: torch.Tensor) -> torch.Tensor:
    """The reference: subtract the mean over samples in float64, the plain way."""
    x = x.reshape(len(x), -1).double()
    return x - x.mean(0, keepdim=True)


def test_centering_a_condensed_stack_in_float64() -> None:
    torch.manual_seed(0)
    x = (torch.randn(30, 50) * 1e-3 + torch.randn(50) * 10).float()  # a common part 10^4 times the spread
    y = torch.arange(3).repeat(10)
    ref = measures.pair_similarity(centered(x.double()), y)["inter"]
    got = similarity_statistics(x[None], ClassIndex.of(y), centered=True)["inter_centered"][0]
    assert float(got) == pytest.approx(ref, abs=1e-6)


def test_batched_layers_equal_one_layer_at_a_time() -> None:
    torch.manual_seed(0)
    stack, y = torch.randn(3, 20, 7, dtype=torch.float64), torch.arange(4).repeat(5)
    stats = similarity_statistics(
        stack, ClassIndex.of(y), centered=True, class_means=True, shares=True, dead=True, norms=True
    )
    blocked = similarity_statistics(
        stack,
        ClassIndex.of(y),
        centered=True,
        class_means=True,
        shares=True,
        dead=True,
        norms=True,
        max_bytes=1,
    )
    for i, x in enumerate(stack):
        assert float(stats["inter"][i]) == pytest.approx(measures.pair_similarity(x, y)["inter"], abs=1e-12)
        assert float(stats["inter_centered"][i]) == pytest.approx(
            measures.pair_similarity(centered(x), y)["inter"], abs=1e-12
        )
        assert float(stats["classmean"][i]) == pytest.approx(measures.classmean_similarity(x, y), abs=1e-12)
        assert float(stats["dead_frac"][i]) == measures.dead_fraction(x)
        assert float(stats["mean_norm"][i]) == pytest.approx(measures.mean_norm(x), abs=1e-12)
    for key, value in stats.items():  # one column at a time (bounded memory) gives the same numbers
        assert torch.allclose(value, blocked[key], atol=1e-12), key


class CountingBackward:
    """Counts backward passes through the model by a hook on the logits."""

    def __init__(self, model: nn.Module):
        self.count = 0
        model.register_forward_hook(self.watch)

    def watch(self, module: nn.Module, args: object, out: torch.Tensor) -> None:
        if out.requires_grad:
            out.register_hook(self.tick)

    def tick(self, grad: torch.Tensor) -> None:
        self.count += 1


def test_one_forward_and_one_backward_for_every_point() -> None:
    torch.manual_seed(0)
    model = MLP(6, 3, 5, 8, "relu", "batch", True)
    counter = CountingBackward(model)
    calls = []
    model.register_forward_pre_hook(lambda m, a: calls.append(1))
    x, y = torch.randn(12, 6), torch.arange(3).repeat(4)
    probe = Probe(model, x, y, probe_points(model), step=0)
    _ = probe.features, probe.feature_grads, probe.layer_inputs, probe.activation_inputs, probe.weight_grads
    assert len(calls) == 1 and counter.count == 1  # weight gradients of linear points come from g and a
    params = dict(model.named_parameters())
    loss = torch.nn.functional.cross_entropy(model(x), y, reduction="sum")
    names = ["hidden.0.weight", "hidden.0.bias", "hidden.3.weight", "head.weight"]
    ref = torch.autograd.grad(loss, [params[n] for n in names])
    got = [
        probe.weight_grads["layer1"]["weight"],
        probe.weight_grads["layer1"]["bias"],
        probe.weight_grads["layer4"]["weight"],
        probe.weight_grads["logits"]["weight"],
    ]
    for r, g in zip(ref, got, strict=True):
        assert torch.allclose(r, g, atol=1e-5)


def test_points_that_are_not_plain_linear_layers_share_one_backward() -> None:
    torch.manual_seed(0)
    model = ResMLP(6, 3, 4, 8, "relu", "none", True)
    counter = CountingBackward(model)
    x, y = torch.randn(12, 6), torch.arange(3).repeat(4)
    probe = Probe(model, x, y, probe_points(model), step=0)
    grads = probe.weight_grads  # blocks own parameters: autograd, once, for all of them and the feature grads
    _ = probe.feature_grads
    assert counter.count == 1
    loss = torch.nn.functional.cross_entropy(model(x), y, reduction="sum")
    (ref,) = torch.autograd.grad(loss, [model.blocks[0].fc.weight])
    assert torch.allclose(grads["block1"]["fc.weight"], ref, atol=1e-5)
    assert torch.allclose(grads["block1.fc"]["weight"], ref, atol=1e-5)


def test_stacked_and_padded_layers_give_each_layer_its_own_numbers() -> None:
    # layer1 reads 12 inputs, the logits have 4 outputs: both are padded with zero columns into one stack
    torch.manual_seed(0)
    model = MLP(12, 4, 5, 16, "relu", "batch", True).double()
    x, y = torch.randn(24, 12, dtype=torch.float64), torch.arange(4).repeat(6)
    probe = Probe(model, x, y, probe_points(model), step=0)
    out = Condensation(CondensationParams()).collect_metrics(run=None, probe=probe)
    for layer in probe.points:
        h, g, a = probe.features[layer], probe.feature_grads[layer], probe.layer_inputs[layer]
        sim, shares = measures.pair_similarity(h, y), measures.energy_shares(h, y)
        expected = {
            "feat_inter": sim["inter"],
            "feat_intra": sim["intra"],
            "share_class": shares["class"],
            "feat_inter_centered": measures.pair_similarity(centered(h), y)["inter"],
            "feat_classmean": measures.classmean_similarity(h, y),
            "grad_norm": measures.mean_norm(g),
            "grad_inter": measures.pair_similarity(g, y)["inter"],
            "wgrad_inter": measures.linear_weight_grad_similarity(g, a, y),
        }
        if layer in probe.activation_inputs:  # after BatchNorm
            expected["dead_frac"] = measures.dead_fraction(probe.activation_inputs[layer])
        for key, value in expected.items():
            assert out[f"{layer}/{key}"] == pytest.approx(value, abs=1e-12), (layer, key)
    assert "logits/dead_frac" not in out and "layer1/dead_frac" in out
