"""The verdict rules (``condensed``, ``collapsed_at_init``, ``peak_phase``) and the layer mean, against an
independent reference written with explicit loops, on constructed cases and on real runs."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from condensekit.phases import (
    DEFAULT_THRESHOLDS,
    RunSummary,
    Thresholds,
    layer_mean,
    series_summary,
    summarize_run,
)

STEPS = [0, 10, 20, 30, 40, 50]

# ---------------------------------------------------------------- independent reference


def ref_verdicts(
    values: list[float],
    steps: list[int],
    t1: int | None,
    rise_min: float = 0.1,
    fall: float = 0.5,
    collapsed: float = 0.9,
) -> dict[str, object]:
    """The rules as docs/metrics.md words them, one loop at a time: S0 is the value at the first step (none
    when it is not finite: no rise, so neither condensed nor collapsed); the peak and the end are read from
    the finite values."""
    kept = []
    for s, v in zip(steps, values, strict=True):
        if v == v and abs(v) != math.inf:
            kept.append((s, v))
    if not kept:
        return {"condensed": False, "collapsed_at_init": False, "peak_phase": None}
    first = values[0] if kept[0][0] == steps[0] else None
    best_step, best = kept[0]
    for s, v in kept:
        if v > best:
            best_step, best = s, v
    last = kept[-1][1]
    rise = None if first is None else best - first
    condensed = rise is not None and rise >= rise_min and (t1 is None or last <= best - fall * rise)
    phase = "phase1" if (t1 is None or best_step <= t1) else "phase2"
    return {
        "condensed": condensed,
        "collapsed_at_init": first is not None
        and rise is not None
        and first >= collapsed
        and rise < rise_min,
        "peak_phase": phase,
        "S0": first,
        "peak": best,
        "peak_step": best_step,
        "dS": rise,
        "S_final": last,
    }


def verdicts(values: list[float], t1: int | None, th: Thresholds = DEFAULT_THRESHOLDS) -> dict[str, object]:
    s = series_summary(STEPS, values, t1, th)
    return {"condensed": s.condensed, "collapsed_at_init": s.collapsed_at_init, "peak_phase": s.peak_phase}


# ---------------------------------------------------------------- the cases the issue names

NOT_STUCK = 25  # T1: the loss left its plateau at step 25


@pytest.mark.parametrize("t1", [NOT_STUCK, None])
def test_a_series_flat_at_095_is_not_condensed(t1: int | None) -> None:
    got = verdicts([0.95] * 6, t1)
    assert got["condensed"] is False and got["collapsed_at_init"] is True


def test_a_high_peak_without_a_rise_is_not_condensed() -> None:
    # the old rule counted a peak >= 0.9 as a rise: 0.88 -> 0.93 is a rise of 0.05
    got = verdicts([0.88, 0.90, 0.93, 0.70, 0.60, 0.50], NOT_STUCK)
    assert got["condensed"] is False and got["collapsed_at_init"] is False  # starts below 0.9


@pytest.mark.parametrize("t1", [NOT_STUCK, None])
def test_a_series_that_starts_at_092_and_only_falls_is_not_condensed(t1: int | None) -> None:
    got = verdicts([0.92, 0.85, 0.7, 0.5, 0.4, 0.3], t1)
    assert got["condensed"] is False and got["collapsed_at_init"] is True


def test_a_dip_that_recovers_is_not_a_fall() -> None:
    # peak 0.7 (rise 0.5) at step 20, down to 0.25 at step 30 (the old rule's "min after peak"), back to 0.65
    values = [0.2, 0.5, 0.7, 0.25, 0.6, 0.65]
    assert verdicts(values, NOT_STUCK)["condensed"] is False
    assert verdicts([0.2, 0.5, 0.7, 0.25, 0.3, 0.35], NOT_STUCK)["condensed"] is True  # ends low: a fall


def test_a_rise_in_a_stuck_run_is_condensed_and_the_fall_is_measured_from_the_peak() -> None:
    assert verdicts([0.2, 0.5, 0.7, 0.68, 0.69, 0.7], None)["condensed"] is True  # still in phase 1
    assert verdicts([0.2, 0.5, 0.7, 0.68, 0.69, 0.7], NOT_STUCK)["condensed"] is False  # left it, never fell
    # exactly half the rise back is enough (0.75 - 0.25 = 0.5, values exact in binary), a hair less is not
    assert verdicts([0.25, 0.5, 0.75, 0.6, 0.55, 0.5], NOT_STUCK)["condensed"] is True
    assert verdicts([0.25, 0.5, 0.75, 0.6, 0.55, 0.5001], NOT_STUCK)["condensed"] is False


def test_peak_phase_compares_the_peak_step_with_t1() -> None:
    assert verdicts([0.2, 0.5, 0.7, 0.3, 0.3, 0.3], 20)["peak_phase"] == "phase1"  # peak at 20 <= T1
    assert verdicts([0.2, 0.5, 0.7, 0.3, 0.3, 0.3], 19)["peak_phase"] == "phase2"
    # stuck: the run is all phase 1
    assert verdicts([0.2, 0.5, 0.7, 0.3, 0.3, 0.3], None)["peak_phase"] == "phase1"
    assert verdicts([math.nan] * 6, 20)["peak_phase"] is None


def test_thresholds_in_force_change_the_verdict() -> None:
    small_rise = [0.2, 0.22, 0.25, 0.21, 0.2, 0.2]
    assert verdicts(small_rise, None)["condensed"] is False
    assert verdicts(small_rise, None, Thresholds(rise=0.01))["condensed"] is True
    assert verdicts([0.85] * 6, None, Thresholds(collapsed=0.8))["collapsed_at_init"] is True


# ---------------------------------------------------------------- random series against the reference


def random_series(rng: random.Random) -> list[float]:
    kind = rng.random()
    start = rng.uniform(-0.2, 1.0)
    values = [start]
    for _ in STEPS[1:]:
        values.append(max(-1.0, min(1.0, values[-1] + rng.gauss(0, 0.15))))
    if kind < 0.2:  # a few missing values
        values[rng.randrange(len(values))] = math.nan
    if kind > 0.95:
        values = [math.nan] * len(values)
    return values


def test_random_series_match_the_reference() -> None:
    rng = random.Random(11)
    th = Thresholds()
    for _ in range(2000):
        values = random_series(rng)
        t1 = rng.choice([None, 0, 5, 15, 25, 45, 60])
        ref = ref_verdicts(values, STEPS, t1)
        s = series_summary(STEPS, values, t1, th)
        got = {"condensed": s.condensed, "collapsed_at_init": s.collapsed_at_init, "peak_phase": s.peak_phase}
        assert got == {k: ref[k] for k in got}, (values, t1)
        if ref["peak_phase"] is not None:
            assert s.peak_step == ref["peak_step"] and s.S_final == ref["S_final"]
            assert s.S0 == ref["S0"] and s.dS == (None if ref["dS"] is None else pytest.approx(ref["dS"]))
        else:
            assert s.S0 is None and s.dS is None and s.peak_step is None  # nothing finite: nothing measured
        assert not (got["condensed"] and got["collapsed_at_init"])  # two different outcomes, never both


def test_layer_mean_and_the_run_verdict() -> None:
    rng = random.Random(3)
    hidden = [f"layer{i}" for i in range(4)]
    layers = {f"m/{name}/q": (STEPS, [rng.uniform(-0.2, 1) for _ in STEPS]) for name in hidden}
    layers["m/layer2/q"][1][3] = math.nan
    steps, means = layer_mean(layers, hidden, "m", "q")
    assert steps == STEPS
    for k in range(len(STEPS)):
        vals = [v[k] for _, v in layers.values()]
        if k == 3:
            assert math.isnan(means[k])  # a NaN layer is not hidden by the mean
        else:
            assert means[k] == pytest.approx(sum(vals) / len(vals))
    # a hidden layer that missed a step: that step is left out of the mean, never averaged over fewer layers
    partial = {**layers, "m/layer9/q": ([0, 10, 30, 40, 50], [0.1] * 5)}
    assert layer_mean(partial, [*hidden, "layer9"], "m", "q")[0] == [0, 10, 30, 40, 50]
    # a layer that is not hidden (the logits) is none of the mean's points
    assert str(layer_mean(partial, hidden, "m", "q")) == str((steps, means))  # (NaN != NaN)
    assert layer_mean(layers, hidden, "other", "q") == ([], [])

    losses = [2.3] * 60 + [1.0] * 60
    summary = summarize_run(losses, layers, hidden, "m/q", window=20)
    assert summary.mean.S0 == pytest.approx(means[0]) and summary.mean.S_final == pytest.approx(means[-1])
    assert summary.mean.peak == max(m for m in means if not math.isnan(m))
    ref = ref_verdicts(means, steps, summary.phase1_end)
    assert summary.condensed == ref["condensed"] and summary.peak_phase == ref["peak_phase"]
    assert summary.dS_max == pytest.approx(max(s.dS for s in summary.layers.values() if s.dS is not None))
    assert RunSummary.from_dict(summary.to_dict()) == summary  # run.json reads back equal


def test_run_collapsed_at_init_needs_most_layers() -> None:
    losses = [2.3] * 120  # stuck
    alike = [1.0] * 6
    first = [-0.04] * 6  # the first hidden layer: a linear map of the inputs, never alike
    most = {"m/layer1/q": (STEPS, first), **{f"m/layer{i}/q": (STEPS, alike) for i in range(2, 6)}}
    summary = summarize_run(losses, most, [f"layer{i}" for i in range(1, 6)], "m/q", window=20)
    assert summary.mean.S0 is not None and summary.mean.S0 < 0.9  # the layer mean alone would miss it
    assert summary.collapsed_at_init is True and summary.condensed is False
    half = {
        "m/a/q": (STEPS, first),
        "m/b/q": (STEPS, first),
        "m/c/q": (STEPS, alike),
        "m/d/q": (STEPS, alike),
    }
    assert summarize_run(losses, half, list("abcd"), "m/q", window=20).collapsed_at_init is False


# ---------------------------------------------------------------- real runs

SIGMOID = """
name = "sigmoid"
seeds = [0]
device = "cpu"

