"""condensekit.testing: the pytest plugin's fixtures, recipe writing, and contract checks that catch broken
plugins."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

import condensekit
from condensekit.testing import (
    check_dataset,
    check_metric,
    check_model,
    check_trick,
    tiny_recipe,
    write_recipe,
)


def test_the_entry_point_registers_this_module_as_a_pytest_plugin(request: pytest.FixtureRequest) -> None:
    import condensekit.testing

    assert request.config.pluginmanager.get_plugin("condensekit") is condensekit.testing


def test_importing_the_pytest_plugin_does_not_import_torch() -> None:
    code = (
        "import sys, condensekit.testing; print(json.dumps(sorted(m for m in "
        "sys.modules if m.split('.')[0] in ('torch', 'condensekit_plugins'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", "import json; " + code], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == []


def test_plugin_manager_fixture_is_fresh_and_complete(plugin_manager: Any) -> None:
    assert "mlp" in plugin_manager.catalogue.names("models")
    assert "synthetic" in plugin_manager.catalogue.names("datasets")


def test_write_recipe_round_trips_through_toml(tmp_path: Path) -> None:
    recipe = {
        "name": "rt",
        "seeds": [0, 1],
        "data": {"use": "synthetic", "dim": 4, "noise": 0.5, "ok": True, "skipped": None},
        "arms": [{"name": 'q"uote\\é', "model": {"use": "mlp"}}],
        "grid": {"tricks.init.scale": [0.5, 1.0]},
    }
    back = tomllib.loads(write_recipe(recipe, tmp_path / "r.toml").read_text(encoding="utf-8"))
    expected = json.loads(json.dumps(recipe))
    del expected["data"]["skipped"]
    assert back == expected


def test_tiny_run_fixture_runs_a_recipe_dict_and_a_file(tiny_run: Any, tmp_path: Path) -> None:
    result = tiny_run(tiny_recipe(metrics={"condensation": {"every": "every:1"}}), steps=2)
    (run,) = result.runs
    assert run.status == "ok" and (run.run_dir / "run.json").is_file()
    assert json.loads((run.run_dir / "run.json").read_text())["status"] == "ok"
    assert {"train/loss", "condensation/layer1/feat_inter"} <= run.tags()
    assert "final_loss" in result.summary
    path = write_recipe({**tiny_recipe(), "seeds": [0, 1]}, tmp_path / "two.toml")
    assert [r.status for r in tiny_run(path, steps=1).runs] == ["ok", "ok"]


def test_tiny_run_raises_with_the_traceback_when_a_run_fails(tiny_run: Any, tmp_path: Path) -> None:
    plugin = tmp_path / "boom.py"
    plugin.write_text(
        "import condensekit\n\n@condensekit.hookimpl\ndef model_built(run, model):\n"
        "    raise RuntimeError('boom in model_built')\n"
    )
    with pytest.raises(AssertionError, match="boom in model_built"):
        tiny_run({**tiny_recipe(), "plugins": [str(plugin)]})
    assert tiny_run({**tiny_recipe(), "plugins": [str(plugin)]}, check=False).runs[0].status == "failed"


# ------------------------------------------------------------------------------------------------
# Contract checks accept good components and name what is wrong with bad ones
# ------------------------------------------------------------------------------------------------


class Width(BaseModel):
    model_config = ConfigDict(extra="forbid")
    width: int = Field(8, description="hidden units")


def _net(params: Width, info: Any, out: int | None = None, foreign: bool = False) -> Any:
    import math

    from torch import nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Flatten(), nn.Linear(math.prod(info.input_shape), params.width), nn.ReLU()
            )
            self.head = nn.Linear(params.width, out or info.num_classes)

        def forward(self, x: Any) -> Any:
            return self.head(self.body(x))

        def probe_points(self) -> dict[str, Any]:
            return {"hidden": nn.Linear(1, 1) if foreign else self.body[1], "logits": self.head}

    return Net()


def test_check_model_accepts_a_good_factory() -> None:
    net = check_model(_net, {"width": 5}, params_model=Width)
    assert net.body[1].out_features == 5


@pytest.mark.parametrize(
    ("factory", "params_model", "message"),
    [
        (lambda p, i: _net(p, i, out=7), Width, "expected \\(4, 3\\)"),
        (lambda p, i: _net(p, i, foreign=True), Width, "not part of the model"),
        (
            _net,
            type(
                "Loose", (BaseModel,), {"__annotations__": {"width": int}, "width": Field(8, description="w")}
            ),
            "extra='forbid'",
        ),
        (
            _net,
            type(
                "Bare",
                (BaseModel,),
                {"__annotations__": {"width": int}, "width": 8, "model_config": ConfigDict(extra="forbid")},
            ),
            "description",
        ),
    ],
    ids=["wrong-logits", "foreign-probe-point", "params-not-forbid", "undocumented-param"],
)
def test_check_model_names_the_broken_part(factory: Any, params_model: Any, message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        check_model(factory, params_model=params_model)


class GoodTrick:
    def __init__(self, params: Any):
        self.params = params

    @condensekit.hookimpl
    def optimizer_overrides(self, run: Any) -> dict[str, Any]:
        return {"momentum": 0.5}


class TypoTrick(GoodTrick):
    @condensekit.hookimpl
    def after_stpe(self, run: Any, model: Any) -> None: ...


class NaNTrick(GoodTrick):
    @condensekit.hookimpl
    def extra_loss(self, run: Any, model: Any, batch: Any, outputs: Any) -> Any:
        return outputs.sum() * float("nan")


def test_check_trick_accepts_a_good_trick_and_rejects_broken_ones() -> None:
    assert check_trick(GoodTrick) == ["optimizer_overrides"]
    with pytest.raises(AssertionError, match="after_stpe"):
        check_trick(TypoTrick)
    with pytest.raises(AssertionError, match="diverged"):
        check_trick(NaNTrick)


class GoodMetric:
    def __init__(self, params: Any):
        self.params = params

    @condensekit.hookimpl
    def collect_metrics(self, run: Any, probe: Any) -> dict[str, float]:
        return {f"{layer}/mean": float(h.mean()) for layer, h in probe.features.items()}


class GradTouchingMetric(GoodMetric):
    @condensekit.hookimpl
    def collect_metrics(self, run: Any, probe: Any) -> dict[str, float]:
        import torch.nn.functional as F

        F.cross_entropy(probe.model(probe.inputs), probe.labels).backward()  # pollutes training's .grad
        return {"x": 1.0}


class NaNMetric(GoodMetric):
    @condensekit.hookimpl
    def collect_metrics(self, run: Any, probe: Any) -> dict[str, float]:
        return {"x": float("nan")}


def test_check_metric_accepts_a_good_metric_and_rejects_broken_ones() -> None:
    scalars = check_metric(GoodMetric)
    assert "contract_subject/layer1/mean" in scalars
    with pytest.raises(AssertionError, match="gradients"):
        check_metric(GradTouchingMetric)
    with pytest.raises(AssertionError, match="non-finite"):
        check_metric(NaNMetric)


def _data(shape_lie: bool = False, global_rng: bool = False) -> Any:
    def factory(params: Any, root: Path) -> Any:
        import torch

        from condensekit.data import DataBundle, DataInfo

        g = None if global_rng else torch.Generator().manual_seed(0)
        x = torch.randn(20, 6, generator=g)
        y = torch.arange(20) % 2
        return DataBundle(
            train=(x, y),
            test=(x[:4], y[:4]),
            info=DataInfo(input_shape=(7,) if shape_lie else (6,), num_classes=2),
        )

    return factory


def test_check_dataset_accepts_a_good_dataset_and_rejects_broken_ones() -> None:
    assert check_dataset(_data()).info.input_shape == (6,)
    with pytest.raises(AssertionError, match="info says"):
        check_dataset(_data(shape_lie=True))
    with pytest.raises(AssertionError, match="global seed"):
        check_dataset(_data(global_rng=True))
