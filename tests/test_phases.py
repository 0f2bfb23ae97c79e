"""The per-run summary on constructed series: T1 is a step, S0 the value at step 0, the share of the loss's
drop at the peak, and the per-layer answers (layers_condensed, dS_max, dS_max_layer) over the layer mean's
points only."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import pytest
from hostile import write

from condensekit.api import open_recipe
from condensekit.phases import (
    Thresholds,
    has_first_phase,
    loss_drop,
    phase1_end,
    running_median,
    series_summary,
    summarize_run,
)

STEPS = [0, 10, 20, 30, 40, 50]


def test_t1_is_a_step_after_non_finite_losses() -> None:
    clean = [2.3] * 100 + [1.0] * 100
    _, t1_clean = phase1_end(clean, window=20)
    assert t1_clean is not None and 100 <= t1_clean <= 112
    # ten non-finite losses early on: the smoothing skips them, but T1 stays the step where the loss fell
    holed = list(clean)
    for step in range(30, 40):
        holed[step] = math.nan
    level, t1 = phase1_end(holed, window=20)
    assert level == pytest.approx(2.3) and t1 == t1_clean  # the old code said t1_clean - 10
    # a loss that is not finite from the start: L0 from the first finite window, T1 still a step
    late_start = [math.inf] * 50 + [2.3] * 50 + [1.0] * 100
    assert phase1_end(late_start, window=20)[1] == t1_clean


def test_s0_is_the_value_at_step_0_and_a_non_finite_one_is_no_s0() -> None:
    rises = [0.2, 0.5, 0.7, 0.3, 0.25, 0.2]
    s = series_summary(STEPS, rises, t1=25)
    assert s.S0 == 0.2 and s.dS == pytest.approx(0.5) and s.condensed
    nan_first = series_summary(STEPS, [math.nan, *rises[1:]], t1=25)
    # never the first finite value (0.5) in its place: no S0, so no rise and no verdict that needs one
    assert nan_first.S0 is None and nan_first.dS is None
    assert nan_first.condensed is False and nan_first.collapsed_at_init is False
    assert nan_first.peak == 0.7 and nan_first.peak_step == 20 and nan_first.S_final == 0.2
    alike = series_summary(STEPS, [math.nan] + [0.95] * 5, t1=None)
    assert alike.collapsed_at_init is False  # would be True from a first finite value of 0.95


def test_peak_loss_drop_is_the_share_of_the_smoothed_drop_done_at_the_peak() -> None:
    # plateau at 2.0 for 100 steps, then a linear fall to 1.0 over 100 steps, then flat
    losses = [2.0] * 100 + [2.0 - k / 100 for k in range(1, 101)] + [1.0] * 100
    drop = loss_drop(losses, window=21, level=2.0)
    assert drop(50) == 0.0  # on the plateau
    assert drop(150) == pytest.approx(0.51)  # step 150 has the loss 2 - 51/100 (a median keeps a line)
    assert drop(299) == 1.0 and drop(10_000) == 1.0  # at the final loss; a later step reads the last one
    # clipped to [0, 1]: a bump above L0 is 0, an overshoot below the final level is 1
    bumped = [2.0] * 50 + [2.5] * 50 + [0.5] * 50 + [1.0] * 100
    clipped = loss_drop(bumped, window=5, level=2.0)
    assert clipped(75) == 0.0 and clipped(125) == 1.0
    # undefined when the loss never drops
    assert loss_drop([2.0] * 300, window=20, level=2.0)(150) is None
    assert loss_drop([2.0] * 100 + [2.5] * 200, window=20, level=2.0)(150) is None


def _series(values: dict[str, list[float]]) -> dict[str, tuple[list[int], list[float]]]:
    return {f"m/{key}/q": (STEPS, vals) for key, vals in values.items()}


def test_per_layer_answers_read_only_the_layer_means_points() -> None:
    losses = [2.3] * 25 + [1.0] * 30
    condenses = [0.2, 0.5, 0.7, 0.3, 0.25, 0.2]  # dS 0.5, back down: condensed
    small = [0.25, 0.3, 0.5, 0.3, 0.25, 0.25]  # dS 0.25, back down: condensed
    flat = [0.4] * 6
    huge = [0.0, 0.9, 0.95, 0.1, 0.1, 0.1]  # a branch point: the largest rise, but outside the mean
    series = _series({"a": condenses, "b": small, "c": flat, "a.fc": huge, "logits": huge})
    groups = {"hidden": ["a", "b", "c"], "branch": ["a.fc"], "logits": ["logits"]}
    summary = summarize_run(losses, series, ["a", "b", "c"], "m/q", window=5, groups=groups)
    assert summary.hidden_layers == ("a", "b", "c")
    assert summary.groups == {"branch": ("a.fc",), "logits": ("logits",)}
    assert set(summary.layers) == {"a", "b", "c", "a.fc", "logits"}  # every point summarised ...
    assert summary.layers_condensed == 2  # ... but only the mean's points answer
    assert summary.dS_max == pytest.approx(0.5) and summary.dS_max_layer == "a"
    assert summary.peak_max == pytest.approx(0.7)
    mean = [sum(v) / 3 for v in zip(condenses, small, flat, strict=True)]
    assert summary.mean.peak == pytest.approx(max(mean))  # the branch never enters the mean
    assert summary.mean.peak_loss_drop == 0.0 and summary.layers["a"].peak_loss_drop == 0.0  # t* = 20 < T1
    # ties: the first layer holding the largest rise
    tied = summarize_run(losses, _series({"a": small, "b": small}), ["a", "b"], "m/q", window=5)
    assert tied.dS_max_layer == "a"
    # no layer logged the series: no answers (None, not 0)
    empty = summarize_run(losses, {}, ["a", "b"], "m/q", window=5)
    assert empty.layers_condensed is None and empty.dS_max is None and empty.dS_max_layer is None


def test_unnamed_variants_get_a_group_of_their_own_and_a_hidden_variant_falls_back_to_its_point() -> None:
    losses = [2.3] * 55
    vals = [0.2, 0.3, 0.4, 0.3, 0.2, 0.2]
    series = _series({"b1": vals, "b1@mean": vals, "b1@cls": vals, "b2": vals, "b2@mean": vals})
    groups = {"hidden": ["b1@mean", "b2@mean"], "stream": ["b1", "b2"]}
    summary = summarize_run(losses, series, ["b1@mean", "b2@mean"], "m/q", window=5, groups=groups)
    assert summary.groups == {"stream": ("b1", "b2"), "stream@cls": ("b1@cls",)}
    assert summary.hidden_layers == ("b1@mean", "b2@mean")
    # a metric that logs no variants: the mean averages the hidden keys' probe points instead
    plain = summarize_run(losses, _series({"b1": vals, "b2": vals}), ["b1@mean", "b2@mean"], "m/q", 5)
    assert plain.mean.peak == pytest.approx(0.4) and set(plain.layers) == {"b1", "b2"}
    assert plain.hidden_layers == ("b1", "b2")  # the points the mean did average


def test_running_median_against_explicit_windows():
    values = [5.0, 1.0, 4.0, 2.0, 3.0, 9.0, 0.0]
    got = running_median(values, window=3)
    ref = [statistics.median(values[max(0, i - 1) : i + 2]) for i in range(len(values))]
    assert got == ref


def test_phase1_end_finds_the_drop_and_stuck_runs():
    plateau = [2.30] * 100 + [2.30 - 0.02 * k for k in range(1, 60)]
    level, t1 = phase1_end(plateau, window=20)
    assert level == pytest.approx(2.30)
    threshold = 2.30 - max(0.05 * 2.30, 0.02)
    # the smoothed curve crosses a few steps after the raw one (centered window of 21)
    first_raw = next(i for i, v in enumerate(plateau) if v < threshold)
    assert t1 is not None and abs(t1 - first_raw) <= 10
    assert phase1_end([2.3] * 200, window=20) == (pytest.approx(2.3), None)
    assert phase1_end([math.nan] * 5, window=20)[1] is None


# ------------------------------------------ found unpinned by the mutation check: each names its mutants


def test_t1_needs_the_loss_below_the_threshold_not_at_it() -> None:  # phases-02
    th = Thresholds(plateau_drop_rel=0.25, plateau_drop_abs=0.0)  # L0 = 1: the threshold is exactly 0.75
    assert phase1_end([1.0] * 40 + [0.75] * 60, window=20, th=th) == (1.0, None)
    level, t1 = phase1_end([1.0] * 40 + [0.5] * 60, window=20, th=th)
    assert level == 1.0 and t1 is not None and 40 <= t1 <= 50


def test_a_rise_of_exactly_the_threshold_counts() -> None:  # phases-05
    steps, values = [0, 10, 20], [0.25, 0.5, 0.25]  # dS = 0.25 exactly
    assert series_summary(steps, values, 15, Thresholds(rise=0.25)).condensed
    assert not series_summary(steps, values, 15, Thresholds(rise=0.26)).condensed


def test_a_series_starting_exactly_at_collapsed_is_collapsed_at_init() -> None:  # phases-08
    assert series_summary([0, 10, 20], [0.9, 0.9, 0.9]).collapsed_at_init
    assert not series_summary([0, 10, 20], [0.875, 0.9, 0.9]).collapsed_at_init


def test_a_first_phase_needs_t1_at_least_two_windows() -> None:  # phases-10
    assert has_first_phase(40, 20) and not has_first_phase(39, 20) and has_first_phase(None, 20)


def test_the_run_verdict_is_the_layer_means_not_any_layers() -> None:  # phases-13
    losses = [2.3] * 60 + [1.0] * 60  # leaves its plateau near step 60
    series = {"m/a/q": ([0, 10, 20], [0.2, 0.35, 0.2]), "m/b/q": ([0, 10, 20], [0.2, 0.2, 0.2])}
    run = summarize_run(losses, series, ["a", "b"], "m/q", window=20)
    assert run.phase1_end is not None
    assert run.layers["a"].condensed and not run.layers["b"].condensed
    assert run.mean.dS == pytest.approx(0.075) and run.condensed is False


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
