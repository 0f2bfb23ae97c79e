"""condensekit.testing.recipes: tiny runs for tests, and the deprecated name of run_tiny."""

from __future__ import annotations

from pathlib import Path

import pytest

import condensekit.testing as testing
from condensekit.testing import run_tiny, tiny_recipe


def test_run_tiny_runs_each_run_of_a_recipe_for_the_steps_asked(tmp_path: Path) -> None:
    result = run_tiny(tiny_recipe(), tmp_path, steps=2)
    assert [r.status for r in result.runs] == ["ok"]
    assert [row["step"] for row in result.runs[0].scalars if "train/loss" in row] == [0, 1]


def test_the_old_name_run_recipe_still_runs_and_warns_that_it_is_deprecated(tmp_path: Path) -> None:
    with pytest.warns(DeprecationWarning, match="run_tiny"):
        result = testing.run_recipe(tiny_recipe(), tmp_path, steps=2)
    assert [r.status for r in result.runs] == ["ok"]
