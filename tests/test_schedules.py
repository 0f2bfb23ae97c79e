"""condensekit.schedules: no schedule text can hang a run or fill the memory.

``log:N`` computes N steps when it is bound to a run, so ``log:10**12`` would hang even a 30-step run, and
an ``at:`` list of millions of steps is no schedule anyone means: both are refused where the recipe is
validated (exit code 2), naming the limit and the fix. ``every:0`` is refused too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hostile import write

from condensekit.schedules import MAX_SCHEDULED, Schedule

pytestmark = pytest.mark.hostile


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


def test_the_largest_schedules_allowed_bind_to_a_run() -> None:
    assert Schedule.parse(f"log:{MAX_SCHEDULED}").bind(30).count() == 31
    assert 12_345 in Schedule.parse("at:" + ",".join(map(str, range(MAX_SCHEDULED)))).bind(10**7)


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
