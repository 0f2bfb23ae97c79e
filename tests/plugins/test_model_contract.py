"""Every registered model (and a sample of timm names) against the model contract and every shipped metric.

For each model and each input shape it accepts: build, forward and backward (``condensekit.testing.
check_model``), non-empty probe points, and every metric in the catalogue computed on a real
:class:`condensekit.Probe` with finite values. A shape a model does not take must be refused at build
time with a CondensekitError (a message, not a crash in the first step).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from condensekit.data import DataInfo
from condensekit.errors import CondensekitError
from condensekit.manager import get_plugin_manager
from condensekit.probe import Probe, hidden_layer_names, probe_points
from condensekit.run import Run
from condensekit.testing import check_model

PM = get_plugin_manager()
MODELS = PM.catalogue.names("models")
METRICS = PM.catalogue.names("metrics")

SHAPES = {"flat": (64,), "digits": (1, 8, 8), "mnist": (1, 28, 28), "cifar": (3, 32, 32)}
CLASSES = 3
BATCH = 6  # two samples per class: inter- and intra-class pairs both exist

# Params for each registered model: its defaults, plus variants that change its structure. A model
# that needs params (timm needs a name) gets a sample here; a new model without an entry uses {}.
VARIANTS: dict[str, list[dict[str, Any]]] = {
    "mlp": [{"depth": 3, "width": 16}],
    "resmlp": [{"depth": 3, "width": 16}],
    "cnn": [
        {"depth": 2, "channels": 4},
        {"depth": 3, "channels": 4, "residual": True, "norm": "batch"},
    ],
    "timm": [
        {"name": "vit_micro", "depth": 2},
        {"name": "test_vit", "patch_size": 4},  # timm's tiny test ViT, with patches for small images
        {"name": "test_resnet"},
        {"name": "test_convnext"},
    ],
}
# Shapes each sample must accept; any other shape it may refuse (with a CondensekitError only).
MUST_ACCEPT = {
    "mlp": set(SHAPES),
    "resmlp": set(SHAPES),
    "cnn": {"digits", "mnist", "cifar"},
    "timm:vit_micro": {"digits", "mnist", "cifar"},
    "timm:test_vit": {"digits", "mnist", "cifar"},
    "timm:test_resnet": {"digits", "mnist", "cifar"},
    "timm:test_convnext": {"cifar"},  # stride 32: smaller images are refused
}


def cases() -> list[Any]:
    out = []
    for model in MODELS:
        for params in VARIANTS.get(model, [{}]):
            label = f"{model}:{params['name']}" if "name" in params else model
            for shape in SHAPES:
                out.append(
                    pytest.param(
                        model,
                        params,
                        shape,
                        id=(
                            f"{label}-{'-'.join(f'{k}={v}' for k, v in params.items() if k != 'name')}"
                            f"-{shape}"
                        ),
                    )
                )
    return out


def must_accept(model: str, params: dict[str, Any], shape: str) -> bool:
    key = f"{model}:{params['name']}" if "name" in params else model
    return shape in MUST_ACCEPT.get(key, set())


def metric_params(metric: str, shape: str) -> dict[str, Any]:
    """Default params, except conv/token wgrad_inter on 28x28 and 32x32 inputs: its Gram identity costs
    O((N * positions)^2) (seconds per layer here); it is exercised on the 8x8 shapes."""
    if metric == "condensation" and shape in ("mnist", "cifar"):
        return {"weight_gradients": False}
    return {}


def sgd_step(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    """One plain SGD step, so that weights move away from their initial values as in a run."""
    torch.nn.functional.cross_entropy(net(x), y).backward()
    with torch.no_grad():
        for p in net.parameters():
            if p.grad is not None:
                p -= 0.01 * p.grad
    net.zero_grad(set_to_none=True)


def test_every_registered_model_has_cases() -> None:
    assert {"mlp", "resmlp", "cnn", "timm"} <= set(MODELS)
    assert METRICS, "no metrics registered"


@pytest.mark.parametrize(("model", "params", "shape"), cases())
def test_model_contract_and_every_metric(
    model: str, params: dict[str, Any], shape: str, tmp_path: Path
) -> None:
    info = DataInfo(input_shape=SHAPES[shape], num_classes=CLASSES, name=f"contract-{shape}")
    try:
        net = check_model(model, params, info=info, batch_size=BATCH, pm=PM)
    except CondensekitError as exc:
        assert not must_accept(model, params, shape), f"{model} {params} refused {SHAPES[shape]}: {exc}"
        assert str(exc), "a refusal must say why"
        return
    points = probe_points(net)
    assert points
    torch.manual_seed(1)
    x = torch.randn(BATCH, *SHAPES[shape])
    y = torch.arange(BATCH) % CLASSES
    run = Run(
        spec=None,  # type: ignore[arg-type]  # metrics read the step, the info and the hidden layers
        name="contract",
        seed=0,
        device=torch.device("cpu"),
        run_dir=tmp_path,
        info=info,
        step=1,
        hidden_layers=hidden_layer_names(net, points),
    )
    for metric in METRICS:
        entry = PM.catalogue.get("metrics", metric)
        collector = entry.build(metric_params(metric, shape))
        for step in (0, 1):  # twice: metrics that keep the initial state (W_0) use it after a training step
            if step == 1:
                sgd_step(net, x, y)
            run.step = step
            probe = Probe(net, x, y, points, step=step)
            values = collector.collect_metrics(run=run, probe=probe)
            assert values, f"{metric} returned nothing for {model} {params} on {SHAPES[shape]}"
            bad = {k: v for k, v in values.items() if not (isinstance(v, float | int) and math.isfinite(v))}
            assert not bad, f"{metric}: non-finite values for {model} {params} on {SHAPES[shape]}: {bad}"
        if metric == "condensation":
            hidden = [p for p in points if p != "logits"]
            assert all(f"{p}/feat_inter" in values for p in hidden), sorted(values)
