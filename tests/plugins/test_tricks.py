"""The shipped tricks (the init trick: test_tricks_init.py): momentum and weight_decay reach the optimizer,
the norm tricks build their layers into the model; warmup, grad_clip, layer_normalized_updates, dropout, and
the before_step hook they use."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from hostile import write
from torch import nn

from condensekit.api import open_recipe
from condensekit.errors import CondensekitError
from condensekit.executing import execute_spec
from condensekit.testing import check_trick, run_tiny, tiny_recipe
from condensekit_plugins.tricks.dropout import DropoutParams, DropoutTrick
from condensekit_plugins.tricks.grad_clip import GradClipParams, GradClipTrick
from condensekit_plugins.tricks.layer_normalized_updates import (
    LayerNormalizedUpdatesParams,
    LayerNormalizedUpdatesTrick,
)
from condensekit_plugins.tricks.warmup import WarmupParams, WarmupTrick


def _model_with_grads(scale: float = 10.0) -> torch.nn.Module:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
    for p in model.parameters():
        p.grad = scale * torch.randn_like(p)
    return model


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("warmup", {"steps": 2}),
        ("grad_clip", {"max_norm": 0.5}),
        ("layer_normalized_updates", {}),
        ("dropout", {"p": 0.2}),
    ],
)
def test_contract(name: str, params: dict) -> None:
    hooks = check_trick(name, params)
    assert hooks


def test_warmup_rises_linearly_then_restores_the_lr() -> None:
    model = _model_with_grads()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.3)
    trick = WarmupTrick(WarmupParams(steps=4))
    seen = []
    for step in range(7):
        trick.before_step(run=SimpleNamespace(step=step), model=model, optimizer=optimizer)
        seen.append(optimizer.param_groups[0]["lr"])
    assert seen == pytest.approx([0.075, 0.15, 0.225, 0.3, 0.3, 0.3, 0.3])


def test_grad_clip_bounds_the_total_norm_and_keeps_small_gradients() -> None:
    model = _model_with_grads(10.0)
    direction = [p.grad.clone() for p in model.parameters()]
    GradClipTrick(GradClipParams(max_norm=0.5)).before_step(run=None, model=model, optimizer=None)
    total = torch.sqrt(sum((p.grad**2).sum() for p in model.parameters()))
    assert float(total) == pytest.approx(0.5, rel=1e-4)
    ratio = [float(p.grad.norm() / d.norm()) for p, d in zip(model.parameters(), direction, strict=True)]
    assert max(ratio) == pytest.approx(min(ratio), rel=1e-5)  # one common factor: the direction is kept
    small = _model_with_grads(1e-3)
    before = [p.grad.clone() for p in small.parameters()]
    GradClipTrick(GradClipParams(max_norm=0.5)).before_step(run=None, model=small, optimizer=None)
    assert all(torch.equal(p.grad, b) for p, b in zip(small.parameters(), before, strict=True))


def test_layer_normalized_updates_make_every_sgd_step_lr_long() -> None:
    model = _model_with_grads(10.0)
    model[0].weight.grad.mul_(1e-4)  # a "vanishing" layer moves as far as the others
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    LayerNormalizedUpdatesTrick(LayerNormalizedUpdatesParams()).before_step(
        run=None, model=model, optimizer=optimizer
    )
    optimizer.step()
    steps = [float((p.detach() - b).norm()) for p, b in zip(model.parameters(), before, strict=True)]
    assert steps == pytest.approx([0.01] * len(steps), rel=1e-4)


def test_layer_normalized_updates_can_leave_biases_alone() -> None:
    model = _model_with_grads(10.0)
    bias_grad = model[0].bias.grad.clone()
    LayerNormalizedUpdatesTrick(LayerNormalizedUpdatesParams(include_bias=False)).before_step(
        run=None, model=model, optimizer=None
    )
    assert torch.equal(model[0].bias.grad, bias_grad)
    assert float(model[0].weight.grad.norm()) == pytest.approx(1.0, rel=1e-6)


def test_before_step_runs_between_backward_and_step(tmp_path) -> None:
    """The core calls before_step with .grad filled and the parameters not yet moved."""
    plugin = tmp_path / "spy.py"
    plugin.write_text(
        textwrap.dedent("""
        import json, torch
        import condensekit
        STATE = {}

        @condensekit.hookimpl
        def before_step(run, model, optimizer):
            params = list(model.parameters())
            STATE["snapshot"] = [p.detach().clone() for p in params]
            row = {"step": run.step, "grads": all(p.grad is not None for p in params)}
            with open(__file__ + ".log", "a") as f:
                f.write(json.dumps(row) + "\\n")

        @condensekit.hookimpl
        def after_step(run, model, optimizer):
            moved = any(not torch.equal(p, s) for p, s in zip(model.parameters(), STATE["snapshot"]))
            with open(__file__ + ".log", "a") as f:
                f.write(json.dumps({"step": run.step, "moved": moved}) + "\\n")
    """)
    )
    recipe = {**tiny_recipe(steps=3), "plugins": [str(plugin)]}
    run_tiny(recipe, tmp_path / "out", steps=3)
    log = [json.loads(line) for line in (tmp_path / "spy.py.log").read_text().splitlines()]
    assert [r["step"] for r in log] == [0, 0, 1, 1, 2, 2]
    assert all(r["grads"] for r in log[0::2]) and all(r["moved"] for r in log[1::2])


def _final_weights(tmp_path, tricks: dict) -> list[torch.Tensor]:
    """Train a tiny run and rebuild its final weights' change from the gradient_health metric."""
    recipe = tiny_recipe(steps=4, tricks=tricks, metrics={"gradient_health": {"every": "at:0,4"}})
    result = run_tiny(recipe, tmp_path, steps=4)
    last = result.runs[0].scalars
    return [v for row in last if row["step"] == 4 for k, v in row.items() if k.endswith("/rel_change")]


