"""Edge cases of the measures (issue 11): every fix checked against torch.func per-sample gradients or loops.

* ``wgrad_inter`` of a Linear on (N, H, W, C) inputs, of convolutions with reflect/replicate/circular
  padding, ``padding="same"``, ``groups > 1`` and of Conv1d;
* NC3 on a one-class batch is NaN;
* ``dead_frac`` only where a ReLU-like activation follows, read after BatchNorm.
"""

from __future__ import annotations

import math
import warnings
from math import sqrt as math_sqrt

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

from condensekit import measures
from condensekit.probe import Probe, probe_points
from condensekit_plugins.metrics.condensation import Condensation, CondensationParams


def loop_inter_mean_cos(vectors: torch.Tensor, labels: list[int]) -> float:
    total, count = 0.0, 0
    for i in range(len(vectors)):
        for j in range(i + 1, len(vectors)):
            if labels[i] != labels[j]:
                u, v = vectors[i].double(), vectors[j].double()
                total += float(u @ v) / math_sqrt(float(u @ u) * float(v @ v))
                count += 1
    return total / count


class Net(nn.Module):
    """A probed layer, tanh, and a linear head: per-sample gradients by torch.func are the reference."""

    def __init__(self, layer: nn.Module, out_numel: int):
        super().__init__()
        self.layer, self.head = layer, nn.Linear(out_numel, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.layer(x)).flatten(1))

    def probe_points(self) -> dict[str, nn.Module]:
        return {"layer": self.layer, "logits": self.head}


