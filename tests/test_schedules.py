"""condensekit.schedules: no schedule text can hang a run or fill the memory.

``log:N`` computes N steps when it is bound to a run, so ``log:10**12`` would hang even a 30-step run, and
an ``at:`` list of millions of steps is no schedule anyone means: both are refused where the recipe is
validated (exit code 2), naming the limit and the fix. ``every:0`` is refused too.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
from hostile import write

from condensekit.schedules import MAX_SCHEDULED, Schedule, schedule_steps


@pytest.mark.hostile
@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("log:1000000000000", ["'log:' takes at most 100,000 steps", 'use "log:N" with N <= 100000']),
        ("at:" + ",".join(map(str, range(MAX_SCHEDULED + 1))), ["lists 100,001 steps", "characters)"]),
        ("every:0", ["takes one whole number >= 1"]),
        ("at:1" + "0" * 5000, ["more than 20 digits"]),
    ],
    ids=["log_huge", "at_huge", "every_0", "at_long_number"],
)
def test_a_schedule_that_would_hang_or_fill_memory_is_refused_saying_why(text: str, words: list[str]) -> None:
    with pytest.raises(ValueError) as info:
        Schedule.parse(text)
    message = f"{info.value}; {getattr(info.value, 'fix', '')}"
    assert len(message) < 500
    for word in words:
        assert word in message


@pytest.mark.hostile
def test_the_largest_schedules_allowed_bind_to_a_run() -> None:
    assert Schedule.parse(f"log:{MAX_SCHEDULED}").bind(30).count() == 31
    assert 12_345 in Schedule.parse("at:" + ",".join(map(str, range(MAX_SCHEDULED)))).bind(10**7)


@pytest.mark.hostile
def test_a_30_step_run_measured_on_log_10_to_the_12_ends_at_once_with_exit_2(tmp_path: Path) -> None:
    recipe = write(tmp_path, steps=30)
    recipe.write_text(recipe.read_text().replace('"every:2"', '"log:1000000000000"'))
    result = subprocess.run(
        [sys.executable, "-m", "condensekit", "run", str(recipe), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=240,  # it hung for ever before the limit
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 2, result.stderr
    assert "metrics.condensation.every: invalid schedule 'log:1000000000000'" in result.stderr
    assert not (tmp_path / "out" / "h" / "mlp").exists()


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


@pytest.mark.parametrize("text", ["every:7", "every:1", "log:1", "log:5", "log:100", "at:0,3,7,100"])
def test_bound_schedule_agrees_with_the_explicit_set(text: str) -> None:
    rng = random.Random(text)
    for total in [0, 1, 2, 9, 10, 99, 100, 1234, *(rng.randrange(1, 5000) for _ in range(5))]:
        bound = Schedule.parse(text).bind(total)
        explicit = schedule_steps(text, total)
        assert {s for s in range(-2, total + 3) if s in bound} == explicit
        assert bound.count() == len(explicit)


def test_schedule_memory_does_not_grow_with_the_run_length() -> None:
    tracemalloc.start()
    for text in ("every:50", "log:200", "at:0,10,100"):
        before = tracemalloc.take_snapshot()
        bound = Schedule.parse(text).bind(10**12)
        after = tracemalloc.take_snapshot()
        grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
        assert grown < 100_000, f"{text}: {grown} bytes for a 10^12-step run"
        assert 0 in bound and 10**12 in bound
    tracemalloc.stop()
    assert (10**12 - 50) in Schedule.parse("every:50").bind(10**12)


def test_schedule_text_round_trip() -> None:
    for text in ("every:50", "log:200", "at:0,10,100"):
        assert str(Schedule.parse(text)) == text
    for bad in ("log:0", "every:x", "sometimes", "at:-1", "every:1,2", 5):
        with pytest.raises(ValueError):
            Schedule.parse(bad)