def test_grad_clip_acts_inside_a_real_run(tmp_path) -> None:
    free = _final_weights(tmp_path / "free", {})
    clipped = _final_weights(tmp_path / "clipped", {"grad_clip": {"max_norm": 1e-6}})
    assert min(free) > 1e-3
    assert max(clipped) < 1e-4  # 4 steps of length <= 0.05 * 1e-6 each: the weights barely move


def test_dropout_reaches_mlp_and_resmlp_and_keeps_probe_points(plugin_manager) -> None:
    from condensekit.data import DataInfo

    info = DataInfo(input_shape=(6,), num_classes=3)
    for name in ("mlp", "resmlp"):
        entry = plugin_manager.catalogue.get("models", name)
        plain = entry.build({"depth": 4, "width": 8}, info)
        override = DropoutTrick(DropoutParams(p=0.3)).model_overrides(run=None)
        dropped = entry.build({"depth": 4, "width": 8, **override}, info)
        drops = [m for m in dropped.modules() if isinstance(m, torch.nn.Dropout)]
        assert drops and all(m.p == 0.3 for m in drops)
        assert not [m for m in plain.modules() if isinstance(m, torch.nn.Dropout)]
        assert list(dropped.probe_points()) == list(plain.probe_points())
        dropped.eval()
        plain.load_state_dict(dropped.state_dict())  # same parameters: dropout adds none
        x = torch.randn(5, 6)
        assert torch.allclose(dropped(x), plain(x))  # and in eval mode it is the identity


def test_dropout_on_a_model_without_the_parameter_is_a_clear_error(tmp_path) -> None:
    recipe = tiny_recipe(
        model="cnn", model_params={}, data="digits", data_params={"image": True}, tricks={"dropout": {}}
    )
    with pytest.raises(CondensekitError, match="dropout"):
        run_tiny(recipe, tmp_path, steps=1, check=False)


# ---------------------------------------------------------------------------------------------- tricks


@pytest.mark.parametrize(("trick", "kind"), [("layernorm", nn.LayerNorm), ("batchnorm", nn.BatchNorm1d)])
# tricks-12
def test_norm_tricks_build_their_normalisation_into_the_model(
    plugin_manager, trick: str, kind: type[nn.Module]
) -> None:
    from condensekit.data import DataInfo

    entry = plugin_manager.catalogue.get("models", "mlp")
    overrides = plugin_manager.catalogue.get("tricks", trick).build({}).model_overrides(run=None)
    model = entry.build({"depth": 3, "width": 8, **overrides}, DataInfo(input_shape=(6,), num_classes=3))
    norms = [m for m in model.modules() if isinstance(m, nn.LayerNorm | nn.BatchNorm1d)]
    assert norms and all(isinstance(m, kind) for m in norms)


# Writes, after the first step, what the optimizer was built with, and the first layer's weight at the start.
RECORDER = """
import json
import condensekit

@condensekit.hookimpl
def model_built(run, model):
    w = next(p for p in model.parameters() if p.dim() == 2)
    (run.run_dir.parents[3] / "init.json").write_text(json.dumps(w.detach().flatten().tolist()))

@condensekit.hookimpl
def after_step(run, model, optimizer):
    if run.step == 0:
        group = optimizer.param_groups[0]
        keep = {k: group.get(k) for k in ("lr", "momentum", "weight_decay", "nesterov")}
        (run.run_dir.parents[3] / "optimizer.json").write_text(json.dumps(keep))
"""


def _run_with(tmp_path: Path, tricks: str) -> tuple[dict, list[float]]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "recorder.py").write_text(RECORDER)
    recipe = write(tmp_path, top='plugins = ["recorder.py"]', rest=f"tricks = {{ {tricks} }}\n")
    outcome = execute_spec(open_recipe(recipe)[0].specs[0], tmp_path / "out")
    assert outcome.status == "ok", outcome.error
    return json.loads((tmp_path / "out/optimizer.json").read_text()), json.loads(
        (tmp_path / "out/init.json").read_text()
    )


# mutant: momentum ignoring beta
def test_momentum_reaches_the_optimizer_with_its_beta(tmp_path: Path) -> None:
    options, _ = _run_with(tmp_path, "momentum = { beta = 0.5 }")
    assert options["momentum"] == 0.5 and options["lr"] == 0.1 and options["nesterov"] is False


def test_nesterov_reaches_the_optimizer(tmp_path: Path) -> None:  # mutant: nesterov ignored
    options, _ = _run_with(tmp_path, "momentum = { beta = 0.5, nesterov = true }")
    assert options["nesterov"] is True and options["momentum"] == 0.5


# mutant: weight_decay applying 0
def test_weight_decay_reaches_the_optimizer_with_its_strength(tmp_path: Path) -> None:
    options, _ = _run_with(tmp_path, "weight_decay = { l2 = 0.01 }")
    assert options["weight_decay"] == 0.01 and options["momentum"] == 0


def test_init_scale_multiplies_the_initial_weights(tmp_path: Path) -> None:  # mutant: init ignoring scale
    _, one = _run_with(tmp_path / "a", 'init = { scheme = "xavier_normal", scale = 1.0 }')
    _, two = _run_with(tmp_path / "b", 'init = { scheme = "xavier_normal", scale = 2.0 }')
    assert two == pytest.approx([2 * w for w in one], rel=1e-6)  # same seed: exactly twice the weights
    std = torch.tensor(one).std().item()
    assert std == pytest.approx(math.sqrt(2 / (6 + 6)), rel=0.35)  # xavier_normal of a 6 -> 6 layer