def reference_wgrad_inter(net: Net, x: torch.Tensor, y: torch.Tensor) -> float:
    params = {k: v.detach() for k, v in net.named_parameters()}

    def loss_of(p: dict[str, torch.Tensor], xi: torch.Tensor, ti: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(functional_call(net, p, (xi.unsqueeze(0),)), ti.unsqueeze(0))

    grads = vmap(grad(loss_of), in_dims=(None, 0, 0))(params, x, y)
    names = [k for k in params if k.startswith("layer.")]
    per_sample = torch.cat([grads[k].reshape(len(x), -1) for k in names], dim=1)
    return loop_inter_mean_cos(per_sample, y.tolist())


def metric_on(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    return Condensation(CondensationParams()).collect_metrics(
        run=None, probe=Probe(net, x, y, probe_points(net), step=0)
    )


LAYERS = {
    "linear_on_nhwc": (lambda: nn.Linear(3, 4), (10, 5, 6, 3)),
    "conv_reflect": (lambda: nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect"), (10, 2, 6, 6)),
    "conv_replicate_strided": (
        lambda: nn.Conv2d(2, 3, 3, stride=2, padding=2, padding_mode="replicate"),
        (10, 2, 7, 7),
    ),
    "conv_circular_no_bias": (
        lambda: nn.Conv2d(2, 3, (3, 2), padding=(1, 1), padding_mode="circular", bias=False),
        (10, 2, 5, 6),
    ),
    "conv_same_dilated": (lambda: nn.Conv2d(2, 3, 4, padding="same", dilation=2), (10, 2, 7, 7)),
    "conv_same_reflect": (lambda: nn.Conv2d(2, 2, 3, padding="same", padding_mode="reflect"), (10, 2, 5, 5)),
    "conv_groups": (lambda: nn.Conv2d(4, 6, 3, padding=1, groups=2), (10, 4, 5, 5)),
    "conv_depthwise": (lambda: nn.Conv2d(3, 3, 3, padding=1, groups=3), (10, 3, 5, 5)),
    "conv1d": (lambda: nn.Conv1d(2, 3, 3, padding=1, padding_mode="reflect"), (10, 2, 8)),
}


@pytest.mark.parametrize("case", sorted(LAYERS))
def test_wgrad_inter_matches_torch_func_per_sample_gradients(case: str) -> None:
    make, shape = LAYERS[case]
    torch.manual_seed(3)
    layer = make().double()
    x = torch.randn(*shape, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    net = Net(layer, layer(x[:1]).numel()).double()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is skipped
        out = metric_on(net, x, y)
    assert out["layer/wgrad_inter"] == pytest.approx(reference_wgrad_inter(net, x, y), abs=1e-9)
    assert math.isfinite(out["layer/feat_inter"])


def test_zero_padding_would_be_wrong_for_reflect() -> None:
    # the check above can fail: unfolding a reflect-padded conv's input with zero padding gives another number
    torch.manual_seed(3)
    layer = nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect").double()
    x, y = torch.randn(10, 2, 6, 6, dtype=torch.float64), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    net = Net(layer, layer(x[:1]).numel()).double()
    zeros = nn.Conv2d(2, 3, 3, padding=1).double()
    zeros.load_state_dict(layer.state_dict())
    probe = Probe(net, x, y, probe_points(net), step=0)
    right = measures.module_weight_grad_inner(layer, x, probe.feature_grads["layer"])
    wrong = measures.module_weight_grad_inner(zeros, x, probe.feature_grads["layer"])
    assert isinstance(right, torch.Tensor) and isinstance(wrong, torch.Tensor)
    assert not torch.allclose(right, wrong)


def test_an_unsupported_layer_is_reported_once_not_dropped_silently() -> None:
    torch.manual_seed(0)
    layer = nn.Conv3d(1, 2, 2).double()
    x, y = torch.randn(6, 1, 3, 3, 3, dtype=torch.float64), torch.tensor([0, 1, 0, 1, 0, 1])
    net = Net(layer, layer(x[:1]).numel()).double()
    metric = Condensation(CondensationParams())
    with pytest.warns(UserWarning, match="no wgrad_inter for probe point 'layer'.*Conv3d"):
        out = metric.collect_metrics(run=None, probe=Probe(net, x, y, probe_points(net), step=0))
    assert "layer/wgrad_inter" not in out and "layer/feat_inter" in out
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per run
        metric.collect_metrics(run=None, probe=Probe(net, x, y, probe_points(net), step=1))


def test_linear_on_channels_last_images_averages_over_positions() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(3, 4).double()
    x, y = torch.randn(6, 5, 6, 3, dtype=torch.float64), torch.tensor([0, 1, 0, 1, 0, 1])
    out = metric_on(Net(layer, 5 * 6 * 4).double(), x, y)
    h = layer(x).detach()
    assert out["layer@mean/feat_inter"] == pytest.approx(
        measures.pair_similarity(h.mean(dim=(1, 2)), y)["inter"], abs=1e-12
    )


def test_nc3_is_nan_for_one_class() -> None:
    w, means = torch.randn(1, 5), torch.zeros(1, 5)
    assert math.isnan(measures.nc3_self_duality(w, means))
    assert measures.nc3_self_duality(torch.eye(3), torch.eye(3) - 1 / 3) < 0.5  # defined for >= 2 classes
    from condensekit_plugins.metrics.neural_collapse import nc_of_classifier

    x, labels = torch.randn(4, 5), torch.zeros(4, dtype=torch.long)
    assert math.isnan(nc_of_classifier(x, labels, torch.randn(3, 5))["nc3"])


class BNNet(nn.Module):
    """Linear -> BatchNorm -> activation, twice, then a head; declares nothing (the probe finds the
    activations)."""

    def __init__(self, act: type[nn.Module]):
        super().__init__()
        self.fc1, self.bn1, self.act1 = nn.Linear(4, 6), nn.BatchNorm1d(6), act()
        self.fc2, self.act2 = nn.Linear(6, 6), act()
        self.head = nn.Linear(6, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act1(self.bn1(self.fc1(x)))
        return self.head(self.act2(self.fc2(h)) + h)


def test_dead_frac_is_read_after_batchnorm_where_a_relu_follows() -> None:
    torch.manual_seed(0)
    net = BNNet(nn.ReLU)
    with torch.no_grad():
        net.fc1.bias.fill_(-50.0)  # every pre-BN output negative: "dead" before BN, but BN re-centres them
    x, y = torch.randn(16, 4), torch.tensor([0, 1] * 8)
    probe = Probe(net, x, y, probe_points(net), step=0)
    out = Condensation(CondensationParams()).collect_metrics(run=None, probe=probe)
    assert measures.dead_fraction(probe.features["fc1"]) == 1.0
    post_bn = F.batch_norm(probe.features["fc1"], None, None, net.bn1.weight, net.bn1.bias, training=True)
    assert (
        out["fc1/dead_frac"] == pytest.approx(measures.dead_fraction(post_bn)) and out["fc1/dead_frac"] < 1.0
    )
    assert out["fc2/dead_frac"] == pytest.approx(measures.dead_fraction(probe.features["fc2"]))
    assert "head/dead_frac" not in out  # the logits: no activation follows


@pytest.mark.parametrize("act", [nn.Tanh, nn.Sigmoid, nn.Identity])
def test_no_dead_frac_where_dead_means_nothing(act: type[nn.Module]) -> None:
    torch.manual_seed(0)
    x, y = torch.randn(8, 4), torch.tensor([0, 1] * 4)
    out = metric_on(BNNet(act), x, y)
    assert not [k for k in out if k.endswith("dead_frac")]


def test_shipped_models_declare_where_units_can_die() -> None:
    from condensekit_plugins.models.nets.mlp import MLP, ResMLP

    x, y = torch.randn(8, 6), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    mlp = MLP(6, 3, 4, 8, "relu", "batch", True)
    probe = Probe(mlp, x, y, probe_points(mlp), step=0)
    assert sorted(probe.activation_inputs) == ["layer1", "layer2", "layer3"]
    expected = F.batch_norm(
        probe.features["layer2"], None, None, mlp.norms[1].weight, mlp.norms[1].bias, training=True
    )
    assert torch.allclose(probe.activation_inputs["layer2"], expected, atol=1e-6)
    # tanh: none
    assert not Probe(MLP(6, 3, 4, 8, "tanh", "none", True), x, y, probe_points(mlp), 0).activation_inputs
    res = ResMLP(6, 3, 4, 8, "relu", "none", True)  # the residual stream is the next block's activation input
    assert not [k for k in metric_on(res, x, y) if k.endswith("dead_frac")]


def test_dead_frac_of_layers_of_different_widths_measured_together() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 7), nn.ReLU(), nn.Linear(7, 2))
    with torch.no_grad():
        net[0].bias.copy_(torch.tensor([-100.0, -100.0, 100.0]))  # two of three units dead
    x, y = torch.randn(10, 4), torch.tensor([0, 1] * 5)
    probe = Probe(net, x, y, probe_points(net), step=0)
    out = Condensation(CondensationParams()).collect_metrics(run=None, probe=probe)
    assert out["0/dead_frac"] == pytest.approx(2 / 3)
    assert out["2/dead_frac"] == pytest.approx(measures.dead_fraction(probe.features["2"]))
    assert "4/dead_frac" not in out
