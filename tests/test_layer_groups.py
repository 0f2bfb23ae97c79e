"""Which probe points the mean over hidden layers averages, for every shipped model family, and the groups
of all the others; how a model declares them and what a bad declaration says."""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest
import torch
from torch import nn

from condensekit.data import DataInfo
from condensekit.errors import CondensekitError
from condensekit.layer_groups import declared_groups, resolved_groups
from condensekit.manager import get_plugin_manager
from condensekit.phases import summarize_run
from condensekit.probe import Probe, probe_points
from condensekit_plugins.metrics.condensation import Condensation, CondensationParams

PM = get_plugin_manager()
FLAT, IMAGE = (64,), (1, 8, 8)


def build(model: str, params: dict[str, Any], shape: tuple[int, ...]) -> nn.Module:
    torch.manual_seed(0)
    entry = PM.catalogue.get("models", model)
    return entry.build(params, DataInfo(input_shape=shape, num_classes=3, name="groups"))


def blocks(n: int, suffix: str = "") -> list[str]:
    return [f"block{i}{suffix}" for i in range(1, n + 1)]


class Family(NamedTuple):
    """A model with its params and input shape, the points its layer mean averages, and its other groups."""

    model: str
    params: dict[str, Any]
    shape: tuple[int, ...]
    hidden: list[str]
    others: dict[str, list[str]]


FAMILIES = [
    ("mlp", {"depth": 4, "width": 8}, FLAT, ["layer1", "layer2", "layer3"], {"logits": ["logits"]}),
    (
        "resmlp",
        {"depth": 5, "width": 8},
        FLAT,
        ["stem", *blocks(3)],  # the stream: what each block's activation reads
        {"branch": blocks(3, ".fc"), "logits": ["logits"]},
    ),
    ("cnn", {"depth": 3, "channels": 4}, IMAGE, ["conv1", "conv2", "conv3"], {"logits": ["logits"]}),
    (
        "cnn",
        {"depth": 3, "channels": 4, "norm": "batch"},
        IMAGE,
        ["conv1", "conv2", "conv3"],  # after the batch norm: each activation's input
        {"prenorm": ["conv1.prenorm", "conv2.prenorm", "conv3.prenorm"], "logits": ["logits"]},
    ),
    (
        "cnn",
        {"depth": 2, "channels": 4, "residual": True},
        IMAGE,
        blocks(2),  # each block's output stream
        {"stem": ["stem"], "logits": ["logits"]},
    ),
    *(
        (
            "timm",
            {"name": name, "depth": depth},
            IMAGE,
            blocks(depth, "@mean"),  # each block's output stream, token mean
            {"stream": blocks(depth), "mlp": blocks(depth, ".fc1"), "logits": ["logits"]},
        )
        for name, depth in (("vit_micro", 4), ("vit_mini", 2), ("vit_deep", 3))
    ),
    # another timm family (a ResNet through feature_info): each block's output stream
    ("timm", {"name": "test_resnet"}, IMAGE, ["act1", "layer1", "layer2", "layer3", "layer4"], {}),
]


@pytest.mark.parametrize("case", [Family(*f) for f in FAMILIES], ids=lambda f: f"{f.model}-{f.params}")
def test_each_family_averages_one_kind_of_point(case: Family) -> None:
    net = build(case.model, case.params, case.shape)
    groups = declared_groups(net, list(probe_points(net)))
    assert groups["hidden"] == case.hidden
    if case.others:
        assert {k: v for k, v in groups.items() if k != "hidden"} == case.others
    named = [key.partition("@")[0] for keys in groups.values() for key in keys]
    assert set(named) == set(probe_points(net))  # every probe point has a group


def test_the_batch_norm_cnn_reads_each_activations_input() -> None:
    net = build("cnn", {"depth": 2, "channels": 4, "norm": "batch"}, IMAGE)
    points = probe_points(net)
    assert isinstance(points["conv1"], nn.BatchNorm2d) and isinstance(points["conv1.prenorm"], nn.Conv2d)
    x, y = torch.randn(6, *IMAGE), torch.arange(6) % 3
    probe = Probe(net, x, y, points, step=0)
    assert torch.equal(probe.features["conv1"], probe.activation_inputs["conv1"])
    assert not torch.allclose(probe.features["conv1"], probe.features["conv1.prenorm"])


