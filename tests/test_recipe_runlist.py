"""condensekit.recipe.runlist: a grid's runs, built one at a time: a million-run grid validates in linear time
and little memory, and each run equals its spec built alone."""

from __future__ import annotations

import tracemalloc
import warnings
from pathlib import Path

import pytest
from hostile import write

from condensekit.api import open_recipe
from condensekit.recipe import RunList


@pytest.mark.hostile
def test_a_million_run_grid_validates_in_linear_time_and_little_memory(tmp_path: Path) -> None:
    lrs, scales = (
        [round(0.001 * (i + 1), 6) for i in range(1000)],
        [round(0.01 * (i + 1), 4) for i in range(1000)],
    )
    recipe = write(
        tmp_path, rest=f'[tricks]\ninit = {{}}\n[grid]\n"train.lr" = {lrs}\n"tricks.init.scale" = {scales}\n'
    )
    open_recipe(write(tmp_path / "warm"))  # plugins imported: measure the grid, not the imports
    tracemalloc.start()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            recipe_obj = open_recipe(recipe)[0]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    specs = recipe_obj.specs
    assert isinstance(specs, RunList) and len(specs) == 1_000_000
    assert peak < 100 * 2**20, f"validating took {peak / 2**20:.0f} MB"  # the specs are built on demand
    assert any("1000000 runs" in str(w.message) for w in caught)
    last = specs[-1]
    assert (
        last.grid == {"train.lr": 1.0, "tricks.init.scale": 10.0}
        and last.train.lr == 1.0
        and last.tricks["init"]["scale"] == 10.0
    )
    assert specs[1001].grid == {"train.lr": 0.002, "tricks.init.scale": 0.02} and str(
        specs[1001].rel_dir
    ).endswith("scale=0.02/seed=0")


@pytest.mark.hostile
def test_the_run_list_equals_the_specs_built_one_by_one(tmp_path: Path) -> None:
    recipe = write(tmp_path, seeds=(0, 3), rest='[grid]\n"train.lr" = [0.1, 0.2]\n')
    recipe.write_text(
        recipe.read_text() + '[[arms]]\nname = "res"\nmodel = { use = "resmlp", depth = 3, width = 6 }\n'
    )
    specs = open_recipe(recipe)[0].specs
    listed = list(specs)
    assert (
        [str(s.rel_dir) for s in listed]
        == list(specs.rel_dirs())
        == [
            f"h/{arm}/train.lr={lr}/seed={seed}"
            for arm in ("mlp", "res")
            for lr in (0.1, 0.2)
            for seed in (0, 3)
        ]
    )
    assert [specs[i] for i in range(len(specs))] == listed == specs[:] and specs[-1] == listed[-1]
    from condensekit.spec import RunSpec

    assert all(RunSpec.from_dict(s.to_dict()) == s for s in listed)
