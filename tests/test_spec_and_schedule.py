"""One typed resolved run: RunSpec survives JSON (as workers, clusters and run.json carry it); Schedule is
lazy."""

from __future__ import annotations

import json
import random
import tracemalloc
from pathlib import Path

import pytest

from condensekit.api import open_recipe
from condensekit.phases import Thresholds
from condensekit.schedules import Schedule, schedule_steps
from condensekit.spec import RunSpec
from condensekit.text import grid_label

REPO = Path(__file__).resolve().parent.parent
RECIPES = sorted(
    [*REPO.joinpath("recipes").rglob("*.toml"), *REPO.joinpath("tests", "golden").glob("*.toml")]
)


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_spec_survives_a_json_round_trip(path: Path) -> None:
    recipe, _ = open_recipe(path, check_machine=False)  # the recipe's specs; its data may not be here
    for spec in recipe.specs:
        text = json.dumps(spec.to_dict())
        again = RunSpec.from_dict(json.loads(text))
        assert again == spec
        assert again.rel_dir == spec.rel_dir
        assert isinstance(again.train.eval_every, Schedule) and all(
            isinstance(m.every, Schedule) for m in again.metrics.values()
        )


def test_a_spec_is_typed_once_validated() -> None:
    recipe, _ = open_recipe(REPO / "tests" / "golden" / "flat.toml")
    spec = recipe.specs[0]
    assert spec.train.steps == 20 and spec.train.lr == 0.1
    assert str(spec.metrics["condensation"].every) == "every:5"
    due = spec.metrics["condensation"].every.bind(20)
    assert 5 in due and 6 not in due
    assert spec.data.use == "synthetic" and spec.data.batch_size == 20 and spec.data.params["dim"] == 12
    assert spec.model.use == "mlp" and spec.model.params["width"] == 10
    assert (
        isinstance(spec.thresholds, Thresholds) and spec.summary_options.series == "condensation/feat_inter"
    )
    with pytest.raises(ValueError):  # frozen: a spec is not edited after validation
        spec.train.steps = 3  # type: ignore[misc]


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


def test_grid_labels_are_written_one_way(tmp_path: Path) -> None:
    # the folder name and the report's label of a list-valued grid point are the same text
    recipe = (REPO / "tests" / "golden" / "flat.toml").read_text().replace("seeds = [0, 1]", "seeds = [0]")
    recipe += '\n[grid]\n"metrics.condensation.layers" = [["layer1", "layer2"]]\n"train.lr" = [0.05]\n'
    spec = open_recipe(recipe)[0].specs[0]
    assert (
        spec.grid_label
        == grid_label(spec.grid)
        == "metrics.condensation.layers=[layer1,layer2],train.lr=0.05"
    )
    assert spec.rel_dir.parent.name == spec.grid_label


def test_extra_test_evaluations_default_to_evenly_spaced_steps_within_their_budget() -> None:
    from condensekit.spec import TrainSection

    # the main job: 1000 steps of 100 samples, 360 test samples: 2.5% buys 20 test passes, every 50 steps
    assert TrainSection(steps=1000).test_schedule(360, 100) == Schedule.parse("every:50")
    assert TrainSection(steps=100_000).test_schedule(360, 100) == Schedule.parse("every:4000")  # 25 at most
    assert TrainSection(steps=1000).test_schedule(10_000, 128) == Schedule.parse("at:0")  # too dear: none
    chosen = TrainSection(steps=1000, test_every="log:30")
    assert chosen.test_schedule(10_000, 128) == Schedule.parse("log:30")
    again = TrainSection.model_validate(TrainSection(steps=10).model_dump())
    assert again.test_every is None and TrainSection.model_validate(chosen.model_dump()) == chosen
