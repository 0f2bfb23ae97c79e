"""Behaviour that a silent one-line bug would change without any other test noticing.

Each test names the mutant it kills: a trick that does nothing, a threshold drifting from its documented
default, L0 from the first loss, a measure on the wrong matrix, a probe that disturbs training, run.json
written in place, the report's median replaced by a mean.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from hostile import write
from report_rows import report, row
from torch import nn

from condensekit.api import open_recipe
from condensekit.executing import execute_spec
from condensekit.phases import Thresholds, phase1_end, summarize_run
from condensekit.probe import Probe, probe_points
from condensekit.quantities import median_range
from condensekit.report.rows import RunRow
from condensekit.report.tables import verdict

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


def test_init_zeroes_biases_only_when_asked() -> None:  # mutant: zero_bias ignored
    from condensekit_plugins.tricks.init import InitParams, reinitialise

    torch.manual_seed(0)
    layer = nn.Linear(5, 4)
    bias = layer.bias.detach().clone()
    reinitialise(layer, InitParams(zero_bias=False))
    assert torch.equal(layer.bias.detach(), bias) and bias.abs().sum() > 0
    reinitialise(layer, InitParams(zero_bias=True))
    assert not layer.bias.detach().any()


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


# mutant: [summary] defaults drifting
def test_thresholds_default_to_the_documented_values(tmp_path: Path) -> None:
    th = Thresholds()
    assert (th.plateau_drop_rel, th.plateau_drop_abs, th.rise, th.fall_fraction) == (0.05, 0.02, 0.1, 0.5)
    spec = open_recipe(write(tmp_path))[0].specs[0]  # a recipe without [summary] gets exactly those
    assert spec.thresholds == th


def test_l0_is_the_median_of_the_first_window_not_the_first_loss() -> None:  # mutant: L0 = losses[0]
    losses = [9.0] + [2.3 + 0.01 * (-1) ** i for i in range(79)] + [1.0] * 60
    level, t1 = phase1_end(losses, window=20)
    assert level == pytest.approx(2.3, abs=0.02)
    assert t1 is not None and 70 <= t1 <= 80  # leaves the plateau where the drop is, not at once
    stuck = summarize_run([2.3] * 100, {}, [], None, window=20)
    assert stuck.stuck is True and stuck.phase1_end is None


def test_t1_needs_the_larger_of_the_relative_and_absolute_drop() -> None:  # mutant: max -> min
    plateau = [2.3] * 40
    _, t1 = phase1_end(plateau + [2.25] * 60, window=20)  # 0.05 below L0: less than 5% of 2.3 (0.115)
    assert t1 is None
    _, t1 = phase1_end(plateau + [2.1] * 60, window=20)  # 0.2 below: more than both
    assert t1 is not None and 40 <= t1 <= 50
    low = [0.1] * 40
    _, t1 = phase1_end(low + [0.09] * 60, window=20)  # 0.01 below: more than 5% of 0.1, less than 0.02
    assert t1 is None


def test_the_smoothing_window_is_max_20_and_a_twentieth_epoch() -> None:  # mutant: max(10, ...)
    from condensekit.phases import smoothing_window

    assert [smoothing_window(n) for n in (1, 100, 400, 1000)] == [20, 20, 20, 50]


def test_an_mlp_needs_a_hidden_layer(tmp_path: Path) -> None:  # mutant: mlp depth = 1 runs
    from condensekit.errors import RecipeError

    with pytest.raises(RecipeError, match=r"arms\[0\].model.depth: must be >= 2, got 1"):
        open_recipe(write(tmp_path), ["arms[0].model.depth=1"])
    from condensekit_plugins.models.mlp import MLPParams, build_mlp

    model = build_mlp(MLPParams(depth=2, width=5), SimpleNamespace(input_shape=(4,), num_classes=3))
    from condensekit.probe import hidden_layer_names

    assert len(hidden_layer_names(model, probe_points(model))) == 1


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


# mutant: written in place
def test_run_json_is_always_replaced_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    replaced: list[str] = []
    real = os.replace

    def spy(src: str, dst: str, **folders: int) -> None:  # folders: renamed within a folder's descriptor
        replaced.append(Path(dst).name)
        real(src, dst, **folders)

    monkeypatch.setattr(os, "replace", spy)
    outcome = execute_spec(open_recipe(write(tmp_path))[0].specs[0], tmp_path / "out")
    assert outcome.status == "ok"
    assert replaced.count("run.json") == 2  # "running" at the start, "ok" at the end: each by rename


def _row(arm: str, seed: int, ds: float, t1: int | None) -> RunRow:
    return row(
        arm, seed, dS_max=ds, dS=ds, peak_max=0.5, phase1_end=t1, final_test_acc=0.9, condensed=ds > 0.5
    )


def test_the_report_gives_the_median_across_seeds_not_the_mean() -> None:  # mutant: median -> mean
    assert median_range([0.1, 0.2, 0.9]) == "0.2 [0.1, 0.9]"
    (cells,) = verdict(report(_row("mlp", 0, 0.1, 10), _row("mlp", 1, 0.2, 20), _row("mlp", 2, 0.9, 300)))
    assert (
        cells["dS"] == "0.2 [0.1, 0.9]"
        and cells["phase1_end"] == "20 [10, 300]"
        and cells["condensed"] == "1/3"
    )


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
