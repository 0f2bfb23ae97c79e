"""condensekit.trainer: the recipe's learning rate is not replaced silently by a trick's optimizer options;
test accuracy is measured between the evaluations without touching training."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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


def logged_steps(run: Any, tag: str) -> list[int]:
    return [row["step"] for row in run.scalars if tag in row]


def test_test_accuracy_alone_is_measured_at_evenly_spaced_steps_between_the_evaluations(
    tmp_path: Path,
) -> None:
    # 40 steps of 16 samples (3 passes each), 12 test samples: 2.5% of that is 4 test passes, every 10 steps
    dense = run_tiny(tiny_recipe(steps=40), tmp_path / "dense", steps=40).runs[0]
    assert logged_steps(dense, "train/accuracy") == [0, 40]  # eval_every = "at:0,40": train accuracy
    assert logged_steps(dense, "test/accuracy") == [0, 10, 20, 30, 40]
    test = [row["test/accuracy"] for row in dense.scalars if "test/accuracy" in row]
    assert dense.summary["final_test_acc"] == test[-1] and all(0 <= v <= 1 for v in test)
    sparse = run_tiny(
        tiny_recipe(steps=40), tmp_path / "sparse", steps=40, overrides=["train.test_every=at:0"]
    )
    assert logged_steps(sparse.runs[0], "test/accuracy") == [0, 40]
    # measuring test accuracy does not touch training: the same losses step by step
    losses = [
        {r["step"]: r["train/loss"] for r in run.scalars if "train/loss" in r}
        for run in (dense, sparse.runs[0])
    ]
    assert losses[0] == losses[1] and len(losses[0]) == 40
    chosen = run_tiny(
        tiny_recipe(steps=40), tmp_path / "chosen", steps=40, overrides=["train.test_every=every:20"]
    )
    assert logged_steps(chosen.runs[0], "test/accuracy") == [0, 20, 40]
