"""condensekit.trainer: the recipe's learning rate is not replaced silently by a trick's optimizer options;
test accuracy is measured between the evaluations without touching training; test accuracy comes from the
test split, the probe from the training split, the minibatch order from the seed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

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


# ---------------------------------------------------------------------------------------------------------
# The rules the numbers rest on: test accuracy on the test split, the probe from the training split, the
# minibatch order from the seed alone. Each would change results silently if broken.
# ---------------------------------------------------------------------------------------------------------

# Data whose test split is told apart from its training split by its labels and inputs, and a plugin (not
# a trick or metric, so not part of any spec) that writes down each run's probe and its minibatches.
RULES_PLUGIN = """
import json
import torch
import condensekit
from pydantic import BaseModel, ConfigDict


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


def make(params, root):
    from condensekit.data import DataBundle, DataInfo

    g = torch.Generator().manual_seed(0)
    centres = 8.0 * torch.eye(3, 6)
    labels = torch.arange(3).repeat_interleave(20)
    train = centres[labels] + 0.1 * torch.randn(60, 6, generator=g)
    test = centres[labels] + 0.1 * torch.randn(60, 6, generator=g)
    # the test split's labels are the next class: a model that learned the training split gets them all wrong
    return DataBundle(train=(train, labels), test=(test, (labels + 1) % 3), info=DataInfo((6,), 3, "shifted"))


@condensekit.hookimpl
def register_datasets(register):
    register("shifted", make, params=Params, summary="test: the test labels are shifted by one class")


@condensekit.hookimpl
def collect_metrics(run, probe):
    if run.step == 0:
        torch.save(probe.inputs.cpu(), run.run_dir / "probe.pt")


@condensekit.hookimpl
def extra_loss(run, model, batch, outputs):
    with open(run.run_dir / "batches.jsonl", "a") as f:
        f.write(json.dumps(batch[0].sum(dim=1).tolist()) + "\\n")
"""


@pytest.fixture
def rules_recipe(tmp_path: Path) -> dict:
    (tmp_path / "rules.py").write_text(RULES_PLUGIN)
    recipe = tiny_recipe(data="shifted", data_params={}, metrics={"condensation": {"every": "at:0"}})
    recipe["data"]["batch_size"] = 10
    recipe["train"].update(lr=0.2, eval_every="at:0")
    return {**recipe, "plugins": [str(tmp_path / "rules.py")]}


def _shifted_splits() -> tuple[torch.Tensor, torch.Tensor]:
    """The inputs of the plugin's training and test splits."""
    namespace: dict = {}
    exec(RULES_PLUGIN, namespace)
    bundle = namespace["make"](None, None)
    return bundle.train.tensors[0], bundle.test.tensors[0]


def test_test_accuracy_is_measured_on_the_test_split_and_train_accuracy_on_the_training_split(
    rules_recipe: dict, tmp_path: Path
) -> None:
    summary = run_tiny(rules_recipe, tmp_path / "out", steps=40).summary
    assert summary["final_train_acc"] == 1.0  # the classes are far apart: the training split is learned
    assert summary["final_test_acc"] == 0.0  # and every shifted test label is then wrong


def test_the_probe_is_drawn_from_the_training_split_only(rules_recipe: dict, tmp_path: Path) -> None:
    run = run_tiny(rules_recipe, tmp_path / "out", steps=2).runs[0]
    probe = torch.load(run.run_dir / "probe.pt")
    train, test = _shifted_splits()
    assert len(probe) == 12  # probe.per_class = 4, 3 classes
    for sample in probe:
        assert (train == sample).all(dim=1).any() and not (test == sample).all(dim=1).any()


def test_the_minibatch_order_follows_the_seed_alone(rules_recipe: dict, tmp_path: Path) -> None:
    """Different seeds see different orders; one seed sees the same order at every grid point, so that two
    grid values (or arms) are compared on the same minibatches."""
    rules_recipe["seeds"] = [0, 1]
    rules_recipe["grid"] = {"train.lr": [0.1, 0.2]}
    result = run_tiny(rules_recipe, tmp_path / "out", steps=8)
    orders = {
        str(r.run_dir.relative_to(tmp_path / "out/runs/tiny/tiny")): (r.run_dir / "batches.jsonl").read_text()
        for r in result.runs
    }
    assert len(orders) == 4 and all(len(order.splitlines()) == 8 for order in orders.values())
    assert orders["train.lr=0.1/seed=0"] == orders["train.lr=0.2/seed=0"]
    assert orders["train.lr=0.1/seed=1"] == orders["train.lr=0.2/seed=1"]
    assert orders["train.lr=0.1/seed=0"] != orders["train.lr=0.1/seed=1"]
    again = run_tiny(
        rules_recipe, tmp_path / "again", steps=8, overrides=["seeds=[1]", 'grid."train.lr"=[0.1]']
    )
    assert (again.runs[0].run_dir / "batches.jsonl").read_text() == orders["train.lr=0.1/seed=1"]
