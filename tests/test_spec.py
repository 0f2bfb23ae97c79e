"""condensekit.spec: one typed resolved run. A RunSpec survives JSON (as workers, clusters and run.json carry
it) and is typed once validated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from condensekit.api import open_recipe
from condensekit.phases import Thresholds
from condensekit.schedules import Schedule
from condensekit.spec import RunSpec

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