[data]
use = "digits"
batch_size = 100

[train]
steps = 40
lr = 0.05
eval_every = "at:40"

[metrics]
condensation = {{ every = "every:10", weight_gradients = false, gradients = false, variants = false }}

[tricks]
init = {{ scheme = "xavier_normal", scale = 1.0 }}

[[arms]]
name = "{name}"
model = {{ use = "mlp", depth = 10, width = 64, activation = "{activation}" }}
"""


def run_summary(
    cli_run: Callable[..., tuple[int, str, str]],
    write_recipe: Callable[..., Path],
    tmp_path: Path,
    activation: str,
) -> tuple[dict, Path]:
    recipe = write_recipe(SIGMOID.format(name=activation, activation=activation))
    code, out, err = cli_run("run", str(recipe), "--out", str(tmp_path / "runs"))
    assert code == 0, err
    run_dir = tmp_path / "runs" / "sigmoid" / activation / "base" / "seed=0"
    return json.loads((run_dir / "run.json").read_text())["summary"], run_dir


def test_a_sigmoid_mlp_alike_from_step_0_is_collapsed_at_init_not_condensed(
    cli_run, write_recipe, tmp_path
) -> None:
    summary, _ = run_summary(cli_run, write_recipe, tmp_path, "sigmoid")
    assert summary["stuck"] is True  # the old rule called this condensed (peak >= 0.9 and stuck)
    assert summary["peak_max"] > 0.99 and summary["dS_max"] < 0.01
    assert summary["collapsed_at_init"] is True and summary["condensed"] is False
    assert (
        sum(layer["collapsed_at_init"] for layer in summary["layers"].values()) > len(summary["layers"]) / 2
    )


def test_the_summary_mean_is_the_layer_mean_of_the_logged_series(cli_run, write_recipe, tmp_path) -> None:
    summary, run_dir = run_summary(cli_run, write_recipe, tmp_path, "relu")
    assert summary["collapsed_at_init"] is False
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    hidden = summary["hidden_layers"]
    by_step = {r["step"]: r for r in rows if f"condensation/{hidden[0]}/feat_inter" in r}
    mine = {
        step: sum(r[f"condensation/{h}/feat_inter"] for h in hidden) / len(hidden)
        for step, r in by_step.items()
    }
    first, last = min(mine), max(mine)
    assert summary["mean"]["S0"] == pytest.approx(mine[first], abs=1e-12)
    assert summary["mean"]["S_final"] == pytest.approx(mine[last], abs=1e-12)
    assert summary["mean"]["peak"] == pytest.approx(max(mine.values()), abs=1e-12)
    logged = {
        step: r["condensation/mean/feat_inter"]
        for step, r in by_step.items()
        if "condensation/mean/feat_inter" in r
    }
    assert logged.keys() == mine.keys()
    for step, value in logged.items():
        assert value == pytest.approx(mine[step], abs=1e-9), step