MEASURED = [
    ("resmlp", {"depth": 4, "width": 8}, FLAT, ["stem", *blocks(2)], {"branch": blocks(2, ".fc")}),
    (
        "timm",
        {"name": "vit_micro", "depth": 2},
        IMAGE,
        blocks(2, "@mean"),
        {
            "stream": blocks(2),
            "mlp": blocks(2, ".fc1"),
            "stream@cls": blocks(2, "@cls"),
            "mlp@mean": blocks(2, ".fc1@mean"),
            "mlp@cls": blocks(2, ".fc1@cls"),
        },
    ),
    (
        "cnn",
        {"depth": 2, "channels": 4},
        IMAGE,
        ["conv1", "conv2"],
        {"hidden@mean": ["conv1@mean", "conv2@mean"]},
    ),
]


@pytest.mark.parametrize("case", [Family(*f) for f in MEASURED], ids=lambda f: f.model)
def test_a_measured_run_summarises_the_groups_and_its_mean_averages_the_hidden_points(case: Family) -> None:
    model, params, shape, hidden, others = case
    net = build(model, params, shape)
    points = probe_points(net)
    groups = declared_groups(net, list(points))
    x, y = torch.randn(6, *shape), torch.arange(6) % 3
    metric = Condensation(CondensationParams(gradients=False, weight_gradients=False))
    run = type("RunStub", (), {"hidden_layers": groups["hidden"]})()
    values = metric.collect_metrics(run=run, probe=Probe(net, x, y, points, step=0))
    series = {f"condensation/{k}": ([0], [v]) for k, v in values.items()}
    summary = summarize_run([2.3], series, groups["hidden"], "condensation/feat_inter", 20, groups=groups)
    assert list(summary.hidden_layers) == hidden
    assert {k: list(v) for k, v in summary.groups.items() if k != "logits"} == others
    mean = sum(values[f"{k}/feat_inter"] for k in hidden) / len(hidden)
    assert summary.mean.S0 == pytest.approx(mean)
    assert values["mean/feat_inter"] == pytest.approx(mean)  # the metric's TensorBoard mean: the same points


class Declared(nn.Module):
    def __init__(self, groups: dict[str, list[str]]) -> None:
        super().__init__()
        self.a, self.b, self.head = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 2)
        self.groups = groups

    def probe_points(self) -> dict[str, nn.Module]:
        return {"a": self.a, "b": self.b, "logits": self.head}

    def probe_groups(self) -> dict[str, list[str]]:
        return self.groups


def test_the_default_groups_and_what_a_bad_declaration_says() -> None:
    plain = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 5), nn.ReLU(), nn.Linear(5, 2))
    assert declared_groups(plain, list(probe_points(plain))) == {"hidden": ["0", "2"], "logits": ["4"]}
    # a point left out of every group is reported in "other", never in the mean
    assert declared_groups(Declared({"hidden": ["a"]}), ["a", "b", "logits"]) == {
        "hidden": ["a"],
        "other": ["b", "logits"],
    }
    with pytest.raises(CondensekitError, match=r"puts 'c' in group 'hidden', but it is not a probe point"):
        declared_groups(Declared({"hidden": ["a", "c"]}), ["a", "b", "logits"])
    with pytest.raises(CondensekitError, match=r"declares no 'hidden' group"):
        declared_groups(Declared({"stream": ["a", "b"]}), ["a", "b", "logits"])


class PointsOnly(nn.Module):
    """A third-party model that names its probe points (one called ``logits``) but declares no groups."""

    def probe_points(self) -> dict[str, nn.Module]:
        return {}


def test_a_model_with_its_own_probe_points_and_no_groups_keeps_its_logits_out_of_the_mean() -> None:
    points = ["embed", "block", "logits", "pooled"]
    assert declared_groups(PointsOnly(), points) == {
        "hidden": ["embed", "block", "pooled"],
        "logits": ["logits"],
    }
    # without a point called "logits" every declared point is hidden
    assert declared_groups(PointsOnly(), ["embed", "block"]) == {"hidden": ["embed", "block"]}


def test_variants_nobody_named_are_grouped_by_their_points_group() -> None:
    groups = {"hidden": ["c1", "c2"], "pre": ["p1"]}
    logged = {"c1", "c2", "c1@mean", "c2@mean", "p1", "p1@mean", "mean", "mean@mean"}
    hidden, others = resolved_groups(groups, logged)
    assert hidden == ["c1", "c2"]
    assert others == {"pre": ["p1"], "hidden@mean": ["c1@mean", "c2@mean"], "pre@mean": ["p1@mean"]}
