"""condensekit.trainer: the recipe's learning rate is not replaced silently by a trick's optimizer options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from condensekit.testing import run_tiny, tiny_recipe

TRICK = """
import json

import pydantic
import torch

import condensekit


class FastTrick:
    # asks for its lr and for momentum; its make_optimizer writes down the options it was given

    def __init__(self, params):
        self.lr = params.lr

    @condensekit.hookimpl
    def optimizer_overrides(self, run):
        return {"lr": self.lr, "momentum": 0.5}

    @condensekit.hookimpl
    def make_optimizer(self, params, options):
        with open(__file__ + ".options", "w") as f:
            json.dump(options, f)
        return torch.optim.SGD(params, **options)


@condensekit.hookimpl
def register_tricks(register):
    forbid = pydantic.ConfigDict(extra="forbid")
    register("fast", FastTrick, params=pydantic.create_model("Fast", __config__=forbid, lr=(float, 0.5)))
"""


@pytest.fixture
def fast_trick(tmp_path: Path) -> Path:
    path = tmp_path / "fast.py"
    path.write_text(TRICK)
    return path


def recipe_with(trick: Path, **params: float) -> dict:
    return {**tiny_recipe(tricks={"fast": params}), "plugins": [str(trick)]}  # tiny_recipe: train.lr = 0.05


def test_a_trick_asking_for_another_lr_fails_the_run_naming_it_both_values_and_the_fix(
    fast_trick: Path, tmp_path: Path
) -> None:
    result = run_tiny(recipe_with(fast_trick, lr=0.5), tmp_path / "out", check=False)
    run = result.runs[0]
    assert run.status == "failed"
    message = run.error.strip().splitlines()[-1]
    assert "trick 'fast'" in message and "0.5" in message and "0.05" in message
    assert "set train.lr = 0.5" in message and "remove trick 'fast'" in message
    assert json.loads((run.run_dir / "run.json").read_text())["status"] == "failed"
    assert not fast_trick.with_suffix(".py.options").exists()  # no optimizer was built


def test_a_trick_asking_for_the_recipes_own_lr_trains_with_its_other_options(
    fast_trick: Path, tmp_path: Path
) -> None:
    result = run_tiny(recipe_with(fast_trick, lr=0.05), tmp_path / "out")
    assert result.runs[0].status == "ok"
    options = json.loads(fast_trick.with_suffix(".py.options").read_text())
    assert options == {"lr": 0.05, "momentum": 0.5}
