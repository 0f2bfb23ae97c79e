"""The curves the figures draw are the ones the verdict was read from: one layer mean, one rule."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from condensekit.phases import LOSS_TAG, loss_drop, series_summary
from condensekit.report import read_report
from condensekit.report.figures import summary_curves
from condensekit.report.series import load_series, summary_curve


def test_the_verdict_equals_the_numbers_read_off_the_plotted_curve(
    tmp_path: Path, write_recipe: Any, cli_run: Any
) -> None:
    every = "metrics.condensation.every=every:3"
    code, _, err = cli_run("run", str(write_recipe()), "--out", str(tmp_path / "runs"), "--set", every)
    assert code == 0, err
    report = read_report(tmp_path / "runs" / "tiny")
    assert report.series == "condensation/feat_inter" and len(report.rows) == 4
    for group in report.groups:
        drawn = summary_curves(group, report.series)  # what curves.png's right panel draws for each run
        assert len(drawn) == len(group.curves) == 2
        for curves, (steps, values) in zip(group.curves, drawn, strict=True):
            # every scheduled step (every:3 of 30), and those the refinement added around the peaks
            assert set(range(0, 31, 3)) <= set(steps) and all(math.isfinite(v) for v in values)
            loss_steps, losses = curves.series[LOSS_TAG]
            assert list(loss_steps) == list(range(len(losses)))  # one loss per step: index = step
            summary = curves.summary
            drop = loss_drop(losses, summary.smoothing_window, summary.plateau_loss)  # type: ignore[arg-type]
            read_off = series_summary(steps, values, summary.phase1_end, report.thresholds, drop)
            mean = curves.summary.mean  # the verdict's S0, S*, t*, dS: computed in the training process
            assert (read_off.S0, read_off.peak, read_off.peak_step, read_off.dS, read_off.S_final) == (
                mean.S0,
                mean.peak,
                mean.peak_step,
                mean.dS,
                mean.S_final,
            )
            assert read_off == mean  # and so the verdicts drawn from them, and the share of the loss's drop


def test_a_hidden_layer_that_is_not_finite_at_a_step_drops_that_step_from_the_curve(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    lines = [
        '{"step": 0, "m/a/q": 0.2, "m/b/q": 0.4, "m/logits/q": 9.0}',
        '{"step": 5, "m/a/q": null, "m/b/q": 0.6}',
        '{"step": 10, "m/a/q": 0.3, "m/b/q": 0.5}',
        '{"step": 15, "m/b/q": 0.7}',
    ]
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    series = load_series(run)
    assert math.isnan(series["m/a/q"][1][1])  # kept as NaN: the layer mean must see it
    # step 5: a's value is not finite, so the mean is not one (never b's alone); step 15: a is missing
    assert summary_curve(series, ["a", "b"], "m/q") == ([0, 10], [0.30000000000000004, 0.4])


def test_the_band_is_taken_at_the_steps_every_running_seed_measured_not_at_one_seeds_refined_steps() -> None:
    from condensekit.report.series import band

    # three seeds on the schedule 0, 10, 20, 30; seeds 0 and 1 were refined around their own peaks
    seeds = [
        ([0, 10, 12, 20, 30], [0.1, 0.2, 0.9, 0.3, 0.2]),
        ([0, 10, 20, 24, 30], [0.1, 0.3, 0.4, 0.8, 0.3]),
        ([0, 10, 20], [0.1, 0.4, 0.5]),  # this seed stopped at step 20 (diverged): it counts up to there
    ]
    steps, median, low, high = band(seeds)
    # a median at step 12 would be seed 0's peak alone (0.9): the curve would jump from seed to seed
    assert steps == [0, 10, 20, 30]
    assert median == [0.1, 0.3, 0.4, 0.25] and low == [0.1, 0.2, 0.3, 0.2] and high == [0.1, 0.4, 0.5, 0.3]
    assert band([([0, 5], [1.0, math.nan]), ([0, 5], [3.0, 4.0])])[0:2] == ([0, 5], [2.0, 4.0])  # NaN: gone
