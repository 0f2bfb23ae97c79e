"""Phase detector, condensed rule and measurement schedules."""

from __future__ import annotations

import math
import statistics

import pytest

from condensekit.phases import (
    Thresholds,
    is_condensed,
    layer_summary,
    phase1_end,
    running_median,
    summarize_run,
)
from condensekit.schedules import parse_schedule, schedule_steps


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


def test_layer_summary_and_condensed_rule():
    steps = [0, 10, 20, 30, 40]
    rise_and_fall = layer_summary(steps, [0.2, 0.5, 0.7, 0.4, 0.3])
    assert rise_and_fall["peak"] == 0.7 and rise_and_fall["peak_step"] == 20
    assert rise_and_fall["rise"] == pytest.approx(0.5) and rise_and_fall["final"] == 0.3
    assert is_condensed(rise_and_fall, stuck=False)
    no_fall = layer_summary(steps, [0.2, 0.5, 0.7, 0.65, 0.66])
    assert not is_condensed(no_fall, stuck=False)
    assert is_condensed(no_fall, stuck=True)  # still in phase 1 when the run ended
    flat = layer_summary(steps, [0.2, 0.22, 0.25, 0.21, 0.2])
    assert not is_condensed(flat, stuck=True)
    assert is_condensed(flat, stuck=True, th=Thresholds(rise=0.01))


def test_summarize_run_aggregates_hidden_layers():
    losses = [2.3] * 60 + [1.0] * 60
    series = {"layer1": ([0, 50, 100], [0.1, 0.8, 0.2]), "layer2": ([0, 50, 100], [0.3, 0.35, 0.3])}
    summary = summarize_run(losses, series, window=20)
    assert summary["phase1_end"] is not None and 55 <= summary["phase1_end"] <= 62
    assert summary["dS_max"] == pytest.approx(0.7) and summary["peak_max"] == pytest.approx(0.8)
    assert summary["condensed"] is True and summary["layers"]["layer2"]["condensed"] is False


@pytest.mark.parametrize(
    "text,total,expected",
    [
        ("every:10", 35, {0, 10, 20, 30, 35}),
        ("at:0,3,7,100", 20, {0, 3, 7, 20}),
        ("log:4", 1000, {0, 1, 10, 100, 1000}),
    ],
)
def test_schedules(text, total, expected):
    assert schedule_steps(text, total) == expected


def test_log_schedule_is_dense_early():
    steps = sorted(schedule_steps("log:50", 2000))
    assert steps[0] == 0 and steps[-1] == 2000
    assert sum(1 for s in steps if s <= 100) > sum(1 for s in steps if s > 100)


@pytest.mark.parametrize("bad", ["log:0", "every:x", "sometimes", "at:-1", "every:1,2", 5])
def test_bad_schedules_are_rejected(bad):
    with pytest.raises(ValueError):
        parse_schedule(bad)
