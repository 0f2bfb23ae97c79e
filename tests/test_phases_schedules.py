"""Phase detector and measurement schedules (the verdict rules: tests/test_condensed_rule.py)."""

from __future__ import annotations

import math
import statistics

import pytest

from condensekit.phases import phase1_end, running_median
from condensekit.schedules import Schedule, schedule_steps


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
        Schedule.parse(bad)
